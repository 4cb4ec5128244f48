//! The scheduler: binds each pod without `spec.nodeName` to the node with the fewest
//! pods, ties broken by node name. The real default scheduler scores more things
//! (resources, spreading, affinity) and breaks ties at random; a deterministic
//! least-loaded choice gives the same spreading for a learner's small clusters.

use sim_core::{SimDuration, SimTime};

use super::{Action, Controller};
use crate::store::{Object, PodPhase, Store, WatchEvent, WatchKind};

pub struct Scheduler;

impl Controller for Scheduler {
    fn name(&self) -> &str {
        "scheduler"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(10)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        let Object::Pod(pod, status) = &ev.object else { return vec![] };
        if ev.kind != WatchKind::Added || pod.node_name.is_some() {
            return vec![];
        }
        let Some((_, current)) = store.pod(&pod.namespace, &pod.name) else { return vec![] };
        if current.phase != PodPhase::Pending {
            return vec![];
        }
        let load = |node: &str| store.pods().filter(|(p, _)| p.node_name.as_deref() == Some(node)).count();
        let Some(node) = store.nodes().map(|(n, _)| n.name.clone()).min_by_key(|n| (load(n), n.clone()))
        else {
            return vec![Action::Log(format!("pod {} unschedulable: no nodes", pod.key()))];
        };
        let mut bound = pod.clone();
        bound.node_name = Some(node.clone());
        let mut st = status.clone();
        st.phase = PodPhase::Scheduled;
        vec![Action::Log(format!("bind {} to {node}", pod.key())), Action::Write(Object::Pod(bound, st))]
    }
}
