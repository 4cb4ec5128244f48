//! The iproute2 renderers against what the real tools printed for the same topology,
//! recorded by `tests/fixtures/iproute2/record.sh` (iproute2 6.1, Linux 6.18). The
//! topology below is that script, op for op, built with NetOps; both sides go through
//! `show::normalize`, which only removes what the model deliberately lacks.

mod common;

use common::{Harness, mac, s};
use sim_core::SimDuration;
use sim_net::ops::{NetOp, RouteSpec, RouteType};
use sim_net::packet::IpProto;
use sim_net::show::{self, Render};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/iproute2");

fn file(r: Render) -> &'static str {
    match r {
        Render::IpRoute => "route",
        Render::IpRouteLocal => "route-local",
        Render::IpAddrBrief => "addr-brief",
        Render::IpLink => "link",
        Render::IpLinkDetails => "link-details",
        Render::IpNeigh => "neigh",
        Render::BridgeFdb => "fdb",
        Render::IptablesSave => "iptables-save",
    }
}

fn netns(n: &str) -> NetOp {
    NetOp::AddNetns { name: s(n) }
}
fn up(ns: &str, dev: &str) -> NetOp {
    NetOp::SetLinkUp { netns: s(ns), dev: s(dev), up: true }
}
fn down(ns: &str, dev: &str) -> NetOp {
    NetOp::SetLinkUp { netns: s(ns), dev: s(dev), up: false }
}
fn addr(ns: &str, dev: &str, a: &str) -> NetOp {
    NetOp::AddAddr { netns: s(ns), dev: s(dev), addr: a.parse().unwrap() }
}
fn veth(a: &str, an: &str, m: u8, b: &str, bn: &str, pm: u8) -> NetOp {
    NetOp::AddVeth {
        netns: s(a),
        name: s(an),
        mac: mac(m),
        peer_netns: s(b),
        peer_name: s(bn),
        peer_mac: mac(pm),
    }
}
fn master(ns: &str, dev: &str, br: &str) -> NetOp {
    NetOp::SetMaster { netns: s(ns), dev: s(dev), master: Some(s(br)) }
}
fn route(ns: &str, spec: RouteSpec) -> NetOp {
    NetOp::AddRoute { netns: s(ns), route: spec }
}
fn ip(x: &str) -> std::net::Ipv4Addr {
    x.parse().unwrap()
}

/// record.sh's "cluster" part: node `host` with a bridge, two pods, an uplink veth to
/// `peer`, a blackhole route and a flannel-style vxlan device.
fn cluster_ops() -> Vec<NetOp> {
    let mut ops = vec![
        up("host", "lo"),
        NetOp::AddBridge { netns: s("host"), name: s("cni0"), mac: mac(0x10) },
        addr("host", "cni0", "10.1.0.1/24"),
        up("host", "cni0"),
    ];
    for i in 0..2u8 {
        let (pod, hv) = (format!("p{}", i + 1), format!("veth{i}"));
        ops.extend([
            veth("host", &hv, 0x20 + 2 * i, &pod, "eth0", 0x21 + 2 * i),
            master("host", &hv, "cni0"),
            up("host", &hv),
            addr(&pod, "eth0", &format!("10.1.0.{}/24", i + 2)),
            up(&pod, "eth0"),
            up(&pod, "lo"),
            route(&pod, RouteSpec::new("0.0.0.0/0".parse().unwrap()).via(ip("10.1.0.1"))),
        ]);
    }
    ops.extend([
        veth("host", "eth0", 0x30, "peer", "eth0", 0x31),
        addr("host", "eth0", "192.168.1.11/24"),
        up("host", "eth0"),
        addr("peer", "eth0", "192.168.1.12/24"),
        up("peer", "eth0"),
        up("peer", "lo"),
        route("host", RouteSpec::new("0.0.0.0/0".parse().unwrap()).via(ip("192.168.1.1")).dev("eth0")),
        route("host", RouteSpec::new("10.9.0.0/16".parse().unwrap()).kind(RouteType::Blackhole)),
        NetOp::AddVxlan {
            netns: s("host"),
            name: s("flannel.1"),
            mac: mac(0x40),
            vni: 1,
            local: ip("192.168.1.11"),
            dev: s("eth0"),
            dstport: 8472,
            learning: false,
        },
        addr("host", "flannel.1", "10.244.0.0/32"),
        up("host", "flannel.1"),
        route(
            "host",
            RouteSpec::new("10.244.1.0/24".parse().unwrap()).via(ip("10.244.1.0")).dev("flannel.1").onlink(),
        ),
        NetOp::AddNeigh { netns: s("host"), ip: ip("10.244.1.0"), mac: mac(0x41), dev: s("flannel.1") },
        NetOp::AddFdb {
            netns: s("host"),
            mac: mac(0x41),
            dev: s("flannel.1"),
            dst: Some(ip("192.168.1.12")),
        },
        NetOp::Sysctl { netns: s("host"), key: s("net.ipv4.ip_forward"), value: s("1") },
    ]);
    ops
}

