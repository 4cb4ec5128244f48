//! The host-gw pod network: on every node, one static route per other node's pod
//! subnet via that node's IP on `eth0` (what flannel's host-gw backend installs:
//! `ip route add 10.244.1.0/24 via 192.168.1.12 dev eth0`). It needs the nodes on one
//! L2 segment, which the cluster always is.

use sim_core::{SimDuration, SimTime};
use sim_net::ops::{NetOp, RouteSpec};

use super::{Action, Controller};
use crate::store::{Object, Store, WatchEvent, WatchKind};

/// One per node, like a per-node agent.
pub struct HostGw {
    name: String,
    node: String,
}

impl HostGw {
    pub fn new(node: &str) -> Self {
        HostGw { name: format!("host-gw/{node}"), node: node.to_string() }
    }
}

impl Controller for HostGw {
    /// Informers of host-gw route agent: nodes only.
    fn watches(&self, kind: &str) -> bool {
        ["Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(10)
    }
    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }
    fn handle_watch(&mut self, _now: SimTime, _store: &Store, ev: &WatchEvent) -> Vec<Action> {
        let Object::Node(node, status) = &ev.object else { return vec![] };
        if node.name == self.node || ev.kind != WatchKind::Added {
            return vec![];
        }
        let route = RouteSpec::new(status.pod_cidr).via(status.ip).dev("eth0");
        vec![
            Action::Log(format!("route to {}'s pods {} via {}", node.name, status.pod_cidr, status.ip)),
            Action::Net(NetOp::AddRoute { netns: self.node.clone(), route }),
        ]
    }
}
