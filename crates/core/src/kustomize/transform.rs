//! The built-in transformers of one kustomization, in kustomize's fixed order:
//! patchesStrategicMerge, patches, namespace, namePrefix, nameSuffix, labels and commonLabels,
//! commonAnnotations, patchesJson6902, replicas, images, replacements.

use serde_json::{Map, Value, json};

use super::config::Config;
use super::kustomization::{Kustomization, Patch, PatchOptions};
use super::resource::{FieldSpec, Gvk, Resource, visit};
use super::smp::{self, Outcome};
use super::{Ctx, Error, Target};

/// Runs the built-in transformers of `k` over `res`, looking for fields where `config` says.
pub fn run(ctx: &Ctx<'_>, k: &Kustomization, config: &Config, res: &mut Vec<Resource>) -> Result<(), Error> {
    for (i, entry) in k.patches_strategic_merge.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let text = patch_text(ctx, &field, entry)?;
        let docs = crate::yaml::load_objects(text.as_bytes()).map_err(|e| ctx.field_error(&field, e.to_string()))?;
        for doc in docs {
            smp_by_id(ctx, &field, res, &doc, None)?;
        }
    }
    if !k.patches_strategic_merge.is_empty() {
        ctx.ran(res, "PatchStrategicMergeTransformer");
    }
    for (i, p) in k.patches.iter().enumerate() {
        patch(ctx, &format!("patches[{i}]"), res, p, false)?;
        ctx.ran(res, "PatchTransformer");
    }
    if let Some(ns) = k.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        namespace(res, ns, &config.namespace, &NamespaceMode::default())
            .map_err(|e| ctx.field_error("namespace", e))?;
        ctx.ran(res, "NamespaceTransformer");
    }
    let prefix = k.name_prefix.as_deref().unwrap_or_default();
    let suffix = k.name_suffix.as_deref().unwrap_or_default();
    if !prefix.is_empty() {
        prefix_suffix(res, prefix, "", &config.name_prefix);
        ctx.ran(res, "PrefixTransformer");
    }
    if !suffix.is_empty() {
        prefix_suffix(res, "", suffix, &config.name_suffix);
        ctx.ran(res, "SuffixTransformer");
    }
    for (i, entry) in k.labels.iter().enumerate() {
        // An entry's own fields, then where kustomize puts labels by default: selectors and
        // templates too, templates too, or metadata only.
        let mut specs = entry.fields.clone();
        let defaults = if entry.include_selectors {
            config.common_labels.clone()
        } else if entry.include_templates {
            config.template_labels.clone()
        } else {
            vec![FieldSpec { group: None, version: None, kind: None, path: "metadata/labels".into(), create: true }]
        };
        super::config::merge_specs(&mut specs, &defaults)
            .map_err(|e| ctx.field_error(format!("labels[{i}].fields"), e))?;
        set_maps(res, &entry.pairs, &specs);
        ctx.ran(res, "LabelTransformer");
    }
    if !k.common_labels.is_empty() {
        set_maps(res, &k.common_labels, &config.common_labels);
    }
    // kustomize configures the commonLabels transformer beside any `labels`, empty or not.
    if !k.common_labels.is_empty() || !k.labels.is_empty() {
        ctx.ran(res, "LabelTransformer");
    }
    if !k.common_annotations.is_empty() {
        set_maps(res, &k.common_annotations, &config.common_annotations);
        ctx.ran(res, "AnnotationsTransformer");
    }
    for (i, p) in k.patches_json6902.iter().enumerate() {
        patch(ctx, &format!("patchesJson6902[{i}]"), res, p, true)?;
        ctx.ran(res, "PatchJson6902Transformer");
    }
    for (i, r) in k.replicas.iter().enumerate() {
        replicas(res, &r.name, r.count, &config.replicas).map_err(|e| ctx.field_error(format!("replicas[{i}]"), e))?;
        ctx.ran(res, "ReplicaCountTransformer");
    }
    for (i, image) in k.images.iter().enumerate() {
        images(ctx, &format!("images[{i}]"), res, image, &config.images)?;
        ctx.ran(res, "ImageTagTransformer");
    }
    super::replacements::run(ctx, &k.replacements, res)?;
    Ok(())
}

