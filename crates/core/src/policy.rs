//! Policy evaluation: whether a cluster's live objects comply with a [`Policy`], and what
//! `enforce` would change so that they do. A pure function of the policy, the live objects and
//! the kinds the cluster serves; the agent lists the objects, fills in the report's
//! `remediation` and carries out the [`Fix`]es.
//!
//! The semantics are Open Cluster Management's ConfigurationPolicy (SPEC §2), read from
//! `open-cluster-management-io/config-policy-controller`: `handleObjects`, `handleSingleObj`,
//! `getMatchingNames`, `handleKeys`, `handleSingleKey`, `mergeSpecs` and `mergeArrays` in
//! `controllers/configurationpolicy_controller.go`, and `checkFieldsWithSort`,
//! `checkListsMatch` and `formatMetadata` in `controllers/configurationpolicy_utils.go`.
//!
//! # Which objects a template is about
//!
//! The objects with the template's `apiVersion` and `kind` (the caller lists each template's
//! kind in the template's apiVersion), named `metadata.name` when the template names one, in
//! `metadata.namespace` when it gives one. A cluster-scoped object has no namespace and is not
//! filtered by one. A named template without a namespace matches that name in every namespace.
//!
//! # Compliance types
//!
//! - `musthave`: the object exists and holds the template's fields. Maps hold the given keys,
//!   recursively; a list holds every given item, each in its own live item (`[a, a]` needs two
//!   `a`s), an item of maps being held by a live item that contains it. Order does not matter.
//! - `mustonlyhave`: the object exists and the fields the template gives are exactly so: maps
//!   under a given key have exactly the given keys, lists exactly the given items, in any order.
//!   Top-level fields the template does not mention are ignored, and so are `status` and all
//!   of `metadata` but the `labels` and `annotations` the template gives, so what the API server
//!   writes (`uid`, `resourceVersion`, `creationTimestamp`, `managedFields`, …) never counts.
//!   OCM also flags unmentioned top-level fields other than `metadata` and `status`; Flotilla
//!   leaves them out, because a fix could only remove them by replacing the whole object.
//! - `mustnothave` with a name: the object does not exist. As in OCM, its fields are not
//!   looked at: an object of that name is a violation whatever it holds, and its fix deletes it.
//!
//! In `metadata` only `labels` and `annotations` are compared, as OCM's `formatMetadata` does;
//! `kubectl.kubernetes.io/last-applied-configuration` is never compared. A v1 Secret's
//! `stringData` is compared with its `data`, decoded, since the API server stores it there.
//!
//! # Templates without `metadata.name`
//!
//! They match every object of their kind (in their namespace, when they give one), as in OCM's
//! `getMatchingNames`. `musthave` and `mustonlyhave` are compliant when at least one of those
//! objects holds the template's fields as that type says; `mustnothave` is violated by each one
//! that holds them as `musthave` would (so a template of only a kind and a namespace forbids
//! every object of that kind there). OCM never enforces such templates, and neither does
//! Flotilla: they produce no fixes. Nothing can be created without a name, and deleting every
//! object that happens to match is too blunt; the violation says so.
//!
//! # Comparing values
//!
//! Scalars are equal as JSON values, numbers by value (`3` is `3.0`). An absent or null live
//! field matches a template value that is the zero of its type (`false`, `0`, `""`, `{}`, `[]`,
//! `null`), as in OCM's `checkFieldsWithSort`, because the API server leaves zero values out;
//! for the same reason a live key whose value is zero is not an extra key under `mustonlyhave`.
//! A template `null` asks for the field to be absent or zero (OCM reads a null map as "anything").
//! Strings and numbers that are both Kubernetes quantities compare by value, as OCM's do: the
//! API server rewrites `0.5` as `500m`, and a template saying `1Gi` matches `1024Mi` (the
//! parser drift detection uses).
//!
//! OCM confirms a `mustonlyhave` mismatch with a dry-run update, so that defaults the API server
//! adds back are no violation. A pure function cannot ask; `mustonlyhave` compares with what the
//! API server returned, defaults included, so such templates should spell the defaults out.
//!
//! # What cannot be evaluated
//!
//! A template without `kind` or `apiVersion`, with a malformed `metadata`, or of a kind the
//! cluster does not serve is Unknown (`compliant: None`), never compliant, with the reason in a
//! violation's message. OCM reports these NonCompliant; Flotilla keeps "could not tell" apart.
//! A policy is compliant when every template is; non-compliant when any template is violated,
//! even if another is Unknown (a violation is certain, and non-compliant is the safer report);
//! Unknown otherwise. A policy without templates is compliant, as in OCM.
//!
//! # Violations
//!
//! Each names the object (`NetworkPolicy/bt/default-deny`, `Namespace/bt`, and `*` for the name
//! of a template without one) and the field, as a path from the object's root:
//! `spec.policyTypes`, `spec.template.spec.containers[0].image`, list items by their index in
//! the live list, keys that are not plain words quoted (`metadata.labels["app.kubernetes.io/name"]`).
//! `expected` is the template's value there and `actual` the live one, `None` when absent; a
//! list lacking a given item has the item as `expected` and the live list as `actual`; a field
//! or item `mustonlyhave` does not allow has no `expected`. A missing object has the template
//! as `expected` and no `actual`. A list item given by `name` whose live namesake differs is
//! compared field by field, so the violation names the field that differs.
//!
//! Not the IO (listing objects, applying fixes) and not a clock: the agent does those.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::drift::{same_number, same_quantity};
use crate::fleet::{Compliance, ObjectTemplate, Policy};
use crate::report::{self, PolicyReport, Violation};

/// The field manager the agent applies [`Fix::Apply`] with (server-side apply, forced), so that
/// a policy's fields are told apart from a placement's in `managedFields`.
pub const FIELD_MANAGER: &str = "flotilla-policy";

/// A policy's result on one cluster and what enforcing it would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Compliance and violations; `remediation` is empty, for the agent to fill in.
    pub report: PolicyReport,
    /// What `enforce` would do to comply, in template order: nothing for compliant or Unknown
    /// templates, nor for templates without `metadata.name`.
    pub fixes: Vec<Fix>,
}

/// One change that makes an object comply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// The object as it must be. When it is missing: create it; it is the template (without
    /// `status`). When it exists: each top-level field it holds must take exactly the value it
    /// holds, and in `metadata` its `labels` and `annotations` (OCM's enforce updates the object
    /// so). For `musthave` those values are the live ones with the template merged in (OCM's
    /// `mergeSpecs`: list items the template does not name are kept), so nothing else is lost;
    /// for `mustonlyhave` they are the template's. Server-side apply with [`FIELD_MANAGER`] and
    /// force gets there, except where another field manager owns a key or item `mustonlyhave`
    /// wants gone, which the next evaluation reports. `status` is never part of a fix: a status
    /// the template asks for is reported but not enforced, as in OCM.
    Apply(Value),
    /// Delete the object: a `mustnothave` template names it.
    Delete { api_version: String, kind: String, namespace: Option<String>, name: String },
}

