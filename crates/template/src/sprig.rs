//! The most used of Sprig's functions (Masterminds/sprig v3, `functions.go` and the files it
//! names), each as Sprig writes it: `default empty coalesce ternary quote squote indent nindent
//! trim trimSuffix trimPrefix trunc lower upper replace toString list dict hasKey contains
//! hasPrefix hasSuffix join split splitList b64enc`.
//!
//! Not the rest of Sprig yet, and nothing of Sprig that reads the clock, the environment or a
//! random source (`now`, `env`, `randAlpha`, `uuidv4`, ...): those would come from the caller.
//! Go converts an argument to a parameter's Go type before the call (`indent`'s `int`,
//! `trim`'s `string`); here each function checks, with Go's words, and the message comes
//! wrapped as `error calling NAME: ...`.

use std::collections::BTreeMap;

use crate::funcs::Funcs;
use crate::print::{format_value, quote};
use crate::value::{Arity, Value};

pub mod clock;
mod more;
pub mod random;

/// The most that one call of a function that makes a value of a size it is given (`repeat`,
/// `until`, `randAlphaNum`) may make, in bytes (8 a list item): Go would try and run out of
/// memory, a render here stops with an error.
pub const MAX_MADE: usize = 16 * 1024 * 1024;

/// Adds Sprig's functions to `funcs`: these and the rest of those charts use (strings, lists,
/// dicts, numbers, types, versions; see the module `more`).
pub fn add_to(funcs: &mut Funcs) {
    more::add_to(funcs);
    funcs.insert("default", Arity::AtLeast(1), |_, a| {
        Ok(if a.len() < 2 || empty(&a[1]) { a[0].clone() } else { a[1].clone() })
    });
    funcs.insert("empty", Arity::Exactly(1), |_, a| Ok(Value::Bool(empty(&a[0]))));
    funcs.insert("coalesce", Arity::AtLeast(0), |_, a| Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or_default()));
    funcs.insert("ternary", Arity::Exactly(3), |_, a| match a[2] {
        Value::Bool(b) => Ok(if b { a[0].clone() } else { a[1].clone() }),
        ref other => Err(wrong_type("bool", other)),
    });
    funcs.insert("quote", Arity::AtLeast(0), |_, a| {
        let quoted: Vec<String> = a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| quote(&strval(v))).collect();
        Ok(Value::String(quoted.join(" ")))
    });
    funcs.insert("squote", Arity::AtLeast(0), |_, a| {
        let quoted: Vec<String> =
            a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| format!("'{}'", format_value(v))).collect();
        Ok(Value::String(quoted.join(" ")))
    });
    funcs.insert("indent", Arity::Exactly(2), |_, a| Ok(Value::String(indent(int_arg(&a[0])?, str_arg(&a[1])?))));
    funcs.insert("nindent", Arity::Exactly(2), |_, a| {
        Ok(Value::String(format!("\n{}", indent(int_arg(&a[0])?, str_arg(&a[1])?))))
    });
    funcs.insert("trim", Arity::Exactly(1), |_, a| Ok(Value::from(trim_space(str_arg(&a[0])?))));
    funcs.insert("trimSuffix", Arity::Exactly(2), |_, a| {
        let (suffix, s) = (str_arg(&a[0])?, str_arg(&a[1])?);
        Ok(Value::from(s.strip_suffix(suffix).unwrap_or(s)))
    });
    funcs.insert("trimPrefix", Arity::Exactly(2), |_, a| {
        let (prefix, s) = (str_arg(&a[0])?, str_arg(&a[1])?);
        Ok(Value::from(s.strip_prefix(prefix).unwrap_or(s)))
    });
    funcs.insert("trunc", Arity::Exactly(2), |_, a| Ok(Value::from(trunc(int_arg(&a[0])?, str_arg(&a[1])?))));
    funcs.insert("lower", Arity::Exactly(1), |_, a| Ok(Value::String(map_chars(str_arg(&a[0])?, char::to_lowercase))));
    funcs.insert("upper", Arity::Exactly(1), |_, a| Ok(Value::String(map_chars(str_arg(&a[0])?, char::to_uppercase))));
    funcs.insert("replace", Arity::Exactly(3), |_, a| {
        let (old, new, src) = (str_arg(&a[0])?, str_arg(&a[1])?, str_arg(&a[2])?);
        Ok(Value::String(replace_all(src, old, new)))
    });
    funcs.insert("toString", Arity::Exactly(1), |_, a| Ok(Value::String(strval(&a[0]))));
    funcs.insert("list", Arity::AtLeast(0), |_, a| Ok(Value::list(a.iter().cloned())));
    funcs.insert("dict", Arity::AtLeast(0), |_, a| {
        let mut map = BTreeMap::new();
        for pair in a.chunks(2) {
            map.insert(strval(&pair[0]), pair.get(1).cloned().unwrap_or_else(|| Value::from("")));
        }
        Ok(Value::from(map))
    });
    funcs.insert("hasKey", Arity::Exactly(2), |_, a| {
        let key = str_arg(&a[1])?;
        match &a[0] {
            Value::Map(m) => Ok(Value::Bool(m.contains_key(key))),
            Value::Nil => Ok(Value::Bool(false)),
            other => Err(wrong_type("map[string]interface {}", other)),
        }
    });
    funcs.insert("contains", Arity::Exactly(2), |_, a| Ok(Value::Bool(str_arg(&a[1])?.contains(str_arg(&a[0])?))));
    funcs.insert("hasPrefix", Arity::Exactly(2), |_, a| Ok(Value::Bool(str_arg(&a[1])?.starts_with(str_arg(&a[0])?))));
    funcs.insert("hasSuffix", Arity::Exactly(2), |_, a| Ok(Value::Bool(str_arg(&a[1])?.ends_with(str_arg(&a[0])?))));
    funcs.insert("join", Arity::Exactly(2), |_, a| Ok(Value::String(strslice(&a[1]).join(str_arg(&a[0])?))));
    funcs.insert("split", Arity::Exactly(2), |_, a| {
        let (sep, orig) = (str_arg(&a[0])?, str_arg(&a[1])?);
        Ok(Value::map(
            go_split(orig, sep).into_iter().enumerate().map(|(i, part)| (format!("_{i}"), Value::from(part))),
        ))
    });
    funcs.insert("splitList", Arity::Exactly(2), |_, a| {
        let (sep, orig) = (str_arg(&a[0])?, str_arg(&a[1])?);
        Ok(Value::list(go_split(orig, sep).into_iter().map(Value::from)))
    });
    funcs.insert("b64enc", Arity::Exactly(1), |_, a| Ok(Value::String(base64(str_arg(&a[0])?.as_bytes()))));
}

