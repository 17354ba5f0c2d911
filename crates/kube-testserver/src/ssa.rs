//! Server-side apply and field ownership as the Kubernetes API server implements them
//! (structured-merge-diff, the library behind `metadata.managedFields`).
//!
//! [`apply`] merges an apply configuration into the live object, removes what the applier
//! stopped applying unless someone else owns it, reports conflicts with other managers (or takes
//! their fields when forced) and rewrites `metadata.managedFields`. [`update`] does the
//! bookkeeping of every other write (create, PUT, JSON/merge/strategic patches): the writer
//! takes ownership of what it changed. Both are pure functions over JSON with the time passed
//! in; the caller does validation, defaulting, admission and the server-owned metadata (uid,
//! resourceVersion, creationTimestamp, generation), and compares the result with the live object
//! to skip no-op writes.
//!
//! As in Kubernetes: one Apply entry per manager (its apiVersion follows the last apply) and one
//! Update entry per manager and apiVersion, so a manager's own Update entry can conflict with its
//! apply; an element of a granular list is kept only while someone owns the element itself;
//! shared elements take the configuration's order; an object without managedFields gets a
//! `before-first-apply` Update entry before it is applied to; `[{}]` clears managedFields.
//!
//! What differs from Kubernetes, on purpose (the crate's conformance notes repeat this):
//!
//! - The schema is small: [`Schema::kubernetes`] knows the lists of the kinds Flotilla deploys;
//!   every other list is atomic and every other map is granular, as for a custom resource
//!   whose schema says nothing. There is no defaulting, so defaulted fields do not exist.
//! - Every map field counts as a struct field: when an applier stops applying the last thing it
//!   owned under a map field that nobody else owns anything under, the field goes away rather
//!   than staying as `{}`. At the top level `apiVersion`, `kind` and `metadata` are never removed.
//! - `null` in an apply configuration removes a scalar or atomic field and the applier owns it;
//!   over a map or a granular list it means "no opinion", as Kubernetes' typed merge reads it.
//!   [`update`] drops nulls from the object it is given.
//! - No version conversion: sets recorded at another apiVersion are compared as if the object
//!   had one shape. No `subresource` writes (entries read with one keep it), no cap of ten
//!   Update entries ("ancient-changes"), no reset of `status` on the main resource, no
//!   reconciliation of sets after a schema change from atomic to granular or back.
//! - `metadata.managedFields` in an apply configuration is ignored (Kubernetes rejects it).
//! - Maps created by an [`update`] are owned with `".": {}` (as Kubernetes does for custom
//!   resources); for built-in kinds Kubernetes leaves it out on struct fields.
//! - The `time` of the applier's entry changes when the object changes; a new entry always gets
//!   one (Kubernetes leaves it out when the first apply of a manager changes nothing). Entries
//!   sort by operation, then `time` compared as text (RFC 3339 in UTC sorts by time).
//! - Conflict messages name `"manager"` or `"manager" using apps/v1`; the subresource is left
//!   out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::fieldpath::{self, PathElement, Set};

/// How a list merges and is owned (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    /// Replaced as a whole and owned as one field.
    Atomic,
    /// A set of scalars, merged by value (`finalizers`).
    Set,
    /// An associative list whose elements are named by their key fields (`x-kubernetes-list-map-keys`).
    Map(Vec<ListMapKey>),
}

impl ListType {
    /// An associative list with keys that have no default.
    pub fn map(keys: &[&str]) -> Self {
        Self::Map(keys.iter().map(|k| ListMapKey::new(k)).collect())
    }
}

/// A key field of an associative list. An element that omits a key with a default is named as
/// if it held the default: a container port without `protocol` is the `TCP` one.
#[derive(Debug, Clone, PartialEq)]
pub struct ListMapKey {
    pub name: String,
    pub default: Option<Value>,
}

impl ListMapKey {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), default: None }
    }

    pub fn with_default(name: &str, default: Value) -> Self {
        Self { name: name.to_string(), default: Some(default) }
    }
}

/// Which objects a schema rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    AllKinds,
    /// One kind of one API group (`""` for the core group), at every version.
    Kind {
        group: String,
        kind: String,
    },
}

impl Scope {
    pub fn kind(group: &str, kind: &str) -> Self {
        Self::Kind { group: group.to_string(), kind: kind.to_string() }
    }
}

/// Which lists are associative, sets or atomic and which maps are atomic; everything not named
/// is an atomic list or a granular map. `Schema::default()` is [`Schema::kubernetes`].
///
/// Rules name paths from the object's root with `.` between fields and `[]` for "every element":
/// `spec.template.spec.containers[].ports`. Field names containing `.` cannot be named.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    all: Rules,
    kinds: BTreeMap<(String, String), Rules>,
}

/// A trie of field names; the rule for a path sits on its node.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rules {
    fields: BTreeMap<String, Rules>,
    item: Option<Box<Rules>>,
    list: Option<ListType>,
    atomic_map: bool,
}

impl Default for Schema {
    fn default() -> Self {
        Self::kubernetes()
    }
}

impl Schema {
    /// No rules: every list atomic, every map granular.
    pub fn empty() -> Self {
        Self { all: Rules::default(), kinds: BTreeMap::new() }
    }

