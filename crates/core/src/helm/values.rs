//! Values as Helm computes them (`pkg/chart/common/util/coalesce.go` and
//! `pkg/chart/v2/util/dependencies.go`): a chart's defaults coalesced under the user's values
//! (the user wins, maps merge deeply, a `null` deletes a default), each subchart's values under
//! its name or alias with `global` passed down, and the dependencies that a `condition` or the
//! `tags` turn off removed, `import-values` copied up.
//!
//! Values are JSON-shaped (`serde_json`), as Helm's are after its YAML → JSON decoding.

use serde_json::{Map, Value as Json};

use super::chart::{Chart, Dependency};

const GLOBAL: &str = "global";

/// Helm's `ProcessDependencies` and `CoalesceValues` for a whole chart: drops disabled
/// subcharts (conditions, tags), renames aliased ones, imports values, and returns the
/// coalesced values of the chart.
pub fn prepare(chart: &mut Chart, user: &Map<String, Json>) -> Map<String, Json> {
    process_enabled(chart, user, "");
    process_import_values(chart);
    coalesce(chart, user.clone())
}

/// Helm's `mergeMaps` (how `--values` files and `--set` add up before coalescing): `src` over
/// `dst`, maps merged deeply, anything else replaced, a `null` kept (coalescing then deletes
/// the chart's default under it).
pub fn merge(dst: &mut Map<String, Json>, src: Map<String, Json>) {
    for (key, value) in src {
        match (dst.get_mut(&key), value) {
            (Some(Json::Object(d)), Json::Object(s)) => merge(d, s),
            (_, value) => {
                dst.insert(key, value);
            }
        }
    }
}

/// Helm's `CoalesceValues`: `user` over the chart's defaults, subcharts included.
pub fn coalesce(chart: &Chart, mut dest: Map<String, Json>) -> Map<String, Json> {
    coalesce_values(chart, &mut dest);
    coalesce_deps(chart, &mut dest);
    dest
}

fn coalesce_values(chart: &Chart, v: &mut Map<String, Json>) {
    for (key, val) in &chart.values {
        match v.get_mut(key) {
            Some(Json::Null) => {
                v.remove(key);
            }
            Some(Json::Object(dest)) => {
                if let Json::Object(src) = val {
                    // A subchart's values keep their nulls here: its own coalescing uses them
                    // to delete its defaults (Helm's `childChartMergeTrue`).
                    let merge = chart.subcharts.iter().any(|s| s.name == *key);
                    let mut src = src.clone();
                    if !merge {
                        clean_nulls(&mut src);
                    }
                    coalesce_tables(dest, &src, merge);
                }
            }
            Some(_) => {}
            // A default's nulls are dropped (Helm 4.2): only a user's null stays.
            None => match val {
                Json::Null => {}
                Json::Object(sub) => {
                    let mut sub = sub.clone();
                    clean_nulls(&mut sub);
                    v.insert(key.clone(), Json::Object(sub));
                }
                other => {
                    v.insert(key.clone(), other.clone());
                }
            },
        }
    }
}

/// Helm's `cleanNilValues`: null entries removed, in nested maps too.
fn clean_nulls(map: &mut Map<String, Json>) {
    map.retain(|_, v| !v.is_null());
    for v in map.values_mut() {
        if let Json::Object(sub) = v {
            clean_nulls(sub);
        }
    }
}

fn coalesce_deps(chart: &Chart, dest: &mut Map<String, Json>) {
    for sub in &chart.subcharts {
        let mut sub_values = match dest.remove(&sub.name) {
            None => Map::new(),
            Some(Json::Object(m)) => m,
            // Helm fails here ("type mismatch"); keep the value and render without it.
            Some(other) => {
                dest.insert(sub.name.clone(), other);
                continue;
            }
        };
        coalesce_globals(&mut sub_values, dest);
        let merged = coalesce(sub, sub_values);
        dest.insert(sub.name.clone(), Json::Object(merged));
    }
}