/// Evaluates `policy` against the live `objects` (Kubernetes JSON as the API server returns
/// it). `served(apiVersion, kind)` says whether the cluster serves a kind.
pub fn evaluate(policy: &Policy, objects: &[Value], served: &dyn Fn(&str, &str) -> bool) -> Evaluation {
    let mut violations = Vec::new();
    let mut fixes = Vec::new();
    let (mut violated, mut unknown) = (false, false);
    for (index, template) in policy.spec.objects.iter().enumerate() {
        let outcome = evaluate_template(index, template, objects, served);
        match outcome.state {
            State::Compliant => {}
            State::Violated => violated = true,
            State::Unknown => unknown = true,
        }
        violations.extend(outcome.violations);
        fixes.extend(outcome.fixes);
    }
    // A violation is certain where an Unknown is not, so it decides the policy.
    let compliant = if violated {
        Some(false)
    } else if unknown {
        None
    } else {
        Some(true)
    };
    let report = PolicyReport {
        name: policy.name().to_string(),
        compliant,
        violations: limit(violations),
        remediation: Vec::new(),
    };
    Evaluation { report, fixes }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The most object names one message lists.
const MAX_NAMES: usize = 10;
/// The most bytes of a value one message shows; `expected` and `actual` hold it whole.
const MAX_SHOWN: usize = 160;
/// The longest object and field strings a report takes.
const MAX_LINE: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Compliant,
    Violated,
    Unknown,
}

/// One template's result.
struct Outcome {
    state: State,
    violations: Vec<Violation>,
    fixes: Vec<Fix>,
}

impl Outcome {
    fn compliant() -> Outcome {
        Outcome { state: State::Compliant, violations: Vec::new(), fixes: Vec::new() }
    }

    fn unknown(object: &str, field: Option<&str>, message: &str) -> Outcome {
        let mut outcome = Outcome::compliant();
        outcome.push(object, field.map(str::to_string), None, None, message);
        outcome.state = State::Unknown;
        outcome
    }

    /// Records a violation; the outcome is violated unless the caller says otherwise.
    fn push(
        &mut self,
        object: &str,
        field: Option<String>,
        expected: Option<Value>,
        actual: Option<Value>,
        message: &str,
    ) {
        self.state = State::Violated;
        self.violations.push(Violation {
            object: one_line(object),
            field: field.map(|f| one_line(&f)),
            expected,
            actual,
            message: report::clip(message),
        });
    }
}

/// How a template's fields must be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `musthave` (and what `mustnothave` looks for): the given fields and items are there.
    Contains,
    /// `mustonlyhave`: the given fields are exactly so.
    Exactly,
}

impl Mode {
    fn of(compliance: Compliance) -> Mode {
        if compliance == Compliance::MustOnlyHave { Mode::Exactly } else { Mode::Contains }
    }
}

fn evaluate_template(
    index: usize,
    template: &ObjectTemplate,
    objects: &[Value],
    served: &dyn Fn(&str, &str) -> bool,
) -> Outcome {
    let target = match Target::read(&template.object) {
        Ok(target) => target,
        Err((field, why)) => {
            let text = |pointer: &str| template.object.pointer(pointer).and_then(Value::as_str);
            let object = describe(text("/kind").unwrap_or("?"), text("/metadata/namespace"), text("/metadata/name"));
            return Outcome::unknown(
                &object,
                field,
                &format!("spec.objects[{index}]: {why}, so it cannot be evaluated"),
            );
        }
    };
    if !served(target.api_version, target.kind) {
        let message = format!(
            "spec.objects[{index}]: the cluster does not serve kind {} in {}, so it cannot be evaluated (is its CRD installed?)",
            target.kind, target.api_version
        );
        return Outcome::unknown(&target.describe(), None, &message);
    }
    let candidates: Vec<&Map<String, Value>> =
        objects.iter().filter_map(Value::as_object).filter(|live| target.selects(live)).collect();
    match (template.compliance, target.name.is_some()) {
        (Compliance::MustNotHave, true) => must_not_exist(&target, &candidates),
        (Compliance::MustNotHave, false) => none_may_match(&target, &candidates),
        (compliance, true) => must_exist(&target, &candidates, compliance),
        (compliance, false) => one_must_match(&target, &candidates, compliance),
    }
}

/// A named `musthave` or `mustonlyhave` template.
fn must_exist(target: &Target, candidates: &[&Map<String, Value>], compliance: Compliance) -> Outcome {
    let mut outcome = Outcome::compliant();
    if candidates.is_empty() {
        let message = format!("missing; the policy says it must exist ({})", word(compliance));
        outcome.push(&target.describe(), None, Some(Value::Object(target.fields.clone())), None, &message);
        outcome.fixes.push(Fix::Apply(target.created()));
        return outcome;
    }
    let mode = Mode::of(compliance);
    for live in candidates {
        let findings = target.compare(live, mode);
        if findings.is_empty() {
            continue;
        }
        if findings.iter().any(|f| !in_status(&f.path)) {
            outcome.fixes.push(Fix::Apply(target.fixed(live, mode)));
        }
        let object = describe(target.kind, meta(live, "namespace"), meta(live, "name"));
        for f in findings {
            outcome.push(&object, Some(f.path), f.expected, f.actual, &f.message);
        }
    }
    outcome
}

/// A `musthave` or `mustonlyhave` template without a name: one matching object is enough.
fn one_must_match(target: &Target, candidates: &[&Map<String, Value>], compliance: Compliance) -> Outcome {
    let mode = Mode::of(compliance);
    if candidates.iter().any(|live| target.compare(live, mode).is_empty()) {
        return Outcome::compliant();
    }
    let (word, place) = (word(compliance), target.place());
    let message = if candidates.is_empty() {
        format!(
            "no {} found{place}; the {word} template has no metadata.name, so any one would do, but none can be created without a name",
            target.kind
        )
    } else {
        format!(
            "{} {} found{place} ({}), none as the {word} template specifies; a template without metadata.name is never enforced",
            candidates.len(),
            target.kind,
            names(candidates)
        )
    };
    let mut outcome = Outcome::compliant();
    outcome.push(&target.describe(), None, None, None, &message);
    outcome
}

/// A named `mustnothave` template: the object must not exist, whatever it holds.
fn must_not_exist(target: &Target, candidates: &[&Map<String, Value>]) -> Outcome {
    let mut outcome = Outcome::compliant();
    for live in candidates {
        let (namespace, name) = (meta(live, "namespace"), meta(live, "name").expect("selected objects have a name"));
        let message = "present; the policy says it must not exist (mustnothave)";
        outcome.push(&describe(target.kind, namespace, Some(name)), None, None, None, message);
        outcome.fixes.push(Fix::Delete {
            api_version: target.api_version.to_string(),
            kind: target.kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        });
    }
    outcome
}

