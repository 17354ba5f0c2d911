//! Requests as Kubernetes' authorizer sees them, and RBAC rules that allow them — so that a test
//! can record what a client asked of the test server ([`crate::Cluster::record_requests`]) and
//! check that a Role or ClusterRole grants every bit of it ([`uncovered`]).
//!
//! [`Request::of`] follows kube-apiserver's `RequestInfoFactory`: the verb as RBAC names it
//! (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`; a
//! lower-case HTTP method for non-resource URLs), API group, resource and subresource,
//! namespace and name. [`Role::allows`] follows `rbac/validation`'s `RuleAllows`: `*`, the
//! `*/subresource` and `resource/subresource` forms, `resourceNames`, and `nonResourceURLs` with
//! a trailing `*`. Not an authorizer: nothing is refused; aggregation, `escalate` and `bind`
//! (checked on the rules a written role holds) are not modelled.

use std::fmt;

use serde_json::Value;

/// One authorization check: who asked, which verb, on what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request {
    /// The bearer token the request carried (the test server authenticates nobody, so a
    /// test names its clients by their tokens); empty for none.
    pub user: String,
    pub verb: String,
    pub target: Target,
}

/// What a request is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// An API object or a collection of them. `namespace` is empty for cluster-scoped
    /// resources and requests across all namespaces (for a Namespace it is its own name, as the
    /// API server has it); `name` is empty for a collection.
    Resource { group: String, resource: String, subresource: String, namespace: String, name: String },
    /// Discovery and other paths outside the object API (`/api`, `/apis/apps/v1`, `/version`).
    NonResource { path: String },
}

/// Subresources of a namespace, which keep `namespaces/NAME/status` about the namespace itself.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl Request {
    /// The check the API server makes for `method` on `path` with `query` (the raw query
    /// string), as `user`.
    pub fn of(user: &str, method: &str, path: &str, query: &str) -> Request {
        let method = method.to_ascii_uppercase();
        let non_resource = |verb: String| Request {
            user: user.to_string(),
            verb,
            target: Target::NonResource { path: path.to_string() },
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => (String::new(), rest),
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => ((*group).to_string(), rest),
            _ => {
                let verb = if method == "HEAD" { "get".to_string() } else { method.to_ascii_lowercase() };
                return non_resource(verb);
            }
        };
        let mut verb = match method.as_str() {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
        let mut rest: &[&str] = rest;
        // The old form /api/v1/watch/namespaces/NS/pods.
        if rest.first() == Some(&"watch") {
            verb = "watch".into();
            rest = &rest[1..];
        }
        let mut namespace = String::new();
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            namespace = rest[1].to_string();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        let resource = rest.first().map_or("", |r| r).to_string();
        let mut name = rest.get(1).map_or("", |n| n).to_string();
        let subresource = rest.get(2).map_or("", |s| s).to_string();
        let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
        let param = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if name.is_empty() {
            verb = match verb.as_str() {
                "get" if matches!(param("watch"), Some("true" | "1")) => "watch".into(),
                "get" => "list".into(),
                "delete" => "deletecollection".into(),
                _ => verb,
            };
            // A list or watch of one object by name is authorized for that name.
            if let Some(selector) = param("fieldSelector")
                && let Some(one) = decode(selector).strip_prefix("metadata.name=")
                && !one.contains(',')
            {
                name = one.to_string();
            }
        }
        Request {
            user: user.to_string(),
            verb,
            target: Target::Resource { group, resource, subresource, namespace, name },
        }
    }
}

/// Percent-decoding for a query value.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for Request {
    /// `watch deployments.apps` (across namespaces, or cluster-scoped), `patch configmaps "web"
    /// in shop`, `get /apis/apps/v1`, as `kubectl auth can-i` is asked; `(as TOKEN)` when the
    /// request carried one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.verb)?;
        match &self.target {
            Target::NonResource { path } => write!(f, "{path}")?,
            Target::Resource { group, resource, subresource, namespace, name } => {
                write!(f, "{resource}")?;
                if !subresource.is_empty() {
                    write!(f, "/{subresource}")?;
                }
                if !group.is_empty() {
                    write!(f, ".{group}")?;
                }
                if !name.is_empty() {
                    write!(f, " {name:?}")?;
                }
                let own_namespace = resource == "namespaces" && group.is_empty();
                if !namespace.is_empty() && !own_namespace {
                    write!(f, " in {namespace}")?;
                }
            }
        }
        if !self.user.is_empty() {
            write!(f, " (as {})", self.user)?;
        }
        Ok(())
    }
}

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// A Role (its rules hold in its namespace, as a RoleBinding there grants them) or a ClusterRole
/// (bound by a ClusterRoleBinding: everywhere, and for non-resource URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// `Some` for a Role: the namespace it grants in.
    pub namespace: Option<String>,
    pub rules: Vec<Rule>,
}

