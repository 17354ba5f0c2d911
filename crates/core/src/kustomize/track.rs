//! `buildMetadata`: where each resource came from (`originAnnotations`), which transformers
//! ran over it (`transformerAnnotations`), and kustomize's `managed-by` label
//! (`managedByLabel`). Tracked only when the kustomization rendered at the top asks for any
//! of them, as kustomize does; paths are relative to the top folder.

use serde_json::{Map, Value, json};

use super::resource::Resource;

pub const ORIGIN: &str = "config.kubernetes.io/origin";
pub const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// What kubectl's kustomize (built without a version of its own) writes in the label.
pub const MANAGED_BY_VALUE: &str = "kustomize-(devel)";

/// The options `buildMetadata` may list.
pub const OPTIONS: [&str; 3] = ["originAnnotations", "transformerAnnotations", "managedByLabel"];

/// `path` (from the repository's root) as seen from folder `top`.
pub fn relative(top: &str, path: &str) -> String {
    let from: Vec<&str> = top.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// The origin of a resource read from the file at `path`.
pub fn from_file(top: &str, path: &str) -> String {
    format!("path: {}\n", relative(top, path))
}

/// The origin of a generated resource, or a transformation entry: the file that configured
/// the built-in plugin `kind` (and its name, for a plugin configuration).
pub fn configured(top: &str, file: &str, kind: &str, name: Option<&str>) -> String {
    let mut out =
        format!("configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n", relative(top, file));
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        out.push_str("  name: ");
        out.push_str(name);
        out.push('\n');
    }
    out
}

/// Notes that a transformer ran over every resource there is.
pub fn ran(res: &mut [Resource], entry: &str) {
    for r in res {
        r.transformations.push(entry.to_string());
    }
}

/// Writes what the top kustomization's `buildMetadata` asks for into the objects.
pub fn finish(res: &mut [Resource], options: &[String]) {
    let wants = |o: &str| options.iter().any(|x| x == o);
    for r in res {
        if wants("originAnnotations")
            && let Some(origin) = r.origin.clone()
        {
            annotations(r).insert(ORIGIN.into(), json!(origin));
        }
        if wants("transformerAnnotations") && !r.transformations.is_empty() {
            let list: String = r
                .transformations
                .iter()
                .map(|entry| {
                    entry
                        .lines()
                        .enumerate()
                        .map(|(i, l)| if i == 0 { format!("- {l}\n") } else { format!("  {l}\n") })
                        .collect::<String>()
                })
                .collect();
            annotations(r).insert(TRANSFORMATIONS.into(), json!(list));
        }
        if wants("managedByLabel") {
            let md = r.metadata_mut();
            let labels = md.entry("labels").or_insert_with(|| Value::Object(Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(Map::new());
            }
            labels.as_object_mut().expect("made a mapping above").insert(MANAGED_BY.into(), json!(MANAGED_BY_VALUE));
        }
    }
}

fn annotations(r: &mut Resource) -> &mut Map<String, Value> {
    let md = r.metadata_mut();
    let a = md.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if !a.is_object() {
        *a = Value::Object(Map::new());
    }
    a.as_object_mut().expect("made a mapping above")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_top_folder() {
        assert_eq!(relative("", "base/all.yaml"), "base/all.yaml");
        assert_eq!(relative("overlays/prod", "overlays/prod/kustomization.yaml"), "kustomization.yaml");
        assert_eq!(relative("overlays/prod", "base/deploy.yaml"), "../../base/deploy.yaml");
        assert_eq!(relative("apps/a", "apps/b/x.yaml"), "../b/x.yaml");
    }
}
