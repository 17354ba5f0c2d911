//! Commit signatures checked against a repository's `verify` policy, in Rust.
//!
//! git signs a commit by adding a `gpgsig` header that holds a detached signature over the commit
//! object without that header. This module checks SSH signatures (`gpg.format=ssh`: the sshsig
//! format, namespace `git`) against the policy's OpenSSH `allowed_signers` lines, and OpenPGP
//! signatures against the policy's armored public keys. It never runs `gpg`, `ssh-keygen` or `git`
//! and keeps no keyring, trust database or clock: the keys are the policy's, and the time checks
//! use the commit's committer time (as git does for SSH) or the signature's creation time.
//!
//! It is not `git verify-commit`: X.509 (gpgsm) signatures, SSH certificates (`cert-authority`
//! lines) and the OpenPGP web of trust are not supported; a listed OpenPGP key is trusted fully.

use std::fmt;

use flotilla_core::fleet::{Verify, VerifyMode};

use crate::{Cache, CommitId, Error, find_commit};

/// How a commit's signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// A good signature by a key the policy lists. `signer` is, for SSH, the principals field of
    /// the matching allowedSigners line as written (comma-separated when it names several, like
    /// `ssh-keygen -Y find-principals`), and for OpenPGP the primary user id of the key
    /// (`Release Bot <release@retail.example>`).
    Verified { signer: String, kind: SignatureKind },
    /// The commit carries no signature. Also what `mode: off` reports: the signature is not
    /// examined at all then.
    Unsigned,
    /// A signature is there but is not good, or not by a listed key; `reason` says which.
    Invalid { reason: String },
}

/// The kind of a commit signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// An OpenSSH signature (sshsig), `git config gpg.format ssh`.
    Ssh,
    /// An OpenPGP signature, git's default.
    OpenPgp,
}

/// The outcome under a policy: `allowed` is false only under `enforce` when the signature is not
/// [`Signature::Verified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub signature: Signature,
    pub allowed: bool,
}

impl Verdict {
    /// Applies `mode` to an examined signature.
    pub fn new(signature: Signature, mode: VerifyMode) -> Verdict {
        let allowed = match mode {
            VerifyMode::Enforce => matches!(signature, Signature::Verified { .. }),
            VerifyMode::Inform | VerifyMode::Off => true,
        };
        Verdict { signature, allowed }
    }

    /// Why the commit's signature is not good, for messages and reports; `None` when it is
    /// verified.
    pub fn reason(&self) -> Option<String> {
        match &self.signature {
            Signature::Verified { .. } => None,
            Signature::Unsigned => Some("the commit is not signed".to_string()),
            Signature::Invalid { reason } => Some(reason.clone()),
        }
    }
}

impl fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureKind::Ssh => "SSH",
            SignatureKind::OpenPgp => "OpenPGP",
        })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signature::Verified { signer, kind } => write!(f, "good {kind} signature by {signer}"),
            Signature::Unsigned => f.write_str("not signed"),
            Signature::Invalid { reason } => write!(f, "invalid signature: {reason}"),
        }
    }
}

impl Cache {
    /// Checks the signature of `commit` (fetched before into the cache of `url`) under `policy`.
    /// Under `mode: off` the cache is not even opened.
    pub fn verify(&self, url: &str, commit: CommitId, policy: &Verify) -> Result<Verdict, Error> {
        if policy.mode == VerifyMode::Off {
            return Ok(Verdict::new(Signature::Unsigned, VerifyMode::Off));
        }
        let (entry, _) = self.entry(url)?;
        let object = find_commit(&entry.repo, url, commit)?;
        Ok(verify_commit_object(&object.data, policy))
    }
}

/// The verdict on a raw (SHA-1) commit object, as `git cat-file commit` prints it, under
/// `policy`. Under `mode: off` the object is not looked at.
pub fn verify_commit_object(raw_commit: &[u8], policy: &Verify) -> Verdict {
    let signature = match policy.mode {
        VerifyMode::Off => Signature::Unsigned,
        VerifyMode::Enforce | VerifyMode::Inform => check_signature(raw_commit, policy),
    };
    Verdict::new(signature, policy.mode)
}

