//! YAML in and out, the way `kubectl` reads and prints it.
//!
//! Reading: multi-document YAML becomes plain JSON values (`serde_json::Value`), with scalars
//! resolved as Go's yaml.v3 resolves them for kustomize (`0644` is 420, `1_000` is 1000, `yes`
//! and `on` stay strings, integral floats become integers), a block scalar that ends the input
//! without a line break read as libyaml reads it, plain timestamps in objects read as kustomize
//! prints them ([`load_objects`]), empty and comment-only documents dropped, comments not kept,
//! and budgets on size, depth, nodes and aliases so that a YAML bomb is an error.
//!
//! Writing: block YAML with sorted keys, compact sequences and yaml.v3's quoting, literal-block
//! and 80-column folding rules, so that `pull-agent render` prints what `kubectl kustomize`
//! prints. This module is not a general YAML library: it knows only JSON-shaped data.

use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// The largest YAML file we read, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The deepest nesting we accept.
pub const MAX_DEPTH: usize = 64;
/// The most YAML nodes (scalars, sequences, mappings) in one file, after alias expansion: more
/// than a file of [`MAX_FILE_BYTES`] holds without aliases (about 400,000 in a 4 MiB file of
/// Kubernetes objects), far less than an alias bomb expands to.
pub const MAX_NODES: usize = 1_000_000;

/// A file that could not be read as YAML.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not UTF-8 text: {0}")]
    NotUtf8(String),
    #[error("invalid YAML: {0}")]
    Syntax(String),
    #[error("too large once aliases are expanded, or nested too deep (a YAML bomb?): {0}")]
    Budget(String),
}

/// Reads every non-empty document of a YAML (or JSON) stream as a JSON value, as it is written:
/// what a kustomization file, a JSON 6902 patch or a configuration holds.
pub fn load_all(bytes: &[u8]) -> Result<Vec<Value>, Error> {
    load(bytes, Reading::AsWritten)
}

/// Reads Kubernetes objects (resources, strategic-merge patches) as kustomize reads them: like
/// [`load_all`], and a plain scalar that yaml.v3 takes for a timestamp (`2024-01-15`,
/// `2024-01-15 10:30:00`) becomes the RFC 3339 text Go prints for it (`2024-01-15T00:00:00Z`),
/// because kustomize turns its objects into JSON through Go values. A quoted date stays as written.
pub fn load_objects(bytes: &[u8]) -> Result<Vec<Value>, Error> {
    load(bytes, Reading::AsGoPrintsThem)
}

/// Reads a Helm values file (or `Chart.yaml`) as Helm does, through sigs.k8s.io/yaml and so
/// yaml.v2's YAML 1.1 rules: like [`load_one`], and a plain, untagged `yes`, `no`, `on`, `off`,
/// `y`, `n` (and their capitalized forms) is a boolean.
pub fn load_helm_values(bytes: &[u8]) -> Result<Value, Error> {
    let mut docs = load(bytes, Reading::HelmValues)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(Error::Syntax(format!("expected one document, found {n}"))),
    }
}

/// Reads a single YAML document (an empty one is `null`).
pub fn load_one(bytes: &[u8]) -> Result<Value, Error> {
    let mut docs = load_all(bytes)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(Error::Syntax(format!("expected one document, found {n}"))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// As written, and YAML 1.1's booleans (`yes`, `on`, …) are booleans (yaml.v2, Helm).
    HelmValues,
    AsWritten,
    AsGoPrintsThem,
}

fn load(bytes: &[u8], reading: Reading) -> Result<Vec<Value>, Error> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::TooLarge { size: bytes.len(), limit: MAX_FILE_BYTES });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8(e.to_string()))?;
    let fixes = source_fixes(text, reading);
    let docs = if fixes.is_empty() {
        from_multiple::<Value>(text)?.into_iter().flatten().collect::<Vec<_>>()
    } else {
        // Only the rare file that needs a fix is read with source positions, which cost more.
        let docs = from_multiple::<Spanned<Raw>>(text)?;
        docs.into_iter().flatten().map(|doc| into_value(doc, &fixes)).collect()
    };
    Ok(docs.into_iter().filter(|v| !v.is_null()).map(normalize).collect())
}

