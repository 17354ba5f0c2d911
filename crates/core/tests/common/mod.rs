//! What core's integration tests share: a folder on disk read into a [`Snapshot`] (core itself
//! reads no files).

use std::fs;
use std::path::{Path, PathBuf};

use flotilla_core::snapshot::{Entry, Snapshot};

/// The files and symlinks under `root`, paths `/`-separated and relative to it.
pub fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, snapshot: &mut Snapshot) {
        let mut entries: Vec<PathBuf> =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap().to_string_lossy().into_owned();
                snapshot.insert(relative, Entry::Symlink(target));
            } else if meta.is_dir() {
                walk(root, &path, snapshot);
            } else {
                snapshot.insert_file(relative, fs::read(&path).unwrap());
            }
        }
    }
    let mut snapshot = Snapshot::new();
    walk(root, root, &mut snapshot);
    snapshot
}