/// Examines the signature of a raw (SHA-1) commit object against the keys of `policy`, whatever
/// its mode.
pub fn check_signature(raw_commit: &[u8], policy: &Verify) -> Signature {
    let found = match gix::objs::CommitRefIter::signature(raw_commit, gix::hash::Kind::Sha1) {
        Ok(found) => found,
        Err(e) => return Signature::Invalid { reason: format!("the commit object cannot be parsed: {e}") },
    };
    let Some((armored, signed_data)) = found else {
        return Signature::Unsigned;
    };
    let payload = signed_data.to_bstring();
    let (kind, checked) = if armored.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
        let time = committer_time(raw_commit);
        (SignatureKind::Ssh, ssh::check(&armored, &payload, time, policy.allowed_signers.as_deref()))
    } else if armored.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
        (SignatureKind::OpenPgp, openpgp::check(&armored, &payload, policy.openpgp_keys.as_deref()))
    } else if armored.starts_with(b"-----BEGIN SIGNED MESSAGE-----") {
        let reason = "the commit has an X.509 (gpgsm) signature, which cannot be verified here".to_string();
        return Signature::Invalid { reason };
    } else {
        return Signature::Invalid { reason: "the gpgsig header holds neither an SSH nor an OpenPGP signature".into() };
    };
    match checked {
        Ok(signer) => Signature::Verified { signer, kind },
        Err(reason) => Signature::Invalid { reason },
    }
}

/// The committer time of a raw commit, in seconds since the Unix epoch.
fn committer_time(raw_commit: &[u8]) -> Option<i64> {
    let committer = gix::objs::CommitRefIter::from_bytes(raw_commit, gix::hash::Kind::Sha1).committer().ok()?;
    committer.time().ok().map(|t| t.seconds)
}

/// 1970-01-01T00:00:00, in UTC. Times are counted on jiff's civil clock (no time zone) rather
/// than as `jiff::Timestamp`s, whose range stops a day short of 9999-12-31 to leave room for
/// offsets.
const EPOCH: jiff::civil::DateTime = jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// Formats seconds since the Unix epoch as `2024-06-01 12:00:00 UTC`; a time outside the
/// years -9999 to 9999 (jiff's range; a commit object may hold any number) as the number.
fn format_utc(seconds: i64) -> String {
    match EPOCH.checked_add(jiff::SignedDuration::from_secs(seconds)) {
        Ok(time) => time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("{seconds} s from 1970-01-01 00:00:00 UTC"),
    }
}

/// SSH signatures (sshsig) and OpenSSH `allowed_signers` lines.
mod ssh {
    use ssh_key::public::KeyData;
    use ssh_key::{HashAlg, PublicKey, SshSig};

    use super::format_utc;

    /// The namespace git signs commits in.
    const NAMESPACE: &str = "git";

