//! Sprig's functions that make random values (`randAlphaNum`, `randAlpha`, `randNumeric`,
//! `randAscii`, `randInt`, `uuidv4`, `shuffle`), deterministic from a seed the caller gives:
//! the n-th random byte block of a render is SHA-256 of the seed and n, so that the same
//! render of the same cluster gives the same values, and nobody without the seed can predict
//! them. A render that needs unpredictable values must pass a secret seed.
//!
//! Sprig's key, certificate and password functions (`genCA`, `genPrivateKey`, `htpasswd`,
//! `encryptAES`, ...) draw from the same stream: see the module `crypto`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::Digest as _;

use super::{int_arg, str_arg};
use crate::funcs::Funcs;
use crate::value::{Arity, Value};

pub(crate) mod crypto;

/// A stream of bytes from SHA-256(seed ‖ counter).
#[derive(Debug)]
pub(crate) struct Stream {
    seed: Vec<u8>,
    counter: u64,
    block: Vec<u8>,
}

impl Stream {
    fn byte(&mut self) -> u8 {
        if self.block.is_empty() {
            let mut hasher = sha2::Sha256::new();
            hasher.update(&self.seed);
            hasher.update(self.counter.to_be_bytes());
            self.counter += 1;
            self.block = hasher.finalize().to_vec();
        }
        self.block.pop().expect("refilled above")
    }

    /// A uniform index below `n` (rejection sampling, no modulo bias).
    fn below(&mut self, n: usize) -> usize {
        let n32 = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        let limit = u32::MAX - u32::MAX % n32;
        loop {
            let x = u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()]);
            if x < limit {
                return usize::try_from(x % n32).unwrap_or(0);
            }
        }
    }
}

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const NUMERIC: &[u8] = b"0123456789";

/// Whether a render drew from its random stream: a render that did not gives the same output
/// whatever the seed (so a caller with a secret seed need not render twice).
#[derive(Debug, Clone)]
pub struct Draws(Arc<Mutex<Stream>>);

impl Draws {
    /// Whether any random byte was drawn since the functions were added.
    pub fn any(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).counter > 0
    }
}

/// Adds the random functions and the key, certificate and password functions, drawing from
/// `seed`; certificates start at `now_unix` (Unix seconds, the caller's time). The answer tells
/// whether the functions were used.
pub fn add_to(funcs: &mut Funcs, seed: &[u8], now_unix: i64) -> Draws {
    let stream = Arc::new(Mutex::new(Stream { seed: seed.to_vec(), counter: 0, block: Vec::new() }));
    let from = |set: &'static [u8]| {
        let stream = Arc::clone(&stream);
        move |_: &dyn crate::value::Context, a: &[Value]| -> Result<Value, String> {
            let n = usize::try_from(int_arg(&a[0])?).unwrap_or(0);
            if n > super::MAX_MADE {
                return Err(format!("cannot make more than {} random characters", super::MAX_MADE));
            }
            let mut s = stream.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(Value::String((0..n).map(|_| char::from(set[s.below(set.len())])).collect()))
        }
    };
    funcs.insert("randAlphaNum", Arity::Exactly(1), from(ALNUM));
    funcs.insert("randAlpha", Arity::Exactly(1), from(ALPHA));
    funcs.insert("randNumeric", Arity::Exactly(1), from(NUMERIC));
    {
        let stream = Arc::clone(&stream);
        funcs.insert("randAscii", Arity::Exactly(1), move |_, a| {
            let n = usize::try_from(int_arg(&a[0])?).unwrap_or(0);
            if n > super::MAX_MADE {
                return Err(format!("cannot make more than {} random characters", super::MAX_MADE));
            }
            let mut s = stream.lock().unwrap_or_else(PoisonError::into_inner);
            let printable: Vec<u8> = (32..127).collect();
            Ok(Value::String((0..n).map(|_| char::from(printable[s.below(printable.len())])).collect()))
        });
    }
    {
        let stream = Arc::clone(&stream);
        funcs.insert("randInt", Arity::Exactly(2), move |_, a| {
            let (min, max) = (int_arg(&a[0])?, int_arg(&a[1])?);
            if max <= min {
                return Err("invalid argument to Intn".to_string());
            }
            let span = usize::try_from(max - min).unwrap_or(usize::MAX);
            let mut s = stream.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(Value::Int(min + i64::try_from(s.below(span)).unwrap_or(0)))
        });
    }
    {
        let stream = Arc::clone(&stream);
        funcs.insert("uuidv4", Arity::Exactly(0), move |_, _| {
            let mut s = stream.lock().unwrap_or_else(PoisonError::into_inner);
            let mut b: Vec<u8> = (0..16).map(|_| s.byte()).collect();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let hex = b.iter().fold(String::new(), |mut hex, x| {
                let _ = write!(hex, "{x:02x}");
                hex
            });
            Ok(Value::String(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])))
        });
    }
    {
        let stream = Arc::clone(&stream);
        funcs.insert("shuffle", Arity::Exactly(1), move |_, a| {
            let mut chars: Vec<char> = str_arg(&a[0])?.chars().collect();
            let mut s = stream.lock().unwrap_or_else(PoisonError::into_inner);
            for i in (1..chars.len()).rev() {
                let j = s.below(i + 1);
                chars.swap(i, j);
            }
            Ok(Value::String(chars.into_iter().collect()))
        });
    }
    crypto::add_to(funcs, &stream, now_unix);
    Draws(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Templates};

    fn render(seed: &[u8]) -> String {
        render_text(seed, "{{ randAlphaNum 12 }} {{ uuidv4 }}").0
    }

    fn render_text(seed: &[u8], text: &str) -> (String, bool) {
        let mut funcs = Funcs::new();
        let draws = add_to(&mut funcs, seed, 0);
        let mut set = Templates::new(funcs, Options::default());
        set.parse("t", text).unwrap();
        (set.execute("t", &Value::Nil).unwrap(), draws.any())
    }

    #[test]
    fn draws_tell_whether_a_render_used_randomness() {
        assert!(render_text(b"a", "{{ randAlpha 3 }}").1);
        assert!(render_text(b"a", "{{ genPrivateKey \"ecdsa\" | len }}").1);
        assert!(!render_text(b"a", "{{ if false }}{{ randAlpha 3 }}{{ end }}plain").1);
        assert!(!render_text(b"a", "{{ randAlpha 0 }}").1);
    }

    #[test]
    fn random_values_follow_the_seed() {
        assert_eq!(render(b"a"), render(b"a"));
        assert_ne!(render(b"a"), render(b"b"));
        let out = render(b"a");
        let (word, uuid) = out.split_once(' ').unwrap();
        assert_eq!(word.len(), 12);
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }
}
