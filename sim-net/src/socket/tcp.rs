//! TCP on smoltcp: listening pools, connect, and the scan that turns smoltcp's socket
//! states into application events.
//!
//! smoltcp has no accept queue: a listening socket *becomes* the connection when a SYN
//! arrives. A listener is therefore a pool per port with exactly one socket armed in
//! `Listen` at any time; after every poll the pool is topped up (so any number of
//! concurrent connections is accepted, like a large `somaxconn`), and a connection
//! socket that reaches `Closed` is re-armed when its pool has no listener left, or
//! freed. Ownership follows smoltcp's `accepts`: a listener takes only a SYN without
//! ACK; everything else must match a connection's 4-tuple.

use std::net::SocketAddrV4;

use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
use smoltcp::time::Duration;

use super::{Entry, Owner, Pool, Role, SockError, SockEventKind, Transport, v4};
use crate::packet::{IpProto, TcpFlags};

/// What a scan saw on one socket, with whom to tell.
#[derive(Debug)]
pub(crate) struct Noticed {
    pub n: u32,
    pub owner: Owner,
    pub tag: u32,
    pub role: Role,
    pub seen: Seen,
}

/// What a scan saw on one socket.
#[derive(Debug)]
pub(crate) enum Seen {
    /// A server socket took a SYN or a datagram: the server side answered `peer`.
    Answered {
        local: SocketAddrV4,
        peer: SocketAddrV4,
    },
    Event(SockEventKind),
}

/// How long a handshake is retried before the socket gives up: Linux's
/// `tcp_syn_retries` 6 (1+2+...+64 s) and `tcp_synack_retries` 5 (1+...+32 s).
const SYN_GIVE_UP: Duration = Duration::from_secs(127);
const SYNACK_GIVE_UP: Duration = Duration::from_secs(63);

/// States in which the handshake has completed.
pub(crate) fn synchronized(s: State) -> bool {
    !matches!(s, State::Closed | State::Listen | State::SynSent | State::SynReceived)
}

/// States in which the peer's FIN has been received.
fn fin_received(s: State) -> bool {
    matches!(s, State::CloseWait | State::LastAck | State::Closing | State::TimeWait)
}

impl Transport {
    fn new_tcp_socket(&self) -> Socket<'static> {
        let rx = SocketBuffer::new(vec![0u8; self.config.tcp_rx]);
        let tx = SocketBuffer::new(vec![0u8; self.config.tcp_tx]);
        let mut s = Socket::new(rx, tx);
        // Linux starts every connection in quickack mode: ACKs go out at once.
        s.set_ack_delay(None);
        s
    }

    /// Opens the listening pool of `port`; `false` if the port is taken (EADDRINUSE).
    pub(crate) fn listen(&mut self, port: u16, pool: Pool) -> bool {
        if self.port_in_use(IpProto::Tcp, port) {
            return false;
        }
        self.pools.insert(port, pool);
        self.arm_listener(port);
        true
    }

    fn arm_listener(&mut self, port: u16) {
        let mut s = self.new_tcp_socket();
        s.listen(port).expect("a fresh socket can listen on a non-zero port");
        let owner = self.pools[&port].owner.clone();
        let h = self.sockets.add(s);
        let n = self.add_entry(h, Role::TcpListen { port }, owner, 0);
        self.entries[&n].state = State::Listen;
    }

    fn has_listener(&self, port: u16) -> bool {
        self.entries.values().any(|e| e.role == Role::TcpListen { port })
    }

    /// `connect(2)` from `local` (address and port chosen by the caller) to `remote`.
    pub(crate) fn connect(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        tag: u32,
        owner: Owner,
    ) -> u32 {
        let mut s = self.new_tcp_socket();
        s.connect(self.iface.context(), remote, local)
            .expect("local port is non-zero and the socket is fresh");
        s.set_timeout(Some(SYN_GIVE_UP));
        let h = self.sockets.add(s);
        let n = self.add_entry(h, Role::TcpClient, owner, tag);
        let e = &mut self.entries[&n];
        e.state = State::SynSent;
        e.local = Some(local);
        e.remote = Some(remote);
        n
    }

    /// The socket that takes a segment from `remote` to `local`, if any.
    pub(crate) fn tcp_owner(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        flags: TcpFlags,
    ) -> Option<u32> {
        if let Some(n) = self.by_tuple(IpProto::Tcp, local, remote) {
            return Some(n);
        }
        let syn = flags.has(TcpFlags::SYN) && !flags.has(TcpFlags::ACK) && !flags.has(TcpFlags::RST);
        if !syn {
            return None;
        }
        let port = local.port();
        self.entries.iter().find(|(_, e)| e.role == Role::TcpListen { port }).map(|(n, _)| *n)
    }

    pub(crate) fn tcp_socket(&mut self, n: u32) -> &mut Socket<'static> {
        let h = self.entries[&n].handle;
        self.sockets.get_mut::<Socket>(h)
    }

    /// Walks every TCP socket after a poll: new connections, data, FINs, closes. Then
    /// frees or re-arms closed sockets and tops up the pools.
    pub(crate) fn scan_tcp(&mut self) -> Vec<Noticed> {
        let mut out = Vec::new();
        let mut closed = Vec::new();
        let cur_tag = self.cur_tag;
        let ns: Vec<u32> = self.entries.keys().copied().collect();
        for n in ns {
            let e = &self.entries[&n];
            if e.role.proto() != IpProto::Tcp {
                continue;
            }
            let h = e.handle;
            let s = self.sockets.get_mut::<Socket>(h);
            let e = self.entries.get_mut(&n).expect("listed above");
            let mut seen = Vec::new();
            scan_one(e, s, cur_tag, &mut seen);
            out.extend(seen.into_iter().map(|seen| Noticed {
                n,
                owner: e.owner.clone(),
                tag: e.tag,
                role: e.role,
                seen,
            }));
            if e.state == State::Closed && !matches!(e.role, Role::TcpListen { .. }) {
                closed.push(n);
            }
        }
        for n in closed {
            self.retire(n);
        }
        let ports: Vec<u16> = self.pools.keys().copied().collect();
        for port in ports {
            if !self.has_listener(port) {
                self.arm_listener(port);
            }
        }
        out
    }

    /// A closed socket: back to `Listen` if its pool has no listener, else freed.
    fn retire(&mut self, n: u32) {
        let e = &self.entries[&n];
        if let Role::TcpServer { port } = e.role
            && self.pools.contains_key(&port)
            && !self.has_listener(port)
        {
            let h = e.handle;
            if self.sockets.get_mut::<Socket>(h).listen(port).is_ok() {
                let e = &mut self.entries[&n];
                *e = Entry { role: Role::TcpListen { port }, state: State::Listen, tag: 0, ..fresh(e) };
                return;
            }
        }
        self.remove(n);
    }

    /// Frees a socket without sending anything (Linux `close` in SYN_SENT).
    pub(crate) fn remove(&mut self, n: u32) {
        if let Some(e) = self.entries.shift_remove(&n) {
            self.sockets.remove(e.handle);
        }
    }
}