    /// Checks an armored sshsig over `payload` and returns the principals of the allowedSigners
    /// line that accepts its key, or why none does. Like `ssh-keygen -Y verify`, the signature is
    /// checked first and the key looked up after, so "not in allowedSigners" is only said of a
    /// signature that is good in itself.
    pub(super) fn check(
        armored: &[u8],
        payload: &[u8],
        commit_time: Option<i64>,
        allowed_signers: Option<&str>,
    ) -> Result<String, String> {
        let sig = SshSig::from_pem(armored).map_err(|e| format!("malformed SSH signature: {e}"))?;
        let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256);
        if sig.namespace() != NAMESPACE {
            return Err(format!("the SSH signature is for namespace {:?}, not \"git\"", sig.namespace()));
        }
        PublicKey::new(sig.public_key().clone(), "")
            .verify(NAMESPACE, payload, &sig)
            .map_err(|_| format!("bad SSH signature by {fingerprint}: the commit does not match what was signed"))?;
        let Some(text) = allowed_signers.filter(|t| !t.trim().is_empty()) else {
            return Err(format!("signed by an SSH key ({fingerprint}) but the policy has no allowedSigners"));
        };
        let signers = parse_allowed_signers(text).map_err(|e| e.to_string())?;
        let mut refusal = None;
        for signer in signers.iter().filter(|s| !s.options.cert_authority && s.key == *sig.public_key()) {
            match signer.accepts(commit_time) {
                Ok(()) => return Ok(signer.principals.clone()),
                Err(why) => {
                    refusal.get_or_insert_with(|| {
                        format!("the SSH key {fingerprint} {why} (allowedSigners line {})", signer.line)
                    });
                }
            }
        }
        Err(refusal.unwrap_or_else(|| format!("signed by an SSH key that is not in allowedSigners ({fingerprint})")))
    }

    /// One line of an allowed_signers file: `principals [options] keytype base64-key [comment]`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct AllowedSigner {
        /// The 1-based line number, for messages.
        pub line: usize,
        /// The principals field as written (quotes removed), e.g. `a@x.example,*@y.example`.
        pub principals: String,
        pub options: Options,
        pub key: KeyData,
    }

    /// The options of an allowedSigners line.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub(super) struct Options {
        /// `namespaces="…"`: patterns the key may sign in; `None` allows every namespace.
        pub namespaces: Option<String>,
        /// `valid-after="…"`, seconds since the Unix epoch.
        pub valid_after: Option<i64>,
        /// `valid-before="…"`, seconds since the Unix epoch.
        pub valid_before: Option<i64>,
        /// `cert-authority`: the key signs certificates. Certificates are not supported, so such a
        /// line never matches a signature.
        pub cert_authority: bool,
    }

    /// A malformed allowedSigners line.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error("allowedSigners line {line}: {message}")]
    pub(super) struct ParseError {
        pub line: usize,
        pub message: String,
    }

    impl AllowedSigner {
        /// Whether this line lets its key sign a commit made at `time`; `Err` ends the sentence
        /// "the SSH key SHA256:… …".
        fn accepts(&self, time: Option<i64>) -> Result<(), String> {
            let options = &self.options;
            if let Some(namespaces) = &options.namespaces
                && !match_pattern_list(NAMESPACE, namespaces)
            {
                return Err(format!("is allowed only for namespaces {namespaces:?}, not \"git\""));
            }
            if options.valid_after.is_none() && options.valid_before.is_none() {
                return Ok(());
            }
            let Some(time) = time else {
                return Err("has a validity period but the commit has no readable committer time".to_string());
            };
            if let Some(after) = options.valid_after
                && time < after
            {
                return Err(format!(
                    "is valid only after {} but the commit was made at {}",
                    format_utc(after),
                    format_utc(time)
                ));
            }
            if let Some(before) = options.valid_before
                && time > before
            {
                return Err(format!(
                    "is valid only before {} but the commit was made at {}",
                    format_utc(before),
                    format_utc(time)
                ));
            }
            Ok(())
        }
    }

    /// Parses allowed_signers text as `ssh-keygen` does (see "ALLOWED SIGNERS" in
    /// `man ssh-keygen`); blank lines and lines starting with `#` are skipped. A malformed line
    /// fails the whole text, so a typo in the policy is reported rather than ignored.
    ///
    /// One difference: a time without a `Z` (or `UTC`) suffix is read as UTC, not in the local
    /// time zone, so every agent reads the policy the same way.
    pub(super) fn parse_allowed_signers(text: &str) -> Result<Vec<AllowedSigner>, ParseError> {
        let mut signers = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let signer = parse_line(line, index + 1).map_err(|message| ParseError { line: index + 1, message })?;
            signers.push(signer);
        }
        Ok(signers)
    }

    fn parse_line(line: &str, number: usize) -> Result<AllowedSigner, String> {
        let (principals, rest) = next_field(line)?;
        if principals.is_empty() {
            return Err("the principals are empty".to_string());
        }
        if rest.is_empty() {
            return Err("missing key after the principals".to_string());
        }
        // A key type never holds `=`; every option but the flag `cert-authority` does.
        let first = &rest[..rest.find([' ', '\t']).unwrap_or(rest.len())];
        let (options, key_text) = if first.contains('=') || first.to_ascii_lowercase().contains("cert-authority") {
            let (options, key_text) = split_options(rest)?;
            if key_text.is_empty() {
                return Err("missing key after the options".to_string());
            }
            (parse_options(options)?, key_text)
        } else {
            (Options::default(), rest)
        };
        let key = PublicKey::from_openssh(key_text).map_err(|e| format!("invalid public key: {e}"))?;
        Ok(AllowedSigner { line: number, principals, options, key: key.key_data().clone() })
    }

    /// The first whitespace-separated field of `text` (a field may be double-quoted) and the rest
    /// with leading whitespace removed.
    fn next_field(text: &str) -> Result<(String, &str), String> {
        let text = text.trim_start();
        if let Some(quoted) = text.strip_prefix('"') {
            let end = quoted.find('"').ok_or("a quoted field has no closing quote")?;
            let rest = &quoted[end + 1..];
            if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
                return Err("text right after a closing quote".to_string());
            }
            return Ok((quoted[..end].to_string(), rest.trim_start()));
        }
        let end = text.find([' ', '\t']).unwrap_or(text.len());
        Ok((text[..end].to_string(), text[end..].trim_start()))
    }

    /// Splits the options field off `text`: up to the first whitespace outside double quotes.
    fn split_options(text: &str) -> Result<(&str, &str), String> {
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ' ' | '\t' if !quoted => return Ok((&text[..i], text[i..].trim_start())),
                _ => {}
            }
        }
        if quoted { Err("an option value has no closing quote".to_string()) } else { Ok((text, "")) }
    }

    /// Parses `option[,option…]` as OpenSSH's `sshsigopt_parse` does.
    fn parse_options(mut text: &str) -> Result<Options, String> {
        let mut options = Options::default();
        loop {
            let name_end = text.find(['=', ',']).unwrap_or(text.len());
            let name = &text[..name_end];
            if name.eq_ignore_ascii_case("cert-authority") && !text[name_end..].starts_with('=') {
                options.cert_authority = true;
                text = &text[name_end..];
            } else if text[name_end..].starts_with('=') {
                let (value, rest) = dequote(&text[name_end + 1..]).map_err(|e| format!("option {name}: {e}"))?;
                text = rest;
                let lower = name.to_ascii_lowercase();
                let slot_taken = match lower.as_str() {
                    "namespaces" => options.namespaces.replace(value).is_some(),
                    "valid-after" | "valid-before" => {
                        let time = parse_time(&value).ok_or_else(|| {
                            format!("invalid {lower} time {value:?} (expected YYYYMMDD[HHMM[SS]][Z])")
                        })?;
                        let slot =
                            if lower == "valid-after" { &mut options.valid_after } else { &mut options.valid_before };
                        slot.replace(time).is_some()
                    }
                    _ => return Err(format!("unsupported option {name:?}")),
                };
                if slot_taken {
                    return Err(format!("option {name} is given twice"));
                }
            } else {
                return Err(format!("unsupported option {name:?}"));
            }
            if text.is_empty() {
                break;
            }
            text = text.strip_prefix(',').ok_or_else(|| format!("unexpected {text:?} after an option"))?;
            if text.is_empty() {
                return Err("the options end with a comma".to_string());
            }
        }
        if let (Some(after), Some(before)) = (options.valid_after, options.valid_before)
            && before <= after
        {
            return Err("valid-before is not later than valid-after".to_string());
        }
        Ok(options)
    }

    /// A double-quoted option value (`\"` for a quote inside) and the text after it.
    fn dequote(text: &str) -> Result<(String, &str), String> {
        let inner = text.strip_prefix('"').ok_or("the value must be in double quotes")?;
        let mut value = String::new();
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((value, &inner[i + 1..])),
                '\\' if inner[i + 1..].starts_with('"') => {
                    value.push('"');
                    chars.next();
                }
                _ => value.push(c),
            }
        }
        Err("the value has no closing quote".to_string())
    }

    /// An OpenSSH absolute time, `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, with an optional
    /// `Z` or `UTC` suffix, in seconds since the Unix epoch (always read as UTC).
    pub(super) fn parse_time(text: &str) -> Option<i64> {
        let digits = if text.len() > 1 && text.ends_with(['Z', 'z']) {
            &text[..text.len() - 1]
        } else if text.len() > 3 && text[text.len() - 3..].eq_ignore_ascii_case("utc") {
            &text[..text.len() - 3]
        } else {
            text
        };
        if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let field = |range: std::ops::Range<usize>| digits.get(range).map_or(Ok(0), str::parse::<i64>);
        let (year, month, day) = (field(0..4).ok()?, field(4..6).ok()?, field(6..8).ok()?);
        let (hour, minute, second) = (field(8..10).ok()?, field(10..12).ok()?, field(12..14).ok()?);
        let small = |n: i64| i8::try_from(n).ok();
        // jiff refuses a date or time that does not exist (2023-02-29, 24:00, 12:60).
        let time = jiff::civil::DateTime::new(
            i16::try_from(year).ok()?,
            small(month)?,
            small(day)?,
            small(hour)?,
            small(minute)?,
            small(second)?,
            0,
        )
        .ok()?;
        let seconds = time.duration_since(super::EPOCH).as_secs();
        // OpenSSH treats 0 as "not set" and refuses it.
        (seconds != 0).then_some(seconds)
    }

    /// OpenSSH's `match_pattern_list`: comma-separated `*`/`?` patterns, a `!` prefix negates,
    /// and a negated match wins.
    pub(super) fn match_pattern_list(text: &str, list: &str) -> bool {
        let mut matched = false;
        for pattern in list.split(',') {
            let (negated, pattern) = match pattern.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, pattern),
            };
            if match_pattern(text.as_bytes(), pattern.as_bytes()) {
                if negated {
                    return false;
                }
                matched = true;
            }
        }
        matched
    }

    fn match_pattern(text: &[u8], pattern: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|skip| match_pattern(&text[skip..], rest)),
            Some((b'?', rest)) => !text.is_empty() && match_pattern(&text[1..], rest),
            Some((c, rest)) => text.first() == Some(c) && match_pattern(&text[1..], rest),
        }
    }
}

