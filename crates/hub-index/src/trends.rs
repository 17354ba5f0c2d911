//! Trends: the fleet's standings over the last 24 hours and its compliance over the last 30
//! days, as periodic samples of the tallies the index keeps anyway, which the dashboard draws as
//! SVG.
//!
//! The samples are kept in memory, in the hub process, not in the store: a sample is a few
//! numbers read from the index's tallies (no pass over the clusters), and the store has no
//! history of standings to rebuild them from (offline is a matter of the hub's clock, not of a
//! report). The price: a restarted hub starts its trends afresh, and each of several hub
//! processes sharing one PostgreSQL keeps its own (the same, as each follows the store). At
//! most [`STATES`] + [`COMPLIANCE`] samples, a few tens of kilobytes.
//!
//! Not the evidence log: that is each cluster's compliance record, kept for auditors; this is a
//! picture for an operator.

use std::collections::VecDeque;

use serde::Serialize;

use crate::index::{ByStanding, Index};

/// How often the standings are sampled, and over how long.
pub const STATE_EVERY_MS: i64 = 5 * 60_000;
pub const STATE_SPAN_MS: i64 = 24 * 3_600_000;
/// How many standing samples are kept at most (24 hours' worth).
pub const STATES: usize = 288;

/// How often compliance is sampled, and over how long.
pub const COMPLIANCE_EVERY_MS: i64 = 3_600_000;
pub const COMPLIANCE_SPAN_MS: i64 = 30 * 86_400_000;
/// How many compliance samples are kept at most (30 days' worth).
pub const COMPLIANCE: usize = 720;

/// The clusters by standing at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSample {
    pub at_ms: i64,
    /// Indexed by [`crate::api::Standing::slot`].
    pub by_standing: ByStanding,
}

/// The policy results of every cluster at one time: how many there were, and how many of them
/// compliant (an offline cluster's last results stand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceSample {
    pub at_ms: i64,
    pub compliant: usize,
    pub results: usize,
}

impl ComplianceSample {
    /// The share of compliant results in per mille (`None`: no results).
    pub fn per_mille(&self) -> Option<usize> {
        (self.results > 0).then(|| self.compliant * 1_000 / self.results)
    }
}

/// The samples, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trends {
    states: VecDeque<StateSample>,
    compliance: VecDeque<ComplianceSample>,
}

impl Trends {
    /// Drops the samples that fell out of their span (or are ahead of `now_ms`: the clock went
    /// back), then samples `index` when the last sample is older than its period. Cheap when
    /// there is nothing to sample, so the hub calls it every second.
    pub fn record(&mut self, now_ms: i64, index: &Index) {
        self.states.retain(|s| s.at_ms >= now_ms - STATE_SPAN_MS && s.at_ms <= now_ms);
        self.compliance.retain(|s| s.at_ms >= now_ms - COMPLIANCE_SPAN_MS && s.at_ms <= now_ms);
        let due = |last: Option<i64>, every: i64| last.is_none_or(|at| now_ms - at >= every);
        if due(self.states.back().map(|s| s.at_ms), STATE_EVERY_MS) {
            self.states.push_back(StateSample { at_ms: now_ms, by_standing: index.tally().by_standing });
            if self.states.len() > STATES {
                self.states.pop_front();
            }
        }
        if due(self.compliance.back().map(|s| s.at_ms), COMPLIANCE_EVERY_MS) {
            let (mut compliant, mut results) = (0, 0);
            for tally in index.every_policy_tally() {
                compliant += tally.compliant;
                results += tally.compliant + tally.unknown + tally.non_compliant.len();
            }
            self.compliance.push_back(ComplianceSample { at_ms: now_ms, compliant, results });
            if self.compliance.len() > COMPLIANCE {
                self.compliance.pop_front();
            }
        }
    }

    /// The standings over the last 24 hours, oldest first.
    pub fn states(&self) -> &VecDeque<StateSample> {
        &self.states
    }

    /// Compliance over the last 30 days, oldest first.
    pub fn compliance(&self) -> &VecDeque<ComplianceSample> {
        &self.compliance
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::Standing;
    use crate::index::Row;

    fn row(name: &str, at: i64) -> Row {
        Row {
            name: name.into(),
            environment: "prod".into(),
            labels: BTreeMap::new(),
            token_hash: None,
            registered_at_ms: 0,
            last_report_at_ms: Some(at),
            last_report: None,
            change: 1,
            kubernetes: None,
        }
    }

    #[test]
    fn samples_come_once_a_period_and_go_after_their_span() {
        let mut index = Index::new(60_000);
        let mut trends = Trends::default();
        index.update(&row("s1", 0));
        index.advance(0);
        trends.record(0, &index);
        trends.record(1_000, &index);
        assert_eq!(trends.states().len(), 1, "not again within five minutes");
        // Two days pass, a sample every five minutes: 24 hours' worth stay, the newest offline.
        let mut now = 0;
        while now < 2 * 86_400_000 {
            now += 60_000;
            index.advance(now);
            trends.record(now, &index);
        }
        assert_eq!(trends.states().len(), STATES);
        assert!(trends.states().front().is_some_and(|s| s.at_ms >= now - STATE_SPAN_MS));
        let last = trends.states().back().unwrap();
        assert_eq!((last.at_ms, last.by_standing[Standing::Offline.slot()]), (now, 1));
        assert_eq!(trends.compliance().len(), 49, "hourly over two days, both ends");
        assert_eq!(trends.compliance().back().unwrap().per_mille(), None, "no results, no share");
        // A clock that goes back drops the samples ahead of it, and samples anew.
        trends.record(now - 86_400_000, &index);
        assert!(trends.states().iter().all(|s| s.at_ms <= now - 86_400_000));
        assert_eq!(trends.states().back().map(|s| s.at_ms), Some(now - 86_400_000));
    }
}
