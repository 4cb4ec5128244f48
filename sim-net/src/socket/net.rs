//! The socket layer inside [`Network`]: the application API (`listen`, `connect`,
//! `send`, `close`, ...), delivery of INPUT packets to smoltcp, its output into local
//! output, and its timers on simulated time.
//!
//! Call order: every API call and every delivery ends with [`Network::run_transport`]:
//! poll smoltcp at `now`, scan the sockets into events (built-in owners act at once and
//! smoltcp is polled again), send what smoltcp emitted through OUTPUT, then arm a
//! `NetEvent::TransportTimer` at smoltcp's `poll_at` (retransmits, TIME_WAIT).
//! Applications read the events with `poll_socket_events` and answer through the API
//! at the same simulated instant, as a process woken by the kernel would.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;
use sim_core::{SimDuration, SimTime};
use smoltcp::socket::tcp::State;

use super::tcp::{Noticed, Seen};
use super::timewait::{TwVerdict, advance, seq_end};
use super::{
    Owner, Pool, Role, SockError, SockEvent, SockEventKind, SockId, Transport, TransportConfig, instant,
    sim_time,
};
use crate::device::DeviceKind;
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{Icmp, IpProto, Ipv4Packet, L4, TcpFlags, TcpSegment, UnreachCode};
use crate::path::Skb;
use crate::stack::{ProbeOutcome, SocketEvent, SocketEventKind};

/// Why a socket call failed, as errno would say.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    #[error("no network namespace {0:?}")]
    NoNetns(String),
    #[error("bad file descriptor {0}")]
    NoSocket(SockId),
    #[error("address already in use (by {0})")]
    AddrInUse(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("protocol not supported")]
    Protocol,
}

impl Network {
    /// Moves out what applications' sockets saw, in order.
    pub fn poll_sock_events(&mut self) -> Vec<SockEvent> {
        std::mem::take(&mut self.sock_events)
    }

    fn transport(&mut self, ns: NsId) -> &mut Transport {
        self.ns_mut(ns).stack.transport.as_deref_mut().expect("ensure_transport ran")
    }

    /// Creates the namespace's interface on first use, and opens listeners registered
    /// before it existed.
    pub(crate) fn ensure_transport(&mut self, ns: NsId) {
        if self.ns(ns).stack.transport.is_none() {
            use rand_core::Rng;
            let seed = self.rng(ns).next_u64();
            let (addrs, mtu) = self.transport_addrs(ns);
            let t = Transport::new(seed, &addrs, mtu, self.now, TransportConfig::default());
            self.ns_mut(ns).stack.transport = Some(Box::new(t));
        }
        for l in std::mem::take(&mut self.ns_mut(ns).stack.pending) {
            let _ = self.open_server(ns, l.proto, l.port, l.owner, Owner::Sink);
        }
    }

    /// The namespace's addresses, and the MTU its sockets use: the smallest MTU of an
    /// up, addressed, non-loopback device (lo's when there is none).
    fn transport_addrs(&self, ns: NsId) -> (Vec<Ipv4Net>, usize) {
        let n = self.ns(ns);
        let addrs: Vec<Ipv4Net> = n.all_addrs().map(|(_, a)| *a).collect();
        let mtu = n
            .devices
            .values()
            .filter(|d| d.up && !d.addrs.is_empty() && !matches!(d.kind, DeviceKind::Loopback))
            .map(|d| d.mtu)
            .min()
            .unwrap_or(65536);
        (addrs, mtu as usize)
    }

    fn open_server(
        &mut self,
        ns: NsId,
        proto: IpProto,
        port: u16,
        label: String,
        owner: Owner,
    ) -> Result<(), SocketError> {
        let t = self.transport(ns);
        let ok = match proto {
            IpProto::Tcp => t.listen(port, Pool { owner }),
            IpProto::Udp => t.udp_bind(port, owner, 0, true).is_some(),
            IpProto::Icmp => return Err(SocketError::Protocol),
        };
        if !ok {
            return Err(SocketError::AddrInUse(t.port_owner(proto, port)));
        }
        t.labels.insert((proto, port), label);
        Ok(())
    }

