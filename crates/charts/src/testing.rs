//! For tests: [`ChartServer`], a Helm chart repository and a small OCI registry on one
//! 127.0.0.1 port, and [`package`], a chart folder packed as `helm package` packs it.
//!
//! The registry answers what a Helm client reads (the distribution spec's pull side: `/v2/`,
//! tag lists, manifests by tag, blobs by digest), with basic authentication or the token flow
//! (a 401 naming a token service that trades basic credentials for a bearer token). No push:
//! [`ChartServer::publish`] puts a chart in both at once, as `helm push` and `helm repo index`
//! would have. Every request is recorded ([`ChartServer::requests`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use flotilla_core::helm::repo;

/// A chart repository (`/charts/index.yaml`, `/charts/NAME-VERSION.tgz`) and an OCI registry
/// (`/v2/charts/NAME`) on 127.0.0.1, served by a runtime thread of its own; stopped when dropped.
#[derive(Debug)]
pub struct ChartServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Shared = Arc<Mutex<Served>>;

#[derive(Debug, Default)]
struct Served {
    url: String,
    /// Files of the chart repository, by name under `/charts/`.
    files: BTreeMap<String, Vec<u8>>,
    /// The index's entries: name, version, file, digest (hex).
    entries: Vec<(String, String, String, String)>,
    /// An index served instead of the one the entries make.
    index: Option<Vec<u8>>,
    /// Manifests by repository and tag; blobs by digest (`sha256:HEX`).
    manifests: BTreeMap<(String, String), Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
    auth: Auth,
    requests: Vec<String>,
}

#[derive(Debug, Default, Clone)]
enum Auth {
    #[default]
    None,
    /// Basic credentials on every request.
    Basic { user: String, password: String },
    /// The registry's token flow (the repository still asks for basic credentials).
    Token { user: String, password: String },
}

/// The token the test registry's token service gives.
const TOKEN: &str = "test-registry-token";

