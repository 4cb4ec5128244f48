//! Per-protocol packet handlers (`nf_conntrack_handle_packet`): the TCP tracker in
//! `tcp.rs`, and UDP and ICMP here (`nf_conntrack_proto_udp.c`, `..._icmp.c`).

use sim_core::{SimDuration, SimTime};

use super::config::ConntrackConfig;
use super::entry::{ConntrackEntry, ProtoState};
use super::tuple::Dir;
use crate::packet::{Ipv4Packet, L4};

/// A UDP flow becomes a stream when traffic continues this long after its first packet.
const UDP_STREAM_AFTER: SimDuration = SimDuration::from_secs(2);

/// What a protocol handler decided for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accept; refresh the timeout to this value (`None`: leave it as it is).
    Accept(Option<SimDuration>),
    /// Accept and delete the entry now (TCP RST while no reply was seen).
    AcceptAndKill,
    /// INVALID: the packet gets no conntrack entry; the entry is unchanged.
    Invalid,
    /// A SYN reopening a closed TCP connection: delete the entry and track anew.
    Reopen,
}

/// Runs the protocol handler of `e` for a packet going `dir`.
pub(crate) fn handle_packet(
    e: &mut ConntrackEntry,
    dir: Dir,
    pkt: &Ipv4Packet,
    now: SimTime,
    cfg: &ConntrackConfig,
) -> Verdict {
    let confirmed = e.status.confirmed;
    match (&mut e.proto, &pkt.body) {
        (ProtoState::Tcp(t), L4::Tcp(seg)) => t.packet(&mut e.status, dir, seg, cfg),
        (ProtoState::Udp { stream_after }, L4::Udp(_)) => {
            if !confirmed {
                *stream_after = now + UDP_STREAM_AFTER;
            }
            udp_packet(e, now, cfg)
        }
        (ProtoState::Icmp, L4::Icmp(_)) => Verdict::Accept(Some(cfg.icmp)),
        (p, b) => panic!("conntrack entry {} with {p:?} got a packet of another protocol: {b:?}", e.id),
    }
}

/// `nf_conntrack_udp_packet`: 30 s until replied; a reply more than 2 s after the first
/// packet makes it a stream: ASSURED and `udp_stream` (120 s).
fn udp_packet(e: &mut ConntrackEntry, now: SimTime, cfg: &ConntrackConfig) -> Verdict {
    let ProtoState::Udp { stream_after } = e.proto else { unreachable!("udp_packet on a non-UDP entry") };
    if !e.status.seen_reply {
        return Verdict::Accept(Some(cfg.udp));
    }
    if now > stream_after {
        e.status.assured = true;
        return Verdict::Accept(Some(cfg.udp_stream));
    }
    Verdict::Accept(Some(cfg.udp))
}