    /// `socket; bind(0.0.0.0:port); listen` (TCP) or `bind` (UDP) for an application;
    /// `label` names it in traces ("pod/web container http").
    pub fn listen(
        &mut self,
        netns: &str,
        proto: IpProto,
        port: u16,
        label: &str,
        now: SimTime,
    ) -> Result<(), SocketError> {
        let ns = self.id(netns).ok_or_else(|| SocketError::NoNetns(netns.to_string()))?;
        self.now = now;
        self.ensure_transport(ns);
        self.open_server(ns, proto, port, label.to_string(), Owner::App)?;
        self.run_transport(ns);
        Ok(())
    }

    /// The program listening on `port` exits: the kernel closes its listening socket
    /// (TCP: the listener, with connections not yet accepted; UDP: the bound socket), so
    /// the port answers RST / ICMP port unreachable again. Connections the program had
    /// accepted are left to finish on their own.
    pub fn unlisten(
        &mut self,
        netns: &str,
        proto: IpProto,
        port: u16,
        now: SimTime,
    ) -> Result<(), SocketError> {
        let ns = self.id(netns).ok_or_else(|| SocketError::NoNetns(netns.to_string()))?;
        self.now = now;
        self.ensure_transport(ns);
        let t = self.transport(ns);
        t.labels.remove(&(proto, port));
        if proto == IpProto::Tcp {
            t.pools.remove(&port);
        }
        let doomed: Vec<u32> = t
            .entries
            .iter()
            .filter(|(_, e)| match e.role {
                Role::TcpListen { port: p } => proto == IpProto::Tcp && p == port,
                Role::UdpServer { port: p } => proto == IpProto::Udp && p == port,
                _ => false,
            })
            .map(|(n, _)| *n)
            .collect();
        for n in doomed {
            t.remove(n);
        }
        self.run_transport(ns);
        Ok(())
    }

    /// `connect(2)` (TCP) or a connected UDP socket, from an ephemeral port and the
    /// source address Linux would pick. Packets of the socket carry trace tag `tag`.
    pub fn connect(
        &mut self,
        netns: &str,
        proto: IpProto,
        dst: SocketAddrV4,
        tag: u32,
        now: SimTime,
    ) -> Result<SockId, SocketError> {
        self.connect_from(netns, proto, None, dst, tag, now)
    }

    /// [`connect`](Self::connect) from a fixed local port (`bind` first): a UDP socket
    /// on a port already bound fails with "Address already in use".
    pub fn connect_from(
        &mut self,
        netns: &str,
        proto: IpProto,
        sport: Option<u16>,
        dst: SocketAddrV4,
        tag: u32,
        now: SimTime,
    ) -> Result<SockId, SocketError> {
        let ns = self.id(netns).ok_or_else(|| SocketError::NoNetns(netns.to_string()))?;
        self.now = now;
        let n = self.open_client(ns, proto, sport, dst, tag, Owner::App)?;
        self.run_transport(ns);
        Ok(SockId { ns, n })
    }

    pub(crate) fn open_client(
        &mut self,
        ns: NsId,
        proto: IpProto,
        sport: Option<u16>,
        dst: SocketAddrV4,
        tag: u32,
        owner: Owner,
    ) -> Result<u32, SocketError> {
        let unreachable = || SocketError::Unreachable("connect: Network is unreachable".into());
        let route = self.output_route(ns, *dst.ip()).ok_or_else(unreachable)?;
        let src = self.select_src(ns, &route, *dst.ip()).ok_or_else(unreachable)?;
        self.ensure_transport(ns);
        let port = match (sport, proto) {
            (Some(p), _) => p,
            (None, IpProto::Tcp) => self
                .connect_port(ns, src, dst)
                .ok_or_else(|| SocketError::Unreachable("connect: Cannot assign requested address".into()))?,
            (None, _) => self.ephemeral_port(ns, proto),
        };
        let local = SocketAddrV4::new(src, port);
        let t = self.transport(ns);
        match proto {
            IpProto::Tcp => Ok(t.connect(local, dst, tag, owner)),
            IpProto::Udp => {
                let n = t
                    .udp_bind(port, owner, tag, false)
                    .ok_or_else(|| SocketError::AddrInUse(format!("another socket on udp port {port}")))?;
                let e = &mut t.entries[&n];
                (e.local, e.remote) = (Some(local), Some(dst));
                Ok(n)
            }
            IpProto::Icmp => Err(SocketError::Protocol),
        }
    }