/// A patch given as a file path or inline text (kustomize accepts both in these lists).
pub(super) fn patch_text(ctx: &Ctx<'_>, field: &str, entry: &str) -> Result<String, Error> {
    let looks_inline = entry.contains('\n') || entry.trim_start().starts_with(['{', '[']) || entry.contains(": ");
    if looks_inline {
        return Ok(entry.to_string());
    }
    let (_, bytes) = ctx.read(field, entry)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ctx.field_error(field, format!("{entry:?} is not UTF-8 text")))
}

/// Applies a strategic merge patch to the resource its own kind, name and namespace name.
pub(super) fn smp_by_id(
    ctx: &Ctx<'_>,
    field: &str,
    res: &mut Vec<Resource>,
    doc: &Value,
    options: Option<&PatchOptions>,
) -> Result<(), Error> {
    let gvk = Gvk::of(doc);
    let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let ns = doc.pointer("/metadata/namespace").and_then(Value::as_str);
    let hits: Vec<usize> = res
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let g = r.gvk();
            g.kind == gvk.kind
                && (gvk.group.is_empty() || g.group == gvk.group)
                && (gvk.version.is_empty() || g.version == gvk.version)
                && r.was_named(name)
                && ns.is_none_or(|ns| r.namespace() == ns || r.previous.iter().any(|(n, _)| n == ns))
        })
        .map(|(i, _)| i)
        .collect();
    let id = format!("{}/{name}", gvk.kind);
    match hits.as_slice() {
        [] => Err(Error::Patch {
            file: ctx.file.to_string(),
            field: field.to_string(),
            message: format!("no resource matches strategic merge patch {id}"),
        }),
        [i] => apply_smp(ctx, field, res, *i, doc, options),
        _ => Err(Error::Patch {
            file: ctx.file.to_string(),
            field: field.to_string(),
            message: format!(
                "strategic merge patch {id} matches {} resources; give a namespace or a target",
                hits.len()
            ),
        }),
    }
}

fn apply_smp(
    ctx: &Ctx<'_>,
    field: &str,
    res: &mut Vec<Resource>,
    i: usize,
    doc: &Value,
    options: Option<&PatchOptions>,
) -> Result<(), Error> {
    let r = &mut res[i];
    let schema = ctx.meter.schema.borrow().custom();
    let mut body = smp::body(doc);
    // kustomize keeps the object's name and kind unless the patch's options allow a change;
    // then it stores the id first, and references follow the new name.
    let allow_name = options.is_some_and(|o| o.allow_name_change);
    let allow_kind = options.is_some_and(|o| o.allow_kind_change);
    if allow_name || allow_kind {
        r.remember();
    }
    if let (true, Some(name)) = (allow_name, doc.pointer("/metadata/name"))
        && let Some(body) = body.as_object_mut()
    {
        let md = body.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if let Some(md) = md.as_object_mut() {
            md.insert("name".into(), name.clone());
        }
    }
    if let (true, Some(kind), Some(body)) = (allow_kind, doc.get("kind"), body.as_object_mut()) {
        body.insert("kind".into(), kind.clone());
    }
    match smp::apply_with(&mut r.object, &body, schema.as_deref()) {
        Ok(Outcome::Merged) => Ok(()),
        Ok(Outcome::Deleted) => {
            res.remove(i);
            Ok(())
        }
        Err(message) => Err(Error::Patch {
            file: ctx.file.to_string(),
            field: field.to_string(),
            message: format!("{}: {message}", r.id()),
        }),
    }
}

