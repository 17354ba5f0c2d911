//! The one hash of the evidence chain: a row's link is `SHA-256(prev_hash ‖ "\n" ‖ text)` in
//! lower-case hex, whatever the row's kind (`evidence.rs` writes a policy result's text,
//! `overrides.rs` an override's). Part of the chain: never changes. Not the rows' texts, nor
//! where the chain's head is kept.

use sha2::{Digest as _, Sha256};

/// The hash of a row whose fields read `text`, after the row hashed `prev`.
pub(super) fn link_hash(prev: &str, text: &str) -> String {
    let mut sha = Sha256::new();
    sha.update(prev.as_bytes());
    sha.update(b"\n");
    sha.update(text.as_bytes());
    hex::encode(sha.finalize())
}
