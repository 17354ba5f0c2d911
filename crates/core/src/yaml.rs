//! YAML in and out, the way `kubectl` reads and prints it.
//!
//! Reading: multi-document YAML becomes plain JSON values (`serde_json::Value`), with scalars
//! resolved as Go's yaml.v3 resolves them for kustomize (`0644` is 420, `1_000` is 1000, `yes`
//! and `on` stay strings, integral floats become integers), empty and comment-only documents
//! dropped, and budgets on size, depth, nodes and aliases so that a YAML bomb is an error.
//!
//! Writing: block YAML with sorted keys, compact sequences and yaml.v3's quoting, literal-block
//! and 80-column folding rules, so that `pull-agent render` prints what `kubectl kustomize`
//! prints. This module is not a general YAML library: it knows only JSON-shaped data.

use serde_json::{Map, Number, Value};

/// The largest YAML file we read, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The deepest nesting we accept.
pub const MAX_DEPTH: usize = 64;
/// The most YAML nodes (scalars, sequences, mappings) in one file, after alias expansion.
pub const MAX_NODES: usize = 250_000;

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

/// Reads every non-empty document of a YAML (or JSON) stream as a JSON value.
pub fn load_all(bytes: &[u8]) -> Result<Vec<Value>, Error> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::TooLarge { size: bytes.len(), limit: MAX_FILE_BYTES });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8(e.to_string()))?;
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| {
        let message = one_line(&e.to_string());
        if message.contains("budget breached") { Error::Budget(message) } else { Error::Syntax(message) }
    })?;
    Ok(docs.into_iter().flatten().filter(|v| !v.is_null()).map(normalize).collect())
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
    !(parses_as_go_int(s) || parses_as_yaml_float(s) || is_timestamp(s))
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

/// yaml.v3 reads plain `2001-12-14` and `2001-12-14T21:59:43.10Z` style values as timestamps.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let date_end = b[5..].iter().position(|&c| !(c.is_ascii_digit() || c == b'-')).map_or(b.len(), |p| p + 5);
    let date = &s[..date_end];
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 || parts[1].is_empty() || parts[1].len() > 2 || parts[2].is_empty() || parts[2].len() > 2 {
        return false;
    }
    let rest = &s[date_end..];
    rest.is_empty() || rest.starts_with(['T', 't', ' ']) && rest.len() > 1
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
