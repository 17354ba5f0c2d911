//! Helm's `--set` syntax (`pkg/strvals`): `a.b=c,list[0]=x,tags={x,y}`, parsed into values the
//! way `helm template --set` does: a dot nests a map, `[i]` indexes a list (grown with nulls),
//! `{x,y}` is a list, `\` escapes the next character, and a value is typed as Helm types it
//! (`true`/`false` in any case, `null`, and whole numbers without a leading zero; the rest are
//! strings). [`parse_into_string`] is `--set-string` (every value a string),
//! [`parse_into_json`] `--set-json` (each value JSON, or the whole line a JSON object) and
//! [`parse_into_file`] `--set-file` (each value the text of a file, read by the caller: core
//! reads no files).

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
    Parser::new(line, Reader::Typed).parse(dest)
}

/// `--set-string`: as [`parse_into`], every value a string (Helm's `ParseIntoString`).
pub fn parse_into_string(line: &str, dest: &mut Map<String, Json>) -> Result<(), String> {
    Parser::new(line, Reader::Strings).parse(dest)
}

/// `--set-file`: as [`parse_into`], each value (and each item of a `{…}` list) the name of a
/// file whose text `read` gives (Helm's `ParseIntoFile`).
pub fn parse_into_file(
    line: &str,
    dest: &mut Map<String, Json>,
    read: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<(), String> {
    Parser::new(line, Reader::File(read)).parse(dest)
}

/// `--set-json`, as Helm's `MergeValues` takes it: a line that is a JSON object merged over
/// `dest` (Helm's `MergeMaps`), else `key=JSON,…` (Helm's `ParseJSON`: an empty value is null).
/// The error is Helm's, which names the line and not what is wrong in it.
pub fn parse_into_json(line: &str, dest: &mut Map<String, Json>) -> Result<(), String> {
    let trimmed = line.trim();
    if trimmed.starts_with('{') {
        let Ok(Json::Object(map)) = serde_json::from_str::<Json>(trimmed) else {
            return Err(format!("failed parsing --set-json data JSON: {line}"));
        };
        super::values::merge(dest, map);
        return Ok(());
    }
    Parser::new(line, Reader::Json).parse(dest).map_err(|_| format!("failed parsing --set-json data {line}"))
}

/// Parses `line` into new values (Helm's `Parse`).
pub fn parse(line: &str) -> Result<Map<String, Json>, String> {
    let mut values = Map::new();
    parse_into(line, &mut values)?;
    Ok(values)
}

/// How a value's characters become a value (Helm's `RunesValueReader`, and its JSON mode).
enum Reader<'r> {
    /// `--set`: Helm's `typedVal`.
    Typed,
    /// `--set-string`.
    Strings,
    /// `--set-file`: the characters name a file, whose text is the value.
    File(&'r mut dyn FnMut(&str) -> Result<String, String>),
    /// `--set-json`: the value is one JSON value, read up to where it ends.
    Json,
}

struct Parser<'r> {
    chars: Vec<char>,
    pos: usize,
    reader: Reader<'r>,
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

impl<'r> Parser<'r> {
    fn new(line: &str, reader: Reader<'r>) -> Parser<'r> {
        Parser { chars: line.chars().collect(), pos: 0, reader }
    }

    fn parse(&mut self, dest: &mut Map<String, Json>) -> Result<(), String> {
        loop {
            match self.key(dest, 0) {
                Ok(()) => {}
                Err(Stop::End) => return Ok(()),
                Err(Stop::Error(message)) => return Err(message),
            }
        }
    }

    /// A value's characters as the reader makes them a value.
    fn read(&mut self, chars: &[char]) -> Result<Json, Stop> {
        match &mut self.reader {
            Reader::Typed | Reader::Json => Ok(typed(chars)),
            Reader::Strings => Ok(Json::String(chars.iter().collect())),
            Reader::File(read) => read(&chars.iter().collect::<String>()).map(Json::String).map_err(Stop::Error),
        }
    }

    /// Helm's `emptyVal`: spaces skipped up to a `,` (taken) or the end, which mean an empty
    /// value; anything else is left for the value.
    fn empty_value(&mut self) -> bool {
        loop {
            match self.chars.get(self.pos) {
                None => return true,
                Some(',') => {
                    self.pos += 1;
                    return true;
                }
                Some(c) if c.is_whitespace() => self.pos += 1,
                Some(_) => return false,
            }
        }
    }

    /// A JSON value after `=` (`--set-json`): null when empty; the characters after it up to a
    /// `,` are skipped as Helm's decoder leaves them.
    fn json_value(&mut self) -> Result<Json, Stop> {
        if self.empty_value() {
            return Ok(Json::Null);
        }
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Json>();
        let value = match stream.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => return Err(Stop::Error(e.to_string())),
            None => return Err(Stop::Error("unexpected end of JSON input".into())),
        };
        self.pos += rest[..stream.byte_offset()].chars().count();
        self.empty_value();
        Ok(value)
    }

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
            Some('=') if matches!(self.reader, Reader::Json) => {
                let value = self.json_value()?;
                set(data, &k, value);
                Ok(())
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
                    let value = self.read(&value)?;
                    set(data, &k, value);
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
            Some('=') if matches!(self.reader, Reader::Json) => {
                let value = self.json_value()?;
                Ok(set_index(list, i, value)?)
            }
            Some('=') => match self.list()? {
                Some(ListRead::List(value)) => Ok(set_index(list, i, Json::Array(value))?),
                None => Ok(set_index(list, i, Json::String(String::new()))?),
                Some(ListRead::NotList) => {
                    let (value, _) = self.until(&[',']);
                    let value = self.read(&value)?;
                    Ok(set_index(list, i, value)?)
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
                    list.push(self.read(&value)?);
                    return Ok(Some(ListRead::List(list)));
                }
                Some(_) => list.push(self.read(&value)?),
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

    /// Cases of Helm's `TestParseSetString`, `TestParseJSON` and `TestParseFile`/`TestParseIntoFile`.
    #[test]
    fn set_string_set_json_and_set_file_as_helm_s_tests_say() {
        let strings = |line: &str| {
            let mut m = Map::new();
            parse_into_string(line, &mut m).map(|()| Json::Object(m))
        };
        for (line, want) in [
            ("long_int_string=1234567890", json!({"long_int_string": "1234567890"})),
            ("boolean=true", json!({"boolean": "true"})),
            ("is_null=null", json!({"is_null": "null"})),
            ("zero=0", json!({"zero": "0"})),
            ("name1={1021,902}", json!({"name1": ["1021", "902"]})),
            ("list[0]=true,a.b=1", json!({"list": ["true"], "a": {"b": "1"}})),
        ] {
            assert_eq!(strings(line), Ok(want), "{line}");
        }

        let json_line = |line: &str| {
            let mut m = Map::new();
            parse_into_json(line, &mut m).map(|()| Json::Object(m))
        };
        for (line, want) in [
            (
                r#"outer.inner1="1",outer.inner3={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner4={"aa":[1,2,3]}"#,
                json!({"outer": {"inner1": "1", "inner3": {"aa": "1", "bb": 2, "cc": [1, 2, 3]}, "inner4": {"aa": [1, 2, 3]}}}),
            ),
            (r"listOuter[0][0].type=[1,2,3]", json!({"listOuter": [[{"type": [1, 2, 3]}]]})),
            ("a=,b=  ,c=null", json!({"a": null, "b": null, "c": null})),
            (r#"s="x,y",n=1.5"#, json!({"s": "x,y", "n": 1.5})),
            (r#" {"a": {"b": 1}, "c": [true]} "#, json!({"a": {"b": 1}, "c": [true]})),
        ] {
            assert_eq!(json_line(line), Ok(want), "{line}");
        }
        assert_eq!(json_line("a={bad"), Err("failed parsing --set-json data a={bad".to_string()));
        assert_eq!(json_line("{bad"), Err("failed parsing --set-json data JSON: {bad".to_string()));
        // The object form merges over what is there (Helm's MergeMaps).
        let mut m = json!({"a": {"keep": 1, "b": 0}}).as_object().unwrap().clone();
        parse_into_json(r#"{"a": {"b": 2}}"#, &mut m).unwrap();
        assert_eq!(Json::Object(m), json!({"a": {"keep": 1, "b": 2}}));

        let mut files = |name: &str| match name {
            "path1" => Ok("value1".to_string()),
            "path2" => Ok("true".to_string()),
            other => Err(format!("open {other}: no such file or directory")),
        };
        let mut m = Map::new();
        parse_into_file("name1=path1,list[0]=path2,l={path1,path2}", &mut m, &mut files).unwrap();
        assert_eq!(Json::Object(m), json!({"name1": "value1", "list": ["true"], "l": ["value1", "true"]}));
        let mut m = Map::new();
        assert_eq!(
            parse_into_file("name1=nope", &mut m, &mut files),
            Err("open nope: no such file or directory".to_string())
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
