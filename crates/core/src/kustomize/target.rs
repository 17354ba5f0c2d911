//! Patch targets: kustomize's `Selector` (group, version, kind, name and namespace as anchored
//! regular expressions, label and annotation selectors in their string form).

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resource::Resource;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// A target compiled for matching.
#[derive(Debug)]
pub struct Matcher {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Term>,
    annotations: Vec<Term>,
}

#[derive(Debug)]
enum Term {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Target {
    pub fn compile(&self) -> Result<Matcher, String> {
        let re = |field: &str, s: &Option<String>| -> Result<Option<Regex>, String> {
            s.as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| Regex::new(&format!("^(?:{s})$")).map_err(|e| format!("target.{field}: {e}")))
                .transpose()
        };
        Ok(Matcher {
            group: re("group", &self.group)?,
            version: re("version", &self.version)?,
            kind: re("kind", &self.kind)?,
            name: re("name", &self.name)?,
            namespace: re("namespace", &self.namespace)?,
            labels: parse_selector(self.label_selector.as_deref().unwrap_or_default())
                .map_err(|e| format!("target.labelSelector: {e}"))?,
            annotations: parse_selector(self.annotation_selector.as_deref().unwrap_or_default())
                .map_err(|e| format!("target.annotationSelector: {e}"))?,
        })
    }
}

impl Matcher {
    pub fn matches(&self, r: &Resource) -> bool {
        let gvk = r.gvk();
        let hit = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|re| re.is_match(s));
        let name_hit =
            self.name.as_ref().is_none_or(|re| re.is_match(r.name()) || r.previous.iter().any(|(_, n)| re.is_match(n)));
        let ns_hit = self
            .namespace
            .as_ref()
            .is_none_or(|re| re.is_match(r.namespace()) || r.previous.iter().any(|(ns, _)| re.is_match(ns)));
        hit(&self.group, &gvk.group)
            && hit(&self.version, &gvk.version)
            && hit(&self.kind, &gvk.kind)
            && name_hit
            && ns_hit
            && terms_match(&self.labels, r.object.pointer("/metadata/labels"))
            && terms_match(&self.annotations, r.object.pointer("/metadata/annotations"))
    }
}

fn terms_match(terms: &[Term], map: Option<&Value>) -> bool {
    let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
    terms.iter().all(|t| match t {
        Term::Eq(k, v) => get(k) == Some(v.as_str()),
        Term::NotEq(k, v) => get(k) != Some(v.as_str()),
        Term::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Term::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
        Term::Exists(k) => get(k).is_some(),
        Term::NotExists(k) => get(k).is_none(),
    })
}

/// Parses the Kubernetes string form of a selector: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
fn parse_selector(text: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        // A term ends at a comma outside parentheses.
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let term = rest[..end].trim();
        rest = rest.get(end + 1..).unwrap_or("").trim();
        terms.push(parse_term(term)?);
    }
    Ok(terms)
}

fn parse_term(term: &str) -> Result<Term, String> {
    let set = |s: &str| -> Result<Vec<String>, String> {
        let inner = s
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| format!("{term:?}: expected (values)"))?;
        Ok(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
    };
    if let Some(k) = term.strip_prefix('!') {
        return Ok(Term::NotExists(k.trim().to_string()));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(Term::NotEq(k.trim().to_string(), v.trim().to_string()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Term::Eq(k.trim().to_string(), v.trim().to_string()));
    }
    if let Some((k, v)) = term.split_once(" notin ") {
        return Ok(Term::NotIn(k.trim().to_string(), set(v)?));
    }
    if let Some((k, v)) = term.split_once(" in ") {
        return Ok(Term::In(k.trim().to_string(), set(v)?));
    }
    if term.is_empty() || term.contains(char::is_whitespace) {
        return Err(format!("{term:?} is not a selector term"));
    }
    Ok(Term::Exists(term.to_string()))
}
