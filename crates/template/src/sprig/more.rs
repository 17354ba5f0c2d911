//! The rest of Sprig that charts use: strings (`title`, `repeat`, `substr`, `cat`, case
//! conversions, regular expressions, `b64dec`, hashes), lists (`first`, `append`, `uniq`,
//! `without`, `has`, `compact`, `sortAlpha`, …), dicts (`get`, `set`, `keys`, `pick`, `omit`,
//! `merge`, `dig`, …), numbers (`add`, `int`, `float64`, `until`, …), types (`kindOf`,
//! `kindIs`, `typeOf`) and versions (`semver`, `semverCompare`), as Sprig v3 writes them.
//!
//! Go maps are shared, and so are [`Dict`]s: `set`, `unset`, `merge` and `mergeOverwrite`
//! change the map they are given and return it, as Sprig's do.

use std::collections::BTreeMap;

use sha2::Digest as _;

use super::{empty, int_arg, str_arg, strval, wrong_type};
use crate::funcs::Funcs;
use crate::value::{Arity, Dict, Value};

/// Adds these functions to `funcs`.
#[allow(clippy::too_many_lines, reason = "a table of small functions, one line or a few each")]
pub fn add_to(funcs: &mut Funcs) {
    // Strings.
    funcs.insert("title", Arity::Exactly(1), |_, a| Ok(Value::String(title(str_arg(&a[0])?))));
    funcs.insert("untitle", Arity::Exactly(1), |_, a| {
        let s = str_arg(&a[0])?;
        let mut out = String::new();
        let mut start = true;
        for c in s.chars() {
            if start && !c.is_whitespace() {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
            start = c.is_whitespace();
        }
        Ok(Value::String(out))
    });
    funcs.insert("repeat", Arity::Exactly(2), |_, a| {
        let (count, s) = (usize::try_from(int_arg(&a[0])?).unwrap_or(0), str_arg(&a[1])?);
        if count.saturating_mul(s.len()) > super::MAX_MADE {
            return Err(format!("repeat would make more than {} bytes", super::MAX_MADE));
        }
        Ok(Value::String(s.repeat(count)))
    });
    funcs.insert("substr", Arity::Exactly(3), |_, a| {
        let (start, end, s) = (int_arg(&a[0])?, int_arg(&a[1])?, str_arg(&a[2])?);
        let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
        let (from, to) = if start < 0 { (0, end) } else { (start, if end < 0 || end > len { len } else { end }) };
        let (from, to) =
            (usize::try_from(from.min(len)).unwrap_or(0), usize::try_from(to.max(0).min(len)).unwrap_or(0));
        Ok(Value::String(
            String::from_utf8_lossy(s.as_bytes().get(from..to.max(from)).unwrap_or_default()).into_owned(),
        ))
    });
    funcs.insert("nospace", Arity::Exactly(1), |_, a| {
        Ok(Value::String(str_arg(&a[0])?.chars().filter(|c| !c.is_whitespace()).collect()))
    });
    funcs.insert("trimAll", Arity::Exactly(2), |_, a| {
        let (cut, s) = (str_arg(&a[0])?, str_arg(&a[1])?);
        Ok(Value::from(s.trim_matches(|c| cut.contains(c))))
    });
    funcs.insert("cat", Arity::AtLeast(0), |_, a| {
        let parts: Vec<String> = a.iter().filter(|v| !matches!(v, Value::Nil)).map(strval).collect();
        Ok(Value::String(parts.join(" ")))
    });
    funcs.insert("wrap", Arity::Exactly(2), |_, a| Ok(Value::String(wrap(int_arg(&a[0])?, str_arg(&a[1])?))));
    funcs
        .insert("plural", Arity::Exactly(3), |_, a| Ok(if int_arg(&a[2])? == 1 { a[0].clone() } else { a[1].clone() }));
    funcs.insert("snakecase", Arity::Exactly(1), |_, a| Ok(Value::String(words_joined(str_arg(&a[0])?, '_'))));
    funcs.insert("kebabcase", Arity::Exactly(1), |_, a| Ok(Value::String(words_joined(str_arg(&a[0])?, '-'))));
    funcs.insert("camelcase", Arity::Exactly(1), |_, a| {
        let s = str_arg(&a[0])?;
        Ok(Value::String(s.split(['_', ' ', '-']).filter(|p| !p.is_empty()).map(title).collect()))
    });
    funcs.insert("toStrings", Arity::Exactly(1), |_, a| {
        Ok(Value::list(list_items(&a[0]).iter().map(|v| Value::String(strval(v)))))
    });
    funcs.insert("b64dec", Arity::Exactly(1), |_, a| {
        Ok(Value::String(match base64_decode(str_arg(&a[0])?) {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => "illegal base64 data at input byte 0".to_string(),
        }))
    });
    funcs.insert("sha256sum", Arity::Exactly(1), |_, a| {
        Ok(Value::String(hex(&sha2::Sha256::digest(str_arg(&a[0])?.as_bytes()))))
    });
    funcs.insert("sha512sum", Arity::Exactly(1), |_, a| {
        Ok(Value::String(hex(&sha2::Sha512::digest(str_arg(&a[0])?.as_bytes()))))
    });
    funcs.insert("regexMatch", Arity::Exactly(2), |_, a| Ok(Value::Bool(regex(&a[0])?.is_match(str_arg(&a[1])?))));
    funcs.insert("mustRegexMatch", Arity::Exactly(2), |_, a| Ok(Value::Bool(regex(&a[0])?.is_match(str_arg(&a[1])?))));
    for name in ["regexFind", "mustRegexFind"] {
        funcs.insert(name, Arity::Exactly(2), |_, a| {
            Ok(Value::from(regex(&a[0])?.find(str_arg(&a[1])?).map_or("", |m| m.as_str())))
        });
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        funcs.insert(name, Arity::Exactly(3), |_, a| {
            let (re, s, n) = (regex(&a[0])?, str_arg(&a[1])?, int_arg(&a[2])?);
            let limit = usize::try_from(n).unwrap_or(usize::MAX);
            Ok(Value::list(re.find_iter(s).take(limit).map(|m| Value::from(m.as_str()))))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        funcs.insert(name, Arity::Exactly(3), |_, a| {
            let (re, s, repl) = (regex(&a[0])?, str_arg(&a[1])?, str_arg(&a[2])?);
            Ok(Value::String(re.replace_all(s, go_expand(repl).as_str()).into_owned()))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        funcs.insert(name, Arity::Exactly(3), |_, a| {
            let (re, s, repl) = (regex(&a[0])?, str_arg(&a[1])?, str_arg(&a[2])?);
            Ok(Value::String(re.replace_all(s, regex::NoExpand(repl)).into_owned()))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        funcs.insert(name, Arity::Exactly(3), |_, a| {
            let (re, s, n) = (regex(&a[0])?, str_arg(&a[1])?, int_arg(&a[2])?);
            let parts: Vec<Value> = if n < 0 {
                re.split(s).map(Value::from).collect()
            } else {
                re.splitn(s, usize::try_from(n).unwrap_or(0)).map(Value::from).collect()
            };
            Ok(Value::list(parts))
        });
    }

    funcs.insert("sha1sum", Arity::Exactly(1), |_, a| Ok(Value::String(hex(&sha1(str_arg(&a[0])?.as_bytes())))));
    funcs.insert("adler32sum", Arity::Exactly(1), |_, a| {
        let (mut x, mut y) = (1u32, 0u32);
        for &b in str_arg(&a[0])?.as_bytes() {
            x = (x + u32::from(b)) % 65521;
            y = (y + x) % 65521;
        }
        Ok(Value::String(((y << 16) | x).to_string()))
    });

    // Paths (Go's `path`, `/`-separated).
    funcs.insert("base", Arity::Exactly(1), |_, a| Ok(Value::String(path_base(str_arg(&a[0])?))));
    funcs.insert("dir", Arity::Exactly(1), |_, a| Ok(Value::String(path_dir(str_arg(&a[0])?))));
    funcs.insert("clean", Arity::Exactly(1), |_, a| Ok(Value::String(path_clean(str_arg(&a[0])?))));
    funcs.insert("ext", Arity::Exactly(1), |_, a| {
        let s = str_arg(&a[0])?;
        let name = s.rsplit('/').next().unwrap_or(s);
        Ok(Value::from(name.rfind('.').map_or("", |i| &name[i..])))
    });
    funcs.insert("isAbs", Arity::Exactly(1), |_, a| Ok(Value::Bool(str_arg(&a[0])?.starts_with('/'))));

    // Lists.
    funcs.insert("tuple", Arity::AtLeast(0), |_, a| Ok(Value::list(a.iter().cloned())));
    for (name, must) in [("first", false), ("mustFirst", true)] {
        funcs.insert(name, Arity::Exactly(1), move |_, a| {
            Ok(list_arg(&a[0], must)?.first().cloned().unwrap_or_default())
        });
    }
    for (name, must) in [("last", false), ("mustLast", true)] {
        funcs.insert(name, Arity::Exactly(1), move |_, a| {
            Ok(list_arg(&a[0], must)?.last().cloned().unwrap_or_default())
        });
    }
    for (name, must) in [("rest", false), ("mustRest", true)] {
        funcs.insert(name, Arity::Exactly(1), move |_, a| {
            let l = list_arg(&a[0], must)?;
            Ok(if l.is_empty() { Value::Nil } else { Value::list(l[1..].iter().cloned()) })
        });
    }
    for (name, must) in [("initial", false), ("mustInitial", true)] {
        funcs.insert(name, Arity::Exactly(1), move |_, a| {
            let l = list_arg(&a[0], must)?;
            Ok(if l.is_empty() { Value::Nil } else { Value::list(l[..l.len() - 1].iter().cloned()) })
        });
    }
    for name in ["append", "push", "mustAppend", "mustPush"] {
        funcs.insert(name, Arity::Exactly(2), |_, a| {
            let mut l = list_arg(&a[0], true)?;
            l.push(a[1].clone());
            Ok(Value::list(l))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        funcs.insert(name, Arity::Exactly(2), |_, a| {
            let mut l = list_arg(&a[0], true)?;
            l.insert(0, a[1].clone());
            Ok(Value::list(l))
        });
    }
    funcs.insert("concat", Arity::AtLeast(0), |_, a| {
        let mut out = Vec::new();
        for l in a {
            out.extend(list_arg(l, true)?);
        }
        Ok(Value::list(out))
    });
    for name in ["uniq", "mustUniq"] {
        funcs.insert(name, Arity::Exactly(1), |_, a| {
            let mut out: Vec<Value> = Vec::new();
            for v in list_arg(&a[0], true)? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Value::list(out))
        });
    }
    for name in ["without", "mustWithout"] {
        funcs.insert(name, Arity::AtLeast(1), |_, a| {
            Ok(Value::list(list_arg(&a[0], true)?.into_iter().filter(|v| !a[1..].contains(v))))
        });
    }
    for name in ["has", "mustHas"] {
        funcs.insert(name, Arity::Exactly(2), |_, a| match &a[1] {
            Value::Nil => Ok(Value::Bool(false)),
            l => Ok(Value::Bool(list_arg(l, true)?.contains(&a[0]))),
        });
    }
    for name in ["compact", "mustCompact"] {
        funcs.insert(name, Arity::Exactly(1), |_, a| {
            Ok(Value::list(list_arg(&a[0], true)?.into_iter().filter(|v| !empty(v))))
        });
    }
    for name in ["reverse", "mustReverse"] {
        funcs.insert(name, Arity::Exactly(1), |_, a| Ok(Value::list(list_arg(&a[0], true)?.into_iter().rev())));
    }
    funcs.insert("sortAlpha", Arity::Exactly(1), |_, a| {
        let mut items: Vec<String> = list_items(&a[0]).iter().map(strval).collect();
        items.sort();
        Ok(Value::list(items.into_iter().map(Value::String)))
    });
    funcs.insert("until", Arity::Exactly(1), |_, a| until_step(0, to_int(&a[0]), 1));
    funcs.insert("untilStep", Arity::Exactly(3), |_, a| until_step(to_int(&a[0]), to_int(&a[1]), to_int(&a[2])));

    // Dicts.
    funcs.insert("get", Arity::Exactly(2), |_, a| {
        let key = str_arg(&a[1])?;
        Ok(map_arg(&a[0])?.get(key).cloned().unwrap_or_else(|| Value::from("")))
    });
    funcs.insert("set", Arity::Exactly(3), |_, a| match &a[0] {
        Value::Map(m) => {
            m.insert(str_arg(&a[1])?.to_string(), a[2].clone());
            Ok(a[0].clone())
        }
        other => Err(wrong_type("map[string]interface {}", other)),
    });
    funcs.insert("unset", Arity::Exactly(2), |_, a| match &a[0] {
        Value::Map(m) => {
            m.remove(str_arg(&a[1])?);
            Ok(a[0].clone())
        }
        other => Err(wrong_type("map[string]interface {}", other)),
    });
    funcs.insert("keys", Arity::AtLeast(0), |_, a| {
        let mut keys = Vec::new();
        for m in a {
            keys.extend(map_arg(m)?.into_keys().map(Value::String));
        }
        Ok(Value::list(keys))
    });
    funcs.insert("values", Arity::Exactly(1), |_, a| Ok(Value::list(map_arg(&a[0])?.into_values())));
    funcs.insert("pick", Arity::AtLeast(1), |_, a| {
        let m = map_arg(&a[0])?;
        let keys: Vec<String> = a[1..].iter().map(strval).collect();
        Ok(Value::from(m.into_iter().filter(|(k, _)| keys.contains(k)).collect::<BTreeMap<_, _>>()))
    });
    funcs.insert("omit", Arity::AtLeast(1), |_, a| {
        let m = map_arg(&a[0])?;
        let keys: Vec<String> = a[1..].iter().map(strval).collect();
        Ok(Value::from(m.into_iter().filter(|(k, _)| !keys.contains(k)).collect::<BTreeMap<_, _>>()))
    });
    for (name, overwrite) in
        [("merge", false), ("mustMerge", false), ("mergeOverwrite", true), ("mustMergeOverwrite", true)]
    {
        funcs.insert(name, Arity::AtLeast(1), move |_, a| {
            let Value::Map(dst) = &a[0] else { return Err(wrong_type("map[string]interface {}", &a[0])) };
            for src in &a[1..] {
                merge_into(dst, &map_arg(src)?, overwrite);
            }
            Ok(a[0].clone())
        });
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        funcs.insert(name, Arity::Exactly(1), |_, a| Ok(deep_copy(&a[0])));
    }
    funcs.insert("pluck", Arity::AtLeast(1), |_, a| {
        let key = str_arg(&a[0])?;
        let mut out = Vec::new();
        for m in &a[1..] {
            if let Some(v) = map_arg(m)?.get(key) {
                out.push(v.clone());
            }
        }
        Ok(Value::list(out))
    });
    funcs.insert("dig", Arity::AtLeast(3), |_, a| {
        let (keys, default, dict) = (&a[..a.len() - 2], &a[a.len() - 2], &a[a.len() - 1]);
        let mut at = dict.clone();
        for key in keys {
            let key = str_arg(key)?;
            let next = match &at {
                Value::Map(m) => m.get(key),
                _ => return Err(wrong_type("map[string]interface {}", &at)),
            };
            match next {
                Some(v) => at = v,
                None => return Ok(default.clone()),
            }
        }
        Ok(at)
    });

    // Numbers.
    funcs.insert("add1", Arity::Exactly(1), |_, a| Ok(Value::Int(to_int(&a[0]).wrapping_add(1))));
    funcs.insert("add", Arity::AtLeast(0), |_, a| Ok(Value::Int(a.iter().map(to_int).fold(0, i64::wrapping_add))));
    funcs.insert("sub", Arity::Exactly(2), |_, a| Ok(Value::Int(to_int(&a[0]).wrapping_sub(to_int(&a[1])))));
    funcs.insert("mul", Arity::AtLeast(1), |_, a| Ok(Value::Int(a.iter().map(to_int).fold(1, i64::wrapping_mul))));
    funcs.insert("div", Arity::Exactly(2), |_, a| {
        let d = to_int(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".to_string());
        }
        Ok(Value::Int(to_int(&a[0]).wrapping_div(d)))
    });
    funcs.insert("mod", Arity::Exactly(2), |_, a| {
        let d = to_int(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".to_string());
        }
        Ok(Value::Int(to_int(&a[0]).wrapping_rem(d)))
    });
    funcs.insert("max", Arity::AtLeast(1), |_, a| Ok(Value::Int(a.iter().map(to_int).max().unwrap_or(0))));
    funcs.insert("min", Arity::AtLeast(1), |_, a| Ok(Value::Int(a.iter().map(to_int).min().unwrap_or(0))));
    funcs.insert("addf", Arity::AtLeast(0), |_, a| Ok(Value::Float(a.iter().map(to_float).sum())));
    funcs.insert("subf", Arity::AtLeast(1), |_, a| {
        Ok(Value::Float(a[1..].iter().map(to_float).fold(to_float(&a[0]), |x, y| x - y)))
    });
    funcs.insert("mulf", Arity::AtLeast(1), |_, a| Ok(Value::Float(a.iter().map(to_float).product())));
    funcs.insert("divf", Arity::AtLeast(1), |_, a| {
        Ok(Value::Float(a[1..].iter().map(to_float).fold(to_float(&a[0]), |x, y| x / y)))
    });
    funcs.insert("floor", Arity::Exactly(1), |_, a| Ok(Value::Float(to_float(&a[0]).floor())));
    funcs.insert("ceil", Arity::Exactly(1), |_, a| Ok(Value::Float(to_float(&a[0]).ceil())));
    funcs.insert("round", Arity::AtLeast(2), |_, a| {
        let (x, places) = (to_float(&a[0]), to_int(&a[1]));
        let half = a.get(2).map_or(0.5, to_float);
        let pow = 10f64.powi(i32::try_from(places).unwrap_or(0));
        let digit = pow * x;
        let (int, frac) = (digit.trunc(), digit.fract());
        let rounded = if frac >= half { int + 1.0 } else { int };
        Ok(Value::Float(rounded / pow))
    });
    for name in ["int", "int64"] {
        funcs.insert(name, Arity::Exactly(1), |_, a| Ok(Value::Int(to_int(&a[0]))));
    }
    funcs.insert("float64", Arity::Exactly(1), |_, a| Ok(Value::Float(to_float(&a[0]))));
    funcs.insert("atoi", Arity::Exactly(1), |_, a| Ok(Value::Int(str_arg(&a[0])?.parse().unwrap_or(0))));

    // Types and logic.
    funcs.insert("kindOf", Arity::Exactly(1), |_, a| Ok(Value::from(kind_of(&a[0]))));
    funcs.insert("kindIs", Arity::Exactly(2), |_, a| Ok(Value::Bool(str_arg(&a[0])? == kind_of(&a[1]))));
    funcs.insert("typeOf", Arity::Exactly(1), |_, a| Ok(Value::from(a[0].type_name())));
    funcs.insert("typeIs", Arity::Exactly(2), |_, a| Ok(Value::Bool(str_arg(&a[0])? == a[1].type_name())));
    funcs.insert("deepEqual", Arity::Exactly(2), |_, a| Ok(Value::Bool(a[0] == a[1])));
    funcs.insert("all", Arity::AtLeast(0), |_, a| Ok(Value::Bool(a.iter().all(|v| !empty(v)))));
    funcs.insert("any", Arity::AtLeast(0), |_, a| Ok(Value::Bool(a.iter().any(|v| !empty(v)))));
    funcs.insert("fail", Arity::Exactly(1), |_, a| Err(str_arg(&a[0])?.to_string()));

    // Versions.
    funcs.insert("semverCompare", Arity::Exactly(2), |_, a| {
        crate::semver::satisfies(str_arg(&a[0])?, str_arg(&a[1])?).map(Value::Bool)
    });
    funcs.insert("semver", Arity::Exactly(1), |_, a| {
        let v = crate::semver::Version::parse(str_arg(&a[0])?)?;
        Ok(crate::value::Struct::new("*semver.Version")
            .field("Major", Value::Int(i64::try_from(v.major).unwrap_or(i64::MAX)))
            .field("Minor", Value::Int(i64::try_from(v.minor).unwrap_or(i64::MAX)))
            .field("Patch", Value::Int(i64::try_from(v.patch).unwrap_or(i64::MAX)))
            .field("Prerelease", v.pre.as_str())
            .field("Metadata", v.build.as_str())
            .field("Original", v.original.as_str())
            .into_value())
    });
}

/// Sprig's `kindOf`: Go's reflect kind.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(o) if o.entries().is_some() => "map",
        Value::Object(_) => "ptr",
        Value::Function(_) => "func",
    }
}

fn list_items(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.to_vec(),
        _ => Vec::new(),
    }
}

/// A list argument; Sprig's non-`must` forms treat a non-list as an error too (they panic,
/// which Go's template turns into an error).
fn list_arg(v: &Value, must: bool) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        Value::Nil if !must => Ok(Vec::new()),
        other => Err(format!("Cannot find first on type {}", other.type_name())),
    }
}

fn map_arg(v: &Value) -> Result<BTreeMap<String, Value>, String> {
    match v {
        Value::Map(m) => Ok(m.to_map()),
        Value::Object(o) if o.entries().is_some() => Ok(o.entries().unwrap_or_default().into_iter().collect()),
        other => Err(wrong_type("map[string]interface {}", other)),
    }
}

/// mergo's `Merge` (with `WithOverride` when `overwrite`) into the map `dst` itself, as Sprig
/// does: maps merged deeply (a map of `dst` changed in place too); without override a key of
/// `dst` is set only when missing or empty, with override whenever `src`'s value is not empty.
fn merge_into(dst: &Dict, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, sv) in src {
        match (dst.get(k), sv) {
            (Some(Value::Map(dm)), Value::Map(sm)) => merge_into(&dm, &sm.to_map(), overwrite),
            (Some(dv), _) => {
                if (overwrite && !empty(sv)) || (empty(&dv) && !matches!(dv, Value::Map(_))) {
                    dst.insert(k.clone(), sv.clone());
                }
            }
            (None, _) => {
                dst.insert(k.clone(), sv.clone());
            }
        }
    }
}

/// A copy that shares no map with the original (copystructure's `Copy`).
fn deep_copy(v: &Value) -> Value {
    match v {
        Value::Map(m) => {
            Value::from(m.to_map().into_iter().map(|(k, v)| (k, deep_copy(&v))).collect::<BTreeMap<_, _>>())
        }
        Value::List(l) => Value::list(l.iter().map(deep_copy)),
        other => other.clone(),
    }
}

/// Sprig's `toInt64` (spf13/cast's `ToInt64`): numbers truncated, strings parsed (0 when they
/// are not numbers), bools as 1 and 0, anything else 0.
pub(crate) fn to_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        #[allow(clippy::cast_possible_truncation, reason = "Go's int64(f) truncates too")]
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_go_int(s).unwrap_or(0),
        _ => 0,
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(body.trim_start_matches("0o"), 8).ok()?
    } else {
        body.parse().ok()?
    };
    Some(if neg { -n } else { n })
}

