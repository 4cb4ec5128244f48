//! One health-check target's state machine, as cloud load balancers keep it: a target
//! becomes healthy after `healthyThreshold` consecutive successes and unhealthy after
//! `unhealthyThreshold` consecutive failures; a result that agrees with the current
//! state resets the opposite counter. A new target starts unhealthy (GCE reports
//! UNKNOWN, AWS `initial`: neither sends it new connections by choice; see
//! [`super::rules`] for the fail-open when no target is healthy).

use crate::scenario::HealthCheckConfig;

/// The health of one (service, node) target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetHealth {
    pub healthy: bool,
    /// Consecutive successes while unhealthy.
    successes: u32,
    /// Consecutive failures while healthy.
    failures: u32,
    /// Whether any check has finished yet.
    pub checked: bool,
}

impl TargetHealth {
    /// Records one check result; returns the new state when it changed.
    pub fn record(&mut self, ok: bool, cfg: &HealthCheckConfig) -> Option<bool> {
        self.checked = true;
        match (self.healthy, ok) {
            (true, true) => self.failures = 0,
            (false, false) => self.successes = 0,
            (false, true) => {
                self.successes += 1;
                if self.successes >= cfg.healthy_threshold {
                    *self = TargetHealth { healthy: true, checked: true, ..Default::default() };
                    return Some(true);
                }
            }
            (true, false) => {
                self.failures += 1;
                if self.failures >= cfg.unhealthy_threshold {
                    *self = TargetHealth { healthy: false, checked: true, ..Default::default() };
                    return Some(false);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::SimDuration;

    fn cfg(h: u32, u: u32) -> HealthCheckConfig {
        HealthCheckConfig {
            interval: SimDuration::from_secs(8),
            timeout: SimDuration::from_secs(1),
            healthy_threshold: h,
            unhealthy_threshold: u,
        }
    }

    #[test]
    fn healthy_after_exactly_healthy_threshold_consecutive_successes() {
        let c = cfg(2, 3);
        let mut t = TargetHealth::default();
        assert_eq!(t.record(true, &c), None);
        assert_eq!(t.record(false, &c), None, "a failure resets the success count");
        assert_eq!(t.record(true, &c), None);
        assert_eq!(t.record(true, &c), Some(true));
        assert!(t.healthy);
    }

    #[test]
    fn unhealthy_after_exactly_unhealthy_threshold_consecutive_failures() {
        let c = cfg(1, 3);
        let mut t = TargetHealth::default();
        assert_eq!(t.record(true, &c), Some(true), "GCE's healthy threshold 1: one success");
        assert_eq!(t.record(false, &c), None);
        assert_eq!(t.record(false, &c), None);
        assert_eq!(t.record(true, &c), None, "a success resets the failure count");
        assert_eq!(t.record(false, &c), None);
        assert_eq!(t.record(false, &c), None);
        assert_eq!(t.record(false, &c), Some(false));
        assert!(!t.healthy);
        assert_eq!(t.record(false, &c), None, "already unhealthy: no new transition");
    }
}
