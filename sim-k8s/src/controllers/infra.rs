//! The machines before Kubernetes: every node's network namespace with `eth0` plugged
//! into the node network's switch (a bridge in the `underlay` namespace), the router at
//! the network's first address, and the node settings kubeadm's preflight insists on
//! (`net.ipv4.ip_forward=1`, `bridge-nf-call-iptables=1`).

use sim_core::SimRng;
use sim_net::ops::{NetOp, RouteSpec};

use super::random_mac;
use crate::cluster::{ClusterConfig, ROUTER_NETNS, UNDERLAY_NETNS};

/// Name of the switch port in `underlay` for the i-th machine.
fn port_name(name: &str, i: usize) -> String {
    let n = format!("sw-{name}");
    if n.len() <= 15 { n } else { format!("sw-port{i}") }
}

/// Ops that build the underlay, router and nodes, in order.
pub fn bootstrap(c: &ClusterConfig, rng: &mut SimRng) -> Vec<NetOp> {
    let s = |x: &str| x.to_string();
    let mut ops = vec![
        NetOp::AddNetns { name: s(UNDERLAY_NETNS) },
        NetOp::AddBridge { netns: s(UNDERLAY_NETNS), name: s("br0"), mac: random_mac(rng) },
        NetOp::SetLinkUp { netns: s(UNDERLAY_NETNS), dev: s("br0"), up: true },
    ];
    let mut machines: Vec<(String, std::net::Ipv4Addr)> = vec![(s(ROUTER_NETNS), c.router_ip)];
    machines.extend(c.nodes.iter().map(|n| (n.name.clone(), n.ip)));
    for (i, (name, ip)) in machines.iter().enumerate() {
        let port = port_name(name, i);
        let addr = ipnet::Ipv4Net::new(*ip, c.node_network.prefix_len()).expect("prefix from a valid net");
        ops.extend([
            NetOp::AddNetns { name: name.clone() },
            NetOp::SetLinkUp { netns: name.clone(), dev: s("lo"), up: true },
            NetOp::AddVeth {
                netns: name.clone(),
                name: s("eth0"),
                mac: random_mac(rng),
                peer_netns: s(UNDERLAY_NETNS),
                peer_name: port.clone(),
                peer_mac: random_mac(rng),
            },
            NetOp::SetMaster { netns: s(UNDERLAY_NETNS), dev: port.clone(), master: Some(s("br0")) },
            NetOp::SetLinkUp { netns: s(UNDERLAY_NETNS), dev: port, up: true },
            NetOp::AddAddr { netns: name.clone(), dev: s("eth0"), addr },
            NetOp::SetLinkUp { netns: name.clone(), dev: s("eth0"), up: true },
            NetOp::Sysctl { netns: name.clone(), key: s("net.ipv4.ip_forward"), value: s("1") },
        ]);
        if i > 0 {
            ops.push(NetOp::AddRoute {
                netns: name.clone(),
                route: RouteSpec::new("0.0.0.0/0".parse().expect("literal")).via(c.router_ip).dev("eth0"),
            });
        }
    }
    ops
}
