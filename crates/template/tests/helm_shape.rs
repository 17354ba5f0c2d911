//! What Helm needs of the engine, shown with stand-ins: `include` and `tpl` as functions that
//! execute through their [`Context`], Helm's objects (`.Release`, `.Capabilities`, `.Files`)
//! as [`Struct`]s, values decoded through JSON (floats), `missingkey=zero` and the
//! `<no value>` Helm removes afterwards. The real Helm functions are the next step.

use flotilla_template::{Arity, Context, Funcs, JsonNumbers, MissingKey, Options, Struct, Templates, Value};

fn helm_like_funcs() -> Funcs {
    let mut funcs = Funcs::new();
    funcs.insert("include", Arity::Exactly(2), |ctx: &dyn Context, a: &[Value]| {
        let name = a[0].as_str().ok_or("include wants a template name")?;
        ctx.execute(name, &a[1]).map(Value::String)
    });
    funcs.insert("tpl", Arity::Exactly(2), |ctx: &dyn Context, a: &[Value]| {
        let text = a[0].as_str().ok_or("tpl wants a string")?;
        ctx.execute_text("gotpl", text, &a[1]).map(Value::String)
    });
    funcs
}

fn chart_data() -> Value {
    let values = serde_json::json!({"replicas": 1_000_000, "name": "web", "image": {"tag": "1.2"}, "msg": "{{ .Values.name }}-x"});
    let api_versions = ["v1", "apps/v1"];
    Value::map([
        ("Values", Value::from_json(&values, JsonNumbers::Float)),
        ("Release", Struct::new("chartutil.ReleaseOptions").field("Name", "rel").field("Namespace", "ns").into_value()),
        (
            "Capabilities",
            Struct::new("*chartutil.Capabilities")
                .field(
                    "APIVersions",
                    Struct::new("chartutil.VersionSet")
                        .method("Has", move |a| match a {
                            [Value::String(v)] => Ok(Value::Bool(api_versions.contains(&v.as_str()))),
                            _ => Err(format!("wrong number of args for Has: want 1 got {}", a.len())),
                        })
                        .into_value(),
                )
                .into_value(),
        ),
        (
            "Files",
            Struct::new("engine.files")
                .method("Get", |a| match a {
                    [Value::String(name)] if name == "config.ini" => Ok(Value::from("a=1\n")),
                    [Value::String(_)] => Ok(Value::from("")),
                    _ => Err("Get wants a name".to_string()),
                })
                .into_value(),
        ),
    ])
}

fn render(text: &str, options: Options) -> Result<String, String> {
    let mut set = Templates::new(helm_like_funcs(), options);
    set.parse(
        "mychart/templates/_helpers.tpl",
        r#"{{- define "mychart.fullname" -}}{{ .Release.Name }}-{{ .Values.name }}{{- end }}"#,
    )
    .map_err(|e| e.to_string())?;
    set.parse("mychart/templates/deploy.yaml", text).map_err(|e| e.to_string())?;
    // Helm removes what a missing value printed.
    set.execute("mychart/templates/deploy.yaml", &chart_data())
        .map(|out| out.replace("<no value>", ""))
        .map_err(|e| e.to_string())
}

fn helm_options() -> Options {
    Options { missing_key: MissingKey::Zero, ..Options::default() }
}

#[test]
fn include_tpl_objects_and_float_values_render_as_helm() {
    let text = r#"name: {{ include "mychart.fullname" . }}
replicas: {{ .Values.replicas }}
tag: {{ .Values.image.tag | printf "%q" }}
ns: {{ .Release.Namespace }}
{{- if .Capabilities.APIVersions.Has "apps/v1" }}
apiVersion: apps/v1
{{- end }}
missing: {{ .Values.nope }}
msg: {{ tpl .Values.msg . }}
ini: {{ .Files.Get "config.ini" | printf "%q" }}
"#;
    let want = "name: rel-web\nreplicas: 1e+06\ntag: \"1.2\"\nns: ns\napiVersion: apps/v1\nmissing: \nmsg: web-x\nini: \"a=1\\n\"\n";
    assert_eq!(render(text, helm_options()), Ok(want.to_string()));
}

