//! flanneld with `--kube-subnet-mgr --ip-masq`, one per node (flannel-io/flannel:
//! pkg/backend/vxlan, pkg/backend/hostgw, pkg/trafficmngr/iptables). The lease is the
//! node's `spec.podCIDR`. On start it sets up its backend and publishes it in the node's
//! annotations; for every other node whose annotations it sees, it installs what that
//! backend needs:
//! - vxlan: `flannel.1` (VNI 1, UDP 8472, nolearning, MTU = eth0 MTU - 50, address the
//!   lease's network address /32); per remote lease, in this order: the neighbour
//!   `10.244.X.0 lladdr <VtepMAC> PERMANENT`, the FDB entry `<VtepMAC> dst <node IP>`,
//!   the route `10.244.X.0/24 via 10.244.X.0 dev flannel.1 onlink`;
//! - host-gw: per remote lease `10.244.X.0/24 via <node IP> dev eth0`.
//!
//! Both write the masquerade rules (FLANNEL-POSTRTG) and the forward rules
//! (FLANNEL-FWD) with iptables-restore.
//!
//! When a Node object is deleted its lease is gone (the kube subnet manager turns the
//! deletion into `EventRemoved`) and each other flanneld removes what it installed,
//! in flannel's order: vxlan deletes the neighbour, then the FDB entry, then the route
//! (`handleSubnetEvents`); host-gw deletes the route. A node that is merely NotReady
//! keeps its lease, so its routes stay. Differences from flanneld: no lease renewal, no
//! periodic iptables resync, and the VTEP MAC comes from the seeded stream.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::{SimDuration, SimRng, SimTime};
use sim_net::ops::{NetOp, RouteSpec};
use sim_net::packet::{Mac, VXLAN_OVERHEAD};

use super::{Action, Controller, random_mac};
use crate::store::{Object, Store, WatchEvent};

pub const ANNOTATION_PREFIX: &str = "flannel.alpha.coreos.com/";
/// The VXLAN device flannel creates for VNI 1.
pub const VXLAN_DEV: &str = "flannel.1";
/// Linux's default VXLAN port, which flannel uses (it passes 0 to the kernel).
pub const VXLAN_PORT: u16 = 8472;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlannelBackend {
    Vxlan,
    HostGw,
}

impl FlannelBackend {
    fn name(self) -> &'static str {
        match self {
            FlannelBackend::Vxlan => "vxlan",
            FlannelBackend::HostGw => "host-gw",
        }
    }
    /// FLANNEL_MTU on a 1500-byte node network.
    pub fn mtu(self) -> u32 {
        match self {
            FlannelBackend::Vxlan => 1500 - VXLAN_OVERHEAD as u32,
            FlannelBackend::HostGw => 1500,
        }
    }
}

pub struct Flanneld {
    name: String,
    node: String,
    network: Ipv4Net,
    backend: FlannelBackend,
    vtep_mac: Mac,
    started: bool,
    /// Remote leases already programmed, by node name: the subnet, the public IP and
    /// (vxlan) the VTEP MAC, as needed to remove them again.
    known: BTreeMap<String, Remote>,
}

/// What this flanneld installed for another node's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Remote {
    lease: Ipv4Net,
    public_ip: Ipv4Addr,
    vtep_mac: Option<Mac>,
}

fn s(x: &str) -> String {
    x.to_string()
}

impl Flanneld {
    pub fn new(node: &str, network: Ipv4Net, backend: FlannelBackend, rng: &mut SimRng) -> Self {
        Flanneld {
            name: format!("flanneld/{node}"),
            node: s(node),
            network,
            backend,
            vtep_mac: random_mac(rng),
            started: false,
            known: BTreeMap::new(),
        }
    }