fn from_multiple<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<Option<T>>, Error> {
    serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| {
        let message = one_line(&e.to_string());
        if message.contains("budget breached") { Error::Budget(message) } else { Error::Syntax(message) }
    })
}

/// String scalars that serde-saphyr reads differently from kubectl, by the byte offset where the
/// scalar starts: its value as serde-saphyr gives it, and as kubectl reads it.
type Fixes = std::collections::HashMap<u64, (String, Value)>;

/// Finds, with a streaming pass of the parser (no aliases expanded, nothing kept but the fixes),
/// the scalars to read as kubectl does:
///
/// - a block scalar (`|`, `>`) that ends the input without a line break: libyaml (and so kubectl)
///   adds no line break after its last line, where the YAML test suite, and serde-saphyr, add one;
/// - with `Reading::AsGoPrintsThem`, a plain, untagged scalar that yaml.v3 reads as a timestamp;
/// - with `Reading::HelmValues`, a plain, untagged scalar that yaml.v2 reads as a
///   boolean (`yes`, `off`).
///
/// The pass runs only where the text can hold one of them; a syntax error ends it quietly, and
/// the real read reports it.
fn source_fixes(text: &str, reading: Reading) -> Fixes {
    let mut fixes = Fixes::new();
    let open_block_at_end = !text.ends_with(['\n', '\r']) && text.contains(['|', '>']);
    let dates = reading == Reading::AsGoPrintsThem && may_hold_timestamp(text);
    let old_bools = reading == Reading::HelmValues && may_hold_old_bool(text);
    if !open_block_at_end && !dates && !old_bools {
        return fixes;
    }
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(false);
    options.block_scalar_eof_without_line_feed = true;
    let mut last_block: Option<(u64, String)> = None;
    for event in granit_parser::Parser::new_from_str_with_options(text, options) {
        let Ok((event, span)) = event else { return Fixes::new() };
        let granit_parser::Event::Scalar(value, style, _, tag) = event else { continue };
        let Some(start) = span.start.byte_offset() else { continue };
        let start = start as u64;
        match style {
            granit_parser::ScalarStyle::Literal | granit_parser::ScalarStyle::Folded => {
                last_block = Some((start, value.into_owned()));
            }
            granit_parser::ScalarStyle::Plain if dates && tag.is_none() => {
                last_block = None;
                if let Some(t) = go_timestamp(&value) {
                    fixes.insert(start, (value.into_owned(), Value::String(t)));
                }
            }
            granit_parser::ScalarStyle::Plain if old_bools && tag.is_none() && is_old_bool(&value) => {
                last_block = None;
                let truth = matches!(&*value, "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON");
                fixes.insert(start, (value.into_owned(), Value::Bool(truth)));
            }
            _ => last_block = None,
        }
    }
    if open_block_at_end && let Some((start, value)) = last_block {
        // serde-saphyr read this last scalar with one more line break than libyaml does.
        fixes.insert(start, (format!("{value}\n"), Value::String(value)));
    }
    fixes
}

/// Whether `text` may hold a YAML 1.1 boolean: a `y`, `n`, `o` or their capitals somewhere.
fn may_hold_old_bool(text: &str) -> bool {
    text.contains(['y', 'Y', 'n', 'N', 'o', 'O'])
}

/// Whether `text` has four digits and a dash somewhere: every timestamp starts so.
fn may_hold_timestamp(text: &str) -> bool {
    text.as_bytes().windows(5).any(|w| w[..4].iter().all(u8::is_ascii_digit) && w[4] == b'-')
}

/// A document read with where each node starts, turned into a JSON value with the fixes applied.
/// Scalars are kept as serde_json reads them, so that without fixes this reads as `Value` does.
#[derive(Debug)]
enum Raw {
    Scalar(Value),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(String, Spanned<Raw>)>),
}

