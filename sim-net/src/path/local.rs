//! Local delivery (after INPUT) and probe clients. What the kernel answers by itself
//! follows Linux: ICMP echo reply from the address that was pinged, TCP RST for a
//! segment no socket wants (never in answer to a RST), ICMP port unreachable for UDP
//! to a closed port. See `crate::stack` for the listener/probe model.

use std::net::Ipv4Addr;

use sim_core::{SimDuration, below};

use crate::hop::{DropReason, Step};
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{
    Icmp, IpProto, Ipv4Packet, L4, TcpFlags, TcpSegment, UdpDatagram, UdpPayload, UnreachCode,
};
use crate::stack::{ProbeOutcome, ProbeSocket, SocketEvent, SocketEventKind};

use super::Skb;

/// Linux `net.ipv4.ip_local_port_range` default.
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// A probe to start from a namespace.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub tag: u32,
    pub proto: IpProto,
    pub dst: Ipv4Addr,
    /// Destination port (ignored for ICMP).
    pub dport: u16,
    pub timeout: SimDuration,
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("no network namespace {0:?}")]
    NoNetns(String),
}

impl Network {
    /// Starts a probe client in `netns` now. Its outcome arrives as a
    /// [`SocketEventKind::Finished`] event with the probe's tag.
    pub fn send_probe(
        &mut self,
        netns: &str,
        spec: ProbeSpec,
        now: sim_core::SimTime,
    ) -> Result<(), ProbeError> {
        let ns = self.id(netns).ok_or_else(|| ProbeError::NoNetns(netns.to_string()))?;
        self.now = now;
        let Some(route) = self.output_route(ns, spec.dst) else {
            self.report(
                spec.tag,
                ProbeOutcome::Unreachable,
                "connect: Network is unreachable (no route)".into(),
            );
            return Ok(());
        };
        let Some(src) = self.select_src(ns, &route, spec.dst) else {
            self.report(
                spec.tag,
                ProbeOutcome::Unreachable,
                "connect: Network is unreachable (no source address)".into(),
            );
            return Ok(());
        };
        let port = self.ephemeral_port(ns, spec.proto);
        let isn = (self.rng_u64(ns) & 0xffff_ffff) as u32;
        let ident = port;
        let body = match spec.proto {
            IpProto::Icmp => L4::Icmp(Icmp::EchoRequest { ident, seq: 1, data: spec.payload.clone() }),
            IpProto::Tcp => L4::Tcp(TcpSegment {
                sport: port,
                dport: spec.dport,
                seq: isn,
                flags: TcpFlags::SYN,
                window: 64240,
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                ..TcpSegment::default()
            }),
            IpProto::Udp => L4::Udp(UdpDatagram {
                sport: port,
                dport: spec.dport,
                payload: UdpPayload::Data(spec.payload.clone()),
            }),
        };
        let (local_port, remote_port) =
            if spec.proto == IpProto::Icmp { (ident, ident) } else { (port, spec.dport) };
        let sock = ProbeSocket {
            tag: spec.tag,
            proto: spec.proto,
            local: src,
            local_port,
            remote: spec.dst,
            remote_port,
            started: now,
            isn,
        };
        self.ns_mut(ns).stack.probes.insert(spec.tag, sock);
        self.schedule(now + spec.timeout, NetEvent::SocketTimer { ns, tag: spec.tag });
        let mut pkt = Ipv4Packet::new(src, spec.dst, body);
        pkt.ttl = self.ns(ns).sysctl.default_ttl();
        pkt.ident = (self.rng_u64(ns) & 0xffff) as u16;
        if let Err(reason) = self.local_out(ns, pkt, spec.tag) {
            self.finish(spec.tag, ns, ProbeOutcome::Unreachable, format!("send failed: {}", reason.words()));
        }
        Ok(())
    }

    fn rng_u64(&mut self, ns: NsId) -> u64 {
        use rand_core::Rng;
        self.rng(ns).next_u64()
    }

    /// A free port from `ip_local_port_range`, random start then upward (like
    /// `inet_hash_connect`'s scan), from the namespace's seeded stream.
    fn ephemeral_port(&mut self, ns: NsId, proto: IpProto) -> u16 {
        let span = u64::from(EPHEMERAL.1 - EPHEMERAL.0) + 1;
        let start = below(self.rng(ns), span);
        for i in 0..span {
            let p = EPHEMERAL.0 + ((start + i) % span) as u16;
            if !self.ns(ns).stack.port_in_use(proto, p) {
                return p;
            }
        }
        EPHEMERAL.0
    }

