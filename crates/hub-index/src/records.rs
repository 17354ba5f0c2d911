//! What the store keeps, as plain data: the rows its readers return and the views are built
//! from (evidence, overrides, rollout failures). No database here: `store` reads and writes
//! these, `audit`, `overrides` and `progress` compute from them, and the simulator makes them
//! without a store.

/// One entry of the evidence log: a policy's result on a cluster, from the report that changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRow {
    /// Its position in the chain, from 1.
    pub seq: i64,
    pub cluster: String,
    pub policy: String,
    /// `None` when the agent could not evaluate the policy.
    pub compliant: Option<bool>,
    /// The report's time (the agent's clock).
    pub time_ms: i64,
    pub sequence: i64,
    /// The report's change number.
    pub change: i64,
    /// The commit the cluster ran, when all its placements ran the same one.
    pub commit: Option<String>,
    /// The violations, as the JSON array of the report's `violations`.
    pub violations_json: String,
    /// The standards and controls the policy named when the row was written (JSON arrays);
    /// `None` when the hub had not read the fleet repository then.
    pub standards_json: Option<String>,
    pub controls_json: Option<String>,
    /// What the agent did about the violations (the JSON array of the report's `remediation`).
    pub remediation_json: String,
    /// The hash of the row before (64 zeros for the first) and this row's.
    pub prev_hash: String,
    pub hash: String,
}

#[cfg(test)]
impl EvidenceRow {
    /// A row for the tests of what is computed from the log (the audit, its page): `seq`'s
    /// position, change and hash, its commit `seq` written 40 times, on 2025-11-01; `standard`
    /// names the row's standard with controls 1.3.1 and 2.2.1 (`None`: a row from before the hub
    /// read the fleet).
    pub(crate) fn example(
        seq: i64,
        cluster: &str,
        policy: &str,
        compliant: Option<bool>,
        standard: Option<&str>,
    ) -> EvidenceRow {
        EvidenceRow {
            seq,
            cluster: cluster.into(),
            policy: policy.into(),
            compliant,
            time_ms: 1_761_955_200_000,
            sequence: 1,
            change: seq,
            commit: Some(seq.to_string().repeat(40)),
            violations_json: "[]".into(),
            standards_json: standard.map(|s| format!(r#"["{s}"]"#)),
            controls_json: standard.map(|_| r#"["1.3.1", "2.2.1"]"#.to_string()),
            remediation_json: "[]".into(),
            prev_hash: String::new(),
            hash: format!("{seq:064}"),
        }
    }
}

/// What the fleet says of a policy when its result is recorded: the standards and controls it
/// gives evidence for. Kept with each row, so that an audit reads what held then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyMeta {
    pub standards: Vec<String>,
    pub controls: Vec<String>,
}

/// One override as the evidence log holds it: a cluster ran `commit` of `target` through a
/// freeze, on the word of `signer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRow {
    /// Its position in the evidence chain (shared with the policy results).
    pub seq: i64,
    pub cluster: String,
    /// The cluster's environment when the hub received it.
    pub environment: String,
    /// `fleet`, or the placement whose source commit it is.
    pub target: String,
    pub commit: String,
    pub signer: String,
    pub reason: String,
    /// The change number of the report that first named it, its sequence and its time (the
    /// agent's clock).
    pub change: i64,
    pub sequence: i64,
    pub time_ms: i64,
    /// When the hub received that report (its clock).
    pub received_at_ms: i64,
    /// The hash of the row before in the chain, and this row's.
    pub prev_hash: String,
    pub hash: String,
}

/// A cluster that failed on a commit of a placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub cluster: String,
    pub commit: String,
    /// When the hub received the report that said so first (unix milliseconds).
    pub at_ms: i64,
}
