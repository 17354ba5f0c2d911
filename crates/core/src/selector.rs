//! Kubernetes label selectors over a set of labels, in both forms: the structured one
//! ([`LabelSelector`]: `matchLabels`, `matchExpressions`, as fleet documents write it) and the
//! string one ([`Requirements`]: `app=web,tier in (front)`, as kustomize's patch targets and the
//! API server's `labelSelector` parameter write it).
//!
//! The same semantics as `metav1.LabelSelector` and apimachinery's `labels.Parse`: every term
//! must hold; an empty selector selects everything. Validation happens when a selector is read,
//! so matching cannot fail. Not field selectors: those are the test API server's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels of a cluster or an object.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A selector that is well-formed YAML but means nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("matchExpressions[{index}]: operator {operator:?} needs at least one value")]
    ValuesRequired { index: usize, operator: Operator },
    #[error("matchExpressions[{index}]: operator {operator:?} takes no values")]
    ValuesForbidden { index: usize, operator: Operator },
    #[error("matchExpressions[{index}]: the key is empty")]
    EmptyKey { index: usize },
}

impl LabelSelector {
    /// Checks the rules the Kubernetes API server applies to selectors.
    pub fn validate(&self) -> Result<(), Error> {
        for (index, r) in self.match_expressions.iter().enumerate() {
            if r.key.is_empty() {
                return Err(Error::EmptyKey { index });
            }
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err(Error::ValuesRequired { index, operator: r.operator });
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err(Error::ValuesForbidden { index, operator: r.operator });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `labels` satisfy every term of the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            // As in Kubernetes, NotIn also selects objects without the label.
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A label selector in its string form, read as apimachinery's `labels.Parse` reads it: terms
/// `key`, `!key`, `key=value` (or `==`), `key!=value`, `key in (a,b)`, `key notin (a,b)`,
/// `key>1` and `key<1` (integers), separated by commas. Keys must be qualified names and values
/// label values, as there: kustomize reads its annotation selectors with the same parser, so
/// they are held to label values too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements(Vec<Term>);

/// One term of [`Requirements`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A string selector that `labels.Parse` would refuse; the message is apimachinery's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {problem}")]
pub struct ParseError {
    pub problem: String,
}

impl Requirements {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bad = |problem: String| ParseError { problem };
        let mut parser = Parser { tokens: lex(text), position: 0 };
        let mut terms = Vec::new();
        loop {
            match parser.peek() {
                Token::End => return Ok(Self(terms)),
                Token::Word(_) | Token::Not => {
                    terms.push(parser.term().map_err(bad)?);
                    match parser.next() {
                        Token::End => return Ok(Self(terms)),
                        Token::Comma if matches!(parser.peek(), Token::Word(_) | Token::Not) => {}
                        Token::Comma => {
                            return Err(bad(format!("found '{}', expected: identifier after ','", parser.peek())));
                        }
                        other => return Err(bad(format!("found '{other}', expected: ',' or 'end of string'"))),
                    }
                }
                other => return Err(bad(format!("found '{other}', expected: !, identifier, or 'end of string'"))),
            }
        }
    }

    /// Whether a `metadata.labels` (or `annotations`) map satisfies every term; a value that
    /// is not a string counts as absent.
    pub fn matches(&self, labels: Option<&serde_json::Value>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(serde_json::Value::as_str);
        self.0.iter().all(|term| match term {
            Term::Equals(k, v) => get(k) == Some(v.as_str()),
            Term::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Term::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            // As in Kubernetes, `notin` and `!=` also select objects without the label.
            Term::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Term::Exists(k) => get(k).is_some(),
            Term::DoesNotExist(k) => get(k).is_none(),
            Term::GreaterThan(k, n) => get(k).and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
            Term::LessThan(k, n) => get(k).and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
        })
    }
}

/// A token of apimachinery's selector lexer. `in` and `notin` are words: the parser reads them
/// as operators only where an operator may stand, as there.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    Open,
    Close,
    Comma,
    End,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Token::Word(word) => word,
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
            Token::End => "",
        })
    }
}