/// Helm's `coalesceGlobals`: the parent's `global` merged into the child's, the parent's
/// scalars winning and its maps merged over the child's.
fn coalesce_globals(dest: &mut Map<String, Json>, src: &Map<String, Json>) {
    let mut dg = match dest.get(GLOBAL) {
        None => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.get(GLOBAL) {
        None => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
    };
    for (key, val) in sg {
        match val {
            Json::Object(vv) => {
                let mut vv = vv.clone();
                match dg.get(&key) {
                    None => {
                        dg.insert(key, Json::Object(vv));
                    }
                    Some(Json::Object(destv)) => {
                        coalesce_tables(&mut vv, destv, true);
                        dg.insert(key, Json::Object(vv));
                    }
                    Some(_) => {}
                }
            }
            other => {
                if !matches!(dg.get(&key), Some(Json::Object(_))) {
                    dg.insert(key, other);
                }
            }
        }
    }
    dest.insert(GLOBAL.to_string(), Json::Object(dg));
}

/// Helm's `coalesceTablesFullKey`: `src`'s keys that `dst` lacks copied in, maps merged
/// deeply; a `null` in `dst` deletes a key `src` has a value for, unless merging (a `null`
/// for a key `src` has no value for stays).
fn coalesce_tables(dst: &mut Map<String, Json>, src: &Map<String, Json>, merge: bool) {
    let mut src = src.clone();
    let src_non_null: Vec<String> = src.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect();
    for (key, val) in dst.iter() {
        if val.is_null() {
            src.insert(key.clone(), Json::Null);
        }
    }
    for (key, val) in src {
        match dst.get_mut(&key) {
            Some(Json::Null) if !merge && src_non_null.contains(&key) => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(Json::Object(dv)) => {
                if let Json::Object(sv) = &val {
                    coalesce_tables(dv, sv, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Helm's `processDependencyEnabled`: aliases applied, then the dependencies whose condition or
/// tags say no removed, recursively.
fn process_enabled(chart: &mut Chart, user: &Map<String, Json>, path: &str) {
    // Helm stops at a chart that declares no dependencies (its subcharts are kept as they are).
    if chart.dependencies.is_empty() {
        return;
    }
    let declared = chart.dependencies.clone();
    let existing = std::mem::take(&mut chart.subcharts);
    let mut kept: Vec<Chart> = Vec::new();
    // Charts in charts/ that no declaration names stay as they are.
    for sub in &existing {
        let named = declared.iter().any(|d| d.name == sub.name && compatible(&d.version, sub.version()));
        if !named {
            kept.push(sub.clone());
        }
    }
    let mut deps: Vec<Dependency> = declared;
    for dep in &mut deps {
        if let Some(found) = existing.iter().find(|c| c.name == dep.name && compatible(&dep.version, c.version())) {
            let mut sub = found.clone();
            if !dep.alias.is_empty() {
                sub.name.clone_from(&dep.alias);
            }
            kept.push(sub);
        }
        if !dep.alias.is_empty() {
            dep.name.clone_from(&dep.alias);
        }
    }
    chart.subcharts = kept;
    if deps.is_empty() {
        return;
    }
    let values = Json::Object(coalesce(chart, user.clone()));
    let mut disabled = Vec::new();
    for dep in &deps {
        let mut enabled = true;
        if let Some(Json::Object(tags)) = values.get("tags") {
            let (mut has_true, mut has_false) = (false, false);
            for tag in &dep.tags {
                match tags.get(tag) {
                    Some(Json::Bool(true)) => has_true = true,
                    Some(Json::Bool(false)) => has_false = true,
                    _ => {}
                }
            }
            enabled = has_true || !has_false;
        }
        for condition in dep.condition.trim().split(',') {
            if condition.is_empty() {
                continue;
            }
            if let Some(Json::Bool(b)) = path_value(&values, &format!("{path}{condition}")) {
                enabled = *b;
                break;
            }
        }
        if !enabled {
            disabled.push(dep.name.clone());
        }
    }
    chart.subcharts.retain(|c| !disabled.contains(&c.name));
    deps.retain(|d| !disabled.contains(&d.name));
    let Json::Object(values) = values else { unreachable!("built as an object above") };
    for sub in &mut chart.subcharts {
        let sub_path = format!("{path}{}.", sub.name);
        process_enabled(sub, &values, &sub_path);
    }
    chart.dependencies = deps;
}

/// Helm's `Values.PathValue`: a dotted path to a value (not a map).
fn path_value<'a>(values: &'a Json, path: &str) -> Option<&'a Json> {
    let mut at = values;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    if at.is_object() { None } else { Some(at) }
}

/// Helm's `processImportValues` (merge off): each dependency's `import-values` copied from the
/// subchart's values into the parent's, the parent's own values winning.
fn process_import_values(chart: &mut Chart) {
    for sub in &mut chart.subcharts {
        process_import_values(sub);
    }
    let mut imported = Map::new();
    let mut any = false;
    for dep in &chart.dependencies {
        let Some(sub) = chart.subcharts.iter().find(|c| c.name == dep.name) else { continue };
        if dep.import_values.is_empty() {
            continue;
        }
        any = true;
        let sub_values = Json::Object(coalesce(sub, Map::new()));
        for import in &dep.import_values {
            let (child, parent) = match import {
                Json::String(s) => (format!("exports.{s}"), String::new()),
                Json::Object(m) => (
                    m.get("child").map(super::chart::scalar_text).unwrap_or_default(),
                    m.get("parent").map(super::chart::scalar_text).unwrap_or_default(),
                ),
                _ => continue,
            };
            let mut at = &sub_values;
            let mut found = true;
            for part in child.split('.') {
                let Some(v) = at.get(part) else {
                    found = false;
                    break;
                };
                at = v;
            }
            let Json::Object(table) = at else { continue };
            if !found {
                continue;
            }
            if parent.is_empty() {
                imported = merge_over(imported, table);
            } else {
                let mut nested = Map::new();
                set_path(&mut nested, &parent, Json::Object(table.clone()));
                imported = merge_over(imported, &nested);
            }
        }
    }
    if any {
        // The chart's own values win over imported ones.
        let mut values = imported;
        let own = std::mem::take(&mut chart.values);
        values = merge_over(values, &own);
        chart.values = values;
    }
}

/// `over` merged deeply onto `base` (`over` wins).
fn merge_over(mut base: Map<String, Json>, over: &Map<String, Json>) -> Map<String, Json> {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Json::Object(b)), Json::Object(o)) => {
                let merged = merge_over(std::mem::take(b), o);
                *b = merged;
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

fn set_path(map: &mut Map<String, Json>, path: &str, value: Json) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = map.entry(head.to_string()).or_insert_with(|| Json::Object(Map::new()));
            if !entry.is_object() {
                *entry = Json::Object(Map::new());
            }
            if let Json::Object(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

/// Helm's `IsCompatibleRange`: whether a subchart's version satisfies a dependency's version
/// constraint (no constraint: any).
fn compatible(constraint: &str, version: &str) -> bool {
    constraint.is_empty() || flotilla_template::semver::satisfies(constraint, version).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn user_values_win_maps_merge_and_null_deletes_a_default() {
        let chart = Chart {
            values: obj(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4, "keep": null})),
            name: "x".into(),
            ..Chart::default()
        };
        let got = coalesce(&chart, obj(json!({"a": 9, "b": {"c": null, "f": 5, "g": null}, "e": null, "h": null})));
        // As Helm 4.2 renders it: a default's null is dropped, a user's null for a key without
        // a default stays.
        assert_eq!(Json::Object(got), json!({"a": 9, "b": {"d": 3, "f": 5, "g": null}, "h": null}));
    }

    #[test]
    fn globals_pass_down_and_subchart_values_nest_under_its_name() {
        let sub =
            Chart { values: obj(json!({"x": 1, "global": {"g": 0, "h": 1}})), name: "sub".into(), ..Chart::default() };
        let chart = Chart {
            values: obj(json!({"global": {"g": 2}, "sub": {"x": 3}})),
            name: "top".into(),
            subcharts: vec![sub],
            ..Chart::default()
        };
        let got = coalesce(&chart, Map::new());
        assert_eq!(got["sub"], json!({"x": 3, "global": {"g": 2, "h": 1}}));
    }
}
