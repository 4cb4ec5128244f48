//! Where `-m statistic --mode random` gets its coin. The kernel matches when
//! `(get_random_u32() & 0x7FFFFFFF) < probability_u31`; [`RngDecider`] does exactly that
//! with a seeded [`SimRng`], and [`ScriptedDecider`] follows a fixed list of outcomes so
//! that the tracer can walk every branch of a kube-proxy endpoint ladder and give each
//! outcome its exact probability.

use rand_core::Rng;
use sim_core::SimRng;

/// One probability threshold at 2^31 means "always" (`--probability 1`).
pub const ALWAYS_U31: u32 = 1 << 31;

/// The source of random decisions for statistic matches.
pub trait Decider {
    /// True with probability `threshold_u31 / 2^31`.
    fn random(&mut self, threshold_u31: u32) -> bool;
}

/// Random decisions from a seeded generator, drawn exactly like the kernel does.
#[derive(Clone, Debug)]
pub struct RngDecider {
    rng: SimRng,
}

impl RngDecider {
    pub fn new(rng: SimRng) -> Self {
        RngDecider { rng }
    }
    pub fn into_rng(self) -> SimRng {
        self.rng
    }
}

impl Decider for RngDecider {
    fn random(&mut self, threshold_u31: u32) -> bool {
        (self.rng.next_u32() & 0x7FFF_FFFF) < threshold_u31
    }
}

/// Follows `script`; past its end answers "no match" (or "match" where a no is
/// impossible, i.e. probability 1), recording every decision it was asked for.
#[derive(Clone, Debug, Default)]
pub struct ScriptedDecider {
    script: Vec<bool>,
    /// Every decision taken: (threshold, outcome), in order.
    pub taken: Vec<(u32, bool)>,
}

impl ScriptedDecider {
    pub fn new(script: Vec<bool>) -> Self {
        ScriptedDecider { script, taken: Vec::new() }
    }

    /// Probability of the path taken, as a product of the decisions' probabilities.
    pub fn probability(&self) -> f64 {
        self.taken.iter().map(|&(t, yes)| branch_probability(t, yes)).product()
    }
}

/// Probability that a decision with `threshold_u31` comes out `yes`.
pub fn branch_probability(threshold_u31: u32, yes: bool) -> f64 {
    let p = f64::from(threshold_u31.min(ALWAYS_U31)) / f64::from(ALWAYS_U31);
    if yes { p } else { 1.0 - p }
}

impl Decider for ScriptedDecider {
    fn random(&mut self, threshold_u31: u32) -> bool {
        let i = self.taken.len();
        let yes = match self.script.get(i) {
            Some(v) => *v,
            None => threshold_u31 >= ALWAYS_U31,
        };
        self.taken.push((threshold_u31, yes));
        yes
    }
}