/// OpenPGP signatures, checked with rpgp against the policy's armored public keys.
mod openpgp {
    use pgp::composed::{Deserializable as _, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
    use pgp::packet::{Signature, SignatureType};
    use pgp::types::{Fingerprint, KeyDetails as _, KeyId, Tag};

    use super::format_utc;

    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

    /// Checks an armored detached signature over `payload` and returns the primary user id of
    /// the listed key that made it, or why it is not good.
    pub(super) fn check(armored: &[u8], payload: &[u8], keys: Option<&str>) -> Result<String, String> {
        let (sig, _) =
            DetachedSignature::from_armor_single(armored).map_err(|e| format!("malformed OpenPGP signature: {e}"))?;
        let sig = sig.signature;
        if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
            return Err("the OpenPGP signature is not a signature over data".to_string());
        }
        let issuer = describe_issuer(&sig);
        let Some(text) = keys.filter(|t| !t.trim().is_empty()) else {
            return Err(format!("signed by an OpenPGP key ({issuer}) but the policy has no openpgpKeys"));
        };
        let certs = parse_keys(text)?;
        // A signature without issuer (allowed, if rare) is tried against every key.
        let anonymous = sig.issuer_fingerprint().is_empty() && sig.issuer_key_id().is_empty();
        let issued_by = |fingerprint: Fingerprint, key_id: KeyId| {
            anonymous
                || sig.issuer_fingerprint().iter().any(|f| **f == fingerprint)
                || sig.issuer_key_id().iter().any(|k| **k == key_id)
        };
        let mut refusal = None;
        for cert in &certs {
            let outcome = if issued_by(cert.primary_key.fingerprint(), cert.primary_key.legacy_key_id()) {
                check_by_primary(&sig, payload, cert)
            } else if let Some(sub) =
                cert.public_subkeys.iter().find(|s| issued_by(s.key.fingerprint(), s.key.legacy_key_id()))
            {
                check_by_subkey(&sig, payload, cert, sub)
            } else {
                continue;
            };
            match outcome {
                Ok(()) => return Ok(primary_user_id(cert)),
                Err(why) => {
                    refusal.get_or_insert(why);
                }
            }
        }
        Err(refusal.unwrap_or_else(|| format!("signed by an OpenPGP key that is not in openpgpKeys ({issuer})")))
    }

