//! A chart from a Helm repository, the parts that are not IO: a chart repository's
//! `index.yaml` read as Helm's `repo.LoadIndexFile` reads it, the version chosen as
//! `IndexFile.Get` chooses it (an exact version first, else the highest that satisfies the
//! range, prereleases only when the range names one), a chart URL of the index resolved against
//! the repository's, an OCI registry's reference, tag list and Helm manifest read (the media
//! types of Helm's `pkg/registry`), and the archive checked against its digest and unpacked
//! into the [`Snapshot`] a placement renders from.
//!
//! What it is not: no request is made here. `flotilla-charts` fetches (and caches by digest),
//! then hands the bytes to these functions, so the agent and the hub choose the same version and
//! name it by the same digest.

use std::collections::BTreeMap;

use flotilla_template::semver::{Constraints, Version};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::snapshot::Snapshot;

/// The largest `index.yaml` read (the biggest public repositories' are some tens of MiB).
pub const MAX_INDEX_BYTES: usize = 128 * 1024 * 1024;
/// The largest packed chart taken, before it is unpacked (unpacking bounds it again).
pub const MAX_ARCHIVE_BYTES: usize = 100 * 1024 * 1024;
/// The largest OCI manifest or tag list read (the distribution spec's bound on manifests is
/// 4 MiB; a tag list of thousands of versions is far less).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The config media type of a Helm chart in an OCI registry (`registry.ConfigMediaType`).
pub const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// The layer media type of a chart's archive (`registry.ChartLayerMediaType`).
pub const OCI_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The layer media type Helm's registry client still reads from charts pushed by Helm 3.0–3.6.
pub const OCI_LEGACY_CHART_MEDIA_TYPE: &str = "application/tar+gzip";
/// What a manifest request accepts: an OCI image manifest (what `helm push` writes).
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Why a chart could not be chosen, checked or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("index.yaml: {0}")]
    Index(String),
    #[error("no chart named {name:?} in the repository")]
    NoChart { name: String },
    #[error("no version of chart {name:?} satisfies {constraint:?} (the newest: {newest})")]
    NoVersion { name: String, constraint: String, newest: String },
    #[error("chart {name} {version} has no download URL in index.yaml")]
    NoUrl { name: String, version: String },
    #[error("bad digest {digest:?}: expected sha256:HEX or HEX (64 hex digits)")]
    BadDigest { digest: String },
    #[error("digest mismatch: the archive is sha256:{actual}, the repository says {expected}")]
    DigestMismatch { expected: String, actual: String },
    #[error("the archive is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("OCI manifest: {0}")]
    Manifest(String),
    #[error("OCI tag list: {0}")]
    Tags(String),
    #[error("not a Helm chart: {0}")]
    NotAChart(String),
}

/// One version of a chart in an index: what choosing and downloading it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: String,
    /// Where the archive is: absolute, or relative to the repository's URL ([`chart_url`]).
    pub urls: Vec<String>,
    /// The archive's SHA-256 (hex) as the index gives it; `None` where the index has none.
    pub digest: Option<String>,
}

/// A chart repository's index: each chart's versions, newest first (Helm's `SortEntries`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    entries: BTreeMap<String, Vec<Entry>>,
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<Scalar>,
    #[serde(default)]
    entries: Option<BTreeMap<String, Option<Vec<Option<RawEntry>>>>>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    name: Option<Scalar>,
    #[serde(default)]
    version: Option<Scalar>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    digest: Option<String>,
}

/// A YAML scalar as text: Helm's index is read into Go strings, and a version written
/// unquoted (`version: 1.0`) is text there.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

fn options(limit: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(limit);
    budget.max_total_scalar_bytes = limit;
    // An index is a few nodes per version and line: generous for tens of MiB, bounded still.
    budget.max_events = 50_000_000;
    budget.max_nodes = 25_000_000;
    budget.max_depth = 64;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 2;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.emit_comments = false;
    options.with_snippet = false;
    options
}

