//! The machines before Kubernetes: every node's network namespace with `eth0` plugged
//! into the node network's switch (a bridge in the `underlay` namespace), the router at
//! the network's first address, and the node settings kubeadm's preflight insists on
//! (`net.ipv4.ip_forward=1`, `bridge-nf-call-iptables=1`). Clients outside the cluster
//! sit on a second switch (`outside`) behind the router's `eth1`, which holds the first
//! address of each client's /24 and is their default gateway. The router knows the node
//! network and the client networks only: pod addresses are not routed outside.

use sim_core::SimRng;
use sim_net::ops::{NetOp, RouteSpec};

use super::random_mac;
use crate::cluster::{ClusterConfig, OUTSIDE_NETNS, ROUTER_NETNS, UNDERLAY_NETNS, client_netns};

/// Name of the switch port in `underlay` for the i-th machine.
fn port_name(name: &str, i: usize) -> String {
    let n = format!("sw-{name}");
    if n.len() <= 15 { n } else { format!("sw-port{i}") }
}

/// The switch port (in `underlay`) of node `name`'s cable.
pub fn switch_port(c: &ClusterConfig, name: &str) -> Option<String> {
    let i = c.nodes.iter().position(|n| n.name == name)?;
    Some(port_name(name, i + 1))
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
    ops.extend(outside(c, rng));
    ops
}

/// The outside network: its switch, the router's `eth1`, and every client.
fn outside(c: &ClusterConfig, rng: &mut SimRng) -> Vec<NetOp> {
    let s = |x: &str| x.to_string();
    if c.clients.is_empty() {
        return vec![];
    }
    let mut ops = vec![
        NetOp::AddNetns { name: s(OUTSIDE_NETNS) },
        NetOp::AddBridge { netns: s(OUTSIDE_NETNS), name: s("br0"), mac: random_mac(rng) },
        NetOp::SetLinkUp { netns: s(OUTSIDE_NETNS), dev: s("br0"), up: true },
        NetOp::AddVeth {
            netns: s(ROUTER_NETNS),
            name: s("eth1"),
            mac: random_mac(rng),
            peer_netns: s(OUTSIDE_NETNS),
            peer_name: s("sw-router"),
            peer_mac: random_mac(rng),
        },
        NetOp::SetMaster { netns: s(OUTSIDE_NETNS), dev: s("sw-router"), master: Some(s("br0")) },
        NetOp::SetLinkUp { netns: s(OUTSIDE_NETNS), dev: s("sw-router"), up: true },
        NetOp::SetLinkUp { netns: s(ROUTER_NETNS), dev: s("eth1"), up: true },
    ];
    let mut gateways: Vec<ipnet::Ipv4Net> = Vec::new();
    for (i, client) in c.clients.iter().enumerate() {
        let net = ipnet::Ipv4Net::new(client.ip, 24).expect("24 is a valid prefix").trunc();
        let gw = std::net::Ipv4Addr::from(u32::from(net.network()) + 1);
        let gw_net = ipnet::Ipv4Net::new(gw, 24).expect("24 is a valid prefix");
        if !gateways.contains(&gw_net) {
            gateways.push(gw_net);
            ops.push(NetOp::AddAddr { netns: s(ROUTER_NETNS), dev: s("eth1"), addr: gw_net });
        }
        let ns = client_netns(&client.name);
        let port = port_name(&format!("c{i}"), i + 1000);
        ops.extend([
            NetOp::AddNetns { name: ns.clone() },
            NetOp::SetLinkUp { netns: ns.clone(), dev: s("lo"), up: true },
            NetOp::AddVeth {
                netns: ns.clone(),
                name: s("eth0"),
                mac: random_mac(rng),
                peer_netns: s(OUTSIDE_NETNS),
                peer_name: port.clone(),
                peer_mac: random_mac(rng),
            },
            NetOp::SetMaster { netns: s(OUTSIDE_NETNS), dev: port.clone(), master: Some(s("br0")) },
            NetOp::SetLinkUp { netns: s(OUTSIDE_NETNS), dev: port, up: true },
            NetOp::AddAddr {
                netns: ns.clone(),
                dev: s("eth0"),
                addr: ipnet::Ipv4Net::new(client.ip, 24).expect("24 is a valid prefix"),
            },
            NetOp::SetLinkUp { netns: ns.clone(), dev: s("eth0"), up: true },
            NetOp::AddRoute {
                netns: ns,
                route: RouteSpec::new("0.0.0.0/0".parse().expect("literal")).via(gw).dev("eth0"),
            },
        ]);
    }
    ops.extend(client_routes(c));
    ops
}

/// The clients' static routes (`clients[].routes`), installed on their gateway, the
/// router: a next hop must be on-link, and the nodes are on the router's network, not
/// the client's. The same route on two clients is installed once.
fn client_routes(c: &ClusterConfig) -> Vec<NetOp> {
    let mut seen: Vec<(ipnet::Ipv4Net, std::net::Ipv4Addr)> = Vec::new();
    let mut ops = Vec::new();
    for r in c.clients.iter().flat_map(|cl| &cl.routes) {
        if seen.contains(&(r.to, r.via)) {
            continue;
        }
        seen.push((r.to, r.via));
        ops.push(NetOp::AddRoute {
            netns: ROUTER_NETNS.to_string(),
            route: RouteSpec::new(r.to).via(r.via).dev("eth0"),
        });
    }
    ops
}