fn into_value(node: Spanned<Raw>, fixes: &Fixes) -> Value {
    match node.value {
        Raw::Scalar(Value::String(s)) => {
            // An alias's node is where its anchor is; `defined` points there.
            let start = node.defined.span().byte_offset();
            match start.and_then(|start| fixes.get(&start)) {
                Some((read, kubectl)) if *read == s => kubectl.clone(),
                _ => Value::String(s),
            }
        }
        Raw::Scalar(v) => v,
        Raw::Seq(items) => Value::Array(items.into_iter().map(|i| into_value(i, fixes)).collect()),
        Raw::Map(entries) => Value::Object(entries.into_iter().map(|(k, v)| (k, into_value(v, fixes))).collect()),
    }
}

impl<'de> serde::Deserialize<'de> for Raw {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> serde::de::Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::from(v)))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Raw, E> {
        serde_json::to_value(v).map(Raw::Scalar).map_err(E::custom)
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Raw, E> {
        serde_json::to_value(v).map(Raw::Scalar).map_err(E::custom)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Scalar(Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::String(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::Null))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Raw, D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry()? {
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

/// yaml.v3's timestamp reading and Go's JSON printing of it: the layouts `2006-1-2`,
/// `2006-1-2 15:4:5.999999999` and `2006-1-2T15:4:5.999999999Z07:00` (`t` too), printed as
/// RFC 3339 with nanoseconds (`2006-01-02T15:04:05.999999999Z07:00`, zero offsets as `Z`).
fn go_timestamp(s: &str) -> Option<String> {
    fn num(s: &mut &[u8], max_digits: usize) -> Option<u32> {
        let n = s.iter().take(max_digits).take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let v = s[..n].iter().fold(0, |acc, c| acc * 10 + u32::from(c - b'0'));
        *s = &s[n..];
        Some(v)
    }
    fn lit(s: &mut &[u8], c: u8) -> Option<()> {
        let (&first, rest) = s.split_first()?;
        (first == c).then(|| *s = rest)
    }
    let mut b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = num(&mut b, 4)?;
    lit(&mut b, b'-')?;
    let month = num(&mut b, 2)?;
    lit(&mut b, b'-')?;
    let day = num(&mut b, 2)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let Some((&sep, rest)) = b.split_first() else { return Some(format!("{date}T00:00:00Z")) };
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    b = rest;
    let hour = num(&mut b, 2)?;
    lit(&mut b, b':')?;
    let minute = num(&mut b, 2)?;
    lit(&mut b, b':')?;
    let second = num(&mut b, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut fraction = String::new();
    if let [b'.' | b',', d, ..] = b
        && d.is_ascii_digit()
    {
        let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        fraction = std::str::from_utf8(&b[1..=digits]).ok()?.chars().take(9).collect();
        b = &b[1 + digits..];
        fraction = fraction.trim_end_matches('0').to_string();
        if !fraction.is_empty() {
            fraction.insert(0, '.');
        }
    }
    let zone = match (sep, b) {
        (b' ', []) | (b'T' | b't', [b'Z']) => "Z".to_string(),
        (b'T' | b't', [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let (h, m) =
                (u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0'), u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0'));
            if h > 24 || m > 59 {
                return None;
            }
            if h == 0 && m == 0 { "Z".to_string() } else { format!("{}{h:02}:{m:02}", *sign as char) }
        }
        _ => return None,
    };
    Some(format!("{date}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}"))
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 10_000;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES;
    budget.max_reader_input_bytes = Some(MAX_FILE_BYTES);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // Go reads `0644` as octal (strconv base 0) and only `true`/`false` spellings as booleans.
    options.legacy_octal_numbers = true;
    options.strict_booleans = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.with_snippet = false;
    // We never read comments, so the parser need not hold them: holding them costs a look-ahead
    // buffer of 32 comment events, which Kubebuilder's scaffolded kustomizations (runs of
    // commented-out entries after an empty key) overflow. Comments are still scanned and checked,
    // and the input stays bounded by MAX_FILE_BYTES. (The `comments` feature, which kube turns on
    // anyway, is on in our manifest so that this setting exists in every build.)
    options.emit_comments = false;
    options
}

/// Keeps error messages on one line: they end up inside our own one-line errors.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Go encodes a float64 that holds an integer without a fraction; we store it as one, so that
/// `replicas: 1.0` and `1e3` print and digest as kubectl prints them.
fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(normalize_number(n)),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

fn normalize_number(n: Number) -> Number {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        #[expect(clippy::cast_possible_truncation, reason = "checked: integral and within i64 range")]
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            return Number::from(f as i64);
        }
    }
    n
}

/// Prints values as a YAML stream, `---` between documents, as kubectl prints them.
pub fn to_string_all(values: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_string(v));
    }
    out
}

