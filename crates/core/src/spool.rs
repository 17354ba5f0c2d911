//! The spool's rule: which of the reports waiting for the hub are kept. Not the spool itself —
//! the agent keeps its reports in files (`pull_agent::spool`), the simulator in memory; both
//! ask [`retain`] what to keep, so they keep the same reports.
//!
//! Every report carries the state of every placement, so only the newest is needed for those;
//! an older report is kept beside it only when its policy results differ from the report
//! before it (a compliance change is evidence; the first is compared with the last report the
//! hub took). Should even that grow past the [`Bounds`], the oldest go first.

/// The most reports kept.
pub const MAX_REPORTS: usize = 1_000;

/// The most bytes kept.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How much the spool may hold. The newest report stays whatever the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_reports: usize,
    pub max_bytes: u64,
}

impl Bounds {
    /// The agent's: [`MAX_REPORTS`] and [`MAX_BYTES`].
    pub const DEFAULT: Bounds = Bounds { max_reports: MAX_REPORTS, max_bytes: MAX_BYTES };
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds::DEFAULT
    }
}

/// A waiting report as the rule sees it: its policy results (in whatever form the spool
/// compares them) and its size.
#[derive(Debug, Clone, Copy)]
pub struct Waiting<'a, P> {
    pub policies: &'a P,
    pub bytes: u64,
}

/// What becomes of one waiting report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Kept,
    /// A later report says all it says.
    Superseded,
    /// Dropped for want of room: lost, and to be said so.
    Dropped,
}

/// The fate of each of `reports` (oldest first), given the policy results of the last report
/// the hub took (`delivered`).
pub fn retain<P: PartialEq>(reports: &[Waiting<'_, P>], delivered: &P, bounds: Bounds) -> Vec<Fate> {
    let mut fates = Vec::with_capacity(reports.len());
    let mut previous = delivered;
    let mut kept = 0;
    let mut bytes = 0;
    for (i, report) in reports.iter().enumerate() {
        let newest = i + 1 == reports.len();
        if newest || report.policies != previous {
            fates.push(Fate::Kept);
            kept += 1;
            bytes += report.bytes;
        } else {
            fates.push(Fate::Superseded);
        }
        previous = report.policies;
    }
    let max_reports = bounds.max_reports.max(1);
    for (fate, report) in fates.iter_mut().zip(reports) {
        if !(kept > max_reports || (bytes > bounds.max_bytes && kept > 1)) {
            break;
        }
        if *fate == Fate::Kept {
            *fate = Fate::Dropped;
            kept -= 1;
            bytes -= report.bytes;
        }
    }
    fates
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fates of reports of these policy results (a report's "compliant"), each 10 bytes,
    /// after the hub took one with `delivered`.
    fn check(policies: &[bool], delivered: Option<bool>, bounds: Bounds) -> Vec<Fate> {
        let policies: Vec<Option<bool>> = policies.iter().copied().map(Some).collect();
        let waiting: Vec<Waiting<'_, Option<bool>>> =
            policies.iter().map(|p| Waiting { policies: p, bytes: 10 }).collect();
        retain(&waiting, &delivered, bounds)
    }

    /// The indices of the reports with `fate`.
    fn with(fates: &[Fate], fate: Fate) -> Vec<usize> {
        fates.iter().enumerate().filter(|(_, f)| **f == fate).map(|(i, _)| i).collect()
    }

    #[test]
    fn only_the_newest_report_and_every_policy_change_are_kept() {
        let fates = check(&[true, true, false, false, false, true, true], None, Bounds::DEFAULT);
        // 0: first seen; 2: became non-compliant; 5: compliant again; 6: the newest.
        assert_eq!(with(&fates, Fate::Kept), [0, 2, 5, 6]);
        assert_eq!(with(&fates, Fate::Superseded), [1, 3, 4]);
    }

    #[test]
    fn a_report_repeating_what_the_hub_has_is_dropped_once_a_newer_one_waits() {
        assert_eq!(check(&[true, true], Some(true), Bounds::DEFAULT), [Fate::Superseded, Fate::Kept]);
        assert_eq!(check(&[true], Some(true), Bounds::DEFAULT), [Fate::Kept], "the newest stays");
    }

    #[test]
    fn past_the_bounds_the_oldest_go() {
        let bounds = Bounds { max_reports: 3, max_bytes: MAX_BYTES };
        let fates = check(&[false, true, false, true, false, true], None, bounds);
        assert_eq!(with(&fates, Fate::Dropped), [0, 1, 2]);
        assert_eq!(with(&fates, Fate::Kept), [3, 4, 5]);

        let bounds = Bounds { max_reports: 100, max_bytes: 1 };
        let fates = check(&[false, true, true, false], None, bounds);
        assert_eq!(
            fates,
            [Fate::Dropped, Fate::Dropped, Fate::Superseded, Fate::Kept],
            "the newest stays, whatever its size"
        );

        let bounds = Bounds { max_reports: 0, max_bytes: MAX_BYTES };
        assert_eq!(check(&[false, true], None, bounds), [Fate::Dropped, Fate::Kept], "at least one is kept");
    }

    #[test]
    fn nothing_waiting_keeps_nothing() {
        assert!(check(&[], None, Bounds::DEFAULT).is_empty());
    }
}
