//! Drift: where a live object no longer holds what the agent applied to it.
//!
//! The agent applies with server-side apply, so a live object is what it applied plus what others
//! own: defaults the API server fills in, `status`, bookkeeping in `metadata`, fields of other
//! field managers. Drift is therefore containment, not equality: every field the agent applied
//! must hold its value in the live object, and fields it did not apply are someone else's.
//! Lists follow the merge strategy Kubernetes gives them: lists of objects with a merge key
//! (containers by `name`, ports by `containerPort`, …) are matched item by item, so extra live
//! items are not drift; other lists are atomic and must match position by position. Resource
//! quantities compare by value (`500m` is `0.5`).
//!
//! Not a three-way diff and not aware of field managers: an applied field that another manager
//! has since changed is drift, which is exactly what the agent corrects. Not a schema either: the
//! merge keys are a table of the common ones, not read from OpenAPI.

use serde_json::Value;

/// One applied field the live object does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where, as `spec.template.spec.containers[name=web].image`: keyed list items by their key,
    /// atomic list items by index, and keys that are not plain words quoted
    /// (`metadata.labels["app.kubernetes.io/name"]`).
    pub path: String,
    /// What the agent applied there.
    pub applied: Value,
    /// What the cluster has there; `None` when the field or list item is gone.
    pub live: Option<Value>,
}

/// The differences between an applied object and the live one, sorted by path; empty when the
/// live object holds everything that was applied.
pub fn drift(applied: &Value, live: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    compare(applied, live, &Place { path: String::new(), field: "" }, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Fields the API server or other controllers write, which are never the agent's even if an
/// applied object happens to carry them (e.g. copied from a live one).
const IGNORED: &[&str] = &[
    "status",
    "metadata.managedFields",
    "metadata.resourceVersion",
    "metadata.uid",
    "metadata.generation",
    "metadata.creationTimestamp",
    "metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]",
];

/// Merge keys of list fields, by field name, as the Kubernetes API declares them
/// (`x-kubernetes-list-map-keys` / `patchMergeKey`). Lists not named here are keyed by `name`
/// when every applied item has one, as most keyed lists in custom resources are too; naming the
/// common ones still matters for an empty applied list, which then asks for no items rather
/// than for an empty list.
const MERGE_KEYS: &[(&str, &[&str])] = &[
    ("containers", &["name"]),
    ("initContainers", &["name"]),
    ("ephemeralContainers", &["name"]),
    ("volumes", &["name"]),
    ("env", &["name"]),
    ("imagePullSecrets", &["name"]),
    // Container ports by `containerPort`, Service ports by `port`.
    ("ports", &["containerPort", "port"]),
    ("volumeMounts", &["mountPath"]),
    ("volumeDevices", &["devicePath"]),
    ("hostAliases", &["ip"]),
    ("ownerReferences", &["uid"]),
    ("conditions", &["type"]),
    ("topologySpreadConstraints", &["topologyKey"]),
];

/// Where the comparison is: the path so far and the name of the field holding the value.
struct Place<'a> {
    path: String,
    field: &'a str,
}

impl Place<'_> {
    fn key<'k>(&self, key: &'k str) -> Place<'k> {
        let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let path = match (plain, self.path.is_empty()) {
            (true, true) => key.to_string(),
            (true, false) => format!("{}.{key}", self.path),
            // JSON string quoting keeps dots and slashes in label keys from reading as nesting.
            (false, _) => format!("{}[{}]", self.path, Value::from(key)),
        };
        Place { path, field: key }
    }

    fn index(&self, index: usize) -> Place<'_> {
        Place { path: format!("{}[{index}]", self.path), field: self.field }
    }

    fn item(&self, selector: &str) -> Place<'_> {
        Place { path: format!("{}[{selector}]", self.path), field: self.field }
    }

    /// Whether this is a `resources.limits` or `resources.requests` map, whose values are
    /// quantities the API server writes in its own canonical form.
    fn holds_quantities(&self) -> bool {
        ["resources.limits", "resources.requests"]
            .iter()
            .any(|tail| self.path.strip_suffix(tail).is_some_and(|head| head.is_empty() || head.ends_with('.')))
    }
}

