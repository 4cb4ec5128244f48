//! IPv4 packets (RFC 791) without options or fragments.

use std::fmt;
use std::net::Ipv4Addr;

use super::FlowKey;
use super::icmp::Icmp;
use super::l4::{TcpSegment, UdpDatagram};

/// IP protocol numbers the model carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpProto {
    Icmp,
    Tcp,
    Udp,
}

impl IpProto {
    pub fn number(self) -> u8 {
        match self {
            IpProto::Icmp => 1,
            IpProto::Tcp => 6,
            IpProto::Udp => 17,
        }
    }
    /// Lower-case name as iptables and conntrack print it.
    pub fn name(self) -> &'static str {
        match self {
            IpProto::Icmp => "icmp",
            IpProto::Tcp => "tcp",
            IpProto::Udp => "udp",
        }
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The transport part of an IPv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    Icmp(Icmp),
    Tcp(TcpSegment),
    Udp(UdpDatagram),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// Identification field; set by the sender, kept by routers.
    pub ident: u16,
    pub dont_frag: bool,
    pub tos: u8,
    pub body: L4,
}

impl Ipv4Packet {
    /// Default TTL of Linux (`net.ipv4.ip_default_ttl`).
    pub const DEFAULT_TTL: u8 = 64;

    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, body: L4) -> Self {
        Ipv4Packet { src, dst, ttl: Self::DEFAULT_TTL, ident: 0, dont_frag: true, tos: 0, body }
    }

    pub fn proto(&self) -> IpProto {
        match self.body {
            L4::Icmp(_) => IpProto::Icmp,
            L4::Tcp(_) => IpProto::Tcp,
            L4::Udp(_) => IpProto::Udp,
        }
    }

    /// Length of the IPv4 packet in bytes (20-byte header, no options).
    pub fn total_len(&self) -> usize {
        20 + match &self.body {
            L4::Icmp(i) => i.wire_len(),
            L4::Tcp(t) => t.wire_len(),
            L4::Udp(u) => u.wire_len(),
        }
    }

    /// (sport, dport) for TCP/UDP; (ident, ident) for ICMP echo/reply, and (0, 0) for
    /// other ICMP, which is what conntrack keys on.
    pub fn ports(&self) -> (u16, u16) {
        match &self.body {
            L4::Tcp(t) => (t.sport, t.dport),
            L4::Udp(u) => (u.sport, u.dport),
            L4::Icmp(i) => match i.echo_ident() {
                Some(id) => (id, id),
                None => (0, 0),
            },
        }
    }

    pub fn flow(&self) -> FlowKey {
        let (sport, dport) = self.ports();
        FlowKey { proto: self.proto(), src: self.src, dst: self.dst, sport, dport }
    }

    /// Rewrites the destination address and, for TCP/UDP, the port (DNAT).
    pub fn set_dst(&mut self, addr: Ipv4Addr, port: Option<u16>) {
        self.dst = addr;
        if let Some(p) = port {
            match &mut self.body {
                L4::Tcp(t) => t.dport = p,
                L4::Udp(u) => u.dport = p,
                L4::Icmp(_) => {}
            }
        }
    }

    /// Rewrites the source address and, for TCP/UDP, the port (SNAT).
    pub fn set_src(&mut self, addr: Ipv4Addr, port: Option<u16>) {
        self.src = addr;
        if let Some(p) = port {
            match &mut self.body {
                L4::Tcp(t) => t.sport = p,
                L4::Udp(u) => u.sport = p,
                L4::Icmp(_) => {}
            }
        }
    }
}

/// tcpdump style: `10.244.0.2.40000 > 10.244.1.2.80: Flags [S], seq 1, win 64240`.
impl fmt::Display for Ipv4Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            L4::Tcp(t) => write!(f, "{}.{} > {}.{}: {t}", self.src, t.sport, self.dst, t.dport),
            L4::Udp(u) => write!(f, "{}.{} > {}.{}: {u}", self.src, u.sport, self.dst, u.dport),
            L4::Icmp(i) => write!(f, "{} > {}: {i}", self.src, self.dst),
        }
    }
}
