//! The scheduler: binds each pod without `spec.nodeName` to the node with the fewest
//! pods, ties broken by node name, among the nodes that pass its filters. The real
//! default scheduler scores more things (resources, spreading, affinity) and breaks ties
//! at random; a deterministic least-loaded choice gives the same spreading for a
//! learner's small clusters.
//!
//! Filters: `NodePorts` (pkg/scheduler/framework/plugins/nodeports), the one the network
//! cares about: a node where another pod already holds one of the pod's host ports (same
//! protocol and port; `hostNetwork` pods hold every container port) is infeasible. When
//! no node is feasible the pod stays Pending and the scheduler records the
//! `FailedScheduling` event with the real message; it tries again when a pod is deleted
//! (the real scheduler's queue moves unschedulable pods back on such cluster events).

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
    format!(
        "0/{nodes} nodes are available: {nodes} node(s) didn't have free ports for the requested pod ports. \
         preemption: 0/{nodes} nodes are available: {nodes} No preemption victims found for incoming pod.."
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
        let nodes: Vec<String> = store.nodes().map(|(n, _)| n.name.clone()).collect();
        if nodes.is_empty() {
            return vec![Action::Log(format!("pod {} unschedulable: no nodes", pod.key()))];
        }
        let feasible = nodes.iter().filter(|n| node_ports_fit(store, assumed, pod, n));
        let Some(node) = feasible.min_by_key(|n| (load(n), (*n).clone())).cloned() else {
            return vec![Action::Log(format!(
                "Warning FailedScheduling pod/{}: {}",
                pod.name,
                failed_scheduling_ports(nodes.len())
            ))];
        };
        let mut bound = pod.clone();
        bound.node_name = Some(node.clone());
        let mut st = status.clone();
        st.phase = PodPhase::Scheduled;
        assumed.push(bound.clone());
        vec![Action::Log(format!("bind {} to {node}", pod.key())), Action::Write(Object::Pod(bound, st))]
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
        let Object::Pod(pod, _) = &ev.object else { return vec![] };
        match ev.kind {
            WatchKind::Added if pod.node_name.is_none() => {
                let Some((current, st)) = store.pod(&pod.namespace, &pod.name) else { return vec![] };
                if current.node_name.is_some() || st.phase != PodPhase::Pending {
                    return vec![];
                }
                Self::schedule(store, &mut Vec::new(), current, st)
            }
            // A pod went away: its host ports are free again, retry the pending pods.
            WatchKind::Deleted if pod.node_name.is_some() => {
                let pending: Vec<(Pod, PodStatus)> = store
                    .pods()
                    .filter(|(p, s)| p.node_name.is_none() && s.phase == PodPhase::Pending)
                    .map(|(p, s)| (p.clone(), s.clone()))
                    .collect();
                let mut assumed = Vec::new();
                pending.iter().flat_map(|(p, s)| Self::schedule(store, &mut assumed, p, s)).collect()
            }
            _ => vec![],
        }
    }
}