    /// Backend setup on this node and the annotations flanneld publishes.
    fn start(
        &mut self,
        ip: Ipv4Addr,
        lease: Ipv4Net,
        node: &crate::model::Node,
        status: &crate::store::NodeStatus,
    ) -> Vec<Action> {
        self.started = true;
        let mut actions = vec![Action::Log(format!(
            "lease {lease}; subnet.env: FLANNEL_NETWORK={} FLANNEL_SUBNET={}/{} FLANNEL_MTU={} FLANNEL_IPMASQ=true",
            self.network,
            Ipv4Addr::from(u32::from(lease.network()) + 1),
            lease.prefix_len(),
            self.backend.mtu()
        ))];
        let ns = self.node.clone();
        if self.backend == FlannelBackend::Vxlan {
            let vtep_addr = Ipv4Net::new(lease.network(), 32).expect("32 is valid");
            actions.extend(
                [
                    NetOp::AddVxlan {
                        netns: ns.clone(),
                        name: s(VXLAN_DEV),
                        mac: self.vtep_mac,
                        vni: 1,
                        local: ip,
                        dev: s("eth0"),
                        dstport: VXLAN_PORT,
                        learning: false,
                    },
                    NetOp::SetMtu { netns: ns.clone(), dev: s(VXLAN_DEV), mtu: self.backend.mtu() },
                    NetOp::AddAddr { netns: ns.clone(), dev: s(VXLAN_DEV), addr: vtep_addr },
                    NetOp::SetLinkUp { netns: ns.clone(), dev: s(VXLAN_DEV), up: true },
                ]
                .map(Action::Net),
            );
        }
        actions.push(Action::Net(NetOp::IptablesRestore {
            netns: ns,
            input: masquerade_rules(self.network, lease),
            noflush: true,
        }));
        let mut status = status.clone();
        let a = &mut status.annotations;
        a.insert(format!("{ANNOTATION_PREFIX}backend-type"), s(self.backend.name()));
        let data = match self.backend {
            FlannelBackend::Vxlan => format!("{{\"VNI\":1,\"VtepMAC\":\"{}\"}}", self.vtep_mac),
            FlannelBackend::HostGw => s("null"),
        };
        a.insert(format!("{ANNOTATION_PREFIX}backend-data"), data);
        a.insert(format!("{ANNOTATION_PREFIX}kube-subnet-manager"), s("true"));
        a.insert(format!("{ANNOTATION_PREFIX}public-ip"), ip.to_string());
        actions.push(Action::Write(Object::Node(node.clone(), status)));
        actions
    }

    /// What to install for another node's lease, from its annotations.
    fn add_remote(&mut self, name: &str, status: &crate::store::NodeStatus) -> Vec<Action> {
        let a = &status.annotations;
        let Some(public_ip) =
            a.get(&format!("{ANNOTATION_PREFIX}public-ip")).and_then(|x| x.parse::<Ipv4Addr>().ok())
        else {
            return vec![];
        };
        if self.known.get(name).is_some_and(|r| r.lease == status.pod_cidr) {
            return vec![];
        }
        let lease = status.pod_cidr;
        self.known.insert(s(name), Remote { lease, public_ip, vtep_mac: None });
        let ns = self.node.clone();
        match self.backend {
            FlannelBackend::HostGw => vec![
                Action::Log(format!("{name}: lease {lease} via {public_ip}")),
                Action::Net(NetOp::AddRoute {
                    netns: ns,
                    route: RouteSpec::new(lease).via(public_ip).dev("eth0"),
                }),
            ],
            FlannelBackend::Vxlan => {
                let data = a.get(&format!("{ANNOTATION_PREFIX}backend-data")).cloned().unwrap_or_default();
                let Some(mac) = vtep_mac(&data) else {
                    return vec![Action::Log(format!(
                        "{name}: backend-data {data:?} has no VtepMAC; ignored"
                    ))];
                };
                let gw = lease.network();
                self.known.insert(s(name), Remote { lease, public_ip, vtep_mac: Some(mac) });
                vec![
                    Action::Log(format!("{name}: lease {lease}, VTEP {mac} at {public_ip}")),
                    Action::Net(NetOp::AddNeigh { netns: ns.clone(), ip: gw, mac, dev: s(VXLAN_DEV) }),
                    Action::Net(NetOp::AddFdb {
                        netns: ns.clone(),
                        mac,
                        dev: s(VXLAN_DEV),
                        dst: Some(public_ip),
                    }),
                    Action::Net(NetOp::AddRoute {
                        netns: ns,
                        route: RouteSpec::new(lease).via(gw).dev(VXLAN_DEV).onlink(),
                    }),
                ]
            }
        }
    }
}

impl Flanneld {
    /// The lease of deleted node `name` is gone (`EventRemoved`): remove its entries.
    fn remove_remote(&mut self, name: &str) -> Vec<Action> {
        let Some(r) = self.known.remove(name) else { return vec![] };
        let ns = self.node.clone();
        let log = Action::Log(format!("{name}: lease {} removed", r.lease));
        match (self.backend, r.vtep_mac) {
            (FlannelBackend::Vxlan, Some(mac)) => {
                let gw = r.lease.network();
                vec![
                    log,
                    Action::Net(NetOp::DelNeigh { netns: ns.clone(), ip: gw, dev: s(VXLAN_DEV) }),
                    Action::Net(NetOp::DelFdb {
                        netns: ns.clone(),
                        mac,
                        dev: s(VXLAN_DEV),
                        dst: Some(r.public_ip),
                    }),
                    Action::Net(NetOp::DelRoute {
                        netns: ns,
                        route: RouteSpec::new(r.lease).via(gw).dev(VXLAN_DEV).onlink(),
                    }),
                ]
            }
            (FlannelBackend::HostGw, _) => vec![
                log,
                Action::Net(NetOp::DelRoute {
                    netns: ns,
                    route: RouteSpec::new(r.lease).via(r.public_ip).dev("eth0"),
                }),
            ],
            (FlannelBackend::Vxlan, None) => vec![log],
        }
    }
}

