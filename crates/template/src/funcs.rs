//! The function table ([`Funcs`]) a caller fills (Sprig's and Helm's functions plug in here),
//! and Go's builtins (`funcs.go`): `len index slice not print printf println html js urlquery`
//! and the comparisons `eq ne lt le gt ge`, with Go's errors. `and`, `or` and `call` are
//! evaluated by the executor itself, as in Go (they short-circuit or take a function).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::print::{sprint, sprintf, sprintln};
use crate::value::{Arity, Context, Function, Value};

/// Functions by name. A name here hides a builtin of the same name, as in Go.
#[derive(Clone, Debug, Default)]
pub struct Funcs {
    map: BTreeMap<String, Function>,
}

impl Funcs {
    pub fn new() -> Self {
        Funcs::default()
    }

    /// Adds (or replaces) a function.
    pub fn insert(
        &mut self,
        name: &str,
        arity: Arity,
        body: impl Fn(&dyn Context, &[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.map.insert(name.to_string(), Function::new(arity, body));
        self
    }

    /// Adds (or replaces) a function made elsewhere.
    pub fn insert_function(&mut self, name: &str, function: Function) -> &mut Self {
        self.map.insert(name.to_string(), function);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Function> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

/// The names the executor evaluates itself.
pub(crate) const SPECIAL: &[&str] = &["and", "or", "call"];

/// Go's builtins other than [`SPECIAL`].
pub(crate) fn builtins() -> &'static Funcs {
    static BUILTINS: OnceLock<Funcs> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        let mut f = Funcs::new();
        f.insert("not", Arity::Exactly(1), |_, a| Ok(Value::Bool(!a[0].is_true())));
        f.insert("len", Arity::Exactly(1), |_, a| length(&a[0]).map(Value::Int));
        f.insert("index", Arity::AtLeast(1), |_, a| index(&a[0], &a[1..]));
        f.insert("slice", Arity::AtLeast(1), |_, a| slice(&a[0], &a[1..]));
        f.insert("print", Arity::AtLeast(0), |_, a| Ok(Value::String(sprint(a))));
        f.insert("println", Arity::AtLeast(0), |_, a| Ok(Value::String(sprintln(a))));
        f.insert("printf", Arity::AtLeast(1), |_, a| match &a[0] {
            Value::String(format) => Ok(Value::String(sprintf(format, &a[1..]))),
            other => Err(format!("wrong type for value; expected string; got {}", other.type_name())),
        });
        f.insert("html", Arity::AtLeast(0), |_, a| Ok(Value::String(html_escape(&eval_args(a)))));
        f.insert("js", Arity::AtLeast(0), |_, a| Ok(Value::String(js_escape(&eval_args(a)))));
        f.insert("urlquery", Arity::AtLeast(0), |_, a| Ok(Value::String(query_escape(&eval_args(a)))));
        f.insert("eq", Arity::AtLeast(1), |_, a| eq(&a[0], &a[1..]).map(Value::Bool));
        f.insert("ne", Arity::Exactly(2), |_, a| eq(&a[0], &a[1..]).map(|e| Value::Bool(!e)));
        f.insert("lt", Arity::Exactly(2), |_, a| lt(&a[0], &a[1]).map(Value::Bool));
        f.insert("le", Arity::Exactly(2), |_, a| le(&a[0], &a[1]).map(Value::Bool));
        f.insert("gt", Arity::Exactly(2), |_, a| le(&a[0], &a[1]).map(|le| Value::Bool(!le)));
        f.insert("ge", Arity::Exactly(2), |_, a| lt(&a[0], &a[1]).map(|lt| Value::Bool(!lt)));
        f
    })
}

/// Go's `length`. A nil argument reaches Go's `item.Type()` on a zero `reflect.Value`, whose
/// panic becomes the error.
fn length(item: &Value) -> Result<i64, String> {
    let n = match item {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Object(o) if o.entries().is_some() => o.entries().map_or(0, |e| e.len()),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".to_string()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Go's `indexArg`: an int in `0..=cap` (one past the end passes here and fails on use).
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    match index {
        Value::Int(x) => match usize::try_from(*x) {
            Ok(x) if x <= cap => Ok(x),
            _ => Err(format!("index out of range: {x}")),
        },
        Value::Nil => Err("cannot index slice/array with nil".to_string()),
        other => Err(format!("cannot index slice/array with type {}", other.type_name())),
    }
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("index of untyped nil".to_string());
    }
    let mut item = item.clone();
    for index in indexes {
        item = match &item {
            Value::Nil => return Err("index of nil pointer".to_string()),
            Value::List(l) => {
                let x = index_arg(index, l.len())?;
                l.get(x).cloned().ok_or("reflect: slice index out of range")?
            }
            Value::String(s) => {
                let x = index_arg(index, s.len())?;
                // Go gives the byte (a uint8); here it is an int.
                Value::Int(i64::from(*s.as_bytes().get(x).ok_or("reflect: string index out of range")?))
            }
            Value::Map(m) => match index {
                Value::String(k) => m.get(k).unwrap_or_default(),
                Value::Nil => return Err("value is nil; should be of type string".to_string()),
                other => return Err(format!("value has type {}; should be string", other.type_name())),
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("slice of untyped nil".to_string());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".to_string());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => Value::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned()),
        Value::List(l) => Value::list(l[idx[0]..idx[1]].iter().cloned()),
        _ => unreachable!("checked above"),
    })
}

/// Go's comparison kinds; everything else is `Other`.
#[derive(PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

/// Go's `eq`: `arg1 == arg2 || arg1 == arg3 ...`.
pub(crate) fn eq(arg1: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".to_string());
    }
    let k1 = basic_kind(arg1);
    for arg in rest {
        let k2 = basic_kind(arg);
        let truth = if k1 == k2 {
            match (arg1, arg) {
                (Value::Bool(a), Value::Bool(b)) => a == b,
                (Value::Int(a), Value::Int(b)) => a == b,
                (Value::Float(a), Value::Float(b)) => a == b,
                (Value::String(a), Value::String(b)) => a == b,
                (Value::Nil, b) | (b, Value::Nil) => matches!(b, Value::Nil),
                (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        crate::print::format_value(a),
                        a.type_name(),
                        b.type_name(),
                        crate::print::format_value(b)
                    ));
                }
                (Value::Object(_), Value::Object(_)) => arg1 == arg,
                (_, b) => {
                    return Err(format!("non-comparable type {}: {}", crate::print::format_value(b), b.type_name()));
                }
            }
        } else if matches!(arg1, Value::Nil) || matches!(arg, Value::Nil) {
            false
        } else {
            return Err(format!("incompatible types for comparison: {} and {}", arg1.type_name(), arg.type_name()));
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err("invalid type for comparison".to_string());
    }
    if k1 != k2 {
        return Err(format!("incompatible types for comparison: {} and {}", a.type_name(), b.type_name()));
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Err("invalid type for comparison".to_string()),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// Go's `evalArgs`: one string as it is, else `fmt.Sprint` with nil shown as `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        // Go passes `<no value>` (a string) in place of a nil argument.
        let is_string = matches!(arg, Value::String(_) | Value::Nil);
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        match arg {
            Value::Nil => out.push_str("<no value>"),
            other => out.push_str(&sprint(std::slice::from_ref(other))),
        }
        prev_string = is_string;
    }
    out
}

/// Go's `HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if c.is_ascii() || crate::print::is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}