/// The characters that end a word; runs of them are read as the longest symbols they make.
fn is_symbol(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let Some(c) = rest.chars().next() else { break };
        if is_symbol(c) {
            let two = rest.get(..2);
            let (token, len) = match (c, two) {
                (_, Some("==")) => (Token::DoubleEquals, 2),
                (_, Some("!=")) => (Token::NotEquals, 2),
                ('=', _) => (Token::Equals, 1),
                ('!', _) => (Token::Not, 1),
                ('>', _) => (Token::GreaterThan, 1),
                ('<', _) => (Token::LessThan, 1),
                ('(', _) => (Token::Open, 1),
                (')', _) => (Token::Close, 1),
                _ => (Token::Comma, 1),
            };
            tokens.push(token);
            rest = &rest[len..];
        } else {
            let end = rest.find(|c: char| is_symbol(c) || matches!(c, ' ' | '\t' | '\r' | '\n')).unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    tokens.push(Token::End);
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.position]
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.position].clone();
        // The last token is `End`, which stays.
        self.position = (self.position + 1).min(self.tokens.len() - 1);
        token
    }

    fn term(&mut self) -> Result<Term, String> {
        let negated = *self.peek() == Token::Not;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Word(key) => key,
            other => return Err(format!("found '{other}', expected: identifier")),
        };
        label_key(&key)?;
        if negated {
            return Ok(Term::DoesNotExist(key));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(Term::Exists(key));
        }
        let term = match self.next() {
            Token::Word(word) if word == "in" => Term::In(key, self.values()?),
            Token::Word(word) if word == "notin" => Term::NotIn(key, self.values()?),
            Token::Equals | Token::DoubleEquals => Term::Equals(key, self.value()?),
            Token::NotEquals => Term::NotEquals(key, self.value()?),
            token @ (Token::GreaterThan | Token::LessThan) => {
                let value = self.value()?;
                let n = value
                    .parse::<i64>()
                    .map_err(|_| format!("for 'Gt', 'Lt' operators, the value must be an integer: {value:?}"))?;
                if token == Token::GreaterThan { Term::GreaterThan(key, n) } else { Term::LessThan(key, n) }
            }
            other => return Err(format!("found '{other}', expected: in, notin, =, ==, !=, gt, lt")),
        };
        Ok(term)
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; none is the empty value.
    fn value(&mut self) -> Result<String, String> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        match self.next() {
            Token::Word(value) => label_value(value),
            other => Err(format!("found '{other}', expected: identifier")),
        }
    }

    /// `(a,b)`. As in apimachinery, an empty place in the list is the empty value: `()` is
    /// `("")` and `(a,)` is `(a,"")`.
    fn values(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Token::Open => {}
            other => return Err(format!("found '{other}' expected: '('")),
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Token::Word(value) if expect_value => {
                    values.push(label_value(value)?);
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::Close => {
                    if expect_value {
                        values.push(String::new());
                    }
                    values.sort();
                    values.dedup();
                    return Ok(values);
                }
                other if expect_value => return Err(format!("found '{other}', expected: ',', or identifier")),
                other => return Err(format!("found '{other}', expected: ',' or ')'")),
            }
        }
    }
}