/// A `mustnothave` template without a name: no object may hold its fields.
fn none_may_match(target: &Target, candidates: &[&Map<String, Value>]) -> Outcome {
    let mut outcome = Outcome::compliant();
    for live in candidates.iter().filter(|live| target.compare(live, Mode::Contains).is_empty()) {
        let message = "present and matching a mustnothave template; a template without metadata.name is never enforced, so it is not deleted";
        outcome.push(&describe(target.kind, meta(live, "namespace"), meta(live, "name")), None, None, None, message);
    }
    outcome
}

/// Why a template cannot be evaluated: the offending field, when there is one, and a sentence.
type Unusable = (Option<&'static str>, String);

/// A metadata field the template gives (`labels` or `annotations`), its value there and the
/// live one.
type MetadataPair<'a> = (&'static str, Cow<'a, Value>, Option<Cow<'a, Value>>);

/// What a template is about: its identity, read from `apiVersion`, `kind` and `metadata`, and
/// the fields it asks for.
struct Target<'t> {
    api_version: &'t str,
    kind: &'t str,
    namespace: Option<&'t str>,
    name: Option<&'t str>,
    fields: &'t Map<String, Value>,
}

impl<'t> Target<'t> {
    /// The template's target, or the field that makes it unusable and why.
    fn read(object: &'t Value) -> Result<Target<'t>, Unusable> {
        let Value::Object(fields) = object else {
            return Err((None, "the template is not a mapping".to_string()));
        };
        // Surrounding spaces are dropped, as OCM does for names from multi-line YAML values.
        let text = |map: &'t Map<String, Value>, field: &'static str, path: &'static str| match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
            Some(_) => Err((Some(path), format!("the template's {path} is not a string"))),
        };
        let required = |field: &'static str| -> Result<&'t str, Unusable> {
            text(fields, field, field)?
                .ok_or_else(|| (Some(field), format!("the template has no {field}; kind and apiVersion are required")))
        };
        let (api_version, kind) = (required("apiVersion")?, required("kind")?);
        let (namespace, name) = match fields.get("metadata") {
            None | Some(Value::Null) => (None, None),
            Some(Value::Object(metadata)) => {
                (text(metadata, "namespace", "metadata.namespace")?, text(metadata, "name", "metadata.name")?)
            }
            Some(_) => return Err((Some("metadata"), "the template's metadata is not a mapping".to_string())),
        };
        Ok(Target { api_version, kind, namespace, name, fields })
    }

    fn describe(&self) -> String {
        describe(self.kind, self.namespace, self.name)
    }

    /// `" in namespace bt"`, or nothing.
    fn place(&self) -> String {
        self.namespace.map(|ns| format!(" in namespace {ns}")).unwrap_or_default()
    }

    fn selects(&self, live: &Map<String, Value>) -> bool {
        let text = |field: &str| live.get(field).and_then(Value::as_str);
        let Some(name) = meta(live, "name") else {
            return false;
        };
        text("apiVersion") == Some(self.api_version)
            && text("kind") == Some(self.kind)
            && self.name.is_none_or(|n| n == name)
            // A cluster-scoped object has no namespace for a template's to rule out.
            && self.namespace.is_none_or(|ns| meta(live, "namespace").is_none_or(|l| l == ns))
    }

    /// What of the live object breaks the template, sorted as the template is.
    fn compare(&self, live: &Map<String, Value>, mode: Mode) -> Vec<Finding> {
        let mut out = Vec::new();
        for (key, expected) in self.fields {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for (field, expected, actual) in self.metadata_pairs(live) {
                        compare_field(&expected, actual.as_deref(), mode, &key_path("metadata", field), &mut out);
                    }
                }
                _ => compare_field(expected, self.live_field(live, key).as_deref(), mode, &key_path("", key), &mut out),
            }
        }
        out
    }

    /// The `labels` and `annotations` the template gives, each with the live one, both without
    /// kubectl's last-applied annotation.
    fn metadata_pairs<'a>(&'a self, live: &'a Map<String, Value>) -> Vec<MetadataPair<'a>> {
        let Some(Value::Object(metadata)) = self.fields.get("metadata") else {
            return Vec::new();
        };
        let live_metadata = live.get("metadata");
        ["labels", "annotations"]
            .into_iter()
            .filter_map(|field| {
                let expected = metadata.get(field)?;
                let actual = live_metadata.and_then(|m| m.get(field));
                Some((field, without_last_applied(expected), actual.map(without_last_applied)))
            })
            .collect()
    }

    /// The live value the template's top-level `key` is compared with.
    fn live_field<'l>(&self, live: &'l Map<String, Value>, key: &str) -> Option<Cow<'l, Value>> {
        if key == "stringData" && self.kind == "Secret" && self.api_version == "v1" {
            // The API server moves stringData into data, base64-encoded.
            let mut decoded = Map::new();
            if let Some(Value::Object(data)) = live.get("data") {
                for (k, v) in data {
                    let text = v.as_str().and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
                    if let Some(text) = text.and_then(|bytes| String::from_utf8(bytes).ok()) {
                        decoded.insert(k.clone(), Value::String(text));
                    }
                }
            }
            if let Some(Value::Object(string_data)) = live.get("stringData") {
                decoded.extend(string_data.clone());
            }
            return (!decoded.is_empty()).then_some(Cow::Owned(Value::Object(decoded)));
        }
        live.get(key).map(Cow::Borrowed)
    }

    /// The object to create when none exists: the template without `status`.
    fn created(&self) -> Value {
        let mut object = self.fields.clone();
        object.remove("status");
        Value::Object(object)
    }

    /// The fix for a live object that breaks the template: see [`Fix::Apply`].
    fn fixed(&self, live: &Map<String, Value>, mode: Mode) -> Value {
        let resolve = |expected: &Value, actual: Option<&Value>| match mode {
            Mode::Contains => merge(expected, actual),
            Mode::Exactly => expected.clone(),
        };
        let mut metadata = Map::new();
        metadata.insert("name".into(), meta(live, "name").into());
        if let Some(namespace) = meta(live, "namespace") {
            metadata.insert("namespace".into(), namespace.into());
        }
        for (field, expected, actual) in self.metadata_pairs(live) {
            metadata.insert(field.into(), resolve(&expected, actual.as_deref()));
        }
        let mut fix = Map::new();
        fix.insert("apiVersion".into(), self.api_version.into());
        fix.insert("kind".into(), self.kind.into());
        fix.insert("metadata".into(), Value::Object(metadata));
        for (key, expected) in self.fields {
            if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
                fix.insert(key.clone(), resolve(expected, self.live_field(live, key).as_deref()));
            }
        }
        Value::Object(fix)
    }
}

/// One way a live object breaks a template, before it is named in a [`Violation`].
#[derive(Debug)]
struct Finding {
    path: String,
    expected: Option<Value>,
    actual: Option<Value>,
    message: String,
}

impl Finding {
    fn missing(at: &str, expected: &Value) -> Finding {
        let message = format!("{at} is missing; the policy wants {}", show(expected));
        Finding { path: at.to_string(), expected: Some(expected.clone()), actual: None, message }
    }

