//! A chart read from a folder of a [`Snapshot`], as Helm's `loader.LoadDir` reads one:
//! `Chart.yaml` (apiVersion v2, and v1 with its `requirements.yaml`), `values.yaml`,
//! `values.schema.json`, `templates/`, `crds/`, the other files (what `.Files` reads),
//! `.helmignore` and the
//! subcharts in `charts/` (folders, and packed `.tgz` charts read by [`super::archive`]).
//!
//! It parses nothing of the templates: [`super`] does, with the chart's values.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::snapshot::Snapshot;
use crate::yaml;

/// A chart: its metadata, default values, templates, other files and subcharts.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// `Chart.yaml` as read (a JSON object).
    pub metadata: Map<String, Json>,
    /// `values.yaml` (an object; empty when there is none).
    pub values: Map<String, Json>,
    /// `templates/…` by path relative to the chart (`templates/deployment.yaml`), text.
    pub templates: BTreeMap<String, String>,
    /// Every other file (what `.Files` sees), by path relative to the chart.
    pub files: BTreeMap<String, Vec<u8>>,
    /// `crds/…` files, by path relative to the chart (also in `files`, as in Helm).
    pub crds: Vec<String>,
    /// The dependencies declared in `Chart.yaml` (or `requirements.yaml` for apiVersion v1).
    pub dependencies: Vec<Dependency>,
    /// The charts under `charts/`, in path order.
    pub subcharts: Vec<Chart>,
    /// The name as rendered: Chart.yaml's `name`, or a dependency's alias.
    pub name: String,
    /// `values.schema.json`, as read (Helm keeps it out of `.Files`).
    pub schema: Option<Vec<u8>>,
}

/// A dependency of `Chart.yaml` (`dependencies:`): what decides whether and as what a subchart
/// renders.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub alias: String,
    /// `import-values` as written: strings or `{child, parent}` objects.
    pub import_values: Vec<Json>,
    /// The whole entry, for `.Chart.Dependencies`.
    pub raw: Json,
}

/// A chart that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{path}: no Chart.yaml: not a Helm chart")]
    NoChartYaml { path: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: {message}")]
    PackedSubchart { path: String, message: String },
    #[error("{path}: chart metadata is missing the name field")]
    NoName { path: String },
}

impl Chart {
    /// `version` of `Chart.yaml`, or empty.
    pub fn version(&self) -> &str {
        self.metadata.get("version").and_then(Json::as_str).unwrap_or_default()
    }

    /// Whether `type: library` (only its partials are used).
    pub fn is_library(&self) -> bool {
        self.metadata.get("type").and_then(Json::as_str) == Some("library")
    }
}

/// Reads the chart whose `Chart.yaml` is in folder `dir` of `snapshot` (`""` is the root).
pub fn load(snapshot: &Snapshot, dir: &str) -> Result<Chart, Error> {
    let prefix = if dir.is_empty() || dir == "." { String::new() } else { format!("{}/", dir.trim_end_matches('/')) };
    let mut files = Vec::new();
    for (path, _) in snapshot.entries() {
        let Some(rel) = path.strip_prefix(&prefix) else { continue };
        let bytes = snapshot.read(path).map_err(|e| Error::File { path: path.to_string(), message: e.reason() })?;
        files.push((rel.to_string(), bytes.to_vec()));
    }
    load_files(&prefix, files, true)
}

/// Reads a packed chart already unpacked into `snapshot` (its files at the root), as Helm
/// reads an archive: no `.helmignore` applies.
pub fn load_unpacked(snapshot: &Snapshot) -> Result<Chart, Error> {
    let mut files = Vec::new();
    for (path, _) in snapshot.entries() {
        let bytes = snapshot.read(path).map_err(|e| Error::File { path: path.to_string(), message: e.reason() })?;
        files.push((path.to_string(), bytes.to_vec()));
    }
    load_files("", files, false)
}

/// Reads the chart made of `files` (path relative to the chart → bytes), as a folder is read
/// (its `.helmignore` applies); `dir` is where the chart is, for errors. For a tree that is not
/// a [`Snapshot`] (kustomize's `helmCharts` read through its `Files`).
pub fn load_folder(dir: &str, files: Vec<(String, Vec<u8>)>) -> Result<Chart, Error> {
    let prefix = if dir.is_empty() || dir == "." { String::new() } else { format!("{}/", dir.trim_end_matches('/')) };
    load_files(&prefix, files, true)
}

/// Reads a packed chart (`.tgz`); `at` names it in errors.
pub fn load_archive(at: &str, bytes: &[u8]) -> Result<Chart, Error> {
    let files =
        super::archive::unpack(bytes).map_err(|message| Error::PackedSubchart { path: at.to_string(), message })?;
    load_files(&format!("{at}/"), files, false)
}