    /// The list types and atomic maps of the built-in kinds Flotilla deploys, from the
    /// Kubernetes API's `+listType`, `+listMapKey` and `+mapType` markers.
    pub fn kubernetes() -> Self {
        let all = Scope::AllKinds;
        let mut schema = Self::empty().with_list(&all, "metadata.finalizers", ListType::Set).with_list(
            &all,
            "metadata.ownerReferences",
            ListType::map(&["uid"]),
        );
        let pod_specs = [
            ("", "Pod", "spec"),
            ("", "PodTemplate", "template.spec"),
            ("", "ReplicationController", "spec.template.spec"),
            ("apps", "Deployment", "spec.template.spec"),
            ("apps", "ReplicaSet", "spec.template.spec"),
            ("apps", "StatefulSet", "spec.template.spec"),
            ("apps", "DaemonSet", "spec.template.spec"),
            ("batch", "Job", "spec.template.spec"),
            ("batch", "CronJob", "spec.jobTemplate.spec.template.spec"),
        ];
        for (group, kind, prefix) in pod_specs {
            schema = schema.with_pod_spec(&Scope::kind(group, kind), prefix);
        }
        // A LabelSelector is `+structType=atomic`.
        for (group, kind) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
        ] {
            schema = schema.with_atomic_map(&Scope::kind(group, kind), "spec.selector");
        }
        let service = Scope::kind("", "Service");
        let tcp = || Value::String("TCP".to_string());
        schema
            .with_list(
                &service,
                "spec.ports",
                ListType::Map(vec![ListMapKey::new("port"), ListMapKey::with_default("protocol", tcp())]),
            )
            .with_atomic_map(&service, "spec.selector")
    }

    fn with_pod_spec(mut self, scope: &Scope, prefix: &str) -> Self {
        let tcp = Value::String("TCP".to_string());
        for containers in ["containers", "initContainers", "ephemeralContainers"] {
            let c = format!("{prefix}.{containers}");
            self = self
                .with_list(scope, &c, ListType::map(&["name"]))
                .with_list(
                    scope,
                    &format!("{c}[].ports"),
                    ListType::Map(vec![
                        ListMapKey::new("containerPort"),
                        ListMapKey::with_default("protocol", tcp.clone()),
                    ]),
                )
                .with_list(scope, &format!("{c}[].env"), ListType::map(&["name"]))
                .with_list(scope, &format!("{c}[].volumeMounts"), ListType::map(&["mountPath"]))
                .with_list(scope, &format!("{c}[].volumeDevices"), ListType::map(&["devicePath"]))
                .with_list(scope, &format!("{c}[].args"), ListType::Atomic)
                .with_list(scope, &format!("{c}[].command"), ListType::Atomic);
        }
        self.with_list(scope, &format!("{prefix}.volumes"), ListType::map(&["name"]))
            .with_list(scope, &format!("{prefix}.imagePullSecrets"), ListType::map(&["name"]))
            .with_list(scope, &format!("{prefix}.tolerations"), ListType::Atomic)
            .with_list(scope, &format!("{prefix}.hostAliases"), ListType::map(&["ip"]))
            .with_list(
                scope,
                &format!("{prefix}.topologySpreadConstraints"),
                ListType::map(&["topologyKey", "whenUnsatisfiable"]),
            )
            .with_atomic_map(scope, &format!("{prefix}.nodeSelector"))
    }

    /// Declares how the list at `path` merges.
    #[must_use]
    pub fn with_list(mut self, scope: &Scope, path: &str, list: ListType) -> Self {
        self.rules_mut(scope, path).list = Some(list);
        self
    }

    /// Declares the map at `path` atomic: replaced and owned as a whole.
    #[must_use]
    pub fn with_atomic_map(mut self, scope: &Scope, path: &str) -> Self {
        self.rules_mut(scope, path).atomic_map = true;
        self
    }

    fn rules_mut(&mut self, scope: &Scope, path: &str) -> &mut Rules {
        let mut rules = match scope {
            Scope::AllKinds => &mut self.all,
            Scope::Kind { group, kind } => self.kinds.entry((group.clone(), kind.clone())).or_default(),
        };
        for segment in path.split('.') {
            let mut name = segment;
            let mut items = 0;
            while let Some(rest) = name.strip_suffix("[]") {
                name = rest;
                items += 1;
            }
            rules = rules.fields.entry(name.to_string()).or_default();
            for _ in 0..items {
                rules = rules.item.get_or_insert_with(Box::default);
            }
        }
        rules
    }

    /// Where the walk over `object` starts: its kind's rules and the rules for all kinds.
    fn cursor(&self, object: &Value) -> Cursor<'_> {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        Cursor { kind: self.kinds.get(&(group.to_string(), kind.to_string())), all: Some(&self.all) }
    }
}

static ATOMIC: ListType = ListType::Atomic;

/// A position in the schema while walking an object; rules for the kind win over rules for all.
#[derive(Debug, Clone, Copy)]
struct Cursor<'s> {
    kind: Option<&'s Rules>,
    all: Option<&'s Rules>,
}

impl<'s> Cursor<'s> {
    fn field(self, name: &str) -> Self {
        Self { kind: self.kind.and_then(|r| r.fields.get(name)), all: self.all.and_then(|r| r.fields.get(name)) }
    }

    fn item(self) -> Self {
        Self { kind: self.kind.and_then(|r| r.item.as_deref()), all: self.all.and_then(|r| r.item.as_deref()) }
    }

    fn list(self) -> &'s ListType {
        self.kind.and_then(|r| r.list.as_ref()).or_else(|| self.all.and_then(|r| r.list.as_ref())).unwrap_or(&ATOMIC)
    }

    /// Whether a list here merges element by element.
    fn granular(self) -> bool {
        !matches!(self.list(), ListType::Atomic)
    }

    fn atomic_map(self) -> bool {
        self.kind.is_some_and(|r| r.atomic_map) || self.all.is_some_and(|r| r.atomic_map)
    }
}

/// Why an element of a granular list has no name. The messages are structured-merge-diff's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemProblem {
    #[error("associative list with keys has an element that omits key field {0:?} (and doesn't have default value)")]
    MissingKey(String),
    /// The element is the named JSON type, not an object.
    #[error("associative list with keys may not have non-map elements")]
    NotAnObject(&'static str),
    /// The element is the named JSON type, not a string, number or boolean.
    #[error("associative list without keys has an element that is {0}")]
    NotAScalar(&'static str),
    #[error("duplicate entries for key {0}")]
    Duplicate(String),
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Other managers own fields the apply would change (HTTP 409).
    #[error(transparent)]
    Conflicts(#[from] Conflicts),
    /// An element of an associative list or set cannot be named (HTTP 400 or 500 in Kubernetes).
    #[error("{list}: element {index}: {problem}")]
    InvalidListItem { list: String, index: usize, problem: ItemProblem },
    #[error("the apply configuration is {found}, not a JSON object")]
    NotAnObject { found: &'static str },
}

/// The two kinds of managedFields entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "Apply" => Some(Self::Apply),
            "Update" => Some(Self::Update),
            _ => None,
        }
    }
}

/// A field another manager owns and the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    /// The apiVersion of the owner's entry; Kubernetes names it for Update owners.
    pub api_version: String,
    /// The field as Kubernetes writes it: `.spec.replicas`, `.spec.containers[name="web"].image`.
    pub field: String,
}

impl Conflict {
    /// The owner as Kubernetes names it: `"kubectl"`, or `"kubectl-edit" using apps/v1` for an
    /// Update entry.
    pub fn owner(&self) -> String {
        let name = Value::String(self.manager.clone()).to_string();
        match self.operation {
            Operation::Apply => name,
            Operation::Update => format!("{name} using {}", self.api_version),
        }
    }

    /// The message of the conflict's `StatusCause` (type `FieldManagerConflict`, field
    /// [`Conflict::field`]).
    pub fn message(&self) -> String {
        format!("conflict with {}", self.owner())
    }
}

/// All conflicts of one apply, grouped by owner. `Display` gives the Status message Kubernetes
/// returns with the 409.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl fmt::Display for Conflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.0.as_slice() {
            return write!(f, "Apply failed with 1 conflict: {}: {}", only.message(), only.field);
        }
        let mut by_owner: BTreeMap<(&str, Operation, &str), Vec<&Conflict>> = BTreeMap::new();
        for c in &self.0 {
            let version = if c.operation == Operation::Update { c.api_version.as_str() } else { "" };
            by_owner.entry((c.manager.as_str(), c.operation, version)).or_default().push(c);
        }
        let mut lines = Vec::new();
        for conflicts in by_owner.values() {
            lines.push(format!("conflicts with {}:", conflicts[0].owner()));
            lines.extend(conflicts.iter().map(|c| format!("- {}", c.field)));
        }
        write!(f, "Apply failed with {} conflicts: {}", self.0.len(), lines.join("\n"))
    }
}

impl std::error::Error for Conflicts {}

