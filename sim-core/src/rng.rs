//! Named random streams. One scenario seed; each component asks for its own stream by
//! name ("kube-proxy/node-2", "nodeport-allocator"). A stream is a ChaCha8 generator
//! seeded with the scenario seed and positioned on stream number `stable_hash(name)`,
//! so streams are independent and adding one never shifts another's draws.
//! The hash is FNV-1a 64, which we own: `std`'s `DefaultHasher` may change between
//! Rust releases and would silently change every scenario's output.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The generator type handed to components.
pub type SimRng = ChaCha8Rng;

/// FNV-1a, 64 bit. Stable across platforms and Rust versions.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Factory of independent, reproducible generators for one scenario run.
#[derive(Clone, Debug)]
pub struct RngStreams {
    seed: u64,
}

impl RngStreams {
    pub fn new(seed: u64) -> Self {
        RngStreams { seed }
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// A fresh generator for `name`. Calling twice with the same name gives the same
    /// sequence: keep the generator instead of asking again.
    pub fn stream(&self, name: &str) -> SimRng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stable_hash(name));
        rng
    }
}

/// Uniform integer in `0..n` without modulo bias (Lemire's method with rejection).
pub fn below(rng: &mut SimRng, n: u64) -> u64 {
    assert!(n > 0, "below(0) has no values to choose from");
    loop {
        let x = rng.next_u64();
        let m = (x as u128) * (n as u128);
        let low = m as u64;
        if low >= n.wrapping_neg() % n {
            return (m >> 64) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(stable_hash(""), 0xcbf29ce484222325);
        assert_eq!(stable_hash("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(stable_hash("foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn same_seed_and_name_give_same_draws() {
        let s = RngStreams::new(7);
        let a: Vec<u32> = (0..8)
            .map({
                let mut r = s.stream("kube-proxy/node-1");
                move |_| r.next_u32()
            })
            .collect();
        let b: Vec<u32> = (0..8)
            .map({
                let mut r = s.stream("kube-proxy/node-1");
                move |_| r.next_u32()
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn streams_are_independent_of_each_other_and_of_the_seed() {
        let s = RngStreams::new(7);
        let mut a = s.stream("a");
        let mut b = s.stream("b");
        let mut a_other_seed = RngStreams::new(8).stream("a");
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| a_other_seed.next_u64()).collect();
        assert_ne!(xa, xb);
        assert_ne!(xa, xc);
        // Drawing from one stream does not move another.
        let mut a2 = s.stream("a");
        let mut b2 = s.stream("b");
        for _ in 0..100 {
            b2.next_u64();
        }
        assert_eq!(a2.next_u64(), xa[0]);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = RngStreams::new(1).stream("t");
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = below(&mut r, 5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
