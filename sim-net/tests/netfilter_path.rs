//! The iptables engine and conntrack on the packet path, checked against the results of
//! the lab in the dataplane reference (§6.6: real kernel, iptables-nft 1.8.9,
//! kube-proxy-shaped rules): one node with pods A (10.244.1.5, listening on 8080) and B
//! (10.244.1.6) on cni0, ClusterIP 10.96.100.10:80 → A:8080, NodePort 30080, a service
//! without endpoints (REJECT), and an outside host on eth0.

mod common;

use common::lab::{lab, sysctl, tcp};
use common::s;
use sim_net::ops::NetOp;
use sim_net::stack::ProbeOutcome;

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
