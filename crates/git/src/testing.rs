//! Real git servers and a deterministic `git` for tests: `git daemon` for `git://`, and
//! `git http-backend` behind a small CGI server for `http://` (with optional basic
//! authentication and a request counter). Every server stops when dropped.
//!
//! A server whose program is missing fails the test with the program's Debian package and how
//! to skip such tests ([`tools`]).

pub mod tools;

pub use tools::{Tool, require};

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs `git` in `dir` with no user or system configuration and fixed identities, so fixture
/// repositories are the same on every machine. Panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir).args(args).output().expect("git is installed");
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A `git` command with the deterministic environment of [`git`].
pub fn git_command(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@retail.example")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@retail.example")
        .env("GIT_TERMINAL_PROMPT", "0");
    c
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server on port {port} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `git daemon` serving every repository under a folder as `git://127.0.0.1:PORT/NAME`.
#[derive(Debug)]
pub struct GitDaemon {
    pub port: u16,
    child: Child,
}

impl GitDaemon {
    pub fn start(base: &Path) -> GitDaemon {
        require(Tool::GitDaemon);
        let port = free_port();
        // Start `git-daemon` itself: `git daemon` runs it as a child, which killing `git` would
        // leave behind.
        let exec_path = git(base, &["--exec-path"]);
        // The same deterministic environment as `git_command`.
        let command = git_command(base);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .envs(command.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
            .current_dir(base)
            .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1", &format!("--port={port}")])
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        wait_for_port(port);
        GitDaemon { port, child }
    }

    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `git http-backend` behind a minimal HTTP/1.1 CGI server, serving every repository under a
/// folder as `http://127.0.0.1:PORT/NAME`.
#[derive(Debug)]
pub struct HttpGitServer {
    pub port: u16,
    /// Requests served so far.
    pub requests: Arc<AtomicUsize>,
    /// Response bytes sent so far (headers and bodies).
    pub bytes_sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpGitServer {
    /// Starts the server; with `auth`, every request needs that `user:password` (basic).
    pub fn start(root: &Path, auth: Option<(&str, &str)>) -> HttpGitServer {
        Self::start_with(root, auth.map(|(u, p)| format!("Basic {}", base64(&format!("{u}:{p}")))))
    }

    /// Starts the server requiring a bearer token on every request.
    pub fn start_bearer(root: &Path, token: &str) -> HttpGitServer {
        Self::start_with(root, Some(format!("Bearer {token}")))
    }

    /// Starts the server; with `authorization`, every request must carry exactly that header.
    fn start_with(root: &Path, authorization: Option<String>) -> HttpGitServer {
        require(Tool::GitDaemon);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(AtomicUsize::new(0));
        let bytes_sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let expected = authorization;
        let (counter, sent, stopping) = (requests.clone(), bytes_sent.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let (root, expected, counter, sent) =
                            (root.clone(), expected.clone(), counter.clone(), sent.clone());
                        std::thread::spawn(move || serve(stream, &root, expected.as_deref(), &counter, &sent));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HttpGitServer { port, requests, bytes_sent, stop, thread: Some(thread) }
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the requests of one connection (keep-alive) until the client closes it.
fn serve(stream: TcpStream, root: &Path, auth: Option<&str>, counter: &AtomicUsize, sent: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let body = read_body(&mut reader, header("content-length"), header("transfer-encoding"));
        if let Some(expected) = auth
            && header("authorization").as_deref() != Some(expected)
        {
            let msg = b"authentication required\n";
            let _ = write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\n\r\n",
                msg.len()
            );
            let _ = out.write_all(msg);
            continue;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut cgi = Command::new("git")
            .arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", path)
            .env("QUERY_STRING", query)
            .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", header("content-encoding").unwrap_or_default())
            .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
            .env("REMOTE_USER", "fixture")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("git http-backend starts");
        let mut stdin = cgi.stdin.take().expect("piped");
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let mut output = Vec::new();
        let _ = cgi.stdout.take().expect("piped").read_to_end(&mut output);
        let _ = writer.join();
        let _ = cgi.wait();
        let split = output
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
        let Some((end, sep)) = split else { return };
        let head = String::from_utf8_lossy(&output[..end]).to_string();
        let content = &output[end + sep..];
        let mut status = "200 OK".to_string();
        let mut response = String::new();
        for line in head.lines() {
            if let Some(s) = line.strip_prefix("Status:") {
                status = s.trim().to_string();
            } else {
                response.push_str(line);
                response.push_str("\r\n");
            }
        }
        let head = format!("HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\n\r\n", content.len());
        sent.fetch_add(head.len() + content.len(), Ordering::SeqCst);
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(content);
    }
}

fn read_body(reader: &mut BufReader<TcpStream>, length: Option<String>, encoding: Option<String>) -> Vec<u8> {
    let mut body = Vec::new();
    if encoding.is_some_and(|e| e.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                break;
            }
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length.and_then(|l| l.parse::<usize>().ok()) {
        body.resize(n, 0);
        let _ = reader.read_exact(&mut body);
    }
    body
}

fn base64(text: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Builds the fixture fleet repository with `tests/fixtures/make-repos.sh` into `dir`, and
/// returns the path of the bare repository `fleet.git` in it.
pub fn make_fixture_repos(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-repos.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .status()
        .expect("bash runs");
    assert!(status.success(), "{} failed", script.display());
    dir.join("fleet.git")
}

/// An OpenSSH server on 127.0.0.1 that lets one generated client key in, so `ssh://` URLs
/// reach the repositories under any path (`ssh://root@127.0.0.1:PORT/abs/path/repo.git`).
/// Needs `sshd` (Debian's openssh-server), `ssh-keygen` and root, as CI runs.
#[derive(Debug)]
pub struct SshServer {
    pub port: u16,
    /// The client's private key, for `Credentials::SshKey`.
    pub client_key: PathBuf,
    /// A known_hosts line for this server's host key.
    pub known_hosts_line: String,
    child: Child,
}

impl SshServer {
    pub fn start(dir: &Path) -> SshServer {
        let sshd = require(Tool::Sshd);
        require(Tool::SshKeygen);
        let keygen = |file: &Path| {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "flotilla-test", "-f"])
                .arg(file)
                .status()
                .expect("ssh-keygen runs");
            assert!(status.success(), "ssh-keygen failed");
        };
        std::fs::create_dir_all(dir).expect("ssh folder");
        let (host_key, client_key) = (dir.join("host_key"), dir.join("client_key"));
        keygen(&host_key);
        keygen(&client_key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).expect("authorized_keys");
        // sshd wants its privilege-separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .expect("sshd_config");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        wait_for_port(port);
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let mut fields = host_pub.split_whitespace();
        let known_hosts_line =
            format!("[127.0.0.1]:{port} {} {}", fields.next().expect("key type"), fields.next().expect("key"));
        SshServer { port, client_key, known_hosts_line, child }
    }

    pub fn url(&self, repo: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, repo.display())
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
