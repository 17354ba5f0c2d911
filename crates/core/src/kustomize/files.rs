//! What a render reads: the questions the renderer asks of a tree, answered by a [`Snapshot`]
//! (a git tree read whole) or by anything else that keeps to the same rules — the agent's
//! `render DIR` reads a folder of the local file system this way, one file when it is asked
//! for, so that a render reads only what its kustomizations name.
//!
//! Not a file system: paths are `/`-separated and relative to the tree's root, and an answer
//! never leaves the tree (`..` past the root and symlinks out of it are errors, as in
//! [`Snapshot`]).

use std::borrow::Cow;

use crate::snapshot::{PathError, Snapshot};

/// A tree the renderer reads. Implementations answer as [`Snapshot`] does.
pub trait Files {
    /// Resolves `path` through the symlinks on its way, staying inside the tree: a normalized
    /// path that names a file, a folder or nothing.
    fn resolve(&self, path: &str) -> Result<String, PathError>;

    /// The bytes of the file at `path` (after symlinks).
    fn read(&self, path: &str) -> Result<Cow<'_, [u8]>, PathError>;

    /// Whether `path` (after symlinks) is a folder. The root is one.
    fn is_dir(&self, path: &str) -> bool;

    /// Whether `path` (after symlinks) is a regular file.
    fn is_file(&self, path: &str) -> bool;

    /// The names of the entries directly inside folder `dir` (after symlinks), in byte order.
    fn list_dir(&self, dir: &str) -> Result<Vec<String>, PathError>;
}

impl Files for Snapshot {
    fn resolve(&self, path: &str) -> Result<String, PathError> {
        Snapshot::resolve(self, path)
    }

    fn read(&self, path: &str) -> Result<Cow<'_, [u8]>, PathError> {
        Snapshot::read(self, path).map(Cow::Borrowed)
    }

    fn is_dir(&self, path: &str) -> bool {
        Snapshot::is_dir(self, path)
    }

    fn is_file(&self, path: &str) -> bool {
        Snapshot::is_file(self, path)
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, PathError> {
        Snapshot::list_dir(self, dir)
    }
}
