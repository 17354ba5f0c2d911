//! A repository snapshot: the files of one tree, as a plain value.
//!
//! The agent builds it from a git tree, a test or the CLI from a folder; everything that reads
//! a repository (the fleet model, the renderer) reads this value, so the same code serves git
//! and a checkout. It is not a file system: there is no IO here, and paths never leave the tree.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// How many symlinks one lookup may follow before it is taken for a loop.
const MAX_SYMLINK_HOPS: usize = 40;

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file's bytes.
    File(Vec<u8>),
    /// A symbolic link and its target, as written in the link.
    Symlink(String),
    /// A git submodule (gitlink), with the commit it points to.
    Submodule(String),
    /// A file too large to be read into a snapshot, with its size in bytes.
    TooLarge(u64),
}

/// The files of a tree, keyed by their `/`-separated path relative to the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    entries: BTreeMap<String, Entry>,
}

/// A path that cannot be read from the snapshot.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path {path:?} leaves the repository")]
    Escapes { path: String },
    #[error("symlink {link:?} points out of the repository (to {target:?})")]
    SymlinkEscapes { link: String, target: String },
    #[error("too many levels of symlinks at {path:?}")]
    SymlinkLoop { path: String },
    #[error("{path:?} is a git submodule; submodules are not rendered")]
    Submodule { path: String },
    #[error("{path:?} is a Git LFS pointer, not the file's content; LFS files are not rendered")]
    LfsPointer { path: String },
    #[error("{path:?} is {size} bytes, over the size limit for files in a rendered source")]
    TooLarge { path: String, size: u64 },
    #[error("no such file or folder {path:?}")]
    NotFound { path: String },
}

impl PathError {
    /// The problem without the path, for messages that name the file already.
    pub fn reason(&self) -> String {
        match self {
            PathError::Submodule { .. } => "a git submodule; submodules are not rendered".into(),
            PathError::LfsPointer { .. } => {
                "a Git LFS pointer, not the file's content; LFS files are not rendered".into()
            }
            PathError::TooLarge { size, .. } => {
                format!("{size} bytes, over the size limit for files in a rendered source")
            }
            PathError::NotFound { .. } => "no such file or folder".into(),
            other => other.to_string(),
        }
    }
}

impl Snapshot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an entry. `path` is relative to the root, `/`-separated.
    pub fn insert(&mut self, path: impl Into<String>, entry: Entry) {
        self.entries.insert(path.into().trim_start_matches('/').to_string(), entry);
    }

    /// Adds a regular file.
    pub fn insert_file(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.insert(path, Entry::File(bytes.into()));
    }

    /// Every entry, in path order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Resolves a path through the symlinks on its way, staying inside the tree. The result is a
    /// normalized path that names a file, a folder or nothing.
    pub fn resolve(&self, path: &str) -> Result<String, PathError> {
        resolve(path, |current| match self.entries.get(current) {
            Some(Entry::Symlink(target)) => Some(Cow::Borrowed(target.as_str())),
            _ => None,
        })
    }

    /// The bytes of the file at `path` (after symlinks).
    pub fn read(&self, path: &str) -> Result<&[u8], PathError> {
        let resolved = self.resolve(path)?;
        match self.entries.get(&resolved) {
            Some(Entry::File(bytes)) => {
                if bytes.starts_with(b"version https://git-lfs.github.com/spec/") {
                    return Err(PathError::LfsPointer { path: resolved });
                }
                Ok(bytes)
            }
            Some(Entry::Submodule(_)) => Err(PathError::Submodule { path: resolved }),
            Some(Entry::TooLarge(size)) => Err(PathError::TooLarge { path: resolved, size: *size }),
            Some(Entry::Symlink(_)) => unreachable!("resolve follows every symlink"),
            None => Err(PathError::NotFound { path: path.to_string() }),
        }
    }

    /// Whether `path` (after symlinks) is a folder: some entry lies below it. The root is one.
    pub fn is_dir(&self, path: &str) -> bool {
        match self.resolve(path) {
            Ok(p) if p.is_empty() => true,
            Ok(p) => {
                let prefix = format!("{p}/");
                self.entries.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
            }
            Err(_) => false,
        }
    }

    /// Whether `path` (after symlinks) is a regular file.
    pub fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| matches!(self.entries.get(&p), Some(Entry::File(_) | Entry::TooLarge(_))))
    }

    /// The names of the entries directly inside folder `dir` (after symlinks), in byte order.
    /// Sub-folders are listed once, by name.
    pub fn list_dir(&self, dir: &str) -> Result<Vec<String>, PathError> {
        let resolved = self.resolve(dir)?;
        let prefix = if resolved.is_empty() { String::new() } else { format!("{resolved}/") };
        let mut names: Vec<String> = Vec::new();
        for (path, _) in self.entries.range(prefix.clone()..) {
            let Some(rest) = path.strip_prefix(&prefix) else {
                break;
            };
            let name = rest.split('/').next().unwrap_or(rest);
            if names.last().map(String::as_str) != Some(name) {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
}

/// Resolves `path` through the symlinks on its way, staying inside the tree whose symlinks
/// `link` gives (the target of the normalized path it is asked about, or `None` when that is
/// no symlink): the rule of [`Snapshot::resolve`], for any tree — the agent's folder read on
/// demand asks its file system. The result is a normalized path that names a file, a folder or
/// nothing; a `..` above the root, an absolute target, a target that climbs above the root and
/// more than 40 links on one lookup are errors.
pub fn resolve<'t>(path: &str, mut link: impl FnMut(&str) -> Option<Cow<'t, str>>) -> Result<String, PathError> {
    let mut pending: Vec<String> = components(path).map(str::to_string).collect();
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." | "" => continue,
            ".." => {
                if resolved.pop().is_none() {
                    return Err(PathError::Escapes { path: path.to_string() });
                }
                continue;
            }
            _ => {}
        }
        resolved.push(part);
        let current = resolved.join("/");
        if let Some(target) = link(&current) {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(PathError::SymlinkLoop { path: path.to_string() });
            }
            let escapes = |link: String| PathError::SymlinkEscapes { link, target: target.to_string() };
            if target.starts_with('/') {
                return Err(escapes(current));
            }
            resolved.pop();
            // The target is relative to the link's folder; it must not climb above the root.
            let mut depth = resolved.len();
            for c in components(&target) {
                match c {
                    "." | "" => {}
                    ".." if depth == 0 => return Err(escapes(current)),
                    ".." => depth -= 1,
                    _ => depth += 1,
                }
            }
            pending.extend(components(&target).rev().map(str::to_string));
        }
    }
    Ok(resolved.join("/"))
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/')
}