impl Index {
    /// Reads an `index.yaml` (or its JSON form). As Helm: the file must name an `apiVersion`;
    /// an entry without a name or with a version that is not semver is left out; each chart's
    /// versions are sorted newest first.
    pub fn parse(bytes: &[u8]) -> Result<Index, Error> {
        if bytes.len() > MAX_INDEX_BYTES {
            return Err(Error::Index(format!("{} bytes is over the limit of {MAX_INDEX_BYTES}", bytes.len())));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Index(format!("not UTF-8 text: {e}")))?;
        if text.trim_start().starts_with('<') {
            // A sign-in or error page where the index should be.
            return Err(Error::Index("an HTML page, not a chart repository's index".into()));
        }
        let raw: RawIndex = serde_saphyr::from_str_with_options(text, options(MAX_INDEX_BYTES))
            .map_err(|e| Error::Index(e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))?;
        if raw.api_version.map(Scalar::text).is_none_or(|v| v.is_empty()) {
            // Helm's `ErrNoAPIVersion`.
            return Err(Error::Index("no API version specified: not a chart repository's index".into()));
        }
        let mut entries = BTreeMap::new();
        for (name, versions) in raw.entries.unwrap_or_default() {
            let mut kept: Vec<(Version, Entry)> = versions
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|raw| {
                    let version = raw.version.map(Scalar::text)?;
                    let parsed = Version::parse(&version).ok()?;
                    let entry_name = raw.name.map_or_else(|| name.clone(), Scalar::text);
                    let entry =
                        Entry { name: entry_name, version, urls: raw.urls.unwrap_or_default(), digest: raw.digest };
                    Some((parsed, entry))
                })
                .collect();
            kept.sort_by(|a, b| b.0.compare(&a.0));
            entries.insert(name, kept.into_iter().map(|(_, e)| e).collect());
        }
        Ok(Index { entries })
    }

    /// The versions of chart `name`, newest first.
    pub fn versions(&self, name: &str) -> Option<&[Entry]> {
        self.entries.get(name).map(Vec::as_slice)
    }

    /// The version of chart `name` that `constraint` takes (Helm's `IndexFile.Get`): the entry
    /// whose version is `constraint` as written, else the newest that satisfies it; `None`
    /// takes the newest release.
    pub fn choose(&self, name: &str, constraint: Option<&str>) -> Result<&Entry, Error> {
        let versions = self.versions(name).ok_or_else(|| Error::NoChart { name: name.to_string() })?;
        let index = choose_version(versions.iter().map(|e| e.version.as_str()), constraint).map_err(|e| match e {
            Choice::Constraint(message) => Error::Index(message),
            Choice::None { newest } => {
                Error::NoVersion { name: name.to_string(), constraint: constraint.unwrap_or("*").to_string(), newest }
            }
        })?;
        Ok(&versions[index])
    }
}

/// Why no version was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The constraint does not read.
    Constraint(String),
    /// None satisfies it; `newest` names the newest there is (or says there is none).
    None { newest: String },
}

/// The position in `versions` of the one `constraint` takes, as Helm chooses: the version
/// written exactly so, else the highest (by semver) that satisfies it; `None` means `*` (the
/// newest release, no prerelease). Versions that are not semver are passed over.
pub fn choose_version<'a>(versions: impl Iterator<Item = &'a str>, constraint: Option<&str>) -> Result<usize, Choice> {
    let constraint = constraint.map(str::trim).filter(|c| !c.is_empty());
    let parsed = Constraints::parse(constraint.unwrap_or("*")).map_err(Choice::Constraint)?;
    let mut best: Option<(usize, Version)> = None;
    let mut newest: Option<Version> = None;
    for (i, text) in versions.enumerate() {
        if Some(text) == constraint {
            return Ok(i);
        }
        let Ok(version) = Version::parse(text) else { continue };
        if newest.as_ref().is_none_or(|n| version.compare(n).is_gt()) {
            newest = Some(version.clone());
        }
        if parsed.check(&version) && best.as_ref().is_none_or(|(_, b)| version.compare(b).is_gt()) {
            best = Some((i, version));
        }
    }
    best.map(|(i, _)| i).ok_or_else(|| Choice::None {
        newest: newest.map_or_else(|| "there is no version".to_string(), |v| v.original),
    })
}

