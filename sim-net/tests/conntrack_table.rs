//! UDP/ICMP timeouts on sim time, `conntrack -L` rendering, marks and deletion.

#[path = "conntrack_util.rs"]
mod util;

use sim_net::conntrack::{Conntrack, ConntrackConfig, CtFilter, CtState, NatTo};
use sim_net::packet::IpProto;
use util::*;

fn ct() -> Conntrack {
    Conntrack::new(ConntrackConfig::default())
}

#[test]
fn udp_entry_expires_after_thirty_seconds_of_sim_time() {
    let mut ct = ct();
    let q = udp("10.0.0.1", 5000, "10.0.0.2", 53);
    pass(&mut ct, q.clone(), secs(0));
    assert_eq!(ct.next_expiry(), Some(secs(30)));
    assert_eq!(ct.lookup(&answer(&q, ACK), ms(29_999)).info().state, CtState::Established);
    // The first reply is handled before SEEN_REPLY is set: another 30 s, not the stream timeout.
    assert_eq!(ct.next_expiry(), Some(ms(29_999 + 30_000)));

    let mut ct2 = Conntrack::new(ConntrackConfig::default());
    pass(&mut ct2, q.clone(), secs(0));
    assert_eq!(ct2.lookup(&q, secs(30)).info().state, CtState::New, "dead at its expiry instant");
    let mut ct3 = Conntrack::new(ConntrackConfig::default());
    pass(&mut ct3, q.clone(), secs(0));
    assert_eq!(ct3.expire(ms(29_999)), 0);
    assert_eq!(ct3.expire(secs(30)), 1);
}

#[test]
fn udp_reply_within_two_seconds_keeps_thirty_seconds_and_later_traffic_assures() {
    let mut ct = ct();
    let q = udp("10.99.0.1", 41000, "10.99.0.2", 6000);
    pass(&mut ct, q.clone(), ms(0));
    pass(&mut ct, answer(&q, ACK), ms(5));
    let line = ct.render_list(ms(205));
    assert_eq!(
        line,
        "udp      17 29 src=10.99.0.1 dst=10.99.0.2 sport=41000 dport=6000 \
         src=10.99.0.2 dst=10.99.0.1 sport=6000 dport=41000 mark=0 use=1\n",
        "lab line for a UDP exchange seen 0.2 s later"
    );
    pass(&mut ct, q.clone(), ms(2500));
    assert_eq!(
        ct.render_list(ms(2600)),
        "udp      17 119 src=10.99.0.1 dst=10.99.0.2 sport=41000 dport=6000 \
         src=10.99.0.2 dst=10.99.0.1 sport=6000 dport=41000 [ASSURED] mark=0 use=1\n"
    );
}

#[test]
fn conntrack_list_matches_the_real_tool_for_every_protocol() {
    let (mut ct, mut r) = (ct(), rng());
    let dnat = Rules { dnat: Some(NatTo::addr_port(ip("10.99.0.2"), 5353)), snat: None };
    forward(&mut ct, udp("10.99.0.1", 40000, "10.99.100.10", 53), ms(0), dnat, &mut r).unwrap();
    pass(&mut ct, echo("10.99.0.1", "10.99.0.2", 153), ms(0));
    pass(&mut ct, tcp("10.99.0.1", 57064, "10.99.0.2", 7777, SYN), ms(0));
    pass(&mut ct, tcp("10.99.0.1", 36304, "10.99.0.2", 8080, SYN), ms(0));
    pass(&mut ct, tcp("10.99.0.2", 8080, "10.99.0.1", 36304, SYNACK), ms(0));
    pass(&mut ct, tcp("10.99.0.1", 36304, "10.99.0.2", 8080, ACK), ms(0));
    let want = "\
udp      17 29 src=10.99.0.1 dst=10.99.100.10 sport=40000 dport=53 [UNREPLIED] src=10.99.0.2 dst=10.99.0.1 sport=5353 dport=40000 mark=0 use=1
icmp     1 29 src=10.99.0.1 dst=10.99.0.2 type=8 code=0 id=153 [UNREPLIED] src=10.99.0.2 dst=10.99.0.1 type=0 code=0 id=153 mark=0 use=1
tcp      6 119 SYN_SENT src=10.99.0.1 dst=10.99.0.2 sport=57064 dport=7777 [UNREPLIED] src=10.99.0.2 dst=10.99.0.1 sport=7777 dport=57064 mark=0 use=1
tcp      6 431999 ESTABLISHED src=10.99.0.1 dst=10.99.0.2 sport=36304 dport=8080 src=10.99.0.2 dst=10.99.0.1 sport=8080 dport=36304 [ASSURED] mark=0 use=1
";
    assert_eq!(ct.render_list(ms(200)), want, "lines as printed by conntrack v1.4.7 on 6.18");
    assert_eq!(ct.render_list(ms(200)), ct.clone().render_list(ms(200)));
}

#[test]
fn connmark_shows_in_the_listing_and_in_later_packets() {
    let mut ct = ct();
    let q = udp("10.99.0.1", 41000, "10.99.0.2", 6000);
    let mut h = ct.lookup(&q, secs(0));
    ct.set_mark(&mut h, 5);
    ct.bind(&mut h, sim_net::conntrack::Manip::Dst, None, &mut rng());
    ct.bind(&mut h, sim_net::conntrack::Manip::Src, None, &mut rng());
    ct.confirm(&mut h, secs(0)).unwrap();
    assert!(ct.render_list(secs(0)).contains(" mark=5 use=1"));
    assert_eq!(ct.lookup(&answer(&q, ACK), secs(1)).info().mark, 5);
}

#[test]
fn delete_matching_removes_stale_udp_service_entries_only() {
    let (mut ct, mut r) = (ct(), rng());
    let dns = Rules { dnat: Some(NatTo::addr_port(ip("10.244.2.3"), 53)), snat: None };
    forward(&mut ct, udp("10.244.1.6", 5000, "10.96.0.10", 53), secs(0), dns, &mut r).unwrap();
    forward(&mut ct, udp("10.244.1.7", 5000, "10.96.0.10", 53), secs(0), dns, &mut r).unwrap();
    pass(&mut ct, tcp("10.244.1.6", 5001, "10.96.0.10", 53, SYN), secs(0));
    let f = CtFilter::proto(IpProto::Udp).orig_dst(ip("10.96.0.10")).reply_src(ip("10.244.2.3"));
    assert_eq!(f.to_string(), "conntrack -D -p udp --orig-dst 10.96.0.10 --reply-src 10.244.2.3");
    assert_eq!(ct.delete_matching(&f), 2);
    assert_eq!(ct.len(), 1);
    assert_eq!(ct.flush(), 1);
}

#[test]
fn expiry_index_follows_refreshes() {
    let mut ct = ct();
    pass(&mut ct, echo("10.0.0.1", "10.0.0.2", 1), secs(0));
    pass(&mut ct, udp("10.0.0.1", 1, "10.0.0.2", 2), secs(5));
    assert_eq!(ct.next_expiry(), Some(secs(30)));
    pass(&mut ct, echo_reply("10.0.0.2", "10.0.0.1", 1), secs(10));
    assert_eq!(ct.next_expiry(), Some(secs(35)));
    assert_eq!(ct.expire(secs(35)), 1);
    assert_eq!(ct.next_expiry(), Some(secs(40)));
}

#[test]
fn echo_reply_without_request_is_invalid() {
    let mut ct = ct();
    assert_eq!(ct.lookup(&echo_reply("10.0.0.2", "10.0.0.1", 9), secs(0)).info().state, CtState::Invalid);
}
