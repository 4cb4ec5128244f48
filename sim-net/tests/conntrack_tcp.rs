//! The TCP tracker against `nf_conntrack_proto_tcp.c` and the lab observations.

#[path = "conntrack_util.rs"]
mod util;

use sim_net::conntrack::{Conntrack, ConntrackConfig, CtState, Manip, NatTo, TcpState};
use util::*;

fn ct() -> Conntrack {
    Conntrack::new(ConntrackConfig::default())
}

/// (TCP state, SEEN_REPLY, ASSURED) of the only entry.
fn state(ct: &Conntrack) -> (TcpState, bool, bool) {
    let e = ct.entries(secs(0)).next().expect("one entry");
    (e.tcp_state().unwrap(), e.status().seen_reply, e.status().assured)
}

/// Timeout set by the last packet, in seconds.
fn timeout(ct: &Conntrack, now: sim_core::SimTime) -> u64 {
    ct.entries(now).next().unwrap().remaining_secs(now)
}

#[test]
fn full_open_and_close_walks_the_kernel_states_and_ends_in_time_wait() {
    let mut ct = ct();
    let c = |f| tcp("10.0.0.1", 40000, "10.0.0.2", 80, f);
    let s = |f| tcp("10.0.0.2", 80, "10.0.0.1", 40000, f);
    let steps = [
        (c(SYN), TcpState::SynSent, 120, false),
        (s(SYNACK), TcpState::SynRecv, 60, false),
        (c(ACK), TcpState::Established, 432_000, true),
        (c(FINACK), TcpState::FinWait, 120, true),
        (s(ACK), TcpState::CloseWait, 60, true),
        (s(FINACK), TcpState::LastAck, 30, true),
        (c(ACK), TcpState::TimeWait, 120, true),
    ];
    for (i, (pkt, want, secs_left, assured)) in steps.into_iter().enumerate() {
        let now = secs(i as u64);
        pass(&mut ct, pkt, now);
        let e = ct.entries(now).next().unwrap();
        assert_eq!(e.tcp_state(), Some(want), "step {i}");
        assert_eq!(e.remaining_secs(now), secs_left, "step {i}");
        assert_eq!(e.status().assured, assured, "step {i}");
    }
    assert_eq!(ct.next_expiry(), Some(secs(6 + 120)));
    assert_eq!(ct.expire(secs(6 + 119)), 0);
    assert_eq!(ct.expire(secs(6 + 120)), 1);
    assert!(ct.is_empty());
}

#[test]
fn simultaneous_fin_goes_through_last_ack() {
    let mut ct = ct();
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN), secs(0));
    pass(&mut ct, tcp("10.0.0.2", 2, "10.0.0.1", 1, SYNACK), secs(0));
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, ACK), secs(0));
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, FINACK), secs(0));
    pass(&mut ct, tcp("10.0.0.2", 2, "10.0.0.1", 1, FINACK), secs(0));
    assert_eq!(state(&ct).0, TcpState::LastAck);
}

#[test]
fn refused_connection_leaves_no_entry_but_the_rst_is_still_un_dnatted() {
    let (mut ct, mut r) = (ct(), rng());
    let rules = Rules { dnat: Some(NatTo::addr_port(ip("10.244.1.5"), 8080)), snat: None };
    let (out, _) =
        forward(&mut ct, tcp("10.244.1.6", 40000, "10.96.100.10", 80, SYN), secs(0), rules, &mut r).unwrap();
    let (rst, info) = pass(&mut ct, answer(&out, RSTACK), secs(0));
    assert_eq!(info.state, CtState::Established);
    assert_eq!(ports(&rst), (ip("10.96.100.10"), 80, ip("10.244.1.6"), 40000));
    assert!(ct.is_empty(), "lab: `conntrack -L` shows nothing after ECONNREFUSED");
}

