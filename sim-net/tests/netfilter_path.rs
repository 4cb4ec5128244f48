//! The iptables engine and conntrack on the packet path, checked against the results of
//! the lab in the dataplane reference (§6.6: real kernel, iptables-nft 1.8.9,
//! kube-proxy-shaped rules): one node with pods A (10.244.1.5, listening on 8080) and B
//! (10.244.1.6) on cni0, ClusterIP 10.96.100.10:80 → A:8080, NodePort 30080, a service
//! without endpoints (REJECT), and an outside host on eth0.

mod common;

use common::{Harness, mac, s};
use sim_core::SimDuration;
use sim_net::ops::{NetOp, RouteSpec};
use sim_net::packet::IpProto;
use sim_net::stack::{Listener, ProbeOutcome};

const RULES: &str = r#"*filter
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

fn op_up(ns: &str, dev: &str) -> NetOp {
    NetOp::SetLinkUp { netns: s(ns), dev: s(dev), up: true }
}
fn op_addr(ns: &str, dev: &str, a: &str) -> NetOp {
    NetOp::AddAddr { netns: s(ns), dev: s(dev), addr: a.parse().unwrap() }
}
fn sysctl(ns: &str, k: &str, v: &str) -> NetOp {
    NetOp::Sysctl { netns: s(ns), key: s(k), value: s(v) }
}