impl ChartServer {
    /// Starts on a free port of 127.0.0.1 and returns once it accepts connections.
    pub fn start() -> std::io::Result<ChartServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let state: Shared = Arc::new(Mutex::new(Served { url: url.clone(), ..Served::default() }));
        let router = axum::Router::new().fallback(handle).with_state(Arc::clone(&state));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(ChartServer { url, state, stop: Some(stop), thread: Some(thread) })
    }

    fn served(&self) -> std::sync::MutexGuard<'_, Served> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chart repository's URL (what `source.chart.url` names).
    pub fn repository_url(&self) -> String {
        format!("{}/charts", self.url)
    }

    /// The registry's URL for the charts published (`oci://127.0.0.1:PORT/charts`).
    pub fn oci_url(&self) -> String {
        format!("oci://{}/charts", self.url.trim_start_matches("http://"))
    }

    /// Publishes a packed chart in the repository (its index lists it with its digest) and in
    /// the registry (`charts/NAME`, tagged with its version as `helm push` tags it). Its name
    /// and version are its `Chart.yaml`'s.
    pub fn publish(&self, archive: &[u8]) {
        let snapshot = repo::unpack(archive).expect("a chart archive");
        let chart_yaml = flotilla_core::yaml::load_helm_values(snapshot.read("Chart.yaml").expect("Chart.yaml"))
            .expect("Chart.yaml reads");
        let text = |key: &str| chart_yaml.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        let (name, version) = (text("name"), text("version"));
        let hex = repo::sha256_hex(archive);
        let file = format!("{name}-{version}.tgz");
        let config = serde_json::json!({"apiVersion": text("apiVersion"), "name": name, "version": version})
            .to_string()
            .into_bytes();
        let config_digest = format!("sha256:{}", repo::sha256_hex(&config));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": repo::OCI_MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": repo::OCI_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": repo::OCI_CHART_MEDIA_TYPE, "digest": format!("sha256:{hex}"), "size": archive.len()}],
            "annotations": {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version},
        })
        .to_string()
        .into_bytes();
        let mut served = self.served();
        served.files.insert(file.clone(), archive.to_vec());
        served.entries.retain(|(n, v, _, _)| !(n == &name && v == &version));
        served.entries.push((name.clone(), version.clone(), file, hex.clone()));
        served.manifests.insert((format!("charts/{name}"), repo::oci_tag(&version)), manifest);
        served.blobs.insert(config_digest, config);
        served.blobs.insert(format!("sha256:{hex}"), archive.to_vec());
    }

    /// Serves `bytes` as the repository's file `name` (an archive that no longer matches the
    /// index's digest, say) and as the registry's blob that `name`'s archive was.
    pub fn replace_file(&self, name: &str, bytes: &[u8]) {
        let mut served = self.served();
        if let Some(old) = served.files.insert(name.to_string(), bytes.to_vec()) {
            let digest = format!("sha256:{}", repo::sha256_hex(&old));
            if served.blobs.contains_key(&digest) {
                served.blobs.insert(digest, bytes.to_vec());
            }
        }
    }

    /// Serves `bytes` as `index.yaml` instead of the index the published charts make.
    pub fn set_index(&self, bytes: &[u8]) {
        self.served().index = Some(bytes.to_vec());
    }

    /// Asks every request for these basic credentials.
    pub fn require_basic(&self, user: &str, password: &str) {
        self.served().auth = Auth::Basic { user: user.into(), password: password.into() };
    }

    /// Asks the registry's requests for a bearer token from its token service (`/token`, which
    /// wants these basic credentials), and the repository's for the credentials themselves.
    pub fn require_token(&self, user: &str, password: &str) {
        self.served().auth = Auth::Token { user: user.into(), password: password.into() };
    }

    /// The requests served so far, `METHOD PATH` (with the query).
    pub fn requests(&self) -> Vec<String> {
        self.served().requests.clone()
    }

    /// The index the published charts make, as `helm repo index` writes one.
    fn index(served: &Served) -> Vec<u8> {
        if let Some(index) = &served.index {
            return index.clone();
        }
        let mut by_name: BTreeMap<&str, Vec<&(String, String, String, String)>> = BTreeMap::new();
        for entry in &served.entries {
            by_name.entry(&entry.0).or_default().push(entry);
        }
        let mut text = String::from("apiVersion: v1\nentries:\n");
        for (name, versions) in by_name {
            let _ = writeln!(text, "  {name}:");
            for (name, version, file, digest) in versions.into_iter().rev() {
                let _ = write!(
                    text,
                    "  - apiVersion: v2\n    name: {name}\n    version: {version}\n    digest: {digest}\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n    - {file}\n"
                );
            }
        }
        text.push_str("generated: \"2026-01-01T00:00:00Z\"\n");
        text.into_bytes()
    }
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("a response of constant parts")
}

