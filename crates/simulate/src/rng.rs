//! The simulation's randomness: SplitMix64, written out here so that a seed gives the same
//! numbers on every machine and with every version of every crate (a dependency's generator may
//! change its stream between releases). Not for anything secret.

/// A SplitMix64 generator (Steele, Lea and Flood, 2014): 64 bits of state, one multiply-xorshift
/// mix per number, every seed a good stream.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator of its own for `stream` (a cluster's index): the same seed and stream give
    /// the same numbers whatever else the simulation draws, so one cluster's randomness does
    /// not depend on how many numbers the others took.
    pub fn stream(seed: u64, stream: u64) -> Rng {
        let mut mixer = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Rng(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1), from the top 53 bits.
    #[expect(clippy::cast_precision_loss, reason = "53 bits fit a double exactly")]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A number in `0..n` (`n` > 0), without the bias of a plain modulo.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no answer");
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Whether an event of probability `p` happens.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// `k` distinct indexes of `0..n`, in increasing order (a partial Fisher–Yates shuffle).
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut pool: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + usize::try_from(self.below((n - i) as u64)).expect("below n fits usize");
            pool.swap(i, j);
        }
        let mut chosen = pool[..k].to_vec();
        chosen.sort_unstable();
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_numbers_everywhere() {
        // Recorded once: the reference SplitMix64 stream of seed 1234567.
        let mut rng = Rng::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        let mut a = Rng::stream(7, 3);
        let mut b = Rng::stream(7, 3);
        assert_eq!((a.next_u64(), a.unit()), (b.next_u64(), b.unit()));
        assert_ne!(Rng::stream(7, 3).next_u64(), Rng::stream(7, 4).next_u64());
    }

    #[test]
    fn choose_picks_distinct_indexes_in_order() {
        let mut rng = Rng::new(1);
        let chosen = rng.choose(100, 10);
        assert_eq!(chosen.len(), 10);
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
        assert!(chosen.iter().all(|i| *i < 100));
        assert_eq!(rng.choose(3, 10), [0, 1, 2]);
        assert!((0..1_000).all(|_| rng.below(7) < 7));
    }
}
