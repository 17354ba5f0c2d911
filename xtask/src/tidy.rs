//! Repository rules that code review keeps forgetting: the pure crates ([`PURE_CRATES`]) do no
//! IO, and no two source files of a crate import each other, directly or round a circle
//! ([`circles`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// The crates that do no IO: pure functions over plain data (STYLE.md), held to the same rules.
const PURE_CRATES: &[&str] = &["crates/core", "crates/template"];

/// Crates that do IO (or pull in a runtime); a pure crate must not depend on them.
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
    // OS randomness: a pure crate's random bytes come from the caller's seed.
    "getrandom",
    "rand",
];

/// Every problem found, as a sentence.
pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for pure in PURE_CRATES {
        if root.join(pure).is_dir() {
            problems.extend(check_pure(root, pure)?);
        }
    }
    for src in crate_sources(root)? {
        let mut files = Vec::new();
        for file in rust_files(&src)? {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let relative = file.strip_prefix(&src).expect("found below it").to_string_lossy().replace('\\', "/");
            files.push((relative, text));
        }
        let name = src.strip_prefix(root).expect("found below it").to_string_lossy().replace('\\', "/");
        for circle in circles(&files) {
            problems.push(format!("import circle in {name}: {}", circle.join(" ↔ ")));
        }
    }
    Ok(problems)
}

/// The problems of one pure crate (`crates/core`): an IO crate among its dependencies, or a
/// source reaching for the file system, the network, processes, the environment, the clock or
/// the OS's random numbers.
fn check_pure(root: &Path, krate: &str) -> Result<Vec<String>> {
    let manifest = root.join(krate).join("Cargo.toml");
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
            problems.push(format!("{krate} depends on {name:?}, an IO crate: {krate} does no IO (STYLE.md)"));
        }
    }
    for forbidden in
        ["std::fs", "std::net", "std::process", "std::time::SystemTime", "std::env", "OsRng", "thread_rng", "getrandom"]
    {
        for file in rust_files(&root.join(krate).join("src"))? {
            let src = std::fs::read_to_string(&file)?;
            if src.contains(forbidden) {
                problems.push(format!("{} uses {forbidden}: {krate} does no IO", file.display()));
            }
        }
    }
    Ok(problems)
}

/// Every crate's source folder: `crates/*/src` and `xtask/src`.
fn crate_sources(root: &Path) -> Result<Vec<PathBuf>> {
    let crates = root.join("crates");
    let mut out = vec![root.join("xtask/src")];
    for entry in std::fs::read_dir(&crates).with_context(|| format!("reading {}", crates.display()))? {
        out.push(entry?.path().join("src"));
    }
    out.retain(|src| src.is_dir());
    out.sort();
    Ok(out)
}

/// The import circles between the source files of one crate (`files`: path below `src/` and
/// text), each as its files sorted, the circles sorted.
///
/// A file is a module (`a.rs` and `a/mod.rs` are `a`, `a/b.rs` is `a::b`; `lib.rs` and
/// `main.rs` the root). A file refers to another through a `crate::…` or `super::…` path in
/// its code (comments and strings are skipped; `use crate::{a, b::c}` names both): the path's
/// longest prefix that is a file's module. A module's references to its ancestors and
/// descendants do not count: a parent declares and uses its children (`mod child;`), and a child
/// using its parent's items (`super::Error`) is normal Rust. Two modules neither of which
/// contains the other that reach each other, directly or round a longer circle, are a circle:
/// neither can be read, tested or moved without the other.
pub fn circles(files: &[(String, String)]) -> Vec<Vec<String>> {
    let modules: BTreeMap<Vec<String>, &str> = files.iter().map(|(path, _)| (module_of(path), path.as_str())).collect();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (path, text) in files {
        let here = module_of(path);
        // `super` in `a/mod.rs` and in `a.rs` is the parent of `a`.
        for target in references(&code_only(text), &here) {
            let Some(found) = (1..=target.len()).rev().find_map(|n| modules.get(&target[..n]).map(|f| (n, *f))) else {
                continue;
            };
            let module = &target[..found.0];
            let related = module.starts_with(&here) || here.starts_with(module);
            if !related {
                edges.entry(path.as_str()).or_default().insert(found.1);
            }
        }
    }
    let mut circles: Vec<Vec<String>> = strongly_connected(&edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| component.into_iter().map(str::to_string).collect())
        .collect();
    circles.sort();
    circles
}