/// Helm's `LoadFiles` over files named relative to the chart; `at` names the chart in errors.
/// `.helmignore` applies to the folder read (Helm's `LoadDir`), not to a packed chart nor to a
/// subchart's own file.
fn load_files(at: &str, files: Vec<(String, Vec<u8>)>, folder: bool) -> Result<Chart, Error> {
    let ignore = files
        .iter()
        .find(|(name, _)| name == ".helmignore" && folder)
        .map(|(_, bytes)| Ignore::parse(&String::from_utf8_lossy(bytes)))
        .unwrap_or_default();
    let files = files.into_iter().map(|(name, bytes)| match bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
        Some(rest) => (name, rest.to_vec()),
        None => (name, bytes),
    });
    let mut chart = Chart::default();
    let mut requirements = None;
    let mut subcharts: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut packed: Vec<(String, Vec<u8>)> = Vec::new();
    let mut have_chart_yaml = false;
    for (name, bytes) in files {
        if ignore.ignored(&name) {
            continue;
        }
        let read_map = |bytes: &[u8]| -> Result<Map<String, Json>, Error> {
            match yaml::load_helm_values(bytes) {
                Ok(Json::Object(map)) => Ok(map),
                Ok(Json::Null) => Ok(Map::new()),
                Ok(_) => Err(Error::File { path: format!("{at}{name}"), message: "not a YAML mapping".into() }),
                Err(e) => Err(Error::File { path: format!("{at}{name}"), message: e.to_string() }),
            }
        };
        match name.as_str() {
            "Chart.yaml" => {
                chart.metadata = read_map(&bytes)?;
                have_chart_yaml = true;
            }
            "values.yaml" => chart.values = read_map(&bytes)?,
            "requirements.yaml" => requirements = Some(read_map(&bytes)?),
            "values.schema.json" => chart.schema = Some(bytes),
            "Chart.lock" | "requirements.lock" => {}
            _ if name.starts_with("templates/") => {
                chart.templates.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
            _ if name.starts_with("charts/") && Path::new(&name).extension().is_none_or(|e| e != "prov") => {
                let rest = &name["charts/".len()..];
                match rest.split_once('/') {
                    Some((sub, inner)) => {
                        subcharts.entry(sub.to_string()).or_default().push((inner.to_string(), bytes));
                    }
                    None if Path::new(rest).extension().is_some_and(|e| e == "tgz") => {
                        packed.push((format!("{at}{name}"), bytes));
                    }
                    None => {
                        chart.files.insert(name, bytes);
                    }
                }
            }
            _ => {
                if name.starts_with("crds/") {
                    chart.crds.push(name.clone());
                }
                chart.files.insert(name, bytes);
            }
        }
    }
    if !have_chart_yaml {
        return Err(Error::NoChartYaml { path: at.trim_end_matches('/').to_string() });
    }
    chart.name = chart.metadata.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
    if chart.name.is_empty() {
        return Err(Error::NoName { path: format!("{at}Chart.yaml") });
    }
    let declared = if chart.metadata.get("apiVersion").and_then(Json::as_str) == Some("v1") {
        requirements.and_then(|r| r.get("dependencies").cloned())
    } else {
        chart.metadata.get("dependencies").cloned()
    };
    if let Some(Json::Array(items)) = declared {
        chart.dependencies = items.iter().map(dependency).collect();
    }
    // Helm loads folders and archives in one pass over `charts/`, in name order.
    let mut loaded: Vec<(String, Chart)> = Vec::new();
    for (sub, files) in subcharts {
        // The top chart's `.helmignore` has filtered these already; Helm reads no other.
        loaded.push((sub.clone(), load_files(&format!("{at}charts/{sub}/"), files, false)?));
    }
    for (path, bytes) in packed {
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        loaded.push((name, load_archive(&path, &bytes)?));
    }
    loaded.sort_by(|a, b| a.0.cmp(&b.0));
    chart.subcharts = loaded.into_iter().map(|(_, c)| c).collect();
    Ok(chart)
}

fn dependency(raw: &Json) -> Dependency {
    let text = |key: &str| raw.get(key).map(scalar_text).unwrap_or_default();
    Dependency {
        name: text("name"),
        version: text("version"),
        repository: text("repository"),
        condition: text("condition"),
        alias: text("alias"),
        tags: match raw.get("tags") {
            Some(Json::Array(tags)) => tags.iter().map(scalar_text).collect(),
            _ => Vec::new(),
        },
        import_values: match raw.get("import-values") {
            Some(Json::Array(items)) => items.clone(),
            _ => Vec::new(),
        },
        raw: raw.clone(),
    }
}

/// A scalar as the text Go's YAML decoding into a string field would give.
pub(crate) fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Number(n) => yaml::format_yaml_number(n),
        other => other.to_string(),
    }
}

