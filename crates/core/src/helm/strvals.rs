//! Helm's `--set` syntax (`pkg/strvals`): `a.b=c,list[0]=x,tags={x,y}`, parsed into values the
//! way `helm template --set` does: a dot nests a map, `[i]` indexes a list (grown with nulls),
//! `{x,y}` is a list, `\` escapes the next character, and a value is typed as Helm types it
//! (`true`/`false` in any case, `null`, and whole numbers without a leading zero; the rest are
//! strings).
//!
//! It is not `--set-string`, `--set-json` nor `--set-file`.

use serde_json::{Map, Value as Json};

/// The largest list index Helm accepts.
pub const MAX_INDEX: usize = 65536;
/// The deepest a name may nest with dots.
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// Why a parse stopped: the end of the input (not an error at the top), or Helm's message.
enum Stop {
    End,
    Error(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Error(message)
    }
}

/// What `valList` gives when the value is not a `{…}` list.
enum ListRead {
    List(Vec<Json>),
    NotList,
}

/// Parses `line` (one `--set` argument) into `dest`, over what is there (Helm's `ParseInto`).
pub fn parse_into(line: &str, dest: &mut Map<String, Json>) -> Result<(), String> {
    let mut parser = Parser { chars: line.chars().collect(), pos: 0 };
    loop {
        match parser.key(dest, 0) {
            Ok(()) => {}
            Err(Stop::End) => return Ok(()),
            Err(Stop::Error(message)) => return Err(message),
        }
    }
}