/// The lab topology, with its knobs.
fn lab(hairpin: bool, br_nf: bool, ip_forward: bool) -> Harness {
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

fn tcp(h: &mut Harness, from: &str, dst: &str, port: u16) -> (ProbeOutcome, Option<String>, String) {
    let (o, detail, seen) = h.probe_with_timeout(from, IpProto::Tcp, dst, port, SimDuration::from_secs(2));
    (o, seen.map(|s| s.to_string()), detail)
}

#[test]
fn pod_to_cluster_ip_is_dnatted_without_masquerade() {
    let mut h = lab(true, true, true);
    let (o, seen, d) = tcp(&mut h, "pod-b", "10.96.100.10", 80);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.6")), "{d}");
    let trace = h.hop_lines().join("\n");
    assert!(trace.contains("DNAT 10.96.100.10:80 -> 10.244.1.5:8080"), "{trace}");
    assert!(trace.contains("bridged DNAT"), "{trace}");
    // The reply is un-DNATed back to the ClusterIP before pod-b sees it.
    assert!(trace.contains("SNAT 10.244.1.5:8080 -> 10.96.100.10:80"), "{trace}");
    let ct = h.net.netns("node").unwrap().nf.conntrack.render_list(h.now());
    assert!(
        ct.contains("src=10.244.1.6 dst=10.96.100.10")
            && ct.contains("src=10.244.1.5 dst=10.244.1.6 sport=8080"),
        "{ct}"
    );
}

#[test]
fn without_bridge_nf_call_iptables_the_reply_is_not_un_dnatted_and_the_client_times_out() {
    let mut h = lab(true, false, true);
    let (o, _, d) = tcp(&mut h, "pod-b", "10.96.100.10", 80);
    assert_eq!(o, ProbeOutcome::Timeout, "{d}");
}

#[test]
fn hairpin_to_self_needs_hairpin_mode_and_is_masqueraded_to_the_bridge_address() {
    let mut h = lab(false, true, true);
    assert_eq!(tcp(&mut h, "pod-a", "10.96.100.10", 80).0, ProbeOutcome::Timeout);
    assert!(h.hop_lines().join("\n").contains("hairpin_mode is off"));
    let mut h = lab(true, true, true);
    let (o, seen, d) = tcp(&mut h, "pod-a", "10.96.100.10", 80);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
}

#[test]
fn hairpin_without_bridge_nf_goes_through_the_ip_stack_and_works_without_hairpin_mode() {
    let mut h = lab(false, false, true);
    let (o, seen, d) = tcp(&mut h, "pod-a", "10.96.100.10", 80);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
}

#[test]
fn node_to_cluster_ip_is_masqueraded_to_the_egress_device_address() {
    let mut h = lab(true, true, true);
    let (o, seen, d) = tcp(&mut h, "node", "10.96.100.10", 80);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
}

#[test]
fn nodeport_from_outside_and_from_a_pod_is_masqueraded() {
    let mut h = lab(true, true, true);
    let (o, seen, d) = tcp(&mut h, "ext", "192.168.56.11", 30080);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
    let (o, seen, d) = tcp(&mut h, "pod-b", "192.168.56.11", 30080);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
}

#[test]
fn outside_to_a_cluster_ip_routed_to_the_node_works() {
    let mut h = lab(true, true, true);
    let (o, seen, d) = tcp(&mut h, "ext", "10.96.100.10", 80);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
}

#[test]
fn node_port_80_is_refused_by_the_node_itself() {
    let mut h = lab(true, true, true);
    assert_eq!(tcp(&mut h, "ext", "192.168.56.11", 80).0, ProbeOutcome::Refused);
}

#[test]
fn a_cluster_ip_port_without_a_rule_times_out() {
    let mut h = lab(true, true, true);
    assert_eq!(tcp(&mut h, "pod-b", "10.96.100.10", 81).0, ProbeOutcome::Timeout);
}

#[test]
fn a_service_without_endpoints_is_rejected_from_pods_and_from_the_node() {
    let mut h = lab(true, true, true);
    let (o, _, d) = tcp(&mut h, "pod-b", "10.96.100.20", 80);
    assert_eq!(o, ProbeOutcome::Refused, "{d}");
    assert!(h.hop_lines().join("\n").contains("default/empty has no endpoints"));
    let (o, _, d) = tcp(&mut h, "node", "10.96.100.20", 80);
    assert_eq!(o, ProbeOutcome::Refused, "{d}");
}

#[test]
fn without_ip_forward_nodeport_and_cluster_ip_time_out() {
    let mut h = lab(true, true, false);
    assert_eq!(tcp(&mut h, "ext", "192.168.56.11", 30080).0, ProbeOutcome::Timeout);
    assert_eq!(tcp(&mut h, "pod-b", "10.96.100.10", 80).0, ProbeOutcome::Timeout);
}

#[test]
fn localhost_nodeport_needs_route_localnet() {
    let mut h = lab(true, true, true);
    assert_eq!(tcp(&mut h, "node", "127.0.0.1", 30080).0, ProbeOutcome::Timeout);
    let now = h.now();
    h.net.apply(&sysctl("node", "net.ipv4.conf.all.route_localnet", "1"), now).unwrap();
    let (o, seen, d) = tcp(&mut h, "node", "127.0.0.1", 30080);
    assert_eq!((o, seen.as_deref()), (ProbeOutcome::Reached, Some("10.244.1.1")), "{d}");
}

#[test]
fn only_the_first_packet_of_a_connection_traverses_the_nat_table() {
    let mut h = lab(true, true, true);
    tcp(&mut h, "pod-b", "10.96.100.10", 80);
    let trace = h.hop_lines().join("\n");
    // Every packet of the connection is translated from the conntrack binding...
    let translated = trace.matches("DNAT 10.96.100.10:80 -> 10.244.1.5:8080").count();
    assert!(translated >= 3, "SYN, ACK, data and FIN are all translated:\n{trace}");
    // ...but the DNAT rule itself matched once, for the SYN.
    let rule_hits = trace.matches("-j DNAT --to-destination 10.244.1.5:8080").count();
    assert_eq!(rule_hits, 1, "{trace}");
}

/// xt_addrtype with `--limit-iface-in`: the node's address 192.168.56.11 is on eth0,
/// so it is LOCAL for a packet that arrived on eth0 and UNICAST for one that arrived
/// on cni0 (`inet_dev_addr_type` requires the local route's device to be that one).
#[test]
fn addrtype_limit_iface_in_counts_an_address_as_local_only_on_its_own_device() {
    for (limit, from_pod) in [("", ProbeOutcome::Timeout), (" --limit-iface-in", ProbeOutcome::Refused)] {
        let mut h = lab(true, true, true);
        let now = h.now();
        let rule = format!(
            "*filter\n-I INPUT -p tcp --dport 80 -m addrtype --dst-type LOCAL{limit} -j DROP\nCOMMIT\n"
        );
        h.net.apply(&NetOp::IptablesRestore { netns: s("node"), input: rule, noflush: true }, now).unwrap();
        assert_eq!(tcp(&mut h, "ext", "192.168.56.11", 80).0, ProbeOutcome::Timeout, "from eth0{limit}");
        assert_eq!(tcp(&mut h, "pod-b", "192.168.56.11", 80).0, from_pod, "from cni0{limit}");
    }
}

/// Every table traversal where a rule matched ends with a verdict hop; a table where
/// nothing matched and the policy accepted leaves none; DROP/REJECT are drop hops with
/// iptables' spelling of the ICMP type; a policy DROP says so.
#[test]
fn each_table_where_a_rule_matched_has_a_verdict_hop() {
    let mut h = lab(true, true, true);
    tcp(&mut h, "pod-b", "10.96.100.10", 80);
    let trace = h.hop_lines().join("\n");
    assert!(trace.contains("nat PREROUTING: ACCEPT (DNAT --to-destination 10.244.1.5:8080)"), "{trace}");
    // KUBE-FORWARD's conntrack rule accepts replies; the SYN falls through to the policy.
    assert!(trace.contains("filter FORWARD: ACCEPT (policy)"), "{trace}");
    assert!(
        trace.contains("filter FORWARD: ACCEPT\n") || trace.contains("filter FORWARD: ACCEPT |"),
        "{trace}"
    );
    // The raw and mangle tables are not loaded; nat INPUT has no rules.
    assert!(!trace.contains("nat INPUT:") && !trace.contains("raw "), "{trace}");
    let (o, _, _) = tcp(&mut h, "pod-b", "10.96.100.20", 80);
    assert_eq!(o, ProbeOutcome::Refused);
    let trace = h.hop_lines().join("\n");
    assert!(trace.contains("filter FORWARD --reject-with icmp-port-unreachable"), "{trace}");
    let now = h.now();
    h.net
        .apply(
            &NetOp::IptablesRestore {
                netns: s("node"),
                input: "*filter\n:INPUT DROP [0:0]\nCOMMIT\n".into(),
                noflush: true,
            },
            now,
        )
        .unwrap();
    assert_eq!(tcp(&mut h, "ext", "192.168.56.11", 22).0, ProbeOutcome::Timeout);
    let trace = h.hop_lines().join("\n");
    assert!(trace.contains("filter INPUT (policy DROP)"), "{trace}");
}
