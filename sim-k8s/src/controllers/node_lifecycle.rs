//! The node lifecycle controller, the taint-eviction controller and the pod garbage
//! collector of kube-controller-manager, as far as node failures go
//! (kubernetes/kubernetes pkg/controller/nodelifecycle, pkg/controller/tainteviction,
//! pkg/controller/podgc).
//!
//! Every `nodeMonitorPeriod` the lifecycle controller looks at each node's Lease: when
//! its `renewTime` is older than `nodeMonitorGracePeriod`, the node's Ready condition
//! becomes Unknown ("NotReady" in kubectl), its pods' Ready conditions become False
//! (`MarkPodsNotReady`: the EndpointSlice controller then marks their endpoints not
//! ready and kube-proxy stops choosing them), and the node gets the
//! `node.kubernetes.io/unreachable` taints: NoSchedule (the scheduler skips it) and
//! NoExecute. Every pod tolerates that NoExecute taint for `tolerationSeconds`
//! (kube-apiserver's DefaultTolerationSeconds admission); when that runs out the
//! taint-eviction controller deletes the pod (it becomes Terminating; with the kubelet
//! gone nobody confirms, so it stays Terminating) and its ReplicaSet creates a
//! replacement elsewhere. A lease renewed again makes the node Ready and untainted.
//!
//! Polls are simulated only while some node needs watching (a stale lease, a node not
//! Ready, an eviction pending): on a healthy cluster a poll changes nothing, and a run
//! must become idle. Poll instants stay multiples of the period, as if it had polled
//! all along.
//!
//! The pod garbage collector force-deletes the pods bound to a node whose Node object
//! was deleted (`gcOrphaned`), after its own latency instead of the real 20 s check
//! period plus 40 s quarantine (docs/fidelity.md).

use sim_core::{SimDuration, SimTime};

use super::{Action, Controller};
use crate::scenario::ClusterTimers;
use crate::store::{
    ConditionStatus, NodeStatus, Object, PodStatus, Store, Taint, TaintEffect, WatchEvent, WatchKind,
};

/// The taint key for a node whose kubelet stopped reporting.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

pub struct NodeLifecycle {
    timers: ClusterTimers,
    /// The instant of the wake-up already asked for, to avoid asking twice.
    armed: Option<SimTime>,
}

impl NodeLifecycle {
    pub fn new(timers: ClusterTimers) -> Self {
        NodeLifecycle { timers, armed: None }
    }

    fn next_poll(&self, now: SimTime) -> SimTime {
        next_poll(self.timers.node_monitor_period, now)
    }

    /// Asks to poll at `at` unless an earlier wake-up is already armed.
    fn arm(&mut self, at: SimTime) -> Option<Action> {
        if self.armed.is_some_and(|a| a <= at) {
            return None;
        }
        self.armed = Some(at);
        Some(Action::WakeAt(at))
    }

    /// One monitor pass over every node (`monitorNodeHealth` + the NoExecute tainting
    /// pass), then the taint-eviction deadlines that have come. Arms the next poll only
    /// if time alone can change something (a silent lease going stale, an eviction
    /// deadline); a lease renewed again comes with a wake-up from the world.
    fn poll(&mut self, now: SimTime, store: &Store) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut next: Option<SimTime> = None;
        let grace = self.timers.node_monitor_grace_period;
        let nodes: Vec<_> = store.nodes().map(|(n, s)| (n.clone(), s.clone())).collect();
        for (node, st) in nodes {
            let Some(lease) = store.leases.get(&node.name) else { continue };
            let renew = lease.renew_time(now);
            let silent = now.saturating_since(renew);
            let stale = silent > grace;
            let ready = st.ready == ConditionStatus::True;
            if stale && ready {
                actions.extend(self.mark_unreachable(now, &node, &st, silent, renew, store));
                next = min_time(next, now + self.timers.unreachable_toleration);
            } else if stale {
                let (evictions, deadline) = self.evict_due(now, &node.name, &st, store);
                actions.extend(evictions);
                next = min_time(next, deadline);
            } else if !ready {
                actions.push(Action::Log(format!(
                    "{}: Ready (lease renewed at {renew}); taints {} removed",
                    node.name,
                    st.taints.iter().map(Taint::to_string).collect::<Vec<_>>().join(", ")
                )));
                let status = NodeStatus { ready: ConditionStatus::True, taints: vec![], ..st };
                actions.push(Action::Write(Object::Node(node, status)));
            } else if lease.stopped.is_some() {
                // The first poll that will find the lease older than the grace period.
                next = min_time(next, self.next_poll(renew + grace));
            }
        }
        self.armed = None;
        if let Some(at) = next {
            actions.extend(self.arm(at));
        }
        actions
    }

    /// Ready → Unknown: node condition, pods not Ready, the unreachable taints.
    fn mark_unreachable(
        &self,
        now: SimTime,
        node: &crate::model::Node,
        st: &NodeStatus,
        silent: SimDuration,
        renew: SimTime,
        store: &Store,
    ) -> Vec<Action> {
        let mut actions = vec![Action::Log(format!(
            "{}: NotReady (Ready=Unknown: no lease renewal for {silent}, last renewTime {renew}, grace period {}); taint {UNREACHABLE_TAINT}:NoSchedule, {UNREACHABLE_TAINT}:NoExecute",
            node.name, self.timers.node_monitor_grace_period
        ))];
        let taints = vec![
            Taint { key: UNREACHABLE_TAINT.into(), effect: TaintEffect::NoSchedule, added: None },
            Taint { key: UNREACHABLE_TAINT.into(), effect: TaintEffect::NoExecute, added: Some(now) },
        ];
        let status = NodeStatus { ready: ConditionStatus::Unknown, taints, ..st.clone() };
        actions.push(Action::Write(Object::Node(node.clone(), status)));
        let pods: Vec<_> = pods_on(store, &node.name).filter(|(_, s)| s.ready).collect();
        if !pods.is_empty() {
            let names: Vec<String> = pods.iter().map(|(p, _)| format!("pod/{}", p.name)).collect();
            actions.push(Action::Log(format!("{}: mark pods not Ready: {}", node.name, names.join(", "))));
        }
        for (p, s) in pods {
            actions.push(Action::Write(Object::Pod(p, PodStatus { ready: false, node_lost: true, ..s })));
        }
        actions
    }

    /// Deletes the pods whose toleration of the NoExecute taint ran out; returns the
    /// next deadline if one is still ahead.
    fn evict_due(
        &self,
        now: SimTime,
        node: &str,
        st: &NodeStatus,
        store: &Store,
    ) -> (Vec<Action>, Option<SimTime>) {
        let Some(added) = st
            .taints
            .iter()
            .find(|t| t.key == UNREACHABLE_TAINT && t.effect == TaintEffect::NoExecute)
            .and_then(|t| t.added)
        else {
            return (vec![], None);
        };
        let deadline = added + self.timers.unreachable_toleration;
        if now < deadline {
            return (vec![], Some(deadline));
        }
        let mut actions = Vec::new();
        for (p, s) in pods_on(store, node) {
            actions.push(Action::Log(format!(
                "taint-eviction: delete pod/{} ({UNREACHABLE_TAINT}:NoExecute tolerated for {}, since {added})",
                p.name, self.timers.unreachable_toleration
            )));
            actions.push(Action::Write(Object::Pod(p, PodStatus { terminating: true, ready: false, ..s })));
        }
        (actions, None)
    }
}