/// Parses `line` into new values (Helm's `Parse`).
pub fn parse(line: &str) -> Result<Map<String, Json>, String> {
    let mut values = Map::new();
    parse_into(line, &mut values)?;
    Ok(values)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn quote(chars: &[char]) -> String {
    format!("{:?}", chars.iter().collect::<String>())
}

/// Go's name of a value's type, for the message of a value that is not what a key needs.
fn go_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "nil",
        Json::Bool(_) => "bool",
        Json::Number(_) => "int64",
        Json::String(_) => "string",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

fn set(data: &mut Map<String, Json>, key: &[char], value: Json) {
    if !key.is_empty() {
        data.insert(key.iter().collect(), value);
    }
}

fn set_index(mut list: Vec<Json>, index: usize, value: Json) -> Result<Vec<Json>, String> {
    if index > MAX_INDEX {
        return Err(format!("index of {index} is greater than maximum supported index of {MAX_INDEX}"));
    }
    if list.len() <= index {
        list.resize(index + 1, Json::Null);
    }
    list[index] = value;
    Ok(list)
}

/// Helm's `typedVal`.
fn typed(chars: &[char]) -> Json {
    let text: String = chars.iter().collect();
    if text.eq_ignore_ascii_case("true") {
        return Json::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Json::Bool(false);
    }
    if text.eq_ignore_ascii_case("null") {
        return Json::Null;
    }
    if text == "0" {
        return Json::from(0);
    }
    if !text.is_empty()
        && !text.starts_with('0')
        && let Ok(n) = text.parse::<i64>()
    {
        return Json::from(n);
    }
    Json::String(text)
}

impl Parser {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// The characters up to one of `stop` (unescaped), and that one; `None` at the end.
    fn until(&mut self, stop: &[char]) -> (Vec<char>, Option<char>) {
        let mut v = Vec::new();
        loop {
            match self.next() {
                None => return (v, None),
                Some(c) if stop.contains(&c) => return (v, Some(c)),
                Some('\\') => match self.next() {
                    None => return (v, None),
                    Some(c) => v.push(c),
                },
                Some(c) => v.push(c),
            }
        }
    }

    fn key(&mut self, data: &mut Map<String, Json>, level: usize) -> Result<(), Stop> {
        let (k, found) = self.until(&['=', '[', ',', '.']);
        let name: String = k.iter().collect();
        match found {
            None if k.is_empty() => Err(Stop::End),
            None => Err(format!("key {} has no value", quote(&k)).into()),
            Some('[') => {
                let i = self.index()?;
                let list = match data.get(&name) {
                    None => Vec::new(),
                    Some(Json::Array(list)) => list.clone(),
                    Some(other) => return Err(mismatch(other, "[]interface {}").into()),
                };
                let (list, result) = match self.list_item(list.clone(), i, level) {
                    Ok(list) => (list, Ok(())),
                    Err(e) => (list, Err(e)),
                };
                set(data, &k, Json::Array(list));
                result
            }
            Some('=') => match self.list()? {
                Some(ListRead::List(list)) => {
                    set(data, &k, Json::Array(list));
                    Ok(())
                }
                None => {
                    set(data, &k, Json::String(String::new()));
                    Err(Stop::End)
                }
                Some(ListRead::NotList) => {
                    let (value, _) = self.until(&[',']);
                    set(data, &k, typed(&value));
                    Ok(())
                }
            },
            Some(',') => {
                set(data, &k, Json::String(String::new()));
                Err(format!("key {} has no value (cannot end with ,)", quote(&k)).into())
            }
            Some(_) => {
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    )
                    .into());
                }
                let mut inner = match data.get(&name) {
                    None => Map::new(),
                    Some(Json::Object(map)) => map.clone(),
                    Some(other) => return Err(mismatch(other, "map[string]interface {}").into()),
                };
                let result = self.key(&mut inner, level);
                if result.is_ok() && inner.is_empty() {
                    return Err(format!("key map {} has no value", quote(&k)).into());
                }
                if !inner.is_empty() {
                    set(data, &k, Json::Object(inner));
                }
                result
            }
        }
    }

    /// The index after a `[`, up to its `]`.
    fn index(&mut self) -> Result<usize, Stop> {
        let (v, found) = self.until(&[']']);
        if found.is_none() {
            return Err("error parsing index: EOF".to_string().into());
        }
        let text: String = v.iter().collect();
        match text.parse::<i64>() {
            Ok(i) if i < 0 => Err(format!("negative {i} index not allowed").into()),
            Ok(i) => usize::try_from(i).map_err(|_| Stop::Error(format!("index {i} is too large"))),
            Err(_) => Err(format!("error parsing index: strconv.Atoi: parsing {text:?}: invalid syntax").into()),
        }
    }

    fn list_item(&mut self, list: Vec<Json>, i: usize, level: usize) -> Result<Vec<Json>, Stop> {
        let (k, found) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return Err(format!("unexpected data at end of array index: {}", quote(&k)).into());
        }
        match found {
            None => Err(Stop::End),
            Some('=') => match self.list()? {
                Some(ListRead::List(value)) => Ok(set_index(list, i, Json::Array(value))?),
                None => Ok(set_index(list, i, Json::String(String::new()))?),
                Some(ListRead::NotList) => {
                    let (value, _) = self.until(&[',']);
                    Ok(set_index(list, i, typed(&value))?)
                }
            },
            Some('[') => {
                let next = self.index()?;
                let current = match list.get(i) {
                    None | Some(Json::Null) => Vec::new(),
                    Some(Json::Array(inner)) => inner.clone(),
                    Some(other) => return Err(mismatch(other, "[]interface {}").into()),
                };
                let inner = self.list_item(current, next, level)?;
                Ok(set_index(list, i, Json::Array(inner))?)
            }
            Some(_) => {
                // A map inside a list: what is there, or a new one when it is not a map.
                let mut inner = match list.get(i) {
                    Some(Json::Object(map)) => map.clone(),
                    _ => Map::new(),
                };
                self.key(&mut inner, level)?;
                Ok(set_index(list, i, Json::Object(inner))?)
            }
        }
    }

    /// Helm's `valList`: `{a,b}` as a list; `None` at the end of the input.
    fn list(&mut self) -> Result<Option<ListRead>, Stop> {
        match self.next() {
            None => return Ok(None),
            Some('{') => {}
            Some(_) => {
                self.pos -= 1;
                return Ok(Some(ListRead::NotList));
            }
        }
        let mut list = Vec::new();
        loop {
            let (value, found) = self.until(&[',', '}']);
            match found {
                None => return Err("list must terminate with '}'".to_string().into()),
                Some('}') => {
                    if self.chars.get(self.pos) == Some(&',') {
                        self.pos += 1;
                    }
                    list.push(typed(&value));
                    return Ok(Some(ListRead::List(list)));
                }
                Some(_) => list.push(typed(&value)),
            }
        }
    }
}

