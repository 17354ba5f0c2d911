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

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
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
    /// A full git object id: SHA-1 (40) or SHA-256 (64) lower-case hex digits.
    CommitId,
    "is not a commit id (40 or 64 lower-case hex digits)",
    |id| (id.len() == 40 || id.len() == 64) && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
);

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
    fn commit_ids_are_full_lower_case_hex() {
        assert!(CommitId::check(&"a".repeat(40)).is_ok());
        assert!(CommitId::check(&"0".repeat(64)).is_ok());
        for bad in ["", "abc", &"A".repeat(40), &"g".repeat(40), &"a".repeat(41)] {
            assert!(CommitId::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_serialize_as_their_strings() {
        let name: DnsSubdomain = serde_json::from_value(serde_json::json!("store-0042")).unwrap();
        assert_eq!(serde_json::to_value(&name).unwrap(), "store-0042");
        let error = serde_json::from_value::<GitUrl>(serde_json::json!("ftp://x")).unwrap_err().to_string();
        assert!(error.contains("is not a git URL"), "{error}");
    }
}