fn module_of(path: &str) -> Vec<String> {
    let path = path.strip_suffix(".rs").unwrap_or(path);
    let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) || matches!(path, "lib" | "main") {
        parts.pop();
    }
    parts
}

/// The module paths `code` names with `crate::` or `super::` from module `here`, resolved to
/// absolute paths (segments after the crate root).
fn references(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || matches!(bytes[at - 1], b'_' | b'$' | b':')));
        if !starts {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let mut base: Vec<String> = Vec::new();
        let mut tail = rest;
        if let Some(after) = tail.strip_prefix("crate::") {
            tail = after;
        } else {
            base = here.to_vec();
            while let Some(after) = tail.strip_prefix("super::") {
                base.pop();
                tail = after;
            }
        }
        for path in expand(tail) {
            let mut full = base.clone();
            full.extend(path);
            out.push(full);
        }
        at += rest.len() - tail.len();
    }
    out
}

/// The paths a use tree names, `a::b::{c, d::e}` giving `a::b::c` and `a::b::d::e`; only the
/// leading identifiers count (a path ends at the first other character).
fn expand(text: &str) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let ident: usize = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        if ident > 0 {
            prefix.push(rest[..ident].to_string());
            rest = &rest[ident..];
            match rest.trim_start().strip_prefix("::") {
                Some(after) => rest = after.trim_start(),
                None => return vec![prefix],
            }
        } else if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut items = Vec::new();
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return items
                .into_iter()
                .flat_map(expand)
                .map(|tail| prefix.iter().cloned().chain(tail).collect())
                .collect();
        } else {
            return vec![prefix];
        }
    }
}

/// `text` with comments, string literals and character literals blanked out, so that a path in
/// a doc comment or a message is not a reference.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, from: &[char]| out.extend(from.iter().map(|c| if *c == '\n' { '\n' } else { ' ' }));
    while i < chars.len() {
        let at = |k: usize| chars.get(i + k).copied();
        let end = if at(0) == Some('/') && at(1) == Some('/') {
            chars[i..].iter().position(|c| *c == '\n').map_or(chars.len(), |n| i + n)
        } else if at(0) == Some('/') && at(1) == Some('*') {
            (i + 2..chars.len().saturating_sub(1))
                .find(|&k| chars[k] == '*' && chars[k + 1] == '/')
                .map_or(chars.len(), |k| k + 2)
        } else if at(0) == Some('"') {
            let mut k = i + 1;
            while k < chars.len() && chars[k] != '"' {
                k += if chars[k] == '\\' { 2 } else { 1 };
            }
            (k + 1).min(chars.len())
        } else if at(0) == Some('r')
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
            && matches!(at(1), Some('"' | '#'))
        {
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(i + 1 + hashes) == Some(&'"') {
                let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let body: String = chars[i + 2 + hashes..].iter().collect();
                body.find(&close).map_or(chars.len(), |n| i + 2 + hashes + body[..n].chars().count() + 1 + hashes)
            } else {
                i + 1
            }
        } else if at(0) == Some('\'') && at(1) == Some('\\') {
            (i + 2..chars.len()).find(|&k| chars[k] == '\'').map_or(chars.len(), |k| k + 1)
        } else if at(0) == Some('\'') && at(2) == Some('\'') {
            i + 3
        } else {
            out.push(chars[i]);
            i += 1;
            continue;
        };
        if end == i + 1 && at(0) == Some('r') {
            out.push('r');
        } else {
            blank(&mut out, &chars[i..end]);
        }
        i = end;
    }
    out
}

