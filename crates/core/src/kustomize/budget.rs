//! A render's budget: how many objects it may build and how many bytes of files it may read,
//! counted while it builds, so that a kustomization fanning out (each level including its bases
//! twice, sixteen levels deep: 65,536 objects) is stopped after the first objects over the
//! budget rather than after everything was built.
//!
//! What counts: every object a resource file or a generator makes, each time a kustomization
//! includes it; every kustomization opened, against the same number (a fan-out whose leaves
//! hold nothing is still work); every byte read — kustomization files, resources, patches and
//! generator files — each time it is read. Nothing legitimate comes near the defaults: of 111
//! real kustomizations the largest renders 69 objects (Kubebuilder's multigroup project), the
//! heaviest 3 MB (Argo Rollouts' CRDs).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use super::{Error, Kustomization};

/// The objects a render may build by default (and the kustomizations it may open).
pub const DEFAULT_MAX_OBJECTS: usize = 10_000;
/// The bytes of files a render may read by default: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How much one render may build; see the module's documentation for what counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Objects built (and, separately, kustomizations opened).
    pub max_objects: usize,
    /// Bytes of files read.
    pub max_bytes: u64,
}

impl Budget {
    /// The defaults: [`DEFAULT_MAX_OBJECTS`], [`DEFAULT_MAX_BYTES`].
    pub const DEFAULT: Budget = Budget { max_objects: DEFAULT_MAX_OBJECTS, max_bytes: DEFAULT_MAX_BYTES };
}

impl Default for Budget {
    fn default() -> Self {
        Budget::DEFAULT
    }
}

/// `64 MiB`, `512 KiB`, or `1000 bytes`: a byte count as the budget's docs write it.
pub fn bytes_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// `1 object`, `2 objects`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// What a render has spent so far, and the files it has parsed: a base included many times
/// over is parsed once or twice, not every time (and counted every time). Shared by everything
/// one render calls, hence the cells.
#[derive(Debug)]
pub(crate) struct Meter {
    budget: Budget,
    objects: Cell<usize>,
    kustomizations: Cell<usize>,
    bytes: Cell<u64>,
    /// Kustomization files by path, with their size in bytes.
    pub kustomization_files: RefCell<HashMap<String, Parsed<Rc<Kustomization>>>>,
    /// Manifest files read so far, by path, with their size in bytes and, once a file has been
    /// read twice, its objects (checked).
    pub manifests: RefCell<HashMap<String, Parsed<Option<Objects>>>>,
    /// With `buildMetadata` at the top: the top folder, which origins are written relative to.
    pub tracking: RefCell<Option<String>>,
    /// The schema strategic merge patches use, once a kustomization's `openapi` chose one.
    pub schema: RefCell<super::openapi::Choice>,
}

/// A manifest file's objects, shared by the cache and whoever includes the file.
pub(crate) type Objects = Rc<Vec<Value>>;

/// A file's size in bytes, and what it parsed to.
pub(crate) type Parsed<T> = (usize, T);

/// Where something was spent: the kustomization (or file) and its field.
pub(crate) struct At<'a> {
    pub file: &'a str,
    pub field: Option<&'a str>,
}

impl Meter {
    pub fn new(budget: Budget) -> Meter {
        Meter {
            budget,
            objects: Cell::new(0),
            kustomizations: Cell::new(0),
            bytes: Cell::new(0),
            kustomization_files: RefCell::default(),
            manifests: RefCell::default(),
            tracking: RefCell::default(),
            schema: RefCell::default(),
        }
    }

    /// The error, its chain of kustomizations left for [`super::build_with`] to fill in.
    fn over(at: &At<'_>, limit: String) -> Error {
        Error::OverBudget {
            file: at.file.to_string(),
            field: at.field.map(str::to_string),
            limit,
            chain: String::new(),
        }
    }

    /// Counts `count` objects built.
    pub fn objects(&self, at: &At<'_>, count: usize) -> Result<(), Error> {
        let total = self.objects.get().saturating_add(count);
        self.objects.set(total);
        if total > self.budget.max_objects {
            return Err(Self::over(at, format!("more than {}", counted(self.budget.max_objects, "object"))));
        }
        Ok(())
    }

    /// Counts one kustomization opened.
    pub fn kustomization(&self, at: &At<'_>) -> Result<(), Error> {
        let total = self.kustomizations.get().saturating_add(1);
        self.kustomizations.set(total);
        if total > self.budget.max_objects {
            return Err(Self::over(
                at,
                format!("more than {} included", counted(self.budget.max_objects, "kustomization")),
            ));
        }
        Ok(())
    }