/// A role object that cannot be read, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{role}: field {field}: {message}")]
pub struct Error {
    pub role: String,
    pub field: String,
    pub message: String,
}

impl Role {
    /// Reads a `Role` or `ClusterRole` object (a Role needs `metadata.namespace`).
    pub fn from_object(object: &Value) -> Result<Role, Error> {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let fail = |field: &str, message: &str| Error {
            role: format!("{kind} {name}"),
            field: field.to_string(),
            message: message.to_string(),
        };
        let namespace = match kind {
            "ClusterRole" => None,
            "Role" => Some(
                object["metadata"]["namespace"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| fail("metadata.namespace", "a Role needs one"))?
                    .to_string(),
            ),
            _ => return Err(fail("kind", "not a Role or ClusterRole")),
        };
        let mut rules = Vec::new();
        for (i, rule) in object["rules"].as_array().into_iter().flatten().enumerate() {
            let list = |key: &str| -> Result<Vec<String>, Error> {
                match &rule[key] {
                    Value::Null => Ok(Vec::new()),
                    Value::Array(items) => items
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .ok_or_else(|| fail(&format!("rules[{i}].{key}"), "not a string"))
                        })
                        .collect(),
                    _ => Err(fail(&format!("rules[{i}].{key}"), "not a list")),
                }
            };
            rules.push(Rule {
                verbs: list("verbs")?,
                api_groups: list("apiGroups")?,
                resources: list("resources")?,
                resource_names: list("resourceNames")?,
                non_resource_urls: list("nonResourceURLs")?,
            });
        }
        Ok(Role { name, namespace, rules })
    }

    /// Whether this role, bound to the requester, allows `request`.
    pub fn allows(&self, request: &Request) -> bool {
        let applies = match (&self.namespace, &request.target) {
            (None, _) => true,
            (Some(ns), Target::Resource { namespace, .. }) => ns == namespace,
            (Some(_), Target::NonResource { .. }) => false,
        };
        applies && self.rules.iter().any(|rule| rule.allows(request))
    }
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