/// record.sh's "st" part: devices without carrier, a same-namespace veth pair, hairpin,
/// a static FDB entry, linkdown routes.
fn states_ops() -> Vec<NetOp> {
    let mut metric = RouteSpec::new("10.0.0.0/8".parse().unwrap()).dev("x0");
    metric.metric = 100;
    vec![
        up("st", "lo"),
        down("st", "lo"),
        NetOp::AddBridge { netns: s("st"), name: s("br0"), mac: mac(0x50) },
        up("st", "br0"),
        // `ip link add x0 type veth peer name x1`: the peer x1 is registered first.
        veth("st", "x0", 0x51, "st", "x1", 0x52),
        up("st", "x0"),
        veth("st", "y0", 0x53, "stb", "y0", 0x54),
        master("st", "y0", "br0"),
        up("st", "y0"),
        NetOp::SetHairpin { netns: s("st"), dev: s("y0"), on: true },
        NetOp::AddFdb { netns: s("st"), mac: mac(0x99), dev: s("y0"), dst: None },
        addr("st", "x0", "10.5.0.1/24"),
        addr("st", "br0", "10.6.0.1/32"),
        route("st", RouteSpec::new("10.5.0.0/16".parse().unwrap()).via(ip("10.5.0.254"))),
        route("st", metric),
        NetOp::AddNeigh { netns: s("st"), ip: ip("10.5.0.9"), mac: mac(0x55), dev: s("x0") },
    ]
}

fn recorded_topology() -> Harness {
    let mut h = Harness::new();
    h.apply(&["host", "peer", "p1", "p2", "st", "stb"].map(netns));
    h.apply(&cluster_ops());
    h.apply(&states_ops());
    h.probe("p1", IpProto::Icmp, "10.1.0.3", 0);
    h.probe_with_timeout("p1", IpProto::Icmp, "10.1.0.99", 0, SimDuration::from_secs(5));
    h
}

fn compare(h: &Harness, ns: &str, r: Render) -> Result<(), String> {
    let path = format!("{FIXTURES}/{ns}.{}.txt", file(r));
    let real = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let ours = show::render(&h.net, ns, r, h.now()).expect("namespace exists and is rendered");
    let (real, ours) = (show::normalize(r, &real, ""), show::normalize(r, &ours, ""));
    if real == ours {
        Ok(())
    } else {
        Err(format!("{ns}: {}\n--- linux\n{real}--- ours\n{ours}", r.command()))
    }
}

#[test]
fn renderers_print_what_iproute2_prints_for_the_recorded_topology() {
    let h = recorded_topology();
    let mut failures = Vec::new();
    for ns in ["host", "peer", "p1", "p2", "st", "stb"] {
        for r in Render::ALL.into_iter().filter(|r| *r != Render::IptablesSave) {
            if let Err(e) = compare(&h, ns, r) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn normalize_drops_only_what_the_model_lacks() {
    let fdb =
        "33:33:00:00:00:01 dev eth0 self permanent\n02:00:00:00:00:41 dev vx dst 10.0.0.2 self permanent\n";
    assert_eq!(
        show::normalize(Render::BridgeFdb, fdb, ""),
        "02:00:00:00:00:41 dev vx dst 10.0.0.2 self permanent\n"
    );
    let neigh = "10.0.0.9 dev eth0 lladdr 02:00:00:00:00:01 DELAY \n10.0.0.1 dev eth0 FAILED \n";
    assert_eq!(
        show::normalize(Render::IpNeigh, neigh, ""),
        "10.0.0.1 dev eth0 <unresolved> \n10.0.0.9 dev eth0 lladdr 02:00:00:00:00:01 <valid> \n"
    );
    let save = "# Generated by iptables-save v1.8.9 on Mon\n*filter\n:INPUT ACCEPT [12:345]\n[3:4] -A INPUT -m comment --comment \"[1:2]x\" -j ACCEPT\nCOMMIT\n# Completed on Mon\n";
    assert_eq!(
        show::normalize(Render::IptablesSave, save, ""),
        "*filter\n:INPUT ACCEPT [0:0]\n[0:0] -A INPUT -m comment --comment \"[1:2]x\" -j ACCEPT\nCOMMIT\n"
    );
    let brief = "eth0@if5         UP             10.0.0.1/24 fe80::1/64 \n";
    assert_eq!(
        show::normalize(Render::IpAddrBrief, brief, ""),
        "eth0@if5         UP             10.0.0.1/24 \n"
    );
    assert_eq!(show::normalize(Render::IpLink, "x: kns-1-a\n", "kns-1-"), "x: a\n");
}
