//! Reads a folder of the local file system into a [`Snapshot`], as a git tree would be read:
//! regular files with their bytes, symlinks as links (never followed here), nothing else.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result};
use flotilla_core::kustomize::Budget;
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

/// Renders a folder as `kubectl kustomize DIR` does. The snapshot starts at `dir` and grows one
/// parent at a time while the kustomization names folders above it (`../base`), but never past
/// the top of the git repository that holds it, so a render reads no more than it needs.
pub fn render_dir(dir: &Path) -> Result<Vec<serde_json::Value>> {
    render_dir_with(dir, &Budget::default())
}

/// [`render_dir`] within `budget`.
pub fn render_dir_with(dir: &Path, budget: &Budget) -> Result<Vec<serde_json::Value>> {
    let mut root = dir.canonicalize().with_context(|| format!("reading {}", dir.display()))?;
    let mut rel = String::new();
    loop {
        let snap = snapshot(&root)?;
        match flotilla_core::kustomize::build_with(&snap, &rel, budget) {
            Err(flotilla_core::kustomize::Error::LeavesRepository { .. })
                if !root.join(".git").exists() && root.parent().is_some() =>
            {
                let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                rel = if rel.is_empty() { name } else { format!("{name}/{rel}") };
                root = root.parent().expect("checked above").to_path_buf();
            }
            result => return result.with_context(|| format!("rendering {}", dir.display())),
        }
    }
}