/// `.helmignore` rules (Helm's `ignore` package): one pattern a line, `#` comments, `!`
/// negates, a trailing `/` matches folders only, a pattern with a `/` matches the whole path
/// and one without matches any path element's name. Helm's default rule `templates/.?*` is
/// always there. Public for what packs a chart as `helm package` does (tests' chart servers).
#[derive(Clone, Debug)]
pub struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    pattern: String,
    negate: bool,
    dir_only: bool,
}

impl Default for Ignore {
    fn default() -> Self {
        Ignore::parse("")
    }
}

impl Ignore {
    /// The rules of a `.helmignore` file's text.
    pub fn parse(text: &str) -> Ignore {
        let mut rules = vec![Rule { pattern: "templates/.?*".into(), negate: false, dir_only: false }];
        for line in text.lines() {
            let mut line = line.trim();
            if line.is_empty() || line.starts_with('#') || line == "!" {
                continue;
            }
            let negate = line.starts_with('!');
            if negate {
                line = &line[1..];
            }
            let dir_only = line.ends_with('/');
            let pattern = line.trim_end_matches('/').trim_start_matches("./").trim_start_matches('/');
            if pattern.is_empty() {
                continue;
            }
            rules.push(Rule { pattern: pattern.to_string(), negate, dir_only });
        }
        Ignore { rules }
    }

    /// Whether a file (at `path`, relative to the chart) or one of its folders is ignored.
    /// Helm walks folders and skips an ignored one with all below it.
    pub fn ignored(&self, path: &str) -> bool {
        if path == "Chart.yaml" {
            return false;
        }
        let parts: Vec<&str> = path.split('/').collect();
        (1..=parts.len()).any(|n| self.matches(&parts[..n].join("/"), n < parts.len()))
    }

    /// Helm's `Rules.Ignore` for one path: the last rule that matches decides.
    fn matches(&self, path: &str, is_dir: bool) -> bool {
        let mut ignored = false;
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            let hit = if rule.pattern.contains('/') {
                glob(&rule.pattern, path)
            } else {
                glob(&rule.pattern, path.rsplit('/').next().unwrap_or(path))
            };
            if hit {
                ignored = !rule.negate;
            }
        }
        ignored
    }
}

/// Go's `filepath.Match`: `*` (no `/`), `?`, `[...]` classes with ranges and `^`/`!`, `\`
/// escapes. A malformed pattern matches nothing.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != '/').any(|i| glob_at(&p[1..], &n[i..])),
        Some('?') => n.first().is_some_and(|&c| c != '/') && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(&c) = n.first() else { return false };
            let mut i = 1;
            let negated = matches!(p.get(1), Some('^' | '!'));
            if negated {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < p.len() && (first || p[i] != ']') {
                first = false;
                let mut lo = p[i];
                if lo == '\\' {
                    i += 1;
                    lo = *p.get(i).unwrap_or(&'\\');
                }
                let mut hi = lo;
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
                    hi = p[i + 2];
                    i += 2;
                }
                if lo <= c && c <= hi {
                    matched = true;
                }
                i += 1;
            }
            if i >= p.len() {
                return false;
            }
            matched != negated && c != '/' && glob_at(&p[i + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_subchart_is_loaded_beside_the_folders() {
        let mut snapshot = Snapshot::new();
        snapshot.insert_file("top/Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\n");
        snapshot.insert_file(
            "top/charts/sub-0.1.0.tgz",
            super::super::archive::tests::tgz(&[
                ("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
                ("sub/values.yaml", "a: 1\n"),
                ("sub/templates/cm.yaml", "x"),
            ]),
        );
        let chart = load(&snapshot, "top").unwrap();
        assert_eq!(chart.subcharts.len(), 1);
        assert_eq!(chart.subcharts[0].name, "sub");
        assert_eq!(chart.subcharts[0].templates.keys().collect::<Vec<_>>(), ["templates/cm.yaml"]);
        assert_eq!(chart.subcharts[0].values["a"], 1);
    }

    #[test]
    fn glob_matches_as_go_filepath_match() {
        assert!(glob("*.md", "README.md"));
        assert!(!glob("*.md", "a/README.md"));
        assert!(glob("templates/.?*", "templates/.x"));
        assert!(!glob("templates/.?*", "templates/."));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[^a-c]x", "bx"));
    }

    #[test]
    fn helmignore_skips_files_and_folders_and_keeps_negated() {
        let ignore = Ignore::parse("# c\n*.md\nci/\n!KEEP.md\n");
        assert!(ignore.ignored("README.md"));
        assert!(ignore.ignored("docs/README.md"));
        assert!(!ignore.ignored("KEEP.md"));
        assert!(ignore.ignored("ci/values.yaml"));
        assert!(!ignore.ignored("ci"));
        assert!(ignore.ignored("templates/.hidden"));
        assert!(!ignore.ignored("templates/x.yaml"));
    }
}
