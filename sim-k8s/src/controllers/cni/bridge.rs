//! The `bridge` CNI plugin (plugins/main/bridge/bridge.go) with `isGateway`,
//! `isDefaultGateway` and `hairpinMode` as flannel's delegate config sets them: create
//! `cni0` on first use, a veth pair with `eth0` in the pod and `veth` + 8 random hex
//! characters on the node, plug it into the bridge with hairpin mode on, give the pod
//! its address, the IPAM routes and a default route via the gateway, and put the
//! gateway address on `cni0` with `net.ipv4.ip_forward=1`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::SimRng;
use sim_net::ops::{NetOp, RouteSpec};

use super::super::random_mac;

pub const BRIDGE: &str = "cni0";

/// What the plugin returns to the kubelet (the CNI result).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CniResult {
    pub host_veth: String,
    pub ip: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// The network config the kubelet hands the plugin (flannel's delegate config built
/// from subnet.env, or the plain one of the static host-gw network).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// `mtu` of cni0 and the veths (FLANNEL_MTU: 1450 with vxlan, 1500 otherwise).
    pub mtu: u32,
    /// IPAM routes without a gateway (flannel: the cluster network), which the plugin
    /// installs via the pod's gateway.
    pub routes: Vec<Ipv4Net>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig { mtu: 1500, routes: vec![] }
    }
}

/// `veth` + 8 hex characters, like `ip.RandomVethName`.
pub fn random_veth_name(rng: &mut SimRng) -> String {
    use rand_core::Rng;
    format!("veth{:08x}", rng.next_u32())
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The ops of one `CNI ADD`. `bridge_exists` says whether `cni0` is already there.
pub fn add(
    node: &str,
    pod_netns: &str,
    ip: Ipv4Net,
    gateway: Ipv4Addr,
    bridge_exists: bool,
    conf: &BridgeConfig,
    rng: &mut SimRng,
) -> (Vec<NetOp>, CniResult) {
    let mut ops = Vec::new();
    if !bridge_exists {
        ops.push(NetOp::AddBridge { netns: s(node), name: s(BRIDGE), mac: random_mac(rng) });
        if conf.mtu != 1500 {
            ops.push(NetOp::SetMtu { netns: s(node), dev: s(BRIDGE), mtu: conf.mtu });
        }
        ops.push(NetOp::SetLinkUp { netns: s(node), dev: s(BRIDGE), up: true });
    }
    let host_veth = random_veth_name(rng);
    ops.push(NetOp::AddVeth {
        netns: s(pod_netns),
        name: s("eth0"),
        mac: random_mac(rng),
        peer_netns: s(node),
        peer_name: host_veth.clone(),
        peer_mac: random_mac(rng),
    });
    if conf.mtu != 1500 {
        ops.push(NetOp::SetMtu { netns: s(pod_netns), dev: s("eth0"), mtu: conf.mtu });
        ops.push(NetOp::SetMtu { netns: s(node), dev: host_veth.clone(), mtu: conf.mtu });
    }
    ops.extend([
        NetOp::SetMaster { netns: s(node), dev: host_veth.clone(), master: Some(s(BRIDGE)) },
        NetOp::SetHairpin { netns: s(node), dev: host_veth.clone(), on: true },
        NetOp::SetLinkUp { netns: s(node), dev: host_veth.clone(), up: true },
        NetOp::AddAddr { netns: s(pod_netns), dev: s("eth0"), addr: ip },
        NetOp::SetLinkUp { netns: s(pod_netns), dev: s("eth0"), up: true },
    ]);
    for dst in &conf.routes {
        ops.push(NetOp::AddRoute {
            netns: s(pod_netns),
            route: RouteSpec::new(*dst).via(gateway).dev("eth0"),
        });
    }
    let default = RouteSpec::new("0.0.0.0/0".parse().expect("literal")).via(gateway).dev("eth0");
    ops.push(NetOp::AddRoute { netns: s(pod_netns), route: default });
    if !bridge_exists {
        let gw_net = Ipv4Net::new(gateway, ip.prefix_len()).expect("prefix of a valid net");
        ops.push(NetOp::AddAddr { netns: s(node), dev: s(BRIDGE), addr: gw_net });
        ops.push(NetOp::Sysctl { netns: s(node), key: s("net.ipv4.ip_forward"), value: s("1") });
    }
    (ops, CniResult { host_veth, ip, gateway })
}
