//! Names and lookups for the machines of a cluster (the resolved `cluster:` section of
//! a scenario): nodes on one L2 node network, a router at its first address.

pub use crate::scenario::{ClientNode, ClusterConfig, ClusterNode, NetworkBackend};

/// The node named `name`.
pub fn node<'a>(c: &'a ClusterConfig, name: &str) -> Option<&'a ClusterNode> {
    c.nodes.iter().find(|n| n.name == name)
}

/// Name of the network namespace of a pod: `pod-NAME` in the default namespace,
/// `pod-NS_NAME` elsewhere (`_` cannot appear in a namespace or pod name, so two pods never share a name) (a pod's netns in a real node is `cni-<uuid>`; readable names
/// make traces easier to follow).
pub fn pod_netns(namespace: &str, name: &str) -> String {
    if namespace == crate::model::DEFAULT_NAMESPACE {
        format!("pod-{name}")
    } else {
        format!("pod-{namespace}_{name}")
    }
}

/// The namespace standing for the node network's switch.
pub const UNDERLAY_NETNS: &str = "underlay";
/// The namespace of the router between the node network and the outside.
pub const ROUTER_NETNS: &str = "router";

/// Name of a client's network namespace: `client-NAME`.
pub fn client_netns(name: &str) -> String {
    format!("client-{name}")
}

/// The namespace of the switch of the outside network (router `eth1` and the clients).
pub const OUTSIDE_NETNS: &str = "outside";
