//! The reports the hub has not taken yet, on disk, so that an agent offline for a week loses
//! no compliance evidence and a restart loses nothing at all.
//!
//! One file per report, `<sequence>.json` (zero-padded, so names sort as sequences do), written
//! to a temporary name and renamed. The spool stays small by dropping what a later report says
//! again, by core's rule (`flotilla_core::spool::retain`): the newest report, and beside it those
//! whose policy results differ from the report before them (a compliance change is evidence).
//! Should even that grow past the bounds, the oldest go first, each named on stderr: never
//! silently.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use flotilla_core::report::Report;
use flotilla_core::spool::{Bounds, Fate, Waiting, retain};
pub use flotilla_core::spool::{MAX_BYTES, MAX_REPORTS};
use serde_json::Value;

/// Where the policy results of the last report the hub took are kept, to compare the first
/// spooled report with.
const DELIVERED: &str = "delivered-policies.json";

/// A spool folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    bounds: Bounds,
}

/// A report waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sequence: u64,
    pub path: PathBuf,
}

impl Spool {
    /// The spool in `dir`, created if missing, with the default bounds.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        Spool::with_bounds(dir, MAX_REPORTS, MAX_BYTES)
    }

    pub fn with_bounds(dir: &Path, max_reports: usize, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir).map_err(|e| annotate(dir, &e))?;
        Ok(Spool { dir: dir.to_path_buf(), bounds: Bounds { max_reports: max_reports.max(1), max_bytes } })
    }

    /// The waiting reports, oldest first.
    pub fn pending(&self) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for item in fs::read_dir(&self.dir).map_err(|e| annotate(&self.dir, &e))? {
            let path = item?.path();
            let sequence = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(sequence) = sequence {
                entries.push(Entry { sequence, path });
            }
        }
        entries.sort_by_key(|e| e.sequence);
        Ok(entries)
    }

    /// The highest sequence waiting, if any.
    pub fn last_sequence(&self) -> io::Result<Option<u64>> {
        Ok(self.pending()?.last().map(|e| e.sequence))
    }

    /// Keeps `report` until the hub takes it, then drops what it makes redundant and, past the
    /// bounds, the oldest. Returns what was dropped for want of room, one line each.
    pub fn push(&self, report: &Report) -> io::Result<Vec<String>> {
        let path = self.dir.join(format!("{:020}.json", report.sequence));
        write_atomically(&path, report.to_json().as_bytes())?;
        self.compact()
    }

    /// The text of a waiting report.
    pub fn read(&self, entry: &Entry) -> io::Result<String> {
        fs::read_to_string(&entry.path).map_err(|e| annotate(&entry.path, &e))
    }

    /// Forgets a report the hub took (or refused for good), remembering its policy results.
    pub fn delivered(&self, entry: &Entry, text: &str) -> io::Result<()> {
        let policies = policies_of(text);
        write_atomically(&self.dir.join(DELIVERED), policies.to_string().as_bytes())?;
        remove(&entry.path)
    }

    /// Drops every waiting report whose placements a later one repeats and whose policy results
    /// equal its predecessor's; then the oldest while over the bounds (`spool::retain`).
    fn compact(&self) -> io::Result<Vec<String>> {
        let entries = self.pending()?;
        let delivered = fs::read_to_string(self.dir.join(DELIVERED))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Array(Vec::new()));
        let mut policies = Vec::with_capacity(entries.len());
        for entry in &entries {
            let bytes = fs::metadata(&entry.path).map_or(0, |m| m.len());
            policies.push((policies_of(&self.read(entry)?), bytes));
        }
        let waiting: Vec<Waiting<'_, Value>> =
            policies.iter().map(|(policies, bytes)| Waiting { policies, bytes: *bytes }).collect();
        let mut dropped = Vec::new();
        for (entry, fate) in entries.iter().zip(retain(&waiting, &delivered, self.bounds)) {
            match fate {
                Fate::Kept => {}
                Fate::Superseded => remove(&entry.path)?,
                Fate::Dropped => {
                    remove(&entry.path)?;
                    dropped.push(format!(
                        "report {} dropped from the full spool ({} reports, {} bytes at most): the hub has been unreachable too long",
                        entry.sequence, self.bounds.max_reports, self.bounds.max_bytes
                    ));
                }
            }
        }
        Ok(dropped)
    }
}

/// The policy results of a report's text (`[]` when it has none or cannot be read).
fn policies_of(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|mut v| v.get_mut("policies").map(Value::take))
        .unwrap_or(Value::Array(Vec::new()))
}

