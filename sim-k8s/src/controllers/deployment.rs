//! The deployment controller's RollingUpdate strategy (pkg/controller/deployment
//! rolling.go), as a pure function of the ReplicaSets and their available pods.
//!
//! With the default `maxSurge: 25%` (rounded up) and `maxUnavailable: 25%` (rounded
//! down; 1 if both come out 0): the new ReplicaSet is scaled up while the total stays
//! within `replicas + maxSurge`; old ReplicaSets are scaled down, their unavailable pods
//! first, while the available pods stay at least `replicas - maxUnavailable`. Each call
//! is one reconcile: the controller calls it again when a ReplicaSet or a pod's
//! readiness changes, so a rollout advances as new pods become Ready.
//! `minReadySeconds` is 0: available means Ready.

use crate::model::deployment::ReplicaSet;

/// A ReplicaSet of the Deployment with how many of its pods are available.
#[derive(Clone, Debug)]
pub struct RsState {
    pub rs: ReplicaSet,
    pub available: u32,
}

/// `maxSurge` and `maxUnavailable` for `replicas` from the 25% defaults
/// (`ResolveFenceposts`).
pub fn fenceposts(replicas: u32) -> (u32, u32) {
    let surge = replicas.div_ceil(4);
    let unavailable = replicas / 4;
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// The replica counts after one reconcile: `(replicaset name, new replicas)` for each
/// ReplicaSet whose count changes, in the order the controller writes them.
pub fn reconcile(desired: u32, new: &RsState, old: &[RsState]) -> Vec<(String, u32)> {
    let (surge, max_unavailable) = fenceposts(desired);
    let spec = |s: &RsState| s.rs.0.replicas;
    let old_total: u32 = old.iter().map(spec).sum();
    let all_total = spec(new) + old_total;
    // reconcileNewReplicaSet
    if spec(new) != desired {
        let target = if old_total == 0 || spec(new) > desired {
            desired
        } else {
            let room = (desired + surge).saturating_sub(all_total);
            desired.min(spec(new) + room)
        };
        if target != spec(new) {
            return vec![(new.rs.0.name.clone(), target)];
        }
    }
    if old_total == 0 {
        return vec![];
    }
    // reconcileOldReplicaSets
    let min_available = desired.saturating_sub(max_unavailable);
    let new_unavailable = spec(new).saturating_sub(new.available);
    let max_scaled_down = i64::from(all_total) - i64::from(min_available) - i64::from(new_unavailable);
    if max_scaled_down <= 0 {
        return vec![];
    }
    let mut budget = max_scaled_down as u32;
    let mut counts: Vec<u32> = old.iter().map(spec).collect();
    // cleanupUnhealthyReplicas: old pods that are not available go first.
    for (i, s) in old.iter().enumerate() {
        let unhealthy = counts[i].saturating_sub(s.available).min(budget);
        counts[i] -= unhealthy;
        budget -= unhealthy;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: keep minAvailable available pods.
    let available: u32 =
        new.available + old.iter().zip(&counts).map(|(s, c)| s.available.min(*c)).sum::<u32>();
    let mut down = available.saturating_sub(min_available).min(budget);
    for c in counts.iter_mut() {
        let d = (*c).min(down);
        *c -= d;
        down -= d;
    }
    old.iter().zip(counts).filter(|(s, c)| spec(s) != *c).map(|(s, c)| (s.rs.0.name.clone(), c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::deployment::Workload;
    use crate::model::selector::LabelSelector;

    fn rs(name: &str, replicas: u32, available: u32) -> RsState {
        let template = crate::model::Pod {
            namespace: "default".into(),
            name: name.into(),
            labels: Default::default(),
            annotations: Default::default(),
            node_name: None,
            host_network: false,
            dns_policy: Default::default(),
            enable_service_links: true,
            containers: vec![],
        };
        let w = Workload {
            namespace: "default".into(),
            name: name.into(),
            replicas,
            selector: LabelSelector::default(),
            template,
        };
        RsState { rs: ReplicaSet(w), available }
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        assert_eq!(fenceposts(1), (1, 0));
        assert_eq!(fenceposts(2), (1, 0));
        assert_eq!(fenceposts(4), (1, 1));
        assert_eq!(fenceposts(10), (3, 2));
        assert_eq!(fenceposts(0), (0, 1));
    }

    #[test]
    fn a_rollout_of_two_replicas_surges_one_and_waits_for_readiness() {
        // Start: old has 2 available; new is created at 0.
        let steps = reconcile(2, &rs("new", 0, 0), &[rs("old", 2, 2)]);
        assert_eq!(steps, vec![("new".to_string(), 1)]);
        // New pod not ready yet: nothing may go down (maxUnavailable 0).
        assert!(reconcile(2, &rs("new", 1, 0), &[rs("old", 2, 2)]).is_empty());
        // Ready: one old pod goes.
        assert_eq!(reconcile(2, &rs("new", 1, 1), &[rs("old", 2, 2)]), vec![("old".to_string(), 1)]);
        // Then the new one grows again, and the last old pod goes when it is ready.
        assert_eq!(reconcile(2, &rs("new", 1, 1), &[rs("old", 1, 1)]), vec![("new".to_string(), 2)]);
        assert!(reconcile(2, &rs("new", 2, 1), &[rs("old", 1, 1)]).is_empty());
        assert_eq!(reconcile(2, &rs("new", 2, 2), &[rs("old", 1, 1)]), vec![("old".to_string(), 0)]);
        assert!(reconcile(2, &rs("new", 2, 2), &[rs("old", 0, 0)]).is_empty());
    }

    #[test]
    fn unavailable_old_pods_are_scaled_down_first() {
        // 4 replicas: surge 1, unavailable 1. Old has 4 pods, 2 of them not ready.
        let got = reconcile(4, &rs("new", 1, 0), &[rs("old", 4, 2)]);
        // all 5, minAvailable 3, new unavailable 1: at most 1 may go; an unhealthy one.
        assert_eq!(got, vec![("old".to_string(), 3)]);
    }

    #[test]
    fn a_scale_without_old_replicasets_sets_the_count() {
        assert_eq!(reconcile(3, &rs("new", 1, 1), &[]), vec![("new".to_string(), 3)]);
        assert_eq!(reconcile(1, &rs("new", 3, 3), &[]), vec![("new".to_string(), 1)]);
    }
}