    fn differs(at: &str, expected: &Value, actual: &Value) -> Finding {
        let wanted = if expected.is_null() { "it absent".to_string() } else { show(expected) };
        let message = format!("{at} is {}; the policy wants {wanted}", show(actual));
        Finding { path: at.to_string(), expected: Some(expected.clone()), actual: Some(actual.clone()), message }
    }

    fn no_item(at: &str, item: &Value, live: &[Value], mode: Mode) -> Finding {
        let how = if mode == Mode::Contains && item.is_object() { "containing" } else { "equal to" };
        let message = format!("{at} has no item {how} {}", show(item));
        Finding { path: at.to_string(), expected: Some(item.clone()), actual: Some(Value::from(live)), message }
    }

    /// A key or item `mustonlyhave` does not allow; `what` is `fields` or `items`.
    fn extra(path: String, actual: &Value, what: &str) -> Finding {
        let message = format!("{path} is {}; mustonlyhave allows only the {what} the template gives", show(actual));
        Finding { path, expected: None, actual: Some(actual.clone()), message }
    }
}

/// Compares a template's field with the live one, which may be absent.
fn compare_field(expected: &Value, actual: Option<&Value>, mode: Mode, at: &str, out: &mut Vec<Finding>) {
    match actual.filter(|a| !a.is_null()) {
        // The API server leaves zero values out.
        None if is_zero(expected) => {}
        None => out.push(Finding::missing(at, expected)),
        Some(actual) => compare(expected, actual, mode, at, out),
    }
}

fn compare(expected: &Value, actual: &Value, mode: Mode, at: &str, out: &mut Vec<Finding>) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                compare_field(value, actual.get(key), mode, &key_path(at, key), out);
            }
            if mode == Mode::Exactly {
                for (key, value) in actual.iter().filter(|(k, v)| !expected.contains_key(*k) && !is_zero(v)) {
                    out.push(Finding::extra(key_path(at, key), value, "fields"));
                }
            }
        }
        (Value::Array(expected), Value::Array(actual)) => compare_lists(expected, actual, mode, at, out),
        (Value::Null, actual) if is_zero(actual) => {}
        (Value::Number(e), Value::Number(a)) if same_number(e, a) => {}
        _ if expected == actual => {}
        // Quantities by value, as the API server rewrites them (`0.5` is stored as `500m`).
        (Value::String(_) | Value::Number(_), Value::String(_) | Value::Number(_))
            if same_quantity(expected, actual) => {}
        _ => out.push(Finding::differs(at, expected, actual)),
    }
}

fn compare_lists(expected: &[Value], live: &[Value], mode: Mode, at: &str, out: &mut Vec<Finding>) {
    let pairs = pair_items(expected, live, mode);
    let mut used = vec![false; live.len()];
    for &j in pairs.iter().flatten() {
        used[j] = true;
    }
    for (item, _) in expected.iter().zip(&pairs).filter(|(_, pair)| pair.is_none()) {
        // An item named as a live one is that item, changed: say which of its fields differ.
        if let Some(j) = same_named(item, live, &used) {
            used[j] = true;
            compare(item, &live[j], mode, &index_path(at, j), out);
        } else {
            out.push(Finding::no_item(at, item, live, mode));
        }
    }
    if mode == Mode::Exactly {
        for (j, item) in live.iter().enumerate().filter(|(j, _)| !used[*j]) {
            out.push(Finding::extra(index_path(at, j), item, "items"));
        }
    }
}

/// Pairs each expected item with a live item of its own that holds it, as many as can be
/// (augmenting paths), so that `[a, a]` needs two live `a`s and the pairing does not depend
/// on the order of the items; for each expected item, the index of its live item.
fn pair_items(expected: &[Value], live: &[Value], mode: Mode) -> Vec<Option<usize>> {
    let holders: Vec<Vec<usize>> =
        expected.iter().map(|item| (0..live.len()).filter(|&j| holds(item, &live[j], mode)).collect()).collect();
    let mut owner = vec![None; live.len()];
    for i in 0..expected.len() {
        claim(i, &holders, &mut owner, &mut vec![false; live.len()]);
    }
    let mut pairs = vec![None; expected.len()];
    for (j, i) in owner.iter().enumerate() {
        if let Some(i) = *i {
            pairs[i] = Some(j);
        }
    }
    pairs
}

/// Finds expected item `i` a live item, moving earlier claims along where that frees one.
fn claim(i: usize, holders: &[Vec<usize>], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &j in &holders[i] {
        if !seen[j] {
            seen[j] = true;
            let current = owner[j];
            if current.is_none_or(|k| claim(k, holders, owner, seen)) {
                owner[j] = Some(i);
                return true;
            }
        }
    }
    false
}

/// Whether a live value holds an expected one as `mode` says.
fn holds(expected: &Value, live: &Value, mode: Mode) -> bool {
    let mut findings = Vec::new();
    compare(expected, live, mode, "", &mut findings);
    findings.is_empty()
}

/// The first unused live item with the expected item's `name`, as OCM's `mergeArrays` pairs
/// containers and the like.
fn same_named(item: &Value, live: &[Value], used: &[bool]) -> Option<usize> {
    let name = item.get("name")?.as_str()?;
    (0..live.len()).find(|&j| !used[j] && live[j].get("name").and_then(Value::as_str) == Some(name))
}

/// The live value with the template's merged in, as OCM's `mergeSpecs` makes it: maps key by
/// key; lists keep the live items in their order, each template item merged into the live item
/// that holds it or shares its `name`, and the others added at the end.
fn merge(expected: &Value, live: Option<&Value>) -> Value {
    match (expected, live) {
        (Value::Object(expected), Some(Value::Object(live))) => {
            let mut merged = live.clone();
            for (key, value) in expected {
                merged.insert(key.clone(), merge(value, live.get(key)));
            }
            Value::Object(merged)
        }
        (Value::Array(expected), Some(Value::Array(live))) => {
            let pairs = pair_items(expected, live, Mode::Contains);
            let mut used = vec![false; live.len()];
            for &j in pairs.iter().flatten() {
                used[j] = true;
            }
            let (mut merged, mut added) = (live.clone(), Vec::new());
            for (item, pair) in expected.iter().zip(pairs) {
                let j = pair.or_else(|| {
                    let j = same_named(item, live, &used)?;
                    used[j] = true;
                    Some(j)
                });
                match j {
                    Some(j) => merged[j] = merge(item, Some(&live[j])),
                    None => added.push(item.clone()),
                }
            }
            merged.extend(added);
            Value::Array(merged)
        }
        _ => expected.clone(),
    }
}

/// The zero value of its type, which the API server leaves out.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f.classify() == std::num::FpCategory::Zero),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

fn without_last_applied(value: &Value) -> Cow<'_, Value> {
    match value {
        Value::Object(map) if map.contains_key(LAST_APPLIED) => {
            let mut map = map.clone();
            map.remove(LAST_APPLIED);
            Cow::Owned(Value::Object(map))
        }
        _ => Cow::Borrowed(value),
    }
}

