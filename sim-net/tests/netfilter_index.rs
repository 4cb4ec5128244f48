//! The chain index gives exactly what plain first-match linear evaluation gives:
//! same verdict, mark, NAT action, matched rules (in order) and match state, on random
//! kube-proxy-like rule sets mixed with rules the index cannot key (barriers).

#[path = "../benches/common/mod.rs"]
mod kube_proxy;

use std::net::Ipv4Addr;

use proptest::prelude::*;
use sim_core::SimTime;
use sim_net::netfilter::{AddrTypeSet, EvalContext, Hook, Netfilter, PacketInfo, ScriptedDecider, TableName};
use sim_net::packet::{Icmp, Ipv4Packet, L4, TcpFlags, TcpSegment, UdpDatagram, UdpPayload};

const DSTS: [&str; 4] = ["10.96.0.1", "10.96.0.2", "10.96.0.3", "192.168.56.11"];
const PORTS: [u16; 3] = [80, 443, 30080];

/// One random rule for chain KUBE-SERVICES (or a sub-chain).
fn rule() -> impl Strategy<Value = String> {
    let dst = prop::sample::select(&DSTS[..]);
    let port = prop::sample::select(&PORTS[..]);
    let proto = prop::sample::select(&["tcp", "udp"][..]);
    let target = prop::sample::select(
        &["-j SUB", "-j MARK --or-mark 0x4000", "-j ACCEPT", "-j RETURN", "", "-g SUB", "-j DROP"][..],
    );
    prop_oneof![
        // keyed: kube-proxy's service rule
        6 => (dst.clone(), proto.clone(), port.clone(), target.clone()).prop_map(|(d, p, n, t)| format!("-m comment --comment x -m {p} -p {p} -d {d} --dport {n} {t}")),
        // keyed by port only: KUBE-NODEPORTS
        6 => (proto, port.clone(), target.clone()).prop_map(|(p, n, t)| format!("-m {p} -p {p} --dport {n} {t}")),
        // keyed by destination only
        6 => (dst.clone(), target.clone()).prop_map(|(d, t)| format!("-d {d} {t}")),
        // keyed, but with a stateless match before the port
        6 => (dst.clone(), port.clone(), target.clone()).prop_map(|(d, n, t)| format!("-d {d} -p tcp -m addrtype --dst-type LOCAL -m tcp --dport {n} {t}")),
        // barriers: negations, ranges, stateful matches before the port, addrtype
        1 => (dst.clone(), port.clone(), target.clone()).prop_map(|(d, n, t)| format!("! -d {d} -p tcp --dport {n} {t}")),
        1 => (port.clone(), target.clone()).prop_map(|(n, t)| format!("-p tcp -m tcp ! --dport {n} {t}")),
        1 => (port.clone(), target.clone()).prop_map(|(n, t)| format!("-p tcp -m statistic --mode random --probability 0.5 -m tcp --dport {n} {t}")),
        1 => (port.clone(), target.clone()).prop_map(|(n, t)| format!("-p tcp -m statistic --mode nth --every 2 --packet 1 -m tcp --dport {n} {t}")),
        1 => (port.clone(), target.clone()).prop_map(|(n, t)| format!("-p tcp -m tcp --dport {n} -m statistic --mode random --probability 0.5 {t}")),
        1 => (dst.clone(), target.clone()).prop_map(|(d, t)| format!("-d {d} -m recent --name R --set {t}")),
        1 => target.clone().prop_map(|t| format!("-m recent --name R --rcheck {t}")),
        1 => target.clone().prop_map(|t| format!("-m addrtype --dst-type LOCAL {t}")),
        1 => target.clone().prop_map(|t| format!("-m mark --mark 0x4000/0x4000 {t}")),
        6 => (port.clone(), target).prop_map(|(n, t)| format!("-p tcp -m multiport --dports {n},{} {t}", n + 1)),
    ]
}

fn packet() -> impl Strategy<Value = Ipv4Packet> {
    let dst = prop_oneof![
        prop::sample::select(&DSTS[..]).prop_map(|d| d.parse::<Ipv4Addr>().unwrap()),
        Just(Ipv4Addr::new(8, 8, 8, 8))
    ];
    let port = prop_oneof![prop::sample::select(&PORTS[..]), Just(81u16), Just(444u16)];
    (dst, port, 0..3u8).prop_map(|(dst, dport, kind)| {
        let src = Ipv4Addr::new(10, 244, 1, 6);
        let body = match kind {
            0 => L4::Tcp(TcpSegment { sport: 40000, dport, flags: TcpFlags::SYN, ..TcpSegment::default() }),
            1 => L4::Udp(UdpDatagram { sport: 40000, dport, payload: UdpPayload::Data(vec![]) }),
            _ => L4::Icmp(Icmp::EchoRequest { ident: 1, seq: 1, data: vec![] }),
        };
        Ipv4Packet::new(src, dst, body)
    })
}

