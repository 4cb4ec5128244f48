//! The transport layer of a namespace: TCP and UDP sockets on smoltcp, running on
//! simulated time only. Each namespace gets one smoltcp `Interface` (`Medium::Ip`),
//! created lazily when its first socket needs it, with the namespace's own addresses
//! (127.0.0.1 included; service VIPs arrive DNATed, never as interface addresses, and
//! `any_ip` stays off so smoltcp never answers for a stray address). Our packet path
//! hands it the datagrams that passed INPUT and sends what it emits through OUTPUT →
//! routing → POSTROUTING, so netfilter and conntrack see every packet.
//!
//! Who answers what, and why (checked against Linux 6.x in a network namespace):
//! - a segment no socket wants gets *our* RST (`tcp_v4_send_reset`'s exact form: seq 0,
//!   ack ISN+1, `[R.]`, win 0 for a SYN; seq = its ack, `[R]` for a segment with ACK);
//!   UDP to a closed port gets *our* ICMP port unreachable (`icmp_send`), and ICMP echo
//!   is answered by our stack (`icmp_echo`); smoltcp only sees packets a socket owns;
//! - everything inside a connection (handshake, data, ACKs, FIN, retransmits) is
//!   smoltcp's.
//!
//! What differs from Linux (each also in docs/fidelity.md): smoltcp has no accept queue,
//! so a listener is a pool of listening sockets, one kept armed per port and re-armed
//! after close; windows are the socket buffer sizes of [`TransportConfig`] with no
//! timestamps option; the IP identification of TCP segments is 0; TIME_WAIT lasts
//! 10 s (Linux 60 s); the minimum RTO is 1 s (Linux 200 ms once an RTT is measured);
//! ACKs are sent at once (Linux's quickack mode at connection start); one MSS per
//! namespace (its smallest non-loopback MTU − 40). ICMP errors reach sockets through
//! our code (smoltcp drops them): any destination unreachable ends a TCP connect in
//! SYN_SENT, as in Linux (`tcp_v4_err` reports it and calls `tcp_done` in SYN_SENT);
//! on an established connection it is ignored, as Linux only records host/net
//! unreachable there as a soft error (`sk_err_soft`) and keeps retransmitting.
//! Client ports of `connect` follow `__inet_hash_connect` (`portsel`), and a SYN that
//! meets a TIME_WAIT socket follows `tcp_timewait_state_process` (`timewait`).

mod device;
mod net;
mod portsel;
mod tcp;
mod timewait;
mod udp;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use indexmap::IndexMap;
use ipnet::Ipv4Net;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use sim_core::SimTime;

use crate::netns::NsId;
use crate::packet::IpProto;
use device::SimDev;

/// Linux `net.ipv4.ip_local_port_range` default.
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// Socket buffer sizes. Defaults are small because every listening socket of every
/// pod carries them; smoltcp advertises the free receive buffer as its window.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportConfig {
    /// TCP receive buffer (the advertised window). Default 8 KiB.
    pub tcp_rx: usize,
    /// TCP send buffer. Default 8 KiB.
    pub tcp_tx: usize,
    /// UDP datagrams and payload bytes queued per direction. Default 8 and 8 KiB.
    pub udp_packets: usize,
    pub udp_bytes: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig { tcp_rx: 8192, tcp_tx: 8192, udp_packets: 8, udp_bytes: 8192 }
    }
}

/// A socket: its namespace and a number unique within it (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SockId {
    pub ns: NsId,
    pub n: u32,
}

impl fmt::Display for SockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sock{}.{}", self.ns.0, self.n)
    }
}

/// What an application learns from one of its sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockEventKind {
    /// A connection from `peer` to a port the application listens on is established
    /// (`accept` returns).
    Accepted { port: u16, local: SocketAddrV4, peer: SocketAddrV4 },
    /// The application's `connect` completed.
    Connected,
    /// Bytes arrived (`read`).
    Data(Vec<u8>),
    /// The peer sent FIN: `read` returns 0 from now on.
    PeerClosed,
    /// The connection is gone after an orderly close; the socket no longer exists.
    Closed,
    /// A connection error; for TCP the socket no longer exists.
    Error(SockError),
    /// A UDP datagram arrived.
    Datagram { from: SocketAddrV4, local: SocketAddrV4, data: Vec<u8> },
}

