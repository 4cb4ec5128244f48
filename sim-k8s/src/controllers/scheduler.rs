//! The scheduler: binds each pod without `spec.nodeName` to the schedulable node (Ready,
//! no NoSchedule/NoExecute taint: the NodeUnschedulable and TaintToleration filters)
//! with the fewest pods, ties broken by node name. A pod that fits nowhere stays
//! Pending and is retried when a node changes (the real scheduler's unschedulable
//! queue is flushed on node events too). The real default scheduler scores more
//! things (resources, spreading, affinity) and breaks ties at random; a deterministic
//! least-loaded choice gives the same spreading for a learner's small clusters.

use std::collections::BTreeMap;

use sim_core::{SimDuration, SimTime};

use super::{Action, Controller};
use crate::model::Pod;
use crate::store::{Object, PodPhase, PodStatus, Store, WatchEvent, WatchKind};

pub struct Scheduler;

impl Scheduler {
    /// The binding of one pending pod, or `None` when no node fits.
    /// `extra`: pods bound in this same pass, not yet in the store.
    fn bind(
        store: &Store,
        pod: &Pod,
        status: &PodStatus,
        extra: &mut BTreeMap<String, usize>,
    ) -> Option<Vec<Action>> {
        let load = |node: &str| {
            store.pods().filter(|(p, _)| p.node_name.as_deref() == Some(node)).count()
                + extra.get(node).copied().unwrap_or(0)
        };
        let node = store
            .nodes()
            .filter(|(_, st)| st.schedulable())
            .map(|(n, _)| n.name.clone())
            .min_by_key(|n| (load(n), n.clone()))?;
        *extra.entry(node.clone()).or_default() += 1;
        let mut bound = pod.clone();
        bound.node_name = Some(node.clone());
        let mut st = status.clone();
        st.phase = PodPhase::Scheduled;
        Some(vec![
            Action::Log(format!("bind {} to {node}", pod.key())),
            Action::Write(Object::Pod(bound, st)),
        ])
    }

    /// Why nothing fits, as the scheduler's FailedScheduling event words it.
    fn unschedulable(store: &Store, pod: &Pod) -> Action {
        let total = store.nodes().count();
        if total == 0 {
            return Action::Log(format!("pod {} unschedulable: no nodes", pod.key()));
        }
        let not_ready = store.nodes().filter(|(_, s)| !s.schedulable()).count();
        Action::Log(format!(
            "pod {} unschedulable: 0/{total} nodes are available: {not_ready} node(s) had untolerated taint {{node.kubernetes.io/unreachable: }}",
            pod.key()
        ))
    }
}

impl Controller for Scheduler {
    fn name(&self) -> &str {
        "scheduler"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(10)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        match (&ev.object, ev.kind) {
            (Object::Pod(pod, _), WatchKind::Added) if pod.node_name.is_none() => {
                let Some((current, st)) = store.pod(&pod.namespace, &pod.name) else { return vec![] };
                if st.phase != PodPhase::Pending || current.node_name.is_some() {
                    return vec![];
                }
                Self::bind(store, current, st, &mut BTreeMap::new())
                    .unwrap_or_else(|| vec![Self::unschedulable(store, current)])
            }
            (Object::Node(_, status), WatchKind::Modified) if status.schedulable() => {
                // A node became schedulable: retry the pods that fit nowhere, one by one
                // against the load as it grows.
                let pending: Vec<(Pod, PodStatus)> = store
                    .pods()
                    .filter(|(p, s)| p.node_name.is_none() && s.phase == PodPhase::Pending && !s.terminating)
                    .map(|(p, s)| (p.clone(), s.clone()))
                    .collect();
                let (mut out, mut extra) = (Vec::new(), BTreeMap::new());
                for (pod, st) in pending {
                    if let Some(a) = Self::bind(store, &pod, &st, &mut extra) {
                        out.extend(a);
                    }
                }
                out
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Node;
    use crate::store::{ConditionStatus, NodeStatus, Taint, TaintEffect};

    fn node(store: &mut Store, name: &str, last: u8, ready: bool) -> usize {
        let mut st = NodeStatus::registered(
            std::net::Ipv4Addr::new(192, 168, 1, last),
            format!("10.244.{last}.0/24").parse().unwrap(),
        );
        if !ready {
            st.ready = ConditionStatus::Unknown;
            st.taints = vec![Taint {
                key: "node.kubernetes.io/unreachable".into(),
                effect: TaintEffect::NoSchedule,
                added: None,
            }];
        }
        let n = Node { name: name.into(), ip: Some(st.ip), labels: Default::default() };
        store.put(Object::Node(n, st), SimTime::ZERO)
    }

    fn pod(store: &mut Store, name: &str, on: Option<&str>) -> usize {
        let p = Pod {
            namespace: "default".into(),
            name: name.into(),
            labels: Default::default(),
            annotations: Default::default(),
            node_name: on.map(str::to_string),
            host_network: false,
            containers: vec![],
        };
        store.put(Object::Pod(p, PodStatus::pending()), SimTime::ZERO)
    }

    fn bound_to(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Write(Object::Pod(p, _)) => p.node_name.clone(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_not_ready_tainted_node_is_skipped_even_when_it_is_the_least_loaded() {
        let mut store = Store::default();
        node(&mut store, "a", 11, false);
        node(&mut store, "b", 12, true);
        pod(&mut store, "busy", Some("b"));
        let ev = pod(&mut store, "new", None);
        let out = Scheduler.handle_watch(SimTime::ZERO, &store, &store.log[ev].clone());
        assert_eq!(bound_to(&out), ["b"]);
    }

    #[test]
    fn a_pod_that_fits_nowhere_waits_for_a_node_to_become_schedulable() {
        let mut store = Store::default();
        node(&mut store, "a", 11, false);
        let ev = pod(&mut store, "new", None);
        let out = Scheduler.handle_watch(SimTime::ZERO, &store, &store.log[ev].clone());
        assert!(bound_to(&out).is_empty());
        assert!(matches!(&out[..], [Action::Log(l)] if l.contains("0/1 nodes are available")), "{out:?}");
        let ev = node(&mut store, "a", 11, true);
        let out = Scheduler.handle_watch(SimTime::ZERO, &store, &store.log[ev].clone());
        assert_eq!(bound_to(&out), ["a"]);
    }
}
