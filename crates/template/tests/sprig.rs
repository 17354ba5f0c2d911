//! Sprig's functions against Sprig's own tests (Masterminds/sprig v3: `strings_test.go`,
//! `defaults_test.go`, `dict_test.go`, `list_test.go`, `crypto`/encoding tests), under the
//! test function's name, checked by one `check`.

use flotilla_template::{Funcs, JsonNumbers, Options, Templates, Value};

struct Case {
    name: &'static str,
    input: &'static str,
    want: Result<&'static str, &'static str>,
}

const fn ok(name: &'static str, input: &'static str, want: &'static str) -> Case {
    Case { name, input, want: Ok(want) }
}

const fn err(name: &'static str, input: &'static str, want: &'static str) -> Case {
    Case { name, input, want: Err(want) }
}

fn data() -> Value {
    let json = serde_json::json!({"thing": ["a", "b", "c"], "zero": 0, "f": 1.5, "nested": {"k": "v"}, "nothing": null, "n": 4});
    Value::from_json(&json, JsonNumbers::IntegersAsInt)
}

fn check(case: &Case) -> Result<(), String> {
    let mut funcs = Funcs::new();
    flotilla_template::sprig::add_to(&mut funcs);
    let mut set = Templates::new(funcs, Options::default());
    let got =
        set.parse(case.name, case.input).and_then(|()| set.execute(case.name, &data())).map_err(|e| e.to_string());
    let same = match (&got, case.want) {
        (Ok(got), Ok(want)) | (Err(got), Err(want)) => got == want,
        _ => false,
    };
    if same {
        return Ok(());
    }
    Err(format!("{}: {:?}\n  want {:?}\n  got  {got:?}", case.name, case.input, case.want))
}