/// The first poll instant strictly after `now`: polls run at multiples of `period`.
pub fn next_poll(period: SimDuration, now: SimTime) -> SimTime {
    let p = period.as_nanos().max(1);
    SimTime::from_nanos((now.as_nanos() / p + 1) * p)
}

fn min_time(a: Option<SimTime>, b: impl Into<Option<SimTime>>) -> Option<SimTime> {
    match (a, b.into()) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Pods bound to `node` that are not already being deleted.
fn pods_on<'a>(store: &'a Store, node: &'a str) -> impl Iterator<Item = (crate::model::Pod, PodStatus)> + 'a {
    store
        .pods()
        .filter(move |(p, s)| p.node_name.as_deref() == Some(node) && !s.terminating)
        .map(|(p, s)| (p.clone(), s.clone()))
}

impl Controller for NodeLifecycle {
    /// Informers of the node lifecycle controller: nodes, pods, leases, daemonsets.
    fn watches(&self, kind: &str) -> bool {
        ["Node", "Pod", "Lease", "DaemonSet"].contains(&kind)
    }
    fn name(&self) -> &str {
        "node-lifecycle-controller"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(5)
    }
    /// Node changes matter only through leases and polls; nothing to do on a watch.
    fn handle_watch(&mut self, _now: SimTime, _store: &Store, _ev: &WatchEvent) -> Vec<Action> {
        vec![]
    }
    fn on_timer(&mut self, now: SimTime, store: &Store) -> Vec<Action> {
        self.poll(now, store)
    }
}

/// The pod garbage collector: pods bound to a deleted Node are force-deleted.
pub struct PodGc;

impl Controller for PodGc {
    /// Informers of the pod garbage collector: pods and nodes.
    fn watches(&self, kind: &str) -> bool {
        ["Pod", "Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        "pod-garbage-collector"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(100)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        let (WatchKind::Deleted, Object::Node(node, _)) = (ev.kind, &ev.object) else { return vec![] };
        let mut actions = Vec::new();
        for (p, s) in store.pods().filter(|(p, _)| p.node_name.as_deref() == Some(node.name.as_str())) {
            actions.push(Action::Log(format!(
                "force-delete pod/{} (node {} no longer exists)",
                p.name, node.name
            )));
            actions.push(Action::Delete(Object::Pod(p.clone(), s.clone())));
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NodeLease;

    fn ms(x: u64) -> SimTime {
        SimTime::from_nanos(x * 1_000_000)
    }

    #[test]
    fn polls_fall_on_multiples_of_the_period_strictly_after_now() {
        let p = SimDuration::from_secs(5);
        assert_eq!(next_poll(p, SimTime::ZERO), ms(5000));
        assert_eq!(next_poll(p, ms(4999)), ms(5000));
        assert_eq!(next_poll(p, ms(5000)), ms(10000));
    }

    #[test]
    fn a_lease_is_renewed_every_interval_from_its_start_until_the_kubelet_stops() {
        let mut l =
            NodeLease { renew_interval: SimDuration::from_secs(10), since: SimTime::ZERO, stopped: None };
        assert_eq!(l.renew_time(ms(25_300)), ms(20000));
        l.stopped = Some(ms(29_999));
        assert_eq!(l.renew_time(ms(100000)), ms(20000));
        l = NodeLease { since: ms(31_500), stopped: None, ..l };
        assert_eq!(l.renew_time(ms(31_500)), ms(31_500));
        assert_eq!(l.renew_time(ms(45000)), ms(41_500));
    }
}