/// Applies `config` for `manager` to `live` (`None` creates), with Kubernetes' server-side
/// apply semantics. Returns the object to store, with `metadata.managedFields` rewritten.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
    schema: &Schema,
) -> Result<Value, Error> {
    if !config.is_object() {
        return Err(Error::NotAnObject { found: json_type(config) });
    }
    let live_object = live.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    let mut managers = live.map(recorded_managers).unwrap_or_default();
    if live.is_some() && managers.is_empty() {
        managers.extend(before_first_apply(&live_object, now, schema));
    }
    let mut config = without_managed_fields(config);
    let cursor = schema.cursor(&config);
    drop_ignored_nulls(&mut config, &live_object, cursor);
    let mut applied = Set::new();
    config_set(&config, cursor, &mut Vec::new(), &mut applied)?;

    let mut merged = merge(Some(&live_object), &config, cursor);
    let me = managers.iter().position(|m| m.is(manager, Operation::Apply, ""));
    if let Some(i) = me {
        // Whatever anyone still owns survives, the applier's new configuration included; the
        // unstripped set counts, so that `metadata.name` keeps `metadata` owned.
        let owned =
            managers.iter().enumerate().filter(|&(j, _)| j != i).fold(applied.clone(), |acc, (_, m)| acc.union(&m.set));
        prune(&mut merged, &managers[i].set, Some(&owned), cursor, true);
    }

    let mut comparison = Comparison::default();
    compare(Some(&live_object), Some(&merged), cursor, &mut Vec::new(), &mut comparison);
    let changed = comparison.modified.union(&comparison.added);
    let taken: Vec<(usize, Set)> = managers
        .iter()
        .enumerate()
        .filter(|&(j, _)| Some(j) != me)
        .map(|(j, m)| (j, m.set.intersection(&changed)))
        .filter(|(_, set)| !set.is_empty())
        .collect();
    if !taken.is_empty() && !force {
        return Err(conflicts(&managers, &taken).into());
    }
    // Forced or not, whoever owned what changed or disappeared owns it no more.
    for (j, m) in managers.iter_mut().enumerate() {
        if Some(j) != me {
            m.set = m.set.difference(&changed).difference(&comparison.removed);
        }
    }

    strip_nulls(&mut merged);
    let object_changed = merged != live_object;
    let api_version = api_version(&config);
    let set = applied.difference(&server_fields());
    match me {
        Some(i) => {
            let m = &mut managers[i];
            m.set = set;
            m.api_version = api_version;
            if object_changed || m.time.is_none() {
                m.time = Some(now.to_string());
            }
        }
        None => managers.push(Manager::new(manager, Operation::Apply, api_version, now, set)),
    }
    write_managed_fields(&mut merged, managers);
    Ok(merged)
}

/// Records a write that is not an apply (create with `old` = `Value::Null`, PUT, JSON, merge or
/// strategic patch): `manager` takes ownership of every field it changed or added, in its Update
/// entry for the new object's apiVersion, and nobody else owns them any more. No conflicts.
/// Returns `new` with `metadata.managedFields` rewritten.
///
/// `new`'s own managedFields, as Kubernetes reads them: absent, `[]` or unreadable keep the old
/// ones; `[{}]` clears them before the write is recorded; any other readable list replaces them.
/// A `new` that is not an object is returned as it is.
pub fn update(old: &Value, new: &Value, manager: &str, now: &str, schema: &Schema) -> Value {
    if !new.is_object() {
        return new.clone();
    }
    let old_object = if old.is_null() { Value::Object(Map::new()) } else { without_managed_fields(old) };
    let mut managers = match declared_managers(new) {
        Declared::Reset => Vec::new(),
        Declared::Entries(managers) => managers,
        Declared::Absent | Declared::Invalid => recorded_managers(old),
    };
    let mut new_object = without_managed_fields(new);
    strip_nulls(&mut new_object);

    let mut comparison = Comparison::default();
    compare(Some(&old_object), Some(&new_object), schema.cursor(&new_object), &mut Vec::new(), &mut comparison);
    let changed = comparison.modified.union(&comparison.added);
    for m in &mut managers {
        m.set = m.set.difference(&changed).difference(&comparison.removed);
    }
    let gained = changed.difference(&server_fields());
    if !gained.is_empty() {
        let api_version = api_version(&new_object);
        match managers.iter_mut().find(|m| m.is(manager, Operation::Update, &api_version)) {
            Some(m) => {
                m.set = m.set.union(&gained);
                m.time = Some(now.to_string());
            }
            None => managers.push(Manager::new(manager, Operation::Update, api_version, now, gained)),
        }
    }
    write_managed_fields(&mut new_object, managers);
    new_object
}

/// Kubernetes gives the fields of an object nobody owns (its managedFields were cleared) to an
/// Update entry `before-first-apply`, so that the first apply cannot change them silently.
fn before_first_apply(live_object: &Value, now: &str, schema: &Schema) -> Option<Manager> {
    let mut comparison = Comparison::default();
    let empty = Value::Object(Map::new());
    compare(Some(&empty), Some(live_object), schema.cursor(live_object), &mut Vec::new(), &mut comparison);
    let set = comparison.added.union(&comparison.modified).difference(&server_fields());
    (!set.is_empty()).then(|| Manager::new("before-first-apply", Operation::Update, api_version(live_object), now, set))
}

fn conflicts(managers: &[Manager], taken: &[(usize, Set)]) -> Conflicts {
    let mut taken: Vec<&(usize, Set)> = taken.iter().collect();
    taken.sort_by(|a, b| managers[a.0].sort_key_for_conflicts().cmp(&managers[b.0].sort_key_for_conflicts()));
    let mut out = Vec::new();
    for (j, set) in taken {
        let m = &managers[*j];
        for path in set.paths() {
            out.push(Conflict {
                manager: m.name.clone(),
                operation: m.operation,
                api_version: m.api_version.clone(),
                field: fieldpath::display(&path),
            });
        }
    }
    Conflicts(out)
}

/// One managedFields entry.
#[derive(Debug, Clone)]
struct Manager {
    name: String,
    operation: Operation,
    api_version: String,
    subresource: String,
    time: Option<String>,
    set: Set,
}

impl Manager {
    fn new(name: &str, operation: Operation, api_version: String, now: &str, set: Set) -> Self {
        Self {
            name: name.to_string(),
            operation,
            api_version,
            subresource: String::new(),
            time: Some(now.to_string()),
            set,
        }
    }

