//! What the docs tests read of the Markdown pages: fenced code blocks, shell command lines split
//! into words, and the workspace's binaries that the commands name.
//!
//! Not a test file: `docs.rs` and `quickstart.rs` each include it as `mod markdown;`.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::path::{Path, PathBuf};

/// The workspace's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root exists")
}

/// One fenced code block of a page.
#[derive(Debug, Clone)]
pub struct Block {
    /// The page, relative to the workspace root.
    pub page: String,
    /// The line of the opening fence, from 1.
    pub line: usize,
    /// The info string's first word (`sh`, `yaml`, `json`, `text`); empty when none.
    pub lang: String,
    pub text: String,
    /// The nearest non-blank line before the fence, when it is an HTML comment (`<!-- … -->`).
    pub note: Option<String>,
}

impl Block {
    pub fn at(&self) -> String {
        format!("{}:{}", self.page, self.line)
    }
}

/// The fenced code blocks of the page at `page` (relative to the workspace root).
pub fn blocks(page: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(root().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut previous: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        match open.as_mut() {
            Some(_) if line.trim_start().starts_with("```") => {
                out.push(open.take().expect("a block is open"));
                previous = None;
                continue;
            }
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
                continue;
            }
            None if line.trim_start().starts_with("```") => {
                let lang = line.trim_start().trim_start_matches('`').split_whitespace().next().unwrap_or("");
                let note = previous.filter(|p| p.trim_start().starts_with("<!--")).map(str::to_string);
                open = Some(Block {
                    page: page.to_string(),
                    line: i + 1,
                    lang: lang.to_string(),
                    text: String::new(),
                    note,
                });
            }
            None => {}
        }
        if !line.trim().is_empty() {
            previous = Some(line);
        }
    }
    assert!(open.is_none(), "{page}: a code block is not closed");
    out
}

/// The Markdown pages users read: `docs/`, the README files and ARCHITECTURE.md.
pub fn pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    for dir in ["docs", "examples"] {
        let mut found = Vec::new();
        collect(&root().join(dir), &mut found);
        found.sort();
        for path in found {
            pages.push(path.strip_prefix(root()).expect("under the root").display().to_string());
        }
    }
    pages
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") && (dir.ends_with("docs") || path.ends_with("README.md"))
        {
            out.push(path);
        }
    }
}

/// The commands of a shell block: continuation lines joined, comments dropped, each command
/// split into words at `|`, `&&`, `||`, `;` and `&`, with redirections and `VAR=value`
/// prefixes left out. Quotes are honoured; `$(…)` and `$VAR` stay in the word as written.
pub fn commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let mut command: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut chars = line.chars().peekable();
        let mut quote: Option<char> = None;
        let mut depth = 0usize;
        let mut skip_next = false;
        let finish = |word: &mut String, in_word: &mut bool, command: &mut Vec<String>, skip_next: &mut bool| {
            if *in_word {
                if *skip_next {
                    *skip_next = false;
                } else {
                    command.push(std::mem::take(word));
                }
            }
            word.clear();
            *in_word = false;
        };
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                } else {
                    word.push(c);
                }
                continue;
            }
            match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '(' if word.ends_with('$') || depth > 0 => {
                    depth += 1;
                    word.push(c);
                }
                ')' if depth > 0 => {
                    depth -= 1;
                    word.push(c);
                }
                _ if depth > 0 => word.push(c),
                '#' if !in_word => break,
                ' ' | '\t' => finish(&mut word, &mut in_word, &mut command, &mut skip_next),
                '|' | '&' | ';' => {
                    finish(&mut word, &mut in_word, &mut command, &mut skip_next);
                    if chars.peek().is_some_and(|n| *n == c) {
                        chars.next();
                    }
                    out.push(std::mem::take(&mut command));
                }
                '>' | '<' => {
                    // A redirection: its target is not an argument (`2>&1` has none).
                    let fd = word.chars().all(|d| d.is_ascii_digit());
                    if in_word && fd {
                        word.clear();
                        in_word = false;
                    } else {
                        finish(&mut word, &mut in_word, &mut command, &mut skip_next);
                    }
                    if chars.peek() == Some(&'&') {
                        chars.next();
                        while chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                    } else {
                        if chars.peek() == Some(&c) {
                            chars.next();
                        }
                        skip_next = true;
                    }
                }
                _ => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        finish(&mut word, &mut in_word, &mut command, &mut skip_next);
        out.push(command);
    }
    out.into_iter()
        .map(|c| c.into_iter().skip_while(|w| w.split_once('=').is_some_and(|(k, _)| is_name(k))).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .collect()
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A binary of another package of the workspace, as `cargo test --workspace` builds it beside
/// the test binaries (a nested `cargo build` would rebuild half the workspace).
pub fn workspace_binary(package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let dir = exe.parent().and_then(Path::parent).expect("the test binary lives in target/<profile>/deps");
    let path = dir.join(package);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p {package}` first (`cargo test --workspace` builds it)",
        path.display()
    );
    path
}

#[test]
fn commands_are_split_as_the_shell_splits_them() {
    let got = commands(
        "A=1 pull-agent once --config 'my file.yaml' > out 2>&1 &\nhub-index lag web \\\n  --hub \"$URL\" | grep x # note\nx=$(pull-agent render --x) && y\n",
    );
    let want: Vec<Vec<&str>> = vec![
        vec!["pull-agent", "once", "--config", "my file.yaml"],
        vec!["hub-index", "lag", "web", "--hub", "$URL"],
        vec!["grep", "x"],
        vec!["x=$(pull-agent render --x)"],
        vec!["y"],
    ];
    assert_eq!(got, want);
}