/// Writes `path` whole or not at all: a temporary file beside it, synced, then renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_through_temporary(path, bytes, None)
}

/// As [`write_atomically`], for a secret: the file is readable and writable by its owner alone
/// (mode 0600) from the moment it exists, whatever the umask.
pub fn write_atomically_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_through_temporary(path, bytes, Some(0o600))
}

/// Writes `path` through `<path>.tmp`, created with `mode` and then given it outright (`None`:
/// the process's default mode).
fn write_through_temporary(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let tmp = path.with_extension("tmp");
    // One left by a crash would keep the mode it was made with: make a new one.
    remove(&tmp)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    let mut file = options.open(&tmp).map_err(|e| annotate(&tmp, &e))?;
    if let Some(mode) = mode {
        // The mode given at creation is masked by the umask; set it outright.
        file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| annotate(&tmp, &e))?;
    }
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| annotate(&tmp, &e))?;
    fs::rename(&tmp, path).map_err(|e| annotate(path, &e))
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(annotate(path, &e)),
        _ => Ok(()),
    }
}

fn annotate(path: &Path, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sequence: u64, compliant: bool) -> Report {
        let json = format!(
            r#"{{"version":1,"cluster":"store-0001","agentVersion":"0.1.0","sequence":{sequence},
            "time":"2026-11-25T10:00:00Z","policies":[{{"name":"pci-1","compliant":{compliant}}}]}}"#
        );
        Report::from_json(json.as_bytes()).unwrap()
    }

    fn sequences(spool: &Spool) -> Vec<u64> {
        spool.pending().unwrap().iter().map(|e| e.sequence).collect()
    }

    #[test]
    fn only_the_newest_report_and_every_policy_change_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        for (sequence, compliant) in [(1, true), (2, true), (3, false), (4, false), (5, false), (6, true), (7, true)] {
            assert!(spool.push(&report(sequence, compliant)).unwrap().is_empty());
        }
        // 1: first seen; 3: became non-compliant; 6: compliant again; 7: the newest.
        assert_eq!(sequences(&spool), [1, 3, 6, 7]);

        // The hub takes 1 and 3; the next report repeats 7's results, so 7 goes.
        for entry in spool.pending().unwrap().into_iter().take(2) {
            let text = spool.read(&entry).unwrap();
            spool.delivered(&entry, &text).unwrap();
        }
        spool.push(&report(8, true)).unwrap();
        assert_eq!(sequences(&spool), [6, 8]);
        let text = spool.read(&spool.pending().unwrap()[1]).unwrap();
        assert_eq!(Report::from_json(text.as_bytes()).unwrap(), report(8, true));
    }

    #[test]
    fn a_report_repeating_what_the_hub_has_is_dropped_once_a_newer_one_waits() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.push(&report(1, true)).unwrap();
        let entry = spool.pending().unwrap().remove(0);
        spool.delivered(&entry, &spool.read(&entry).unwrap()).unwrap();
        spool.push(&report(2, true)).unwrap();
        spool.push(&report(3, true)).unwrap();
        assert_eq!(sequences(&spool), [3]);
    }

    #[test]
    fn past_the_bounds_the_oldest_go_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::with_bounds(dir.path(), 3, MAX_BYTES).unwrap();
        let mut dropped = Vec::new();
        for sequence in 1..=6 {
            dropped.extend(spool.push(&report(sequence, sequence % 2 == 0)).unwrap());
        }
        assert_eq!(sequences(&spool), [4, 5, 6]);
        assert_eq!(dropped.len(), 3);
        assert!(dropped[0].starts_with("report 1 dropped from the full spool"), "{}", dropped[0]);

        let spool = Spool::with_bounds(dir.path(), 100, 1).unwrap();
        let dropped = spool.push(&report(7, true)).unwrap();
        assert_eq!(sequences(&spool), [7], "the newest stays, whatever its size");
        assert_eq!(dropped.len(), 3);
    }

    #[test]
    fn files_that_are_not_reports_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        fs::write(dir.path().join("00000000000000000009.json.tmp"), "half").unwrap();
        spool.push(&report(10, true)).unwrap();
        assert_eq!(sequences(&spool), [10]);
        assert_eq!(spool.last_sequence().unwrap(), Some(10));
    }

    #[test]
    fn a_private_file_is_its_owners_alone_even_over_a_stale_temporary_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let stale = dir.path().join("secret.tmp");
        fs::write(&stale, "left by a crash").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically_private(&path, b"s3cret\n").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "s3cret\n");
        assert!(!stale.exists());
    }
}