    /// Ends a registered probe (later answers find no socket).
    pub(crate) fn finish(&mut self, tag: u32, ns: NsId, outcome: ProbeOutcome, detail: String) {
        if self.spaces.contains_key(&ns) && self.ns_mut(ns).stack.probes.remove(&tag).is_none() {
            return;
        }
        self.report(tag, outcome, detail);
    }

    /// Reports an outcome for a probe that never got a socket (send-time failure).
    fn report(&mut self, tag: u32, outcome: ProbeOutcome, detail: String) {
        let time = self.now;
        self.socket_events.push(SocketEvent {
            time,
            tag,
            kind: SocketEventKind::Finished { outcome, detail },
        });
    }

    pub(crate) fn probe_timeout(&mut self, ns: NsId, tag: u32) {
        if !self.spaces.contains_key(&ns) || !self.ns(ns).stack.probes.contains_key(&tag) {
            return;
        }
        self.finish(tag, ns, ProbeOutcome::Timeout, "no answer".into());
    }

    fn answered(&mut self, ns: NsId, skb: &Skb, owner: Option<String>) {
        let (sport, dport) = skb.pkt.ports();
        let kind = SocketEventKind::Answered {
            responder: ns,
            seen_src: skb.pkt.src,
            seen_sport: sport,
            local: skb.pkt.dst,
            local_port: dport,
            owner,
        };
        let time = self.now;
        self.socket_events.push(SocketEvent { time, tag: skb.tag, kind });
    }

    /// The packet passed INPUT: hand it to the protocol.
    pub(crate) fn local_deliver(&mut self, ns: NsId, skb: Skb) {
        let p = &skb.pkt;
        self.trace(ns, skb.in_dev, skb.tag, Step::Deliver, |_| String::new(), || p.to_string());
        match skb.pkt.body.clone() {
            L4::Icmp(icmp) => self.icmp_rcv(ns, skb, icmp),
            L4::Tcp(seg) => self.tcp_rcv(ns, skb, seg),
            L4::Udp(dgram) => self.udp_rcv(ns, skb, dgram),
        }
    }

    fn reply(&mut self, ns: NsId, to: &Skb, body: L4) {
        let mut pkt = Ipv4Packet::new(to.pkt.dst, to.pkt.src, body);
        pkt.ttl = self.ns(ns).sysctl.default_ttl();
        pkt.ident = to.pkt.ident;
        let _ = self.local_out(ns, pkt, to.tag);
    }

    fn icmp_rcv(&mut self, ns: NsId, skb: Skb, icmp: Icmp) {
        match icmp {
            Icmp::EchoRequest { ident, seq, data } => {
                if self.ns(ns).sysctl.echo_ignore_all() {
                    return self.drop_pkt(ns, skb.in_dev, &skb, DropReason::NoSocket, |_| {
                        "icmp_echo_ignore_all=1".into()
                    });
                }
                self.answered(ns, &skb, None);
                self.reply(ns, &skb, L4::Icmp(Icmp::EchoReply { ident, seq, data }));
            }
            Icmp::EchoReply { ident, .. } => {
                let tag = self.ns(ns).stack.probe_for(IpProto::Icmp, skb.pkt.dst, ident, skb.pkt.src, ident);
                self.client_result(ns, &skb, tag, ProbeOutcome::Reached, || "echo reply".into());
            }
            Icmp::DestUnreachable { code, ref original, .. } => {
                let (sport, dport) = original.ports();
                let tag =
                    self.ns(ns).stack.probe_for(original.proto(), original.src, sport, original.dst, dport);
                let outcome = if code == UnreachCode::Port && original.proto() == IpProto::Tcp {
                    ProbeOutcome::Refused
                } else {
                    ProbeOutcome::Unreachable
                };
                let from = skb.pkt.src;
                let text = icmp.to_string();
                self.client_result(ns, &skb, tag, outcome, || format!("{text} from {from}"));
            }
            Icmp::TimeExceeded { ref original } => {
                let (sport, dport) = original.ports();
                let tag =
                    self.ns(ns).stack.probe_for(original.proto(), original.src, sport, original.dst, dport);
                let from = skb.pkt.src;
                self.client_result(ns, &skb, tag, ProbeOutcome::Unreachable, || {
                    format!("time exceeded from {from}")
                });
            }
        }
    }

    fn client_result(
        &mut self,
        ns: NsId,
        skb: &Skb,
        tag: Option<u32>,
        outcome: ProbeOutcome,
        detail: impl FnOnce() -> String,
    ) {
        match tag {
            Some(t) => {
                let d = detail();
                let p = &skb.pkt;
                let w = outcome.word();
                self.trace(
                    ns,
                    None,
                    skb.tag,
                    Step::Receive,
                    |_| format!("probe client: {w} ({d})"),
                    || p.to_string(),
                );
                self.finish(t, ns, outcome, d);
            }
            None => {
                self.drop_pkt(ns, skb.in_dev, skb, DropReason::Unexpected, |_| "no waiting socket".into())
            }
        }
    }

