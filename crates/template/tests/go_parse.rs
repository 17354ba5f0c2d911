//! Go's parser tests (`text/template/parse/parse_test.go`: `parseTests`, `errorTests`,
//! `isEmptyTests`, `TestBlock`), under Go's names, checked by one `check`. Go prints text
//! nodes with `%q` in these tests; here they print as they are, as Go's `String()` does outside
//! its tests.

use flotilla_template::{Funcs, Options, Templates};

enum Want {
    /// The tree printed back.
    Tree(&'static str),
    /// The whole error message.
    Err(&'static str),
    /// A part of the error message (Go's `errorTests` check only a part).
    ErrContains(&'static str),
}

struct Case {
    name: &'static str,
    input: &'static str,
    want: Want,
}

const fn tree(name: &'static str, input: &'static str, want: &'static str) -> Case {
    Case { name, input, want: Want::Tree(want) }
}

const fn err(name: &'static str, input: &'static str, want: &'static str) -> Case {
    Case { name, input, want: Want::Err(want) }
}

const fn err_contains(name: &'static str, input: &'static str, want: &'static str) -> Case {
    Case { name, input, want: Want::ErrContains(want) }
}

fn check(case: &Case) -> Result<(), String> {
    let mut set = Templates::new(Funcs::new(), Options::default());
    let got = set
        .parse(case.name, case.input)
        .map(|()| set.tree_text(case.name).unwrap_or_default())
        .map_err(|e| e.to_string());
    match (&case.want, &got) {
        (Want::Tree(want), Ok(got)) if got == want => Ok(()),
        (Want::Err(want), Err(got)) if got == want => Ok(()),
        (Want::ErrContains(want), Err(got)) if got.contains(want) => Ok(()),
        _ => Err(format!("{}: {:?}\n  got {got:?}", case.name, case.input)),
    }
}

fn check_all(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
#[allow(clippy::too_many_lines, reason = "one table, in Go's order")]
fn go_parse_tests() {
    check_all(&[
        tree("empty", "", ""),
        tree("comment", "{{/*\n\n\n*/}}", ""),
        tree("spaces", " \t\n", " \t\n"),
        tree("text", "some text", "some text"),
        err("emptyAction", "{{}}", "template: emptyAction:1: missing value for command"),
        tree("field", "{{.X}}", "{{.X}}"),
        tree("simple command", "{{printf}}", "{{printf}}"),
        tree("$ invocation", "{{$}}", "{{$}}"),
        tree("variable invocation", "{{with $x := 3}}{{$x 23}}{{end}}", "{{with $x := 3}}{{$x 23}}{{end}}"),
        tree("variable with fields", "{{$.I}}", "{{$.I}}"),
        tree("multi-word command", "{{printf `%d` 23}}", "{{printf `%d` 23}}"),
        tree("pipeline", "{{.X|.Y}}", "{{.X | .Y}}"),
        tree("pipeline with decl", "{{$x := .X|.Y}}", "{{$x := .X | .Y}}"),
        tree("nested pipeline", "{{.X (.Y .Z) (.A | .B .C) (.E)}}", "{{.X (.Y .Z) (.A | .B .C) (.E)}}"),
        tree("field applied to parentheses", "{{(.Y .Z).Field}}", "{{(.Y .Z).Field}}"),
        tree("simple if", "{{if .X}}hello{{end}}", "{{if .X}}hello{{end}}"),
        tree("if with else", "{{if .X}}true{{else}}false{{end}}", "{{if .X}}true{{else}}false{{end}}"),
        tree(
            "if with else if",
            "{{if .X}}true{{else if .Y}}false{{end}}",
            "{{if .X}}true{{else}}{{if .Y}}false{{end}}{{end}}",
        ),
        tree(
            "if else chain",
            "+{{if .X}}X{{else if .Y}}Y{{else if .Z}}Z{{end}}+",
            "+{{if .X}}X{{else}}{{if .Y}}Y{{else}}{{if .Z}}Z{{end}}{{end}}{{end}}+",
        ),
        tree("simple range", "{{range .X}}hello{{end}}", "{{range .X}}hello{{end}}"),
        tree("chained field range", "{{range .X.Y.Z}}hello{{end}}", "{{range .X.Y.Z}}hello{{end}}"),
        tree(
            "nested range",
            "{{range .X}}hello{{range .Y}}goodbye{{end}}{{end}}",
            "{{range .X}}hello{{range .Y}}goodbye{{end}}{{end}}",
        ),
        tree("range with else", "{{range .X}}true{{else}}false{{end}}", "{{range .X}}true{{else}}false{{end}}"),
        tree(
            "range over pipeline",
            "{{range .X|.M}}true{{else}}false{{end}}",
            "{{range .X | .M}}true{{else}}false{{end}}",
        ),
        tree("range []int", "{{range .SI}}{{.}}{{end}}", "{{range .SI}}{{.}}{{end}}"),
        tree("range 1 var", "{{range $x := .SI}}{{.}}{{end}}", "{{range $x := .SI}}{{.}}{{end}}"),
        tree("range 2 vars", "{{range $x, $y := .SI}}{{.}}{{end}}", "{{range $x, $y := .SI}}{{.}}{{end}}"),
        tree("range with break", "{{range .SI}}{{.}}{{break}}{{end}}", "{{range .SI}}{{.}}{{break}}{{end}}"),
        tree("range with continue", "{{range .SI}}{{.}}{{continue}}{{end}}", "{{range .SI}}{{.}}{{continue}}{{end}}"),
        // Go's "constants" case has -3.2i, a complex constant, refused here.
        tree("constants", "{{range .SI 1 true false 'a' nil}}{{end}}", "{{range .SI 1 true false 'a' nil}}{{end}}"),
        tree("template", "{{template `x`}}", r#"{{template "x"}}"#),
        tree("template with arg", "{{template `x` .Y}}", r#"{{template "x" .Y}}"#),
        tree("with", "{{with .X}}hello{{end}}", "{{with .X}}hello{{end}}"),
        tree("with with else", "{{with .X}}hello{{else}}goodbye{{end}}", "{{with .X}}hello{{else}}goodbye{{end}}"),
        tree(
            "with with else with",
            "{{with .X}}hello{{else with .Y}}goodbye{{end}}",
            "{{with .X}}hello{{else}}{{with .Y}}goodbye{{end}}{{end}}",
        ),
        tree(
            "with else chain",
            "{{with .X}}X{{else with .Y}}Y{{else with .Z}}Z{{end}}",
            "{{with .X}}X{{else}}{{with .Y}}Y{{else}}{{with .Z}}Z{{end}}{{end}}{{end}}",
        ),
        // Trimming spaces.
        tree("trim left", "x \r\n\t{{- 3}}", "x{{3}}"),
        tree("trim right", "{{3 -}}\n\n\ty", "{{3}}y"),
        tree("trim left and right", "x \r\n\t{{- 3 -}}\n\n\ty", "x{{3}}y"),
        tree("trim with extra spaces", "x\n{{-  3   -}}\ny", "x{{3}}y"),
        tree("comment trim left", "x \r\n\t{{- /* hi */}}", "x"),
        tree("comment trim right", "{{/* hi */ -}}\n\n\ty", "y"),
        tree("comment trim left and right", "x \r\n\t{{- /* */ -}}\n\n\ty", "xy"),
        tree("block definition", r#"{{block "foo" .}}hello{{end}}"#, r#"{{template "foo" .}}"#),
        tree("newline in assignment", "{{ $x \n := \n 1 \n }}", "{{$x := 1}}"),
        err("newline in empty action", "{{\n}}", "template: newline in empty action:2: missing value for command"),
        tree("newline in pipeline", "{{\n\"x\"\n|\nprintf\n}}", r#"{{"x" | printf}}"#),
        tree("newline in comment", "{{/*\nhello\n*/}}", ""),
        tree("newline in comment", "{{-\n/*\nhello\n*/\n-}}", ""),
        tree(
            "spaces around continue",
            "{{range .SI}}{{.}}{{ continue }}{{end}}",
            "{{range .SI}}{{.}}{{continue}}{{end}}",
        ),
        tree("spaces around break", "{{range .SI}}{{.}}{{ break }}{{end}}", "{{range .SI}}{{.}}{{break}}{{end}}"),
        // Errors (Go checks only that they fail; the messages are Go's, from parse.go).
        err("unclosed action", "hello{{range", "template: unclosed action:1: unclosed action"),
        err("unmatched end", "{{end}}", "template: unmatched end:1: unexpected {{end}}"),
        err("unmatched else", "{{else}}", "template: unmatched else:1: unexpected {{else}}"),
        err(
            "unmatched else after if",
            "{{if .X}}hello{{end}}{{else}}",
            "template: unmatched else after if:1: unexpected {{else}}",
        ),
        err(
            "multiple else",
            "{{if .X}}1{{else}}2{{else}}3{{end}}",
            "template: multiple else:1: expected end; found {{else}}",
        ),
        err("missing end", "hello{{range .x}}", "template: missing end:1: unexpected EOF"),
        err(
            "missing end after else",
            "hello{{range .x}}{{else}}",
            "template: missing end after else:1: unexpected EOF",
        ),
        err(
            "undefined function",
            "hello{{undefined}}",
            r#"template: undefined function:1: function "undefined" not defined"#,
        ),
        err("undefined variable", "{{$x}}", r#"template: undefined variable:1: undefined variable "$x""#),
        err(
            "variable undefined after end",
            "{{with $x := 4}}{{end}}{{$x}}",
            r#"template: variable undefined after end:1: undefined variable "$x""#,
        ),
        err(
            "variable undefined in template",
            "{{template $v}}",
            "template: variable undefined in template:1: unexpected \"$v\" in template clause",
        ),
        err(
            "declare with field",
            "{{with $x.Y := 4}}{{end}}",
            r#"template: declare with field:1: undefined variable "$x""#,
        ),
        err(
            "template with field ref",
            "{{template .X}}",
            r#"template: template with field ref:1: unexpected ".X" in template clause"#,
        ),
        err("invalid punctuation", "{{printf 3, 4}}", r#"template: invalid punctuation:1: unexpected "," in operand"#),
        err(
            "multidecl outside range",
            "{{with $v, $u := 3}}{{end}}",
            "template: multidecl outside range:1: too many declarations in with",
        ),
        err(
            "too many decls in range",
            "{{range $u, $v, $w := 3}}{{end}}",
            "template: too many decls in range:1: too many declarations in range",
        ),
        err(
            "dot applied to parentheses",
            "{{printf (printf .).}}",
            "template: dot applied to parentheses:1: unexpected <.> in operand",
        ),
        err("adjacent args", "{{printf 3`x`}}", "template: adjacent args:1: unexpected \"`x`\" in operand"),
        err("adjacent args with .", "{{printf `x`.}}", "template: adjacent args with .:1: unexpected <.> in operand"),
        err(
            "extra end after if",
            "{{if .X}}a{{else if .Y}}b{{end}}{{end}}",
            "template: extra end after if:1: unexpected {{end}}",
        ),
        err(
            "break outside range",
            "{{range .}}{{end}} {{break}}",
            "template: break outside range:1: {{break}} outside {{range}}",
        ),
        err(
            "continue outside range",
            "{{range .}}{{end}} {{continue}}",
            "template: continue outside range:1: {{continue}} outside {{range}}",
        ),
        err(
            "break in range else",
            "{{range .}}{{else}}{{break}}{{end}}",
            "template: break in range else:1: {{break}} outside {{range}}",
        ),
        err(
            "continue in range else",
            "{{range .}}{{else}}{{continue}}{{end}}",
            "template: continue in range else:1: {{continue}} outside {{range}}",
        ),
        tree("bug0a", "{{$x := 0}}{{$x}}", "{{$x := 0}}{{$x}}"),
        err("bug0b", "{{$x += 1}}{{$x}}", r#"template: bug0b:1: undefined variable "$x""#),
        err("bug0c", "{{$x ! 2}}{{$x}}", r#"template: bug0c:1: undefined variable "$x""#),
        err("bug0d", "{{$x % 3}}{{$x}}", r#"template: bug0d:1: undefined variable "$x""#),
        err("bug0e", "{{range $x := $y := 3}}{{end}}", r#"template: bug0e:1: undefined variable "$y""#),
        err("bug1a", "{{$x:=.}}{{$x!2}}", "template: bug1a:1: bad character U+0021 '!'"),
        err("bug1b", "{{$x:=.}}{{$x+2}}", "template: bug1b:1: bad character U+002B '+'"),
        tree("bug1c", "{{$x:=.}}{{$x +2}}", "{{$x := .}}{{$x +2}}"),
        tree("bug2a", "{{range $x := 0}}{{$x}}{{end}}", "{{range $x := 0}}{{$x}}{{end}}"),
        tree("bug2b", "{{range $x = 0}}{{$x}}{{end}}", "{{range $x = 0}}{{$x}}{{end}}"),
        err("dot after integer", "{{1.E}}", r#"template: dot after integer:1: illegal number syntax: "1.E""#),
        err("dot after float", "{{0.1.E}}", r#"template: dot after float:1: unexpected . after term "0.1""#),
        err("dot after boolean", "{{true.E}}", r#"template: dot after boolean:1: unexpected . after term "true""#),
        err("dot after char", "{{'a'.any}}", r#"template: dot after char:1: unexpected . after term "'a'""#),
        err(
            "dot after string",
            r#"{{"hello".guys}}"#,
            r#"template: dot after string:1: unexpected . after term "\"hello\"""#,
        ),
        err("dot after dot", "{{..E}}", r#"template: dot after dot:1: unexpected . after term ".""#),
        err("dot after nil", "{{nil.E}}", r#"template: dot after nil:1: unexpected . after term "nil""#),
        err(
            "wrong pipeline dot",
            "{{12|.}}",
            "template: wrong pipeline dot:1: non executable command in pipeline stage 2",
        ),
        err(
            "wrong pipeline number",
            "{{.|12|printf}}",
            "template: wrong pipeline number:1: non executable command in pipeline stage 2",
        ),
        err(
            "wrong pipeline string",
            r#"{{.|printf|"error"}}"#,
            "template: wrong pipeline string:1: non executable command in pipeline stage 3",
        ),
        err(
            "wrong pipeline char",
            "{{12|printf|'e'}}",
            "template: wrong pipeline char:1: non executable command in pipeline stage 3",
        ),
        err(
            "wrong pipeline boolean",
            "{{.|true}}",
            "template: wrong pipeline boolean:1: non executable command in pipeline stage 2",
        ),
        err(
            "wrong pipeline nil",
            "{{'c'|nil}}",
            "template: wrong pipeline nil:1: non executable command in pipeline stage 2",
        ),
        err(
            "empty pipeline",
            r#"{{printf "%d" ( ) }}"#,
            "template: empty pipeline:1: missing value for parenthesized pipeline",
        ),
        err(
            "block definition",
            r#"{{block "foo"}}hello{{end}}"#,
            "template: block definition:1: missing value for block clause",
        ),
        tree("paren nesting normal", "{{ (( 1 )) }}", "{{((1))}}"),
        tree("paren nesting in pipeline", "{{ ((( 1 ))) | printf }}", "{{(((1))) | printf}}"),
        tree("paren nesting with other constructs", "{{ if ((( true ))) }}YES{{ end }}", "{{if (((true)))}}YES{{end}}"),
    ]);
}

/// Go's `errorTests`: each message must contain Go's words.
#[test]
fn go_error_tests() {
    check_all(&[
        err_contains("unclosed1", "line1\n{{", "unclosed1:2: unclosed action"),
        err_contains("unclosed2", "line1\n{{define `x`}}line2\n{{", "unclosed2:3: unclosed action"),
        err_contains("unclosed3", "line1\n{{\"x\"\n\"y\"\n", "unclosed3:4: unclosed action started at unclosed3:2"),
        err_contains("unclosed4", "{{\n\n\n\n\n", "unclosed4:6: unclosed action started at unclosed4:1"),
        err_contains("var1", "line1\n{{\nx\n}}", r#"var1:3: function "x" not defined"#),
        err_contains("function", "{{foo}}", r#"function "foo" not defined"#),
        err_contains("comment1", "{{/*}}", "comment1:1: unclosed comment"),
        err_contains("comment2", "{{/*\nhello\n}}", "comment2:1: unclosed comment"),
        err_contains("lparen", "{{.X (1 2 3}}", "unclosed left paren"),
        err_contains("rparen", "{{.X 1 2 3 ) }}", "unexpected right paren"),
        err_contains("rparen2", "{{(.X 1 2 3", "unclosed action"),
        err_contains("space", "{{`x`3}}", "in operand"),
        err_contains("idchar", "{{a#}}", "'#'"),
        err_contains("charconst", "{{'a}}", "unterminated character constant"),
        err_contains("stringconst", r#"{{"a}}"#, "unterminated quoted string"),
        err_contains("rawstringconst", "{{`a}}", "unterminated raw quoted string"),
        err_contains("number", "{{0xi}}", "number syntax"),
        err_contains("multidefine", "{{define `a`}}a{{end}}{{define `a`}}b{{end}}", "multiple definition of template"),
        err_contains("eof", "{{range .X}}", "unexpected EOF"),
        err_contains("variable", "{{$x := 23}}{{with $x.y := 3}}{{$x 23}}{{end}}", r#"unexpected ":=""#),
        err_contains("multidecl", "{{$a,$b,$c := 23}}", "too many declarations"),
        err_contains("undefvar", "{{$a}}", "undefined variable"),
        err_contains("wrongdot", "{{true.any}}", "unexpected . after term"),
        err_contains("wrongpipeline", "{{12|false}}", "non executable command in pipeline"),
        err_contains("emptypipeline", "{{ ( ) }}", "missing value for parenthesized pipeline"),
        err_contains("multilinerawstring", "{{ $v := `\n` }} {{", "multilinerawstring:2: unclosed action"),
        err_contains("rangeundefvar", "{{range $k}}{{end}}", "undefined variable"),
        err_contains("rangeundefvars", "{{range $k, $v}}{{end}}", "undefined variable"),
        err_contains("rangemissingvalue1", "{{range $k,}}{{end}}", "missing value for range"),
        err_contains("rangemissingvalue2", "{{range $k, $v := }}{{end}}", "missing value for range"),
        err_contains("rangenotvariable1", "{{range $k, .}}{{end}}", "range can only initialize variables"),
        err_contains("rangenotvariable2", "{{range $k, 123 := .}}{{end}}", "range can only initialize variables"),
    ]);
}

/// Go's `TestBlock`: a block is a template call plus a definition.
#[test]
fn go_block() {
    let mut set = Templates::new(Funcs::new(), Options::default());
    set.parse("outer", r#"a{{block "inner" .}}bar{{.}}baz{{end}}b"#).unwrap();
    assert_eq!(set.tree_text("outer").as_deref(), Some(r#"a{{template "inner" .}}b"#));
    assert_eq!(set.tree_text("inner").as_deref(), Some("bar{{.}}baz"));
}

/// Go's `isEmptyTests` seen through redefinition: an empty text does not replace a template.
#[test]
fn go_is_empty() {
    for (name, input, empty) in [
        ("empty", "", true),
        ("nonempty", "hello", false),
        ("spaces only", " \t\n \t\n", true),
        ("comment only", "{{/* comment */}}", true),
        ("definition", r#"{{define "x"}}something{{end}}"#, true),
        ("definitions and space", "{{define `x`}}something{{end}}\n\n{{define `y`}}something{{end}}\n\n", true),
        ("definitions and text", "{{define `x`}}something{{end}}\nx\n{{define `y`}}something{{end}}\ny\n", false),
        ("definition and action", "{{define `x`}}something{{end}}{{if 3}}foo{{end}}", false),
    ] {
        let mut set = Templates::new(Funcs::new(), Options::default());
        set.parse("root", "before").unwrap();
        set.parse("root", input).unwrap();
        let kept = set.tree_text("root").as_deref() == Some("before");
        assert_eq!(kept, empty, "{name}");
    }
}
