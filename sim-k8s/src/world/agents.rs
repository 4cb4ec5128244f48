//! The per-node agents of the pod network a world starts for each node.

use sim_core::RngStreams;

use crate::cluster::ClusterConfig;
use crate::controllers::{Controller, hostgw::HostGw, kubelet::Kubelet};

/// The per-node controllers of the pod network: the kubelet (with the CNI config the
/// backend gives it) and the backend's own agent.
pub(super) fn network_controllers(
    c: &ClusterConfig,
    n: &crate::cluster::ClusterNode,
    rngs: &RngStreams,
) -> Vec<Box<dyn Controller>> {
    use crate::cluster::NetworkBackend;
    use crate::controllers::cni::bridge::BridgeConfig;
    use crate::controllers::flannel::{FlannelBackend, Flanneld};
    let flannel = match c.network {
        NetworkBackend::FlannelVxlan => Some(FlannelBackend::Vxlan),
        NetworkBackend::FlannelHostGw => Some(FlannelBackend::HostGw),
        NetworkBackend::HostGw => None,
    };
    let cni = match flannel {
        Some(b) => BridgeConfig { mtu: b.mtu(), routes: vec![c.pod_network] },
        None => BridgeConfig::default(),
    };
    let kubelet = Kubelet::new(
        &n.name,
        n.ip,
        n.pod_cidr,
        cni,
        rngs.stream(&format!("kubelet/{}", n.name)),
        rngs.stream(&format!("containerd/{}", n.name)),
    );
    let agent: Box<dyn Controller> = match flannel {
        Some(b) => Box::new(Flanneld::new(
            &n.name,
            c.pod_network,
            b,
            &mut rngs.stream(&format!("flanneld/{}", n.name)),
        )),
        None => Box::new(HostGw::new(&n.name)),
    };
    vec![Box::new(kubelet), agent]
}