/// Prints one value as a YAML document (no `---`).
pub fn to_string(value: &Value) -> String {
    let mut e = Emitter { out: String::new() };
    e.node(value, 0, Ctx::Top);
    // The emitter never ends a line itself; a `|+` block's kept blank lines come before this.
    e.out.push('\n');
    e.out
}

/// Where a node is written, which decides how it starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// At the start of a document.
    Top,
    /// After `key:`; a block collection starts on the next line.
    MapValue,
    /// After `- `; a block collection starts on this line.
    SeqItem,
}

struct Emitter {
    out: String,
}

const BEST_WIDTH: usize = 80;

impl Emitter {
    fn column(&self) -> usize {
        let line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out[line_start..].chars().count()
    }

    fn indent_to(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    /// Writes `value` whose block content is at `indent`.
    fn node(&mut self, value: &Value, indent: usize, ctx: Ctx) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 || ctx == Ctx::MapValue {
                        self.out.push('\n');
                        self.indent_to(indent);
                    }
                    self.scalar_str(key, indent, true);
                    self.out.push(':');
                    let child = &map[key];
                    match child {
                        Value::Array(items) if !items.is_empty() => {
                            // kyaml writes sequences compactly: `- ` at the key's own indent.
                            self.node(child, indent, Ctx::MapValue);
                        }
                        Value::Object(m) if !m.is_empty() => self.node(child, indent + 2, Ctx::MapValue),
                        _ => {
                            self.out.push(' ');
                            self.node(child, indent + 2, Ctx::MapValue);
                        }
                    }
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 || ctx == Ctx::MapValue {
                        self.out.push('\n');
                        self.indent_to(indent);
                    }
                    self.out.push_str("- ");
                    self.node(item, indent + 2, Ctx::SeqItem);
                }
            }
            Value::Object(_) => self.out.push_str("{}"),
            Value::Array(_) => self.out.push_str("[]"),
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.out.push_str(&format_yaml_number(n)),
            Value::String(s) => self.scalar_str(s, indent, false),
        }
    }

    /// Writes a string scalar in the style yaml.v3 chooses for it. `indent` is where folded
    /// continuation lines and literal block content go.
    fn scalar_str(&mut self, s: &str, indent: usize, simple_key: bool) {
        let a = analyze(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) && !is_base60_float(s) && !is_old_bool(s) {
            Style::Plain
        } else {
            Style::Double
        };
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(s, indent, allow_breaks),
            Style::Single => self.write_single(s, indent, allow_breaks),
            Style::Double => self.write_double(s, indent, allow_breaks),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks && !spaces && self.column() > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.out.push('\n');
                    self.indent_to(indent);
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
            i += 1;
        }
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.out.push('\'');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column() > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.out.push('\n');
                    self.indent_to(indent);
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                }
                self.out.push(c);
                spaces = false;
            }
        }
        self.out.push('\'');
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.out.push('"');
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.out.push('\\');
                match c {
                    '\0' => self.out.push('0'),
                    '\x07' => self.out.push('a'),
                    '\x08' => self.out.push('b'),
                    '\t' => self.out.push('t'),
                    '\n' => self.out.push('n'),
                    '\x0b' => self.out.push('v'),
                    '\x0c' => self.out.push('f'),
                    '\r' => self.out.push('r'),
                    '\x1b' => self.out.push('e'),
                    '"' => self.out.push('"'),
                    '\\' => self.out.push('\\'),
                    '\u{85}' => self.out.push('N'),
                    '\u{a0}' => self.out.push('_'),
                    '\u{2028}' => self.out.push('L'),
                    '\u{2029}' => self.out.push('P'),
                    c if (c as u32) <= 0xFF => push_hex(&mut self.out, 'x', c, 2),
                    c if (c as u32) <= 0xFFFF => push_hex(&mut self.out, 'u', c, 4),
                    c => push_hex(&mut self.out, 'U', c, 8),
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column() > BEST_WIDTH && i != 0 && i != chars.len() - 1 {
                    self.out.push('\n');
                    self.indent_to(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                    }
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
            i += 1;
        }
        self.out.push('"');
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with(' ') || s.starts_with('\n') {
            self.out.push('2');
        }
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s == "\n" || s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        self.out.push_str(chomp);
        // Content lines at `indent`; a trailing newline is implied by the chomping indicator.
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.indent_to(indent);
                self.out.push_str(line);
            }
        }
    }
}