    fn check_by_primary(sig: &Signature, payload: &[u8], cert: &SignedPublicKey) -> Result<(), String> {
        let fingerprint = hex(cert.primary_key.fingerprint().as_bytes());
        sig.verify(&cert.primary_key, payload).map_err(|_| {
            format!("bad OpenPGP signature by key {fingerprint}: the commit does not match what was signed")
        })?;
        check_primary_usable(cert)?;
        let expiry = newest(self_signatures(cert)).and_then(Signature::key_expiration_time);
        check_expiry(sig, cert.primary_key.created_at().as_secs(), expiry, "key", &fingerprint)
    }

    fn check_by_subkey(
        sig: &Signature,
        payload: &[u8],
        cert: &SignedPublicKey,
        sub: &SignedPublicSubKey,
    ) -> Result<(), String> {
        let fingerprint = hex(sub.key.fingerprint().as_bytes());
        sig.verify(&sub.key, payload).map_err(|_| {
            format!("bad OpenPGP signature by subkey {fingerprint}: the commit does not match what was signed")
        })?;
        check_primary_usable(cert)?;
        let is_revoked = sub.signatures.iter().any(|s| {
            s.typ() == Some(SignatureType::SubkeyRevocation)
                && s.verify_subkey_binding(&cert.primary_key, &sub.key).is_ok()
        });
        if is_revoked {
            return Err(format!("the OpenPGP subkey {fingerprint} is revoked"));
        }
        let binding = newest(sub.signatures.iter().filter(|s| {
            s.typ() == Some(SignatureType::SubkeyBinding)
                && s.verify_subkey_binding(&cert.primary_key, &sub.key).is_ok()
        }))
        .ok_or_else(|| format!("the OpenPGP subkey {fingerprint} is not bound to its primary key"))?;
        // A signing subkey must also sign the primary key back, or anyone could claim it.
        let back_signed = binding
            .embedded_signature()
            .is_some_and(|back| back.verify_primary_key_binding(&sub.key, &cert.primary_key).is_ok());
        if !binding.key_flags().sign() || !back_signed {
            return Err(format!("the OpenPGP subkey {fingerprint} is not certified for signing"));
        }
        check_expiry(sig, sub.key.created_at().as_secs(), binding.key_expiration_time(), "subkey", &fingerprint)
    }