/// Go's message when an argument is not of a parameter's type.
pub(crate) fn wrong_type(want: &str, got: &Value) -> String {
    format!("wrong type for value; expected {want}; got {}", got.type_name())
}

pub(crate) fn str_arg(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        // Go cannot pass a nil as a string.
        Value::Nil => Err("invalid value; expected string".to_string()),
        other => Err(wrong_type("string", other)),
    }
}

pub(crate) fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil => Err("invalid value; expected int".to_string()),
        other => Err(wrong_type("int", other)),
    }
}

/// Sprig's `empty`: nil, false, 0, 0.0 and empty strings, lists and maps; objects never.
pub fn empty(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Function(_)) && !v.is_true()
}

/// Sprig's `strval`: a string as it is, anything else as `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => format_value(other),
    }
}

/// Sprig's `strslice`: a list's non-nil items as strings, nil as none, anything else as one.
fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().filter(|i| !matches!(i, Value::Nil)).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn indent(spaces: i64, v: &str) -> String {
    let pad = " ".repeat(usize::try_from(spaces).unwrap_or(0));
    format!("{pad}{}", replace_all(v, "\n", &format!("\n{pad}")))
}

/// Sprig's `trunc`, on bytes as Go's slicing is (a cut inside a character is kept lossily).
fn trunc(c: i64, s: &str) -> String {
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let cut = |from: i64, to: i64| {
        let (from, to) = (usize::try_from(from).unwrap_or(0), usize::try_from(to).unwrap_or(0));
        String::from_utf8_lossy(&s.as_bytes()[from..to]).into_owned()
    };
    if c < 0 && len + c > 0 {
        return cut(len + c, len);
    }
    if c >= 0 && len > c {
        return cut(0, c);
    }
    s.to_string()
}

/// Go's `strings.TrimSpace`.
fn trim_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{85}')
}

/// Go's `strings.Replace(s, old, new, -1)`: an empty `old` matches before each character and
/// at the end.
fn replace_all(s: &str, old: &str, new: &str) -> String {
    if !old.is_empty() {
        return s.replace(old, new);
    }
    let mut out = String::with_capacity(s.len() + new.len() * (s.len() + 1));
    out.push_str(new);
    for c in s.chars() {
        out.push(c);
        out.push_str(new);
    }
    out
}

/// Go's `strings.Split`: an empty separator splits into characters; an empty string gives one
/// empty part.
fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()]).collect();
    }
    s.split(sep).collect()
}

/// Go's `unicode.ToUpper`/`ToLower` per character: a character whose mapping is not a single
/// character stays as it is (Go's simple case mapping).
fn map_chars<I: Iterator<Item = char>>(s: &str, f: fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut mapped = f(c);
            match (mapped.next(), mapped.next()) {
                (Some(m), None) => m,
                _ => c,
            }
        })
        .collect()
}

/// `base64.StdEncoding.EncodeToString`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
