//! The EndpointSlice controller over the store: whenever a Service or a Pod changes, the
//! slices of every selector Service are recomputed with
//! [`endpointslice::desired_slices`](super::endpointslice::desired_slices) (ready
//! pods, named targetPorts resolved per pod) and written if they changed.

use sim_core::{SimDuration, SimRng, SimTime};

use super::endpointslice::{PodEndpoint, desired_slices};
use super::{Action, Controller};
use crate::model::endpointslice::EndpointSlice;
use crate::store::{Object, PodPhase, Store, WatchEvent};

pub struct EndpointSliceController {
    rng: SimRng,
}

impl EndpointSliceController {
    pub fn new(rng: SimRng) -> Self {
        EndpointSliceController { rng }
    }
}

fn describe(s: &EndpointSlice) -> String {
    let ports: Vec<String> = s.ports.iter().filter_map(|p| p.port).map(|p| p.to_string()).collect();
    let eps: Vec<String> = s
        .endpoints
        .iter()
        .map(|e| format!("{}{}", e.address, if e.conditions.is_ready() { "" } else { " (not ready)" }))
        .collect();
    format!("{} ports [{}] endpoints [{}]", s.name, ports.join(","), eps.join(", "))
}

impl Controller for EndpointSliceController {
    /// Informers of the endpointslice controller.
    fn watches(&self, kind: &str) -> bool {
        ["Service", "Pod", "EndpointSlice", "Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        "endpointslice-controller"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(20)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        if !matches!(ev.object, Object::Service(_) | Object::Pod(..)) {
            return vec![];
        }
        let pods: Vec<PodEndpoint<'_>> = store
            .pods()
            .map(|(p, st)| PodEndpoint {
                pod: p,
                ip: st.pod_ip,
                node_name: p.node_name.as_deref(),
                ready: st.phase == PodPhase::Running && st.ready,
                terminating: st.terminating,
            })
            .collect();
        let existing: Vec<EndpointSlice> = store.endpoint_slices().cloned().collect();
        let mut actions = Vec::new();
        for svc in store.services().filter(|s| s.selector.is_some()) {
            for slice in desired_slices(svc, &pods, &existing, &mut self.rng) {
                if !existing.contains(&slice) {
                    actions.push(Action::Log(format!(
                        "{}/{}: {}",
                        svc.namespace,
                        svc.name,
                        describe(&slice)
                    )));
                    actions.push(Action::Write(Object::EndpointSlice(slice)));
                }
            }
        }
        actions
    }
}
