//! Simulated time: two integer-nanosecond newtypes with a fixed epoch (the start of the
//! scenario). `SimTime` is an instant, `SimDuration` a span; they parse and print the
//! forms scenarios use ("150ms", "2s", "1.5s", "250us", "10ns", "1m").

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

/// An instant on the simulated clock, in nanoseconds since the scenario started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Milliseconds since the start, truncated (smoltcp's clock resolution is µs).
    pub const fn as_micros(self) -> u64 {
        self.0 / 1_000
    }
    pub fn checked_add(self, d: SimDuration) -> Option<SimTime> {
        self.0.checked_add(d.0).map(SimTime)
    }
    pub fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
    /// The span from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us * 1_000)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * 1_000_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn checked_mul(self, k: u64) -> Option<SimDuration> {
        self.0.checked_mul(k).map(SimDuration)
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    /// Panics on overflow: a simulated clock past 584 years is a broken invariant.
    fn add(self, d: SimDuration) -> SimTime {
        self.checked_add(d).expect("simulated time overflowed u64 nanoseconds")
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.checked_sub(earlier.0).expect("time went backwards in a subtraction"))
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        SimDuration(self.0.checked_add(o.0).expect("duration overflowed u64 nanoseconds"))
    }
}

/// Prints seconds with millisecond precision and trailing "s": `1.250s`. Sub-millisecond
/// parts are kept (up to 9 digits) when present, so distinct instants print distinctly.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_secs(self.0, f)
    }
}

fn fmt_secs(ns: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac.is_multiple_of(1_000_000) {
        write!(f, "{secs}.{:03}s", frac / 1_000_000)
    } else if frac.is_multiple_of(1_000) {
        write!(f, "{secs}.{:06}s", frac / 1_000)
    } else {
        write!(f, "{secs}.{frac:09}s")
    }
}

/// Prints the shortest exact unit form: `150ms`, `2s`, `1500us`, `7ns`.
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return write!(f, "0s");
        }
        for (unit, scale) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
            if ns.is_multiple_of(scale) {
                return write!(f, "{}{unit}", ns / scale);
            }
        }
        write!(f, "{ns}ns")
    }
}

/// Why a duration string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: expected a number with a unit (ns, us, ms, s, m), like \"150ms\" or \"1.5s\""
)]
pub struct ParseDurationError {
    pub input: String,
}

impl FromStr for SimDuration {
    type Err = ParseDurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s.trim()).ok_or_else(|| ParseDurationError { input: s.to_string() })
    }
}

impl FromStr for SimTime {
    type Err = ParseDurationError;
    /// An instant is written as the span since the start of the scenario ("2s").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<SimDuration>().map(|d| SimTime(d.0))
    }
}

fn parse_duration(s: &str) -> Option<SimDuration> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let scale: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        _ => return None,
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut total = int.checked_mul(scale)?;
    // Exact decimal fraction: digits beyond the unit's nanosecond resolution must be zero.
    let mut place = scale;
    for c in frac.chars() {
        let d = c.to_digit(10)? as u64;
        if !place.is_multiple_of(10) {
            if d != 0 {
                return None;
            }
            continue;
        }
        place /= 10;
        total = total.checked_add(d * place)?;
    }
    Some(SimDuration(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_scenarios_use() {
        assert_eq!("150ms".parse::<SimDuration>().unwrap(), SimDuration::from_millis(150));
        assert_eq!("2s".parse::<SimDuration>().unwrap(), SimDuration::from_secs(2));
        assert_eq!("1.5s".parse::<SimDuration>().unwrap(), SimDuration::from_millis(1500));
        assert_eq!("250us".parse::<SimDuration>().unwrap(), SimDuration::from_micros(250));
        assert_eq!("1m".parse::<SimDuration>().unwrap(), SimDuration::from_secs(60));
        assert_eq!(".5ms".parse::<SimDuration>().unwrap(), SimDuration::from_micros(500));
    }

    #[test]
    fn rejects_missing_units_and_garbage() {
        for bad in ["", "2", "s", "2 h", "1.5.1s", "1.0000000001s", "-1s", "abc"] {
            assert!(bad.parse::<SimDuration>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["150ms", "2s", "1500us", "7ns", "0s"] {
            assert_eq!(s.parse::<SimDuration>().unwrap().to_string(), s);
        }
        assert_eq!(SimTime::from_nanos(1_250_000_000).to_string(), "1.250s");
        assert_eq!(SimTime::from_nanos(1_000_050_000).to_string(), "1.000050s");
    }
}