/// A qualified name, as `validation.IsQualifiedName`: an optional DNS-1123 subdomain prefix and
/// `/`, then a name of at most 63 characters.
fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && crate::name::DnsSubdomain::check(prefix).is_err()
    {
        return Err(format!("invalid label key {key:?}: the prefix must be a DNS-1123 subdomain"));
    }
    if !crate::name::is_label_name(name) {
        return Err(format!(
            "invalid label key {key:?}: a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A label value, as `validation.IsValidLabelValue`: empty, or a name of at most 63 characters.
fn label_value(value: String) -> Result<String, String> {
    if crate::name::LabelValue::check(&value).is_ok() {
        Ok(value)
    } else {
        Err(format!(
            "invalid label value {value:?}: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// Parses the `a=b,c=d` form of labels used on the command line.
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("label {pair:?} is not of the form key=value"))?;
        if k.is_empty() {
            return Err(format!("label {pair:?} has an empty key"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Labels {
        parse_labels(text).unwrap()
    }

    fn selector(yaml: &str) -> LabelSelector {
        let v = crate::yaml::load_one(yaml.as_bytes()).unwrap();
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn match_labels_and_expressions() {
        let s = selector(
            "matchLabels: {kind: store}\nmatchExpressions:\n- {key: region, operator: In, values: [us-east, us-west]}\n- {key: canary, operator: NotIn, values: [\"true\"]}\n- {key: retired, operator: DoesNotExist}\n- {key: tier, operator: Exists}\n",
        );
        assert!(s.matches(&labels("kind=store,region=us-east,tier=1")));
        assert!(s.matches(&labels("kind=store,region=us-west,tier=1,canary=false")));
        assert!(!s.matches(&labels("kind=store,region=us-west,tier=1,canary=true")));
        assert!(!s.matches(&labels("kind=store,region=eu-west,tier=1")));
        assert!(!s.matches(&labels("kind=store,region=us-east")));
        assert!(!s.matches(&labels("kind=store,region=us-east,tier=1,retired=yes")));
        assert!(!s.matches(&labels("kind=cloud,region=us-east,tier=1")));
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(LabelSelector::default().matches(&labels("")));
        assert!(LabelSelector::default().matches(&labels("a=b")));
    }

    #[test]
    fn malformed_requirements_are_refused() {
        let s = selector("matchExpressions: [{key: a, operator: In}]");
        assert_eq!(s.validate(), Err(Error::ValuesRequired { index: 0, operator: Operator::In }));
        let s = selector("matchExpressions: [{key: a, operator: Exists, values: [x]}]");
        assert_eq!(s.validate(), Err(Error::ValuesForbidden { index: 0, operator: Operator::Exists }));
    }

    #[test]
    fn cli_labels_parse() {
        assert_eq!(labels("a=b, c=").get("c").map(String::as_str), Some(""));
        assert!(parse_labels("novalue").is_err());
    }

    fn object_labels(text: &str) -> serde_json::Value {
        serde_json::to_value(labels(text)).unwrap()
    }

    #[test]
    fn requirements_of_every_form() {
        let labels = object_labels("app=web,tier=front,env=prod,size=3,empty=");
        let yes = |s: &str| Requirements::parse(s).unwrap().matches(Some(&labels));
        assert!(yes("app=web,tier==front"));
        assert!(yes("env in (dev, prod),app notin (db)"));
        assert!(yes("app,!missing,tier!=back,missing!=x"));
        assert!(yes("size>2,size<4,empty=,empty in (a,)"));
        assert!(yes(" app = web , env notin(dev) "));
        assert!(!yes("env in (dev,staging)"));
        assert!(!yes("!app"));
        assert!(!yes("missing"));
        assert!(!yes("size>3"));
        assert!(!yes("app>1"), "a value that is not an integer is neither greater nor less");
        assert!(Requirements::parse("").unwrap().matches(None));
        assert!(Requirements::parse("missing notin (a)").unwrap().matches(None));
    }

    #[test]
    fn malformed_requirements_are_refused_with_apimachinerys_words() {
        let error = |s: &str| Requirements::parse(s).unwrap_err().to_string();
        assert_eq!(error("app in web"), "unable to parse requirement: found 'web' expected: '('");
        assert_eq!(error("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(error("=x"), "unable to parse requirement: found '=', expected: !, identifier, or 'end of string'");
        assert_eq!(error("env in (dev"), "unable to parse requirement: found '', expected: ',' or ')'");
        for bad in ["a in (x y)", "a>x", "a=(b)", "!"] {
            assert!(Requirements::parse(bad).is_err(), "{bad}");
        }
    }

    // The renderer (kustomize's patch targets) and the test API server each parsed string
    // selectors their own way before they shared this parser. Where they differed from each
    // other or from apimachinery's `labels.Parse`, `labels.Parse` decides; each case names the
    // copy that was wrong ("renderer", "server" or both).

    /// `!key` takes a key and nothing else. Renderer: read `!a=b` as "no label `a=b`".
    #[test]
    fn does_not_exist_takes_a_key_only() {
        assert!(Requirements::parse("!a=b").is_err());
    }

    /// An empty place in a value list is the empty value. Renderer: dropped it, so `in (x,)`
    /// missed a label whose value is empty and `in ()` selected nothing.
    #[test]
    fn an_empty_place_in_a_value_list_is_the_empty_value() {
        let labels = object_labels("a=");
        assert!(Requirements::parse("a in (x,)").unwrap().matches(Some(&labels)));
        assert!(Requirements::parse("a in ()").unwrap().matches(Some(&labels)));
    }

    /// `>` and `<` compare integers. Renderer: read `a>1` as "label `a>1` exists"; server:
    /// refused it.
    #[test]
    fn greater_and_less_than_compare_integers() {
        let labels = object_labels("a=2");
        assert!(Requirements::parse("a>1").unwrap().matches(Some(&labels)));
        assert!(!Requirements::parse("a<1").unwrap().matches(Some(&labels)));
    }

    /// Operators need no spaces around them. Both: refused `a notin(x)`.
    #[test]
    fn operators_need_no_spaces() {
        let labels = object_labels("a=y");
        assert!(Requirements::parse("a notin(x)").unwrap().matches(Some(&labels)));
        assert!(Requirements::parse("a in(y),b!=z").unwrap().matches(Some(&labels)));
    }

    /// A value is one label value. Both: read `a=b=c` and `a=b c` as the value `b=c` or `b c`.
    #[test]
    fn a_value_is_one_label_value() {
        for bad in ["a=b=c", "a=b c", "a=-b", &format!("a={}", "v".repeat(64))] {
            assert!(Requirements::parse(bad).is_err(), "{bad}");
        }
    }

    /// A key is a qualified name. Both: took `-a`, `a/b/c` and `Prefix/a`; renderer: `a b` too
    /// once its `!` was stripped (`! a b`).
    #[test]
    fn a_key_is_a_qualified_name() {
        for bad in ["-a", "a/b/c", "Prefix/a", "/a", "! a b", &"k".repeat(64)] {
            assert!(Requirements::parse(bad).is_err(), "{bad}");
        }
        assert!(Requirements::parse("example.com/a_b.c").is_ok());
    }

    /// Commas separate terms; an empty term is an error. Renderer: took a trailing comma;
    /// server: took any empty term (`,a`, `a,,b`).
    #[test]
    fn an_empty_term_is_an_error() {
        for bad in ["a,", ",a", "a,,b"] {
            assert!(Requirements::parse(bad).is_err(), "{bad}");
        }
    }
}