fn compare(applied: &Value, live: &Value, at: &Place, out: &mut Vec<Difference>) {
    match (applied, live) {
        (Value::Object(applied), Value::Object(live)) => {
            let quantities = at.holds_quantities();
            for (key, value) in applied {
                let child = at.key(key);
                if IGNORED.contains(&child.path.as_str()) {
                    continue;
                }
                match live.get(key) {
                    Some(live) if quantities && same_quantity(value, live) => {}
                    Some(live) => compare(value, live, &child, out),
                    None if asks_nothing(value) => {}
                    None => out.push(Difference { path: child.path, applied: value.clone(), live: None }),
                }
            }
        }
        (Value::Array(applied), Value::Array(live)) => compare_lists(applied, live, at, out),
        // An applied null asks for nothing: server-side apply drops null fields.
        (Value::Null, _) => {}
        (Value::Number(a), Value::Number(l)) if same_number(a, l) => {}
        _ if applied == live => {}
        _ => out.push(Difference { path: at.path.clone(), applied: applied.clone(), live: Some(live.clone()) }),
    }
}

/// Whether an applied value that is absent live is no drift: the API server leaves empty maps
/// and lists out (`labels: {}`, `args: []`), and null asks for nothing.
fn asks_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn compare_lists(applied: &[Value], live: &[Value], at: &Place, out: &mut Vec<Difference>) {
    if let Some(key) = merge_key(at.field, applied) {
        for item in applied {
            let id = &item[key];
            let selector = match (is_port(key), item.get("protocol").and_then(Value::as_str)) {
                (true, Some(protocol)) => format!("{key}={},protocol={protocol}", show(id)),
                _ => format!("{key}={}", show(id)),
            };
            let child = at.item(&selector);
            match live.iter().find(|l| l.get(key) == Some(id) && same_protocol(key, item, l)) {
                Some(l) => compare(item, l, &child, out),
                None => out.push(Difference { path: child.path, applied: item.clone(), live: None }),
            }
        }
    } else if applied.len() != live.len() {
        out.push(Difference { path: at.path.clone(), applied: Value::from(applied), live: Some(Value::from(live)) });
    } else {
        for (index, (a, l)) in applied.iter().zip(live).enumerate() {
            compare(a, l, &at.index(index), out);
        }
    }
}

/// The merge key of a list, when the list is keyed and every applied item carries the key.
fn merge_key(field: &str, applied: &[Value]) -> Option<&'static str> {
    let carried = |key: &str| applied.iter().all(|item| item.get(key).is_some_and(|v| v.is_string() || v.is_number()));
    match MERGE_KEYS.iter().find(|(name, _)| *name == field) {
        Some((_, keys)) => keys.iter().copied().find(|key| carried(key)),
        None => (!applied.is_empty() && carried("name")).then_some("name"),
    }
}

fn is_port(key: &str) -> bool {
    key == "containerPort" || key == "port"
}

/// Ports are keyed by number and protocol together (53/TCP and 53/UDP are two items); the API
/// server defaults the protocol to TCP.
fn same_protocol(key: &str, applied: &Value, live: &Value) -> bool {
    let protocol = |v: &Value| v.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string();
    !is_port(key) || protocol(applied) == protocol(live)
}

/// A merge key's value as it reads in a path: strings bare, numbers as written.
fn show(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JSON numbers by value: `1` and `1.0` are the same number.
pub(crate) fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    a == b
        || matches!((Quantity::parse(&a.to_string()), Quantity::parse(&b.to_string())), (Some(a), Some(b)) if a.same(b))
}

/// Resource quantities by value: `"500m"` and `0.5`, `"1Gi"` and `"1024Mi"`, `1` and `"1"`.
pub(crate) fn same_quantity(a: &Value, b: &Value) -> bool {
    let quantity = |v: &Value| match v {
        Value::String(s) => Quantity::parse(s),
        Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => None,
    };
    matches!((quantity(a), quantity(b)), (Some(a), Some(b)) if a.same(b))
}

