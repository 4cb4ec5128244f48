//! Property: NAT is reversed on the reply path. For random flows with random DNAT/SNAT
//! bindings (and random earlier flows to clash with), translating the first packet and
//! then a reply built by swapping the translated packet gives back the original ends.

#[path = "conntrack_util.rs"]
mod util;

use std::net::Ipv4Addr;

use proptest::prelude::*;
use sim_core::RngStreams;
use sim_net::conntrack::{Conntrack, ConntrackConfig, NatTo};
use sim_net::packet::Ipv4Packet;
use util::*;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    // A small address space so that flows and bindings collide often.
    (0u8..4).prop_map(|x| Ipv4Addr::new(10, 0, 0, x + 1))
}

fn nat_to() -> impl Strategy<Value = Option<NatTo>> {
    prop_oneof![
        Just(None),
        addr().prop_map(|a| Some(NatTo::addr(a))),
        (addr(), 1000u16..1004).prop_map(|(a, p)| Some(NatTo::addr_port(a, p))),
        (addr(), 1000u16..1010).prop_map(|(a, lo)| Some(NatTo::addr(a).with_ports(lo, lo + 3))),
        addr().prop_map(|a| Some(NatTo::addr(a).random_fully())),
    ]
}

#[derive(Clone, Debug)]
struct Flow {
    pkt: Ipv4Packet,
    dnat: Option<NatTo>,
    snat: Option<NatTo>,
}

fn flow() -> impl Strategy<Value = Flow> {
    (any::<bool>(), addr(), 1000u16..1004, addr(), 1000u16..1004, nat_to(), nat_to()).prop_map(
        |(is_tcp, s, sp, d, dp, dnat, snat)| {
            let (s, d) = (s.to_string(), d.to_string());
            let pkt = if is_tcp { tcp(&s, sp, &d, dp, SYN) } else { udp(&s, sp, &d, dp) };
            Flow { pkt, dnat, snat }
        },
    )
}

proptest! {
    #[test]
    fn nat_is_reversed_on_the_reply_path(earlier in prop::collection::vec(flow(), 0..12), f in flow(), seed in any::<u64>()) {
        let mut ct = Conntrack::new(ConntrackConfig::default());
        let mut r = RngStreams::new(seed).stream("prop");
        for e in earlier {
            let _ = forward(&mut ct, e.pkt, secs(0), Rules { dnat: e.dnat, snat: e.snat }, &mut r);
        }
        let h = ct.lookup(&f.pkt, secs(0));
        prop_assume!(h.info().state == sim_net::conntrack::CtState::New); // not an existing flow's packet
        drop(h);
        let Ok((out, _)) = forward(&mut ct, f.pkt.clone(), secs(0), Rules { dnat: f.dnat, snat: f.snat }, &mut r)
        else { return Ok(()) }; // a clash at confirm drops the packet, as in Linux
        let reply = answer(&out, SYNACK);
        // When the reply looks exactly like the original (a connection to itself, or NAT
        // making it so), the tuples are identical and the direction is ambiguous.
        // Linux cannot tell these apart either: skip them.
        prop_assume!(ports(&reply) != ports(&f.pkt));
        let (back, info) = pass(&mut ct, reply, secs(0));
        prop_assert_eq!(info.dir, Some(sim_net::conntrack::Dir::Reply));
        let (s, sp, d, dp) = ports(&f.pkt);
        prop_assert_eq!(ports(&back), (d, dp, s, sp));
    }
}