    /// Kubernetes' manager identity: an applier has one entry whatever apiVersion it applies
    /// at, an updater one per apiVersion.
    fn is(&self, name: &str, operation: Operation, api_version: &str) -> bool {
        self.name == name
            && self.operation == operation
            && self.subresource.is_empty()
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn same_identity(&self, other: &Manager) -> bool {
        self.name == other.name
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    fn sort_key_for_conflicts(&self) -> (&str, Operation, &str) {
        let version = if self.operation == Operation::Update { self.api_version.as_str() } else { "" };
        (&self.name, self.operation, version)
    }

    fn from_json(entry: &Value) -> Option<Self> {
        let entry = entry.as_object()?;
        let text = |key: &str| entry.get(key).and_then(Value::as_str);
        let operation = Operation::parse(text("operation")?)?;
        let api_version = text("apiVersion").filter(|v| !v.is_empty())?;
        if text("fieldsType") != Some("FieldsV1") {
            return None;
        }
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => Set::new(),
            Some(fields) => Set::from_fields_v1(fields).ok()?,
        };
        Some(Self {
            name: text("manager").unwrap_or_default().to_string(),
            operation,
            api_version: api_version.to_string(),
            subresource: text("subresource").unwrap_or_default().to_string(),
            time: text("time").map(str::to_string),
            set,
        })
    }

    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".to_string(), Value::String(self.name.clone()));
        entry.insert("operation".to_string(), Value::String(self.operation.as_str().to_string()));
        entry.insert("apiVersion".to_string(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            entry.insert("time".to_string(), Value::String(time.clone()));
        }
        entry.insert("fieldsType".to_string(), Value::String("FieldsV1".to_string()));
        entry.insert("fieldsV1".to_string(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            entry.insert("subresource".to_string(), Value::String(self.subresource.clone()));
        }
        Value::Object(entry)
    }
}

/// What an object's `metadata.managedFields` says.
enum Declared {
    Absent,
    /// `[{}]`: Kubernetes' way to clear managedFields.
    Reset,
    Entries(Vec<Manager>),
    Invalid,
}

fn declared_managers(object: &Value) -> Declared {
    let entries = match object.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => return Declared::Absent,
        Some(Value::Array(entries)) => entries,
        Some(_) => return Declared::Invalid,
    };
    match entries.as_slice() {
        // The API documentation: an empty list does not reset, so that clients unaware of the
        // field cannot drop it.
        [] => Declared::Absent,
        [Value::Object(only)] if only.is_empty() => Declared::Reset,
        _ => {
            let mut managers: Vec<Manager> = Vec::new();
            for entry in entries {
                let Some(m) = Manager::from_json(entry) else { return Declared::Invalid };
                // As in Kubernetes' decoder, a later entry with the same identity wins.
                managers.retain(|other| !other.same_identity(&m));
                managers.push(m);
            }
            Declared::Entries(managers)
        }
    }
}

/// The managers recorded on a stored object; unreadable managedFields count as none, as in
/// Kubernetes.
fn recorded_managers(object: &Value) -> Vec<Manager> {
    match declared_managers(object) {
        Declared::Entries(managers) => managers,
        Declared::Absent | Declared::Reset | Declared::Invalid => Vec::new(),
    }
}

fn write_managed_fields(object: &mut Value, mut managers: Vec<Manager>) {
    managers.retain(|m| !m.set.is_empty());
    // Kubernetes' order: Apply before Update, then oldest first, then by name and version.
    managers.sort_by(|a, b| {
        (a.operation, a.time.as_deref().unwrap_or(""), &a.name, &a.api_version, &a.subresource).cmp(&(
            b.operation,
            b.time.as_deref().unwrap_or(""),
            &b.name,
            &b.api_version,
            &b.subresource,
        ))
    });
    let Value::Object(root) = object else { return };
    if managers.is_empty() {
        if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
            metadata.remove("managedFields");
        }
        return;
    }
    let metadata = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(metadata) = metadata {
        metadata.insert("managedFields".to_string(), Value::Array(managers.iter().map(Manager::to_json).collect()));
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        metadata.remove("managedFields");
    }
    object
}

fn api_version(object: &Value) -> String {
    object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Fields that name the object or that the server sets: nobody owns them (Kubernetes' stripped
/// metadata). `metadata` itself only as a member, so its children stay owned.
fn server_fields() -> Set {
    let mut set = Set::new();
    for name in ["apiVersion", "kind", "metadata"] {
        set.insert(&[PathElement::field(name)]);
    }
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[PathElement::field("metadata"), PathElement::field(name)]);
    }
    set
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

type Elements<'v> = Vec<(PathElement, &'v Value)>;

/// Names the elements of a granular list, or says which one cannot be named.
fn elements<'v>(list: &ListType, items: &'v [Value]) -> Result<Elements<'v>, (usize, ItemProblem)> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let element = match list {
            ListType::Atomic => PathElement::index(index),
            ListType::Set => match item {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => PathElement::value(item),
                other => return Err((index, ItemProblem::NotAScalar(json_type(other)))),
            },
            ListType::Map(keys) => {
                let Value::Object(fields) = item else {
                    return Err((index, ItemProblem::NotAnObject(json_type(item))));
                };
                let mut key = Vec::with_capacity(keys.len());
                for k in keys {
                    let value = fields.get(&k.name).filter(|v| !v.is_null()).or(k.default.as_ref());
                    let Some(value) = value else { return Err((index, ItemProblem::MissingKey(k.name.clone()))) };
                    key.push((k.name.as_str(), value));
                }
                PathElement::key(&key)
            }
        };
        if !seen.insert(element.clone()) {
            return Err((index, ItemProblem::Duplicate(element.to_string())));
        }
        out.push((element, item));
    }
    Ok(out)
}

/// The fields an apply configuration sets: leaves (scalars, nulls, atomic lists and maps, empty
/// maps) and the elements of granular lists, each with its own fields.
fn config_set(value: &Value, cursor: Cursor<'_>, path: &mut Vec<PathElement>, out: &mut Set) -> Result<(), Error> {
    match value {
        Value::Object(map) if !cursor.atomic_map() && !map.is_empty() => {
            for (name, child) in map {
                path.push(PathElement::field(name));
                config_set(child, cursor.field(name), path, out)?;
                path.pop();
            }
        }
        Value::Array(items) if cursor.granular() => {
            let elements = elements(cursor.list(), items).map_err(|(index, problem)| Error::InvalidListItem {
                list: fieldpath::display(path),
                index,
                problem,
            })?;
            for (element, item) in elements {
                path.push(element);
                out.insert(path);
                if item.is_object() {
                    config_set(item, cursor.item(), path, out)?;
                }
                path.pop();
            }
        }
        _ => out.insert(path),
    }
    Ok(())
}