/// A Kubernetes quantity held exactly, as ± `mantissa` × 10^`exp10` × 2^`exp2`, so that decimal
/// and binary suffixes compare without rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quantity {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

impl Quantity {
    /// Reads `<sign><digits>[.<digits>]<suffix>`, where the suffix is a decimal SI one (`n`, `u`,
    /// `m`, none, `k`, `M`, `G`, `T`, `P`, `E`), a binary one (`Ki` … `Ei`) or an exponent (`e3`,
    /// `E-2`), as `resource.Quantity` does. `None` for anything else, and for numbers too large to
    /// hold exactly.
    fn parse(text: &str) -> Option<Quantity> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return None;
        }
        let mut mantissa: u128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(u128::from(digit - b'0'))?;
        }
        let (exp10, exp2) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            _ => {
                let exponent = suffix.strip_prefix(['e', 'E'])?;
                let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
                if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (exponent.parse::<i32>().ok()?, 0)
            }
        };
        let exp10 = exp10 - i32::try_from(fraction.len()).ok()?;
        Some(Quantity { negative, mantissa, exp10, exp2 }.normalized())
    }

    /// Trailing zeros moved into the exponent, so that equal values mostly look alike and
    /// scaling to a common exponent rarely overflows.
    fn normalized(mut self) -> Quantity {
        while self.mantissa != 0 && self.mantissa.is_multiple_of(10) {
            self.mantissa /= 10;
            self.exp10 += 1;
        }
        self
    }

    /// Whether two quantities have the same value.
    fn same(self, other: Quantity) -> bool {
        if self.mantissa == 0 || other.mantissa == 0 {
            return self.mantissa == other.mantissa;
        }
        if self.negative != other.negative {
            return false;
        }
        let exp10 = self.exp10.min(other.exp10);
        let exp2 = self.exp2.min(other.exp2);
        // Values too far apart to scale into 128 bits are not equal.
        matches!((self.scaled(exp10, exp2), other.scaled(exp10, exp2)), (Some(a), Some(b)) if a == b)
    }

    /// The mantissa in units of 10^`exp10` × 2^`exp2`, which are at most this quantity's own.
    fn scaled(self, exp10: i32, exp2: u32) -> Option<u128> {
        let tens = 10u128.checked_pow(u32::try_from(self.exp10 - exp10).ok()?)?;
        let twos = 2u128.checked_pow(self.exp2 - exp2)?;
        self.mantissa.checked_mul(tens)?.checked_mul(twos)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn applied() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop",
                "labels": {"app.kubernetes.io/name": "web", "flotilla.dev/placement": "shop"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "web", "image": "registry.local/web:1.2",
                        "args": ["--port", "8080"],
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "env": [{"name": "MODE", "value": "store"}, {"name": "REGION", "value": "us-east"}],
                        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }]}
                }
            }
        })
    }

    /// What the API server returns for `applied()`: defaults, bookkeeping, status, a sidecar
    /// injected by a webhook and quantities in canonical form.
    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "0b1c", "resourceVersion": "4711",
                "generation": 2, "creationTimestamp": "2025-01-01T00:00:00Z",
                "labels": {"app.kubernetes.io/name": "web", "flotilla.dev/placement": "shop"},
                "annotations": {"deployment.kubernetes.io/revision": "2"},
                "managedFields": [{"manager": "flotilla", "operation": "Apply"}]},
            "spec": {
                "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}, "annotations": {"injected": "yes"}},
                    "spec": {
                        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                        "containers": [
                            {"name": "mesh-proxy", "image": "proxy:1"},
                            {"name": "web", "image": "registry.local/web:1.2", "imagePullPolicy": "IfNotPresent",
                                "args": ["--port", "8080"],
                                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                                "env": [{"name": "MODE", "value": "store"}, {"name": "REGION", "value": "us-east"},
                                    {"name": "INJECTED", "value": "1"}],
                                "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "1"}},
                                "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                    {"name": "token", "mountPath": "/var/run/secrets"}],
                                "terminationMessagePath": "/dev/termination-log"}
                        ]
                    }
                }
            },
            "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3}
        })
    }

    fn paths(differences: &[Difference]) -> Vec<&str> {
        differences.iter().map(|d| d.path.as_str()).collect()
    }

    const WEB: &str = "spec.template.spec.containers[name=web]";

    #[test]
    fn an_identical_object_has_no_drift() {
        assert_eq!(drift(&applied(), &applied()), vec![]);
    }

    #[test]
    fn fields_others_own_are_not_drift() {
        assert_eq!(drift(&applied(), &live()), vec![]);
    }

    #[test]
    fn bookkeeping_in_the_applied_object_is_ignored() {
        let mut a = applied();
        a["metadata"]["resourceVersion"] = json!("1");
        a["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
        a["status"] = json!({"replicas": 1});
        assert_eq!(drift(&a, &live()), vec![]);
    }

    #[test]
    fn a_changed_image_is_drift() {
        let mut l = live();
        l["spec"]["template"]["spec"]["containers"][1]["image"] = json!("registry.local/web:hotfix");
        assert_eq!(
            drift(&applied(), &l),
            vec![Difference {
                path: format!("{WEB}.image"),
                applied: json!("registry.local/web:1.2"),
                live: Some(json!("registry.local/web:hotfix")),
            }]
        );
    }

    #[test]
    fn a_removed_env_var_is_drift() {
        let mut l = live();
        l["spec"]["template"]["spec"]["containers"][1]["env"].as_array_mut().unwrap().remove(1);
        assert_eq!(
            drift(&applied(), &l),
            vec![Difference {
                path: format!("{WEB}.env[name=REGION]"),
                applied: json!({"name": "REGION", "value": "us-east"}),
                live: None,
            }]
        );
    }

    #[test]
    fn a_removed_container_is_drift() {
        let mut l = live();
        l["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap().remove(1);
        let d = drift(&applied(), &l);
        assert_eq!(paths(&d), [WEB]);
        assert_eq!(d[0].live, None);
    }

    #[test]
    fn a_changed_replica_count_is_drift() {
        let mut l = live();
        l["spec"]["replicas"] = json!(5);
        assert_eq!(
            drift(&applied(), &l),
            vec![Difference { path: "spec.replicas".into(), applied: json!(3), live: Some(json!(5)) }]
        );
    }

    #[test]
    fn a_removed_label_is_drift_and_its_key_is_quoted() {
        let mut l = live();
        l["metadata"]["labels"].as_object_mut().unwrap().remove("app.kubernetes.io/name");
        assert_eq!(
            drift(&applied(), &l),
            vec![Difference {
                path: "metadata.labels[\"app.kubernetes.io/name\"]".into(),
                applied: json!("web"),
                live: None,
            }]
        );
    }

    #[test]
    fn an_atomic_list_reordered_is_drift() {
        let mut l = live();
        l["spec"]["template"]["spec"]["containers"][1]["args"] = json!(["8080", "--port"]);
        assert_eq!(paths(&drift(&applied(), &l)), [format!("{WEB}.args[0]"), format!("{WEB}.args[1]")]);
        // A keyed list reordered is not.
        let mut l = live();
        l["spec"]["template"]["spec"]["containers"][1]["env"].as_array_mut().unwrap().reverse();
        assert_eq!(drift(&applied(), &l), vec![]);
    }

    #[test]
    fn an_atomic_list_of_another_length_is_drift_as_a_whole() {
        let mut l = live();
        l["spec"]["template"]["spec"]["containers"][1]["args"] = json!(["--port", "8080", "--debug"]);
        let d = drift(&applied(), &l);
        assert_eq!(paths(&d), [format!("{WEB}.args")]);
        assert_eq!(d[0].live, Some(json!(["--port", "8080", "--debug"])));
    }

    #[test]
    fn differences_are_sorted_by_path() {
        let mut l = live();
        l["spec"]["replicas"] = json!(1);
        l["metadata"]["namespace"] = json!("other");
        l["spec"]["template"]["spec"]["containers"][1]["ports"][0]["containerPort"] = json!(9090);
        assert_eq!(
            paths(&drift(&applied(), &l)),
            ["metadata.namespace", "spec.replicas", &format!("{WEB}.ports[containerPort=8080]")]
        );
    }

    #[test]
    fn quantities_compare_by_value() {
        let mut l = live();
        let resources = &mut l["spec"]["template"]["spec"]["containers"][1]["resources"];
        resources["requests"] = json!({"cpu": 0.5, "memory": "1073741824"});
        resources["limits"] = json!({"cpu": "1000m"});
        assert_eq!(drift(&applied(), &l), vec![]);
        l["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["cpu"] = json!("1001m");
        assert_eq!(paths(&drift(&applied(), &l)), [format!("{WEB}.resources.limits.cpu")]);
    }

    #[test]
    fn the_quantity_parser_knows_every_suffix() {
        let same = |a: &str, b: &str| Quantity::parse(a).unwrap().same(Quantity::parse(b).unwrap());
        for (a, b) in [
            ("500m", "0.5"),
            ("1Gi", "1024Mi"),
            ("1Ki", "1024"),
            ("1.5Gi", "1536Mi"),
            ("1e3", "1k"),
            ("1E3", "1000"),
            ("1E", "1e18"),
            ("1Ei", "1152921504606846976"),
            ("2500u", "2.5m"),
            ("1000n", "1u"),
            ("1T", "1000G"),
            ("1P", "1e15"),
            ("0", "0m"),
            ("-0", "0"),
            ("+1", "1"),
            ("-1.5", "-1500m"),
            (".5", "500m"),
            ("5.", "5"),
            ("1e-3", "1m"),
            ("1Mi", "1048.576k"),
        ] {
            assert!(same(a, b), "{a} == {b}");
        }
        for (a, b) in [("1G", "1Gi"), ("1m", "1"), ("-1", "1"), ("1", "1.0000000001"), ("1e30", "1n")] {
            assert!(!same(a, b), "{a} != {b}");
        }
        for bad in ["", "-", ".", "1..2", "1.2.3", "1Q", "1ki", "1e", "e3", "1e+", "1e1000", "Ki", "1 Gi"] {
            assert_eq!(Quantity::parse(bad), None, "{bad:?}");
        }
        // Too many digits to hold exactly.
        assert_eq!(Quantity::parse(&"9".repeat(40)), None);
    }

    #[test]
    fn numbers_compare_by_value_everywhere() {
        let a = json!({"spec": {"replicas": 1, "ratio": 0.5}});
        let l = json!({"spec": {"replicas": 1.0, "ratio": 0.50}});
        assert_eq!(drift(&a, &l), vec![]);
        // Outside resources a string is not a number.
        let l = json!({"spec": {"replicas": "1", "ratio": 0.5}});
        assert_eq!(paths(&drift(&a, &l)), ["spec.replicas"]);
    }

    #[test]
    fn ports_are_keyed_by_number_and_protocol() {
        let a = json!({"spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}});
        let l = json!({"spec": {"ports": [{"port": 53, "protocol": "TCP", "targetPort": 53},
            {"port": 53, "protocol": "UDP", "targetPort": 53}]}});
        assert_eq!(drift(&a, &l), vec![]);
        let l = json!({"spec": {"ports": [{"port": 53, "protocol": "TCP"}]}});
        assert_eq!(paths(&drift(&a, &l)), ["spec.ports[port=53,protocol=UDP]"]);
    }

    #[test]
    fn empty_and_null_applied_values_ask_for_nothing() {
        let a = json!({"metadata": {"labels": {}, "annotations": null}, "spec": {"args": [], "containers": []}});
        let l = json!({"metadata": {}, "spec": {"containers": [{"name": "other"}]}});
        assert_eq!(drift(&a, &l), vec![]);
    }

    #[test]
    fn a_changed_type_is_drift() {
        let a = json!({"data": {"v": {"nested": true}}});
        let l = json!({"data": {"v": "flat"}});
        assert_eq!(
            drift(&a, &l),
            vec![Difference { path: "data.v".into(), applied: json!({"nested": true}), live: Some(json!("flat")) }]
        );
    }
}