/// `"VtepMAC":"0a:..."` out of the backend-data annotation.
fn vtep_mac(data: &str) -> Option<Mac> {
    let i = data.find("\"VtepMAC\":\"")? + 11;
    Mac::parse(data.get(i..i + 17)?)
}

/// The rules flannel's iptables traffic manager writes for `--ip-masq` (reference
/// §5.4), as an iptables-restore --noflush payload.
pub fn masquerade_rules(network: Ipv4Net, lease: Ipv4Net) -> String {
    let m = "-m comment --comment \"flanneld masq\"";
    let f = "-m comment --comment \"flanneld forward\"";
    format!(
        "*nat\n:FLANNEL-POSTRTG - [0:0]\n\
         -A POSTROUTING {m} -j FLANNEL-POSTRTG\n\
         -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 {m} -j RETURN\n\
         -A FLANNEL-POSTRTG -s {lease} -d {network} {m} -j RETURN\n\
         -A FLANNEL-POSTRTG -s {network} -d {lease} {m} -j RETURN\n\
         -A FLANNEL-POSTRTG ! -s {network} -d {lease} {m} -j RETURN\n\
         -A FLANNEL-POSTRTG -s {network} ! -d 224.0.0.0/4 {m} -j MASQUERADE --random-fully\n\
         -A FLANNEL-POSTRTG ! -s {network} -d {network} {m} -j MASQUERADE --random-fully\n\
         COMMIT\n\
         *filter\n:FLANNEL-FWD - [0:0]\n\
         -A FORWARD {f} -j FLANNEL-FWD\n\
         -A FLANNEL-FWD -s {network} {f} -j ACCEPT\n\
         -A FLANNEL-FWD -d {network} {f} -j ACCEPT\n\
         COMMIT\n"
    )
}

impl Controller for Flanneld {
    /// Informers of flanneld (kube subnet manager): nodes.
    fn watches(&self, kind: &str) -> bool {
        ["Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// flanneld starts after the node registers; 50 ms keeps it before the first pods.
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(50)
    }
    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        let Object::Node(node, _) = &ev.object else { return vec![] };
        if ev.kind == crate::store::WatchKind::Deleted {
            if node.name == self.node {
                return vec![Action::Log(format!("own node {} deleted: lease lost", self.node))];
            }
            return if self.started { self.remove_remote(&node.name) } else { vec![] };
        }
        // Act on the current state of the node, not the (possibly stale) event.
        let Some((node, status)) = store.nodes().find(|(n, _)| n.name == node.name) else { return vec![] };
        if node.name == self.node {
            if self.started {
                return vec![];
            }
            let mut actions = self.start(status.ip, status.pod_cidr, node, status);
            // Nodes that published their backend before we started.
            let others: Vec<(String, crate::store::NodeStatus)> = store
                .nodes()
                .filter(|(n, _)| n.name != self.node)
                .map(|(n, s)| (n.name.clone(), s.clone()))
                .collect();
            for (name, st) in others {
                actions.extend(self.add_remote(&name, &st));
            }
            return actions;
        }
        if !self.started {
            return vec![];
        }
        let status = status.clone();
        self.add_remote(&node.name.clone(), &status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtep_mac_is_read_from_backend_data() {
        assert_eq!(vtep_mac(r#"{"VNI":1,"VtepMAC":"0a:58:0a:f4:01:00"}"#), Mac::parse("0a:58:0a:f4:01:00"));
        assert_eq!(vtep_mac("null"), None);
    }

    #[test]
    fn masquerade_rules_load_and_save_as_iptables_nft_prints_them() {
        let mut nf = sim_net::netfilter::Netfilter::new();
        nf.restore(
            &masquerade_rules("10.244.0.0/16".parse().unwrap(), "10.244.1.0/24".parse().unwrap()),
            true,
        )
        .unwrap();
        let saved = nf.save_table(sim_net::netfilter::TableName::Nat);
        // The reference's lab output (iptables-nft 1.8.9) for Network 10.244.0.0/16, lease 10.244.1.0/24.
        for line in [
            "-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG",
            "-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment \"flanneld masq\" -j RETURN",
            "-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully",
            "-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully",
        ] {
            assert!(saved.contains(line), "missing {line}\nin\n{saved}");
        }
    }
}
