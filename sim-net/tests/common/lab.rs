//! The netfilter lab of the dataplane reference (§6.6): one node with pods A
//! (10.244.1.5, listening on 8080) and B (10.244.1.6) on the bridge cni0 (ports veth0
//! and veth1), kube-proxy-shaped rules (ClusterIP 10.96.100.10:80 → A:8080, NodePort
//! 30080, 10.96.100.20 without endpoints), and an outside host `ext` on eth0.

use super::{Harness, mac, s};
use sim_core::SimDuration;
use sim_net::ops::{NetOp, RouteSpec};
use sim_net::packet::IpProto;
use sim_net::stack::{Listener, ProbeOutcome};

pub const RULES: &str = r#"*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-SERVICES -m comment --comment "default/empty has no endpoints" -m tcp -p tcp -d 10.96.100.20 --dport 80 -j REJECT
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-SEP-A - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.96.100.10 --dport 80 -j KUBE-SVC-WEB
-A KUBE-NODEPORTS -m comment --comment default/web -m tcp -p tcp --dport 30080 -j KUBE-EXT-WEB
-A KUBE-SVC-WEB -m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.96.100.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -m comment --comment "masquerade traffic for default/web external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "default/web -> 10.244.1.5:8080" -j KUBE-SEP-A
-A KUBE-SEP-A -m comment --comment default/web -s 10.244.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-A -m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
"#;

pub fn op_up(ns: &str, dev: &str) -> NetOp {
    NetOp::SetLinkUp { netns: s(ns), dev: s(dev), up: true }
}
pub fn op_addr(ns: &str, dev: &str, a: &str) -> NetOp {
    NetOp::AddAddr { netns: s(ns), dev: s(dev), addr: a.parse().unwrap() }
}
pub fn sysctl(ns: &str, k: &str, v: &str) -> NetOp {
    NetOp::Sysctl { netns: s(ns), key: s(k), value: s(v) }
}

/// The lab topology, with its knobs.
pub fn lab(hairpin: bool, br_nf: bool, ip_forward: bool) -> Harness {
    let mut h = Harness::new();
    let default = |gw: &str| RouteSpec::new("0.0.0.0/0".parse().unwrap()).via(gw.parse().unwrap());
    h.apply(&[
        NetOp::AddNetns { name: s("node") },
        NetOp::AddNetns { name: s("ext") },
        op_up("node", "lo"),
        op_up("ext", "lo"),
        NetOp::AddVeth {
            netns: s("node"),
            name: s("eth0"),
            mac: mac(1),
            peer_netns: s("ext"),
            peer_name: s("eth0"),
            peer_mac: mac(2),
        },
        op_addr("node", "eth0", "192.168.56.11/24"),
        op_addr("ext", "eth0", "192.168.56.1/24"),
        op_up("node", "eth0"),
        op_up("ext", "eth0"),
        NetOp::AddRoute { netns: s("node"), route: default("192.168.56.1") },
        NetOp::AddRoute {
            netns: s("ext"),
            route: RouteSpec::new("10.96.0.0/12".parse().unwrap()).via("192.168.56.11".parse().unwrap()),
        },
        NetOp::AddBridge { netns: s("node"), name: s("cni0"), mac: mac(0x10) },
        op_addr("node", "cni0", "10.244.1.1/24"),
        op_up("node", "cni0"),
        sysctl("node", "net.ipv4.ip_forward", if ip_forward { "1" } else { "0" }),
        sysctl("node", "net.bridge.bridge-nf-call-iptables", if br_nf { "1" } else { "0" }),
    ]);
    for (i, (pod, ip)) in [("pod-a", "10.244.1.5/24"), ("pod-b", "10.244.1.6/24")].iter().enumerate() {
        let hostside = format!("veth{i}");
        h.apply(&[
            NetOp::AddNetns { name: s(pod) },
            op_up(pod, "lo"),
            NetOp::AddVeth {
                netns: s(pod),
                name: s("eth0"),
                mac: mac(0x20 + 2 * i as u8),
                peer_netns: s("node"),
                peer_name: hostside.clone(),
                peer_mac: mac(0x21 + 2 * i as u8),
            },
            NetOp::SetMaster { netns: s("node"), dev: hostside.clone(), master: Some(s("cni0")) },
            NetOp::SetHairpin { netns: s("node"), dev: hostside.clone(), on: hairpin },
            op_up("node", &hostside),
            op_addr(pod, "eth0", ip),
            op_up(pod, "eth0"),
            NetOp::AddRoute { netns: s(pod), route: default("10.244.1.1") },
        ]);
    }
    h.apply(&[NetOp::IptablesRestore { netns: s("node"), input: RULES.to_string(), noflush: true }]);
    h.net
        .netns_mut("pod-a")
        .unwrap()
        .stack
        .listen(Listener { proto: IpProto::Tcp, port: 8080, owner: s("a") })
        .unwrap();
    h
}

pub fn tcp(h: &mut Harness, from: &str, dst: &str, port: u16) -> (ProbeOutcome, Option<String>, String) {
    let (o, detail, seen) = h.probe_with_timeout(from, IpProto::Tcp, dst, port, SimDuration::from_secs(2));
    (o, seen.map(|s| s.to_string()), detail)
}