fn push_hex(out: &mut String, letter: char, c: char, width: usize) {
    use std::fmt::Write as _;
    let _ = write!(out, "{letter}{:0width$X}", c as u32);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

#[expect(clippy::struct_excessive_bools, reason = "mirrors yaml.v3's scalar analysis flags")]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t')) || c.is_some_and(is_break)
}

/// yaml.v3's `is_printable`: it does not count U+0085 or anything beyond the BMP as printable,
/// so those are escaped in double quotes.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

/// yaml.v3's `yaml_emitter_analyze_scalar`, reduced to the flags block context needs.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut special, mut line_breaks) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) = (false, false, false, false);
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_ws = is_blank_or_end(next);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{feff}' {
            special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank_or_end(Some(c));
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether yaml.v3 would read `s`, written plain, back as a string.
pub fn resolves_to_string(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    match s {
        "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | ".inf" | ".Inf"
        | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN" | "<<" => {
            return s == "<<";
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return true;
    }
    !(parses_as_go_int(s) || parses_as_yaml_float(s) || go_timestamp(s).is_some())
}

/// Go's `strconv.ParseInt(s, 0, 64)` (or ParseUint) accepts it: decimal, `0x`, `0o`, `0b`,
/// legacy `0` octal, a sign, and `_` between digits after a base prefix or digit.
fn parses_as_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let (digits, radix, prefixed) = if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (r, 16, true)
    } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (r, 8, true)
    } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (r, 2, true)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8, true)
    } else {
        (body, 10, false)
    };
    if digits.is_empty() {
        return false;
    }
    // Underscores only between digits, or right after a base prefix (Go's underscoreOK).
    let bytes = digits.as_bytes();
    let mut prev_digit = prefixed;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            if !prev_digit || i + 1 == bytes.len() {
                return false;
            }
            prev_digit = false;
        } else if (b as char).is_digit(radix) {
            prev_digit = true;
        } else {
            return false;
        }
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    u64::from_str_radix(&clean, radix).is_ok()
}

/// yaml.v3's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn parses_as_yaml_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.first() == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group.len() {
            1 => true,
            2 => group[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
    )
}

/// Formats a number as kubectl's YAML does: the JSON text re-read by yaml.v2, so integers
/// plainly and other floats with Go's `%g` (an exponent below 1e-4 and from 1e6... as
/// `strconv.FormatFloat(f, 'g', -1, 64)` decides for the shortest form).
pub fn format_yaml_number(n: &Number) -> String {
    match n.as_f64().filter(|_| n.is_f64()) {
        Some(f) => {
            let (mantissa, exp) = shortest_exponent_form(f);
            if (-4..6).contains(&exp) { format!("{f}") } else { go_exponent(&mantissa, exp) }
        }
        None => n.to_string(),
    }
}

/// The shortest round-trip digits of `f` as `d.ddd` and its decimal exponent.
fn shortest_exponent_form(f: f64) -> (String, i32) {
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').expect("`{:e}` always has an exponent");
    (mantissa.to_string(), exp.parse().expect("`{:e}` writes an integer exponent"))
}

/// Go's `%e` spelling: a sign and at least two digits in the exponent.
fn go_exponent(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// Formats a number as Go's encoding/json does (integers plainly; floats shortest, with an
/// exponent below 1e-6 and from 1e21).
pub fn format_number(n: &Number) -> String {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let (mantissa, exp) = shortest_exponent_form(f);
            return go_exponent(&mantissa, exp);
        }
        return format!("{f}");
    }
    n.to_string()
}

