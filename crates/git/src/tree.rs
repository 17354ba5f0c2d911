//! Reading the tree of a commit into core's snapshot, straight from the object database.

use flotilla_core::snapshot::{Entry, Snapshot};
use gix::objs::tree::EntryKind;

use crate::{Cache, CommitId, Error, find_commit};

/// Blobs larger than this are not read; the snapshot records their size and rendering refuses
/// them by name.
pub const MAX_BLOB_BYTES: u64 = 8 * 1024 * 1024;

impl Cache {
    /// The files of `commit` (fetched before into the cache of `url`).
    pub fn snapshot(&self, url: &str, commit: CommitId) -> Result<Snapshot, Error> {
        let (entry, _) = self.entry(url)?;
        let repo = &entry.repo;
        let read_err = |what: String, e: &dyn std::fmt::Display| Error::Read {
            url: url.to_string(),
            what,
            message: e.to_string(),
        };
        let commit_obj = find_commit(repo, url, commit)?;
        let tree = commit_obj.tree().map_err(|e| read_err(format!("the tree of {commit}"), &e))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse().breadthfirst(&mut recorder).map_err(|e| read_err(format!("the tree of {commit}"), &e))?;
        let mut snapshot = Snapshot::new();
        for item in recorder.records {
            let path = item.filepath.to_string();
            match item.mode.kind() {
                EntryKind::Tree => {}
                EntryKind::Commit => snapshot.insert(path, Entry::Submodule(item.oid.to_string())),
                EntryKind::Link => {
                    let blob = repo.find_blob(item.oid).map_err(|e| read_err(path.clone(), &e))?;
                    snapshot.insert(path, Entry::Symlink(String::from_utf8_lossy(&blob.data).into_owned()));
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let header = repo.find_header(item.oid).map_err(|e| read_err(path.clone(), &e))?;
                    if header.size() > MAX_BLOB_BYTES {
                        snapshot.insert(path, Entry::TooLarge(header.size()));
                        continue;
                    }
                    let blob = repo.find_blob(item.oid).map_err(|e| read_err(path.clone(), &e))?;
                    snapshot.insert(path, Entry::File(blob.detach().data));
                }
            }
        }
        Ok(snapshot)
    }
}