fn not_found() -> Response<Body> {
    answer(StatusCode::NOT_FOUND, "application/json", br#"{"errors":[{"code":"NOT_FOUND"}]}"#.to_vec())
}

fn challenge(value: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::WWW_AUTHENTICATE, value)
        .body(Body::from(r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#))
        .expect("a response of constant parts")
}

fn basic_ok(headers: &HeaderMap, user: &str, password: &str) -> bool {
    use base64::Engine as _;
    let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(want.as_str())
}

async fn handle(State(state): State<Shared>, request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let line = format!("{} {}", request.method(), request.uri());
    let headers = request.headers().clone();
    let mut served = state.lock().unwrap_or_else(PoisonError::into_inner);
    served.requests.push(line);
    let oci = path == "/v2" || path.starts_with("/v2/");
    match served.auth.clone() {
        Auth::None => {}
        Auth::Basic { user, password } => {
            if !basic_ok(&headers, &user, &password) {
                return challenge(r#"Basic realm="charts""#);
            }
        }
        Auth::Token { user, password } => {
            if path == "/token" {
                if !basic_ok(&headers, &user, &password) {
                    return challenge(r#"Basic realm="token""#);
                }
                return answer(StatusCode::OK, "application/json", format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes());
            }
            let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
                == Some(format!("Bearer {TOKEN}").as_str());
            if oci && !bearer {
                let repository = path.trim_start_matches("/v2/").split("/manifests/").next().unwrap_or_default();
                let repository = repository.split("/blobs/").next().unwrap_or_default().trim_end_matches("/tags/list");
                return challenge(&format!(
                    r#"Bearer realm="{}/token",service="chart-server",scope="repository:{repository}:pull""#,
                    served.url
                ));
            }
            if !oci && !basic_ok(&headers, &user, &password) {
                return challenge(r#"Basic realm="charts""#);
            }
        }
    }
    if let Some(file) = path.strip_prefix("/charts/") {
        if file == "index.yaml" {
            return answer(StatusCode::OK, "application/x-yaml", ChartServer::index(&served));
        }
        return match served.files.get(file) {
            Some(bytes) => answer(StatusCode::OK, "application/gzip", bytes.clone()),
            None => answer(StatusCode::NOT_FOUND, "text/plain", b"404 page not found".to_vec()),
        };
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return if path == "/v2" { answer(StatusCode::OK, "application/json", b"{}".to_vec()) } else { not_found() };
    };
    if rest.is_empty() {
        return answer(StatusCode::OK, "application/json", b"{}".to_vec());
    }
    if let Some(repository) = rest.strip_suffix("/tags/list") {
        let tags: Vec<&str> =
            served.manifests.keys().filter(|(r, _)| r == repository).map(|(_, t)| t.as_str()).collect();
        if tags.is_empty() {
            return not_found();
        }
        let body = serde_json::json!({"name": repository, "tags": tags}).to_string().into_bytes();
        return answer(StatusCode::OK, "application/json", body);
    }
    if let Some((repository, reference)) = rest.split_once("/manifests/") {
        return match served.manifests.get(&(repository.to_string(), reference.to_string())) {
            Some(bytes) => answer(StatusCode::OK, repo::OCI_MANIFEST_MEDIA_TYPE, bytes.clone()),
            None => not_found(),
        };
    }
    if let Some((_, digest)) = rest.split_once("/blobs/") {
        return match served.blobs.get(digest) {
            Some(bytes) => answer(StatusCode::OK, "application/octet-stream", bytes.clone()),
            None => not_found(),
        };
    }
    not_found()
}

/// The chart in folder `dir` packed as `helm package` packs it: its files but those its
/// `.helmignore` leaves out, under a folder of the chart's name, as a gzipped tar.
pub fn package(dir: &Path) -> std::io::Result<Vec<u8>> {
    let chart_yaml = std::fs::read(dir.join("Chart.yaml"))?;
    let metadata = flotilla_core::yaml::load_helm_values(&chart_yaml)
        .map_err(|e| std::io::Error::other(format!("Chart.yaml: {e}")))?;
    let name = metadata.get("name").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    let ignore = flotilla_core::helm::chart::Ignore::parse(
        &std::fs::read_to_string(dir.join(".helmignore")).unwrap_or_default(),
    );
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    files.sort();
    let mut tar = Vec::new();
    for rel in files {
        if ignore.ignored(&rel) {
            continue;
        }
        let data = std::fs::read(dir.join(&rel))?;
        append(&mut tar, &format!("{name}/{rel}"), &data);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    gz.finish()
}

fn walk(root: &Path, rel: &str, files: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if entry.file_type()?.is_dir() {
            walk(root, &path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// One tar entry (a GNU long-name entry first for a name over 100 bytes).
fn append(tar: &mut Vec<u8>, name: &str, data: &[u8]) {
    if name.len() > 100 {
        let mut long = name.as_bytes().to_vec();
        long.push(0);
        header(tar, "././@LongLink", long.len(), b'L');
        tar.extend_from_slice(&long);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    header(tar, name, data.len(), b'0');
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn header(tar: &mut Vec<u8>, name: &str, size: usize, kind: u8) {
    let mut h = [0u8; 512];
    let short = &name.as_bytes()[..name.len().min(100)];
    h[..short.len()].copy_from_slice(short);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    tar.extend_from_slice(&h);
}
