//! Names with one home: the rules a name must follow, written once and used by the fleet model,
//! the report's validation, the agent's config and the hub. Each is a newtype read with
//! [`FromStr`] or `#[serde(try_from = "String")]`, so a value of the type has been checked;
//! each serializes as the plain string it was read from.
//!
//! - [`DnsSubdomain`]: Kubernetes object names, and Flotilla's cluster, placement, policy and
//!   repository names (`IsDNS1123Subdomain`: dot-separated DNS labels, at most 253).
//! - [`DnsLabel`]: namespaces (`IsDNS1123Label`: at most 63, no dots).
//! - [`LabelKey`], [`LabelValue`]: Kubernetes label keys (an optional DNS-subdomain prefix and
//!   `/`, then a name) and values (`IsQualifiedName`, `IsValidLabelValue`).
//! - [`GitUrl`]: what git fetches: `https`, `http`, `git`, `ssh` and `file` URLs, and the
//!   scp-like `user@host:path` that git reads as ssh (`git@github.com:org/repo.git`).
//! - [`ChartUrl`]: where a Helm chart is published: `https`/`http` chart repositories and `oci`
//!   registries.
//! - [`CommitId`]: a full git object id, SHA-1 (40) or SHA-256 (64) lower-case hex digits.
//!
//! Not names that only look alike: a namespace glob of a scope (`bt-*`) and a token's pattern
//! are their modules'.

use std::fmt;
use std::str::FromStr;

/// A name that breaks its rule: displayed as the name, quoted, then what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} {expected}")]
pub struct Invalid {
    pub text: String,
    /// What a name of the kind is, beginning "is not".
    pub expected: &'static str,
}

