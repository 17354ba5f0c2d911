//! `values.schema.json` against Helm: a chart of our own with a schema, and a subchart with
//! one (`tests/data/helm/schema/chart`), rendered with each case of `cases.json` as user values;
//! `expected.json` is what Helm 4.2.3's Go SDK said of each (its error, or null where it
//! renders), recorded by `record.py` beside them.
//!
//! Helm lists the errors of one chart in the order of its validator's hash maps, which changes
//! from run to run; the messages are compared with siblings sorted (ours are sorted already).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::snapshot;
use flotilla_core::helm;
use serde_json::Value;

/// Cases where we knowingly differ from Helm, with our message.
const KNOWN: &[(&str, &str)] = &[(
    // FIXME: Helm's coalescing fails first ("type mismatch on db: %!t(string=big)"); ours keeps
    // the value, and the schema check names it.
    "subchart-not-a-map",
    "values don't meet the specifications of the schema(s) in the following chart(s):\n\
     db:\n\
     invalid type for values: expected object (map), got string",
)];

/// The message with the lines under each chart (and under each group) in sorted order.
fn canonical(text: &str) -> String {
    fn sort(lines: &[&str], depth: usize) -> Vec<String> {
        let indent = "  ".repeat(depth);
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let mut end = i + 1;
            while end < lines.len() && lines[end].starts_with(&format!("{indent}  ")) {
                end += 1;
            }
            let mut block = vec![lines[i].to_string()];
            block.extend(sort(&lines[i + 1..end], depth + 1));
            blocks.push(block);
            i = end;
        }
        blocks.sort();
        blocks.concat()
    }
    let mut out = Vec::new();
    let mut chart: Vec<&str> = Vec::new();
    for line in text.trim_end().lines() {
        if line.starts_with("- ") || line.starts_with("  ") {
            chart.push(line);
        } else {
            out.extend(sort(&chart, 0));
            chart.clear();
            out.push(line.to_string());
        }
    }
    out.extend(sort(&chart, 0));
    out.join("\n")
}

#[test]
fn values_that_break_a_schema_fail_as_helm_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/schema");
    let cases: BTreeMap<String, Value> =
        serde_json::from_str(&fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let want: BTreeMap<String, Option<String>> =
        serde_json::from_str(&fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let chart = snapshot(&dir.join("chart"));
    let mut failures = Vec::new();
    for (name, values) in &cases {
        let options = helm::Options {
            release_name: "flotilla".into(),
            values: values.as_object().unwrap().clone(),
            ..helm::Options::default()
        };
        let got = helm::render(&chart, "", &options).err().map(|e| e.to_string());
        let wanted = match KNOWN.iter().find(|(case, _)| case == name) {
            Some((_, ours)) => Some((*ours).to_string()),
            None => want[name].as_deref().map(canonical),
        };
        if got.as_deref().map(canonical) != wanted {
            failures.push(format!("{name}:\n  got  {got:?}\n  want {wanted:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