/// Merges `config` into `live`: maps field by field, granular lists element by element, the
/// configuration's value for everything else.
fn merge(live: Option<&Value>, config: &Value, cursor: Cursor<'_>) -> Value {
    let Some(live) = live else { return config.clone() };
    match (live, config) {
        // Two empty values are a leaf: the configuration's one wins.
        (Value::Object(l), Value::Object(c)) if !cursor.atomic_map() && (!l.is_empty() || !c.is_empty()) => {
            let mut out = Map::new();
            for (name, lv) in l {
                let value = match c.get(name) {
                    Some(cv) => merge(Some(lv), cv, cursor.field(name)),
                    None => lv.clone(),
                };
                out.insert(name.clone(), value);
            }
            for (name, cv) in c {
                if !l.contains_key(name) {
                    out.insert(name.clone(), cv.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) if cursor.granular() && (!l.is_empty() || !c.is_empty()) => {
            // A live list that cannot be keyed (written by an update) is replaced, as if atomic.
            let (Ok(l), Ok(c)) = (elements(cursor.list(), l), elements(cursor.list(), c)) else {
                return config.clone();
            };
            Value::Array(merge_items(&l, &c, cursor.item()))
        }
        _ => config.clone(),
    }
}

/// structured-merge-diff's list order: the configuration's order for the elements it names,
/// elements only the live list has stay where they were relative to those, and a new element
/// goes where the configuration puts it.
fn merge_items(live: &[(PathElement, &Value)], config: &[(PathElement, &Value)], cursor: Cursor<'_>) -> Vec<Value> {
    let live_by_name: HashMap<&PathElement, &Value> = live.iter().map(|(e, v)| (e, *v)).collect();
    let in_config: HashSet<&PathElement> = config.iter().map(|(e, _)| e).collect();
    let mut shared = config.iter().map(|(e, _)| e).filter(|e| live_by_name.contains_key(e));
    let mut next_shared = shared.next();
    let mut merged: HashSet<&PathElement> = HashSet::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut l, mut c) = (0, 0);
    while l < live.len() || c < config.len() {
        if l < live.len() && c < config.len() {
            let element = &live[l].0;
            if *element == config[c].0 {
                out.push(merge(Some(live[l].1), config[c].1, cursor));
                merged.insert(element);
                l += 1;
                c += 1;
                next_shared = shared.next();
                continue;
            }
            if in_config.contains(element) && next_shared.is_some_and(|n| n != element) {
                // Shared, but its turn comes later in the configuration's order.
                l += 1;
                continue;
            }
        }
        if l < live.len() {
            let element = &live[l].0;
            if !in_config.contains(element) {
                out.push(live[l].1.clone());
                l += 1;
                continue;
            }
            if merged.contains(element) || c >= config.len() {
                l += 1;
                continue;
            }
        }
        if c < config.len() {
            let (element, value) = &config[c];
            out.push(merge(live_by_name.get(element).copied(), value, cursor));
            merged.insert(element);
            c += 1;
            if next_shared == Some(element) {
                next_shared = shared.next();
            }
        }
    }
    out
}

/// The difference between two versions of an object, as paths.
#[derive(Debug, Default)]
struct Comparison {
    added: Set,
    modified: Set,
    removed: Set,
}

fn compare(
    old: Option<&Value>,
    new: Option<&Value>,
    cursor: Cursor<'_>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
) {
    if compare_children(old, new, cursor, path, out) {
        // A map or list element that appears or disappears is itself added or removed too.
        if old.is_none() {
            out.added.insert(path);
        }
        if new.is_none() {
            out.removed.insert(path);
        }
        return;
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if a != b => out.modified.insert(path),
        _ => {}
    }
}

/// Compares granular maps and lists child by child; false when the pair is a leaf (scalars,
/// atomic values, both sides empty, a change of type).
fn compare_children(
    old: Option<&Value>,
    new: Option<&Value>,
    cursor: Cursor<'_>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
) -> bool {
    match (old, new) {
        (Some(Value::Object(_)) | None, Some(Value::Object(_)) | None) if !cursor.atomic_map() => {
            let empty = Map::new();
            let o = old.and_then(Value::as_object).unwrap_or(&empty);
            let n = new.and_then(Value::as_object).unwrap_or(&empty);
            if o.is_empty() && n.is_empty() {
                return false;
            }
            for (name, ov) in o {
                path.push(PathElement::field(name));
                compare(Some(ov), n.get(name), cursor.field(name), path, out);
                path.pop();
            }
            for (name, nv) in n {
                if !o.contains_key(name) {
                    path.push(PathElement::field(name));
                    compare(None, Some(nv), cursor.field(name), path, out);
                    path.pop();
                }
            }
            true
        }
        (Some(Value::Array(_)) | None, Some(Value::Array(_)) | None) if cursor.granular() => {
            let o = old.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            let n = new.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            if o.is_empty() && n.is_empty() {
                return false;
            }
            let (Ok(o), Ok(n)) = (elements(cursor.list(), o), elements(cursor.list(), n)) else { return false };
            let old_by_name: HashMap<&PathElement, &Value> = o.iter().map(|(e, v)| (e, *v)).collect();
            let new_by_name: HashMap<&PathElement, &Value> = n.iter().map(|(e, v)| (e, *v)).collect();
            for (element, nv) in &n {
                path.push(element.clone());
                compare(old_by_name.get(element).copied(), Some(nv), cursor.item(), path, out);
                path.pop();
            }
            for (element, ov) in &o {
                if !new_by_name.contains_key(element) {
                    path.push(element.clone());
                    compare(Some(ov), None, cursor.item(), path, out);
                    path.pop();
                }
            }
            true
        }
        _ => false,
    }
}

/// Removes from the merged object what the applier owned last time (`last`) and nobody owns now
/// (`owned`, the applier's new configuration included), as structured-merge-diff's prune does:
/// a map field goes when nobody owns it or anything under it; a list element goes when the
/// applier owned the element itself and nobody else does, even if someone owns a field inside
/// it.
fn prune(value: &mut Value, last: &Set, owned: Option<&Set>, cursor: Cursor<'_>, at_root: bool) {
    match value {
        Value::Object(map) if !cursor.atomic_map() => {
            map.retain(|name, child| {
                let element = PathElement::field(name);
                let Some(last_below) = last.child(&element) else { return true };
                let owned_below = owned.and_then(|o| o.child(&element));
                // Removing the object's identity or all of its metadata would break it.
                let identity = at_root && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
                if owned_below.is_none() && !identity {
                    return false;
                }
                prune(child, last_below, owned_below, cursor.field(name), false);
                true
            });
        }
        Value::Array(items) if cursor.granular() => {
            let Ok(elements) = elements(cursor.list(), items) else { return };
            let names: Vec<PathElement> = elements.into_iter().map(|(e, _)| e).collect();
            let mut kept = Vec::with_capacity(items.len());
            for (element, mut item) in names.into_iter().zip(std::mem::take(items)) {
                if let Some(last_below) = last.child(&element) {
                    if last.is_member(&element) && !owned.is_some_and(|o| o.is_member(&element)) {
                        continue;
                    }
                    prune(&mut item, last_below, owned.and_then(|o| o.child(&element)), cursor.item(), false);
                }
                kept.push(item);
            }
            *items = kept;
        }
        _ => {}
    }
}

/// Kubernetes' typed merge reads `null` over a map or a granular list as an absent value: no
/// opinion, nothing owned, the live value kept. Such nulls are dropped from the configuration.
fn drop_ignored_nulls(config: &mut Value, live: &Value, cursor: Cursor<'_>) {
    match (config, live) {
        (Value::Object(c), Value::Object(l)) if !cursor.atomic_map() => {
            c.retain(|name, cv| {
                let Some(lv) = l.get(name) else { return true };
                let inner = cursor.field(name);
                if cv.is_null() {
                    let granular = match lv {
                        Value::Object(_) => !inner.atomic_map(),
                        Value::Array(_) => inner.granular(),
                        _ => false,
                    };
                    return !granular;
                }
                drop_ignored_nulls(cv, lv, inner);
                true
            });
        }
        (Value::Array(c), Value::Array(l)) if cursor.granular() => {
            let Ok(names) = elements(cursor.list(), c).map(|e| e.into_iter().map(|(name, _)| name).collect::<Vec<_>>())
            else {
                return;
            };
            let Ok(live_elements) = elements(cursor.list(), l) else { return };
            let live_by_name: HashMap<PathElement, &Value> = live_elements.into_iter().collect();
            for (name, item) in names.iter().zip(c.iter_mut()) {
                if let Some(lv) = live_by_name.get(name) {
                    drop_ignored_nulls(item, lv, cursor.item());
                }
            }
        }
        _ => {}
    }
}

/// A stored object has no null fields: Kubernetes decodes them away.
pub(crate) fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const T1: &str = "2024-05-01T10:00:00Z";
    const T2: &str = "2024-05-01T10:05:00Z";
    const T3: &str = "2024-05-01T10:10:00Z";

    fn deployment(spec: &Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": spec,
        })
    }

    /// A configuration that says nothing about the spec (`"spec": {}` would own `spec` itself).
    fn bare() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}})
    }

    fn with_containers(containers: &Value) -> Value {
        deployment(&json!({"template": {"spec": {"containers": containers}}}))
    }

    fn apply_at(live: Option<&Value>, config: &Value, manager: &str, now: &str) -> Result<Value, Error> {
        apply(live, config, manager, false, now, &Schema::default())
    }

    fn ok(live: Option<&Value>, config: &Value, manager: &str) -> Value {
        apply_at(live, config, manager, T1).unwrap()
    }

    fn entries(object: &Value) -> Vec<Value> {
        object.pointer("/metadata/managedFields").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    /// The fieldsV1 of `manager`'s entry for `operation`, or null.
    fn fields(object: &Value, manager: &str, operation: &str) -> Value {
        entries(object)
            .into_iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
            .map_or(Value::Null, |e| e["fieldsV1"].clone())
    }

    fn owners(object: &Value) -> Vec<(String, String)> {
        entries(object)
            .iter()
            .map(|e| (e["manager"].as_str().unwrap().to_string(), e["operation"].as_str().unwrap().to_string()))
            .collect()
    }

    fn conflict(manager: &str, operation: Operation, field: &str) -> Conflict {
        Conflict {
            manager: manager.to_string(),
            operation,
            api_version: "apps/v1".to_string(),
            field: field.to_string(),
        }
    }

    #[test]
    fn apply_creates_the_object_with_one_apply_entry_like_kubernetes() {
        let config = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
                },
            },
        });
        let created = ok(None, &config, "flotilla");
        assert_eq!(without_managed_fields(&created), config);
        // The shape `kubectl apply --server-side` leaves: no apiVersion, kind, name or
        // namespace; the atomic selector as one leaf; elements named by key, the port by its
        // defaulted protocol too.
        assert_eq!(
            entries(&created),
            [json!({
                "manager": "flotilla",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                                ".": {},
                                "f:image": {},
                                "f:name": {},
                                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}},
                            }}},
                        },
                    },
                },
            })]
        );
    }

    #[test]
    fn reapply_removes_what_the_manager_stopped_applying_and_keeps_server_metadata() {
        let mut config = deployment(&json!({"replicas": 3, "paused": false}));
        config["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
        config["metadata"]["annotations"] = json!({"note": "x"});
        let mut live = ok(None, &config, "flotilla");
        // The caller's metadata, which nobody owns.
        live["metadata"]["uid"] = json!("0f1e");
        live["metadata"]["resourceVersion"] = json!("7");

        let mut smaller = deployment(&json!({"paused": false}));
        smaller["metadata"]["labels"] = json!({"app": "web"});
        let after = apply_at(Some(&live), &smaller, "flotilla", T2).unwrap();

        assert_eq!(after.pointer("/spec"), Some(&json!({"paused": false})));
        assert_eq!(after["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(after["metadata"].get("annotations"), None, "an emptied map goes away");
        assert_eq!(after["metadata"]["uid"], "0f1e");
        assert_eq!(after["metadata"]["resourceVersion"], "7");
        assert_eq!(
            fields(&after, "flotilla", "Apply"),
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:paused": {}}})
        );
        assert_eq!(entries(&after)[0]["time"], T2);
    }

    #[test]
    fn a_field_another_manager_also_applied_stays_when_one_drops_it() {
        let live = ok(None, &deployment(&json!({"replicas": 3, "minReadySeconds": 5})), "a");
        // Same value: no conflict, shared ownership.
        let live = ok(Some(&live), &deployment(&json!({"replicas": 3})), "b");
        assert_eq!(fields(&live, "a", "Apply")["f:spec"], json!({"f:minReadySeconds": {}, "f:replicas": {}}));
        assert_eq!(fields(&live, "b", "Apply")["f:spec"], json!({"f:replicas": {}}));

        let live = ok(Some(&live), &deployment(&json!({"minReadySeconds": 5})), "a");
        assert_eq!(live["spec"]["replicas"], 3, "b still owns it");
        assert_eq!(fields(&live, "a", "Apply")["f:spec"], json!({"f:minReadySeconds": {}}));

        let live = ok(Some(&live), &bare(), "b");
        assert_eq!(live["spec"], json!({"minReadySeconds": 5}), "now nobody owns replicas");
        assert_eq!(owners(&live), [("a".to_string(), "Apply".to_string())], "an empty entry is dropped");
    }

    #[test]
    fn two_appliers_setting_different_values_conflict_naming_manager_and_field() {
        let live = ok(None, &deployment(&json!({"replicas": 1})), "a");
        let err = apply_at(Some(&live), &deployment(&json!({"replicas": 2})), "b", T2).unwrap_err();
        let Error::Conflicts(conflicts) = err else { panic!("expected conflicts, got {err:?}") };
        assert_eq!(conflicts.0, [conflict("a", Operation::Apply, ".spec.replicas")]);
        assert_eq!(conflicts.to_string(), r#"Apply failed with 1 conflict: conflict with "a": .spec.replicas"#);
        assert_eq!(conflicts.0[0].message(), r#"conflict with "a""#);
    }

    #[test]
    fn several_conflicts_are_grouped_by_owner_in_the_message() {
        let live = ok(None, &deployment(&json!({"replicas": 1, "paused": true})), "a");
        let live = update(
            &live,
            &deployment(&json!({"replicas": 1, "paused": true, "minReadySeconds": 3})),
            "ctl",
            T2,
            &Schema::default(),
        );
        let err =
            apply_at(Some(&live), &deployment(&json!({"replicas": 2, "paused": false, "minReadySeconds": 4})), "b", T3)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.paused\n- .spec.replicas\n\
             conflicts with \"ctl\" using apps/v1:\n- .spec.minReadySeconds"
        );
    }

    #[test]
    fn force_takes_the_field_from_its_owner() {
        let live = ok(None, &deployment(&json!({"replicas": 1, "paused": false})), "a");
        let forced =
            apply(Some(&live), &deployment(&json!({"replicas": 2})), "b", true, T2, &Schema::default()).unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        assert_eq!(fields(&forced, "a", "Apply")["f:spec"], json!({"f:paused": {}}));
        assert_eq!(fields(&forced, "b", "Apply")["f:spec"], json!({"f:replicas": {}}));
        // a can no longer remove it by dropping it, and gets a conflict if it insists.
        let dropped = ok(Some(&forced), &deployment(&json!({"paused": false})), "a");
        assert_eq!(dropped["spec"]["replicas"], 2);
        let err = apply_at(Some(&forced), &deployment(&json!({"replicas": 1, "paused": false})), "a", T3).unwrap_err();
        assert!(matches!(err, Error::Conflicts(c) if c.0 == [conflict("b", Operation::Apply, ".spec.replicas")]));
    }

    #[test]
    fn an_update_takes_ownership_and_a_later_apply_conflicts_with_the_updater() {
        let live = ok(None, &deployment(&json!({"replicas": 1, "paused": false})), "flotilla");
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        let live = update(&live, &edited, "kubectl-edit", T2, &Schema::default());

        assert_eq!(live["spec"]["replicas"], 5);
        assert_eq!(fields(&live, "flotilla", "Apply")["f:spec"], json!({"f:paused": {}}));
        let edit = entries(&live).into_iter().find(|e| e["manager"] == "kubectl-edit").unwrap();
        assert_eq!(
            edit,
            json!({
                "manager": "kubectl-edit",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": T2,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            })
        );

        // Not applying replicas any more leaves the updater's value alone...
        let kept = apply_at(Some(&live), &deployment(&json!({"paused": false})), "flotilla", T3).unwrap();
        assert_eq!(kept["spec"]["replicas"], 5);
        // ...and applying another value conflicts with the updater.
        let err =
            apply_at(Some(&live), &deployment(&json!({"replicas": 1, "paused": false})), "flotilla", T3).unwrap_err();
        let Error::Conflicts(conflicts) = err else { panic!("expected conflicts, got {err:?}") };
        assert_eq!(conflicts.0, [conflict("kubectl-edit", Operation::Update, ".spec.replicas")]);
        assert_eq!(
            conflicts.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas"#
        );
    }

    #[test]
    fn containers_of_two_managers_merge_by_name_and_leave_one_at_a_time() {
        let web = json!({"name": "web", "image": "shop:1"});
        let sidecar = json!({"name": "proxy", "image": "envoy:1"});
        let live = ok(None, &with_containers(&json!([web])), "flotilla");
        let live = ok(Some(&live), &with_containers(&json!([sidecar])), "mesh");
        assert_eq!(live["spec"]["template"]["spec"]["containers"], json!([web, sidecar]));
        let containers = |m: &str| fields(&live, m, "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"].clone();
        assert_eq!(containers("flotilla"), json!({"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}));
        assert_eq!(containers("mesh"), json!({"k:{\"name\":\"proxy\"}": {".": {}, "f:image": {}, "f:name": {}}}));

        // Each changes its own container without conflict.
        let web2 = json!({"name": "web", "image": "shop:2", "env": [{"name": "MODE", "value": "prod"}]});
        let live = apply_at(Some(&live), &with_containers(&json!([web2])), "flotilla", T2).unwrap();
        assert_eq!(live["spec"]["template"]["spec"]["containers"], json!([web2, sidecar]));

        // The mesh stops injecting its sidecar: only that element goes.
        let live = apply_at(Some(&live), &bare(), "mesh", T3).unwrap();
        assert_eq!(live["spec"]["template"]["spec"]["containers"], json!([web2]));
        assert_eq!(owners(&live), [("flotilla".to_string(), "Apply".to_string())]);

        // And a field inside the other's container is a conflict.
        let err = apply_at(Some(&live), &with_containers(&json!([{"name": "web", "image": "evil:1"}])), "mesh", T3)
            .unwrap_err();
        assert!(matches!(err, Error::Conflicts(c)
            if c.0 == [conflict("flotilla", Operation::Apply, r#".spec.template.spec.containers[name="web"].image"#)]));
    }

    #[test]
    fn list_order_follows_the_configuration_for_the_elements_it_names() {
        let c = |name: &str| json!({"name": name, "image": "i"});
        let live = ok(None, &with_containers(&json!([c("a"), c("b")])), "one");
        // A new element goes where the configuration puts it, live-only ones keep their place.
        let live = ok(Some(&live), &with_containers(&json!([c("x"), c("a")])), "two");
        assert_eq!(live["spec"]["template"]["spec"]["containers"], json!([c("x"), c("a"), c("b")]));
        let live = ok(Some(&live), &with_containers(&json!([c("b"), c("a")])), "one");
        assert_eq!(live["spec"]["template"]["spec"]["containers"], json!([c("x"), c("b"), c("a")]));
    }

    #[test]
    fn an_atomic_list_is_replaced_and_owned_whole() {
        let web = |args: &Value| with_containers(&json!([{"name": "web", "args": args}]));
        let live = ok(None, &web(&json!(["--a", "--b"])), "flotilla");
        let live = ok(Some(&live), &web(&json!(["--c"])), "flotilla");
        assert_eq!(live["spec"]["template"]["spec"]["containers"][0]["args"], json!(["--c"]));
        assert_eq!(
            fields(&live, "flotilla", "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"],
            json!({".": {}, "f:args": {}, "f:name": {}})
        );
        let err = apply_at(Some(&live), &web(&json!(["--c", "--d"])), "other", T2).unwrap_err();
        assert!(matches!(err, Error::Conflicts(c)
            if c.0 == [conflict("flotilla", Operation::Apply, r#".spec.template.spec.containers[name="web"].args"#)]));
    }

    #[test]
    fn lists_of_unknown_kinds_are_atomic_and_maps_granular() {
        let widget = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
        let live = ok(None, &widget(json!({"items": [{"name": "a"}], "size": 1})), "a");
        let live = ok(Some(&live), &widget(json!({"color": "red"})), "b");
        assert_eq!(live["spec"], json!({"items": [{"name": "a"}], "size": 1, "color": "red"}));
        let err = apply_at(Some(&live), &widget(json!({"items": [{"name": "b"}]})), "b", T2).unwrap_err();
        assert!(matches!(err, Error::Conflicts(c) if c.0[0].field == ".spec.items"));
        let forced =
            apply(Some(&live), &widget(json!({"items": [{"name": "b"}]})), "b", true, T2, &Schema::default()).unwrap();
        assert_eq!(forced["spec"]["items"], json!([{"name": "b"}]));
        assert_eq!(fields(&forced, "b", "Apply")["f:spec"], json!({"f:items": {}}), "b dropped color, owns the list");
        assert_eq!(forced["spec"].get("color"), None);
    }

    #[test]
    fn finalizers_merge_by_value() {
        let with = |finalizers: &Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
        let live = ok(None, &with(&json!(["a.io/x"])), "a");
        let live = ok(Some(&live), &with(&json!(["b.io/y"])), "b");
        assert_eq!(live["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
        assert_eq!(fields(&live, "b", "Apply"), json!({"f:metadata": {"f:finalizers": {"v:\"b.io/y\"": {}}}}));
        let live = ok(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}), "a");
        assert_eq!(live["metadata"]["finalizers"], json!(["b.io/y"]));
    }

    #[test]
    fn service_ports_are_keyed_by_port_and_protocol() {
        let service = |ports: &Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"}, "spec": {"ports": ports, "selector": {"app": "dns"}}});
        let live = ok(
            None,
            &service(&json!([{"port": 53, "name": "tcp"}, {"port": 53, "protocol": "UDP", "name": "udp"}])),
            "a",
        );
        assert_eq!(live["spec"]["ports"].as_array().map(Vec::len), Some(2));
        let spec = fields(&live, "a", "Apply")["f:spec"].clone();
        assert_eq!(spec["f:selector"], json!({}), "a Service selector is atomic");
        assert!(spec["f:ports"].get("k:{\"port\":53,\"protocol\":\"TCP\"}").is_some());
        assert!(spec["f:ports"].get("k:{\"port\":53,\"protocol\":\"UDP\"}").is_some());
    }

    #[test]
    fn null_removes_a_scalar_and_is_no_opinion_for_a_map() {
        let mut config = deployment(&json!({"replicas": 3}));
        config["metadata"]["labels"] = json!({"app": "web"});
        let live = ok(None, &config, "a");
        let live = ok(Some(&live), &deployment(&json!({"replicas": 3})), "b");
        let mut nulls = deployment(&json!({"replicas": null}));
        nulls["metadata"]["labels"] = Value::Null;
        let err = apply_at(Some(&live), &nulls, "a", T2).unwrap_err();
        assert!(matches!(err, Error::Conflicts(c) if c.0 == [conflict("b", Operation::Apply, ".spec.replicas")]));
        let after = apply(Some(&live), &nulls, "a", true, T2, &Schema::default()).unwrap();
        assert_eq!(after["spec"].get("replicas"), None);
        assert_eq!(fields(&after, "a", "Apply"), json!({"f:spec": {"f:replicas": {}}}));
        // The labels were a's and a no longer applies them, so they go, but not because of null.
        assert_eq!(after["metadata"].get("labels"), None);
        let mut keep_labels = config.clone();
        keep_labels["metadata"]["labels"] = Value::Null;
        let kept = ok(Some(&ok(None, &config, "c")), &keep_labels, "d");
        assert_eq!(kept["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn fields_others_added_survive_a_reapply() {
        let live = ok(None, &deployment(&json!({"replicas": 1})), "flotilla");
        let mut scaled = live.clone();
        scaled["metadata"]["labels"] = json!({"owner": "team"});
        scaled["spec"]["strategy"] = json!({"type": "Recreate"});
        let live = update(&live, &scaled, "kubectl-label", T2, &Schema::default());
        let live = apply_at(Some(&live), &deployment(&json!({"replicas": 1})), "flotilla", T3).unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"owner": "team"}));
        assert_eq!(live["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn an_element_the_applier_owned_goes_even_if_an_updater_changed_a_field_in_it() {
        // structured-merge-diff keeps a list element only if someone owns the element itself.
        let live =
            ok(None, &with_containers(&json!([{"name": "web", "image": "a"}, {"name": "old", "image": "b"}])), "f");
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][1]["image"] = json!("c");
        let live = update(&live, &edited, "kubectl-edit", T2, &Schema::default());
        let live = apply_at(Some(&live), &with_containers(&json!([{"name": "web", "image": "a"}])), "f", T3).unwrap();
        assert_eq!(live["spec"]["template"]["spec"]["containers"], json!([{"name": "web", "image": "a"}]));
        assert_eq!(owners(&live), [("f".to_string(), "Apply".to_string())], "the updater's field went with it");
    }

    #[test]
    fn fields_of_an_object_without_managed_fields_belong_to_before_first_apply() {
        let unowned = deployment(&json!({"replicas": 1}));
        let err = apply_at(Some(&unowned), &deployment(&json!({"replicas": 2})), "f", T2).unwrap_err();
        assert!(matches!(err, Error::Conflicts(c)
            if c.0 == [conflict("before-first-apply", Operation::Update, ".spec.replicas")]));
        let shared = apply_at(Some(&unowned), &deployment(&json!({"replicas": 1})), "f", T2).unwrap();
        assert_eq!(
            owners(&shared),
            [("f".to_string(), "Apply".to_string()), ("before-first-apply".to_string(), "Update".to_string())]
        );
    }

    #[test]
    fn reapplying_the_same_configuration_changes_nothing() {
        let config = with_containers(&json!([{"name": "web", "image": "a"}]));
        let live = ok(None, &config, "f");
        assert_eq!(apply_at(Some(&live), &config, "f", T3).unwrap(), live, "not even the time");
    }

    #[test]
    fn an_element_without_its_key_is_refused() {
        let err = apply_at(None, &with_containers(&json!([{"image": "a"}])), "f", T1).unwrap_err();
        assert_eq!(
            err,
            Error::InvalidListItem {
                list: ".spec.template.spec.containers".to_string(),
                index: 0,
                problem: ItemProblem::MissingKey("name".to_string()),
            }
        );
        let twice = with_containers(&json!([{"name": "a"}, {"name": "a"}]));
        assert!(matches!(apply_at(None, &twice, "f", T1), Err(Error::InvalidListItem { index: 1, .. })));
        assert_eq!(apply_at(None, &json!([]), "f", T1), Err(Error::NotAnObject { found: "an array" }));
    }

    #[test]
    fn update_records_what_changed_per_manager_and_version() {
        let schema = Schema::default();
        let mut object = deployment(&json!({"replicas": 1}));
        object["metadata"]["labels"] = json!({"app": "web"});
        let created = update(&Value::Null, &object, "kubectl-create", T1, &schema);
        assert_eq!(
            fields(&created, "kubectl-create", "Update"),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {".": {}, "f:replicas": {}}})
        );

        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(4);
        let scaled = update(&created, &scaled, "hpa", T2, &schema);
        assert_eq!(fields(&scaled, "hpa", "Update"), json!({"f:spec": {"f:replicas": {}}}));
        // Still the owner of spec itself, which `{}` spells when nothing under it is left.
        assert_eq!(fields(&scaled, "kubectl-create", "Update")["f:spec"], json!({}));

        // A write that changes nothing leaves the entries, times included, alone.
        assert_eq!(update(&scaled, &scaled, "hpa", T3, &schema), scaled);

        // Another apiVersion is another entry; Update entries sort oldest first.
        let mut beta = scaled.clone();
        beta["apiVersion"] = json!("apps/v1beta2");
        beta["spec"]["replicas"] = json!(5);
        let beta = update(&scaled, &beta, "hpa", T3, &schema);
        let hpa: Vec<(String, String)> = entries(&beta)
            .iter()
            .map(|e| (e["manager"].as_str().unwrap().to_string(), e["apiVersion"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            hpa,
            [("kubectl-create".to_string(), "apps/v1".to_string()), ("hpa".to_string(), "apps/v1beta2".to_string()),],
            "the old hpa entry lost its only field"
        );
    }

    #[test]
    fn managed_fields_reset_with_a_single_empty_entry() {
        let schema = Schema::default();
        let live = ok(None, &deployment(&json!({"replicas": 1})), "flotilla");
        let mut reset = live.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        assert_eq!(update(&live, &reset, "admin", T2, &schema), without_managed_fields(&live));
        // An empty list does not reset, so clients unaware of managedFields cannot drop them.
        let mut empty = live.clone();
        empty["metadata"]["managedFields"] = json!([]);
        assert_eq!(update(&live, &empty, "admin", T2, &schema), live);
    }

    #[test]
    fn schema_rules_for_a_kind_apply_at_every_version_and_only_to_it() {
        let schema =
            Schema::empty().with_list(&Scope::kind("example.com", "Widget"), "spec.parts", ListType::map(&["id"]));
        let widget = |kind: &str, parts: &Value| json!({"apiVersion": "example.com/v2", "kind": kind, "metadata": {"name": "w"}, "spec": {"parts": parts}});
        let live = apply(None, &widget("Widget", &json!([{"id": 1}])), "a", false, T1, &schema).unwrap();
        let live = apply(Some(&live), &widget("Widget", &json!([{"id": 2}])), "b", false, T1, &schema).unwrap();
        assert_eq!(live["spec"]["parts"], json!([{"id": 1}, {"id": 2}]));
        let gadget = apply(None, &widget("Gadget", &json!([{"id": 1}])), "a", false, T1, &schema).unwrap();
        assert!(apply(Some(&gadget), &widget("Gadget", &json!([{"id": 2}])), "b", false, T1, &schema).is_err());
    }
}