    /// The source port Linux's `__inet_hash_connect` would give a TCP connect from
    /// `src` to `dst` (see `portsel`); `None` when the whole range is taken.
    fn connect_port(&mut self, ns: NsId, src: Ipv4Addr, dst: SocketAddrV4) -> Option<u16> {
        use rand_core::Rng;
        if self.transport(ns).connect_ports.is_none() {
            let rng = self.rng(ns);
            let words = [rng.next_u64(), rng.next_u64(), rng.next_u64(), rng.next_u64()];
            self.transport(ns).connect_ports = Some(super::portsel::ConnectPorts::new(words));
        }
        let jitter = sim_core::below(self.rng(ns), 8) as u32;
        let t = self.transport(ns);
        let mut sel = t.connect_ports.take().expect("set above");
        let taken = |p: u16| t.connect_port_taken(SocketAddrV4::new(src, p), dst);
        let port = sel.pick(src, *dst.ip(), dst.port(), taken, jitter);
        t.connect_ports = Some(sel);
        port
    }

    fn entry_role(&mut self, sock: SockId) -> Result<Role, SocketError> {
        let t = self
            .ns_opt(sock.ns)
            .and_then(|n| n.stack.transport.as_deref())
            .ok_or(SocketError::NoSocket(sock))?;
        t.entries.get(&sock.n).map(|e| e.role).ok_or(SocketError::NoSocket(sock))
    }

    fn ns_opt(&self, ns: NsId) -> Option<&crate::netns::Netns> {
        self.spaces.get(&ns)
    }

    /// `write(2)` on a TCP socket or `send(2)` on a connected UDP socket.
    pub fn send(&mut self, sock: SockId, data: &[u8], now: SimTime) -> Result<usize, SocketError> {
        self.now = now;
        let role = self.entry_role(sock)?;
        let t = self.transport(sock.ns);
        let sent = match role {
            Role::UdpClient => {
                let e = &t.entries[&sock.n];
                let (to, from) = (e.remote.expect("connected"), e.local.map(|l| *l.ip()));
                if t.udp_send(sock.n, to, from, data) { data.len() } else { 0 }
            }
            Role::UdpServer { .. } => return Err(SocketError::Protocol),
            _ => t.tcp_socket(sock.n).send_slice(data).unwrap_or(0),
        };
        self.run_transport(sock.ns);
        Ok(sent)
    }

    /// `sendto(2)` on a UDP server socket: the source address is the one Linux's
    /// routing picks for `to`.
    pub fn send_to(
        &mut self,
        sock: SockId,
        to: SocketAddrV4,
        data: &[u8],
        now: SimTime,
    ) -> Result<(), SocketError> {
        self.now = now;
        if !matches!(self.entry_role(sock)?, Role::UdpServer { .. }) {
            return Err(SocketError::Protocol);
        }
        let from = self.output_route(sock.ns, *to.ip()).and_then(|r| self.select_src(sock.ns, &r, *to.ip()));
        self.transport(sock.ns).udp_send(sock.n, to, from, data);
        self.run_transport(sock.ns);
        Ok(())
    }

    /// `close(2)`: TCP sends FIN (a socket still in SYN_SENT just goes away, as in
    /// Linux); UDP frees the socket.
    pub fn close(&mut self, sock: SockId, now: SimTime) -> Result<(), SocketError> {
        self.now = now;
        let role = self.entry_role(sock)?;
        let t = self.transport(sock.ns);
        match role {
            Role::TcpClient | Role::TcpServer { .. } if t.entries[&sock.n].state != State::SynSent => {
                t.tcp_socket(sock.n).close()
            }
            _ => t.remove(sock.n),
        }
        self.run_transport(sock.ns);
        Ok(())
    }