#[test]
fn a_field_of_a_missing_value_fails_under_helm_s_options() {
    assert_eq!(
        render("{{ .Values.nope.deeper }}", helm_options()),
        Err(r#"template: mychart/templates/deploy.yaml:1:10: executing "mychart/templates/deploy.yaml" at <.Values.nope.deeper>: nil pointer evaluating interface {}.deeper"#.to_string())
    );
}

#[test]
fn an_include_error_names_the_included_template() {
    let mut set = Templates::new(helm_like_funcs(), helm_options());
    set.parse("t", r#"{{define "bad"}}{{ len . }}{{end}}{{ include "bad" 3 }}"#).unwrap();
    assert_eq!(
        set.execute("t", &Value::Nil).map_err(|e| e.to_string()),
        Err(r#"template: t:1:37: executing "t" at <include "bad" 3>: error calling include: template: t:1:19: executing "bad" at <len .>: error calling len: len of type int"#.to_string())
    );
}

#[test]
fn recursion_through_include_stops_at_the_depth_limit() {
    let mut set = Templates::new(helm_like_funcs(), Options { max_depth: 5, ..helm_options() });
    set.parse("t", r#"{{define "r"}}{{ include "r" . }}{{end}}{{ include "r" . }}"#).unwrap();
    let err = set.execute("t", &Value::Nil).unwrap_err().to_string();
    assert!(err.ends_with("error calling include: exceeded maximum template depth (5)"), "{err}");
}

/// Deep nesting is refused before it can overflow the stack.
#[test]
fn nesting_beyond_the_limit_is_an_error_not_a_crash() {
    let deep = format!("{{{{{}1{}}}}}", "(".repeat(2000), ")".repeat(2000));
    let mut set = Templates::new(Funcs::new(), Options::default());
    assert_eq!(
        set.parse("deep", &deep).map_err(|e| e.to_string()),
        Err("template: deep:1: max expression depth exceeded".to_string())
    );
    let blocks = format!("{}x{}", "{{if 1}}".repeat(2000), "{{end}}".repeat(2000));
    assert_eq!(
        set.parse("blocks", &blocks).map_err(|e| e.to_string()),
        Err("template: blocks:1: max expression depth exceeded".to_string())
    );
}

/// Go's maps are shared: what `set` writes into dot, a later reading of dot sees (Helm charts
/// compute flags this way: `{{- $_ := set . "enabled" true -}}`).
#[test]
fn set_changes_the_map_every_holder_sees() {
    let mut funcs = Funcs::new();
    flotilla_template::sprig::add_to(&mut funcs);
    let mut set = Templates::new(funcs, helm_options());
    set.parse("t", r#"{{define "flag"}}{{ $_ := set . "on" true }}{{end}}{{ template "flag" . }}{{ .on }} {{ $d := dict }}{{ $_ := set $d "k" 1 }}{{ $d.k }}"#)
        .unwrap();
    let data = Value::map([("x", Value::Int(0))]);
    assert_eq!(set.execute("t", &data).map_err(|e| e.to_string()), Ok("true 1".to_string()));
    let Value::Map(m) = &data else { unreachable!() };
    assert_eq!(m.get("on"), Some(Value::Bool(true)));
}

/// A text that would run for hours (or fill memory) stops at the step and output budgets.
#[test]
fn loops_stop_at_the_step_budget_and_output_at_its_limit() {
    let mut funcs = Funcs::new();
    flotilla_template::sprig::add_to(&mut funcs);
    let mut set = Templates::new(funcs.clone(), Options { max_steps: 10_000, ..helm_options() });
    set.parse("t", "{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}").unwrap();
    let err = set.execute("t", &Value::Nil).unwrap_err().to_string();
    assert!(err.ends_with("exceeded the step budget (10000)"), "{err}");
    // The budget is per execution: a second one starts afresh.
    set.parse("small", "{{ range until 10 }}x{{ end }}").unwrap();
    assert_eq!(set.execute("small", &Value::Nil).unwrap(), "xxxxxxxxxx");

    let mut set = Templates::new(funcs, Options { max_output_bytes: 1000, ..helm_options() });
    set.parse("t", r#"{{ range until 1000 }}{{ repeat 10 "x" }}{{ end }}"#).unwrap();
    let err = set.execute("t", &Value::Nil).unwrap_err().to_string();
    assert!(err.ends_with("output larger than 1000 bytes"), "{err}");
}