/// Go's message for a value that is not the type a key needs (Helm recovers the panic).
fn mismatch(value: &Json, want: &str) -> String {
    format!("unable to parse key: interface conversion: interface {{}} is {}, not {want}", go_type(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cases of Helm's own `TestParseSet` (`pkg/strvals/parser_test.go`).
    #[test]
    fn parses_as_helm_s_parser_tests_say() {
        let cases = [
            ("name1=value1", json!({"name1": "value1"})),
            ("long_int_string=1234567890", json!({"long_int_string": 1_234_567_890})),
            ("boolean=true", json!({"boolean": true})),
            ("is_null=null", json!({"is_null": null})),
            ("zero=0", json!({"zero": 0})),
            ("leading_zeros=00009", json!({"leading_zeros": "00009"})),
            ("name1=null,f=false,t=true", json!({"name1": null, "f": false, "t": true})),
            ("name1=value1,name2=value2", json!({"name1": "value1", "name2": "value2"})),
            ("name1=value1,name2=value2,", json!({"name1": "value1", "name2": "value2"})),
            ("name1=,name2=value2", json!({"name1": "", "name2": "value2"})),
            ("name1=one\\,two,name2=three\\,four", json!({"name1": "one,two", "name2": "three,four"})),
            ("name1=one\\=two,name2=three\\=four", json!({"name1": "one=two", "name2": "three=four"})),
            ("name1=one two three,name2=three two one", json!({"name1": "one two three", "name2": "three two one"})),
            ("outer.inner=value", json!({"outer": {"inner": "value"}})),
            ("outer.middle.inner=value", json!({"outer": {"middle": {"inner": "value"}}})),
            ("outer.inner1=value,outer.inner2=value2", json!({"outer": {"inner1": "value", "inner2": "value2"}})),
            (
                "outer.inner1=value,outer.middle.inner=value",
                json!({"outer": {"inner1": "value", "middle": {"inner": "value"}}}),
            ),
            ("name1.name2=foo", json!({"name1": {"name2": "foo"}})),
            ("name1.name2=1", json!({"name1": {"name2": 1}})),
            ("name1={value1,value2}", json!({"name1": ["value1", "value2"]})),
            (
                "name1={value1,value2},name2={value1,value2}",
                json!({"name1": ["value1", "value2"], "name2": ["value1", "value2"]}),
            ),
            ("name1={1021,902}", json!({"name1": [1021, 902]})),
            ("name1.name2={value1,value2}", json!({"name1": {"name2": ["value1", "value2"]}})),
            ("list[0]=foo", json!({"list": ["foo"]})),
            ("list[0].foo=bar", json!({"list": [{"foo": "bar"}]})),
            ("list[0].foo=bar,list[0].hello=world", json!({"list": [{"foo": "bar", "hello": "world"}]})),
            ("list[0].foo=bar,list[1].foo=bar", json!({"list": [{"foo": "bar"}, {"foo": "bar"}]})),
            ("list[0]=foo,list[1]=bar", json!({"list": ["foo", "bar"]})),
            ("list[0]=foo,list[1]=bar,", json!({"list": ["foo", "bar"]})),
            ("list[0]=foo,list[3]=bar", json!({"list": ["foo", null, null, "bar"]})),
            ("noval[0]", json!({"noval": []})),
            ("noval[0]=", json!({"noval": [""]})),
            ("nested[0][0]=1", json!({"nested": [[1]]})),
            ("nested[1][1]=1", json!({"nested": [null, [null, 1]]})),
            (
                "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
                json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
            ),
            (
                "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
                json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
            ),
            ("name1.name2[1].foo=bar", json!({"name1": {"name2": [null, {"foo": "bar"}]}})),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line).map(Json::Object), Ok(want), "{line}");
        }
    }

    #[test]
    fn refuses_what_helm_refuses() {
        let cases = [
            ("name1", "key \"name1\" has no value"),
            ("name1=value1,name2", "key \"name2\" has no value"),
            ("name1,name2=", "key \"name1\" has no value (cannot end with ,)"),
            ("name1.name2", "key \"name2\" has no value"),
            ("name1.=name2", "key map \"name1\" has no value"),
            ("name1={value1,value2", "list must terminate with '}'"),
            ("list[0]=foo,list[-20]=bar", "negative -20 index not allowed"),
            ("illegal[0]name.foo=bar", "unexpected data at end of array index: \"name\""),
            ("list[65537]=x", "index of 65537 is greater than maximum supported index of 65536"),
            (
                "a=b,a.c=d",
                "unable to parse key: interface conversion: interface {} is string, not map[string]interface {}",
            ),
        ];
        for (line, message) in cases {
            assert_eq!(parse(line), Err(message.to_string()), "{line}");
        }
        assert!(parse("]={}].").is_err());
        let deep = (1..=32).map(|i| format!("name{i}")).collect::<Vec<_>>().join(".") + "=value";
        assert_eq!(
            parse(&deep),
            Err("value name nested level is greater than maximum supported nested level of 30".to_string())
        );
    }

    /// Helm's `TestParseInto`: over values that are there.
    #[test]
    fn parses_into_what_is_there() {
        let mut got = json!({"outer": {"inner1": "overwrite", "inner2": "value2"}}).as_object().unwrap().clone();
        parse_into("outer.inner1=value1,outer.inner3=value3,outer.inner4=4", &mut got).unwrap();
        assert_eq!(
            Json::Object(got),
            json!({"outer": {"inner1": "value1", "inner2": "value2", "inner3": "value3", "inner4": 4}})
        );
        let mut got = json!({"listOuter": [[[{"exited": "old"}]]]}).as_object().unwrap().clone();
        parse_into("listOuter[0][1][0].type=listValue", &mut got).unwrap();
        parse_into("listOuter[0][0][1].status=alive", &mut got).unwrap();
        assert_eq!(
            Json::Object(got),
            json!({"listOuter": [[[{"exited": "old"}, {"status": "alive"}], [{"type": "listValue"}]]]})
        );
    }
}