impl Rule {
    /// `RuleAllows` of Kubernetes' RBAC.
    pub fn allows(&self, request: &Request) -> bool {
        if !has(&self.verbs, &request.verb) {
            return false;
        }
        match &request.target {
            Target::NonResource { path } => self.non_resource_urls.iter().any(|url| {
                url == "*" || url == path || url.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
            }),
            Target::Resource { group, resource, subresource, name, .. } => {
                let combined =
                    if subresource.is_empty() { resource.clone() } else { format!("{resource}/{subresource}") };
                let resource_matches = self.resources.iter().any(|r| {
                    r == "*"
                        || *r == combined
                        || (!subresource.is_empty() && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
                });
                has(&self.api_groups, group)
                    && resource_matches
                    && (self.resource_names.is_empty() || self.resource_names.contains(name))
            }
        }
    }
}

/// The requests none of `roles` allows, each once, in order: what a role bound to their user
/// lacks.
pub fn uncovered<'r>(roles: &[Role], requests: &'r [Request]) -> Vec<&'r Request> {
    let mut missing: Vec<&Request> = requests.iter().filter(|r| !roles.iter().any(|role| role.allows(r))).collect();
    missing.sort();
    missing.dedup();
    missing
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(method: &str, path: &str, query: &str) -> String {
        Request::of("", method, path, query).to_string()
    }

    #[test]
    fn requests_are_named_as_the_authorizer_names_them() {
        let cases = [
            ("GET", "/api/v1/namespaces/shop/configmaps/web", "", r#"get configmaps "web" in shop"#),
            ("GET", "/api/v1/namespaces/shop/configmaps", "labelSelector=a", "list configmaps in shop"),
            ("GET", "/apis/apps/v1/deployments", "watch=true&resourceVersion=5", "watch deployments.apps"),
            ("GET", "/apis/apps/v1/deployments", "watch=1", "watch deployments.apps"),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/bt/deployments/web",
                "fieldManager=f",
                r#"patch deployments.apps "web" in bt"#,
            ),
            (
                "PUT",
                "/apis/apps/v1/namespaces/bt/deployments/web/status",
                "",
                r#"update deployments/status.apps "web" in bt"#,
            ),
            ("POST", "/api/v1/namespaces/bt/pods", "", "create pods in bt"),
            ("DELETE", "/api/v1/namespaces/bt/pods/p", "", r#"delete pods "p" in bt"#),
            ("DELETE", "/api/v1/namespaces/bt/pods", "", "deletecollection pods in bt"),
            ("GET", "/api/v1/namespaces/bt", "", r#"get namespaces "bt""#),
            ("PUT", "/api/v1/namespaces/bt/finalize", "", r#"update namespaces/finalize "bt""#),
            ("GET", "/api/v1/namespaces", "", "list namespaces"),
            (
                "GET",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/x",
                "",
                r#"get clusterroles.rbac.authorization.k8s.io "x""#,
            ),
            ("GET", "/api/v1/watch/namespaces/bt/pods", "", "watch pods in bt"),
            ("GET", "/api/v1/namespaces/bt/pods", "fieldSelector=metadata.name%3Dp", r#"list pods "p" in bt"#),
            ("GET", "/api", "", "get /api"),
            ("GET", "/apis/apps/v1", "", "get /apis/apps/v1"),
            ("GET", "/version", "", "get /version"),
            ("POST", "/apis", "", "post /apis"),
        ];
        for (method, path, query, want) in cases {
            assert_eq!(req(method, path, query), want, "{method} {path}?{query}");
        }
        assert_eq!(Request::of("agent", "GET", "/api", "").to_string(), "get /api (as agent)");
    }

    fn role(kind: &str, rules: &Value) -> Role {
        Role::from_object(&json!({"kind": kind, "metadata": {"name": "r", "namespace": "ns"}, "rules": rules})).unwrap()
    }

    #[test]
    fn rules_allow_as_kubernetes_rbac_does() {
        let cluster = role(
            "ClusterRole",
            &json!([
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                {"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["update"]},
                {"apiGroups": ["*"], "resources": ["secrets"], "resourceNames": ["one"], "verbs": ["*"]},
                {"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]},
            ]),
        );
        let allowed = |method: &str, path: &str, query: &str| cluster.allows(&Request::of("", method, path, query));
        assert!(allowed("GET", "/api/v1/namespaces/a/configmaps/x", ""));
        assert!(allowed("GET", "/api/v1/configmaps", ""));
        assert!(!allowed("GET", "/api/v1/configmaps", "watch=true"));
        assert!(!allowed("GET", "/apis/apps/v1/configmaps", ""), "another group");
        assert!(allowed("PUT", "/apis/apps/v1/namespaces/a/deployments/d/status", ""));
        assert!(!allowed("PUT", "/apis/apps/v1/namespaces/a/deployments/d", ""));
        assert!(allowed("DELETE", "/api/v1/namespaces/a/secrets/one", ""));
        assert!(!allowed("DELETE", "/api/v1/namespaces/a/secrets/two", ""));
        assert!(!allowed("GET", "/api/v1/secrets", ""), "a list is not limited by name");
        assert!(allowed("GET", "/apis/apps/v1", ""));
        assert!(allowed("GET", "/version", ""));
        assert!(!allowed("GET", "/api", ""));
        assert!(!allowed("POST", "/version", ""));

        // A Role grants in its namespace only, and never non-resource URLs.
        let namespaced = role("Role", &json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]));
        let allowed = |path: &str| namespaced.allows(&Request::of("", "GET", path, ""));
        assert!(allowed("/api/v1/namespaces/ns/configmaps/x"));
        assert!(!allowed("/api/v1/namespaces/other/configmaps/x"));
        assert!(!allowed("/api/v1/configmaps/x"));

        let requests: Vec<Request> = [("GET", "/api/v1/configmaps", ""), ("GET", "/api/v1/configmaps", "watch=true")]
            .iter()
            .map(|(m, p, q)| Request::of("", m, p, q))
            .collect();
        let missing: Vec<String> =
            uncovered(&[cluster, namespaced], &requests).iter().map(ToString::to_string).collect();
        assert_eq!(missing, ["watch configmaps"]);
    }

    #[test]
    fn roles_are_read_strictly() {
        let read = |v: Value| Role::from_object(&v).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            read(json!({"kind": "Role", "metadata": {"name": "r"}})),
            "Role r: field metadata.namespace: a Role needs one"
        );
        assert_eq!(
            read(json!({"kind": "Pod", "metadata": {"name": "r"}})),
            "Pod r: field kind: not a Role or ClusterRole"
        );
        assert_eq!(
            read(json!({"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [{"verbs": "get"}]})),
            "ClusterRole r: field rules[0].verbs: not a list"
        );
    }
}
