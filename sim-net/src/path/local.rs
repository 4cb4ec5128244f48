//! Local delivery (after INPUT) and probe clients. TCP and UDP go to the socket layer
//! (`crate::socket`, smoltcp) when a socket owns the packet. What the kernel answers by
//! itself is ours and follows Linux exactly: ICMP echo reply from the address that was
//! pinged (`icmp_echo`), a RST for a segment no socket wants (`tcp_v4_send_reset`,
//! never in answer to a RST), ICMP port unreachable for UDP to a closed port. ICMP
//! errors are handed to the socket whose packet they quote.

use std::net::Ipv4Addr;

use sim_core::{SimDuration, below};

use crate::hop::{DropReason, Step};
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{
    Icmp, IpProto, Ipv4Packet, L4, TcpFlags, TcpSegment, UdpDatagram, UdpPayload, UnreachCode,
};
use crate::socket::{EPHEMERAL_PORTS as EPHEMERAL, SockId};
use crate::stack::{ProbeOutcome, ProbeSocket, SocketEvent, SocketEventKind};

use super::Skb;

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
        if spec.proto != IpProto::Icmp {
            return self.start_socket_probe(ns, src, spec, now);
        }
        // `ping -M do`: DF set and no local fragmentation; a packet larger than the
        // route's device MTU never leaves (ip_append_data: EMSGSIZE).
        let mtu = route.dev.as_deref().and_then(|d| self.ns(ns).dev(d).ok()).map(|d| d.mtu);
        if let Some(mtu) = mtu.filter(|m| spec.payload.len() + 28 > *m as usize) {
            let detail = format!("ping: local error: message too long, mtu={mtu}");
            self.report(spec.tag, ProbeOutcome::Unreachable, detail);
            return Ok(());
        }
        let ident = self.ephemeral_port(ns, spec.proto);
        let body = L4::Icmp(Icmp::EchoRequest { ident, seq: 1, data: spec.payload.clone() });
        let sock = ProbeSocket {
            sock: None,
            tag: spec.tag,
            proto: spec.proto,
            local: src,
            local_port: ident,
            remote: spec.dst,
            remote_port: ident,
            started: now,
            isn: 0,
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

    /// A TCP connect (then close) or a UDP datagram (then wait for one back) on a real
    /// socket; the outcome comes from what the socket sees.
    fn start_socket_probe(
        &mut self,
        ns: NsId,
        src: Ipv4Addr,
        spec: ProbeSpec,
        now: sim_core::SimTime,
    ) -> Result<(), ProbeError> {
        let dst = std::net::SocketAddrV4::new(spec.dst, spec.dport);
        let owner = crate::socket::Owner::Probe;
        let n = match self.open_client(ns, spec.proto, None, dst, spec.tag, owner) {
            Ok(n) => n,
            Err(e) => {
                self.report(spec.tag, ProbeOutcome::Unreachable, e.to_string());
                return Ok(());
            }
        };
        let sock = SockId { ns, n };
        let local_port =
            self.ns(ns).stack.transport.as_ref().and_then(|t| t.entries[&n].local).map(|l| l.port());
        self.ns_mut(ns).stack.probes.insert(
            spec.tag,
            ProbeSocket {
                sock: Some(sock),
                tag: spec.tag,
                proto: spec.proto,
                local: src,
                local_port: local_port.unwrap_or(0),
                remote: spec.dst,
                remote_port: spec.dport,
                started: now,
                isn: 0,
            },
        );
        self.schedule(now + spec.timeout, NetEvent::SocketTimer { ns, tag: spec.tag });
        if spec.proto == IpProto::Udp {
            let _ = self.send(sock, &spec.payload, now);
        } else {
            self.run_transport(ns);
        }
        Ok(())
    }

    fn rng_u64(&mut self, ns: NsId) -> u64 {
        use rand_core::Rng;
        self.rng(ns).next_u64()
    }

    /// A free port from `ip_local_port_range`, random start then upward (like
    /// `inet_hash_connect`'s scan), from the namespace's seeded stream.
    pub(crate) fn ephemeral_port(&mut self, ns: NsId, proto: IpProto) -> u16 {
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
    pub(crate) fn report(&mut self, tag: u32, outcome: ProbeOutcome, detail: String) {
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
        let sock = self.ns(ns).stack.probes[&tag].sock;
        self.finish(tag, ns, ProbeOutcome::Timeout, "no answer".into());
        if let Some(sock) = sock {
            // The client gives up: a connect still in SYN_SENT just goes away.
            let _ = self.abort(sock, self.now);
        }
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

    pub(crate) fn reply(&mut self, ns: NsId, to: &Skb, body: L4) {
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
                if tag.is_none() && self.sock_icmp_error(ns, original, &icmp, skb.pkt.src) {
                    return;
                }
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
                if tag.is_none() && self.sock_icmp_error(ns, original, &icmp, skb.pkt.src) {
                    return;
                }
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
        if self.tcp_deliver(ns, &skb, &seg) {
            return;
        }
        let f = seg.flags;
        if f.has(TcpFlags::RST) {
            return self.drop_pkt(ns, skb.in_dev, &skb, DropReason::NoSocket, |_| "RST for no socket".into());
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
        if self.udp_deliver(ns, &skb, dgram.dport) {
            return;
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
        self.icmp_error(ns, &skb.pkt, skb.in_dev, icmp, skb.tag, None);
    }
}
