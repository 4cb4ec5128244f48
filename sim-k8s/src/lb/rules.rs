//! What the load balancer's namespace holds, as `ip` and `iptables-restore` input: the
//! machine itself (one leg on the node network, `.2`), the router's route for the pool,
//! and per mode the forwarding of each frontend to its healthy nodes.
//!
//! - `nodeport`: one nat PREROUTING DNAT per (frontend port, node), taken in turn by
//!   new connections (round robin: rule j of n has `-m statistic --mode nth --every
//!   n-j --packet 0`, so the first connection goes to the first healthy node, the next
//!   to the second, ...; only a connection's first packet passes the nat table, and the
//!   kernel keeps the same counters, so the kernel twin makes the same choices), then a MASQUERADE of
//!   everything DNATed: the LB is a proxy hop, so the node answers the LB and the reply
//!   comes back through it (without it the node would answer the client directly from
//!   nodeIP:nodePort and the client would reset the unknown connection). Source ranges
//!   are the LB's own firewall here (filter FORWARD on the original destination).
//! - `vip`: no NAT at all: a `/32` route per VIP via the chosen node (see `select.rs`).
//!
//! When no target is healthy the LB fails open and uses every node, as GCE and AWS do.

use std::fmt::Write;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_net::ops::{NetOp, RouteSpec, RouteType};

use crate::cluster::{ROUTER_NETNS, UNDERLAY_NETNS};
use crate::scenario::ClusterConfig;

/// The load balancer's namespace.
pub const LB_NETNS: &str = "lb";

/// One frontend port: `VIP:port/proto` → `node:node_port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontPort {
    pub proto: &'static str,
    pub port: u16,
    pub node_port: Option<u16>,
    /// `ns/name:port` as kube-proxy names it, for comments.
    pub name: String,
}

/// The ops that build the LB machine and route the pool to it.
pub fn bootstrap(c: &ClusterConfig, rng: &mut sim_core::SimRng) -> Vec<NetOp> {
    let s = |x: &str| x.to_string();
    let lb = &c.load_balancer;
    let addr = Ipv4Net::new(lb.ip, c.node_network.prefix_len()).expect("prefix from a valid net");
    vec![
        NetOp::AddNetns { name: s(LB_NETNS) },
        NetOp::SetLinkUp { netns: s(LB_NETNS), dev: s("lo"), up: true },
        NetOp::AddVeth {
            netns: s(LB_NETNS),
            name: s("eth0"),
            mac: crate::controllers::random_mac(rng),
            peer_netns: s(UNDERLAY_NETNS),
            peer_name: s("sw-lb"),
            peer_mac: crate::controllers::random_mac(rng),
        },
        NetOp::SetMaster { netns: s(UNDERLAY_NETNS), dev: s("sw-lb"), master: Some(s("br0")) },
        NetOp::SetLinkUp { netns: s(UNDERLAY_NETNS), dev: s("sw-lb"), up: true },
        NetOp::AddAddr { netns: s(LB_NETNS), dev: s("eth0"), addr },
        NetOp::SetLinkUp { netns: s(LB_NETNS), dev: s("eth0"), up: true },
        NetOp::Sysctl { netns: s(LB_NETNS), key: s("net.ipv4.ip_forward"), value: s("1") },
        NetOp::AddRoute {
            netns: s(LB_NETNS),
            route: RouteSpec::new("0.0.0.0/0".parse().expect("literal")).via(c.router_ip).dev("eth0"),
        },
        // Pool addresses without a frontend go nowhere (not back to the router).
        NetOp::AddRoute { netns: s(LB_NETNS), route: RouteSpec::new(lb.pool).kind(RouteType::Blackhole) },
        NetOp::AddRoute { netns: s(ROUTER_NETNS), route: RouteSpec::new(lb.pool).via(lb.ip).dev("eth0") },
    ]
}

/// One frontend as the rules need it.
pub struct FrontendRules<'a> {
    pub vip: Ipv4Addr,
    pub ports: &'a [FrontPort],
    pub source_ranges: &'a [Ipv4Net],
    /// The node IPs traffic may go to (already fail-open resolved), in node order.
    pub targets: Vec<Ipv4Addr>,
}

/// The whole `iptables-restore` input of the LB namespace in `nodeport` mode.
pub fn nodeport_payload(frontends: &[FrontendRules<'_>]) -> String {
    let mut filter =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    let mut nat = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
    );
    let mut fw_rules = String::new();
    for (i, f) in frontends.iter().enumerate() {
        if !f.source_ranges.is_empty() {
            let chain = format!("LB-SOURCE-RANGES-{i}");
            let _ = writeln!(filter, ":{chain} - [0:0]");
            let _ = writeln!(
                fw_rules,
                "-A FORWARD -m conntrack --ctstate DNAT --ctorigdst {}/32 -j {chain}",
                f.vip
            );
            for r in f.source_ranges {
                let _ = writeln!(fw_rules, "-A {chain} -s {r} -j RETURN");
            }
            let _ = writeln!(fw_rules, "-A {chain} -j DROP");
        }
        for p in f.ports {
            let Some(np) = p.node_port else { continue };
            let n = f.targets.len();
            for (j, node) in f.targets.iter().enumerate() {
                let stat = if j + 1 < n {
                    format!(" -m statistic --mode nth --every {} --packet 0", n - j)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    nat,
                    "-A PREROUTING -d {}/32 -p {pr} -m comment --comment \"{} to {node}:{np}\" -m {pr} --dport {}{stat} -j DNAT --to-destination {node}:{np}",
                    f.vip,
                    p.name,
                    p.port,
                    pr = p.proto
                );
            }
        }
    }
    filter.push_str(&fw_rules);
    filter.push_str("COMMIT\n");
    nat.push_str("-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE\nCOMMIT\n");
    filter + &nat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodeport_spreads_over_targets_and_masquerades() {
        let ports =
            [FrontPort { proto: "tcp", port: 80, node_port: Some(30080), name: "default/web".into() }];
        let ranges: [Ipv4Net; 1] = ["203.0.113.0/24".parse().unwrap()];
        let f = FrontendRules {
            vip: Ipv4Addr::new(198, 51, 100, 1),
            ports: &ports,
            source_ranges: &ranges,
            targets: vec![Ipv4Addr::new(192, 168, 1, 11), Ipv4Addr::new(192, 168, 1, 12)],
        };
        let p = nodeport_payload(&[f]);
        let expected = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:LB-SOURCE-RANGES-0 - [0:0]
-A FORWARD -m conntrack --ctstate DNAT --ctorigdst 198.51.100.1/32 -j LB-SOURCE-RANGES-0
-A LB-SOURCE-RANGES-0 -s 203.0.113.0/24 -j RETURN
-A LB-SOURCE-RANGES-0 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 198.51.100.1/32 -p tcp -m comment --comment \"default/web to 192.168.1.11:30080\" -m tcp --dport 80 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 192.168.1.11:30080
-A PREROUTING -d 198.51.100.1/32 -p tcp -m comment --comment \"default/web to 192.168.1.12:30080\" -m tcp --dport 80 -j DNAT --to-destination 192.168.1.12:30080
-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE
COMMIT
";
        assert_eq!(p, expected);
        let mut nf = sim_net::netfilter::Netfilter::new();
        nf.restore(&p, false).expect("the engine accepts what the LB writes");
    }
}