/// The URL of a chart's archive: `url` of its index entry, resolved against the repository's
/// `repository` URL as Helm's `ResolveReferenceURL` does (a relative URL is relative to the
/// repository's folder, whose URL ends with `/`).
pub fn chart_url(repository: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    let (base, query) = match repository.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (repository, None),
    };
    let base = base.trim_end_matches('/');
    // scheme://host, and the repository's folder below it.
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let (origin, folder) = base.split_at(host_end);
    let mut parts: Vec<&str> = match url.strip_prefix('/') {
        Some(_) => Vec::new(),
        None => folder.split('/').filter(|p| !p.is_empty()).collect(),
    };
    for part in url.trim_start_matches('/').split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let resolved = format!("{origin}/{}", parts.join("/"));
    // Helm keeps the repository's query (a signed URL's token) on a relative chart URL.
    match query {
        Some(q) if !url.contains('?') => format!("{resolved}?{q}"),
        _ => resolved,
    }
}

/// The index's URL for a repository URL (`REPO/index.yaml`, the query kept).
pub fn index_url(repository: &str) -> String {
    match repository.split_once('?') {
        Some((base, query)) => format!("{}/index.yaml?{query}", base.trim_end_matches('/')),
        None => format!("{}/index.yaml", repository.trim_end_matches('/')),
    }
}

/// The hex SHA-256 of `bytes`: how a packed chart is named, in the index, in an OCI registry,
/// in the agent's cache and as a chart placement's source "commit".
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The hex of a digest as an index (`HEX`) or a registry (`sha256:HEX`) writes it, lower-case.
pub fn digest_hex(digest: &str) -> Result<String, Error> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest).to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadDigest { digest: digest.to_string() });
    }
    Ok(hex)
}

/// Checks that `bytes` are the archive `expected` names (`sha256:HEX` or `HEX`); the hex.
pub fn check_digest(bytes: &[u8], expected: &str) -> Result<String, Error> {
    let want = digest_hex(expected)?;
    let actual = sha256_hex(bytes);
    if actual != want {
        return Err(Error::DigestMismatch { expected: expected.to_string(), actual });
    }
    Ok(actual)
}

/// A packed chart's files, unpacked as Helm reads an archive ([`super::archive::unpack`]), as
/// the snapshot a chart placement renders from: the chart's files at its root.
pub fn unpack(bytes: &[u8]) -> Result<Snapshot, Error> {
    if bytes.len() > MAX_ARCHIVE_BYTES {
        return Err(Error::TooLarge { size: bytes.len(), limit: MAX_ARCHIVE_BYTES });
    }
    let files = super::archive::unpack(bytes).map_err(Error::NotAChart)?;
    let mut snapshot = Snapshot::new();
    for (path, data) in files {
        snapshot.insert_file(path, data);
    }
    if !snapshot.is_file("Chart.yaml") {
        return Err(Error::NotAChart("the archive has no Chart.yaml".into()));
    }
    Ok(snapshot)
}

/// A chart in an OCI registry: `oci://HOST[:PORT]/PATH` and the chart's name make the
/// repository `PATH/NAME` on `HOST`, as Helm (`helm pull oci://HOST/PATH/NAME`) and Argo CD
/// read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciReference {
    /// `host` or `host:port`.
    pub registry: String,
    /// The repository's path in the registry (`charts/podinfo`).
    pub repository: String,
}

impl OciReference {
    /// The reference of chart `name` under `url` (`oci://…`).
    pub fn new(url: &str, name: &str) -> Result<OciReference, Error> {
        let rest = url.strip_prefix("oci://").ok_or_else(|| Error::Manifest(format!("{url:?} is not oci://")))?;
        let rest = rest.trim_end_matches('/');
        let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
        let repository = if path.is_empty() { name.to_string() } else { format!("{path}/{name}") };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if registry.is_empty() || !repository.split('/').all(component_ok) {
            return Err(Error::Manifest(format!(
                "{url}/{name}: not an OCI repository (lower-case letters, digits, '.', '_', '-' between '/')"
            )));
        }
        Ok(OciReference { registry: registry.to_string(), repository })
    }

