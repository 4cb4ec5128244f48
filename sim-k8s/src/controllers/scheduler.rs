//! The scheduler: binds each pod without `spec.nodeName` to the node with the fewest
//! pods, ties broken by node name, among the nodes that pass its filters. The real
//! default scheduler scores more things (resources, spreading, affinity) and breaks ties
//! at random; a deterministic least-loaded choice gives the same spreading for a
//! learner's small clusters.
//!
//! Filters, in kube-scheduler's order (a node is reported under the first that fails):
//! - NodeUnschedulable and TaintToleration: only a schedulable node (Ready, no
//!   NoSchedule/NoExecute taint) fits;
//! - `NodePorts` (pkg/scheduler/framework/plugins/nodeports), the one the network cares
//!   about: a node where another pod already holds one of the pod's host ports (same
//!   protocol and port; `hostNetwork` pods hold every container port) is infeasible.
//!
//! When no node is feasible the pod stays Pending with the scheduler's `FailedScheduling`
//! message; it is retried when a pod is deleted (its host ports are free again) or a
//! node becomes schedulable (the real scheduler's queue moves unschedulable pods back on
//! such cluster events).

use sim_core::{SimDuration, SimTime};

use super::{Action, Controller};
use crate::model::{Pod, Protocol};
use crate::store::{Object, PodPhase, PodStatus, Store, WatchEvent, WatchKind};

pub struct Scheduler;

