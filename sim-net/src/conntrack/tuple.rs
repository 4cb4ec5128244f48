//! Conntrack tuples (`struct nf_conntrack_tuple`, IPv4 only) and directions.
//!
//! Like Linux, a tuple is (proto, src, dst, src "port", dst "port"). For TCP and UDP the
//! ports are ports. For ICMP the source slot holds the echo identifier and the
//! destination slot holds type and code (Linux's `dst.u.icmp.{type,code}` share the
//! bytes of `dst.u.all`), so the reply tuple of an echo request (type 8) carries type 0:
//! a request from the peer with the same identifier is a different flow, as in Linux.

use std::fmt;
use std::net::Ipv4Addr;

use crate::packet::{Icmp, IpProto, Ipv4Packet, L4};

/// ICMP types conntrack tracks as flows (echo and echo reply).
const ICMP_ECHO: u8 = 8;
const ICMP_ECHOREPLY: u8 = 0;

/// Direction of a packet relative to the connection that owns it (`enum ip_conntrack_dir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    /// Same direction as the packet that created the entry (`IP_CT_DIR_ORIGINAL`).
    Original,
    /// The answering direction (`IP_CT_DIR_REPLY`).
    Reply,
}

impl Dir {
    pub fn flip(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }
    pub(crate) fn index(self) -> usize {
        match self {
            Dir::Original => 0,
            Dir::Reply => 1,
        }
    }
}

/// One direction of a connection, as `conntrack -L` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple {
    pub proto: IpProto,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// TCP/UDP source port; ICMP echo identifier.
    pub sport: u16,
    /// TCP/UDP destination port; ICMP `type << 8 | code`.
    pub dport: u16,
}

impl Tuple {
    /// A TCP or UDP tuple.
    pub fn ports(proto: IpProto, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Tuple {
        Tuple { proto, src, dst, sport, dport }
    }

    /// An ICMP tuple: identifier, type and code.
    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, icmp_type: u8, code: u8) -> Tuple {
        Tuple { proto: IpProto::Icmp, src, dst, sport: ident, dport: u16::from_be_bytes([icmp_type, code]) }
    }

    /// The tuple of `pkt`, or `None` for ICMP errors (which conntrack never keys on:
    /// they are matched through the packet they quote).
    pub fn of(pkt: &Ipv4Packet) -> Option<Tuple> {
        let (src, dst) = (pkt.src, pkt.dst);
        Some(match &pkt.body {
            L4::Tcp(t) => Tuple::ports(IpProto::Tcp, src, t.sport, dst, t.dport),
            L4::Udp(u) => Tuple::ports(IpProto::Udp, src, u.sport, dst, u.dport),
            L4::Icmp(Icmp::EchoRequest { ident, .. }) => Tuple::icmp(src, dst, *ident, ICMP_ECHO, 0),
            L4::Icmp(Icmp::EchoReply { ident, .. }) => Tuple::icmp(src, dst, *ident, ICMP_ECHOREPLY, 0),
            L4::Icmp(_) => return None,
        })
    }

    /// `nf_ct_invert_tuple`: swap the ends; ICMP keeps its identifier and maps the type to
    /// its answer (echo request ⇄ echo reply).
    pub fn invert(&self) -> Tuple {
        match self.proto {
            IpProto::Icmp => {
                let [ty, code] = self.dport.to_be_bytes();
                let inv = match ty {
                    ICMP_ECHO => ICMP_ECHOREPLY,
                    ICMP_ECHOREPLY => ICMP_ECHO,
                    other => other,
                };
                Tuple::icmp(self.dst, self.src, self.sport, inv, code)
            }
            _ => Tuple {
                proto: self.proto,
                src: self.dst,
                dst: self.src,
                sport: self.dport,
                dport: self.sport,
            },
        }
    }

    pub fn icmp_type(&self) -> u8 {
        self.dport.to_be_bytes()[0]
    }
    pub fn icmp_code(&self) -> u8 {
        self.dport.to_be_bytes()[1]
    }

    /// True when `conntrack` can create an entry for this tuple: TCP, UDP, and ICMP echo
    /// requests (`icmp_new` refuses replies and unknown types).
    pub(crate) fn can_start_flow(&self) -> bool {
        self.proto != IpProto::Icmp || self.icmp_type() == ICMP_ECHO
    }
}

/// `conntrack -L` field syntax: `src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80`, or for
/// ICMP `src=… dst=… type=8 code=0 id=4660`.
impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={} dst={} ", self.src, self.dst)?;
        match self.proto {
            IpProto::Icmp => {
                write!(f, "type={} code={} id={}", self.icmp_type(), self.icmp_code(), self.sport)
            }
            _ => write!(f, "sport={} dport={}", self.sport, self.dport),
        }
    }
}
