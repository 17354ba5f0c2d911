//! The digest of a rendered object list: `sha256:` + hex of SHA-256 over the canonical JSON
//! of the ordered objects. It names "what this cluster should run"; the agent and the hub
//! compute it from the same inputs and must agree byte for byte.

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// A `sha256:<64 hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest of an ordered list of objects.
    pub fn of_objects(objects: &[Value]) -> Digest {
        // The canonical JSON of the array, written item by item: no copy of the objects is
        // made to put them in a `Value::Array` (a render's objects are digested per cluster).
        let mut json = String::from("[");
        for (i, object) in objects.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            write_json(object, &mut json, JsonStyle::CANONICAL);
        }
        json.push(']');
        let mut hasher = Sha256::new();
        hasher.update(json.as_bytes());
        Digest(format!("sha256:{}", hex(&hasher.finalize())))
    }

    /// Reads a digest from its text form.
    pub fn parse(text: &str) -> Result<Digest, String> {
        let hex = text.strip_prefix("sha256:").ok_or_else(|| format!("{text:?} does not start with sha256:"))?;
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Digest(text.to_string()))
        } else {
            Err(format!("{text:?} is not sha256: and 64 lower-case hex digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Canonical JSON: keys sorted by bytes, no insignificant whitespace, numbers as Go prints them.
pub fn canonical_json(value: &Value) -> String {
    json_with(value, JsonStyle::CANONICAL)
}

/// Go's `json.Marshal` output, which also escapes `<`, `>`, `&`, U+2028 and U+2029.
pub fn go_json(value: &Value) -> String {
    json_with(value, JsonStyle { html: true, line_separators: true, short_exponents: false })
}

/// How [`json_with`] writes what JSON leaves open. Every style sorts keys and writes no
/// insignificant whitespace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonStyle {
    /// `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` (Go's `SetEscapeHTML(true)`).
    pub html: bool,
    /// U+2028 and U+2029 escaped (Go's encoder always does).
    pub line_separators: bool,
    /// Exponents as Go's encoder cleans them: `1e-7` rather than `1e-07` (`e+21` stays).
    pub short_exponents: bool,
}

impl JsonStyle {
    /// The digest's: nothing escaped that JSON does not require, numbers as read.
    pub(crate) const CANONICAL: JsonStyle = JsonStyle { html: false, line_separators: false, short_exponents: false };
}

/// `value` as JSON in `style`: the one writer behind the digest, `go_json` and Helm's `toJson`.
pub(crate) fn json_with(value: &Value, style: JsonStyle) -> String {
    let mut out = String::new();
    write_json(value, &mut out, style);
    out
}

fn write_json(value: &Value, out: &mut String, style: JsonStyle) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out, style);
                out.push(':');
                write_json(&map[k], out, style);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out, style);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out, style),
        Value::Number(n) => {
            let text = crate::yaml::format_number(n);
            match text.find("e-0").filter(|_| style.short_exponents) {
                Some(i) => {
                    out.push_str(&text[..i + 2]);
                    out.push_str(&text[i + 3..]);
                }
                None => out.push_str(&text),
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn write_string(s: &str, out: &mut String, style: JsonStyle) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if style.html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' if style.line_separators => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_is_compact() {
        assert_eq!(canonical_json(&json!({"b": 1, "a": [true, null, "x<y"]})), r#"{"a":[true,null,"x<y"],"b":1}"#);
        assert_eq!(go_json(&json!({"b": "<&>"})), r#"{"b":"\u003c\u0026\u003e"}"#);
    }

    #[test]
    fn digest_depends_on_content_and_order() {
        let a = json!({"kind": "A"});
        let b = json!({"kind": "B"});
        let ab = Digest::of_objects(&[a.clone(), b.clone()]);
        assert_eq!(ab, Digest::of_objects(&[a.clone(), b.clone()]));
        assert_ne!(ab, Digest::of_objects(&[b, a]));
        assert!(Digest::parse(ab.as_str()).is_ok());
        assert_eq!(
            Digest::of_objects(&[]).as_str(),
            // sha256 of "[]"
            "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }
}