/// spf13/cast's `ToFloat64`.
pub(crate) fn to_float(v: &Value) -> f64 {
    match v {
        #[allow(clippy::cast_precision_loss, reason = "Go's float64(i) rounds too")]
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn until_step(start: i64, end: i64, step: i64) -> Result<Value, String> {
    let mut out = Vec::new();
    if step == 0 || (step > 0 && start >= end) || (step < 0 && start <= end) {
        return Ok(Value::list(out));
    }
    let mut i = start;
    while (step > 0 && i < end) || (step < 0 && i > end) {
        if out.len() >= super::MAX_MADE / 8 {
            return Err(format!("untilStep would make more than {} items", super::MAX_MADE / 8));
        }
        out.push(Value::Int(i));
        i = match i.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(Value::list(out))
}

fn regex(v: &Value) -> Result<regex::Regex, String> {
    let pattern = str_arg(v)?;
    regex::Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))
}

/// Go's `Regexp.Expand` template syntax (`$1`, `${name}`) in the regex crate's: the same,
/// except that Go takes `$1a` as the group named `1a` (usually empty) and regex does too.
fn go_expand(repl: &str) -> String {
    repl.to_string()
}

/// `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if prev_letter {
            out.push(c);
        } else {
            out.extend(c.to_uppercase());
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// xstrings' snake and kebab case: words split at case changes and separators, lower-cased.
fn words_joined(s: &str, sep: char) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !out.is_empty() && !out.ends_with(sep) {
                out.push(sep);
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower))
                && !out.ends_with(sep)
            {
                out.push(sep);
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Sprig's `wrap` (goutils' `Wrap`): lines broken at spaces to at most `width` characters.
fn wrap(width: i64, s: &str) -> String {
    let width = usize::try_from(width.max(1)).unwrap_or(1);
    let mut out = String::new();
    for (n, line) in s.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let mut len = 0;
        for (i, word) in line.split(' ').filter(|w| !w.is_empty()).enumerate() {
            if i > 0 {
                if len + 1 + word.len() > width {
                    out.push('\n');
                    len = 0;
                } else {
                    out.push(' ');
                    len += 1;
                }
            }
            out.push_str(word);
            len += word.len();
        }
    }
    out
}

