//! Controllers: each reacts to watch events (delivered after its own latency) and
//! returns [`Action`]s, never touching the dataplane or the store directly. `NetOp`s
//! are the only way they change the network, exactly like their real counterparts.

pub mod allocators;
pub mod cni;
pub mod deployment;
pub mod endpointslice;
pub mod endpointslices;
pub mod flannel;
pub mod hostgw;
pub mod infra;
pub mod kube_proxy;
pub mod kubelet;
pub mod node_lifecycle;
pub mod scheduler;
pub mod service_lb;
pub mod workloads;

use sim_core::{SimDuration, SimTime};
use sim_net::ops::NetOp;

use crate::store::{Object, Store, WatchEvent};

/// What a controller wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A dataplane operation, attributed to the component that issues it.
    Net(NetOp),
    /// A dataplane operation a plugin performs on the component's behalf (the CNI
    /// plugins kubelet runs): attributed to `component/plugin`.
    PluginNet(&'static str, NetOp),
    /// A write to the API server.
    Write(Object),
    /// A delete at the API server.
    Delete(Object),
    /// A container's built-in server starts listening in a namespace.
    StartApp { netns: String, app: crate::apps::ServerApp },
    /// kube-proxy's health server for a service (eTP Local LoadBalancer) listens on
    /// `port` in `netns` and reports `endpoints` local ready endpoints from now on.
    ServeHealth { netns: String, port: u16, namespace: String, name: String, endpoints: usize },
    /// A container's server exits (its pod is deleted) in a namespace that stays: the
    /// node's, for a hostNetwork pod.
    StopApp { netns: String, proto: sim_net::packet::IpProto, port: u16 },
    /// The service environment variables a pod's containers started with (kubelet).
    ContainerEnv { namespace: String, pod: String, env: Vec<(String, String)> },
    /// A line for the control-plane timeline.
    Log(String),
    /// Call the controller's [`Controller::on_timer`] at this instant (a periodic loop's
    /// next iteration, or a deadline such as a toleration running out).
    WakeAt(SimTime),
    /// kube-proxy's stale UDP conntrack cleanup on a node: the world lists the node's
    /// conntrack table (kube-proxy reads it over netlink) and issues one
    /// `NetOp::ConntrackDelete` per stale flow filter (`kube_proxy::conntrack`).
    ConntrackCleanup { netns: String, frontends: kube_proxy::conntrack::UdpFrontends },
}

/// A reactive component.
pub trait Controller {
    /// `kubelet/node-1`, `scheduler`, ...: used in traces and `show commands`.
    fn name(&self) -> &str;
    /// How long after a change the controller acts on it.
    fn latency(&self) -> SimDuration;
    fn handle_watch(&mut self, now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action>;
    /// The node this component runs on, for node agents (kubelet, kube-proxy, the
    /// network agent): while that node is failed or cut off it receives no watch
    /// events. Control-plane controllers return `None`.
    fn node(&self) -> Option<&str> {
        None
    }
    /// A timer the controller asked for with [`Action::WakeAt`] fired.
    fn on_timer(&mut self, _now: SimTime, _store: &Store) -> Vec<Action> {
        vec![]
    }
    /// The node agent reaches the API server again (node restored, link healed): it
    /// reconciles with the current objects before the watch events it missed arrive.
    fn reconnect(&mut self, _now: SimTime, _store: &Store) -> Vec<Action> {
        vec![]
    }
    /// The kinds the real component has informers for (`Pod`, `Service`, ...). The
    /// world hands every event to every controller (each ignores what it does not
    /// use); this only decides which deliveries `--control-plane full` shows.
    fn watches(&self, _kind: &str) -> bool {
        true
    }
}

/// Random locally administered unicast MAC, as the kernel's `eth_random_addr`.
pub fn random_mac(rng: &mut sim_core::SimRng) -> sim_net::packet::Mac {
    use rand_core::Rng;
    let mut b = [0u8; 6];
    for x in b.iter_mut() {
        *x = rng.next_u32() as u8;
    }
    b[0] = (b[0] & 0xfe) | 0x02;
    sim_net::packet::Mac(b)
}