/// One entry of `patches` (or `patchesJson6902`, which must name a target and be a JSON patch).
pub(super) fn patch(
    ctx: &Ctx<'_>,
    field: &str,
    res: &mut Vec<Resource>,
    p: &Patch,
    json6902_only: bool,
) -> Result<(), Error> {
    let text = match (&p.path, &p.patch) {
        (Some(path), None) => {
            let (_, bytes) = ctx.read(&format!("{field}.path"), path)?;
            String::from_utf8(bytes.to_vec())
                .map_err(|_| ctx.field_error(field, format!("{path:?} is not UTF-8 text")))?
        }
        (None, Some(text)) => text.clone(),
        _ => return Err(ctx.field_error(field, "give exactly one of path and patch")),
    };
    let docs = crate::yaml::load_objects(text.as_bytes()).map_err(|e| ctx.field_error(field, e.to_string()))?;
    let is_json = docs.len() == 1 && docs[0].is_array() || docs.is_empty();
    // kustomize reads a JSON 6902 patch's values as plain data (a date stays text), and a
    // strategic-merge patch as objects.
    let docs = if is_json {
        crate::yaml::load_all(text.as_bytes()).map_err(|e| ctx.field_error(field, e.to_string()))?
    } else {
        docs
    };
    if json6902_only && !is_json {
        return Err(ctx.field_error(field, "patchesJson6902 takes a JSON 6902 patch (a list of operations)"));
    }
    let Some(target) = &p.target else {
        if is_json {
            return Err(ctx.field_error(field, "a JSON 6902 patch needs a target"));
        }
        for doc in &docs {
            smp_by_id(ctx, field, res, doc, p.options.as_ref())?;
        }
        return Ok(());
    };
    let matcher = target.compile().map_err(|e| ctx.field_error(field, e))?;
    let selected: Vec<usize> = res.iter().enumerate().filter(|(_, r)| matcher.matches(r)).map(|(i, _)| i).collect();
    if json6902_only && selected.is_empty() {
        return Err(Error::Patch {
            file: ctx.file.to_string(),
            field: field.to_string(),
            message: format!("no resource matches target {}", describe(target)),
        });
    }
    if is_json {
        let ops = docs.into_iter().next().unwrap_or(Value::Array(Vec::new()));
        for i in selected {
            let r = &mut res[i];
            // kustomize's `patches` stores the id first: a patch may rename, and references
            // follow. Its older `patchesJson6902` does not.
            if !json6902_only {
                r.remember();
            }
            super::json_patch(&mut r.object, &ops).map_err(|e| Error::Patch {
                file: ctx.file.to_string(),
                field: field.to_string(),
                message: format!("{}: {e}", r.id()),
            })?;
        }
        return Ok(());
    }
    // Deleting shifts indexes: apply from the last selected resource backwards.
    for i in selected.into_iter().rev() {
        for doc in &docs {
            apply_smp(ctx, field, res, i, doc, p.options.as_ref())?;
            if i >= res.len() {
                break;
            }
        }
    }
    Ok(())
}