    fn tcp_rcv(&mut self, ns: NsId, skb: Skb, seg: TcpSegment) {
        let f = seg.flags;
        let probe = self.ns(ns).stack.probe_for(IpProto::Tcp, skb.pkt.dst, seg.dport, skb.pkt.src, seg.sport);
        if let Some(tag) = probe {
            if f.has(TcpFlags::RST) {
                return self.client_result(ns, &skb, Some(tag), ProbeOutcome::Refused, || {
                    "connection refused (RST)".into()
                });
            }
            if f.has(TcpFlags::SYN) && f.has(TcpFlags::ACK) {
                self.client_result(ns, &skb, Some(tag), ProbeOutcome::Reached, || {
                    "connected (SYN-ACK)".into()
                });
                // close() with SO_LINGER 0: a RST with the acknowledged sequence number.
                let rst = TcpSegment {
                    sport: seg.dport,
                    dport: seg.sport,
                    seq: seg.ack,
                    flags: TcpFlags::RST,
                    ..TcpSegment::default()
                };
                return self.reply(ns, &skb, L4::Tcp(rst));
            }
            return;
        }
        if f.has(TcpFlags::RST) {
            return; // never answer a RST
        }
        let listening = self.ns(ns).stack.listener(IpProto::Tcp, seg.dport).map(|l| l.owner.clone());
        if f.has(TcpFlags::SYN)
            && !f.has(TcpFlags::ACK)
            && let Some(owner) = listening
        {
            self.answered(ns, &skb, Some(owner));
            let isn = (self.rng_u64(ns) & 0xffff_ffff) as u32;
            let synack = TcpSegment {
                sport: seg.dport,
                dport: seg.sport,
                seq: isn,
                ack: seg.seq.wrapping_add(1),
                flags: TcpFlags::SYN.with(TcpFlags::ACK),
                window: 65160,
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: seg.sack_permitted,
                ..TcpSegment::default()
            };
            return self.reply(ns, &skb, L4::Tcp(synack));
        }
        if listening.is_some() {
            return; // handshake completion or data for the stateless listener
        }
        // tcp_v4_send_reset: no socket.
        let (seq, ack, flags) = if f.has(TcpFlags::ACK) {
            (seg.ack, 0, TcpFlags::RST)
        } else {
            let len =
                seg.payload.len() as u32 + u32::from(f.has(TcpFlags::SYN)) + u32::from(f.has(TcpFlags::FIN));
            (0, seg.seq.wrapping_add(len), TcpFlags::RST.with(TcpFlags::ACK))
        };
        let port = seg.dport;
        self.trace(
            ns,
            skb.in_dev,
            skb.tag,
            Step::Drop { reason: DropReason::NoSocket },
            |_| format!("nothing listens on tcp port {port}: RST"),
            String::new,
        );
        let rst = TcpSegment { sport: seg.dport, dport: seg.sport, seq, ack, flags, ..TcpSegment::default() };
        self.reply(ns, &skb, L4::Tcp(rst));
    }

    fn udp_rcv(&mut self, ns: NsId, skb: Skb, dgram: UdpDatagram) {
        if let UdpPayload::Vxlan { vni, inner } = &dgram.payload
            && self.vxlan_rcv(ns, &skb, dgram.dport, *vni, (**inner).clone())
        {
            return;
        }
        let probe =
            self.ns(ns).stack.probe_for(IpProto::Udp, skb.pkt.dst, dgram.dport, skb.pkt.src, dgram.sport);
        if probe.is_some() {
            return self.client_result(ns, &skb, probe, ProbeOutcome::Reached, || "datagram received".into());
        }
        if let Some(owner) = self.ns(ns).stack.listener(IpProto::Udp, dgram.dport).map(|l| l.owner.clone()) {
            self.answered(ns, &skb, Some(owner));
            let echo = UdpDatagram { sport: dgram.dport, dport: dgram.sport, payload: dgram.payload };
            return self.reply(ns, &skb, L4::Udp(echo));
        }
        let port = dgram.dport;
        self.trace(
            ns,
            skb.in_dev,
            skb.tag,
            Step::Drop { reason: DropReason::NoSocket },
            |_| format!("nothing listens on udp port {port}: ICMP port unreachable"),
            String::new,
        );
        let icmp = Icmp::DestUnreachable {
            code: UnreachCode::Port,
            next_hop_mtu: 0,
            original: Box::new(skb.pkt.clone()),
        };
        self.icmp_error(ns, &skb.pkt, skb.in_dev, icmp, skb.tag);
    }
}