/// Tarjan's strongly connected components of `edges`.
fn strongly_connected<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a, 'e> {
        edges: &'e BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(state: &mut State<'a, '_>, node: &'a str) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        state.on_stack.insert(node);
        for &next in state.edges.get(node).into_iter().flatten() {
            if !state.index.contains_key(next) {
                visit(state, next);
                let low = state.low[node].min(state.low[next]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.low[node].min(state.index[next]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top);
                if top == node {
                    break;
                }
            }
            component.sort_unstable();
            state.components.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &node in edges.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.components
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
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
        // `check` passes over a pure crate that is not there; here each must be.
        for pure in PURE_CRATES {
            assert!(root.join(pure).join("Cargo.toml").is_file(), "{pure} is gone: update PURE_CRATES");
        }
        assert_eq!(check(root).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_io_dependency_in_core_and_every_circle_are_caught() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("crates/core/src")).unwrap();
        std::fs::write(
            dir.join("crates/core/Cargo.toml"),
            "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\ntokio = { version = \"1\" }\n",
        )
        .unwrap();
        std::fs::write(dir.join("crates/core/src/lib.rs"), "fn f() { let _ = std::fs::read(\"x\"); }\n").unwrap();
        std::fs::write(dir.join("crates/core/src/fleet.rs"), "use crate::rollout::Wave;\n").unwrap();
        std::fs::write(dir.join("crates/core/src/rollout.rs"), "use crate::fleet::Placement;\n").unwrap();
        std::fs::write(dir.join("crates/core/src/a.rs"), "use crate::b::B;\n").unwrap();
        std::fs::write(dir.join("crates/core/src/b.rs"), "use crate::a::A;\n").unwrap();
        let problems = check(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("\"tokio\""));
        assert!(problems[1].contains("std::fs"));
        // No circle is excused (the allow-list of issue 20's circles is gone with them).
        assert_eq!(problems[2], "import circle in crates/core/src: a.rs ↔ b.rs");
        assert_eq!(problems[3], "import circle in crates/core/src: fleet.rs ↔ rollout.rs");
    }

    /// The template engine is pure as core is: its clock or environment comes from its caller.
    #[test]
    fn the_template_crate_is_held_to_core_s_rules() {
        let dir = tempdir().with_extension("template");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("crates/template/src")).unwrap();
        std::fs::write(
            dir.join("crates/template/Cargo.toml"),
            "[package]\nname = \"t\"\n[dependencies]\nchrono = \"0.4\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("crates/template/src/lib.rs"), "fn now() { let _ = std::time::SystemTime::now(); }\n")
            .unwrap();
        let problems = check(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("crates/template depends on \"chrono\""), "{problems:?}");
        assert!(problems[1].contains("std::time::SystemTime: crates/template does no IO"), "{problems:?}");
    }

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(path, text)| ((*path).to_string(), (*text).to_string())).collect()
    }

    #[test]
    fn two_siblings_using_each_other_are_a_circle() {
        let found = circles(&files(&[
            ("lib.rs", "mod server;\nmod dashboard;\n"),
            ("server.rs", "use crate::dashboard::page;\n"),
            ("dashboard.rs", "fn f() { crate::server::Hub::new(); }\n"),
        ]));
        assert_eq!(found, vec![vec!["dashboard.rs".to_string(), "server.rs".to_string()]]);
    }

    #[test]
    fn a_longer_circle_through_groups_and_super_is_found() {
        let found = circles(&files(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\n"),
            ("a.rs", "use crate::{d, b::inner::{X, Y}};\n"),
            ("b/mod.rs", "mod inner;\n"),
            ("b/inner.rs", "use super::super::c::Z;\n"),
            ("c.rs", "pub(crate) use crate::a::W;\n"),
            ("d.rs", "// use crate::a;\nconst S: &str = \"crate::a::W\";\nconst R: &str = r#\"super::a\"#;\n"),
        ]));
        assert_eq!(found, vec![vec!["a.rs".to_string(), "b/inner.rs".to_string(), "c.rs".to_string()]]);
    }

    /// A parent declares its children and may use them; a child uses its parent's items. Neither
    /// is a circle, and references in comments, strings and `$crate` are none.
    #[test]
    fn a_parent_and_its_child_are_no_circle() {
        let found = circles(&files(&[
            ("lib.rs", "pub mod kustomize;\npub use kustomize::build;\nfn f() { crate::kustomize::target::t(); }\n"),
            ("kustomize/mod.rs", "mod target;\nuse target::Target;\nfn g() { target::t() }\n"),
            ("kustomize/target.rs", "use super::Error;\nuse crate::kustomize::Ctx;\nfn h() { crate::helper() }\n"),
            ("other.rs", "macro_rules! m { () => { $crate::kustomize::build() } }\n/// [`crate::kustomize`]\n"),
        ]));
        assert_eq!(found, Vec::<Vec<String>>::new());
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flotilla-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
