//! Reads a folder of the local file system into a [`Snapshot`], as a git tree would be read:
//! regular files with their bytes, symlinks as links (never followed here), nothing else.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result};
use flotilla_core::snapshot::{Entry, Snapshot};

/// Reads every file below `root`, skipping `.git`.
pub fn snapshot(root: &Path) -> Result<Snapshot> {
    let mut snap = Snapshot::new();
    walk(root, root, &mut snap)?;
    Ok(snap)
}

fn walk(root: &Path, dir: &Path, snap: &mut Snapshot) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading folder {}", dir.display()))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let rel = path.strip_prefix(root).expect("walked below root").to_string_lossy().replace('\\', "/");
        let meta = fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).with_context(|| format!("reading link {}", path.display()))?;
            snap.insert(rel, Entry::Symlink(target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            walk(root, &path, snap)?;
        } else if meta.is_file() {
            // Oversized files are read too: the YAML reader refuses them, naming the file.
            let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            snap.insert_file(rel, bytes);
        }
    }
    Ok(())
}
