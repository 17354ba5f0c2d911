//! Bearer tokens and join-token name patterns.
//!
//! A token is a kind prefix and 32 random bytes in hex (`flt_cluster_3f2a…`). The store keeps
//! only its SHA-256, in hex: a copy of the database does not let anyone report or read. The
//! prefix says what a token is for when one turns up in a log or a file.

use sha2::{Digest as _, Sha256};

/// The prefix of join tokens, which register clusters.
pub const JOIN_PREFIX: &str = "flt_join_";

/// The prefix of cluster tokens, which send one cluster's reports.
pub const CLUSTER_PREFIX: &str = "flt_cluster_";

/// The prefix of viewer tokens, which read the views.
pub const VIEWER_PREFIX: &str = "flt_view_";

/// A new token of a kind.
pub(super) fn new_token(prefix: &str) -> Result<String, super::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| super::Error::Random(e.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// What the store keeps of a token: its SHA-256 in lower-case hex.
pub(super) fn hash(token: &str) -> String {
    hex::encode(digest(token))
}

/// A token's SHA-256, as the in-memory index keeps it.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks a join token's cluster-name pattern: a cluster name (lower-case letters, digits, `-`
/// and `.`) in which `*` stands for any run of characters, as `store-*`.
pub(super) fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    if pattern.is_empty() || pattern.len() > 253 {
        return Err("must be 1 to 253 characters");
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'*');
    if !pattern.bytes().all(allowed) {
        return Err("may hold only lower-case letters, digits, '-', '.' and '*'");
    }
    Ok(())
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters, the empty one
/// too. Greedy with one backtrack point, so linear in practice and never exponential.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut i, mut j) = (0, 0);
    // The position after the last `*` seen, and the name position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i + 1, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((after, tried)) = star {
            // Let the last `*` swallow one more character and try again.
            i = after;
            j = tried + 1;
            star = Some((after, tried + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_hex_and_stored_as_sha256() {
        let a = new_token(CLUSTER_PREFIX).unwrap();
        let b = new_token(CLUSTER_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("flt_cluster_"));
        assert_eq!(a.len(), "flt_cluster_".len() + 64);
        // `printf %s abc | sha256sum`
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn patterns_are_cluster_names_with_stars() {
        for ok in ["store-*", "*", "store-*-eu", "prod.*.example", "exact-name"] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Store-*", "store-?", "store-[0-9]", "a b", &"a".repeat(254)] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stars_match_any_run_of_characters() {
        let cases = [
            ("store-*", "store-0042", true),
            ("store-*", "store-", true),
            ("store-*", "warehouse-1", false),
            ("store-*", "xstore-1", false),
            ("*-eu", "store-1-eu", true),
            ("*-eu", "store-1-eu-2", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abcbc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches(pattern, name), want, "{pattern} ~ {name}");
        }
        // Many stars against a long non-match stays fast.
        assert!(!matches(&"*a".repeat(50), &"a".repeat(49)));
    }
}