    /// Counts `count` bytes read.
    pub fn bytes(&self, at: &At<'_>, count: usize) -> Result<(), Error> {
        let total = self.bytes.get().saturating_add(u64::try_from(count).unwrap_or(u64::MAX));
        self.bytes.set(total);
        if total > self.budget.max_bytes {
            return Err(Self::over(at, format!("more than {} of files read", bytes_text(self.budget.max_bytes))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::{build, build_with};
    use crate::snapshot::Snapshot;

    /// `top` includes `width` bases, each of which includes the `width` bases of the next level,
    /// `depth` levels down, where each holds `leaf` ConfigMaps: width^depth × leaf objects from
    /// width × depth folders. Each base prefixes names with its letter, so that ids differ.
    pub(crate) fn fan_out(width: usize, depth: usize, leaf: usize) -> Snapshot {
        let letter = |w: usize| char::from(b'a' + u8::try_from(w).unwrap());
        let bases = |level: usize| (0..width).map(|w| format!("../l{level}-{}", letter(w))).collect::<Vec<_>>();
        let config_maps = (0..leaf)
            .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: leaf-{i}}}\n"))
            .collect::<Vec<_>>()
            .join("---\n");
        let mut s = Snapshot::new();
        s.insert_file("top/kustomization.yaml", format!("resources: [{}]\n", bases(1).join(", ")));
        for level in 1..=depth {
            for w in 0..width {
                let dir = format!("l{level}-{}", letter(w));
                let resources = if level < depth {
                    bases(level + 1).join(", ")
                } else if leaf == 0 {
                    String::new()
                } else {
                    s.insert_file(format!("{dir}/cm.yaml"), config_maps.clone());
                    "cm.yaml".into()
                };
                s.insert_file(
                    format!("{dir}/kustomization.yaml"),
                    format!("namePrefix: {}-\nresources: [{resources}]\n", letter(w)),
                );
            }
        }
        s
    }

    /// Builds `top` of `snapshot`, expecting a refusal by the budget; the message. That the
    /// refusal came early is what the message says (the count that went over, and the path it was
    /// rendering), not how long it took: a test does not time (the machines are shared).
    fn refused(snapshot: &Snapshot, budget: &Budget) -> String {
        let err = build_with(snapshot, "top", budget).unwrap_err();
        assert!(matches!(err, Error::OverBudget { .. }), "{err}");
        err.to_string()
    }

    // The two shapes that were found: 65,536 objects in 22 s and 352 MB; killed at 60 s and
    // 877 MB. Each base is included 2 (or 4) times per level, so the kustomizations opened reach
    // the budget before the objects do.

    #[test]
    fn two_bases_per_level_over_sixteen_levels_are_refused_early_naming_the_kustomizations() {
        let err = refused(&fan_out(2, 16, 1), &Budget::default());
        assert!(err.starts_with("l16-"), "{err}");
        assert!(
            err.contains(
                "/kustomization.yaml: over the render budget: more than 10000 kustomizations included \
                 (rendering top -> l1-a -> l2-a -> … -> l14-"
            ),
            "{err}"
        );
    }

    #[test]
    fn four_bases_per_level_over_ten_levels_are_refused_early_naming_the_kustomizations() {
        let err = refused(&fan_out(4, 10, 1), &Budget::default());
        assert!(err.starts_with("l10-"), "{err}");
        assert!(
            err.contains(
                ": over the render budget: more than 10000 kustomizations included (rendering top -> l1-a -> "
            ),
            "{err}"
        );
    }

    #[test]
    fn objects_and_bytes_are_counted_as_the_build_goes() {
        // Fewer, fuller leaves: the objects reach the budget first, at a leaf's resources.
        let err = refused(&fan_out(2, 10, 20), &Budget::default());
        assert!(err.starts_with("l10-"), "{err}");
        assert!(err.contains("/kustomization.yaml: field resources[0]: over the render budget: more than 10000 objects (rendering top -> l1-a -> l2-"), "{err}");
        // Bytes: the kustomization files and the ConfigMaps, each time read.
        let tiny = Budget { max_bytes: 4096, ..Budget::default() };
        let err = refused(&fan_out(2, 8, 1), &tiny);
        assert!(err.contains("over the render budget: more than 4 KiB of files read (rendering top"), "{err}");
    }

    #[test]
    fn what_fits_the_budget_renders_as_before() {
        let objects = build(&fan_out(2, 8, 1), "top").unwrap();
        assert_eq!(objects.len(), 256);
        assert_eq!(objects[0]["metadata"]["name"], "a-a-a-a-a-a-a-a-leaf-0");
        assert_eq!(objects[255]["metadata"]["name"], "b-b-b-b-b-b-b-b-leaf-0");
    }

    #[test]
    fn a_plain_folder_is_held_to_the_budget_too() {
        let mut s = Snapshot::new();
        for i in 0..3 {
            s.insert_file(
                format!("top/cm-{i}.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n"),
            );
        }
        let err = refused(&s, &Budget { max_objects: 2, ..Budget::default() });
        assert_eq!(err, "top/cm-2.yaml: over the render budget: more than 2 objects (rendering top)");
    }

    #[test]
    fn byte_counts_read_as_the_docs_write_them() {
        assert_eq!(bytes_text(DEFAULT_MAX_BYTES), "64 MiB");
        assert_eq!(bytes_text(512 * 1024), "512 KiB");
        assert_eq!(bytes_text(1000), "1000 bytes");
        assert_eq!(bytes_text(2 * 1024 * 1024 * 1024), "2 GiB");
    }
}
