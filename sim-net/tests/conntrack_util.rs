//! Shared helpers for the conntrack tests (included with `#[path]`; no tests here).
#![allow(dead_code)]

use std::net::Ipv4Addr;

use sim_core::{RngStreams, SimDuration, SimRng, SimTime};
use sim_net::conntrack::{ConfirmError, Conntrack, CtInfo, Manip, NatTo, Tracked};
use sim_net::packet::{Icmp, Ipv4Packet, L4, TcpFlags, TcpSegment, UdpDatagram, UdpPayload, UnreachCode};

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

pub fn ms(m: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(m)
}

pub fn rng() -> SimRng {
    RngStreams::new(7).stream("conntrack-test")
}

pub const SYN: TcpFlags = TcpFlags::SYN;
pub const SYNACK: TcpFlags = TcpFlags(0x12);
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const FINACK: TcpFlags = TcpFlags(0x11);
pub const RST: TcpFlags = TcpFlags::RST;
pub const RSTACK: TcpFlags = TcpFlags(0x14);

pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: TcpFlags) -> Ipv4Packet {
    let seg = TcpSegment { sport, dport, flags, window: 64240, ..TcpSegment::default() };
    Ipv4Packet::new(ip(src), ip(dst), L4::Tcp(seg))
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Ipv4Packet {
    let d = UdpDatagram { sport, dport, payload: UdpPayload::Data(b"q".to_vec()) };
    Ipv4Packet::new(ip(src), ip(dst), L4::Udp(d))
}

pub fn echo(src: &str, dst: &str, ident: u16) -> Ipv4Packet {
    Ipv4Packet::new(ip(src), ip(dst), L4::Icmp(Icmp::EchoRequest { ident, seq: 1, data: vec![] }))
}

pub fn echo_reply(src: &str, dst: &str, ident: u16) -> Ipv4Packet {
    Ipv4Packet::new(ip(src), ip(dst), L4::Icmp(Icmp::EchoReply { ident, seq: 1, data: vec![] }))
}

/// The ICMP port unreachable `from` sends about `original` (back to its source).
pub fn port_unreachable(from: Ipv4Addr, original: &Ipv4Packet) -> Ipv4Packet {
    let body = Icmp::DestUnreachable {
        code: UnreachCode::Port,
        next_hop_mtu: 0,
        original: Box::new(original.clone()),
    };
    Ipv4Packet::new(from, original.src, L4::Icmp(body))
}

/// The answer to `pkt` as its receiver would send it: ends swapped, given TCP flags.
pub fn answer(pkt: &Ipv4Packet, flags: TcpFlags) -> Ipv4Packet {
    let mut r = pkt.clone();
    r.src = pkt.dst;
    r.dst = pkt.src;
    match &mut r.body {
        L4::Tcp(t) => {
            (t.sport, t.dport) = (t.dport, t.sport);
            t.flags = flags;
        }
        L4::Udp(u) => (u.sport, u.dport) = (u.dport, u.sport),
        L4::Icmp(i) => {
            if let Icmp::EchoRequest { ident, seq, data } = i.clone() {
                *i = Icmp::EchoReply { ident, seq, data };
            }
        }
    }
    r
}

/// Nat rules of a toy node: what the nat table returns at each manip type.
#[derive(Clone, Copy, Default)]
pub struct Rules {
    pub dnat: Option<NatTo>,
    pub snat: Option<NatTo>,
}

/// One pass through a forwarding node in hook order: PREROUTING (lookup, Dst nat),
/// POSTROUTING (Src nat, confirm). Returns the packet as it leaves and its conntrack view.
pub fn forward(
    ct: &mut Conntrack,
    mut pkt: Ipv4Packet,
    now: SimTime,
    rules: Rules,
    rng: &mut SimRng,
) -> Result<(Ipv4Packet, CtInfo), ConfirmError> {
    let mut h = ct.lookup(&pkt, now);
    nat_step(ct, &mut h, Manip::Dst, rules.dnat, &mut pkt, rng);
    nat_step(ct, &mut h, Manip::Src, rules.snat, &mut pkt, rng);
    ct.confirm(&mut h, now)?;
    Ok((pkt, h.info()))
}

pub fn nat_step(
    ct: &Conntrack,
    h: &mut Tracked,
    manip: Manip,
    rule: Option<NatTo>,
    pkt: &mut Ipv4Packet,
    rng: &mut SimRng,
) {
    if h.needs_nat(manip) {
        ct.bind(h, manip, rule, rng);
    }
    h.apply(manip, pkt);
}

/// Like `forward` for a packet that needs no nat rules (a reply, a later packet).
pub fn pass(ct: &mut Conntrack, pkt: Ipv4Packet, now: SimTime) -> (Ipv4Packet, CtInfo) {
    forward(ct, pkt, now, Rules::default(), &mut rng()).expect("confirm")
}

pub fn ports(pkt: &Ipv4Packet) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let (s, d) = pkt.ports();
    (pkt.src, s, pkt.dst, d)
}