fn in_status(path: &str) -> bool {
    path.strip_prefix("status").is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

fn key_path(base: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (plain, base.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{base}.{key}"),
        // JSON string quoting keeps dots and slashes in label keys from reading as nesting.
        (false, _) => format!("{base}[{}]", Value::from(key)),
    }
}

fn index_path(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

/// An object as a violation names it: `Kind/namespace/name` or `Kind/name`, `*` for no name.
fn describe(kind: &str, namespace: Option<&str>, name: Option<&str>) -> String {
    let name = name.unwrap_or("*");
    match namespace {
        Some(namespace) => format!("{kind}/{namespace}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

fn meta<'l>(live: &'l Map<String, Value>, field: &str) -> Option<&'l str> {
    live.get("metadata")?.get(field)?.as_str()
}

fn word(compliance: Compliance) -> &'static str {
    match compliance {
        Compliance::MustHave => "musthave",
        Compliance::MustOnlyHave => "mustonlyhave",
        Compliance::MustNotHave => "mustnothave",
    }
}

/// Some of the objects' names, as `ns/name` or `name`.
fn names(objects: &[&Map<String, Value>]) -> String {
    let mut shown: Vec<String> = objects
        .iter()
        .take(MAX_NAMES)
        .map(|live| {
            let name = meta(live, "name").unwrap_or("?");
            meta(live, "namespace").map_or_else(|| name.to_string(), |ns| format!("{ns}/{name}"))
        })
        .collect();
    if objects.len() > MAX_NAMES {
        shown.push("…".to_string());
    }
    shown.join(", ")
}

/// A value as compact JSON, cut short for a message.
fn show(value: &Value) -> String {
    report::clip_to(&value.to_string(), MAX_SHOWN)
}

/// A single line of at most [`MAX_LINE`] bytes, as the report wants objects and fields.
fn one_line(text: &str) -> String {
    let text: String = text.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    report::clip_to(&text, MAX_LINE)
}

/// At most [`report::MAX_VIOLATIONS`], the last one saying how many more there were.
fn limit(mut violations: Vec<Violation>) -> Vec<Violation> {
    if violations.len() <= report::MAX_VIOLATIONS {
        return violations;
    }
    let more = violations.len() - (report::MAX_VIOLATIONS - 1);
    violations.truncate(report::MAX_VIOLATIONS);
    let first_left_out = violations.pop().expect("more than MAX_VIOLATIONS were there");
    violations.push(Violation {
        object: first_left_out.object,
        field: None,
        expected: None,
        actual: None,
        message: format!(
            "{more} more violations, this object's first among them, are not listed: a report holds at most {}",
            report::MAX_VIOLATIONS
        ),
    });
    violations
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fleet::Fleet;
    use crate::report::{Report, VERSION};
    use crate::snapshot::Snapshot;

    /// The PCI example of SPEC §2.
    const PCI: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: pci-default-deny}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"1.3.1\"]
  categories: [Network Security Controls]
  severity: high
  remediation: inform
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: musthave
    object:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: default-deny, namespace: bt}
      spec: {podSelector: {}, policyTypes: [Ingress]}
";

    fn pci() -> Policy {
        let mut snapshot = Snapshot::new();
        snapshot.insert_file("fleet/pci.yaml", PCI);
        let (fleet, errors) = Fleet::from_snapshot(&snapshot);
        assert_eq!(errors, []);
        fleet.policies[0].clone()
    }

    fn policy(templates: &[(Compliance, Value)]) -> Policy {
        let mut policy = pci();
        policy.spec.objects = templates
            .iter()
            .map(|(compliance, object)| ObjectTemplate { compliance: *compliance, object: object.clone() })
            .collect();
        policy
    }

    fn template(compliance: Compliance, spec: Value) -> Policy {
        let mut object = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "bt"}});
        object["spec"] = spec;
        policy(&[(compliance, object)])
    }

    /// A live object as the API server returns it, with what it adds.
    fn live(api_version: &str, kind: &str, namespace: Option<&str>, name: &str, rest: Value) -> Value {
        let mut object = json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": {
                "name": name, "uid": "6f1c2a9e-1b7d-4c3e-9a55-0d2f3e4a5b6c", "resourceVersion": "48213",
                "generation": 2, "creationTimestamp": "2025-11-20T10:00:00Z",
                "annotations": {LAST_APPLIED: "{\"apiVersion\":\"v1\"}"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": api_version,
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "status": {"observedGeneration": 2}
        });
        if let Some(namespace) = namespace {
            object["metadata"]["namespace"] = namespace.into();
        }
        let Value::Object(rest) = rest else { panic!("{rest}") };
        for (key, value) in rest {
            object[&key] = value;
        }
        object
    }

    fn netpol(namespace: &str, name: &str, spec: Value) -> Value {
        let mut object = live("networking.k8s.io/v1", "NetworkPolicy", Some(namespace), name, json!({}));
        object["spec"] = spec;
        object
    }

    /// Evaluates with every kind served, checking that the hub takes the report.
    #[track_caller]
    fn run(policy: &Policy, objects: &[Value]) -> Evaluation {
        let evaluation = evaluate(policy, objects, &|_, _| true);
        valid(&evaluation.report);
        evaluation
    }

    #[track_caller]
    fn valid(policy: &PolicyReport) {
        let report = Report {
            version: VERSION,
            cluster: "store-0042".to_string(),
            agent_version: "0.1.0".to_string(),
            sequence: 1,
            time: "2025-11-25T03:32:07Z".to_string(),
            placements: vec![],
            policies: vec![policy.clone()],
            fleet: None,
            overrides: vec![],
            kubernetes: None,
        };
        assert_eq!(report.validate(), Ok(()), "{report:#?}");
        assert_eq!(Report::from_json(report.to_json().as_bytes()), Ok(report));
    }

    /// Carries out fixes as the agent would: a missing object is created; otherwise each
    /// top-level field of the fix, and each of its metadata's, replaces the live one.
    fn apply_fixes(objects: &[Value], fixes: &[Fix]) -> Vec<Value> {
        let id = |o: &Value| {
            (
                o["apiVersion"].clone(),
                o["kind"].clone(),
                o["metadata"]["namespace"].clone(),
                o["metadata"]["name"].clone(),
            )
        };
        let mut objects = objects.to_vec();
        for fix in fixes {
            match fix {
                Fix::Apply(fix) => match objects.iter_mut().find(|o| id(o) == id(fix)) {
                    Some(object) => {
                        for (key, value) in fix.as_object().unwrap() {
                            if key == "metadata" {
                                for (field, value) in value.as_object().unwrap() {
                                    object["metadata"][field] = value.clone();
                                }
                            } else {
                                object[key] = value.clone();
                            }
                        }
                    }
                    None => objects.push(fix.clone()),
                },
                Fix::Delete { api_version, kind, namespace, name } => {
                    let gone = (json!(api_version), json!(kind), json!(namespace), json!(name));
                    objects.retain(|o| id(o) != gone);
                }
            }
        }
        objects
    }

    /// Applying the fixes makes the policy hold, and leaves nothing more to fix.
    #[track_caller]
    fn fixes_make_it_comply(policy: &Policy, objects: &[Value]) -> Vec<Value> {
        let before = run(policy, objects);
        assert_eq!(before.report.compliant, Some(false));
        assert!(!before.fixes.is_empty());
        let fixed = apply_fixes(objects, &before.fixes);
        let after = run(policy, &fixed);
        assert_eq!((after.report.compliant, &after.report.violations), (Some(true), &vec![]), "{fixed:#?}");
        assert_eq!(after.fixes, []);
        fixed
    }

    #[track_caller]
    fn one_violation(evaluation: &Evaluation) -> &Violation {
        assert_eq!(evaluation.report.compliant, Some(false));
        assert_eq!(evaluation.report.violations.len(), 1, "{:#?}", evaluation.report.violations);
        &evaluation.report.violations[0]
    }

    #[test]
    fn the_pci_default_deny_holds_on_the_live_network_policy() {
        let objects = [netpol("bt", "default-deny", json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))];
        let evaluation = run(&pci(), &objects);
        let compliant = PolicyReport {
            name: "pci-default-deny".to_string(),
            compliant: Some(true),
            violations: vec![],
            remediation: vec![],
        };
        assert_eq!(evaluation, Evaluation { report: compliant, fixes: vec![] });
    }

    #[test]
    fn a_missing_object_is_reported_missing_and_its_fix_creates_it() {
        // The same name in another namespace is another object.
        let objects = [netpol("pos", "default-deny", json!({"podSelector": {}, "policyTypes": ["Ingress"]}))];
        let evaluation = run(&pci(), &objects);
        let v = one_violation(&evaluation);
        let template = &pci().spec.objects[0].object;
        assert_eq!((v.object.as_str(), &v.field, &v.actual), ("NetworkPolicy/bt/default-deny", &None, &None));
        assert_eq!(v.expected.as_ref(), Some(template));
        assert_eq!(v.message, "missing; the policy says it must exist (musthave)");
        assert_eq!(evaluation.fixes, [Fix::Apply(template.clone())]);
        fixes_make_it_comply(&pci(), &objects);
    }

    #[test]
    fn musthave_lists_need_every_given_item() {
        let objects = [netpol("bt", "default-deny", json!({"podSelector": {}, "policyTypes": ["Egress"]}))];
        let evaluation = run(&pci(), &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.object, "NetworkPolicy/bt/default-deny");
        assert_eq!(v.field.as_deref(), Some("spec.policyTypes"));
        assert_eq!((&v.expected, &v.actual), (&Some(json!("Ingress")), &Some(json!(["Egress"]))));
        assert_eq!(v.message, "spec.policyTypes has no item equal to \"Ingress\"");
        // The fix keeps the live item the template does not mention.
        let Fix::Apply(fix) = &evaluation.fixes[0] else { panic!("{:?}", evaluation.fixes) };
        assert_eq!(fix["spec"]["policyTypes"], json!(["Egress", "Ingress"]));
        assert_eq!(fix["metadata"], json!({"name": "default-deny", "namespace": "bt"}));
        fixes_make_it_comply(&pci(), &objects);
        // Two given items need two live ones.
        let twice = template(Compliance::MustHave, json!({"policyTypes": ["Ingress", "Ingress"]}));
        let once = [netpol("bt", "default-deny", json!({"policyTypes": ["Ingress", "Egress"]}))];
        assert_eq!(run(&twice, &once).report.compliant, Some(false));
    }

    #[test]
    fn mustonlyhave_lists_are_exactly_the_given_items_in_any_order() {
        let both = template(Compliance::MustOnlyHave, json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}));
        let objects = [netpol("bt", "default-deny", json!({"podSelector": {}, "policyTypes": ["Egress", "Ingress"]}))];
        assert_eq!(run(&both, &objects).report.compliant, Some(true));

        let ingress = template(Compliance::MustOnlyHave, json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        let evaluation = run(&ingress, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.field.as_deref(), Some("spec.policyTypes[0]"));
        assert_eq!((&v.expected, &v.actual), (&None, &Some(json!("Egress"))));
        assert_eq!(
            v.message,
            "spec.policyTypes[0] is \"Egress\"; mustonlyhave allows only the items the template gives"
        );
        fixes_make_it_comply(&ingress, &objects);
    }

    fn deployment(pod_spec: Value) -> Value {
        let spec = json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}}});
        let mut object = live("apps/v1", "Deployment", Some("pos"), "web", json!({"spec": spec}));
        object["spec"]["template"]["spec"] = pod_spec;
        object
    }

    fn deployment_template(compliance: Compliance, pod_spec: Value) -> Policy {
        let mut object =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "pos"}});
        object["spec"]["template"]["spec"] = pod_spec;
        policy(&[(compliance, object)])
    }

    #[test]
    fn nested_maps_are_compared_key_by_key() {
        let policy = deployment_template(Compliance::MustHave, json!({"securityContext": {"runAsNonRoot": true}}));
        let objects = [deployment(json!({"securityContext": {"runAsNonRoot": false, "fsGroup": 2000}}))];
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.object, "Deployment/pos/web");
        assert_eq!(v.field.as_deref(), Some("spec.template.spec.securityContext.runAsNonRoot"));
        assert_eq!((&v.expected, &v.actual), (&Some(json!(true)), &Some(json!(false))));
        assert_eq!(v.message, "spec.template.spec.securityContext.runAsNonRoot is false; the policy wants true");
        let fixed = fixes_make_it_comply(&policy, &objects);
        // Merged in: nothing else of the live spec is lost.
        assert_eq!(fixed[0]["spec"]["replicas"], 3);
        assert_eq!(fixed[0]["spec"]["template"]["spec"]["securityContext"]["fsGroup"], 2000);
    }

    #[test]
    fn mustonlyhave_maps_under_a_given_key_have_exactly_the_given_keys() {
        let policy = template(
            Compliance::MustOnlyHave,
            json!({"podSelector": {"matchLabels": {"app": "pos"}}, "policyTypes": ["Ingress"]}),
        );
        let objects = [netpol(
            "bt",
            "default-deny",
            json!({"podSelector": {"matchLabels": {"app": "pos", "tier": "web"}}, "policyTypes": ["Ingress"]}),
        )];
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.field.as_deref(), Some("spec.podSelector.matchLabels.tier"));
        assert_eq!((&v.expected, &v.actual), (&None, &Some(json!("web"))));
        fixes_make_it_comply(&policy, &objects);
    }

    #[test]
    fn list_items_of_maps_are_held_by_a_live_item_that_contains_them() {
        let pod = json!({"containers": [
            {"name": "web", "image": "registry.local/web:1.2", "ports": [{"containerPort": 8080}]},
            {"name": "envoy", "image": "registry.local/envoy:1.30"}]});
        let objects = [deployment(pod)];
        let sidecar = deployment_template(Compliance::MustHave, json!({"containers": [{"name": "envoy"}]}));
        assert_eq!(run(&sidecar, &objects).report.compliant, Some(true));

        // A named item whose namesake differs is compared field by field.
        let web = json!({"containers": [{"name": "web", "image": "registry.local/web:1.3"}]});
        let policy = deployment_template(Compliance::MustHave, web);
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.field.as_deref(), Some("spec.template.spec.containers[0].image"));
        assert_eq!(v.expected, Some(json!("registry.local/web:1.3")));
        assert_eq!(v.actual, Some(json!("registry.local/web:1.2")));
        let fixed = fixes_make_it_comply(&policy, &objects);
        let containers = &fixed[0]["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["ports"], json!([{"containerPort": 8080}]));
        assert_eq!(containers[1]["name"], "envoy");
    }

    #[test]
    fn list_items_without_names_are_matched_by_content() {
        let rule = json!({"from": [{"podSelector": {"matchLabels": {"app": "pos"}}}]});
        let live_rule = json!({"from": [{"podSelector": {"matchLabels": {"app": "pos"}}}],
            "ports": [{"port": 443, "protocol": "TCP"}]});
        let objects = [netpol("bt", "default-deny", json!({"podSelector": {}, "ingress": [live_rule]}))];
        let musthave = template(Compliance::MustHave, json!({"ingress": [rule]}));
        assert_eq!(run(&musthave, &objects).report.compliant, Some(true));

        let other = json!({"from": [{"podSelector": {"matchLabels": {"app": "scanner"}}}]});
        let policy = template(Compliance::MustHave, json!({"ingress": [other]}));
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.field.as_deref(), Some("spec.ingress"));
        assert_eq!((&v.expected, &v.actual), (&Some(other.clone()), &Some(json!([live_rule]))));
        assert!(v.message.starts_with("spec.ingress has no item containing {\"from\":"), "{}", v.message);
        fixes_make_it_comply(&policy, &objects);

        // mustonlyhave: the live rule has more than the given one, so it is another item.
        let exact = template(Compliance::MustOnlyHave, json!({"podSelector": {}, "ingress": [rule]}));
        let report = run(&exact, &objects).report;
        let fields: Vec<_> = report.violations.iter().map(|v| v.field.as_deref().unwrap()).collect();
        assert_eq!(fields, ["spec.ingress", "spec.ingress[0]"]);
        assert!(report.violations[0].message.starts_with("spec.ingress has no item equal to"));
        fixes_make_it_comply(&exact, &objects);
    }

    #[test]
    fn what_the_server_sets_is_ignored() {
        let annotated = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "bt", "annotations": {"owner": "secops"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        let policy = policy(&[(Compliance::MustOnlyHave, annotated)]);
        let mut object = netpol("bt", "default-deny", json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        // uid, resourceVersion, managedFields, status and kubectl's annotation come from `live`.
        object["metadata"]["annotations"]["owner"] = "secops".into();
        object["metadata"]["labels"] = json!({"team": "pos"});
        object["metadata"]["finalizers"] = json!(["example.com/keep"]);
        assert_eq!(run(&policy, &[object]).report.compliant, Some(true));
    }

    #[test]
    fn labels_are_compared_and_keys_with_dots_are_quoted() {
        let policy = policy(&[(
            Compliance::MustHave,
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "bt", "labels": {"pci.example.com/scope": "in"}}}),
        )]);
        let mut namespace = live("v1", "Namespace", None, "bt", json!({}));
        namespace["metadata"]["labels"] = json!({"kubernetes.io/metadata.name": "bt"});
        let objects = [namespace];
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.object, "Namespace/bt");
        assert_eq!(v.field.as_deref(), Some("metadata.labels[\"pci.example.com/scope\"]"));
        assert_eq!((&v.expected, &v.actual), (&Some(json!("in")), &None));
        let fixed = fixes_make_it_comply(&policy, &objects);
        assert_eq!(fixed[0]["metadata"]["uid"], "6f1c2a9e-1b7d-4c3e-9a55-0d2f3e4a5b6c");
    }

    #[test]
    fn mustnothave_with_a_name_forbids_the_object_whatever_it_holds() {
        let allow_all = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow-all", "namespace": "bt"}, "spec": {"ingress": [{}]}});
        let policy = policy(&[(Compliance::MustNotHave, allow_all)]);
        assert_eq!(run(&policy, &[]).report.compliant, Some(true));

        let objects = [netpol("bt", "allow-all", json!({"podSelector": {}, "policyTypes": ["Egress"]}))];
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!((v.object.as_str(), &v.field), ("NetworkPolicy/bt/allow-all", &None));
        assert_eq!(v.message, "present; the policy says it must not exist (mustnothave)");
        let delete = Fix::Delete {
            api_version: "networking.k8s.io/v1".into(),
            kind: "NetworkPolicy".into(),
            namespace: Some("bt".into()),
            name: "allow-all".into(),
        };
        assert_eq!(evaluation.fixes, [delete]);
        assert_eq!(fixes_make_it_comply(&policy, &objects), Vec::<Value>::new());
    }

    fn unnamed(compliance: Compliance, namespace: Option<&str>, spec: Value) -> Policy {
        let mut object = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"});
        object["spec"] = spec;
        if let Some(namespace) = namespace {
            object["metadata"] = json!({"namespace": namespace});
        }
        policy(&[(compliance, object)])
    }

    fn three_policies() -> Vec<Value> {
        vec![
            netpol("bt", "a", json!({"podSelector": {}, "policyTypes": ["Egress"]})),
            netpol("bt", "b", json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})),
            netpol("pos", "c", json!({"podSelector": {}, "policyTypes": ["Egress"]})),
        ]
    }

    #[test]
    fn a_template_without_a_name_needs_one_matching_object_and_is_never_enforced() {
        let objects = three_policies();
        let ingress = unnamed(Compliance::MustHave, Some("bt"), json!({"policyTypes": ["Ingress"]}));
        assert_eq!(run(&ingress, &objects).report.compliant, Some(true));
        // Outside its namespace nothing counts.
        let evaluation = run(&ingress, &[objects[0].clone(), objects[2].clone()]);
        let v = one_violation(&evaluation);
        assert_eq!(v.object, "NetworkPolicy/bt/*");
        assert_eq!(
            v.message,
            "1 NetworkPolicy found in namespace bt (bt/a), none as the musthave template specifies; a template without metadata.name is never enforced"
        );
        assert_eq!(evaluation.fixes, []);
        let evaluation = run(&ingress, &[]);
        assert!(one_violation(&evaluation).message.starts_with("no NetworkPolicy found in namespace bt;"));
        assert!(one_violation(&evaluation).message.ends_with("none can be created without a name"));
        assert_eq!(evaluation.fixes, []);

        // mustonlyhave: b has an ingress list too, so it is not exactly so.
        let exact = unnamed(Compliance::MustOnlyHave, None, json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        assert_eq!(run(&exact, &objects).report.compliant, Some(false));
        let loose = unnamed(Compliance::MustOnlyHave, None, json!({"podSelector": {}, "policyTypes": ["Egress"]}));
        assert_eq!(run(&loose, &objects).report.compliant, Some(true));
    }

    #[test]
    fn mustnothave_without_a_name_forbids_every_matching_object() {
        let objects = three_policies();
        let egress = unnamed(Compliance::MustNotHave, None, json!({"policyTypes": ["Egress"]}));
        let evaluation = run(&egress, &objects);
        let named: Vec<_> = evaluation.report.violations.iter().map(|v| v.object.as_str()).collect();
        assert_eq!(named, ["NetworkPolicy/bt/a", "NetworkPolicy/pos/c"]);
        assert!(evaluation.report.violations[0].message.ends_with("so it is not deleted"));
        assert_eq!(evaluation.fixes, []);
        let in_bt = unnamed(Compliance::MustNotHave, Some("bt"), json!({"policyTypes": ["Egress"]}));
        assert_eq!(run(&in_bt, &objects).report.violations.len(), 1);
        let ingress_only = unnamed(Compliance::MustNotHave, Some("pos"), json!({"policyTypes": ["Ingress"]}));
        assert_eq!(run(&ingress_only, &objects).report.compliant, Some(true));
    }

    #[test]
    fn what_cannot_be_evaluated_is_unknown() {
        let unserved = evaluate(&pci(), &[], &|_, kind| kind != "NetworkPolicy");
        valid(&unserved.report);
        assert_eq!(unserved.report.compliant, None);
        assert_eq!(
            unserved.report.violations[0].message,
            "spec.objects[0]: the cluster does not serve kind NetworkPolicy in networking.k8s.io/v1, so it cannot be evaluated (is its CRD installed?)"
        );
        assert_eq!(unserved.fixes, []);

        let kindless = json!({"apiVersion": "v1", "metadata": {"name": "x", "namespace": "bt"}, "data": {}});
        let evaluation = run(&policy(&[(Compliance::MustHave, kindless.clone())]), &[]);
        assert_eq!(evaluation.report.compliant, None);
        let v = &evaluation.report.violations[0];
        assert_eq!((v.object.as_str(), v.field.as_deref()), ("?/bt/x", Some("kind")));
        assert_eq!(
            v.message,
            "spec.objects[0]: the template has no kind; kind and apiVersion are required, so it cannot be evaluated"
        );

        // With a compliant template the policy stays Unknown; with a violated one it is not compliant.
        let objects = [netpol("bt", "default-deny", json!({"policyTypes": ["Ingress"]}))];
        let pci_template = pci().spec.objects[0].object.clone();
        let both = policy(&[(Compliance::MustHave, pci_template), (Compliance::MustHave, kindless.clone())]);
        assert_eq!(run(&both, &objects).report.compliant, None);
        let evaluation = run(&both, &[]);
        assert_eq!(evaluation.report.compliant, Some(false));
        assert_eq!(evaluation.report.violations.len(), 2);
    }

    #[test]
    fn a_policy_without_templates_is_compliant() {
        assert_eq!(run(&policy(&[]), &[]).report.compliant, Some(true));
    }

    #[test]
    fn zero_values_match_absent_fields_and_null_asks_for_absence() {
        let objects = [deployment(json!({"containers": [{"name": "web"}]}))];
        let zero = deployment_template(Compliance::MustHave, json!({"hostNetwork": false, "volumes": []}));
        assert_eq!(run(&zero, &objects).report.compliant, Some(true));

        let absent = deployment_template(Compliance::MustHave, json!({"hostNetwork": null}));
        assert_eq!(run(&absent, &objects).report.compliant, Some(true));
        let objects = [deployment(json!({"containers": [{"name": "web"}], "hostNetwork": true}))];
        let evaluation = run(&absent, &objects);
        let v = one_violation(&evaluation);
        assert_eq!((&v.expected, &v.actual), (&Some(Value::Null), &Some(json!(true))));
        assert_eq!(v.message, "spec.template.spec.hostNetwork is true; the policy wants it absent");
        fixes_make_it_comply(&absent, &objects);
    }

    #[test]
    fn numbers_compare_by_value() {
        let policy = policy(&[(
            Compliance::MustHave,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "pos"},
                "spec": {"replicas": 3.0}}),
        )]);
        assert_eq!(run(&policy, &[deployment(json!({}))]).report.compliant, Some(true));
    }

    #[test]
    fn a_secrets_string_data_is_compared_with_its_decoded_data() {
        let policy = policy(&[(
            Compliance::MustHave,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "bt"},
                "stringData": {"mode": "strict"}}),
        )]);
        let secret = |value: &str| live("v1", "Secret", Some("bt"), "token", json!({"data": {"mode": value}}));
        assert_eq!(run(&policy, &[secret("c3RyaWN0")]).report.compliant, Some(true));
        let objects = [secret("bGF4")];
        let evaluation = run(&policy, &objects);
        let v = one_violation(&evaluation);
        assert_eq!(v.field.as_deref(), Some("stringData.mode"));
        assert_eq!((&v.expected, &v.actual), (&Some(json!("strict")), &Some(json!("lax"))));
        fixes_make_it_comply(&policy, &objects);
    }

    #[test]
    fn quantities_compare_by_value() {
        let limits = json!({"containers": [{"name": "web", "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}}]});
        let policy = deployment_template(Compliance::MustHave, limits);
        let live = |cpu: &str| {
            deployment(
                json!({"containers": [{"name": "web", "resources": {"limits": {"cpu": cpu, "memory": "1024Mi"}}}]}),
            )
        };
        assert_eq!(run(&policy, &[live("500m")]).report.compliant, Some(true));
        assert_eq!(run(&policy, &[live("600m")]).report.compliant, Some(false));
    }

    #[test]
    fn a_status_the_template_asks_for_is_reported_but_not_fixed() {
        let policy = policy(&[(
            Compliance::MustHave,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "pos"},
                "status": {"readyReplicas": 3}}),
        )]);
        let evaluation = run(&policy, &[deployment(json!({}))]);
        let v = one_violation(&evaluation);
        assert_eq!((v.field.as_deref(), &v.actual), (Some("status.readyReplicas"), &None));
        assert_eq!(evaluation.fixes, []);
    }

    #[test]
    fn violations_beyond_what_a_report_holds_are_counted() {
        let objects: Vec<Value> =
            (0..1_200).map(|i| live("v1", "ConfigMap", Some("bt"), &format!("cm-{i}"), json!({}))).collect();
        let policy = policy(&[(
            Compliance::MustNotHave,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": "bt"}}),
        )]);
        let report = run(&policy, &objects).report;
        assert_eq!(report.violations.len(), report::MAX_VIOLATIONS);
        let last = report.violations.last().unwrap();
        assert_eq!(last.object, "ConfigMap/bt/cm-999");
        assert!(last.message.starts_with("201 more violations"), "{}", last.message);
    }
}