#[test]
fn sprig_tests() {
    let cases = [
        // strings_test.go
        ok("TestTrunc", r#"{{ "foooooo" | trunc 3 }}"#, "foo"),
        ok("TestTrunc negative", r#"{{ "baaaaaar" | trunc -3 }}"#, "aar"),
        ok("TestTrunc too negative", r#"{{ "baaaaaar" | trunc -999 }}"#, "baaaaaar"),
        ok("TestTrunc longer", r#"{{ "abc" | trunc 999 }}"#, "abc"),
        ok("TestQuote", r#"{{quote "a" "b" "c"}}"#, r#""a" "b" "c""#),
        ok("TestQuote escaped", r#"{{quote "\"a\""}}"#, r#""\"a\"""#),
        ok("TestQuote numbers", "{{quote 1 2 3 }}", r#""1" "2" "3""#),
        ok("TestQuote nil", "{{ .nothing | quote }}", ""),
        ok("TestSquote", r#"{{squote "a" "b" "c"}}"#, "'a' 'b' 'c'"),
        ok("TestSquote numbers", "{{squote 1 2 3 }}", "'1' '2' '3'"),
        ok("TestSquote nil", "{{ .nothing | squote }}", ""),
        ok("TestIndent", r#"{{indent 4 "a\nb\nc"}}"#, "    a\n    b\n    c"),
        ok("TestNindent", r#"{{nindent 4 "a\nb\nc"}}"#, "\n    a\n    b\n    c"),
        ok("TestReplace", r#"{{"I Am Henry VIII" | replace " " "-"}}"#, "I-Am-Henry-VIII"),
        ok("TestContains", r#"{{if contains "cat" "fair catch"}}1{{end}}"#, "1"),
        ok(
            "TestContains not",
            r#"{{if contains "cat" "fair cat"}}1{{end}}{{if contains "dog" "fair cat"}}2{{end}}"#,
            "1",
        ),
        ok("TestHasPrefix", r#"{{ hasPrefix "foo" "foobar" }} {{ hasPrefix "bar" "foobar" }}"#, "true false"),
        ok("TestHasSuffix", r#"{{ hasSuffix "bar" "foobar" }} {{ hasSuffix "foo" "foobar" }}"#, "true false"),
        ok("TestTrim", r#"{{trim "   5.00   "}}"#, "5.00"),
        ok("TestTrimSuffix", r#"{{"1.2.3-beta" | trimSuffix "-beta"}}"#, "1.2.3"),
        ok("TestTrimPrefix", r#"{{"v1.2.3" | trimPrefix "v"}}"#, "1.2.3"),
        ok("TestLower", r#"{{lower "FOO"}}"#, "foo"),
        ok("TestUpper", r#"{{upper "foo"}}"#, "FOO"),
        ok(
            "TestToString",
            "{{ toString 1 | printf `%T` }} {{ toString .f }} {{ toString .thing }}",
            "string 1.5 [a b c]",
        ),
        ok("TestJoin", r#"{{ .thing | join "-" }}"#, "a-b-c"),
        ok("TestJoin list", r#"{{ list "a" "b" "c" | join "-" }}"#, "a-b-c"),
        ok("TestJoin numbers", r#"{{ list 1 2 3 | join "+" }}"#, "1+2+3"),
        ok("TestJoin nil items", r#"{{ list 1 nil 3 | join "+" }}"#, "1+3"),
        ok("TestJoin one", r#"{{ join "-" "abc" }}"#, "abc"),
        ok("TestSplit", r#"{{$v := "foo$bar$baz" | split "$"}}{{$v._0}}"#, "foo"),
        ok("TestSplitList", r#"{{$v := "foo$bar$baz" | splitList "$"}}{{index $v 1}} {{len $v}}"#, "bar 3"),
        ok("TestB64enc", r#"{{b64enc "hello world"}} {{b64enc "ab"}} {{b64enc ""}}"#, "aGVsbG8gd29ybGQ= YWI= "),
        // defaults_test.go
        ok("TestDefault", r#"{{default "foo" .Nothing}}"#, "foo"),
        ok("TestDefault given", r#"{{"bar" | default "foo"}}"#, "bar"),
        ok("TestDefault zero", "{{ .zero | default 9 }}", "9"),
        ok("TestDefault empty list", "{{ list | default 9 }}", "9"),
        ok("TestDefault nested", r#"{{ .nested | default "x" }}"#, "map[k:v]"),
        ok(
            "TestEmpty",
            r#"{{if empty 1}}1{{else}}0{{end}}{{if empty ""}}1{{end}}{{if empty .nothing}}1{{end}}{{if empty .nested}}1{{else}}0{{end}}"#,
            "0110",
        ),
        ok(
            "TestCoalesce",
            r#"{{ coalesce 1 }} {{ coalesce "" 0 nil 2 }} {{ coalesce "" 0 nil "" | printf "%v" }}"#,
            "1 2 <nil>",
        ),
        ok("TestTernary", r#"{{true | ternary "foo" "bar"}} {{ternary "foo" "bar" false}}"#, "foo bar"),
        // dict_test.go
        ok(
            "TestDict",
            r#"{{$d := dict 1 2 "three" "four" 5}}{{range $k, $v := $d}}{{$k}}{{$v}};{{end}}"#,
            "12;5;threefour;",
        ),
        ok(
            "TestHasKey",
            r#"{{ hasKey .nested "k" }} {{ hasKey .nested "x" }} {{ hasKey (dict "a" 1) "a" | not }}"#,
            "true false false",
        ),
        // The piped value is the last argument: here the key, which must be a string, as in Go.
        err(
            "hasKey piped map",
            r#"{{ dict "a" 1 | hasKey "a" }}"#,
            r#"template: hasKey piped map:1:16: executing "hasKey piped map" at <hasKey "a">: error calling hasKey: wrong type for value; expected string; got map[string]interface {}"#,
        ),
        // list_test.go
        ok("TestList", r#"{{ list 1 "a" nil }}"#, "[1 a <nil>]"),
        // Go's type conversion refuses what a parameter cannot hold.
        err(
            "indent float",
            "{{ indent .f `x` }}",
            r#"template: indent float:1:3: executing "indent float" at <indent .f `x`>: error calling indent: wrong type for value; expected int; got float64"#,
        ),
        err(
            "ternary needs bool",
            "{{ ternary 1 2 3 }}",
            r#"template: ternary needs bool:1:3: executing "ternary needs bool" at <ternary 1 2 3>: error calling ternary: wrong type for value; expected bool; got int"#,
        ),
    ];
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