/// Go's `path.Clean`.
fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`.
fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

/// SHA-1 (FIPS 180-4), for Sprig's `sha1sum`.
#[allow(clippy::many_single_char_names, reason = "the standard's names: h, w, a to e, f, k, t")]
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bit_len = u64::try_from(data.len()).unwrap_or(u64::MAX).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `base64.StdEncoding.DecodeString`; `None` on bad input.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * u32::try_from(pad).unwrap_or(0);
        let decoded = n.to_be_bytes();
        out.extend_from_slice(&decoded[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("x"), None);
    }

    /// A chart cannot make the renderer allocate without bound through one call.
    #[test]
    fn functions_that_make_a_value_of_a_given_size_are_bounded() {
        assert!(until_step(0, 3, 1).is_ok());
        assert!(until_step(0, i64::MAX, 1).is_err());
        let mut funcs = Funcs::new();
        add_to(&mut funcs);
        let mut set = crate::Templates::new(funcs, crate::Options::default());
        set.parse("t", r#"{{ repeat 100000000 "abcdefgh" }}"#).unwrap();
        assert!(set.execute("t", &Value::Nil).unwrap_err().to_string().contains("repeat would make more than"));
    }

    #[test]
    fn sha1_and_paths_as_go() {
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(path_base("a/b/c.txt"), "c.txt");
        assert_eq!(path_dir("a/b/c.txt"), "a/b");
        assert_eq!(path_dir("c.txt"), ".");
        assert_eq!(path_clean("/a/../../b/./c/"), "/b/c");
    }

    #[test]
    fn case_conversions_as_xstrings() {
        assert_eq!(words_joined("FirstName", '_'), "first_name");
        assert_eq!(words_joined("HTTPServer", '-'), "http-server");
        assert_eq!(title("hello world"), "Hello World");
    }
}
