//! RFC 6902 JSON Patch over JSON values: add, remove, replace, move, copy, test.
//!
//! Operations apply in order to a copy; a failing operation fails the whole patch and leaves
//! the target untouched, and the error names the operation's index and path.

use serde_json::Value;

/// Applies `ops` (a JSON array of operations) to `target`. Copies may not make it larger than
/// [`super::MAX_OBJECT_BYTES`] (a few `copy` operations of a list into itself would double it
/// each time).
pub fn apply(target: &mut Value, ops: &Value) -> Result<(), String> {
    let Value::Array(ops) = ops else {
        return Err("a JSON patch must be a list of operations".into());
    };
    let mut work = target.clone();
    let mut size = super::weight(&work);
    for (i, op) in ops.iter().enumerate() {
        apply_one(&mut work, op, &mut size).map_err(|e| format!("operation {i}: {e}"))?;
    }
    *target = work;
    Ok(())
}

fn field<'a>(op: &'a Value, name: &str) -> Result<&'a str, String> {
    op.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing {name:?}"))
}

/// Applies one operation; `size` is the document's size so far, grown by what copies add.
fn apply_one(doc: &mut Value, op: &Value, size: &mut usize) -> Result<(), String> {
    let kind = field(op, "op")?;
    let path = field(op, "path")?;
    let value = || op.get("value").cloned().ok_or_else(|| format!("{kind} {path}: missing \"value\""));
    match kind {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let v = value()?;
            // kustomize's JSON patch library replaces a missing key of an existing mapping
            // as if it were added; a missing list index or parent is still an error.
            let (parent, last) = parent(doc, path)?;
            if let Value::Object(map) = parent {
                map.insert(last, v);
                return Ok(());
            }
            let slot = get_mut(doc, path)?;
            *slot = v;
            Ok(())
        }
        "move" => {
            let from = field(op, "from")?;
            if path.starts_with(&format!("{from}/")) {
                return Err(format!("move from {from} to its own child {path}"));
            }
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        "copy" => {
            let from = field(op, "from")?;
            let v = get_mut(doc, from)?;
            *size = size.saturating_add(super::weight(v));
            if *size > super::MAX_OBJECT_BYTES {
                return Err(format!(
                    "copy {from} to {path}: the object would be larger than {}",
                    super::bytes_text(super::MAX_OBJECT_BYTES as u64)
                ));
            }
            let v = v.clone();
            add(doc, path, v)
        }
        "test" => {
            let want = value()?;
            let got = get_mut(doc, path)?;
            if *got == want { Ok(()) } else { Err(format!("test {path}: value is {got}, not {want}")) }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Splits a JSON pointer into unescaped tokens.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path {path:?} does not start with /"));
    };
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn index(token: &str, len: usize, allow_end: bool, path: &str) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let valid =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let i: usize = if valid {
        token.parse().map_err(|_| format!("{path}: bad index {token:?}"))?
    } else {
        return Err(format!("{path}: bad index {token:?}"));
    };
    let limit = if allow_end { len } else { len.saturating_sub(1) };
    if i > limit || (!allow_end && len == 0) {
        return Err(format!("{path}: index {i} out of range"));
    }
    Ok(i)
}

fn get_mut<'a>(doc: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    walk(doc, tokens(path)?, path)
}

/// Follows unescaped pointer tokens from `doc`; `path` is for messages.
fn walk<'a>(doc: &'a mut Value, tokens: Vec<String>, path: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(map) => map.get_mut(&t).ok_or_else(|| format!("{path}: no field {t:?}"))?,
            Value::Array(items) => {
                let i = index(&t, items.len(), false, path)?;
                &mut items[i]
            }
            _ => return Err(format!("{path}: {t:?} is below a scalar")),
        };
    }
    Ok(cur)
}

fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks.pop().ok_or_else(|| "the root cannot be the target".to_string())?;
    Ok((walk(doc, toks, path)?, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let i = index(&last, items.len(), true, path)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!("{path}: parent is a scalar")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(map) => map.remove(&last).ok_or_else(|| format!("remove {path}: no such field")),
        Value::Array(items) => {
            let i = index(&last, items.len(), false, path)?;
            Ok(items.remove(i))
        }
        _ => Err(format!("{path}: parent is a scalar")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cases from RFC 6902 appendix A.
    #[test]
    fn rfc6902_examples() {
        let cases = [
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux"}]),
                Some(json!({"baz": "qux", "foo": "bar"})),
            ),
            (
                json!({"foo": ["bar", "baz"]}),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
                Some(json!({"foo": ["bar", "qux", "baz"]})),
            ),
            (
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "remove", "path": "/baz"}]),
                Some(json!({"foo": "bar"})),
            ),
            (
                json!({"foo": ["bar", "qux", "baz"]}),
                json!([{"op": "remove", "path": "/foo/1"}]),
                Some(json!({"foo": ["bar", "baz"]})),
            ),
            (
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
                Some(json!({"baz": "boo", "foo": "bar"})),
            ),
            (
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
                Some(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})),
            ),
            (
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
                Some(json!({"foo": ["all", "cows", "eat", "grass"]})),
            ),
            (
                json!({"baz": "qux", "foo": ["a", 2, "c"]}),
                json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
                Some(json!({"baz": "qux", "foo": ["a", 2, "c"]})),
            ),
            (json!({"baz": "qux"}), json!([{"op": "test", "path": "/baz", "value": "bar"}]), None),
            (
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
                Some(json!({"foo": "bar", "child": {"grandchild": {}}})),
            ),
            (json!({"foo": "bar"}), json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]), None),
            (
                json!({"/": 9, "~1": 10}),
                json!([{"op": "test", "path": "/~01", "value": 10}]),
                Some(json!({"/": 9, "~1": 10})),
            ),
            (
                json!({"foo": ["bar"]}),
                json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
                Some(json!({"foo": ["bar", ["abc", "def"]]})),
            ),
            (
                json!({"foo": ["bar"]}),
                json!([{"op": "copy", "from": "/foo/0", "path": "/a~1b"}]),
                Some(json!({"foo": ["bar"], "a/b": "bar"})),
            ),
        ];
        for (doc, patch, want) in cases {
            let mut got = doc.clone();
            let result = apply(&mut got, &patch);
            if let Some(w) = want {
                assert_eq!((result, got), (Ok(()), w), "patch {patch}");
            } else {
                assert!(result.is_err(), "patch {patch} should fail");
                assert_eq!(got, doc, "a failed patch leaves the document untouched");
            }
        }
    }
}