    /// Whether the registry is this machine's (`localhost`, `127.0.0.1`, `[::1]`): spoken to in
    /// plain http, as `helm --plain-http`; every other registry in https.
    pub fn is_loopback(&self) -> bool {
        let host = self.registry.rsplit_once(':').map_or(self.registry.as_str(), |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) { h } else { self.registry.as_str() }
        });
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

/// The tag a chart version is pushed under: `+` is not allowed in a tag, and Helm writes `_`.
pub fn oci_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// The versions a registry's tag list (`GET /v2/NAME/tags/list`) holds, `_` read back as `+`.
pub fn oci_versions(bytes: &[u8]) -> Result<Vec<String>, Error> {
    /// `{"name": …, "tags": […]}`; a repository without tags may say `null`.
    #[derive(Deserialize)]
    struct Tags {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::Tags(format!("{} bytes is over the limit of {MAX_MANIFEST_BYTES}", bytes.len())));
    }
    let tags: Tags = serde_json::from_slice(bytes).map_err(|e| Error::Tags(e.to_string()))?;
    Ok(tags.tags.unwrap_or_default().into_iter().map(|t| t.replace('_', "+")).collect())
}

/// A layer (or config) a manifest names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
}

/// The chart layer of a Helm chart's OCI manifest: checks it is one (the config's media type is
/// Helm's) and finds its one chart layer, whose digest names the archive.
pub fn oci_chart_layer(manifest: &[u8]) -> Result<Descriptor, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Manifest {
        #[serde(default)]
        media_type: Option<String>,
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    if manifest.len() > MAX_MANIFEST_BYTES {
        return Err(Error::Manifest(format!("{} bytes is over the limit of {MAX_MANIFEST_BYTES}", manifest.len())));
    }
    let m: Manifest = serde_json::from_slice(manifest).map_err(|e| Error::Manifest(e.to_string()))?;
    if let Some(t) = m.media_type.as_deref().filter(|t| *t != OCI_MANIFEST_MEDIA_TYPE) {
        return Err(Error::Manifest(format!("media type {t:?}: not an OCI image manifest (an index or a list?)")));
    }
    let config = m.config.ok_or_else(|| Error::Manifest("no config".into()))?;
    if config.media_type != OCI_CONFIG_MEDIA_TYPE {
        return Err(Error::NotAChart(format!(
            "the artifact's config is {:?}, not a Helm chart's {OCI_CONFIG_MEDIA_TYPE:?}",
            config.media_type
        )));
    }
    let mut charts = m
        .layers
        .into_iter()
        .filter(|l| l.media_type == OCI_CHART_MEDIA_TYPE || l.media_type == OCI_LEGACY_CHART_MEDIA_TYPE);
    let layer = charts
        .next()
        .ok_or_else(|| Error::NotAChart(format!("the manifest has no layer of media type {OCI_CHART_MEDIA_TYPE:?}")))?;
    if charts.next().is_some() {
        return Err(Error::Manifest("more than one chart layer".into()));
    }
    digest_hex(&layer.digest)?;
    if usize::try_from(layer.size).is_ok_and(|s| s > MAX_ARCHIVE_BYTES) {
        return Err(Error::TooLarge {
            size: usize::try_from(layer.size).unwrap_or(usize::MAX),
            limit: MAX_ARCHIVE_BYTES,
        });
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r"apiVersion: v1
entries:
  ingress-nginx:
  - name: ingress-nginx
    version: 4.10.1
    urls: [https://github.com/kubernetes/ingress-nginx/releases/download/ingress-nginx-4.10.1/ingress-nginx-4.10.1.tgz]
    digest: 1111111111111111111111111111111111111111111111111111111111111111
  - name: ingress-nginx
    version: 4.11.3
    urls: [ingress-nginx-4.11.3.tgz]
    digest: 2222222222222222222222222222222222222222222222222222222222222222
    created: 2024-10-01T00:00:00Z
  - name: ingress-nginx
    version: 4.11.2
    urls: [ingress-nginx-4.11.2.tgz]
  - name: ingress-nginx
    version: 4.12.0-beta.0
    urls: [ingress-nginx-4.12.0-beta.0.tgz]
  - name: ingress-nginx
    version: not-a-version
    urls: [x.tgz]
  - null
  empty: []
generated: 2024-10-01T00:00:00Z
";

    #[test]
    fn an_index_is_read_and_sorted_newest_first() {
        let index = Index::parse(INDEX.as_bytes()).unwrap();
        let versions: Vec<&str> = index.versions("ingress-nginx").unwrap().iter().map(|e| e.version.as_str()).collect();
        assert_eq!(versions, ["4.12.0-beta.0", "4.11.3", "4.11.2", "4.10.1"], "not semver is left out");
        assert_eq!(index.versions("empty"), Some(&[][..]));
    }

    #[test]
    fn versions_are_chosen_as_helm_chooses_them() {
        let index = Index::parse(INDEX.as_bytes()).unwrap();
        let chosen = |c: Option<&str>| index.choose("ingress-nginx", c).map(|e| e.version.clone());
        assert_eq!(chosen(None), Ok("4.11.3".into()), "the newest release, no prerelease");
        assert_eq!(chosen(Some("4.11.*")), Ok("4.11.3".into()));
        assert_eq!(chosen(Some("~4.10")), Ok("4.10.1".into()));
        assert_eq!(chosen(Some("^4")), Ok("4.11.3".into()));
        assert_eq!(chosen(Some(">=4.10 <4.11.3")), Ok("4.11.2".into()));
        assert_eq!(chosen(Some(">=4.12.0-0")), Ok("4.12.0-beta.0".into()), "a range that names a prerelease");
        assert_eq!(chosen(Some("4.12.0-beta.0")), Ok("4.12.0-beta.0".into()), "an exact version");
        assert_eq!(chosen(Some("4.11.2")), Ok("4.11.2".into()));
        assert_eq!(
            chosen(Some("5.x")),
            Err(Error::NoVersion {
                name: "ingress-nginx".into(),
                constraint: "5.x".into(),
                newest: "4.12.0-beta.0".into()
            })
        );
        assert_eq!(index.choose("nginx", None), Err(Error::NoChart { name: "nginx".into() }));
        assert!(matches!(index.choose("empty", None), Err(Error::NoVersion { .. })));
        assert!(matches!(chosen(Some(">>4")), Err(Error::Index(_))));
        let e = index.choose("ingress-nginx", Some("4.11.*")).unwrap();
        assert_eq!(e.digest.as_deref(), Some("2222222222222222222222222222222222222222222222222222222222222222"));
    }

    #[test]
    fn a_file_that_is_no_index_is_refused() {
        for text in ["<html><body>Not Found</body></html>", "entries: {}\n", "apiVersion: v1\nentries: [1, 2]\n"] {
            assert!(matches!(Index::parse(text.as_bytes()), Err(Error::Index(_))), "{text}");
        }
        assert_eq!(Index::parse(b"apiVersion: v1\n").unwrap(), Index::default());
        // A version written unquoted as a number is still its text.
        let index = Index::parse(b"apiVersion: v1\nentries:\n  a:\n  - {version: 1.5, urls: [a-1.5.tgz]}\n").unwrap();
        assert_eq!(index.choose("a", Some("1.5")).unwrap().version, "1.5");
    }

    #[test]
    fn chart_urls_resolve_against_the_repository() {
        assert_eq!(chart_url("https://h/charts", "a-1.tgz"), "https://h/charts/a-1.tgz");
        assert_eq!(chart_url("https://h/charts/", "./a-1.tgz"), "https://h/charts/a-1.tgz");
        assert_eq!(chart_url("https://h/charts/stable", "../a-1.tgz"), "https://h/charts/a-1.tgz");
        assert_eq!(chart_url("https://h/charts", "/dl/a-1.tgz"), "https://h/dl/a-1.tgz");
        assert_eq!(chart_url("https://h/charts", "https://other/a-1.tgz"), "https://other/a-1.tgz");
        assert_eq!(chart_url("https://h/c?sig=1", "a.tgz"), "https://h/c/a.tgz?sig=1");
        assert_eq!(index_url("https://h/charts/"), "https://h/charts/index.yaml");
        assert_eq!(index_url("https://h/c?sig=1"), "https://h/c/index.yaml?sig=1");
    }

    #[test]
    fn digests_are_checked() {
        let bytes = b"chart";
        let hex = sha256_hex(bytes);
        assert_eq!(check_digest(bytes, &hex), Ok(hex.clone()));
        assert_eq!(check_digest(bytes, &format!("sha256:{}", hex.to_uppercase())), Ok(hex.clone()));
        let other = "0".repeat(64);
        assert_eq!(check_digest(bytes, &other), Err(Error::DigestMismatch { expected: other, actual: hex }));
        assert!(matches!(check_digest(bytes, "sha256:abc"), Err(Error::BadDigest { .. })));
    }

    #[test]
    fn an_archive_unpacks_to_the_chart_at_the_root() {
        let bytes =
            super::super::archive::tests::tgz(&[("web/Chart.yaml", "name: web\n"), ("web/values.yaml", "a: 1\n")]);
        let snapshot = unpack(&bytes).unwrap();
        assert_eq!(snapshot.read("Chart.yaml").unwrap(), b"name: web\n");
        let no_chart = super::super::archive::tests::tgz(&[("web/values.yaml", "a: 1\n")]);
        assert_eq!(unpack(&no_chart), Err(Error::NotAChart("the archive has no Chart.yaml".into())));
        assert!(matches!(unpack(b"<html>"), Err(Error::NotAChart(_))));
    }

    #[test]
    fn oci_references_tags_and_manifests() {
        let r = OciReference::new("oci://127.0.0.1:5000/charts/", "podinfo").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("127.0.0.1:5000", "charts/podinfo"));
        assert!(r.is_loopback());
        let r = OciReference::new("oci://ghcr.io", "podinfo").unwrap();
        assert_eq!(r.repository, "podinfo");
        assert!(!r.is_loopback());
        assert!(OciReference::new("oci://ghcr.io/Org", "x").is_err());
        assert_eq!(oci_tag("1.2.3+build.4"), "1.2.3_build.4");
        assert_eq!(
            oci_versions(br#"{"name":"x","tags":["1.0.0","1.1.0_b1","latest"]}"#).unwrap(),
            ["1.0.0", "1.1.0+b1", "latest"]
        );
        assert_eq!(oci_versions(br#"{"name":"x","tags":null}"#).unwrap(), Vec::<String>::new());

        let digest = format!("sha256:{}", "a".repeat(64));
        let manifest = |config: &str, layer: &str| {
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST_MEDIA_TYPE,
                "config": {"mediaType": config, "digest": digest, "size": 2},
                "layers": [{"mediaType": layer, "digest": digest, "size": 10}],
            })
            .to_string()
        };
        let layer = oci_chart_layer(manifest(OCI_CONFIG_MEDIA_TYPE, OCI_CHART_MEDIA_TYPE).as_bytes()).unwrap();
        assert_eq!((layer.digest.as_str(), layer.size), (digest.as_str(), 10));
        let image = manifest("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip");
        assert!(matches!(oci_chart_layer(image.as_bytes()), Err(Error::NotAChart(_))));
        let no_layer = manifest(OCI_CONFIG_MEDIA_TYPE, "application/octet-stream");
        assert!(matches!(oci_chart_layer(no_layer.as_bytes()), Err(Error::NotAChart(_))));
        assert!(matches!(oci_chart_layer(b"{"), Err(Error::Manifest(_))));
    }
}