    /// Refuses a signature whose primary key is revoked.
    fn check_primary_usable(cert: &SignedPublicKey) -> Result<(), String> {
        let is_revoked = cert.details.revocation_signatures.iter().any(|s| s.verify_key(&cert.primary_key).is_ok());
        if is_revoked {
            return Err(format!("the OpenPGP key {} is revoked", hex(cert.primary_key.fingerprint().as_bytes())));
        }
        Ok(())
    }

    /// Refuses a signature made after its key expired (`expiry` counts from the key's creation).
    fn check_expiry(
        sig: &Signature,
        created: u32,
        expiry: Option<pgp::types::Duration>,
        what: &str,
        fingerprint: &str,
    ) -> Result<(), String> {
        let (Some(expiry), Some(signed)) = (expiry, sig.created()) else {
            return Ok(());
        };
        if expiry.as_secs() == 0 {
            return Ok(());
        }
        let expired = i64::from(created) + i64::from(expiry.as_secs());
        if i64::from(signed.as_secs()) > expired {
            return Err(format!(
                "the OpenPGP signature was made at {}, after {what} {fingerprint} expired at {}",
                format_utc(signed.as_secs().into()),
                format_utc(expired)
            ));
        }
        Ok(())
    }

    /// The primary key's good self-signatures: direct-key signatures and user id certifications.
    fn self_signatures(cert: &SignedPublicKey) -> impl Iterator<Item = &Signature> {
        let key = &cert.primary_key;
        let direct = cert.details.direct_signatures.iter().filter(|s| s.verify_key(key).is_ok());
        let users = cert.details.users.iter().flat_map(move |user| {
            user.signatures.iter().filter(move |s| s.verify_certification(key, Tag::UserId, &user.id).is_ok())
        });
        direct.chain(users)
    }