fn fresh(e: &Entry) -> Entry {
    Entry {
        handle: e.handle,
        role: e.role,
        owner: e.owner.clone(),
        tag: 0,
        state: State::Closed,
        local: None,
        remote: None,
        reset: false,
        fin_seen: false,
        rcv_nxt: None,
        snd_nxt: None,
    }
}

fn scan_one(e: &mut Entry, s: &mut Socket<'static>, cur_tag: u32, out: &mut Vec<Seen>) {
    let st = s.state();
    if let Role::TcpListen { port } = e.role {
        if st == State::Listen || st == State::Closed {
            return;
        }
        e.role = Role::TcpServer { port };
        s.set_timeout(Some(SYNACK_GIVE_UP));
        e.tag = cur_tag;
        e.local = s.local_endpoint().map(v4);
        e.remote = s.remote_endpoint().map(v4);
        if let (Some(local), Some(peer)) = (e.local, e.remote) {
            out.push(Seen::Answered { local, peer });
        }
    }
    if !synchronized(e.state) && synchronized(st) {
        s.set_timeout(None);
        let ev = match (e.role, e.local, e.remote) {
            (Role::TcpServer { port }, Some(local), Some(peer)) => {
                SockEventKind::Accepted { port, local, peer }
            }
            _ => SockEventKind::Connected,
        };
        out.push(Seen::Event(ev));
    }
    let mut data = Vec::new();
    while s.can_recv() {
        match s.recv(|b| (b.len(), b.to_vec())) {
            Ok(chunk) if !chunk.is_empty() => data.extend(chunk),
            _ => break,
        }
    }
    if !data.is_empty() {
        out.push(Seen::Event(SockEventKind::Data(data)));
    }
    if fin_received(st) && !e.fin_seen {
        e.fin_seen = true;
        out.push(Seen::Event(SockEventKind::PeerClosed));
    }
    if st == State::Closed && e.state != State::Closed {
        let ev = match (e.reset, synchronized(e.state) || e.fin_seen) {
            (true, false) => SockEventKind::Error(SockError::Refused),
            (true, true) => SockEventKind::Error(SockError::Reset),
            (false, _) => SockEventKind::Closed,
        };
        out.push(Seen::Event(ev));
    }
    e.state = st;
}