fn table(main: &[String], sub: &[String]) -> String {
    let mut s = String::from("*nat\n:KUBE-SERVICES - [0:0]\n:SUB - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n");
    for r in main {
        s += &format!("-A KUBE-SERVICES {r}\n");
    }
    for r in sub {
        // SUB must not jump to itself.
        let r = r.replace("-j SUB", "-j ACCEPT").replace("-g SUB", "-j DROP");
        s += &format!("-A SUB {r}\n");
    }
    s + "COMMIT\n"
}

fn local(a: Ipv4Addr, _: Option<&str>) -> AddrTypeSet {
    AddrTypeSet(if a == Ipv4Addr::new(192, 168, 56, 11) { AddrTypeSet::LOCAL } else { AddrTypeSet::UNICAST })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn indexed_evaluation_equals_linear_first_match(
        main in prop::collection::vec(rule(), 8..60),
        sub in prop::collection::vec(rule(), 0..12),
        packets in prop::collection::vec(packet(), 1..20),
        script in prop::collection::vec(any::<bool>(), 0..64),
    ) {
        let text = table(&main, &sub);
        let mut indexed = Netfilter::new();
        indexed.restore(&text, false).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut linear = indexed.clone();
        linear.set_index_enabled(false);
        for (i, ip) in packets.iter().enumerate() {
            let p = PacketInfo::new(ip);
            let now = SimTime::from_nanos(i as u64 * 1_000_000_000);
            let mut d1 = ScriptedDecider::new(script.clone());
            let mut d2 = ScriptedDecider::new(script.clone());
            let mut a = indexed.evaluate(TableName::Nat, Hook::Prerouting, &p, &mut EvalContext { now, decider: &mut d1, addr_type: &local });
            let b = linear.evaluate(TableName::Nat, Hook::Prerouting, &p, &mut EvalContext { now, decider: &mut d2, addr_type: &local });
            // The index tests fewer rules; everything else must be identical.
            prop_assert!(a.rules_tested <= b.rules_tested);
            a.rules_tested = b.rules_tested;
            prop_assert_eq!(&a, &b, "packet {} {}\n{}", i, ip, text);
            prop_assert_eq!(&d1.taken, &d2.taken);
        }
        prop_assert_eq!(indexed.match_state(), linear.match_state());
    }
}

#[test]
fn index_is_used_for_a_long_kube_services_chain() {
    // 200 services: the indexed lookup visits the matching service rule and the
    // final addrtype barrier, and still reports the right rule number.
    let mut s = String::from(
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n",
    );
    for i in 0..200u32 {
        s += &format!(
            "-A KUBE-SERVICES -m tcp -p tcp -d 10.96.{}.{} --dport 80 -j ACCEPT\n",
            i / 250,
            i % 250 + 1
        );
    }
    s += "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n";
    let mut nf = Netfilter::new();
    nf.restore(&s, false).unwrap();
    let ip = Ipv4Packet::new(
        "10.244.1.6".parse().unwrap(),
        "10.96.0.150".parse().unwrap(),
        L4::Tcp(TcpSegment { sport: 1, dport: 80, flags: TcpFlags::SYN, ..TcpSegment::default() }),
    );
    let mut d = ScriptedDecider::default();
    let e = nf.evaluate(
        TableName::Nat,
        Hook::Prerouting,
        &PacketInfo::new(&ip),
        &mut EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &local },
    );
    assert_eq!(e.hits.last().map(|h| (h.chain.as_str(), h.num)), Some(("KUBE-SERVICES", 150)));
}

/// The property behind "evaluation does not slow down with the number of services":
/// a new connection to the last of 10,000 services is tested against a handful of
/// rules, as with 10 services; without the index it would be tested against ~10,000.
#[test]
fn rules_tested_per_packet_do_not_grow_with_the_number_of_services() {
    let tested = |n: u32, index: bool, ip: &Ipv4Packet| {
        let mut nf = Netfilter::new();
        nf.restore(&kube_proxy::kube_proxy_nat(n), false).unwrap();
        nf.set_index_enabled(index);
        let mut d = ScriptedDecider::default();
        let cx = &mut EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &kube_proxy::addr_type };
        let e = nf.evaluate(TableName::Nat, Hook::Prerouting, &PacketInfo::new(ip), cx);
        assert!(e.nat.is_some(), "{n} services: the packet is DNATed");
        e.rules_tested
    };
    for n in [10, 10_000] {
        let clusterip = kube_proxy::syn_to(kube_proxy::cluster_ip(n - 1), 80);
        let nodeport = kube_proxy::syn_to(kube_proxy::NODE_IP, (30000 + (n - 1) % 2768) as u16);
        for (what, ip) in [("ClusterIP", &clusterip), ("NodePort", &nodeport)] {
            let t = tested(n, true, ip);
            assert!(t <= 12, "{what} with {n} services: {t} rules tested");
        }
    }
    let linear = tested(10_000, false, &kube_proxy::syn_to(kube_proxy::cluster_ip(9_999), 80));
    assert!(linear > 10_000, "the linear walk tests every service rule before the last: {linear}");
}
