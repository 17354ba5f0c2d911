//! Commit signature verification against real signatures: keys made by `ssh-keygen` and `gpg`,
//! commits signed by git, fetched into a cache over `file://` and checked in Rust.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use flotilla_core::fleet::{Verify, VerifyMode};
use flotilla_git::testing::{Tool, git, git_command, require};
use flotilla_git::{Cache, CommitId, Error, Signature, SignatureKind, Source, Verdict, verify_commit_object};

/// Every commit is made at this time, 2024-06-01 12:00:00 UTC, so validity periods are fixed.
const COMMIT_TIME: &str = "@1717243200 +0000";
const RELEASE_BOT: &str = "Release Bot <release@retail.example>";

struct SshKey {
    private: PathBuf,
    /// `ssh-ed25519 AAAA…`, without the comment.
    public: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    fingerprint: String,
}

struct GpgKey {
    fingerprint: String,
    armored: String,
}

/// A work repository with branch `main`, its keys and a cache to fetch it into.
struct Fixture {
    dir: tempfile::TempDir,
    gnupg_home: Option<PathBuf>,
}

enum Sign<'a> {
    No,
    Ssh(&'a SshKey),
    OpenPgp(&'a str),
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        git(&dir.path().join("work"), &["init", "-q", "-b", "main"]);
        Fixture { dir, gnupg_home: None }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn url(&self) -> String {
        format!("file://{}", self.work().display())
    }

    fn ssh_key(&self, name: &str) -> SshKey {
        let private = self.dir.path().join(name);
        require(Tool::SshKeygen);
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&private));
        let line = std::fs::read_to_string(private.with_extension("pub")).unwrap();
        let public = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let listed = run(Command::new("ssh-keygen").arg("-lf").arg(private.with_extension("pub")));
        let fingerprint = listed.split_whitespace().nth(1).unwrap().to_string();
        SshKey { private, public, fingerprint }
    }

    /// A gpg home in the fixture (made on first use; its agent is stopped on drop).
    fn gnupg_home(&mut self) -> PathBuf {
        let home = self.dir.path().join("gnupg");
        if self.gnupg_home.is_none() {
            std::fs::create_dir(&home).unwrap();
            std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
            self.gnupg_home = Some(home.clone());
        }
        home
    }

    fn gpg(&mut self, args: &[&str]) -> String {
        require(Tool::Gpg);
        let home = self.gnupg_home();
        run(Command::new("gpg").arg("--batch").arg("--homedir").arg(&home).args(args))
    }

    /// A new ed25519 signing key for `user_id`; its fingerprint and armored public key.
    fn gpg_key(&mut self, user_id: &str) -> GpgKey {
        self.gpg(&["--passphrase", "", "--quick-gen-key", user_id, "ed25519", "sign", "never"]);
        let fingerprint = self.gpg_fingerprints(user_id)[0].clone();
        let armored = self.gpg(&["--armor", "--export", &fingerprint]);
        GpgKey { fingerprint, armored }
    }

    /// The fingerprints of the key of `user_id`: the primary key's first, then its subkeys'.
    fn gpg_fingerprints(&mut self, user_id: &str) -> Vec<String> {
        let listing = self.gpg(&["--with-colons", "--list-keys", user_id]);
        listing.lines().filter(|l| l.starts_with("fpr:")).map(|l| l.split(':').nth(9).unwrap().to_string()).collect()
    }

    /// Commits a change to `main` (signed as asked) at [`COMMIT_TIME`]; returns its id.
    fn commit(&mut self, message: &str, sign: &Sign) -> String {
        let work = self.work();
        std::fs::write(work.join("file.txt"), message).unwrap();
        git(&work, &["add", "file.txt"]);
        let mut command = git_command(&work);
        command.env("GIT_AUTHOR_DATE", COMMIT_TIME).env("GIT_COMMITTER_DATE", COMMIT_TIME);
        match sign {
            Sign::No => {}
            Sign::Ssh(key) => {
                command.args(["-c", "gpg.format=ssh", "-c"]).arg(format!("user.signingkey={}", key.private.display()));
            }
            Sign::OpenPgp(fingerprint) => {
                let home = self.gnupg_home();
                command.env("GNUPGHOME", home).args(["-c", "gpg.program=gpg", "-c"]);
                command.arg(format!("user.signingkey={fingerprint}"));
            }
        }
        command.args(["commit", "-q", "-m", message]);
        if !matches!(sign, Sign::No) {
            command.arg("-S");
        }
        run(&mut command);
        git(&work, &["rev-parse", "HEAD"])
    }

    /// Rewrites `main`'s head with `edit` applied to its raw object (the gpgsig header kept).
    fn tamper(&self, edit: impl FnOnce(String) -> String) -> String {
        let work = self.work();
        let raw = git_command(&work).args(["cat-file", "commit", "HEAD"]).output().unwrap();
        let edited = edit(String::from_utf8(raw.stdout).unwrap());
        let mut child = git_command(&work)
            .args(["hash-object", "-t", "commit", "-w", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(edited.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git hash-object failed");
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        git(&work, &["update-ref", "refs/heads/main", &id]);
        id
    }

    fn cache(&self) -> Cache {
        Cache::new(self.dir.path().join("cache"))
    }

    /// Fetches `main` into the cache and verifies its head under `policy`.
    fn verify_head(&self, policy: &Verify) -> Verdict {
        let cache = self.cache();
        let fetched = cache.fetch(&Source::new(self.url()), &["main"]).unwrap();
        cache.verify(&self.url(), fetched.heads["main"], policy).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // gpg started an agent for this home; stop it (and only it) before the folder goes.
        if let Some(home) = &self.gnupg_home {
            let _ = Command::new("gpgconf").arg("--homedir").arg(home).args(["--kill", "all"]).status();
        }
    }
}

/// Runs a command, panicking with its stderr on failure; returns its stdout.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?} cannot start: {e}"));
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn ssh_policy(mode: VerifyMode, allowed_signers: &str) -> Verify {
    Verify { mode, allowed_signers: Some(allowed_signers.to_string()), openpgp_keys: None }
}

fn openpgp_policy(mode: VerifyMode, keys: &str) -> Verify {
    Verify { mode, allowed_signers: None, openpgp_keys: Some(keys.to_string()) }
}

fn invalid(verdict: &Verdict) -> &str {
    match &verdict.signature {
        Signature::Invalid { reason } => reason,
        other => panic!("expected an invalid signature, got {other:?}"),
    }
}

fn assert_refused(verdict: &Verdict, reason: &str) {
    assert!(!verdict.allowed, "{verdict:?}");
    assert_eq!(invalid(verdict), reason);
    assert_eq!(verdict.reason().as_deref(), Some(reason));
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn ssh_signature_by_an_allowed_signer_is_verified_with_its_principals() {
    let mut fx = Fixture::new();
    let key = fx.ssh_key("release");
    let id = fx.commit("ship it", &Sign::Ssh(&key));
    let policy = ssh_policy(
        VerifyMode::Enforce,
        &format!("# the release key\nrelease@retail.example,bot@retail.example {} release\n", key.public),
    );
    let verdict = fx.verify_head(&policy);
    let expected =
        Signature::Verified { signer: "release@retail.example,bot@retail.example".into(), kind: SignatureKind::Ssh };
    assert_eq!(verdict, Verdict { signature: expected, allowed: true });
    assert_eq!(verdict.reason(), None);

    // The pure function gives the same verdict from the object bytes git prints.
    let raw = git_command(&fx.work()).args(["cat-file", "commit", &id]).output().unwrap().stdout;
    assert_eq!(verify_commit_object(&raw, &policy), verdict);
}

#[test]
#[cfg_attr(flotilla_skip_gpg, ignore = "FLOTILLA_SKIP=gpg")]
fn openpgp_signature_by_a_listed_key_is_verified_with_its_primary_user_id() {
    let mut fx = Fixture::new();
    let key = fx.gpg_key(RELEASE_BOT);
    fx.commit("ship it", &Sign::OpenPgp(&key.fingerprint));
    // Another key first: every block of the policy is read.
    let other = fx.gpg_key("Other <other@retail.example>");
    let verdict = fx.verify_head(&openpgp_policy(VerifyMode::Enforce, &format!("{}\n{}", other.armored, key.armored)));
    let expected = Signature::Verified { signer: RELEASE_BOT.into(), kind: SignatureKind::OpenPgp };
    assert_eq!(verdict, Verdict { signature: expected, allowed: true });
}

#[test]
#[cfg_attr(flotilla_skip_gpg, ignore = "FLOTILLA_SKIP=gpg")]
fn openpgp_signature_by_a_signing_subkey_is_verified() {
    let mut fx = Fixture::new();
    let key = fx.gpg_key(RELEASE_BOT);
    fx.gpg(&["--passphrase", "", "--quick-add-key", &key.fingerprint, "ed25519", "sign", "never"]);
    let fingerprints = fx.gpg_fingerprints(RELEASE_BOT);
    let subkey = &fingerprints[1];
    // `!` makes gpg sign with exactly this subkey.
    fx.commit("ship it", &Sign::OpenPgp(&format!("{subkey}!")));
    let armored = fx.gpg(&["--armor", "--export", &key.fingerprint]);
    let verdict = fx.verify_head(&openpgp_policy(VerifyMode::Enforce, &armored));
    assert_eq!(verdict.signature, Signature::Verified { signer: RELEASE_BOT.into(), kind: SignatureKind::OpenPgp });
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn unsigned_commit_is_refused_under_enforce_and_allowed_under_inform() {
    let mut fx = Fixture::new();
    let key = fx.ssh_key("release");
    fx.commit("not signed", &Sign::No);
    let signers = format!("release@retail.example {}", key.public);
    let enforced = fx.verify_head(&ssh_policy(VerifyMode::Enforce, &signers));
    assert_eq!(enforced, Verdict { signature: Signature::Unsigned, allowed: false });
    assert_eq!(enforced.reason().as_deref(), Some("the commit is not signed"));
    let informed = fx.verify_head(&ssh_policy(VerifyMode::Inform, &signers));
    assert_eq!(informed, Verdict { signature: Signature::Unsigned, allowed: true });
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn ssh_signature_by_an_unknown_key_is_refused_under_enforce_and_reported_under_inform() {
    let mut fx = Fixture::new();
    let allowed = fx.ssh_key("release");
    let intruder = fx.ssh_key("intruder");
    fx.commit("ship it", &Sign::Ssh(&intruder));
    let signers = format!("release@retail.example {}", allowed.public);
    let reason = format!("signed by an SSH key that is not in allowedSigners ({})", intruder.fingerprint);
    assert_refused(&fx.verify_head(&ssh_policy(VerifyMode::Enforce, &signers)), &reason);
    let informed = fx.verify_head(&ssh_policy(VerifyMode::Inform, &signers));
    assert!(informed.allowed);
    assert_eq!(invalid(&informed), reason);
    // No allowedSigners at all says so.
    let none = fx.verify_head(&Verify { mode: VerifyMode::Enforce, allowed_signers: None, openpgp_keys: None });
    assert_refused(
        &none,
        &format!("signed by an SSH key ({}) but the policy has no allowedSigners", intruder.fingerprint),
    );
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn ssh_signed_commit_changed_after_signing_is_refused() {
    let mut fx = Fixture::new();
    let key = fx.ssh_key("release");
    fx.commit("ship it", &Sign::Ssh(&key));
    fx.tamper(|raw| raw.replace("ship it", "ship something else"));
    let verdict = fx.verify_head(&ssh_policy(VerifyMode::Enforce, &format!("release@retail.example {}", key.public)));
    assert_refused(
        &verdict,
        &format!("bad SSH signature by {}: the commit does not match what was signed", key.fingerprint),
    );
}

#[test]
#[cfg_attr(flotilla_skip_gpg, ignore = "FLOTILLA_SKIP=gpg")]
fn openpgp_signed_commit_changed_after_signing_is_refused() {
    let mut fx = Fixture::new();
    let key = fx.gpg_key(RELEASE_BOT);
    fx.commit("ship it", &Sign::OpenPgp(&key.fingerprint));
    fx.tamper(|raw| raw.replace("ship it", "ship something else"));
    let verdict = fx.verify_head(&openpgp_policy(VerifyMode::Enforce, &key.armored));
    assert_refused(
        &verdict,
        &format!("bad OpenPGP signature by key {}: the commit does not match what was signed", key.fingerprint),
    );
}

#[test]
#[cfg_attr(flotilla_skip_gpg, ignore = "FLOTILLA_SKIP=gpg")]
fn openpgp_signature_by_an_unknown_key_names_its_key_id() {
    let mut fx = Fixture::new();
    let listed = fx.gpg_key(RELEASE_BOT);
    let intruder = fx.gpg_key("Intruder <intruder@elsewhere.example>");
    fx.commit("ship it", &Sign::OpenPgp(&intruder.fingerprint));
    let verdict = fx.verify_head(&openpgp_policy(VerifyMode::Enforce, &listed.armored));
    // A v4 key id is the last 16 hex digits of the fingerprint.
    let key_id = &intruder.fingerprint[intruder.fingerprint.len() - 16..];
    assert_refused(&verdict, &format!("signed by an OpenPGP key that is not in openpgpKeys (key id {key_id})"));
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn ssh_key_whose_validity_ended_before_the_commit_is_refused() {
    let mut fx = Fixture::new();
    let key = fx.ssh_key("release");
    fx.commit("ship it", &Sign::Ssh(&key));
    let expired = format!("old@retail.example valid-before=\"20240101\" {}\n", key.public);
    let verdict = fx.verify_head(&ssh_policy(VerifyMode::Enforce, &expired));
    assert_refused(
        &verdict,
        &format!(
            "the SSH key {} is valid only before 2024-01-01 00:00:00 UTC but the commit was made at \
             2024-06-01 12:00:00 UTC (allowedSigners line 1)",
            key.fingerprint
        ),
    );
    // A later line whose period holds the commit time accepts it: the time is the commit's,
    // not the clock's.
    let renewed =
        format!("{expired}new@retail.example valid-after=\"20240101\",valid-before=\"20240701Z\" {}\n", key.public);
    let verdict = fx.verify_head(&ssh_policy(VerifyMode::Enforce, &renewed));
    assert_eq!(
        verdict.signature,
        Signature::Verified { signer: "new@retail.example".into(), kind: SignatureKind::Ssh }
    );
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn ssh_key_allowed_only_for_other_namespaces_is_refused() {
    let mut fx = Fixture::new();
    let key = fx.ssh_key("release");
    fx.commit("ship it", &Sign::Ssh(&key));
    let signers = format!("release@retail.example namespaces=\"file\" {}", key.public);
    assert_refused(
        &fx.verify_head(&ssh_policy(VerifyMode::Enforce, &signers)),
        &format!(
            "the SSH key {} is allowed only for namespaces \"file\", not \"git\" (allowedSigners line 1)",
            key.fingerprint
        ),
    );
    let signers = format!("release@retail.example namespaces=\"file,git\" {}", key.public);
    assert!(fx.verify_head(&ssh_policy(VerifyMode::Enforce, &signers)).allowed);
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn malformed_allowed_signers_line_is_named() {
    let mut fx = Fixture::new();
    let key = fx.ssh_key("release");
    fx.commit("ship it", &Sign::Ssh(&key));
    let signers = format!("release@retail.example {}\n\nbroken@retail.example sh-ed25519 AAAA\n", key.public);
    let verdict = fx.verify_head(&ssh_policy(VerifyMode::Enforce, &signers));
    assert!(!verdict.allowed);
    assert!(invalid(&verdict).starts_with("allowedSigners line 3: invalid public key"), "{verdict:?}");
}

#[test]
#[cfg_attr(flotilla_skip_ssh_keygen, ignore = "FLOTILLA_SKIP=ssh-keygen")]
fn mode_off_does_not_examine_the_signature() {
    let mut fx = Fixture::new();
    let allowed = fx.ssh_key("release");
    let intruder = fx.ssh_key("intruder");
    fx.commit("ship it", &Sign::Ssh(&intruder));
    fx.tamper(|raw| raw.replace("ship it", "ship something else"));
    let verdict = fx.verify_head(&ssh_policy(VerifyMode::Off, &format!("release@retail.example {}", allowed.public)));
    assert_eq!(verdict, Verdict { signature: Signature::Unsigned, allowed: true });
}

#[test]
fn commit_missing_from_the_cache_is_an_error() {
    let mut fx = Fixture::new();
    fx.commit("first", &Sign::No);
    let cache = fx.cache();
    cache.fetch(&Source::new(fx.url()), &["main"]).unwrap();
    let absent = "0123456789abcdef0123456789abcdef01234567".parse::<CommitId>().unwrap();
    let policy = ssh_policy(VerifyMode::Enforce, "");
    let err = cache.verify(&fx.url(), absent, &policy).unwrap_err();
    assert!(matches!(err, Error::MissingCommit { .. }), "{err}");
    // A SHA-256 id reads (core's rule, as the report's), where flotilla-git's own id type once
    // refused it; a SHA-1 repository simply holds no such commit.
    let sha256 = "ab".repeat(32).parse::<CommitId>().unwrap();
    let err = cache.verify(&fx.url(), sha256, &policy).unwrap_err();
    assert!(matches!(err, Error::MissingCommit { .. }), "{err}");
    assert!(matches!(cache.snapshot(&fx.url(), sha256), Err(Error::MissingCommit { .. })));
}