fn describe(t: &Target) -> String {
    let parts: Vec<String> = [
        ("group", &t.group),
        ("version", &t.version),
        ("kind", &t.kind),
        ("name", &t.name),
        ("namespace", &t.namespace),
        ("labelSelector", &t.label_selector),
        ("annotationSelector", &t.annotation_selector),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect();
    parts.join(",")
}

/// kustomize 5.5's namespace transformer: every namespaced resource moves to `ns`, every
/// Namespace object is renamed to it, binding subjects named `default` get it, and so does every
/// other field the namespace field specs name (the services of APIServices and CRD conversion
/// webhooks by default; webhook services and the like through `configurations`).
pub(super) fn namespace(
    res: &mut [Resource],
    ns: &str,
    specs: &[FieldSpec],
    mode: &NamespaceMode,
) -> Result<(), String> {
    // Handled by hand below, as kustomize's filter does.
    let special = |s: &FieldSpec| {
        s.path == "metadata/namespace"
            || (s.path == "metadata/name" && s.kind.as_deref() == Some("Namespace"))
            || (s.path.starts_with("subjects")
                && matches!(s.kind.as_deref(), Some("RoleBinding" | "ClusterRoleBinding")))
    };
    let specs: Vec<&FieldSpec> = specs.iter().filter(|s| !special(s)).collect();
    for r in res.iter_mut() {
        let gvk = r.gvk();
        // With `unsetOnly`, only a field that is missing or empty is set.
        let wanted = |current: &str| current != ns && (!mode.unset_only || current.is_empty());
        // kustomize stores every resource's id before, moved or not.
        r.remember();
        if gvk.kind == "Namespace" && gvk.group.is_empty() {
            if wanted(r.name()) && !mode.unset_only {
                r.metadata_mut().insert("name".into(), json!(ns));
            }
        } else if !gvk.is_cluster_scoped() && wanted(r.namespace()) {
            r.metadata_mut().insert("namespace".into(), json!(ns));
        }
        let set = |v: &mut Value| {
            if wanted(v.as_str().unwrap_or_default()) {
                *v = json!(ns);
            }
        };
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            visit(&mut r.object, &spec.path, spec.create, &mut { set });
        }
        if matches!(gvk.kind.as_str(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.object.get_mut("subjects")
        {
            for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                let hit = match mode.subjects {
                    Subjects::DefaultOnly => s.get("name").and_then(Value::as_str) == Some("default"),
                    Subjects::AllServiceAccounts => s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"),
                    Subjects::None => false,
                };
                if hit {
                    let entry = s.entry("namespace").or_insert(Value::Null);
                    set(entry);
                }
            }
        }
    }
    // Objects of one kind and name from different namespaces become one id: kustomize refuses
    // that rather than emit both.
    let mut seen = std::collections::HashSet::new();
    for r in res.iter() {
        let ns = match r.namespace() {
            "" => "default",
            ns => ns,
        };
        if !seen.insert((r.gvk(), ns.to_string(), r.name().to_string())) {
            return Err(format!("namespace transformation produces ID conflict: two objects would be {}", r.id()));
        }
    }
    Ok(())
}

/// How the namespace transformer treats fields that have a value, and binding subjects (the
/// NamespaceTransformer plugin's `unsetOnly` and `setRoleBindingSubjects`).
#[derive(Debug, Clone, Default)]
pub(super) struct NamespaceMode {
    pub unset_only: bool,
    pub subjects: Subjects,
}

/// Which subjects of a (Cluster)RoleBinding get the namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Subjects {
    /// Those named `default` (kustomize's default, whatever their kind).
    #[default]
    DefaultOnly,
    /// Every ServiceAccount subject.
    AllServiceAccounts,
    None,
}

/// Kinds whose names kustomize leaves alone when prefixing.
fn keeps_name(gvk: &Gvk) -> bool {
    matches!(gvk.kind.as_str(), "CustomResourceDefinition" | "Namespace")
        || (gvk.group == "apiregistration.k8s.io" && gvk.kind == "APIService")
}

/// Prefixes and suffixes names: `metadata/name` (the name the resource is known by), and the
/// other string fields the name prefix field specs add through `configurations`.
pub(super) fn prefix_suffix(res: &mut [Resource], prefix: &str, suffix: &str, specs: &[FieldSpec]) {
    for r in res.iter_mut().filter(|r| !keeps_name(&r.gvk())) {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            if spec.path == "metadata/name" {
                let name = format!("{prefix}{}{suffix}", r.name());
                r.set_name(name);
                if !prefix.is_empty() {
                    r.prefixes.push(prefix.to_string());
                }
                if !suffix.is_empty() {
                    r.suffixes.push(suffix.to_string());
                }
            } else {
                visit(&mut r.object, &spec.path, spec.create, &mut |v| {
                    if let Value::String(s) = v {
                        *s = format!("{prefix}{s}{suffix}");
                    }
                });
            }
        }
    }
}

fn set_pairs(target: &mut Value, pairs: &std::collections::BTreeMap<String, String>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made a mapping above");
    for (k, v) in pairs {
        map.insert(k.clone(), Value::String(v.clone()));
    }
}

/// Sets `pairs` in the maps at `specs` (labels or annotations), making them where a spec says.
pub(super) fn set_maps(res: &mut [Resource], pairs: &std::collections::BTreeMap<String, String>, specs: &[FieldSpec]) {
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            visit(&mut r.object, &spec.path, spec.create, &mut |v| set_pairs(v, pairs));
        }
    }
}