    fn newest<'a>(signatures: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
        signatures.max_by_key(|s| s.created().map(pgp::types::Timestamp::as_secs))
    }

    /// The user id marked primary (else the first) among those the key certifies itself; the
    /// fingerprint when there is none.
    fn primary_user_id(cert: &SignedPublicKey) -> String {
        let key = &cert.primary_key;
        let certified: Vec<_> = cert
            .details
            .users
            .iter()
            .filter(|u| u.signatures.iter().any(|s| s.verify_certification(key, Tag::UserId, &u.id).is_ok()))
            .collect();
        certified
            .iter()
            .find(|u| u.is_primary())
            .or(certified.first())
            .map_or_else(|| hex(key.fingerprint().as_bytes()), |u| String::from_utf8_lossy(u.id.id()).into_owned())
    }

    /// The issuer named by a signature, for messages: its key id, else its fingerprint.
    fn describe_issuer(sig: &Signature) -> String {
        if let Some(id) = sig.issuer_key_id().first() {
            format!("key id {}", hex(id.as_ref()))
        } else if let Some(fingerprint) = sig.issuer_fingerprint().first() {
            format!("fingerprint {}", hex(fingerprint.as_bytes()))
        } else {
            "no issuer given".to_string()
        }
    }

    /// Every transferable public key in the armored blocks of `text`.
    fn parse_keys(text: &str) -> Result<Vec<SignedPublicKey>, String> {
        let mut keys = Vec::new();
        let mut rest = text;
        let mut block = 0;
        while let Some(start) = rest.find(BEGIN) {
            block += 1;
            let end = rest[start..]
                .find(END)
                .map(|e| start + e + END.len())
                .ok_or_else(|| format!("openpgpKeys block {block} has no {END} line"))?;
            let armored = &rest[start..end];
            rest = &rest[end..];
            let (parsed, _) = SignedPublicKey::from_armor_many(armored.as_bytes())
                .map_err(|e| format!("openpgpKeys block {block} cannot be read: {e}"))?;
            for key in parsed {
                keys.push(key.map_err(|e| format!("openpgpKeys block {block} cannot be read: {e}"))?);
            }
        }
        if block == 0 {
            return Err(format!("openpgpKeys holds no armored public key ({BEGIN})"));
        }
        Ok(keys)
    }

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write as _;
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ssh::{ParseError, match_pattern_list, parse_allowed_signers, parse_time};
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmRfg03rz41nUSpar7vo7pqoU197BQQt8VcLog+gR2o";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBD8LawI+jvuQth99f7OTT3vseoIqPpBN2Q6BFDNIqzMV6AbS8sR/68FbsLWSew6U2BcKJzlHy7RwALtjYNBE1Zg=";

    fn parse_error(text: &str) -> ParseError {
        parse_allowed_signers(text).expect_err("the text is malformed")
    }

    #[test]
    fn allowed_signers_plain_lines_with_comments_and_blank_lines() {
        let text = format!(
            "# release keys\n\nrelease@retail.example {ED25519} laptop key\n  a@x.example,*@y.example {ECDSA}\n"
        );
        let signers = parse_allowed_signers(&text).expect("valid");
        assert_eq!(signers.len(), 2);
        assert_eq!((signers[0].line, signers[0].principals.as_str()), (3, "release@retail.example"));
        assert_eq!(signers[0].options, ssh::Options::default());
        assert_eq!((signers[1].line, signers[1].principals.as_str()), (4, "a@x.example,*@y.example"));
        assert_ne!(signers[0].key, signers[1].key);
    }

    #[test]
    fn allowed_signers_options() {
        let text = format!(
            "\"release bot\" namespaces=\"git,file\",VALID-AFTER=\"20240101\",valid-before=\"20250630123000Z\" {ED25519}\n\
             ca@x.example cert-authority {ECDSA}\n"
        );
        let signers = parse_allowed_signers(&text).expect("valid");
        assert_eq!(signers[0].principals, "release bot");
        let options = &signers[0].options;
        assert_eq!(options.namespaces.as_deref(), Some("git,file"));
        assert_eq!(options.valid_after, Some(1_704_067_200));
        assert_eq!(options.valid_before, Some(1_751_286_600));
        assert!(!options.cert_authority);
        assert!(signers[1].options.cert_authority);
    }

    #[test]
    fn allowed_signers_errors_name_the_line() {
        let cases = [
            ("a@x.example".to_string(), "missing key after the principals"),
            ("a@x.example ssh-ed25519 AAAAnotakey".to_string(), "invalid public key"),
            (format!("a@x.example namespaces=git {ED25519}"), "option namespaces: the value must be in double quotes"),
            (format!("a@x.example no-touch-required=\"x\" {ED25519}"), "unsupported option \"no-touch-required\""),
            (format!("a@x.example valid-after=\"2024-01-01\" {ED25519}"), "invalid valid-after time \"2024-01-01\""),
            (
                format!("a@x.example valid-after=\"20250101\",valid-before=\"20240101\" {ED25519}"),
                "valid-before is not later",
            ),
            (
                format!("a@x.example namespaces=\"git\",namespaces=\"file\" {ED25519}"),
                "option namespaces is given twice",
            ),
            (format!("a@x.example namespaces=\"git {ED25519}"), "an option value has no closing quote"),
            (format!("a@x.example namespaces=\"git\", {ED25519}"), "the options end with a comma"),
            ("a@x.example namespaces=\"git\"".to_string(), "missing key after the options"),
            (format!("\"a@x.example {ED25519}"), "a quoted field has no closing quote"),
        ];
        for (line, expected) in cases {
            let error = parse_error(&format!("# header\n{ED25519_LINE}\n{line}\n"));
            assert_eq!(error.line, 3, "{line}");
            assert!(error.message.contains(expected), "{line}: {:?} does not contain {expected:?}", error.message);
            assert!(error.to_string().starts_with("allowedSigners line 3: "), "{error}");
        }
    }

    const ED25519_LINE: &str =
        "ok@x.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmRfg03rz41nUSpar7vo7pqoU197BQQt8VcLog+gR2o";

    #[test]
    fn ssh_times() {
        assert_eq!(parse_time("19700102"), Some(86_400));
        assert_eq!(parse_time("20240229"), Some(1_709_164_800));
        assert_eq!(parse_time("202402291230"), Some(1_709_164_800 + 12 * 3600 + 30 * 60));
        assert_eq!(parse_time("20240229123045Z"), Some(1_709_164_800 + 12 * 3600 + 30 * 60 + 45));
        assert_eq!(parse_time("20240229UTC"), Some(1_709_164_800));
        for bad in
            ["", "Z", "2024", "20230229", "20241301", "20240100", "202401011260", "2024010112", "2024-1-01", "19700101"]
        {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn ssh_times_at_edge_dates() {
        // Leap days: every fourth year, not a century's unless it divides by 400.
        assert_eq!(parse_time("20000229"), Some(951_782_400));
        assert_eq!(parse_time("19000229"), None);
        assert_eq!(parse_time("21000229"), None);
        // Year boundaries, the last second of a day, and before the epoch.
        assert_eq!(parse_time("19991231235959"), Some(946_684_799));
        assert_eq!(parse_time("20000101"), Some(946_684_800));
        assert_eq!(parse_time("19691231"), Some(-86_400));
        assert_eq!(parse_time("19691231235959Z"), Some(-1));
        assert_eq!(parse_time("00000101"), Some(-62_167_219_200));
        assert_eq!(parse_time("99991231235959"), Some(253_402_300_799));
        for bad in ["20241231240000", "20241231236000", "20241231235960", "20240431"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_709_164_800 + 45_045), "2024-02-29 12:30:45 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(946_684_799), "1999-12-31 23:59:59 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc(-86_400 * 365), "1969-01-01 00:00:00 UTC");
        assert_eq!(format_utc(-62_167_219_200), "0000-01-01 00:00:00 UTC");
        assert_eq!(format_utc(253_402_300_799), "9999-12-31 23:59:59 UTC");
        assert_eq!(format_utc(i64::MAX), format!("{} s from 1970-01-01 00:00:00 UTC", i64::MAX));
        // What is formatted reads back (as an OpenSSH time without the separators).
        for seconds in [-86_400, -1, 1, 86_399, 951_782_400, 1_709_164_800 + 45_045, 4_102_444_800] {
            let digits: String = format_utc(seconds).chars().filter(char::is_ascii_digit).collect();
            assert_eq!(parse_time(&digits), Some(seconds), "{seconds}");
        }
    }

    #[test]
    fn namespace_patterns() {
        assert!(match_pattern_list("git", "git"));
        assert!(match_pattern_list("git", "file,git"));
        assert!(match_pattern_list("git", "g*"));
        assert!(match_pattern_list("git", "g?t"));
        assert!(!match_pattern_list("git", "file"));
        assert!(!match_pattern_list("git", "gi"));
        assert!(!match_pattern_list("git", "*,!git"));
        assert!(!match_pattern_list("git", ""));
    }

    fn verified() -> Signature {
        Signature::Verified { signer: "a@x.example".into(), kind: SignatureKind::Ssh }
    }

    #[test]
    fn verdict_under_each_mode() {
        let invalid = Signature::Invalid { reason: "bad".into() };
        let cases = [
            (verified(), VerifyMode::Enforce, true),
            (Signature::Unsigned, VerifyMode::Enforce, false),
            (invalid.clone(), VerifyMode::Enforce, false),
            (Signature::Unsigned, VerifyMode::Inform, true),
            (invalid.clone(), VerifyMode::Inform, true),
            (invalid, VerifyMode::Off, true),
        ];
        for (signature, mode, allowed) in cases {
            assert_eq!(Verdict::new(signature.clone(), mode).allowed, allowed, "{signature:?} under {mode:?}");
        }
        assert_eq!(Verdict::new(verified(), VerifyMode::Enforce).reason(), None);
        assert_eq!(
            Verdict::new(Signature::Unsigned, VerifyMode::Enforce).reason().as_deref(),
            Some("the commit is not signed")
        );
    }

    const UNSIGNED: &[u8] = b"tree aaff74984cccd156a469afa7d9ab10e4777beb24\n\
        author F <f@x> 1795569372 +0000\ncommitter F <f@x> 1795569372 +0000\n\nmessage\n";

    fn policy(mode: VerifyMode) -> Verify {
        Verify { mode, allowed_signers: Some(ED25519_LINE.to_string()), openpgp_keys: None }
    }

    #[test]
    fn raw_commit_objects() {
        assert_eq!(check_signature(UNSIGNED, &policy(VerifyMode::Enforce)), Signature::Unsigned);
        assert_eq!(committer_time(UNSIGNED), Some(1_795_569_372));
        let odd = b"tree aaff74984cccd156a469afa7d9ab10e4777beb24\n\
            author F <f@x> 1 +0000\ncommitter F <f@x> 1 +0000\ngpgsig -----BEGIN SIGNED MESSAGE-----\n x\n \
            -----END SIGNED MESSAGE-----\n\nmessage\n";
        let Signature::Invalid { reason } = check_signature(odd, &policy(VerifyMode::Enforce)) else {
            panic!("an X.509 signature is not verified")
        };
        assert!(reason.contains("X.509"), "{reason}");
        let broken_ssh = b"tree aaff74984cccd156a469afa7d9ab10e4777beb24\n\
            author F <f@x> 1 +0000\ncommitter F <f@x> 1 +0000\ngpgsig -----BEGIN SSH SIGNATURE-----\n AAAA\n \
            -----END SSH SIGNATURE-----\n\nmessage\n";
        let Signature::Invalid { reason } = check_signature(broken_ssh, &policy(VerifyMode::Enforce)) else {
            panic!("a broken signature is not verified")
        };
        assert!(reason.starts_with("malformed SSH signature"), "{reason}");
        // Off does not even parse the object.
        let verdict = verify_commit_object(b"not a commit", &policy(VerifyMode::Off));
        assert_eq!(verdict, Verdict { signature: Signature::Unsigned, allowed: true });
    }
}
