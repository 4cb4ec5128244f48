//! NAT bindings and their reversal on replies (reference §3.5, §3.7).

#[path = "conntrack_util.rs"]
mod util;

use sim_net::conntrack::{Conntrack, ConntrackConfig, CtState, CtStateMatch, Dir, Manip, NatTo};
use util::*;

fn ct() -> Conntrack {
    Conntrack::new(ConntrackConfig::default())
}

fn cluster_ip_dnat() -> Rules {
    Rules { dnat: Some(NatTo::addr_port(ip("10.244.1.5"), 8080)), snat: None }
}

#[test]
fn cluster_ip_reply_has_its_source_restored() {
    let (mut ct, mut r) = (ct(), rng());
    let syn = tcp("10.244.1.6", 48138, "10.96.100.10", 80, SYN);
    let (out, info) = forward(&mut ct, syn, secs(0), cluster_ip_dnat(), &mut r).unwrap();
    assert_eq!(ports(&out), (ip("10.244.1.6"), 48138, ip("10.244.1.5"), 8080));
    assert_eq!(info.state, CtState::New);
    assert!(info.matches_ctstate(CtStateMatch::Dnat));
    assert!(!info.matches_ctstate(CtStateMatch::Snat));

    let (back, info) = pass(&mut ct, answer(&out, SYNACK), secs(0));
    assert_eq!(ports(&back), (ip("10.96.100.10"), 80, ip("10.244.1.6"), 48138));
    assert_eq!((info.state, info.dir), (CtState::Established, Some(Dir::Reply)));
    assert_eq!(
        ct.render_list(secs(0)),
        "tcp      6 60 SYN_RECV src=10.244.1.6 dst=10.96.100.10 sport=48138 dport=80 \
         src=10.244.1.5 dst=10.244.1.6 sport=8080 dport=48138 mark=0 use=1\n"
    );
}

#[test]
fn later_packets_of_a_flow_skip_the_nat_table() {
    let (mut ct, mut r) = (ct(), rng());
    let first = udp("10.244.1.6", 5000, "10.96.0.10", 53);
    let rules = Rules { dnat: Some(NatTo::addr_port(ip("10.244.2.3"), 53)), snat: None };
    forward(&mut ct, first.clone(), secs(0), rules, &mut r).unwrap();

    // A second datagram before any reply: still NEW for --ctstate, but bound already.
    let h = ct.lookup(&first, secs(1));
    assert_eq!(h.info().state, CtState::New);
    assert!(!h.needs_nat(Manip::Dst));
    assert!(!h.needs_nat(Manip::Src));
    let mut p = first.clone();
    h.apply(Manip::Dst, &mut p);
    assert_eq!(p.dst, ip("10.244.2.3"));
}

#[test]
fn hairpin_gets_dnat_and_masquerade_and_the_reply_both_undone() {
    let (mut ct, mut r) = (ct(), rng());
    let rules = Rules {
        dnat: Some(NatTo::addr_port(ip("10.244.1.5"), 8080)),
        snat: Some(NatTo::masquerade(ip("10.244.1.1"), 3)),
    };
    let syn = tcp("10.244.1.5", 40000, "10.96.100.10", 80, SYN);
    let (out, info) = forward(&mut ct, syn, secs(0), rules, &mut r).unwrap();
    assert_eq!(ports(&out), (ip("10.244.1.1"), 40000, ip("10.244.1.5"), 8080));
    assert!(info.matches_ctstate(CtStateMatch::Snat) && info.matches_ctstate(CtStateMatch::Dnat));

    let (back, _) = pass(&mut ct, answer(&out, SYNACK), secs(0));
    assert_eq!(ports(&back), (ip("10.96.100.10"), 80, ip("10.244.1.5"), 40000));
    let e = ct.entries(secs(0)).next().unwrap();
    assert_eq!(e.masq_oif(), Some(3));
    assert_eq!(
        e.reply().to_string(),
        "src=10.244.1.5 dst=10.244.1.1 sport=8080 dport=40000",
        "as seen on the lab node (reference §6.6)"
    );
}

#[test]
fn masquerade_keeps_the_source_port_when_free() {
    let (mut ct, mut r) = (ct(), rng());
    let rules = Rules { dnat: None, snat: Some(NatTo::masquerade(ip("192.168.56.11"), 2)) };
    let (out, _) = forward(&mut ct, udp("10.244.1.6", 40000, "1.1.1.1", 53), secs(0), rules, &mut r).unwrap();
    assert_eq!(ports(&out), (ip("192.168.56.11"), 40000, ip("1.1.1.1"), 53));
}

#[test]
fn masquerade_clash_moves_the_second_flow_to_a_free_port_deterministically() {
    let run = || {
        let (mut ct, mut r) = (ct(), rng());
        let rules = Rules { dnat: None, snat: Some(NatTo::masquerade(ip("192.168.56.11"), 2)) };
        forward(&mut ct, udp("10.244.1.6", 40000, "1.1.1.1", 53), secs(0), rules, &mut r).unwrap();
        let (out, _) =
            forward(&mut ct, udp("10.244.1.7", 40000, "1.1.1.1", 53), secs(0), rules, &mut r).unwrap();
        let (back, _) = pass(&mut ct, answer(&out, ACK), secs(0));
        (out, back)
    };
    let (out, back) = run();
    let port = out.ports().0;
    assert_ne!(port, 40000);
    assert!((1024..=65535).contains(&port), "nf_nat_l4proto_unique_tuple range, got {port}");
    assert_eq!(ports(&back), (ip("1.1.1.1"), 53, ip("10.244.1.7"), 40000));
    assert_eq!(run().0, out, "the same seed picks the same port");
}

