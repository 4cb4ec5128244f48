//! Component tests of the L2/L3 dataplane driven by NetOps only.

mod common;

use common::{Harness, addr, mac, netns, route, s, up, veth};
use sim_net::ops::{NetOp, RouteSpec};
use sim_net::packet::IpProto;
use sim_net::stack::{Listener, ProbeOutcome};

fn fwd(ns: &str) -> NetOp {
    NetOp::Sysctl { netns: s(ns), key: s("net.ipv4.ip_forward"), value: s("1") }
}

/// a (10.0.0.1) -- b (10.0.0.2) on one veth.
fn two_hosts() -> Harness {
    let mut h = Harness::new();
    h.apply(&[
        netns("a"),
        netns("b"),
        veth("a", "eth0", "b", "eth0", 1),
        addr("a", "eth0", "10.0.0.1/24"),
        addr("b", "eth0", "10.0.0.2/24"),
        up("a", "eth0"),
        up("b", "eth0"),
        up("a", "lo"),
        up("b", "lo"),
    ]);
    h
}

/// Pods on a bridge: p1, p2 on br0 in "host" (10.1.0.1/24).
fn bridge_with_two_pods() -> Harness {
    let mut h = Harness::new();
    h.apply(&[
        netns("host"),
        NetOp::AddBridge { netns: s("host"), name: s("br0"), mac: mac(0x10) },
        addr("host", "br0", "10.1.0.1/24"),
        up("host", "br0"),
    ]);
    for (i, p) in ["p1", "p2"].iter().enumerate() {
        let hostside = format!("veth{i}");
        h.apply(&[
            netns(p),
            veth("host", &hostside, p, "eth0", 0x20 + 2 * i as u8),
            NetOp::SetMaster { netns: s("host"), dev: hostside.clone(), master: Some(s("br0")) },
            up("host", &hostside),
            addr(p, "eth0", &format!("10.1.0.{}/24", i + 2)),
            up(p, "eth0"),
            route(p, RouteSpec::new("0.0.0.0/0".parse().unwrap()).via("10.1.0.1".parse().unwrap())),
        ]);
    }
    h
}

#[test]
fn ping_over_a_veth_is_answered_after_arp() {
    let mut h = two_hosts();
    let (outcome, _, seen) = h.probe("a", IpProto::Icmp, "10.0.0.2", 0);
    assert_eq!(outcome, ProbeOutcome::Reached);
    assert_eq!(seen, Some("10.0.0.1".parse().unwrap()));
    let lines = h.hop_lines().join("\n");
    assert!(lines.contains("who-has 10.0.0.2"), "{lines}");
    assert!(lines.contains("10.0.0.2 is-at 02:00:00:00:00:02"), "{lines}");
    // b learned a from the request; a has b as REACHABLE.
    let a = h.net.netns("a").unwrap();
    let e = &a.neigh.entries[&(2, "10.0.0.2".parse().unwrap())];
    assert_eq!(e.mac, Some(mac(2)));
}

#[test]
fn tcp_to_a_closed_port_is_refused_and_to_a_listener_reached() {
    let mut h = two_hosts();
    let (o, _, _) = h.probe("a", IpProto::Tcp, "10.0.0.2", 80);
    assert_eq!(o, ProbeOutcome::Refused);
    h.net
        .netns_mut("b")
        .unwrap()
        .stack
        .listen(Listener { proto: IpProto::Tcp, port: 80, owner: s("web") })
        .unwrap();
    let (o, _, seen) = h.probe("a", IpProto::Tcp, "10.0.0.2", 80);
    assert_eq!(o, ProbeOutcome::Reached);
    assert_eq!(seen, Some("10.0.0.1".parse().unwrap()));
}

#[test]
fn udp_to_a_closed_port_gets_icmp_port_unreachable() {
    let mut h = two_hosts();
    let (o, detail, _) = h.probe("a", IpProto::Udp, "10.0.0.2", 53);
    assert_eq!(o, ProbeOutcome::Unreachable);
    assert!(detail.contains("udp port 53 unreachable"), "{detail}");
}

#[test]
fn no_route_fails_at_send_time() {
    let mut h = two_hosts();
    let (o, detail, _) = h.probe("a", IpProto::Icmp, "192.0.2.1", 0);
    assert_eq!(o, ProbeOutcome::Unreachable);
    assert!(detail.contains("Network is unreachable"), "{detail}");
}

#[test]
fn arp_failure_gives_host_unreachable_after_three_requests() {
    let mut h = two_hosts();
    let timeout = sim_core::SimDuration::from_secs(5);
    let (o, detail, _) = h.probe_with_timeout("a", IpProto::Icmp, "10.0.0.99", 0, timeout);
    assert_eq!(o, ProbeOutcome::Unreachable, "{detail}");
    assert!(detail.contains("ICMP host 10.0.0.99 unreachable"), "{detail}");
    let lines = h.hop_lines();
    assert_eq!(lines.iter().filter(|l| l.contains("who-has 10.0.0.99? (broadcast)")).count(), 3);
    // Requests at 0, 1 and 2 s; the entry fails at 3 s.
    assert_eq!(h.now(), sim_core::SimTime::from_nanos(5_000_000_000), "the probe timer is the last event");
}

