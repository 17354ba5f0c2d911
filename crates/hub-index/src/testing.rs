//! A real, throwaway PostgreSQL for tests: [`PgServer::start`] runs `initdb` and `postgres` in a
//! temporary folder on a free port of 127.0.0.1, with trust authentication for the superuser
//! `flotilla`, and stops it and removes the folder when dropped. One server can hold a fresh
//! database per test ([`PgServer::create_database`]), so a test binary needs to start only one.
//!
//! It needs the PostgreSQL server binaries (`initdb`, `postgres`, `pg_isready`, `createdb`): on
//! Debian the `postgresql` package, which `.ci/run` installs. They are looked up with
//! `pg_config --bindir`, then in `/usr/lib/postgresql/*/bin`, then on `PATH`.
//!
//! PostgreSQL refuses to run as root; as root the server runs as `nobody` (through `runuser`,
//! else `su`), in a folder that `nobody` owns.
//!
//! Not a fixture for production: no passwords, no TLS, `fsync=off`. Standard library only, so it
//! is compiled into the library and usable from integration tests without a feature.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates; trusted without a password.
const USER: &str = "flotilla";

/// The database [`PgServer::start`] creates and [`PgServer::url`] names.
const DATABASE: &str = "flotilla";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL, stopped and removed on drop.
///
/// The server runs under a small `sh` that holds a pipe from this process: when the pipe closes,
/// because this value is dropped or because the test process exits without dropping it (a
/// `static` server never is), the shell stops PostgreSQL and removes its folder. So a shared
/// server in a `OnceLock` leaves nothing behind either.
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    bindir: Option<PathBuf>,
    /// The write end of the pipe the supervising shell waits on; dropping it stops the server.
    lifeline: Option<ChildStdin>,
    supervisor: Child,
}

impl PgServer {
    /// Whether the server binaries are here to start one (benchmarks skip PostgreSQL without them;
    /// tests do not: they fail, naming the package to install).
    pub fn available() -> bool {
        find_bindir().is_some() || has("initdb")
    }

    /// Starts a server with a database of its own. Panics, with the server's log, if it cannot.
    pub fn start() -> PgServer {
        let bindir = find_bindir();
        let account = Account::current();
        let dir = fresh_dir();
        account.hand_over(&dir);

        let data = dir.join("data");
        let output = account
            .command(&binary(bindir.as_deref(), "initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            .current_dir(&dir)
            .output()
            .expect("initdb runs (install PostgreSQL: the Debian package is `postgresql`)");
        assert!(output.status.success(), "initdb failed: {}", String::from_utf8_lossy(&output.stderr));

        let port = free_port();
        let log_path = dir.join("postgres.log");
        let log = File::create(&log_path).expect("the server log can be created");
        // The shell starts PostgreSQL, then waits for its standard input to close; then it stops
        // the server with SIGQUIT (immediate shutdown, which also ends the backends and frees
        // shared memory), waits for it and removes the folder. Arguments are passed as `$@`,
        // never spliced into the script.
        let script =
            r#"dir=$1; shift; "$@" & pid=$!; read -r _; kill -QUIT "$pid" 2>/dev/null; wait "$pid"; rm -rf "$dir""#;
        let mut supervisor = account
            .command(Path::new("sh"))
            .args(["-c", script, "sh"])
            .arg(&dir)
            .arg(binary(bindir.as_deref(), "postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300"])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("the log file handle can be cloned"))
            .stderr(log)
            .spawn()
            .expect("sh runs");
        let lifeline = supervisor.stdin.take();
        let mut server = PgServer { port, dir, bindir, lifeline, supervisor };
        server.wait_until_ready(&log_path);
        server.create_database(DATABASE);
        server
    }

    /// `postgres://flotilla@127.0.0.1:PORT/flotilla`: the database made at start.
    pub fn url(&self) -> String {
        self.database_url(DATABASE)
    }

    /// The port the server listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's folder (data, socket and log), removed when the server stops.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates an empty database and returns its URL, so that tests sharing a server do not see
    /// each other's tables. `name` is lower-case letters, digits and `_`; panics on any other
    /// name or if the database exists.
    pub fn create_database(&self, name: &str) -> String {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        assert!(valid, "database name {name:?} is not lower-case letters, digits and '_' (at most 63)");
        let output = Command::new(binary(self.bindir.as_deref(), "createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, name])
            .env_remove("PGPASSWORD")
            .output()
            .expect("createdb runs");
        assert!(output.status.success(), "createdb {name}: {}", String::from_utf8_lossy(&output.stderr));
        self.database_url(name)
    }

    fn database_url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    fn wait_until_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(binary(self.bindir.as_deref(), "pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("pg_isready runs");
            if ready.success() {
                return;
            }
            let exited = self.supervisor.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                panic!("postgres on port {} did not start ({exited:?}):\n{log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Closing the pipe tells the shell to stop the server and remove the folder.
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.supervisor.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The shell is stuck: end it (PostgreSQL notices its postmaster's end on its own).
        let _ = self.supervisor.kill();
        let _ = self.supervisor.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Who runs the server: this process's user, or `nobody` when that is root.
enum Account {
    Me,
    Nobody { uid: u32, gid: u32 },
}

impl Account {
    fn current() -> Account {
        if id(&["-u"]) != 0 {
            return Account::Me;
        }
        Account::Nobody { uid: id(&["-u", "nobody"]), gid: id(&["-g", "nobody"]) }
    }

    /// Gives `dir` to the account, so that `initdb` can write into it.
    fn hand_over(&self, dir: &Path) {
        if let Account::Nobody { uid, gid } = self {
            std::os::unix::fs::chown(dir, Some(*uid), Some(*gid)).expect("root can give a folder to nobody");
        }
    }

    /// A command running `program` as the account.
    fn command(&self, program: &Path) -> Command {
        match self {
            Account::Me => Command::new(program),
            Account::Nobody { .. } if has("runuser") => {
                let mut c = Command::new("runuser");
                c.args(["-u", "nobody", "--"]).arg(program);
                c
            }
            Account::Nobody { .. } => su_command(program),
        }
    }
}

/// `su -s /bin/sh -c 'exec "$0" "$@"' -- nobody PROGRAM ARGS…`: `su` takes one command line,
/// and passes the words after the user to the shell as `$0` and `$@`, so nothing needs quoting
/// (`--` keeps `su` from reading the program's options as its own).
fn su_command(program: &Path) -> Command {
    let mut c = Command::new("su");
    c.args(["-s", "/bin/sh", "-c", r#"exec "$0" "$@""#, "--", "nobody"]).arg(program);
    c
}

/// A number printed by `id ARGS`.
fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().expect("id runs");
    assert!(output.status.success(), "id {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("id prints a number")
}

/// Whether `program` runs at all.
fn has(program: &str) -> bool {
    Command::new(program).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Where `initdb` is: `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`, or `None`
/// for `PATH`.
fn find_bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| d.join("initdb").is_file()) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn binary(bindir: Option<&Path>, name: &str) -> PathBuf {
    bindir.map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

/// A new, empty folder under the system's temporary folder (`TMPDIR`, else `/tmp`), which
/// `nobody` must be able to enter when the tests run as root.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!("flotilla-pg-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir(&dir).expect("a folder can be made in the temporary folder");
    dir
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}