/// The host ports a pod asks for: (protocol, port) of every container port with a host port.
pub fn host_ports(pod: &Pod) -> Vec<(Protocol, u16)> {
    let mut out: Vec<(Protocol, u16)> = pod
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| p.host_port.map(|h| (p.protocol, h)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The NodePorts filter: whether `pod` fits on `node` given the pods bound there (in the
/// store, or `assumed` bound by this same pass, as the scheduler cache assumes them).
pub fn node_ports_fit(store: &Store, assumed: &[Pod], pod: &Pod, node: &str) -> bool {
    let wanted = host_ports(pod);
    if wanted.is_empty() {
        return true;
    }
    // Failed pods hold nothing (the scheduler's node info drops terminated pods).
    let live = store.pods().filter(|(_, st)| st.phase != PodPhase::Failed).map(|(p, _)| p);
    !live.chain(assumed).any(|other| {
        other.node_name.as_deref() == Some(node)
            && other.key() != pod.key()
            && host_ports(other).iter().any(|hp| wanted.contains(hp))
    })
}

/// The `FailedScheduling` message of kube-scheduler 1.30 when every node fails NodePorts
/// (the filter's reason, then the preemption plugin's verdict: pods all have priority 0,
/// so there is nothing to preempt). The doubled final period is kube-scheduler's own.
pub fn failed_scheduling_ports(nodes: usize) -> String {
    failed_scheduling(nodes, 0)
}

/// The `FailedScheduling` message when `ports` nodes fail NodePorts and `tainted` nodes
/// fail TaintToleration first. Each part is a histogram of reasons sorted as strings
/// (count included), as FitError.Error() sorts them; a tainted node is
/// UnschedulableAndUnresolvable, so preemption calls it "not helpful".
pub fn failed_scheduling(ports: usize, tainted: usize) -> String {
    let total = ports + tainted;
    let histogram = |parts: [(usize, &str); 2]| {
        let mut v: Vec<String> =
            parts.iter().filter(|(n, _)| *n > 0).map(|(n, reason)| format!("{n} {reason}")).collect();
        v.sort();
        v.join(", ")
    };
    let filters = histogram([
        (ports, "node(s) didn't have free ports for the requested pod ports"),
        (tainted, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
    ]);
    let preemption = histogram([
        (ports, "No preemption victims found for incoming pod"),
        (tainted, "Preemption is not helpful for scheduling"),
    ]);
    format!(
        "0/{total} nodes are available: {filters}. preemption: 0/{total} nodes are available: {preemption}.."
    )
}

impl Scheduler {
    /// One scheduling cycle for `pod`; a successful binding is added to `assumed`.
    fn schedule(store: &Store, assumed: &mut Vec<Pod>, pod: &Pod, status: &PodStatus) -> Vec<Action> {
        let load = |node: &str| {
            store
                .pods()
                .map(|(p, _)| p)
                .chain(assumed.iter())
                .filter(|p| p.node_name.as_deref() == Some(node))
                .count()
        };
        let schedulable: Vec<String> =
            store.nodes().filter(|(_, st)| st.schedulable()).map(|(n, _)| n.name.clone()).collect();
        let feasible = schedulable.iter().filter(|n| node_ports_fit(store, assumed, pod, n));
        let Some(node) = feasible.min_by_key(|n| (load(n), (*n).clone())).cloned() else {
            return vec![Self::unschedulable(store, pod)];
        };
        let mut bound = pod.clone();
        bound.node_name = Some(node.clone());
        let mut st = status.clone();
        st.phase = PodPhase::Scheduled;
        assumed.push(bound.clone());
        vec![Action::Log(format!("bind {} to {node}", pod.key())), Action::Write(Object::Pod(bound, st))]
    }

    /// Why nothing fits, as the scheduler's FailedScheduling event words it.
    fn unschedulable(store: &Store, pod: &Pod) -> Action {
        let total = store.nodes().count();
        if total == 0 {
            return Action::Log(format!("pod {} unschedulable: no nodes", pod.key()));
        }
        let tainted = store.nodes().filter(|(_, s)| !s.schedulable()).count();
        let ports = total - tainted;
        if ports == 0 {
            return Action::Log(format!(
                "pod {} unschedulable: 0/{total} nodes are available: {tainted} node(s) had untolerated taint {{node.kubernetes.io/unreachable: }}",
                pod.key()
            ));
        }
        Action::Log(format!(
            "Warning FailedScheduling pod/{}: {}",
            pod.name,
            failed_scheduling(ports, tainted)
        ))
    }

    /// The pods waiting for a node, retried in store order against the load as it grows.
    /// `report`: whether a pod that still fits nowhere gets its FailedScheduling again
    /// (after a pod deletion; a node's recovery retries quietly).
    fn retry_pending(store: &Store, report: bool) -> Vec<Action> {
        let pending: Vec<(Pod, PodStatus)> = store
            .pods()
            .filter(|(p, s)| p.node_name.is_none() && s.phase == PodPhase::Pending && !s.terminating)
            .map(|(p, s)| (p.clone(), s.clone()))
            .collect();
        let mut assumed = Vec::new();
        let mut out = Vec::new();
        for (pod, st) in &pending {
            let actions = Self::schedule(store, &mut assumed, pod, st);
            if report || actions.iter().any(|a| matches!(a, Action::Write(_))) {
                out.extend(actions);
            }
        }
        out
    }
}

impl Controller for Scheduler {
    /// Informers of the scheduler: pods and nodes.
    fn watches(&self, kind: &str) -> bool {
        ["Pod", "Node"].contains(&kind)
    }
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
                if current.node_name.is_some() || st.phase != PodPhase::Pending {
                    return vec![];
                }
                Self::schedule(store, &mut Vec::new(), current, st)
            }
            // A pod went away: its host ports are free again.
            (Object::Pod(pod, _), WatchKind::Deleted) if pod.node_name.is_some() => {
                Self::retry_pending(store, true)
            }
            // A node became schedulable.
            (Object::Node(_, status), WatchKind::Modified) if status.schedulable() => {
                Self::retry_pending(store, false)
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

    fn spec(name: &str, on: Option<&str>) -> Pod {
        Pod {
            namespace: "default".into(),
            name: name.into(),
            labels: Default::default(),
            annotations: Default::default(),
            node_name: on.map(str::to_string),
            host_network: false,
            dns_policy: Default::default(),
            enable_service_links: true,
            containers: vec![],
        }
    }

    fn pod(store: &mut Store, name: &str, on: Option<&str>) -> usize {
        store.put(Object::Pod(spec(name, on), PodStatus::pending()), SimTime::ZERO)
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

    #[test]
    fn a_host_port_clash_and_a_tainted_node_both_count_and_the_recovery_binds() {
        use crate::model::{Container, ContainerPort, Protocol};
        let mut store = Store::default();
        node(&mut store, "a", 11, false);
        node(&mut store, "b", 12, true);
        let host_pod = |name: &str, on: Option<&str>| Pod {
            host_network: true,
            containers: vec![Container {
                name: "c".into(),
                image: "x".into(),
                ports: vec![ContainerPort {
                    name: None,
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    host_port: Some(80),
                }],
            }],
            ..spec(name, on)
        };
        store.put(Object::Pod(host_pod("holder", Some("b")), PodStatus::pending()), SimTime::ZERO);
        let ev = store.put(Object::Pod(host_pod("new", None), PodStatus::pending()), SimTime::ZERO);
        let out = Scheduler.handle_watch(SimTime::ZERO, &store, &store.log[ev].clone());
        assert!(bound_to(&out).is_empty());
        let expected = "0/2 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, \
                        1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/2 nodes \
                        are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful \
                        for scheduling..";
        assert!(matches!(&out[..], [Action::Log(l)] if l.ends_with(expected)), "{out:?}");
        let ev = node(&mut store, "a", 11, true);
        let out = Scheduler.handle_watch(SimTime::ZERO, &store, &store.log[ev].clone());
        assert_eq!(bound_to(&out), ["a"]);
    }
}