#[test]
fn random_fully_draws_the_port_from_the_rng() {
    let pick = |seed: &str| {
        let mut ct = ct();
        let mut r = sim_core::RngStreams::new(1).stream(seed);
        let rules =
            Rules { dnat: None, snat: Some(NatTo::masquerade(ip("192.168.56.11"), 2).random_fully()) };
        forward(&mut ct, udp("10.244.1.6", 40000, "1.1.1.1", 53), secs(0), rules, &mut r).unwrap().0.ports().0
    };
    assert_eq!(pick("a"), pick("a"));
    assert_ne!(pick("a"), pick("b"));
    assert!((1024..=65535).contains(&pick("a")));
}

#[test]
fn snat_port_range_is_respected() {
    let (mut ct, mut r) = (ct(), rng());
    let rules = Rules { dnat: None, snat: Some(NatTo::addr(ip("192.168.56.11")).with_ports(30000, 30009)) };
    for sport in [40000, 40001, 40002] {
        let (out, _) =
            forward(&mut ct, udp("10.244.1.6", sport, "1.1.1.1", 53), secs(0), rules, &mut r).unwrap();
        assert!((30000..=30009).contains(&out.ports().0));
    }
    let used: std::collections::BTreeSet<u16> = ct.entries(secs(0)).map(|e| e.reply().dport).collect();
    assert_eq!(used.len(), 3, "three distinct ports");
}

#[test]
fn null_binding_moves_a_local_source_port_that_a_masqueraded_flow_took() {
    let (mut ct, mut r) = (ct(), rng());
    let masq = Rules { dnat: None, snat: Some(NatTo::masquerade(ip("192.168.56.11"), 2)) };
    forward(&mut ct, udp("10.244.1.6", 40000, "1.1.1.1", 53), secs(0), masq, &mut r).unwrap();
    // The node itself now uses 192.168.56.11:40000 to the same server; no rule matches.
    let (out, info) =
        forward(&mut ct, udp("192.168.56.11", 40000, "1.1.1.1", 53), secs(0), Rules::default(), &mut r)
            .unwrap();
    assert_ne!(out.ports().0, 40000, "nf_nat_used_tuple: the reply tuple is taken");
    assert!(info.matches_ctstate(CtStateMatch::Snat));
}

#[test]
fn icmp_port_unreachable_for_a_dnatted_udp_flow_is_related_and_rewritten_back() {
    let (mut ct, mut r) = (ct(), rng());
    let rules = Rules { dnat: Some(NatTo::addr_port(ip("10.244.2.9"), 5353)), snat: None };
    let q = udp("10.244.1.6", 5000, "10.96.0.10", 53);
    let (out, _) = forward(&mut ct, q.clone(), secs(0), rules, &mut r).unwrap();

    let err = port_unreachable(ip("10.244.2.9"), &out);
    let (back, info) = pass(&mut ct, err, secs(0));
    assert_eq!((info.state, info.dir), (CtState::Related, Some(Dir::Reply)));
    assert_eq!((back.src, back.dst), (ip("10.96.0.10"), ip("10.244.1.6")));
    let quoted = match &back.body {
        sim_net::packet::L4::Icmp(i) => i.quoted().unwrap().clone(),
        _ => unreachable!(),
    };
    assert_eq!(ports(&quoted), ports(&q), "the quote shows the packet the client sent");
    let e = ct.entries(secs(0)).next().unwrap();
    assert!(!e.status().seen_reply, "ICMP errors do not count as a reply");
}

#[test]
fn icmp_error_about_an_unknown_flow_is_invalid() {
    let mut ct = ct();
    let err = port_unreachable(ip("10.0.0.2"), &udp("10.0.0.1", 1, "10.0.0.2", 2));
    let h = ct.lookup(&err, secs(0));
    assert_eq!(h.info().state, CtState::Invalid);
    assert!(!h.needs_nat(Manip::Dst));
}

#[test]
fn ping_through_masquerade_is_tracked_by_identifier() {
    let (mut ct, mut r) = (ct(), rng());
    let rules = Rules { dnat: None, snat: Some(NatTo::masquerade(ip("192.168.56.11"), 2)) };
    let (out, _) = forward(&mut ct, echo("10.244.1.6", "8.8.8.8", 77), secs(0), rules, &mut r).unwrap();
    assert_eq!(out.src, ip("192.168.56.11"));
    assert_eq!(out.body, echo("10.244.1.6", "8.8.8.8", 77).body, "identifier kept");
    let (back, info) = pass(&mut ct, echo_reply("8.8.8.8", "192.168.56.11", 77), secs(0));
    assert_eq!(info.state, CtState::Established);
    assert_eq!(back.dst, ip("10.244.1.6"));
    assert_eq!(
        ct.render_list(secs(1)),
        "icmp     1 29 src=10.244.1.6 dst=8.8.8.8 type=8 code=0 id=77 \
         src=8.8.8.8 dst=192.168.56.11 type=0 code=0 id=77 mark=0 use=1\n"
    );
}

#[test]
fn untracked_packets_are_never_natted() {
    let h = sim_net::conntrack::Tracked::untracked();
    assert_eq!(h.info().state, CtState::Untracked);
    assert!(!h.needs_nat(Manip::Dst));
}

#[test]
#[should_panic(expected = "before Conntrack::bind")]
fn applying_before_binding_a_new_connection_is_a_bug() {
    let mut ct = ct();
    let mut p = udp("10.0.0.1", 1, "10.0.0.2", 2);
    let h = ct.lookup(&p, secs(0));
    h.apply(Manip::Dst, &mut p);
}