macro_rules! name {
    ($(#[$doc:meta])* $name:ident, $expected:expr, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What a name of this kind is, after "is not".
            pub const EXPECTED: &'static str = $expected;

            /// Whether `text` follows the rule, or why not.
            pub fn check(text: &str) -> Result<(), Invalid> {
                let rule: fn(&str) -> bool = $rule;
                if rule(text) {
                    Ok(())
                } else {
                    Err(Invalid { text: text.to_string(), expected: Self::EXPECTED })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Invalid;

            fn from_str(text: &str) -> Result<$name, Invalid> {
                $name::check(text).map(|()| $name(text.to_string()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;

            fn try_from(text: String) -> Result<$name, Invalid> {
                $name::check(&text).map(|()| $name(text))
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // A name reads as the string it is, so that a `&str` parameter takes `&name` and a
        // map keyed by names is looked up with a `&str`.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name!(
    /// A DNS-1123 subdomain: Kubernetes object names, and Flotilla's cluster, placement, policy
    /// and repository names.
    DnsSubdomain,
    "is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253)",
    |text| !text.is_empty() && text.len() <= 253 && text.split('.').all(is_dns_label)
);

name!(
    /// A DNS-1123 label: namespace names.
    DnsLabel,
    "is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)",
    |text| text.len() <= 63 && is_dns_label(text)
);

name!(
    /// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63.
    LabelKey,
    "is not a valid label key (an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)",
    |key| {
        let (prefix, name) = key.split_once('/').map_or((None, key), |(prefix, name)| (Some(prefix), name));
        prefix.is_none_or(|p| DnsSubdomain::check(p).is_ok()) && is_label_name(name)
    }
);

name!(
    /// A label value: empty, or at most 63 like a key's name.
    LabelValue,
    "is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)",
    |value| value.is_empty() || is_label_name(value)
);

name!(
    /// A URL git can fetch: by scheme (`https`, `http`, `git`, `ssh`, `file`) with something
    /// after it, or scp-like `user@host:path` (no `://`, no `/` before the colon), which git
    /// reads as ssh.
    GitUrl,
    "is not a git URL (https, http, git, ssh or file, or user@host:path)",
    |url| {
        const SCHEMES: [&str; 5] = ["https://", "http://", "git://", "ssh://", "file://"];
        let with_scheme = SCHEMES.iter().any(|s| url.len() > s.len() && url.starts_with(s));
        let scp_like = !url.contains("://")
            && url.split_once(':').is_some_and(|(user_host, path)| {
                !path.is_empty()
                    && !user_host.contains('/')
                    && user_host.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
            });
        with_scheme || scp_like
    }
);

name!(
    /// Where a Helm chart is published: a chart repository (`https://` or `http://`, the folder
    /// of its `index.yaml`) or an OCI registry (`oci://host[:port]/path`). A host, then nothing
    /// that a URL cannot hold (no spaces, no fragment).
    ChartUrl,
    "is not a chart repository URL (https://HOST/PATH, http://HOST/PATH or oci://HOST/PATH)",
    |url| {
        const SCHEMES: [&str; 3] = ["https://", "http://", "oci://"];
        SCHEMES.iter().any(|s| {
            url.strip_prefix(s).is_some_and(|rest| {
                let host = rest.split(['/', '?']).next().unwrap_or_default();
                !host.is_empty()
                    && !host.contains('@')
                    && rest.bytes().all(|b| b.is_ascii_graphic() && b != b'#' && b != b'\\')
                    && (*s != "oci://" || !rest.contains('?'))
            })
        })
    }
);

/// A full git object id: SHA-1 (40) or SHA-256 (64) lower-case hex digits, held as its bytes
/// (so it is `Copy`, as git libraries hold ids) and written back as the hex it was read from.
/// The agent, the hub and `flotilla-git` use this one type.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitId {
    /// The id's bytes, zero after `len`.
    bytes: [u8; 32],
    /// 20 (SHA-1) or 32 (SHA-256).
    len: u8,
}

impl CommitId {
    /// What a commit id is, after "is not".
    pub const EXPECTED: &'static str = "is not a commit id (40 or 64 lower-case hex digits)";

    /// Whether `text` is a full lower-case hex commit id, or why not.
    pub fn check(text: &str) -> Result<(), Invalid> {
        text.parse::<CommitId>().map(drop)
    }

    /// The id of `bytes`: 20 (SHA-1) or 32 (SHA-256) of them, none otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Option<CommitId> {
        if bytes.len() != 20 && bytes.len() != 32 {
            return None;
        }
        let mut id = CommitId { bytes: [0; 32], len: u8::try_from(bytes.len()).expect("20 or 32") };
        id.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(id)
    }

    /// The id's 20 or 32 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The id in lower-case hex, written into `out` (no allocation).
    fn hex<'a>(&self, out: &'a mut [u8; 64]) -> &'a str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in self.as_bytes().iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        std::str::from_utf8(&out[..2 * usize::from(self.len)]).expect("hex digits are ASCII")
    }
}

impl FromStr for CommitId {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<CommitId, Invalid> {
        let invalid = || Invalid { text: text.to_string(), expected: CommitId::EXPECTED };
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        if text.len() != 40 && text.len() != 64 {
            return Err(invalid());
        }
        let mut id = CommitId { bytes: [0; 32], len: u8::try_from(text.len() / 2).expect("20 or 32") };
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let (Some(high), Some(low)) = (digit(pair[0]), digit(pair[1])) else { return Err(invalid()) };
            id.bytes[i] = high << 4 | low;
        }
        Ok(id)
    }
}

impl TryFrom<String> for CommitId {
    type Error = Invalid;

    fn try_from(text: String) -> Result<CommitId, Invalid> {
        text.parse()
    }
}

impl From<CommitId> for String {
    fn from(id: CommitId) -> String {
        id.to_string()
    }
}

impl PartialEq<&str> for CommitId {
    fn eq(&self, other: &&str) -> bool {
        self.hex(&mut [0; 64]) == *other
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex(&mut [0; 64]))
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({self})")
    }
}

/// One dot-free DNS label: lower-case letters, digits and `-`, starting and ending alphanumeric.
fn is_dns_label(part: &str) -> bool {
    let bytes = part.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// A label's name or value: at most 63 letters, digits, `-`, `_` or `.`, starting and ending
/// alphanumeric.
pub(crate) fn is_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_follow_kubernetes() {
        for good in ["a", "store-0042", "a.b-c.d", "0", &"a".repeat(253)] {
            assert_eq!(DnsSubdomain::check(good), Ok(()), "{good}");
        }
        // The fleet and the report once took any run of the letters between alphanumeric ends:
        // `a..b` and `a.-b` are not names Kubernetes or the agent's config accept.
        for bad in ["", "a..b", "a.-b", "a-.b", ".a", "a.", "A", "a_b", &"a".repeat(254)] {
            assert!(DnsSubdomain::check(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "Store_42".parse::<DnsSubdomain>().unwrap_err().to_string(),
            r#""Store_42" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253)"#
        );
        assert!(DnsLabel::check("flotilla-system").is_ok());
        for bad in ["flotilla.system", "-a", &"a".repeat(64)] {
            assert!(DnsLabel::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for good in ["kind", "flotilla.dev/placement", "app.kubernetes.io/name", "a_b.c"] {
            assert!(LabelKey::check(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "Flotilla.dev/x", "a/b/c", "-a", &"a".repeat(64)] {
            assert!(LabelKey::check(bad).is_err(), "{bad}");
        }
        assert!(LabelValue::check("").is_ok());
        assert!(LabelValue::check("us-east_1.b").is_ok());
        assert!(LabelValue::check("a b").is_err());
    }

    /// The fleet's `Repository` refused `git@github.com:org/repo.git`, which the agent's
    /// `fleet.url` accepted and git fetches (as ssh): one rule now, git's.
    #[test]
    fn git_urls_are_what_git_fetches_scp_like_too() {
        for url in
            ["https://h/r", "http://h/r", "git://h/r", "ssh://git@h/r", "file:///srv/r", "git@github.com:org/r.git"]
        {
            assert_eq!(GitUrl::check(url), Ok(()), "{url}");
        }
        for url in ["", "https://", "/srv/r", "h:r", "@h:r", "git@:r", "git@h:", "ftp://h/r", "a/git@h:r"] {
            assert!(GitUrl::check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn chart_urls_name_a_host() {
        for url in ["https://charts.example.com/stable", "http://127.0.0.1:8080", "oci://ghcr.io/org/charts"] {
            assert_eq!(ChartUrl::check(url), Ok(()), "{url}");
        }
        for url in ["", "https://", "oci://", "ftp://h/x", "https://u:p@h/x", "https://h/a b", "oci://h/x?y", "h/x"] {
            assert!(ChartUrl::check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn commit_ids_are_full_lower_case_hex() {
        assert!(CommitId::check(&"a".repeat(40)).is_ok());
        assert!(CommitId::check(&"0".repeat(64)).is_ok());
        for bad in ["", "abc", &"A".repeat(40), &"g".repeat(40), &"a".repeat(41), "é".repeat(20).as_str()] {
            assert!(CommitId::check(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "0123ABC".parse::<CommitId>().unwrap_err().to_string(),
            r#""0123ABC" is not a commit id (40 or 64 lower-case hex digits)"#
        );
    }

    /// One commit id for the workspace: the bytes git libraries hold, the hex the report and
    /// the hub's answers carry, each to the other without loss.
    #[test]
    fn a_commit_id_is_its_bytes_and_writes_back_its_hex() {
        for hex in ["0123456789abcdef0123456789abcdef01234567", &"f0".repeat(32)] {
            let id: CommitId = hex.parse().unwrap();
            assert_eq!(id.to_string(), hex);
            assert_eq!(id, hex);
            assert_eq!(id.as_bytes().len(), hex.len() / 2);
            assert_eq!(CommitId::from_bytes(id.as_bytes()), Some(id));
            assert_eq!(serde_json::to_value(id).unwrap(), hex);
            assert_eq!(serde_json::from_value::<CommitId>(serde_json::json!(hex)).unwrap(), id);
            assert_eq!(format!("{id:?}"), format!("CommitId({hex})"));
        }
        assert_eq!(CommitId::from_bytes(&[1; 21]), None);
        let (low, high): (CommitId, CommitId) =
            (("0".repeat(39) + "1").parse().unwrap(), "1".repeat(40).parse().unwrap());
        assert!(low < high, "ordered as their hex");
    }

    #[test]
    fn names_serialize_as_their_strings() {
        let name: DnsSubdomain = serde_json::from_value(serde_json::json!("store-0042")).unwrap();
        assert_eq!(serde_json::to_value(&name).unwrap(), "store-0042");
        let error = serde_json::from_value::<GitUrl>(serde_json::json!("ftp://x")).unwrap_err().to_string();
        assert!(error.contains("is not a git URL"), "{error}");
    }
}