/// An event for the application owning `sock`; `tag` is the socket's trace flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockEvent {
    pub time: SimTime,
    pub tag: u32,
    pub sock: SockId,
    pub kind: SockEventKind,
}

/// The errno a real application would see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockError {
    /// ECONNREFUSED: a RST answered our SYN, or ICMP port unreachable.
    Refused,
    /// ECONNRESET: a RST on an established connection.
    Reset,
    /// EHOSTUNREACH / ENETUNREACH / ...: an ICMP error, in tcpdump's words.
    Unreachable(String),
}

/// Who reads a socket's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// An application outside sim-net: events go to `poll_socket_events`.
    App,
    /// A listener registered without an application: it reads and discards, closes
    /// when the peer does, and echoes UDP datagrams.
    Sink,
    /// A built-in probe client started by `send_probe` (tag = the probe).
    Probe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    TcpListen { port: u16 },
    TcpServer { port: u16 },
    TcpClient,
    UdpServer { port: u16 },
    UdpClient,
}

impl Role {
    pub fn proto(self) -> IpProto {
        match self {
            Role::UdpServer { .. } | Role::UdpClient => IpProto::Udp,
            _ => IpProto::Tcp,
        }
    }
}

/// Our bookkeeping for one smoltcp socket.
#[derive(Debug)]
pub(crate) struct Entry {
    pub handle: SocketHandle,
    pub role: Role,
    pub owner: Owner,
    /// The probe (trace flow) the socket's packets belong to.
    pub tag: u32,
    pub state: smoltcp::socket::tcp::State,
    pub local: Option<SocketAddrV4>,
    pub remote: Option<SocketAddrV4>,
    pub reset: bool,
    pub fin_seen: bool,
    /// The next sequence number expected from the peer and the next one to send, as
    /// seen on the wire (smoltcp keeps its own private); TIME_WAIT needs both.
    pub rcv_nxt: Option<u32>,
    pub snd_nxt: Option<u32>,
}

/// A TCP port's listening pool.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    pub owner: Owner,
}

/// One namespace's transport: the smoltcp interface, its sockets and our bookkeeping.
pub struct Transport {
    pub(crate) iface: Interface,
    pub(crate) dev: SimDev,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) entries: IndexMap<u32, Entry>,
    pub(crate) pools: BTreeMap<u16, Pool>,
    /// Who bound each server port ("pod/web container http").
    pub(crate) labels: BTreeMap<(IpProto, u16), String>,
    next: u32,
    /// Poll timers scheduled and not fired yet.
    pub(crate) timers: std::collections::BTreeSet<SimTime>,
    /// The tag of the datagram being delivered (for what smoltcp answers on its own).
    pub(crate) cur_tag: u32,
    pub(crate) config: TransportConfig,
    /// `connect(2)` port selection state, drawn from the seeded stream at first use.
    pub(crate) connect_ports: Option<portsel::ConnectPorts>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("entries", &self.entries).field("pools", &self.pools).finish()
    }
}

pub(crate) fn instant(t: SimTime) -> Instant {
    Instant::from_micros((t.as_nanos() / 1000) as i64)
}

pub(crate) fn sim_time(i: Instant) -> SimTime {
    SimTime::from_nanos(i.total_micros().max(0) as u64 * 1000)
}

pub(crate) fn v4(ep: smoltcp::wire::IpEndpoint) -> SocketAddrV4 {
    let IpAddress::Ipv4(a) = ep.addr;
    SocketAddrV4::new(a, ep.port)
}

