//! Repository rules that code review keeps forgetting: `flotilla-core` does no IO.

use std::path::Path;

use anyhow::{Context as _, Result};

/// Crates that do IO (or pull in a runtime); `flotilla-core` must not depend on them.
const IO_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "kube",
    "kube-client",
    "kube-runtime",
    "k8s-openapi",
    "gix",
    "git2",
    "reqwest",
    "hyper",
    "axum",
    "tower",
    "rusqlite",
    "sqlx",
    "postgres",
    "tokio-postgres",
    "ureq",
    "notify",
    "walkdir",
    "tempfile",
    "chrono",
    "time",
];

/// Every problem found, as a sentence.
pub fn check(root: &Path) -> Result<Vec<String>> {
    let manifest = root.join("crates/core/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let mut problems = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        let in_deps = section == "dependencies" || (section.contains("dependencies") && !section.contains("dev-"));
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split(['=', '.']).next().unwrap_or_default().trim().trim_matches('"');
        if IO_CRATES.contains(&name) {
            problems.push(format!("crates/core depends on {name:?}, an IO crate: core does no IO (STYLE.md)"));
        }
    }
    // Core's sources must not reach for the file system, the network, processes or the clock.
    for forbidden in ["std::fs", "std::net", "std::process", "std::time::SystemTime", "std::env"] {
        for file in rust_files(&root.join("crates/core/src"))? {
            let src = std::fs::read_to_string(&file)?;
            if src.contains(forbidden) {
                problems.push(format!("{} uses {forbidden}: core does no IO", file.display()));
            }
        }
    }
    Ok(problems)
}

fn rust_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_tidy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(check(root).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_io_dependency_in_core_is_caught() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("crates/core/src")).unwrap();
        std::fs::write(
            dir.join("crates/core/Cargo.toml"),
            "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\ntokio = { version = \"1\" }\n",
        )
        .unwrap();
        std::fs::write(dir.join("crates/core/src/lib.rs"), "fn f() { let _ = std::fs::read(\"x\"); }\n").unwrap();
        let problems = check(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"tokio\""));
        assert!(problems[1].contains("std::fs"));
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("flotilla-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
