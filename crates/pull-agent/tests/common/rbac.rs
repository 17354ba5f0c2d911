//! The RBAC the install manifests (`examples/deploy`) give the agent, and a check that it allows
//! what the agent asked: the test API server records each request's authorization check
//! (`Cluster::record_requests`), and every one the agent made must be allowed, or the check
//! names it.

use std::path::Path;

use kube_testserver::rbac::{self, Role};
use serde_json::Value;

/// The bearer token the agent's requests carry in these tests: its service account's name, as
/// the API server would authenticate it in a cluster.
pub const AGENT: &str = "system:serviceaccount:flotilla-system:pull-agent";

/// The roles `examples/deploy` binds to the agent's service account (`pull-agent` in
/// `flotilla-system`): each ClusterRole a ClusterRoleBinding names, each Role a RoleBinding names
/// in the binding's namespace.
pub fn example_roles() -> Vec<Role> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/deploy");
    let objects = pull_agent::folder::render_dir(&deploy).expect("the install manifests render");
    let is_agent =
        |s: &Value| s["kind"] == "ServiceAccount" && s["name"] == "pull-agent" && s["namespace"] == "flotilla-system";
    let mut roles = Vec::new();
    for binding in &objects {
        let kind = binding["kind"].as_str().unwrap_or_default();
        if !matches!(kind, "ClusterRoleBinding" | "RoleBinding") {
            continue;
        }
        if !binding["subjects"].as_array().into_iter().flatten().any(is_agent) {
            continue;
        }
        let (role_kind, role_name) = (&binding["roleRef"]["kind"], &binding["roleRef"]["name"]);
        let namespace = &binding["metadata"]["namespace"];
        let role = objects
            .iter()
            .find(|o| {
                o["kind"] == *role_kind
                    && o["metadata"]["name"] == *role_name
                    && (*role_kind == "ClusterRole" || o["metadata"]["namespace"] == *namespace)
            })
            .unwrap_or_else(|| {
                panic!("{kind} {}: no {role_kind} {role_name} in examples/deploy", binding["metadata"]["name"])
            });
        roles.push(Role::from_object(role).unwrap_or_else(|e| panic!("{e}")));
    }
    assert!(roles.iter().any(|r| r.namespace.is_none()), "examples/deploy binds the agent no ClusterRole");
    roles
}

/// Asserts that `roles` allow every request `user` made, naming each one they do not.
pub fn assert_allowed(roles: &[Role], recorded: &[rbac::Request], user: &str) {
    let made: Vec<rbac::Request> = recorded.iter().filter(|r| r.user == user).cloned().collect();
    assert!(!made.is_empty(), "no request of {user} was recorded");
    let missing: Vec<String> = rbac::uncovered(roles, &made).iter().map(ToString::to_string).collect();
    assert!(
        missing.is_empty(),
        "examples/deploy does not grant the agent what it asked for ({} of {} requests):\n  {}",
        missing.len(),
        made.len(),
        missing.join("\n  ")
    );
}
