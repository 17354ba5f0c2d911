//! Chart archives kept by their SHA-256: `DIR/sha256/HEX.tgz`. A file is written under a
//! temporary name and renamed into place, so a reader sees a whole archive or none; one whose
//! bytes no longer match its name is removed (and fetched anew by the caller).

use std::path::PathBuf;

use flotilla_core::helm::repo;

use crate::Error;

#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub(crate) fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    fn path(&self, hex: &str) -> PathBuf {
        self.dir.join("sha256").join(format!("{hex}.tgz"))
    }

    /// The archive of digest `hex`, when it is held and still matches it.
    pub(crate) fn get(&self, hex: &str) -> Option<Vec<u8>> {
        let path = self.path(hex);
        let bytes = std::fs::read(&path).ok()?;
        if repo::sha256_hex(&bytes) == hex {
            return Some(bytes);
        }
        tracing::warn!("chart cache: {} does not match its digest; fetching it again", path.display());
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Keeps the archive `bytes` of digest `hex`.
    pub(crate) fn put(&self, hex: &str, bytes: &[u8]) -> Result<(), Error> {
        // Unique per process and write: two fetches of one chart may race, each renames a whole file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = self.path(hex);
        let fail = |e: std::io::Error| Error::Cache { path: path.display().to_string(), message: e.to_string() };
        let dir = path.parent().expect("a cache file is in a folder");
        std::fs::create_dir_all(dir).map_err(fail)?;
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = dir.join(format!(".{hex}.{}.{n}.tmp", std::process::id()));
        std::fs::write(&temporary, bytes).map_err(fail)?;
        std::fs::rename(&temporary, &path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            fail(e)
        })
    }
}