pub(super) fn replicas(res: &mut [Resource], name: &str, count: i64, specs: &[FieldSpec]) -> Result<(), String> {
    let mut found = false;
    for r in res.iter_mut().filter(|r| r.was_named(name)) {
        let gvk = r.gvk();
        // Other kinds that happen to share the name are left alone, as kustomize does.
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            found = true;
            visit(&mut r.object, &spec.path, spec.create, &mut |v| *v = json!(count));
        }
    }
    // kustomize's ReplicaCountTransformer fails when no resource of its kinds has the name:
    // a misspelled name must not leave the count unchanged unnoticed.
    if found {
        return Ok(());
    }
    let kinds: Vec<String> = specs.iter().map(super::config::describe).collect();
    Err(format!("no resource named {name:?} has a replica count field ({})", kinds.join(", ")))
}

/// Rewrites `image` in every `containers` and `initContainers` list, at any depth, except in
/// CRDs (kustomize's legacy image filter, which covers its field specs too).
/// Then rewrites the image references at the image field specs `configurations` add.
pub(super) fn images(
    ctx: &Ctx<'_>,
    field: &str,
    res: &mut [Resource],
    image: &super::kustomization::Image,
    specs: &[FieldSpec],
) -> Result<(), Error> {
    // kustomize does not escape the name: it is a regular expression, as there.
    let pattern = format!("^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$", image.name);
    let re = regex::Regex::new(&pattern).map_err(|e| ctx.field_error(format!("{field}.name"), e.to_string()))?;
    for r in res.iter_mut().filter(|r| r.gvk().kind != "CustomResourceDefinition") {
        rewrite_images(&mut r.object, image, &re);
    }
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
            visit(&mut r.object, &spec.path, false, &mut |v| {
                if let Value::String(current) = v
                    && re.is_match(current)
                {
                    *current = retag(current, image);
                }
            });
        }
    }
    Ok(())
}

fn rewrite_images(value: &mut Value, image: &super::kustomization::Image, re: &regex::Regex) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if matches!(key.as_str(), "containers" | "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(current)) = item.get_mut("image")
                            && re.is_match(current)
                        {
                            *current = retag(current, image);
                        }
                    }
                }
                rewrite_images(child, image, re);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_images(i, image, re)),
        _ => {}
    }
}

/// The new reference for an image `image.name` matched.
fn retag(current: &str, image: &super::kustomization::Image) -> String {
    let (name, tag, digest) = split_image(current);
    let name = image.new_name.as_deref().unwrap_or(name);
    let suffixed;
    let (tag, digest) = match (&image.new_tag, &image.digest, &image.tag_suffix) {
        (Some(t), Some(d), _) => (Some(t.as_str()), Some(d.as_str())),
        (None, Some(d), _) => (None, Some(d.as_str())),
        (Some(t), None, _) => (Some(t.as_str()), None),
        // A suffix goes on the tag there is (or none), and the digest goes, as in kustomize.
        (None, None, Some(suffix)) if !suffix.is_empty() => {
            suffixed = format!("{}{suffix}", tag.unwrap_or_default());
            (Some(suffixed.as_str()), None)
        }
        (None, None, _) => (tag, digest),
    };
    let mut out = name.to_string();
    if let Some(t) = tag {
        out.push(':');
        out.push_str(t);
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    out
}

/// Splits `registry:port/name:tag@digest` into name, tag and digest as kustomize does: `:` and
/// `@` count only after the first `/` (so a registry port is part of the name).
fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let start = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let rest = &image[start..];
    let colon = rest.find(':').map(|i| i + start);
    let at = rest.find('@').map(|i| i + start);
    match (colon, at) {
        (Some(c), Some(a)) if c < a => (&image[..c], Some(&image[c + 1..a]), Some(&image[a + 1..])),
        (_, Some(a)) => (&image[..a], None, Some(&image[a + 1..])),
        (Some(c), None) => (&image[..c], Some(&image[c + 1..]), None),
        (None, None) => (image, None, None),
    }
}