/// Joins a relative path onto a folder and normalizes it, refusing to leave the root.
pub fn join(dir: &str, rel: &str) -> Result<String, PathError> {
    if rel.starts_with('/') {
        return Err(PathError::Escapes { path: rel.to_string() });
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in components(dir).chain(components(rel)) {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Escapes {
                        path: if dir.is_empty() { rel.to_string() } else { format!("{dir}/{rel}") },
                    });
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        let mut s = Snapshot::new();
        s.insert_file("a/b.yaml", "x: 1");
        s.insert_file("a/c/d.yaml", "y: 2");
        s.insert("a/link.yaml", Entry::Symlink("b.yaml".into()));
        s.insert("a/dirlink", Entry::Symlink("c".into()));
        s.insert("a/out", Entry::Symlink("../../etc/passwd".into()));
        s.insert("a/abs", Entry::Symlink("/etc/passwd".into()));
        s.insert("a/loop", Entry::Symlink("loop".into()));
        s.insert("sub", Entry::Submodule("abc".into()));
        s.insert_file("lfs.bin", "version https://git-lfs.github.com/spec/v1\noid sha256:00\n");
        s
    }

    #[test]
    fn reads_through_symlinks_inside_the_tree() {
        let s = snap();
        assert_eq!(s.read("a/link.yaml").unwrap(), b"x: 1");
        assert_eq!(s.read("a/dirlink/d.yaml").unwrap(), b"y: 2");
        assert!(s.is_dir("a/dirlink"));
        assert_eq!(s.list_dir("a").unwrap(), ["abs", "b.yaml", "c", "dirlink", "link.yaml", "loop", "out"]);
    }

    #[test]
    fn refuses_paths_and_links_that_leave_the_tree() {
        let s = snap();
        assert!(matches!(s.read("a/out"), Err(PathError::SymlinkEscapes { .. })));
        assert!(matches!(s.read("a/abs"), Err(PathError::SymlinkEscapes { .. })));
        assert!(matches!(s.read("../x"), Err(PathError::Escapes { .. })));
        assert!(matches!(s.read("a/loop"), Err(PathError::SymlinkLoop { .. })));
        assert_eq!(join("a", "../../x"), Err(PathError::Escapes { path: "a/../../x".into() }));
        assert_eq!(join("a/b", "../c"), Ok("a/c".into()));
    }

    #[test]
    fn submodules_and_lfs_pointers_are_named_as_such() {
        let s = snap();
        assert!(matches!(s.read("sub"), Err(PathError::Submodule { .. })));
        assert!(matches!(s.read("lfs.bin"), Err(PathError::LfsPointer { .. })));
    }
}
