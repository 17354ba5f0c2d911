//! Folders of the local file system as trees to render, the way a git tree is read: regular
//! files with their bytes, symlinks as links that must stay inside the tree, nothing else.
//!
//! [`snapshot`] reads a whole folder into a core [`Snapshot`] (a fleet folder, the golden
//! corpus). [`render_dir`] reads nothing ahead: its [`Folder`] answers the renderer's questions
//! one file at a time, so a render reads only what its kustomizations name, however much lies
//! beside it — and its root climbs above DIR only as far as a kustomization reaches (`../base`),
//! to the top of the git repository that holds DIR, or, outside any, at most
//! [`MAX_LEVELS_UP`] folders and never to the file system's root.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use flotilla_core::kustomize::{self, Budget, Files};
use flotilla_core::snapshot::{Entry, PathError, Snapshot};

/// Outside a git repository, how many folders above DIR a render's root may climb.
pub const MAX_LEVELS_UP: usize = 8;

/// The largest file a render reads, as in a git snapshot (flotilla-git's blob limit); a larger
/// one is named as too large, not read.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

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

/// A folder read on demand, as the renderer asks ([`Files`]): paths are relative to `root`,
/// `/`-separated, and never leave it; `.git` is not part of the tree.
#[derive(Debug)]
pub struct Folder {
    root: PathBuf,
    /// The first failure to read that is not a missing file (permissions, IO): the renderer's
    /// errors cannot carry it, so [`render_dir`] reports it instead.
    failure: RefCell<Option<(PathBuf, io::Error)>>,
}

impl Folder {
    pub fn new(root: &Path) -> Folder {
        Folder { root: root.to_path_buf(), failure: RefCell::new(None) }
    }

    /// The first read that failed other than for a missing file, if any.
    pub fn failure(&self) -> Option<anyhow::Error> {
        let failure = self.failure.borrow();
        failure.as_ref().map(|(path, e)| anyhow!("reading {}: {e}", path.display()))
    }

    fn disk(&self, rel: &str) -> PathBuf {
        if rel.is_empty() { self.root.clone() } else { self.root.join(rel) }
    }

    /// Metadata of `rel` (not following a final symlink), `None` when it does not exist or is
    /// not part of the tree; other failures are kept for [`Folder::failure`].
    fn entry(&self, rel: &str) -> Option<fs::Metadata> {
        if rel.split('/').any(|c| c == ".git") {
            return None;
        }
        let path = self.disk(rel);
        match fs::symlink_metadata(&path) {
            Ok(meta) => Some(meta),
            Err(e) => {
                self.keep(path, e);
                None
            }
        }
    }

    fn keep(&self, path: PathBuf, e: io::Error) {
        if e.kind() != io::ErrorKind::NotFound && e.kind() != io::ErrorKind::NotADirectory {
            self.failure.borrow_mut().get_or_insert((path, e));
        }
    }

    /// The target of `rel` when it is a symlink.
    fn link(&self, rel: &str) -> Option<String> {
        let meta = self.entry(rel)?;
        if !meta.file_type().is_symlink() {
            return None;
        }
        match fs::read_link(self.disk(rel)) {
            Ok(target) => Some(target.to_string_lossy().replace('\\', "/")),
            Err(e) => {
                self.keep(self.disk(rel), e);
                None
            }
        }
    }
}

impl Files for Folder {
    /// As [`Snapshot::resolve`], asking the file system which components are symlinks.
    fn resolve(&self, path: &str) -> Result<String, PathError> {
        flotilla_core::snapshot::resolve(path, |current| self.link(current).map(Cow::Owned))
    }

    fn read(&self, path: &str) -> Result<Cow<'_, [u8]>, PathError> {
        let resolved = self.resolve(path)?;
        let Some(meta) = self.entry(&resolved).filter(fs::Metadata::is_file) else {
            return Err(PathError::NotFound { path: path.to_string() });
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(PathError::TooLarge { path: resolved, size: meta.len() });
        }
        let bytes = match fs::read(self.disk(&resolved)) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.keep(self.disk(&resolved), e);
                return Err(PathError::NotFound { path: path.to_string() });
            }
        };
        if bytes.starts_with(b"version https://git-lfs.github.com/spec/") {
            return Err(PathError::LfsPointer { path: resolved });
        }
        Ok(Cow::Owned(bytes))
    }

    fn is_dir(&self, path: &str) -> bool {
        match self.resolve(path) {
            Ok(p) if p.is_empty() => true,
            Ok(p) => self.entry(&p).is_some_and(|m| m.is_dir()),
            Err(_) => false,
        }
    }

    fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| self.entry(&p).is_some_and(|m| m.is_file()))
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, PathError> {
        let resolved = self.resolve(dir)?;
        let entries = match fs::read_dir(self.disk(&resolved)) {
            Ok(entries) => entries,
            Err(e) => {
                self.keep(self.disk(&resolved), e);
                return Err(PathError::NotFound { path: dir.to_string() });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".git")
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Renders a folder as `kubectl kustomize DIR` does, within the default budget.
pub fn render_dir(dir: &Path) -> Result<Vec<serde_json::Value>> {
    render_dir_with(dir, &Budget::default())
}

/// Renders a folder as `kubectl kustomize DIR` does, within `budget`, reading only the files
/// its kustomizations name. The root starts at DIR and climbs one folder at a time while a
/// kustomization names a path above it (`../base`): up to the top of the git repository that
/// holds DIR, or outside any, up to [`MAX_LEVELS_UP`] folders and never to the file system's
/// root. A path beyond that is an error naming the kustomization and its field.
pub fn render_dir_with(dir: &Path, budget: &Budget) -> Result<Vec<serde_json::Value>> {
    let start = dir.canonicalize().with_context(|| format!("reading {}", dir.display()))?;
    let top = start.ancestors().find(|a| a.join(".git").exists()).map(Path::to_path_buf);
    let mut root = start.clone();
    let mut rel = String::new();
    let mut levels = 0;
    loop {
        let folder = Folder::new(&root);
        let built = kustomize::build_with(&folder, &rel, budget);
        if let (Err(_), Some(failure)) = (&built, folder.failure()) {
            return Err(failure).with_context(|| format!("rendering {}", dir.display()));
        }
        let (file, field, path) = match built {
            Err(kustomize::Error::LeavesRepository { file, field, path }) => (file, field, path),
            built => return built.with_context(|| format!("rendering {}", dir.display())),
        };
        let parent = root.parent().filter(|p| match &top {
            Some(top) => root != *top,
            None => levels < MAX_LEVELS_UP && p.parent().is_some(),
        });
        let Some(parent) = parent else {
            let bound = match &top {
                Some(_) => format!(", the top of the git repository that holds {}", start.display()),
                None => format!(
                    ": outside a git repository a render reads at most {MAX_LEVELS_UP} folders above {}, and never from /",
                    start.display()
                ),
            };
            return Err(anyhow!(
                "{}: field {field}: {path:?} escapes the root {}{bound}",
                root.join(&file).display(),
                root.display()
            ))
            .with_context(|| format!("rendering {}", dir.display()));
        };
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        rel = if rel.is_empty() { name } else { format!("{name}/{rel}") };
        root = parent.to_path_buf();
        levels += 1;
    }
}