impl Transport {
    /// A fresh interface with `addrs`, seeded from the namespace's random stream.
    pub(crate) fn new(
        seed: u64,
        addrs: &[Ipv4Net],
        mtu: usize,
        now: SimTime,
        config: TransportConfig,
    ) -> Self {
        let mut dev = SimDev { mtu, ..SimDev::default() };
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, instant(now));
        // Medium::Ip still consults a route for off-link destinations; the gateway is
        // never used on an IP medium (our path does the routing).
        iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Addr::new(169, 254, 1, 1))
            .expect("a fresh route table has room");
        let mut t = Transport {
            iface,
            dev,
            sockets: SocketSet::new(vec![]),
            entries: IndexMap::new(),
            pools: BTreeMap::new(),
            labels: BTreeMap::new(),
            next: 1,
            timers: Default::default(),
            cur_tag: 0,
            config,
            connect_ports: None,
        };
        t.sync_addrs(addrs, mtu);
        t
    }

    /// Gives the interface the namespace's current addresses (at most 8, smoltcp's
    /// compile-time limit) and MTU.
    pub(crate) fn sync_addrs(&mut self, addrs: &[Ipv4Net], mtu: usize) {
        self.dev.mtu = mtu;
        let want: Vec<IpCidr> =
            addrs.iter().take(8).map(|a| IpCidr::new(IpAddress::Ipv4(a.addr()), a.prefix_len())).collect();
        if self.iface.ip_addrs() != want.as_slice() {
            self.iface.update_ip_addrs(|v| {
                v.clear();
                for c in want {
                    let _ = v.push(c);
                }
            });
        }
    }

    fn add_entry(&mut self, handle: SocketHandle, role: Role, owner: Owner, tag: u32) -> u32 {
        let n = self.next;
        self.next += 1;
        let state = smoltcp::socket::tcp::State::Closed;
        let e = Entry {
            handle,
            role,
            owner,
            tag,
            state,
            local: None,
            remote: None,
            reset: false,
            fin_seen: false,
            rcv_nxt: None,
            snd_nxt: None,
        };
        self.entries.insert(n, e);
        n
    }

    /// Whether a local port is taken (ephemeral selection skips it).
    pub(crate) fn port_in_use(&self, proto: IpProto, port: u16) -> bool {
        (proto == IpProto::Tcp && self.pools.contains_key(&port))
            || self.entries.values().any(|e| {
                e.role.proto() == proto
                    && (e.local.is_some_and(|l| l.port() == port)
                        || matches!(e.role, Role::UdpServer { port: p } if p == port))
            })
    }

    /// Whether `connect` from `local` to `remote` cannot use `local`'s port: a listener
    /// holds it (a `bind` bucket, `fastreuse >= 0` in Linux), or a socket already has
    /// that 4-tuple (`__inet_check_established`; TIME_WAIT included: `tcp_tw_reuse`
    /// is 2 by default, loopback only).
    pub(crate) fn connect_port_taken(&self, local: SocketAddrV4, remote: SocketAddrV4) -> bool {
        let port = local.port();
        self.pools.contains_key(&port)
            || self.entries.values().any(|e| match e.role {
                Role::TcpListen { port: p } | Role::TcpServer { port: p } => p == port,
                Role::TcpClient => e.local == Some(local) && e.remote == Some(remote),
                _ => false,
            })
    }

    /// Who holds a port, for EADDRINUSE messages.
    pub fn port_owner(&self, proto: IpProto, port: u16) -> String {
        self.labels.get(&(proto, port)).cloned().unwrap_or_else(|| "a client socket".into())
    }

    /// Number of sockets (all states), for measurements and tests.
    pub fn socket_count(&self) -> usize {
        self.entries.len()
    }

    /// The entry whose connection is `local` ⇄ `remote`.
    pub(crate) fn by_tuple(&self, proto: IpProto, local: SocketAddrV4, remote: SocketAddrV4) -> Option<u32> {
        self.entries
            .iter()
            .find(|(_, e)| e.role.proto() == proto && e.local == Some(local) && e.remote == Some(remote))
            .map(|(n, _)| *n)
    }
}
