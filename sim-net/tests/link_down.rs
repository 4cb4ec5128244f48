//! A cable unplugged at the switch (`ip link set PORT down` on a bridge port whose veth
//! peer is a host's eth0), as a failed node is modelled: what Linux 6.18 does, checked
//! with real namespaces while writing this (see docs/concepts/failures.md). The port
//! forgets its learned stations; the host's eth0 loses carrier: `state DOWN` (its peer
//! is in another namespace), dynamic neighbours flushed, permanent ones kept, routes kept
//! with `linkdown`; nothing crosses until the port is up again.

mod common;

use common::{Harness, addr, mac, netns, s, up, veth};
use sim_core::SimDuration;
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;
use sim_net::show::{self, Render};
use sim_net::stack::ProbeOutcome;

fn topology() -> Harness {
    let mut h = Harness::new();
    h.apply(&[
        netns("sw"),
        NetOp::AddBridge { netns: s("sw"), name: s("br0"), mac: mac(0xb0) },
        up("sw", "br0"),
        netns("a"),
        netns("c"),
        veth("a", "eth0", "sw", "port-a", 0x10),
        veth("c", "eth0", "sw", "port-c", 0x20),
        NetOp::SetMaster { netns: s("sw"), dev: s("port-a"), master: Some(s("br0")) },
        NetOp::SetMaster { netns: s("sw"), dev: s("port-c"), master: Some(s("br0")) },
        up("sw", "port-a"),
        up("sw", "port-c"),
        addr("a", "eth0", "10.9.0.1/24"),
        addr("c", "eth0", "10.9.0.3/24"),
        up("a", "eth0"),
        up("c", "eth0"),
        up("a", "lo"),
        up("c", "lo"),
        NetOp::AddNeigh { netns: s("a"), ip: "10.9.0.99".parse().unwrap(), mac: mac(0x99), dev: s("eth0") },
    ]);
    h
}

fn render(h: &Harness, ns: &str, r: Render) -> String {
    show::render(&h.net, ns, r, h.now()).unwrap()
}

#[test]
fn an_unplugged_port_cuts_the_host_off_and_plugging_it_back_restores_it() {
    let mut h = topology();
    let (outcome, _, _) = h.probe("c", IpProto::Icmp, "10.9.0.1", 0);
    assert_eq!(outcome, ProbeOutcome::Reached);
    assert!(render(&h, "sw", Render::BridgeFdb).contains("02:00:00:00:00:10 dev port-a master br0"));
    assert!(render(&h, "a", Render::IpNeigh).contains("10.9.0.3 dev eth0"));

    h.apply(&[NetOp::SetLinkUp { netns: s("sw"), dev: s("port-a"), up: false }]);
    let fdb = render(&h, "sw", Render::BridgeFdb);
    assert!(!fdb.contains("02:00:00:00:00:10 dev port-a master br0 \n"), "learned entry kept:\n{fdb}");
    let brief = render(&h, "a", Render::IpAddrBrief);
    assert!(brief.contains("eth0@if") && brief.contains(" DOWN "), "{brief}");
    let neigh = render(&h, "a", Render::IpNeigh);
    assert!(!neigh.contains("10.9.0.3"), "dynamic neighbour kept:\n{neigh}");
    assert!(neigh.contains("10.9.0.99 dev eth0 lladdr 02:00:00:00:00:99 PERMANENT"), "{neigh}");
    let routes = render(&h, "a", Render::IpRoute);
    assert!(
        routes.contains("10.9.0.0/24 dev eth0 proto kernel scope link src 10.9.0.1 linkdown"),
        "{routes}"
    );
    let (outcome, _, _) = h.probe_with_timeout("c", IpProto::Icmp, "10.9.0.1", 0, SimDuration::from_secs(2));
    assert_ne!(outcome, ProbeOutcome::Reached);

    h.apply(&[NetOp::SetLinkUp { netns: s("sw"), dev: s("port-a"), up: true }]);
    assert!(render(&h, "a", Render::IpAddrBrief).contains(" UP "));
    let (outcome, _, _) = h.probe("c", IpProto::Icmp, "10.9.0.1", 0);
    assert_eq!(outcome, ProbeOutcome::Reached);
}

#[test]
fn a_veth_whose_peer_in_the_same_namespace_is_down_reads_lowerlayerdown() {
    let mut h = Harness::new();
    h.apply(&[netns("x"), veth("x", "v0", "x", "v1", 0x30), up("x", "v0")]);
    let link = render(&h, "x", Render::IpLink);
    // Printed by iproute2 6.1 on Linux 6.18 for the same two commands.
    assert!(
        link.contains(
            "v0@v1: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN"
        ),
        "{link}"
    );
}