#[test]
fn bridge_learns_and_forwards_between_ports() {
    let mut h = bridge_with_two_pods();
    let (o, _, seen) = h.probe("p1", IpProto::Icmp, "10.1.0.3", 0);
    assert_eq!(o, ProbeOutcome::Reached);
    assert_eq!(seen, Some("10.1.0.2".parse().unwrap()));
    let lines = h.hop_lines().join("\n");
    assert!(lines.contains("flood (broadcast ff:ff:ff:ff:ff:ff)"), "{lines}");
    assert!(lines.contains("FDB hit 02:00:00:00:00:23 -> port veth1"), "{lines}");
    let host = h.net.netns("host").unwrap();
    let br = host.dev("br0").unwrap().bridge().unwrap();
    let ports: Vec<u32> = [mac(0x21), mac(0x23)].iter().map(|m| br.fdb[m].port).collect();
    assert_eq!(ports, vec![host.ifindex("veth0").unwrap(), host.ifindex("veth1").unwrap()]);
}

#[test]
fn forwarding_needs_ip_forward_and_decrements_ttl() {
    // a -- r -- b, r routes.
    let mut h = Harness::new();
    h.apply(&[
        netns("a"),
        netns("r"),
        netns("b"),
        veth("a", "eth0", "r", "eth0", 1),
        veth("r", "eth1", "b", "eth0", 3),
        addr("a", "eth0", "10.0.1.2/24"),
        addr("r", "eth0", "10.0.1.1/24"),
        addr("r", "eth1", "10.0.2.1/24"),
        addr("b", "eth0", "10.0.2.2/24"),
        up("a", "eth0"),
        up("r", "eth0"),
        up("r", "eth1"),
        up("b", "eth0"),
        route("a", RouteSpec::new("0.0.0.0/0".parse().unwrap()).via("10.0.1.1".parse().unwrap())),
        route("b", RouteSpec::new("0.0.0.0/0".parse().unwrap()).via("10.0.2.1".parse().unwrap())),
    ]);
    let (o, _, _) = h.probe("a", IpProto::Icmp, "10.0.2.2", 0);
    assert_eq!(o, ProbeOutcome::Timeout, "ip_forward=0 drops silently");
    assert!(h.hop_lines().join("\n").contains("net.ipv4.ip_forward=0"));
    h.apply(&[fwd("r")]);
    let (o, _, _) = h.probe("a", IpProto::Icmp, "10.0.2.2", 0);
    assert_eq!(o, ProbeOutcome::Reached);
    assert!(h.hop_lines().join("\n").contains("ttl 64->63"));
}

#[test]
fn a_routing_loop_ends_in_time_exceeded() {
    // r1 and r2 point the same prefix at each other.
    let mut h = Harness::new();
    h.apply(&[
        netns("a"),
        netns("r1"),
        netns("r2"),
        veth("a", "eth0", "r1", "eth0", 1),
        veth("r1", "eth1", "r2", "eth0", 3),
        addr("a", "eth0", "10.0.1.2/24"),
        addr("r1", "eth0", "10.0.1.1/24"),
        addr("r1", "eth1", "10.0.2.1/24"),
        addr("r2", "eth0", "10.0.2.2/24"),
        up("a", "eth0"),
        up("r1", "eth0"),
        up("r1", "eth1"),
        up("r2", "eth0"),
        fwd("r1"),
        fwd("r2"),
        route("a", RouteSpec::new("0.0.0.0/0".parse().unwrap()).via("10.0.1.1".parse().unwrap())),
        route("r1", RouteSpec::new("198.51.100.0/24".parse().unwrap()).via("10.0.2.2".parse().unwrap())),
        route("r2", RouteSpec::new("0.0.0.0/0".parse().unwrap()).via("10.0.2.1".parse().unwrap())),
    ]);
    let (o, detail, _) = h.probe("a", IpProto::Icmp, "198.51.100.7", 0);
    assert_eq!(o, ProbeOutcome::Unreachable);
    assert!(detail.contains("time exceeded"), "{detail}");
    assert!(h.hop_lines().join("\n").contains("TTL exceeded"));
}

#[test]
fn ops_fail_with_linux_messages() {
    let mut h = two_hosts();
    let now = h.now();
    let e = h.net.apply(&addr("a", "nope", "10.9.9.9/24"), now).unwrap_err();
    assert_eq!(e.to_string(), "Cannot find device \"nope\"");
    let e = h
        .net
        .apply(
            &route("a", RouteSpec::new("10.5.0.0/16".parse().unwrap()).via("10.9.9.9".parse().unwrap())),
            now,
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "Error: Nexthop has invalid gateway.");
    let e = h.net.apply(&addr("a", "eth0", "10.0.0.1/24"), now).unwrap_err();
    assert_eq!(e.to_string(), "RTNETLINK answers: File exists");
    let e = h.net.apply(&netns("a"), now).unwrap_err();
    assert!(e.to_string().contains("File exists"));
}
