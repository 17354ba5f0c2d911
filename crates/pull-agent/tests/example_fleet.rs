//! The example retail fleet is consistent: its fleet objects parse, and every declared cluster
//! renders every placement that selects it (customizations and substitution included).

use std::collections::BTreeMap;
use std::path::Path;

use flotilla_core::fleet::{ClusterIdentity, Fleet};
use pull_agent::local::{Sources, render_cluster};

#[test]
fn every_declared_cluster_renders_every_placement() {
    let fleet_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet/infra");
    let (fleet, errors) = Fleet::from_snapshot(&pull_agent::folder::snapshot(&fleet_dir).unwrap());
    assert_eq!(errors, [], "the example fleet has errors");
    assert!(fleet.clusters.len() >= 6 && fleet.policies.len() >= 5 && fleet.placements.len() >= 3);
    let sources = Sources { fleet_dir, overrides: BTreeMap::new() };
    let mut digests = BTreeMap::new();
    for cluster in &fleet.clusters {
        let identity = ClusterIdentity {
            name: cluster.metadata.name.clone(),
            environment: cluster.spec.environment.clone(),
            labels: cluster.metadata.labels.clone(),
        };
        let report = render_cluster(&sources, &identity, None).unwrap();
        assert_eq!(report.errors, Vec::<String>::new(), "{}", identity.name);
        assert_eq!(report.mismatch, None);
        assert!(!report.rendered.is_empty(), "{} runs nothing", identity.name);
        for r in report.rendered {
            digests.insert((identity.name.clone(), r.placement), r.digest);
        }
    }
    // Substitution makes each store's bt-collector its own; two stores never share a digest.
    let store_digests: Vec<_> =
        digests.iter().filter(|((c, p), _)| c.starts_with("store-0") && p == "bt-collector").map(|(_, d)| d).collect();
    let mut unique = store_digests.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), store_digests.len());
}
