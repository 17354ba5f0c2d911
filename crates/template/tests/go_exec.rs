//! Go's own execution tests (`text/template/exec_test.go`, `execTests` and the tests after
//! it), case by case under Go's names, checked by one `check`. Go's `tVal` is rebuilt as a
//! [`Struct`] with the same fields and methods; Go's test functions as a [`Funcs`] table.
//!
//! Where Go's table says only "fails", the expected message here is Go's, read from
//! `exec.go`/`funcs.go`. Cases that need Go's types we do not have (pointers, unsigned and
//! complex numbers, channels, iterators, Stringer/error values, unexported fields, typed
//! nils) are listed at the end of the file with the reason.

use flotilla_template::{Arity, Funcs, MissingKey, Options, Struct, Templates, Value};

enum Want {
    Out(&'static str),
    Err(&'static str),
}

struct Case {
    name: &'static str,
    input: &'static str,
    data: Value,
    want: Want,
}

fn ok(name: &'static str, input: &'static str, want: &'static str, data: &Value) -> Case {
    Case { name, input, data: data.clone(), want: Want::Out(want) }
}

fn err(name: &'static str, input: &'static str, want: &'static str, data: &Value) -> Case {
    Case { name, input, data: data.clone(), want: Want::Err(want) }
}

fn check(case: &Case, options: &Options) -> Result<(), String> {
    let mut set = Templates::new(test_funcs(), options.clone());
    let got = set.parse(case.name, case.input).and_then(|()| set.execute(case.name, &case.data));
    match (&case.want, got) {
        (Want::Out(want), Ok(got)) if got == *want => Ok(()),
        (Want::Err(want), Err(e)) if e.to_string() == *want => Ok(()),
        (Want::Out(want), got) => Err(format!("{}: {:?}\n  want {want:?}\n  got  {got:?}", case.name, case.input)),
        (Want::Err(want), got) => Err(format!("{}: {:?}\n  want error {want:?}\n  got {got:?}", case.name, case.input)),
    }
}

fn check_all(cases: &[Case], options: &Options) {
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c, options).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn ints(items: &[i64]) -> Value {
    Value::list(items.iter().map(|i| Value::Int(*i)))
}

fn u_val(v: &str) -> Value {
    Struct::new("*template.U")
        .field("V", v)
        .method("TrueFalse", |a| match a {
            [Value::Bool(b)] => Ok(Value::from(if *b { "true" } else { "" })),
            _ => Err("wrong arguments".to_string()),
        })
        .into_value()
}

fn string_arg(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("wrong type for value; expected string; got {}", v.type_name()))
}

/// Go's `tVal`, as far as our values reach.
fn t_val() -> Value {
    let func = |arity, f: fn(&[Value]) -> Result<Value, String>| {
        Value::Function(flotilla_template::Function::new(arity, move |_, a| f(a)))
    };
    Struct::new("*template.T")
        .field("True", true)
        .field("I", int(17))
        .field("U16", int(16))
        .field("X", "x")
        .field("S", "xyz")
        .field("FloatZero", 0.0)
        .field("U", u_val("v"))
        .field("SI", ints(&[3, 4, 5]))
        .field("SICap", ints(&[0, 0, 0, 0, 0]))
        .field("SIEmpty", Value::list([]))
        .field("SB", Value::list([Value::Bool(true), Value::Bool(false)]))
        .field("AI", ints(&[3, 4, 5]))
        .field("MSI", Value::map([("one", int(1)), ("two", int(2)), ("three", int(3))]))
        .field("MSIone", Value::map([("one", int(1))]))
        .field("MSIEmpty", Value::map::<String>([]))
        .field("MXI", Value::map([("one", int(1))]))
        .field(
            "SMSI",
            Value::list([
                Value::map([("one", int(1)), ("two", int(2))]),
                Value::map([("eleven", int(11)), ("twelve", int(12))]),
            ]),
        )
        .field("Empty0", Value::Nil)
        .field("Empty1", int(3))
        .field("Empty2", "empty2")
        .field("Empty3", ints(&[7, 8]))
        .field("Empty4", u_val("UinEmpty"))
        .field("PSI", ints(&[21, 22, 23]))
        .field(
            "BinaryFunc",
            func(Arity::Exactly(2), |a| Ok(Value::String(format!("[{}={}]", string_arg(&a[0])?, string_arg(&a[1])?)))),
        )
        .field(
            "VariadicFunc",
            func(Arity::AtLeast(0), |a| {
                let parts: Result<Vec<&str>, String> = a.iter().map(string_arg).collect();
                Ok(Value::String(format!("<{}>", parts?.join("+"))))
            }),
        )
        .field(
            "VariadicFuncInt",
            func(Arity::AtLeast(1), |a| {
                let Value::Int(n) = a[0] else {
                    return Err(format!("arg 0: value has type {}; should be int", a[0].type_name()));
                };
                let parts: Result<Vec<&str>, String> = a[1..].iter().map(string_arg).collect();
                Ok(Value::String(format!("{n}=<{}>", parts?.join("+"))))
            }),
        )
        .field("NilOKFunc", func(Arity::Exactly(1), |a| Ok(Value::Bool(matches!(a[0], Value::Nil)))))
        .field("ErrFunc", func(Arity::Exactly(0), |_| Ok(s("bla"))))
        .method("Method0", |_| Ok(s("M0")))
        .method("Method1", |a| match a {
            [v @ Value::Int(_)] => Ok(v.clone()),
            _ => Err("wrong arguments".to_string()),
        })
        .method("Method2", |a| match a {
            [Value::Int(n), Value::String(b)] => Ok(Value::String(format!("Method2: {n} {b}"))),
            _ => Err("wrong arguments".to_string()),
        })
        .method("Method3", |a| Ok(Value::String(format!("Method3: {}", flotilla_template::print::format_value(&a[0])))))
        .method("GetU", |_| Ok(u_val("v")))
        .method("Copy", |_| Ok(t_val()))
        .method("MAdd", |a| match a {
            [Value::Int(n), Value::List(l)] => {
                Ok(Value::list(l.iter().map(|x| if let Value::Int(x) = x { Value::Int(x + n) } else { Value::Nil })))
            }
            _ => Err("wrong arguments".to_string()),
        })
        .method("MyError", |a| match a {
            [Value::Bool(true)] => Err("my error".to_string()),
            _ => Ok(Value::Bool(false)),
        })
        .into_value()
}

/// Go's `testExecute` function table.
fn test_funcs() -> Funcs {
    let mut f = Funcs::new();
    f.insert("add", Arity::AtLeast(0), |_, a| {
        a.iter()
            .try_fold(0, |sum, x| match x {
                Value::Int(x) => Ok(sum + x),
                other => Err(format!("wrong type for value; expected int; got {}", other.type_name())),
            })
            .map(Value::Int)
    });
    // Go's returns a channel; a list ranges the same.
    f.insert("count", Arity::Exactly(1), |_, a| match a[0] {
        Value::Int(n) => {
            Ok(Value::list((0..n).map(|i| Value::String(((b'a' + u8::try_from(i).unwrap_or(0)) as char).to_string()))))
        }
        _ => Err("count wants an int".to_string()),
    });
    f.insert("dddArg", Arity::AtLeast(1), |_, a| match a[0] {
        Value::Int(_) => Ok(Value::String(format!("{a:?}"))),
        ref other => Err(format!("wrong type for value; expected int; got {}", other.type_name())),
    });
    f.insert("die", Arity::Exactly(0), |_, _| Err("die".to_string()));
    f.insert("echo", Arity::Exactly(1), |_, a| Ok(a[0].clone()));
    f.insert("makemap", Arity::AtLeast(0), |_, a| {
        let mut m = std::collections::BTreeMap::new();
        for pair in a.chunks(2) {
            m.insert(string_arg(&pair[0])?.to_string(), pair.get(1).cloned().ok_or("bad makemap")?);
        }
        Ok(Value::from(m))
    });
    f.insert("mapOfThree", Arity::Exactly(0), |_, _| Ok(Value::map([("three", int(3))])));
    f.insert("oneArg", Arity::Exactly(1), |_, a| Ok(Value::String(format!("oneArg={}", string_arg(&a[0])?))));
    f.insert("returnInt", Arity::Exactly(0), |_, _| Ok(int(7)));
    f.insert("twoArgs", Arity::Exactly(2), |_, a| {
        Ok(Value::String(format!("twoArgs={}{}", string_arg(&a[0])?, string_arg(&a[1])?)))
    });
    f.insert("typeOf", Arity::Exactly(1), |_, a| Ok(s(a[0].type_name())));
    f.insert("valueString", Arity::Exactly(1), |_, a| string_arg(&a[0]).map(|_| s("value is ignored")));
    f.insert("zeroArgs", Arity::Exactly(0), |_, _| Ok(s("zeroArgs")));
    f
}

#[test]
#[allow(clippy::too_many_lines, reason = "one table, in Go's order")]
fn go_exec_tests() {
    let t = &t_val();
    let nil = &Value::Nil;
    let cases = vec![
        // Trivial cases.
        ok("empty", "", "", nil),
        ok("text", "some text", "some text", nil),
        err(
            "nil action",
            "{{nil}}",
            r#"template: nil action:1:2: executing "nil action" at <nil>: nil is not a command"#,
            nil,
        ),
        // Ideal constants.
        ok("ideal int", "{{typeOf 3}}", "int", &int(0)),
        ok("ideal float", "{{typeOf 1.0}}", "float64", &int(0)),
        ok("ideal exp float", "{{typeOf 1e1}}", "float64", &int(0)),
        ok("ideal int", "{{typeOf 0x7fffffffffffffff}}", "int", &int(0)),
        err(
            "ideal too big",
            "{{typeOf 0x8000000000000000}}",
            r#"template: ideal too big:1:9: executing "ideal too big" at <0x8000000000000000>: 0x8000000000000000 overflows int"#,
            &int(0),
        ),
        // Fields of structs.
        ok(".X", "-{{.X}}-", "-x-", t),
        ok(".U.V", "-{{.U.V}}-", "-v-", t),
        // Fields on maps.
        ok("map .one", "{{.MSI.one}}", "1", t),
        ok("map .two", "{{.MSI.two}}", "2", t),
        ok("map .NO", "{{.MSI.NO}}", "<no value>", t),
        ok("map .one interface", "{{.MXI.one}}", "1", t),
        err(
            "map .WRONG args",
            "{{.MSI.one 1}}",
            r#"template: map .WRONG args:1:6: executing "map .WRONG args" at <.MSI.one>: one is not a method but has arguments"#,
            t,
        ),
        // Dots of all kinds.
        ok("dot int", "<{{.}}>", "<13>", &int(13)),
        ok("dot float", "<{{.}}>", "<15.1>", &Value::Float(15.1)),
        ok("dot bool", "<{{.}}>", "<true>", &Value::Bool(true)),
        ok("dot string", "<{{.}}>", "<hello>", &s("hello")),
        ok("dot slice", "<{{.}}>", "<[-1 -2 -3]>", &ints(&[-1, -2, -3])),
        ok("dot map", "<{{.}}>", "<map[two:22]>", &Value::map([("two", int(22))])),
        ok(
            "dot struct",
            "<{{.}}>",
            "<{7 seven}>",
            &Struct::new("struct").field("a", int(7)).field("b", "seven").into_value(),
        ),
        // Variables.
        ok("$ int", "{{$}}", "123", &int(123)),
        ok("$.I", "{{$.I}}", "17", t),
        ok("$.U.V", "{{$.U.V}}", "v", t),
        ok("declare in action", "{{$x := $.U.V}}{{$x}}", "v", t),
        ok("simple assignment", "{{$x := 2}}{{$x = 3}}{{$x}}", "3", t),
        ok("nested assignment", "{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{$x}}", "3", t),
        ok(
            "nested assignment changes the last declaration",
            "{{$x := 1}}{{if true}}{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{end}}{{$x}}",
            "1",
            t,
        ),
        // Pointers (a list here).
        ok("*[]int", "{{.PSI}}", "[21 22 23]", t),
        ok("*[]int[1]", "{{index .PSI 1}}", "22", t),
        // Empty interfaces holding values.
        ok("empty nil", "{{.Empty0}}", "<no value>", t),
        ok("empty with int", "{{.Empty1}}", "3", t),
        ok("empty with string", "{{.Empty2}}", "empty2", t),
        ok("empty with slice", "{{.Empty3}}", "[7 8]", t),
        ok("empty with struct", "{{.Empty4}}", "{UinEmpty}", t),
        ok("empty with struct, field", "{{.Empty4.V}}", "UinEmpty", t),
        ok("field on interface", "{{.foo}}", "<no value>", nil),
        ok("field on parenthesized interface", "{{(.).foo}}", "<no value>", nil),
        err(
            "unparenthesized non-function",
            "{{1 2}}",
            r#"template: unparenthesized non-function:1:2: executing "unparenthesized non-function" at <1>: can't give argument to non-function 1"#,
            nil,
        ),
        err(
            "parenthesized non-function",
            "{{(1) 2}}",
            r#"template: parenthesized non-function:1:2: executing "parenthesized non-function" at <(1) 2>: can't give argument to non-function 1"#,
            nil,
        ),
        ok("parenthesized non-function with no args", "{{(1)}}", "1", nil),
        // Method calls.
        ok(".Method0", "-{{.Method0}}-", "-M0-", t),
        ok(".Method1(1234)", "-{{.Method1 1234}}-", "-1234-", t),
        ok(".Method1(.I)", "-{{.Method1 .I}}-", "-17-", t),
        ok(".Method2(3, .X)", "-{{.Method2 3 .X}}-", "-Method2: 3 x-", t),
        ok(".Method2(.U16, `str`)", "-{{.Method2 .U16 `str`}}-", "-Method2: 16 str-", t),
        ok(".Method2(.U16, $x)", "{{if $x := .X}}-{{.Method2 .U16 $x}}{{end}}-", "-Method2: 16 x-", t),
        ok(".Method3(nil constant)", "-{{.Method3 nil}}-", "-Method3: <nil>-", t),
        ok(".Method3(nil value)", "-{{.Method3 .MXI.unset}}-", "-Method3: <nil>-", t),
        ok("method on var", "{{if $x := .}}-{{$x.Method2 .U16 $x.X}}{{end}}-", "-Method2: 16 x-", t),
        ok(
            "method on chained var",
            "{{range .MSIone}}{{if $.U.TrueFalse $.True}}{{$.U.TrueFalse $.True}}{{else}}WRONG{{end}}{{end}}",
            "true",
            t,
        ),
        ok(
            "chained method",
            "{{range .MSIone}}{{if $.GetU.TrueFalse $.True}}{{$.U.TrueFalse $.True}}{{else}}WRONG{{end}}{{end}}",
            "true",
            t,
        ),
        ok(
            "chained method on variable",
            "{{with $x := .}}{{with .SI}}{{$.GetU.TrueFalse $.True}}{{end}}{{end}}",
            "true",
            t,
        ),
        ok(".NilOKFunc not nil", "{{call .NilOKFunc .PSI}}", "false", t),
        ok(".NilOKFunc nil", "{{call .NilOKFunc nil}}", "true", t),
        // Function call builtin.
        ok(".BinaryFunc", "{{call .BinaryFunc `1` `2`}}", "[1=2]", t),
        ok(".VariadicFunc0", "{{call .VariadicFunc}}", "<>", t),
        ok(".VariadicFunc2", "{{call .VariadicFunc `he` `llo`}}", "<he+llo>", t),
        ok(".VariadicFuncInt", "{{call .VariadicFuncInt 33 `he` `llo`}}", "33=<he+llo>", t),
        ok("if .BinaryFunc call", "{{ if .BinaryFunc}}{{call .BinaryFunc `1` `2`}}{{end}}", "[1=2]", t),
        ok("if not .BinaryFunc call", "{{ if not .BinaryFunc}}{{call .BinaryFunc `1` `2`}}{{else}}No{{end}}", "No", t),
        ok(".ErrFunc", "{{call .ErrFunc}}", "bla", t),
        err(
            "call nil",
            "{{call nil}}",
            r#"template: call nil:1:2: executing "call nil" at <call nil>: error calling call: call of nil"#,
            t,
        ),
        err(
            "empty call",
            "{{call}}",
            r#"template: empty call:1:2: executing "empty call" at <call>: wrong number of args for call: want at least 1 got 0"#,
            t,
        ),
        ok("empty call after pipe valid", "{{.ErrFunc | call}}", "bla", t),
        err(
            "empty call after pipe invalid",
            "{{1 | call}}",
            r#"template: empty call after pipe invalid:1:6: executing "empty call after pipe invalid" at <call>: error calling call: non-function <int Value> of type int"#,
            t,
        ),
        err(
            ".BinaryFuncTooFew",
            "{{call .BinaryFunc `1`}}",
            r#"template: .BinaryFuncTooFew:1:2: executing ".BinaryFuncTooFew" at <call .BinaryFunc `1`>: error calling call: wrong number of args for .BinaryFunc: got 1 want 2"#,
            t,
        ),
        err(
            ".BinaryFuncTooMany",
            "{{call .BinaryFunc `1` `2` `3`}}",
            r#"template: .BinaryFuncTooMany:1:2: executing ".BinaryFuncTooMany" at <call .BinaryFunc `1` `2` `3`>: error calling call: wrong number of args for .BinaryFunc: got 3 want 2"#,
            t,
        ),
        err(
            ".VariadicFuncIntBad0",
            "{{call .VariadicFuncInt}}",
            r#"template: .VariadicFuncIntBad0:1:2: executing ".VariadicFuncIntBad0" at <call .VariadicFuncInt>: error calling call: wrong number of args for .VariadicFuncInt: got 0 want at least 1"#,
            t,
        ),
        // Pipelines.
        ok("pipeline", "-{{.Method0 | .Method2 .U16}}-", "-Method2: 16 M0-", t),
        ok("pipeline func", "-{{call .VariadicFunc `llo` | call .VariadicFunc `he` }}-", "-<he+<llo>>-", t),
        ok("nil pipeline", "{{ .Empty0 | call .NilOKFunc }}", "true", t),
        ok("nil call arg", "{{ call .NilOKFunc .Empty0 }}", "true", t),
        // Parenthesized expressions.
        ok("parens in pipeline", "{{printf `%d %d %d` (1) (2 | add 3) (add 4 (add 5 6))}}", "1 5 15", t),
        ok("parens: $ in paren", "{{($).X}}", "x", t),
        ok("parens: $.GetU in paren", "{{($.GetU).V}}", "v", t),
        ok("parens: $ in paren in pipe", "{{($ | echo).X}}", "x", t),
        ok("parens: spaces and args", r#"{{(makemap "up" "down" "left" "right").left}}"#, "right", t),
        // If.
        ok("if true", "{{if true}}TRUE{{end}}", "TRUE", t),
        ok("if false", "{{if false}}TRUE{{else}}FALSE{{end}}", "FALSE", t),
        ok("if 1", "{{if 1}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO", t),
        ok("if 0", "{{if 0}}NON-ZERO{{else}}ZERO{{end}}", "ZERO", t),
        ok("if 1.5", "{{if 1.5}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO", t),
        ok("if 0.0", "{{if .FloatZero}}NON-ZERO{{else}}ZERO{{end}}", "ZERO", t),
        ok("if emptystring", "{{if ``}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("if string", "{{if `notempty`}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY", t),
        ok("if emptyslice", "{{if .SIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("if slice", "{{if .SI}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY", t),
        ok("if emptymap", "{{if .MSIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("if map", "{{if .MSI}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY", t),
        ok("if map unset", "{{if .MXI.none}}NON-ZERO{{else}}ZERO{{end}}", "ZERO", t),
        ok("if map not unset", "{{if not .MXI.none}}ZERO{{else}}NON-ZERO{{end}}", "ZERO", t),
        ok("if $x with $y int", "{{if $x := true}}{{with $y := .I}}{{$x}},{{$y}}{{end}}{{end}}", "true,17", t),
        ok("if $x with $x int", "{{if $x := true}}{{with $x := .I}}{{$x}},{{end}}{{$x}}{{end}}", "17,true", t),
        ok("if else if", "{{if false}}FALSE{{else if true}}TRUE{{end}}", "TRUE", t),
        ok("if else chain", "{{if eq 1 3}}1{{else if eq 2 3}}2{{else if eq 3 3}}3{{end}}", "3", t),
        // Print etc.
        ok("print", r#"{{print "hello, print"}}"#, "hello, print", t),
        ok("print 123", "{{print 1 2 3}}", "1 2 3", t),
        ok("print nil", "{{print nil}}", "<nil>", t),
        ok("println", "{{println 1 2 3}}", "1 2 3\n", t),
        ok("printf int", r#"{{printf "%04x" 127}}"#, "007f", t),
        ok("printf float", r#"{{printf "%g" 3.5}}"#, "3.5", t),
        ok("printf string", r#"{{printf "%s" "hello"}}"#, "hello", t),
        ok("printf function", r#"{{printf "%#q" zeroArgs}}"#, "`zeroArgs`", t),
        ok("printf field", r#"{{printf "%s" .U.V}}"#, "v", t),
        ok("printf method", r#"{{printf "%s" .Method0}}"#, "M0", t),
        ok("printf dot", r#"{{with .I}}{{printf "%d" .}}{{end}}"#, "17", t),
        ok("printf var", r#"{{with $x := .I}}{{printf "%d" $x}}{{end}}"#, "17", t),
        // HTML, JavaScript, URL query.
        ok(
            "html",
            r#"{{html "<script>alert(\"XSS\");</script>"}}"#,
            "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
            nil,
        ),
        ok(
            "html pipeline",
            r#"{{printf "<script>alert(\"XSS\");</script>" | html}}"#,
            "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
            nil,
        ),
        ok("html untyped nil", "{{html .Empty0}}", "&lt;no value&gt;", t),
        ok("js", "{{js .}}", r"It\'d be nice.", &s("It'd be nice.")),
        ok("urlquery", r#"{{"http://www.example.org/"|urlquery}}"#, "http%3A%2F%2Fwww.example.org%2F", nil),
        // Booleans.
        ok("not", "{{not true}} {{not false}}", "false true", nil),
        ok("and", "{{and false 0}} {{and 1 0}} {{and 0 true}} {{and 1 1}}", "false 0 0 1", nil),
        ok("or", "{{or 0 0}} {{or 1 0}} {{or 0 true}} {{or 1 1}}", "0 1 true 1", nil),
        ok("or short-circuit", "{{or 0 1 (die)}}", "1", nil),
        ok("and short-circuit", "{{and 1 0 (die)}}", "0", nil),
        err(
            "or short-circuit2",
            "{{or 0 0 (die)}}",
            r#"template: or short-circuit2:1:10: executing "or short-circuit2" at <die>: error calling die: die"#,
            nil,
        ),
        err(
            "and short-circuit2",
            "{{and 1 1 (die)}}",
            r#"template: and short-circuit2:1:11: executing "and short-circuit2" at <die>: error calling die: die"#,
            nil,
        ),
        ok("and pipe-true", "{{1 | and 1}}", "1", nil),
        ok("and pipe-false", "{{0 | and 1}}", "0", nil),
        ok("or pipe-true", "{{1 | or 0}}", "1", nil),
        ok("or pipe-false", "{{0 | or 0}}", "0", nil),
        ok("and undef", "{{and 1 .Unknown}}", "<no value>", nil),
        ok("or undef", "{{or 0 .Unknown}}", "<no value>", nil),
        ok("boolean if", "{{if and true 1 `hi`}}TRUE{{else}}FALSE{{end}}", "TRUE", t),
        ok("boolean if not", "{{if and true 1 `hi` | not}}TRUE{{else}}FALSE{{end}}", "FALSE", nil),
        ok("boolean if pipe", "{{if true | not | and 1}}TRUE{{else}}FALSE{{end}}", "FALSE", nil),
        // Indexing.
        ok("slice[0]", "{{index .SI 0}}", "3", t),
        ok("slice[1]", "{{index .SI 1}}", "4", t),
        err(
            "slice[HUGE]",
            "{{index .SI 10}}",
            r#"template: slice[HUGE]:1:2: executing "slice[HUGE]" at <index .SI 10>: error calling index: index out of range: 10"#,
            t,
        ),
        err(
            "slice[WRONG]",
            "{{index .SI `hello`}}",
            r#"template: slice[WRONG]:1:2: executing "slice[WRONG]" at <index .SI `hello`>: error calling index: cannot index slice/array with type string"#,
            t,
        ),
        err(
            "slice[nil]",
            "{{index .SI nil}}",
            r#"template: slice[nil]:1:2: executing "slice[nil]" at <index .SI nil>: error calling index: cannot index slice/array with nil"#,
            t,
        ),
        ok("map[one]", "{{index .MSI `one`}}", "1", t),
        ok("map[two]", "{{index .MSI `two`}}", "2", t),
        // Go gives the int zero of map[string]int; ours are map[string]interface{}.
        ok("map[NO]", "{{index .MSI `XXX`}}", "<no value>", t),
        err(
            "map[nil]",
            "{{index .MSI nil}}",
            r#"template: map[nil]:1:2: executing "map[nil]" at <index .MSI nil>: error calling index: value is nil; should be of type string"#,
            t,
        ),
        err(
            "map[WRONG]",
            "{{index .MSI 10}}",
            r#"template: map[WRONG]:1:2: executing "map[WRONG]" at <index .MSI 10>: error calling index: value has type int; should be string"#,
            t,
        ),
        ok("double index", "{{index .SMSI 1 `eleven`}}", "11", t),
        err(
            "nil[1]",
            "{{index nil 1}}",
            r#"template: nil[1]:1:2: executing "nil[1]" at <index nil 1>: error calling index: index of untyped nil"#,
            t,
        ),
        ok("index of an interface field", "{{index .Empty3 0}}", "7", t),
        // Slicing.
        ok("slice[:]", "{{slice .SI}}", "[3 4 5]", t),
        ok("slice[1:]", "{{slice .SI 1}}", "[4 5]", t),
        ok("slice[1:2]", "{{slice .SI 1 2}}", "[4]", t),
        err(
            "slice[-1:]",
            "{{slice .SI -1}}",
            r#"template: slice[-1:]:1:2: executing "slice[-1:]" at <slice .SI -1>: error calling slice: index out of range: -1"#,
            t,
        ),
        err(
            "slice[2:1]",
            "{{slice .SI 2 1}}",
            r#"template: slice[2:1]:1:2: executing "slice[2:1]" at <slice .SI 2 1>: error calling slice: invalid slice index: 2 > 1"#,
            t,
        ),
        err(
            "slice[2:2:1]",
            "{{slice .SI 2 2 1}}",
            r#"template: slice[2:2:1]:1:2: executing "slice[2:2:1]" at <slice .SI 2 2 1>: error calling slice: invalid slice index: 2 > 1"#,
            t,
        ),
        err(
            "out of range",
            "{{slice .SI 4 5}}",
            r#"template: out of range:1:2: executing "out of range" at <slice .SI 4 5>: error calling slice: index out of range: 4"#,
            t,
        ),
        ok("array[:]", "{{slice .AI}}", "[3 4 5]", t),
        ok("array[1:2]", "{{slice .AI 1 2}}", "[4]", t),
        ok("string[:]", "{{slice .S}}", "xyz", t),
        ok("string[0:1]", "{{slice .S 0 1}}", "x", t),
        ok("string[1:]", "{{slice .S 1}}", "yz", t),
        ok("string[1:2]", "{{slice .S 1 2}}", "y", t),
        err(
            "3-index slice of string",
            "{{slice .S 1 2 2}}",
            r#"template: 3-index slice of string:1:2: executing "3-index slice of string" at <slice .S 1 2 2>: error calling slice: cannot 3-index slice a string"#,
            t,
        ),
        ok("slice of an interface field", "{{slice .Empty3 0 1}}", "[7]", t),
        // Len.
        ok("slice", "{{len .SI}}", "3", t),
        ok("map", "{{len .MSI }}", "3", t),
        err(
            "len of int",
            "{{len 3}}",
            r#"template: len of int:1:2: executing "len of int" at <len 3>: error calling len: len of type int"#,
            t,
        ),
        err(
            "len of nothing",
            "{{len .Empty0}}",
            r#"template: len of nothing:1:2: executing "len of nothing" at <len .Empty0>: error calling len: reflect: call of reflect.Value.Type on zero Value"#,
            t,
        ),
        ok("len of an interface field", "{{len .Empty3}}", "2", t),
        // With.
        ok("with true", "{{with true}}{{.}}{{end}}", "true", t),
        ok("with false", "{{with false}}{{.}}{{else}}FALSE{{end}}", "FALSE", t),
        ok("with 1", "{{with 1}}{{.}}{{else}}ZERO{{end}}", "1", t),
        ok("with 0", "{{with 0}}{{.}}{{else}}ZERO{{end}}", "ZERO", t),
        ok("with 1.5", "{{with 1.5}}{{.}}{{else}}ZERO{{end}}", "1.5", t),
        ok("with 0.0", "{{with .FloatZero}}{{.}}{{else}}ZERO{{end}}", "ZERO", t),
        ok("with emptystring", "{{with ``}}{{.}}{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("with string", "{{with `notempty`}}{{.}}{{else}}EMPTY{{end}}", "notempty", t),
        ok("with emptyslice", "{{with .SIEmpty}}{{.}}{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("with slice", "{{with .SI}}{{.}}{{else}}EMPTY{{end}}", "[3 4 5]", t),
        ok("with emptymap", "{{with .MSIEmpty}}{{.}}{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("with map", "{{with .MSIone}}{{.}}{{else}}EMPTY{{end}}", "map[one:1]", t),
        ok("with empty interface, struct field", "{{with .Empty4}}{{.V}}{{end}}", "UinEmpty", t),
        ok("with $x int", "{{with $x := .I}}{{$x}}{{end}}", "17", t),
        ok("with $x struct.U.V", "{{with $x := $}}{{$x.U.V}}{{end}}", "v", t),
        ok("with variable and action", "{{with $x := $}}{{$y := $.U.V}}{{$y}}{{end}}", "v", t),
        ok("with else with", "{{with 0}}{{.}}{{else with true}}{{.}}{{end}}", "true", t),
        ok(
            "with else with chain",
            "{{with 0}}{{.}}{{else with false}}{{.}}{{else with `notempty`}}{{.}}{{end}}",
            "notempty",
            t,
        ),
        // Range.
        ok("range []int", "{{range .SI}}-{{.}}-{{end}}", "-3--4--5-", t),
        ok("range empty no else", "{{range .SIEmpty}}-{{.}}-{{end}}", "", t),
        ok("range []int else", "{{range .SI}}-{{.}}-{{else}}EMPTY{{end}}", "-3--4--5-", t),
        ok("range empty else", "{{range .SIEmpty}}-{{.}}-{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("range []int break else", "{{range .SI}}-{{.}}-{{break}}NOTREACHED{{else}}EMPTY{{end}}", "-3-", t),
        ok(
            "range []int continue else",
            "{{range .SI}}-{{.}}-{{continue}}NOTREACHED{{else}}EMPTY{{end}}",
            "-3--4--5-",
            t,
        ),
        ok("range []bool", "{{range .SB}}-{{.}}-{{end}}", "-true--false-", t),
        ok("range []int method", "{{range .SI | .MAdd .I}}-{{.}}-{{end}}", "-20--21--22-", t),
        ok("range map", "{{range .MSI}}-{{.}}-{{end}}", "-1--3--2-", t),
        ok("range empty map no else", "{{range .MSIEmpty}}-{{.}}-{{end}}", "", t),
        ok("range map else", "{{range .MSI}}-{{.}}-{{else}}EMPTY{{end}}", "-1--3--2-", t),
        ok("range empty map else", "{{range .MSIEmpty}}-{{.}}-{{else}}EMPTY{{end}}", "EMPTY", t),
        ok("range empty interface", "{{range .Empty3}}-{{.}}-{{else}}EMPTY{{end}}", "-7--8-", t),
        ok("range empty nil", "{{range .Empty0}}-{{.}}-{{end}}", "", t),
        ok("range $x SI", "{{range $x := .SI}}<{{$x}}>{{end}}", "<3><4><5>", t),
        ok("range $x $y SI", "{{range $x, $y := .SI}}<{{$x}}={{$y}}>{{end}}", "<0=3><1=4><2=5>", t),
        ok("range $x MSIone", "{{range $x := .MSIone}}<{{$x}}>{{end}}", "<1>", t),
        ok("range $x $y MSIone", "{{range $x, $y := .MSIone}}<{{$x}}={{$y}}>{{end}}", "<one=1>", t),
        ok("range $x PSI", "{{range $x := .PSI}}<{{$x}}>{{end}}", "<21><22><23>", t),
        ok("declare in range", "{{range $x := .PSI}}<{{$foo:=$x}}{{$x}}>{{end}}", "<21><22><23>", t),
        ok("range count", "{{range $i, $x := count 5}}[{{$i}}]{{$x}}{{end}}", "[0]a[1]b[2]c[3]d[4]e", t),
        ok("range nil count", "{{range $i, $x := count 0}}{{else}}empty{{end}}", "empty", t),
        ok("range int", r#"{{range $v := .}}{{printf "%T%d" $v $v}}{{end}}"#, "int0int1int2int3int4", &int(5)),
        ok("range 5", r#"{{range $v := 5}}{{printf "%T%d" $v $v}}{{end}}"#, "int0int1int2int3int4", nil),
        err(
            "range int over two var",
            "{{range $i, $c := 5}}{{$c}}{{end}}",
            r#"template: range int over two var:1:18: executing "range int over two var" at <5>: can't use 5 to iterate over more than one variable"#,
            nil,
        ),
        // Cute examples.
        ok("or as if true", r#"{{or .SI "slice is empty"}}"#, "[3 4 5]", t),
        ok("or as if false", r#"{{or .SIEmpty "slice is empty"}}"#, "slice is empty", t),
        // Error handling.
        err(
            "error method, error",
            "{{.MyError true}}",
            r#"template: error method, error:1:2: executing "error method, error" at <.MyError>: error calling MyError: my error"#,
            t,
        ),
        ok("error method, no error", "{{.MyError false}}", "false", t),
        // Numbers.
        ok("decimal", "{{print 1234}}", "1234", t),
        ok("decimal _", "{{print 12_34}}", "1234", t),
        ok("binary", "{{print 0b101}}", "5", t),
        ok("binary _", "{{print 0b_1_0_1}}", "5", t),
        ok("BINARY", "{{print 0B101}}", "5", t),
        ok("octal0", "{{print 0377}}", "255", t),
        ok("octal", "{{print 0o377}}", "255", t),
        ok("octal _", "{{print 0o_3_7_7}}", "255", t),
        ok("OCTAL", "{{print 0O377}}", "255", t),
        ok("hex", "{{print 0x123}}", "291", t),
        ok("hex _", "{{print 0x1_23}}", "291", t),
        ok("HEX", "{{print 0X123ABC}}", "1194684", t),
        ok("float", "{{print 123.4}}", "123.4", t),
        ok("float _", "{{print 0_0_1_2_3.4}}", "123.4", t),
        ok("hex float", "{{print +0x1.ep+2}}", "7.5", t),
        ok("hex float _", "{{print +0x_1.e_0p+0_2}}", "7.5", t),
        ok("HEX float", "{{print +0X1.EP+2}}", "7.5", t),
        ok("print multi", "{{print 1_2_3_4 7.5_00_00_00}}", "1234 7.5", t),
        ok("print multi2", "{{print 1234 0x0_1.e_0p+02}}", "1234 7.5", t),
        // Fixed bugs.
        ok("bug0", "{{range .MSIone}}{{if $.Method1 .}}X{{end}}{{end}}", "X", t),
        ok("bug3", "{{with $}}{{.Method0}}{{end}}", "M0", t),
        ok("bug4", "{{if .Empty0}}non-nil{{else}}nil{{end}}", "nil", t),
        err(
            "bug7a",
            "{{3 2}}",
            r#"template: bug7a:1:2: executing "bug7a" at <3>: can't give argument to non-function 3"#,
            t,
        ),
        err(
            "bug7b",
            "{{$x := 1}}{{$x 2}}",
            r#"template: bug7b:1:13: executing "bug7b" at <$x>: can't give argument to non-function $x"#,
            t,
        ),
        err(
            "bug7c",
            "{{$x := 1}}{{3 | $x}}",
            r#"template: bug7c:1:17: executing "bug7c" at <$x>: can't give argument to non-function $x"#,
            t,
        ),
        ok("bug9", "{{.cause}}", "neglect", &Value::map([("cause", s("neglect"))])),
        ok("bug10", "{{mapOfThree.three}}-{{(mapOfThree).three}}", "3-3", &int(0)),
        ok("bug12xe", "{{printf `%T` 0xef}}", "int", t),
        ok("bug12xE", "{{printf `%T` 0xEE}}", "int", t),
        ok("bug12Xe", "{{printf `%T` 0Xef}}", "int", t),
        ok("bug12XE", "{{printf `%T` 0XEE}}", "int", t),
        ok("bug13", "{{print (.Copy).I}}", "17", t),
        // `(nil)` is a pipeline whose command is nil: Go fails there, before the chain.
        err(
            "bug14a",
            "{{(nil).True}}",
            r#"template: bug14a:1:3: executing "bug14a" at <nil>: nil is not a command"#,
            t,
        ),
        // Declaring `$x := nil` evaluates `nil` as a command, which Go refuses.
        err(
            "bug14b",
            "{{$x := nil}}{{$x.anything}}",
            r#"template: bug14b:1:8: executing "bug14b" at <nil>: nil is not a command"#,
            t,
        ),
        err(
            "bug14c",
            r#"{{$x := (1.0)}}{{$y := ("hello")}}{{$x.anything}}{{$y.true}}"#,
            r#"template: bug14c:1:38: executing "bug14c" at <$x.anything>: can't evaluate field anything in type float64"#,
            t,
        ),
        ok("bug16g", r#"{{"aaa" |twoArgs "bbb"}}"#, "twoArgs=bbbaaa", t),
        ok("bug16i", r#"{{"aaa"|oneArg}}"#, "oneArg=aaa", t),
        ok("bug16k", r#"{{"aaa"|printf }}"#, "aaa", t),
        ok("bug18a", "{{eq . '.'}}", "true", &int(46)),
        ok("bug18b", "{{eq . 'e'}}", "true", &int(101)),
        ok("bug18c", "{{eq . 'P'}}", "true", &int(80)),
        ok("issue56490", "{{$i := 0}}{{$x := 0}}{{range $i = .AI}}{{end}}{{$i}}", "5", t),
        ok("issue60801", "{{$k := 0}}{{$v := 0}}{{range $k, $v = .AI}}{{$k}}={{$v}} {{end}}", "0=3 1=4 2=5 ", t),
    ];
    check_all(&cases, &Options::default());
}

/// Go's `TestExecError`: an error in a nested template names it, its line and column.
#[test]
fn go_exec_error_in_nested_template() {
    let text = "line 1\nline 2\nline 3\n{{template \"one\" .}}\n{{define \"one\"}}{{template \"two\" .}}{{end}}\n{{define \"two\"}}{{template \"three\" .}}{{end}}\n{{define \"three\"}}{{index \"hi\" $}}{{end}}";
    let case = err(
        "top",
        "",
        r#"template: top:7:20: executing "three" at <index "hi" $>: error calling index: index out of range: 5"#,
        &int(5),
    );
    let case = Case { input: Box::leak(text.to_string().into_boxed_str()), ..case };
    check_all(&[case], &Options::default());
}

/// Go's `TestMissingMapKey`, and Helm's reason for `missingkey=zero`: a field of a missing
/// key is an error there, not under Go's default.
#[test]
fn go_missing_map_key() {
    let data = Value::map([("x", int(99))]);
    let defaults = vec![
        ok("x", "{{.x}}", "99", &data),
        ok("missing", "{{.y}}", "<no value>", &data),
        ok("chain", "{{.y.z}}", "<no value>", &data),
    ];
    check_all(&defaults, &Options::default());
    let zero = Options { missing_key: MissingKey::Zero, ..Options::default() };
    let cases = vec![
        ok("missing", "{{.y}}", "<no value>", &data),
        err(
            "chain",
            "{{.y.z}}",
            r#"template: chain:1:4: executing "chain" at <.y.z>: nil pointer evaluating interface {}.z"#,
            &data,
        ),
    ];
    check_all(&cases, &zero);
    let error = Options { missing_key: MissingKey::Error, ..Options::default() };
    let cases = vec![
        ok("x", "{{.x}}", "99", &data),
        err(
            "missing",
            "{{.y}}",
            r#"template: missing:1:2: executing "missing" at <.y>: map has no entry for key "y""#,
            &data,
        ),
        err(
            "nil data",
            "{{.y}}",
            r#"template: nil data:1:2: executing "nil data" at <.y>: nil data; no entry for key "y""#,
            &Value::Nil,
        ),
    ];
    check_all(&cases, &error);
}

/// A `null` in the data (a held nil) is not a missing value: a field of it fails.
#[test]
fn a_field_of_a_null_fails_as_in_go() {
    let data = Value::map([("a", Value::Nil), ("l", Value::list([Value::Nil]))]);
    let cases = vec![
        ok("null prints no value", "{{.a}}", "<no value>", &data),
        err(
            "field of null",
            "{{.a.b}}",
            r#"template: field of null:1:4: executing "field of null" at <.a.b>: nil pointer evaluating interface {}.b"#,
            &data,
        ),
        err(
            "field of null element",
            "{{range .l}}{{.b}}{{end}}",
            r#"template: field of null element:1:14: executing "field of null element" at <.b>: nil pointer evaluating interface {}.b"#,
            &data,
        ),
        ok("null element prints nil in a list", "{{.l}}", "[<nil>]", &data),
    ];
    check_all(&cases, &Options::default());
}

/// Go's comparison tests (`cmpTests` in exec_test.go), a selection.
#[test]
fn go_comparisons() {
    let t = &t_val();
    let cases = vec![
        ok("eq true true", "{{eq true true}}", "true", t),
        ok("eq true false", "{{eq true false}}", "false", t),
        ok("eq 1.5 1.5", "{{eq 1.5 1.5}}", "true", t),
        ok("eq 1 1", "{{eq 1 1}}", "true", t),
        ok("eq `xy` `xy`", "{{eq `xy` `xy`}}", "true", t),
        ok("eq .I 17", "{{eq .I 17}}", "true", t),
        ok("eq several", "{{eq 3 4 5 6 3}}", "true", t),
        ok("eq several false", "{{eq 3 4 5 6 7}}", "false", t),
        ok("ne", "{{ne 1 2}}", "true", t),
        ok("lt", "{{lt 1 2}}", "true", t),
        ok("lt strings", "{{lt `xy` `xz`}}", "true", t),
        ok("le", "{{le 2 2}}", "true", t),
        ok("gt", "{{gt 1.5 2.5}}", "false", t),
        ok("ge", "{{ge 2 2}}", "true", t),
        ok("eq nil nil", "{{eq .Empty0 .Empty0}}", "true", t),
        ok("eq int nil", "{{eq 1 .Empty0}}", "false", t),
        err(
            "eq 2 2.0",
            "{{eq 2 2.0}}",
            r#"template: eq 2 2.0:1:2: executing "eq 2 2.0" at <eq 2 2.0>: error calling eq: incompatible types for comparison: int and float64"#,
            t,
        ),
        err(
            "lt true true",
            "{{lt true true}}",
            r#"template: lt true true:1:2: executing "lt true true" at <lt true true>: error calling lt: invalid type for comparison"#,
            t,
        ),
        err(
            "eq slices",
            "{{eq .SI .SI}}",
            r#"template: eq slices:1:2: executing "eq slices" at <eq .SI .SI>: error calling eq: non-comparable type [3 4 5]: []interface {}"#,
            t,
        ),
        err(
            "eq missing",
            "{{eq 1}}",
            r#"template: eq missing:1:2: executing "eq missing" at <eq 1>: error calling eq: missing argument for comparison"#,
            t,
        ),
        err(
            "lt one arg",
            "{{lt 1}}",
            r#"template: lt one arg:1:2: executing "lt one arg" at <lt>: wrong number of args for lt: want 2 got 1"#,
            t,
        ),
    ];
    check_all(&cases, &Options::default());
}

/// Templates: `define`, `template`, `block`, redefinition, the missing template and the depth
/// limit (Go's `multi_test.go` and `TestMaxExecDepth`).
#[test]
fn go_templates_and_blocks() {
    let nil = &Value::Nil;
    let cases = vec![
        ok("define and call", r#"{{define "x"}}[{{.}}]{{end}}{{template "x" 5}}"#, "[5]", nil),
        ok("template without pipeline has nil dot", r#"{{define "x"}}{{.}}{{end}}{{template "x"}}"#, "<no value>", nil),
        ok("block", r#"a{{block "inner" .}}-{{.}}-{{end}}b"#, "a-3-b", &int(3)),
        ok("no dynamic scoping", r#"{{define "x"}}{{$}}{{end}}{{$y := 1}}{{template "x" 2}}"#, "2", nil),
        err(
            "missing template",
            r#"{{template "nope"}}"#,
            r#"template: missing template:1:11: executing "missing template" at <{{template "nope"}}>: template "nope" not defined"#,
            nil,
        ),
        err(
            "recursion",
            r#"{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}"#,
            r#"template: recursion:1:25: executing "r" at <{{template "r" .}}>: exceeded maximum template depth (100)"#,
            nil,
        ),
        err(
            "multiple definition",
            r#"{{define "a"}}x{{end}}{{define "a"}}y{{end}}"#,
            r#"template: multiple definition:1: template: multiple definition of template "a""#,
            nil,
        ),
        ok("empty redefinition is fine", r#"{{define "a"}}x{{end}}{{define "a"}} {{end}}{{template "a"}}"#, "x", nil),
    ];
    check_all(&cases, &Options::default());
}

// Not supported, with the reason (Go's names):
// - "ideal complex", "dot complex", "if 1.5i", "with 1.5i", "printf complex", "printf lots",
//   "bug16e", "bug16j": complex numbers (refused at parse).
// - "dot uint", "map .WRONG type" (map[int]int), "map MI64S" .. "map MUI8S", "range uint8" ..
//   "range uintptr": unsigned and non-string-keyed maps; values here are Helm's kinds.
// - "V{6666}.String()" .. "(*W)(nil).Error()", "bug5", "bug5a", "Interface Call": Go's
//   Stringer and error interfaces.
// - "*int", "*string", "NIL", "if nilPointer", "if UPI", "bug11", "method on nil value from
//   slice", the typed-nil interface cases, "bug1", "bug2", "bug17a".."bug17e": pointers and
//   non-empty interfaces.
// - ".unexported": unexported fields (an object shows what it chooses).
// - "range iter.Seq..." and "range count" over a channel: iterators and channels ("range
//   count" runs over a list here).
// - ".BinaryFuncBad0", ".VariadicFuncBad0", "bug8a", "bug8b", "bug15", "bug16a".."bug16f",
//   "bug16h", "bad nil pipeline", "bug6a".."bug6d": Go's type check of arguments against the
//   function's signature; here a function checks its own arguments, and its message comes
//   wrapped in "error calling NAME: ".
// - "slice[1:-2]" .. "indexes > cap(s)" with SICap: Go's slice capacity (a list has none).