/// Builds an object value from pairs; a small helper for generated objects.
pub fn object<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Value {
    Value::Object(pairs.into_iter().collect::<Map<String, Value>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Helm reads values through yaml.v2: YAML 1.1's booleans are booleans, quoted ones strings.
    #[test]
    fn helm_values_read_yaml_1_1_booleans() {
        let v = load_helm_values(b"a: yes\nb: Off\nc: 'yes'\nd: y\ne: [on, no]\nf: yes please\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": true, "b": false, "c": "yes", "d": true, "e": [true, false], "f": "yes please"})
        );
        assert_eq!(load_one(b"a: yes\n").unwrap(), serde_json::json!({"a": "yes"}));
    }

    /// A large honest file (a base of thousands of objects) is no bomb: 300,000 nodes and no
    /// alias read, where the node budget was once 250,000.
    #[test]
    fn a_large_file_without_aliases_is_read() {
        let data: String = (0..25).map(|k| ["k", &k.to_string(), ": v, "].concat()).collect();
        let text: String = (0..5_000)
            .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, labels: {{a: b, c: d}}}}\ndata: {{{data}}}\n"))
            .collect::<Vec<_>>()
            .concat();
        assert!(text.len() < MAX_FILE_BYTES);
        assert_eq!(load_all(text.as_bytes()).unwrap().len(), 5_000);
    }
    use serde_json::json;

    #[test]
    fn scalars_resolve_as_kubectl_reads_them() {
        let v = load_one(
            b"a: 0644\nb: yes\nc: on\nd: 1e3\ne: ~\nf: 012\ng: 0o17\nh: 0x1F\ni: true\nj: \"yes\"\nk: 1_000\nl: .5\nm: +1\nn: 1.0\no: No\np: '0644'\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": 420, "b": "yes", "c": "on", "d": 1000, "e": null, "f": 10, "g": 15, "h": 31, "i": true,
                   "j": "yes", "k": 1000, "l": 0.5, "m": 1, "n": 1, "o": "No", "p": "0644"})
        );
    }

    #[test]
    fn empty_and_comment_only_documents_are_dropped() {
        let docs = load_all(b"---\n# just a comment\n---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": 2})]);
    }

    #[test]
    fn alias_bomb_is_refused() {
        use std::fmt::Write as _;
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            let refs = vec![format!("*{prev}"); 10].join(", ");
            writeln!(bomb, "{cur}: &{cur} [{refs}]").unwrap();
        }
        assert!(matches!(load_all(bomb.as_bytes()), Err(Error::Budget(_))));
    }

    /// Kubebuilder's scaffolded `config/default/kustomization.yaml` has runs of a hundred comment
    /// lines; the parser's comment look-ahead buffer (32 events) refused them.
    #[test]
    fn long_comment_runs_are_read() {
        use std::fmt::Write as _;
        let mut text = String::from("resources:\n- a.yaml\n");
        for i in 0..200 {
            write!(text, "# comment {i}\n#- commented: out\n").unwrap();
        }
        // A key whose value is empty, then a long run of commented-out entries.
        text.push_str("replacements:\n");
        for i in 0..200 {
            write!(text, "# - source: {i}\n#     kind: Service\n\n").unwrap();
        }
        text.push_str("namePrefix: p-\n");
        for i in 0..200 {
            writeln!(text, "  # indented comment {i}").unwrap();
        }
        assert_eq!(
            load_one(text.as_bytes()).unwrap(),
            json!({"resources": ["a.yaml"], "replacements": null, "namePrefix": "p-"})
        );
    }

    /// libyaml, and so kubectl, adds no line break after the last line of a block scalar that
    /// ends the input without one; clip and keep chomping keep only the breaks that are there.
    #[test]
    fn a_block_scalar_ending_the_input_gets_no_line_break() {
        let cases = [
            ("k: |\n  text", json!("text")),
            ("k: |\n  one\n\n  two", json!("one\n\ntwo")),
            ("k: |+\n  text", json!("text")),
            ("k: |-\n  text", json!("text")),
            ("k: >\n  one\n  two", json!("one two")),
            ("k: |\n  text\n", json!("text\n")),
            ("k: |\n  text\r\n", json!("text\n")),
            // A comment line after the scalar ends it with its line break.
            ("k: |\n  text\n# done", json!("text\n")),
            ("- |\n  a\n- |\n  b", json!(["a\n", "b"])),
            ("k: \"text\"", json!("text")),
        ];
        for (yaml, want) in cases {
            let got = load_one(yaml.as_bytes()).unwrap();
            let got = if got.is_array() { got } else { got["k"].clone() };
            assert_eq!(got, want, "for {yaml:?}");
        }
        // Only the last document's last scalar ends the input.
        assert_eq!(load_all(b"a: |\n  x\n---\nb: |\n  y").unwrap(), vec![json!({"a": "x\n"}), json!({"b": "y"})]);
    }

    /// The dates of kubectl's own reading, recorded in tests/data/render/yaml-timestamps.
    #[test]
    fn plain_timestamps_in_objects_read_as_go_prints_them() {
        let cases = [
            ("2024-01-15", Some("2024-01-15T00:00:00Z")),
            ("2024-1-5", Some("2024-01-05T00:00:00Z")),
            ("2024-01-15 10:30:00", Some("2024-01-15T10:30:00Z")),
            ("2024-01-15 10:30:00.500", Some("2024-01-15T10:30:00.5Z")),
            ("2024-01-15T10:30:00Z", Some("2024-01-15T10:30:00Z")),
            ("2024-01-15t10:30:00Z", Some("2024-01-15T10:30:00Z")),
            ("2024-01-15T10:30:00+02:00", Some("2024-01-15T10:30:00+02:00")),
            ("2024-01-15T10:30:00+00:00", Some("2024-01-15T10:30:00Z")),
            ("2024-01-15T10:30:00.123456789012-05:30", Some("2024-01-15T10:30:00.123456789-05:30")),
            ("2024-01-15 1:2:3", Some("2024-01-15T01:02:03Z")),
            ("2024-02-29", Some("2024-02-29T00:00:00Z")),
            ("2023-02-29", None),
            ("2024-02-30", None),
            ("2024-13-01", None),
            ("2024-01-15T10:30:00", None),
            ("2001-12-14 21:59:43.10 -5", None),
            ("2024-01-15x", None),
            ("20240-01-15", None),
        ];
        for (plain, want) in cases {
            assert_eq!(go_timestamp(plain).as_deref(), want, "for {plain:?}");
        }
        let text = b"a: 2024-01-15\nq: '2024-01-15'\nd: \"2024-01-15\"\nt: !!str 2024-01-15\nf: >-\n  2024-01-15\n\
            l: [2024-01-15]\nx: &x 2024-07-08\ny: *x\nm: &m {k: 2024-07-09}\nn:\n  <<: *m\n";
        let as_kubectl = json!({"a": "2024-01-15T00:00:00Z", "q": "2024-01-15", "d": "2024-01-15", "t": "2024-01-15",
            "f": "2024-01-15", "l": ["2024-01-15T00:00:00Z"], "x": "2024-07-08T00:00:00Z", "y": "2024-07-08T00:00:00Z",
            "m": {"k": "2024-07-09T00:00:00Z"}, "n": {"k": "2024-07-09T00:00:00Z"}});
        assert_eq!(load_objects(text).unwrap(), vec![as_kubectl]);
        // A kustomization or a JSON patch is plain data: the date stays as written.
        assert_eq!(load_one(text).unwrap()["a"], json!("2024-01-15"));
        // The writer quotes exactly what Go would read back as a timestamp.
        assert_eq!(
            to_string(&json!({"a": "2024-02-30", "b": "2024-01-15T10:30:00", "c": "2024-1-5"})),
            "a: 2024-02-30\nb: 2024-01-15T10:30:00\nc: \"2024-1-5\"\n"
        );
    }

    /// The slow path (source positions) reads everything else exactly as the fast one.
    #[test]
    fn reading_with_fixes_changes_nothing_else() {
        let text = "a: 0644\nb: yes\nc: [1, 1.5, ~, true, \"s\", 12345678901234567890]\nd: {e: {f: 1e3}}\n1: one\n\
            g: &g {h: 1}\ni:\n  <<: *g\n  j: 2\n";
        let fast = load_all(text.as_bytes()).unwrap();
        let slow = load_objects(format!("{text}date: 2024-01-15\n").as_bytes()).unwrap();
        let mut want = fast[0].clone();
        want["date"] = json!("2024-01-15T00:00:00Z");
        assert_eq!(slow, vec![want]);
        assert_eq!(fast[0]["i"], json!({"h": 1, "j": 2}));
    }

    #[test]
    fn oversized_file_is_refused() {
        let big = vec![b'#'; MAX_FILE_BYTES + 1];
        assert_eq!(load_all(&big), Err(Error::TooLarge { size: MAX_FILE_BYTES + 1, limit: MAX_FILE_BYTES }));
    }

    #[test]
    fn strings_are_quoted_as_yaml_v3_quotes_them() {
        let cases = [
            ("a: b", "'a: b'"),
            ("a:b", "a:b"),
            ("a #b", "'a #b'"),
            ("- x", "'- x'"),
            ("-x", "-x"),
            (" x", "' x'"),
            ("", "\"\""),
            ("123", "\"123\""),
            ("1.0", "\"1.0\""),
            (".5", "\".5\""),
            ("y", "\"y\""),
            ("true", "\"true\""),
            ("~", "\"~\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("héllo ✓", "héllo ✓"),
            ("'x'", "'''x'''"),
            ("a\tb", "\"a\\tb\""),
            ("a\u{1}b", "\"a\\x01b\""),
            ("1:20", "\"1:20\""),
            ("<<", "<<"),
            ("---", "'---'"),
            ("0x1F", "\"0x1F\""),
            ("1_000", "\"1_000\""),
            ("+1", "\"+1\""),
            ("100m", "100m"),
            ("?x", "?x"),
        ];
        for (input, want) in cases {
            assert_eq!(to_string(&json!({"k": input})), format!("k: {want}\n"), "for {input:?}");
        }
    }

    #[test]
    fn long_strings_fold_at_80_columns_and_multiline_uses_literal_blocks() {
        let long =
            "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt";
        let v = json!({"data": {"long": long, "ml": "line1\nline2\n", "ml3": "  indented\nline2\n", "ml4": "a\nb\n\n", "ml2": "a\nb"}});
        assert_eq!(
            to_string(&v),
            "data:\n  long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo\n    pppp qqqq rrrr ssss tttt\n  ml: |\n    line1\n    line2\n  ml2: |-\n    a\n    b\n  ml3: |2\n      indented\n    line2\n  ml4: |+\n    a\n    b\n\n"
        );
    }

    #[test]
    fn collections_are_compact_and_keys_sorted() {
        let v = json!({"nested": ["a", [1, 2], {"k": "v", "a": 1}, [], {}], "b": {}, "a": []});
        assert_eq!(to_string(&v), "a: []\nb: {}\nnested:\n- a\n- - 1\n  - 2\n- a: 1\n  k: v\n- []\n- {}\n");
    }

    #[test]
    fn floats_format_like_go_json() {
        assert_eq!(format_number(&Number::from_f64(0.5).unwrap()), "0.5");
        assert_eq!(format_number(&Number::from_f64(1e21).unwrap()), "1e+21");
        assert_eq!(format_number(&Number::from_f64(1.5e-7).unwrap()), "1.5e-07");
        assert_eq!(format_yaml_number(&Number::from_f64(12_345_678.9).unwrap()), "1.23456789e+07");
        assert_eq!(format_yaml_number(&Number::from_f64(3.125_678_912_345_67).unwrap()), "3.12567891234567");
        assert_eq!(format_yaml_number(&Number::from_f64(0.0001).unwrap()), "0.0001");
        assert_eq!(format_yaml_number(&Number::from_f64(0.000_01).unwrap()), "1e-05");
    }
}