    /// `close(2)` with `SO_LINGER` 0: a RST for a connection, nothing otherwise.
    pub fn abort(&mut self, sock: SockId, now: SimTime) -> Result<(), SocketError> {
        self.now = now;
        let role = self.entry_role(sock)?;
        let t = self.transport(sock.ns);
        match role {
            Role::TcpClient | Role::TcpServer { .. } if t.entries[&sock.n].state != State::SynSent => {
                t.tcp_socket(sock.n).abort()
            }
            _ => t.remove(sock.n),
        }
        self.run_transport(sock.ns);
        Ok(())
    }

    /// A TCP segment passed INPUT: hand it to the socket that owns it. `false` when
    /// none does (the caller answers with a RST).
    pub(crate) fn tcp_deliver(&mut self, ns: NsId, skb: &Skb, seg: &TcpSegment) -> bool {
        let st = &self.ns(ns).stack;
        if st.transport.is_none() && st.pending.is_empty() {
            return false;
        }
        self.ensure_transport(ns);
        let local = SocketAddrV4::new(skb.pkt.dst, seg.dport);
        let remote = SocketAddrV4::new(skb.pkt.src, seg.sport);
        let t = self.transport(ns);
        let Some(mut n) = t.tcp_owner(local, remote, seg.flags) else { return false };
        let f = seg.flags;
        let syn_only = f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) && !f.has(TcpFlags::RST);
        if syn_only && t.entries[&n].state == State::TimeWait {
            match self.timewait_syn(ns, skb, seg, n) {
                TwVerdict::Acked => return true,
                TwVerdict::Reopen => match self.transport(ns).tcp_owner(local, remote, f) {
                    Some(listener) => n = listener,
                    None => return false,
                },
            }
        }
        let e = self.transport(ns).entries.get_mut(&n).expect("found above");
        if f.has(TcpFlags::RST) {
            e.reset = true;
        }
        if matches!(e.role, Role::TcpListen { .. }) {
            // A listener about to become this connection: start from its SYN.
            (e.rcv_nxt, e.snd_nxt) = (Some(seq_end(seg)), None);
        } else {
            advance(&mut e.rcv_nxt, seq_end(seg));
        }
        self.feed(ns, skb);
        true
    }

    /// A UDP datagram passed INPUT; `false` when no socket is bound to its port.
    pub(crate) fn udp_deliver(&mut self, ns: NsId, skb: &Skb, dport: u16) -> bool {
        let st = &self.ns(ns).stack;
        if st.transport.is_none() && st.pending.is_empty() {
            return false;
        }
        self.ensure_transport(ns);
        if self.transport(ns).udp_owner(dport).is_none() {
            return false;
        }
        self.feed(ns, skb);
        true
    }

    fn feed(&mut self, ns: NsId, skb: &Skb) {
        let bytes = crate::wire::ipv4_to_bytes(&skb.pkt);
        let t = self.transport(ns);
        t.cur_tag = skb.tag;
        t.dev.rx.push_back(bytes);
        self.run_transport(ns);
    }

    /// An ICMP error about a packet one of our sockets sent. Linux reports it to the
    /// socket (`tcp_v4_err`, `__udp4_lib_err`); smoltcp drops ICMP errors, so we do it.
    pub(crate) fn sock_icmp_error(
        &mut self,
        ns: NsId,
        original: &Ipv4Packet,
        icmp: &Icmp,
        from: Ipv4Addr,
    ) -> bool {
        if self.ns(ns).stack.transport.is_none() {
            return false;
        }
        let (sport, dport) = original.ports();
        let local = SocketAddrV4::new(original.src, sport);
        let remote = SocketAddrV4::new(original.dst, dport);
        let t = self.transport(ns);
        let n = match original.body {
            L4::Tcp(_) => t.by_tuple(IpProto::Tcp, local, remote),
            // A connected UDP socket: the quoted packet must name its remote too
            // (`__udp4_lib_lookup` scores a connected socket only on an exact match).
            L4::Udp(_) => t
                .udp_owner(sport)
                .filter(|n| t.entries[n].role == Role::UdpClient && t.entries[n].remote == Some(remote)),
            L4::Icmp(_) => None,
        };
        let Some(n) = n else { return false };
        let e = &t.entries[&n];
        let port_unreach = matches!(icmp, Icmp::DestUnreachable { code: UnreachCode::Port, .. });
        // TCP: port unreachable is ECONNREFUSED. UDP: the error itself is reported
        // (Linux gives a connected UDP socket ECONNREFUSED for it on the next call).
        let err = if port_unreach && e.role == Role::TcpClient {
            SockError::Refused
        } else {
            SockError::Unreachable(format!("{icmp} from {from}"))
        };
        let noticed = Noticed {
            n,
            owner: e.owner.clone(),
            tag: e.tag,
            role: e.role,
            seen: Seen::Event(SockEventKind::Error(err)),
        };
        match e.role {
            Role::TcpClient if e.state == State::SynSent => t.remove(n),
            Role::UdpClient => {}
            _ => return true, // soft error on an established connection: ignored
        }
        self.dispatch(ns, vec![noticed]);
        self.run_transport(ns);
        true
    }

    /// The transport's poll timer came due.
    pub(crate) fn transport_timer(&mut self, ns: NsId) {
        let now = self.now;
        let Some(t) = self.spaces.get_mut(&ns).and_then(|n| n.stack.transport.as_deref_mut()) else { return };
        t.timers.remove(&now);
        t.cur_tag = 0;
        self.run_transport(ns);
    }

    /// Polls smoltcp at `now` until built-in owners are done, sends its output, arms
    /// its next timer.
    pub(crate) fn run_transport(&mut self, ns: NsId) {
        let (addrs, mtu) = self.transport_addrs(ns);
        let now = self.now;
        self.transport(ns).sync_addrs(&addrs, mtu);
        // Built-in owners answer at once; a few rounds settle any exchange.
        for _ in 0..8 {
            let t = self.transport(ns);
            t.iface.poll(instant(now), &mut t.dev, &mut t.sockets);
            let mut seen = t.scan_tcp();
            seen.extend(t.scan_udp());
            if !self.dispatch(ns, seen) {
                break;
            }
        }
        self.egress(ns);
        self.arm_timer(ns);
    }

    /// Hands what the scan saw to each socket's owner; `true` if a built-in owner did
    /// something smoltcp must be polled for.
    fn dispatch(&mut self, ns: NsId, seen: Vec<Noticed>) -> bool {
        let mut acted = false;
        for s in seen {
            let sock = SockId { ns, n: s.n };
            match (s.owner, s.seen) {
                (_, Seen::Answered { local, peer }) => {
                    self.answered_by_socket(ns, s.tag, s.role, local, peer)
                }
                (Owner::App, Seen::Event(kind)) => {
                    let time = self.now;
                    self.sock_events.push(SockEvent { time, tag: s.tag, sock, kind });
                }
                (Owner::Sink, Seen::Event(e)) => acted |= self.sink(ns, s.n, e),
                (Owner::Probe, Seen::Event(e)) => acted |= self.probe_event(ns, s.n, s.tag, e),
            }
        }
        acted
    }

    fn push_event(&mut self, tag: u32, kind: SocketEventKind) {
        let time = self.now;
        self.socket_events.push(SocketEvent { time, tag, kind });
    }

    fn answered_by_socket(
        &mut self,
        ns: NsId,
        tag: u32,
        role: Role,
        local: SocketAddrV4,
        peer: SocketAddrV4,
    ) {
        let owner = self.transport(ns).labels.get(&(role.proto(), local.port())).cloned();
        let kind = SocketEventKind::Answered {
            responder: ns,
            seen_src: *peer.ip(),
            seen_sport: peer.port(),
            local: *local.ip(),
            local_port: local.port(),
            owner,
        };
        self.push_event(tag, kind);
    }

    /// A listener without an application: discard data, close on FIN, echo UDP.
    fn sink(&mut self, ns: NsId, n: u32, e: SockEventKind) -> bool {
        let t = self.transport(ns);
        match e {
            SockEventKind::PeerClosed => t.tcp_socket(n).close(),
            SockEventKind::Datagram { from, local, data } => {
                t.udp_send(n, from, Some(*local.ip()).filter(|a| !a.is_unspecified()), &data);
            }
            _ => return false,
        }
        true
    }

    /// A `send_probe` client: connected or answered is `reached`.
    fn probe_event(&mut self, ns: NsId, n: u32, tag: u32, e: SockEventKind) -> bool {
        let (outcome, detail) = match e {
            SockEventKind::Connected => (ProbeOutcome::Reached, "connected".to_string()),
            SockEventKind::Datagram { .. } => (ProbeOutcome::Reached, "datagram received".into()),
            SockEventKind::Error(SockError::Refused) => (ProbeOutcome::Refused, "connection refused".into()),
            SockEventKind::Error(SockError::Reset) => (ProbeOutcome::Refused, "connection reset".into()),
            SockEventKind::Error(SockError::Unreachable(d)) => (ProbeOutcome::Unreachable, d),
            _ => return false,
        };
        self.finish(tag, ns, outcome, detail);
        let t = self.transport(ns);
        let Some(e) = t.entries.get(&n) else { return false };
        match e.role {
            Role::TcpClient => t.tcp_socket(n).close(),
            _ => t.remove(n),
        }
        true
    }

    /// What smoltcp emitted goes out like any local packet (OUTPUT, routing, ...).
    fn egress(&mut self, ns: NsId) {
        let ttl = self.ns(ns).sysctl.default_ttl();
        for bytes in std::mem::take(&mut self.transport(ns).dev.tx) {
            let mut pkt = crate::wire::parse_ipv4(&bytes).expect("smoltcp emits well-formed IPv4");
            pkt.ttl = ttl;
            let tag = self.egress_tag(ns, &pkt);
            self.note_sent(ns, &pkt);
            let _ = self.local_out(ns, pkt, tag);
        }
    }

    /// Tracks `snd_nxt` of the TCP socket that sent `pkt` (TIME_WAIT's ACK needs it).
    fn note_sent(&mut self, ns: NsId, pkt: &Ipv4Packet) {
        let L4::Tcp(seg) = &pkt.body else { return };
        let t = self.transport(ns);
        let local = SocketAddrV4::new(pkt.src, seg.sport);
        if let Some(n) = t.by_tuple(IpProto::Tcp, local, SocketAddrV4::new(pkt.dst, seg.dport)) {
            advance(&mut t.entries[&n].snd_nxt, seq_end(seg));
        }
    }

    fn egress_tag(&mut self, ns: NsId, pkt: &Ipv4Packet) -> u32 {
        let (sport, dport) = pkt.ports();
        let t = self.transport(ns);
        let local = SocketAddrV4::new(pkt.src, sport);
        let n = match pkt.proto() {
            IpProto::Tcp => t.by_tuple(IpProto::Tcp, local, SocketAddrV4::new(pkt.dst, dport)),
            IpProto::Udp => t.udp_owner(sport),
            IpProto::Icmp => None,
        };
        n.map(|n| t.entries[&n].tag).unwrap_or(t.cur_tag)
    }

    fn arm_timer(&mut self, ns: NsId) {
        let now = self.now;
        let t = self.transport(ns);
        let Some(at) = t.iface.poll_at(instant(now), &t.sockets) else { return };
        let at = sim_time(at).max(now + SimDuration::from_micros(1));
        if t.timers.first().is_some_and(|f| *f <= at) {
            return;
        }
        t.timers.insert(at);
        self.schedule(at, NetEvent::TransportTimer { ns });
    }
}