#[test]
fn syn_ack_without_entry_is_invalid_and_bare_ack_is_picked_up_when_loose() {
    let mut ct = ct();
    assert_eq!(
        ct.lookup(&tcp("10.0.0.2", 80, "10.0.0.1", 1, SYNACK), secs(0)).info().state,
        CtState::Invalid
    );
    assert_eq!(
        ct.lookup(&tcp("10.0.0.2", 80, "10.0.0.1", 1, FINACK), secs(0)).info().state,
        CtState::Invalid
    );
    assert_eq!(ct.lookup(&tcp("10.0.0.2", 80, "10.0.0.1", 1, RST), secs(0)).info().state, CtState::Invalid);

    let (_, info) = pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 80, ACK), secs(0));
    assert_eq!(info.state, CtState::New);
    assert_eq!(
        (state(&ct).0, timeout(&ct, secs(0))),
        (TcpState::Established, 300),
        "mid-stream pickup is capped at nf_conntrack_tcp_timeout_unacknowledged"
    );
    pass(&mut ct, tcp("10.0.0.2", 80, "10.0.0.1", 1, ACK), secs(0));
    assert!(!state(&ct).2, "the first reply only marks SEEN_REPLY");
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 80, ACK), secs(0));
    assert_eq!((state(&ct).2, timeout(&ct, secs(0))), (true, 432_000));

    let mut strict = Conntrack::new(ConntrackConfig::default().with_tcp_loose(false));
    let h = strict.lookup(&tcp("10.0.0.1", 1, "10.0.0.2", 80, ACK), secs(0));
    assert_eq!(h.info().state, CtState::Invalid);
}

#[test]
fn invalid_flag_combinations_and_out_of_order_segments_are_invalid() {
    let mut ct = ct();
    let synfin = tcp("10.0.0.1", 1, "10.0.0.2", 2, sim_net::packet::TcpFlags(0x03));
    assert_eq!(ct.lookup(&synfin, secs(0)).info().state, CtState::Invalid);
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN), secs(0));
    // The client ACKs before any SYN-ACK: sSS + ack (original) = sIV.
    let h = ct.lookup(&tcp("10.0.0.1", 1, "10.0.0.2", 2, ACK), secs(0));
    assert_eq!(h.info().state, CtState::Invalid);
    assert_eq!(state(&ct).0, TcpState::SynSent, "an INVALID packet leaves the entry alone");
}

#[test]
fn syn_retransmits_do_not_refresh_the_syn_sent_timeout() {
    let mut ct = ct();
    let syn = tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN);
    pass(&mut ct, syn.clone(), secs(0));
    let (_, info) = pass(&mut ct, syn, secs(3));
    assert_eq!(info.state, CtState::New);
    assert_eq!(timeout(&ct, secs(3)), 117, "lab: 119 then 117 after retransmits");
}

#[test]
fn rst_closes_an_established_connection_for_ten_seconds() {
    let mut ct = ct();
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN), secs(0));
    pass(&mut ct, tcp("10.0.0.2", 2, "10.0.0.1", 1, SYNACK), secs(0));
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, ACK), secs(0));
    pass(&mut ct, tcp("10.0.0.1", 1, "10.0.0.2", 2, RST), secs(1));
    assert_eq!((state(&ct).0, timeout(&ct, secs(1))), (TcpState::Close, 10));
}

#[test]
fn new_syn_on_a_time_wait_entry_reopens_it_as_a_new_connection() {
    let mut ct = ct();
    let c = |f| tcp("10.0.0.1", 1, "10.0.0.2", 2, f);
    let s = |f| tcp("10.0.0.2", 2, "10.0.0.1", 1, f);
    for p in [c(SYN), s(SYNACK), c(ACK), c(FINACK), s(FINACK), c(ACK)] {
        pass(&mut ct, p, secs(0));
    }
    let old = ct.entries(secs(0)).next().unwrap().id();
    let (_, info) = pass(&mut ct, c(SYN), secs(1));
    assert_eq!(info.state, CtState::New);
    let e = ct.entries(secs(1)).next().unwrap();
    assert_ne!(e.id(), old);
    assert_eq!((e.tcp_state(), ct.len()), (Some(TcpState::SynSent), 1));
}

#[test]
fn dropped_first_packet_leaves_no_entry() {
    let mut ct = ct();
    let syn = tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN);
    let mut h = ct.lookup(&syn, secs(0));
    assert!(h.needs_nat(Manip::Dst));
    ct.bind(&mut h, Manip::Dst, None, &mut rng());
    ct.discard(h); // filter INPUT said DROP
    assert!(ct.is_empty());
    assert_eq!(ct.lookup(&syn, secs(0)).info().state, CtState::New);
}
