//! ICMPv4 messages the Linux stack sends and answers (RFC 792, RFC 1191).

use std::fmt;

use super::ipv4::Ipv4Packet;

/// Destination-unreachable codes Linux uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnreachCode {
    Net = 0,
    Host = 1,
    Protocol = 2,
    Port = 3,
    /// "fragmentation needed and DF set"; carries the next-hop MTU.
    FragNeeded = 4,
    NetProhibited = 9,
    HostProhibited = 10,
    /// "communication administratively prohibited" (iptables icmp-admin-prohibited).
    AdminProhibited = 13,
}

impl UnreachCode {
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Self::Net,
            1 => Self::Host,
            2 => Self::Protocol,
            3 => Self::Port,
            4 => Self::FragNeeded,
            9 => Self::NetProhibited,
            10 => Self::HostProhibited,
            13 => Self::AdminProhibited,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Icmp {
    EchoRequest {
        ident: u16,
        seq: u16,
        data: Vec<u8>,
    },
    EchoReply {
        ident: u16,
        seq: u16,
        data: Vec<u8>,
    },
    /// `original` is the offending packet as quoted: its header plus the first 8 bytes of
    /// its payload on the wire (ports for TCP/UDP); the model keeps the whole header
    /// struct but the quote is truncated when emitted.
    DestUnreachable {
        code: UnreachCode,
        next_hop_mtu: u16,
        original: Box<Ipv4Packet>,
    },
    /// TTL exceeded in transit (code 0).
    TimeExceeded {
        original: Box<Ipv4Packet>,
    },
}

impl Icmp {
    pub fn echo_ident(&self) -> Option<u16> {
        match self {
            Icmp::EchoRequest { ident, .. } | Icmp::EchoReply { ident, .. } => Some(*ident),
            _ => None,
        }
    }
    /// The quoted packet of an error message.
    pub fn quoted(&self) -> Option<&Ipv4Packet> {
        match self {
            Icmp::DestUnreachable { original, .. } | Icmp::TimeExceeded { original } => Some(original),
            _ => None,
        }
    }
    pub fn is_error(&self) -> bool {
        self.quoted().is_some()
    }
    /// ICMP message length: 8-byte header plus data, or plus the quote (20 + 8 bytes).
    pub fn wire_len(&self) -> usize {
        match self {
            Icmp::EchoRequest { data, .. } | Icmp::EchoReply { data, .. } => 8 + data.len(),
            Icmp::DestUnreachable { .. } | Icmp::TimeExceeded { .. } => 8 + 28,
        }
    }
}

impl fmt::Display for Icmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Icmp::EchoRequest { ident, seq, .. } => write!(f, "ICMP echo request, id {ident}, seq {seq}"),
            Icmp::EchoReply { ident, seq, .. } => write!(f, "ICMP echo reply, id {ident}, seq {seq}"),
            Icmp::DestUnreachable { code, next_hop_mtu, original } => {
                // tcpdump's wording (print-icmp.c).
                let d = original.dst;
                match (code, &original.body) {
                    (UnreachCode::Port, super::ipv4::L4::Udp(u)) => {
                        write!(f, "ICMP {d} udp port {} unreachable", u.dport)
                    }
                    (UnreachCode::Port, super::ipv4::L4::Tcp(t)) => {
                        write!(f, "ICMP {d} tcp port {} unreachable", t.dport)
                    }
                    (UnreachCode::Port, _) => write!(f, "ICMP {d} port unreachable"),
                    (UnreachCode::Net, _) => write!(f, "ICMP net {d} unreachable"),
                    (UnreachCode::Host, _) => write!(f, "ICMP host {d} unreachable"),
                    (UnreachCode::Protocol, _) => {
                        write!(f, "ICMP {d} protocol {} unreachable", original.proto().number())
                    }
                    (UnreachCode::FragNeeded, _) => {
                        write!(f, "ICMP {d} unreachable - need to frag (mtu {next_hop_mtu})")
                    }
                    (UnreachCode::NetProhibited, _) => {
                        write!(f, "ICMP net {d} unreachable - admin prohibited")
                    }
                    (UnreachCode::HostProhibited, _) => {
                        write!(f, "ICMP host {d} unreachable - admin prohibited")
                    }
                    (UnreachCode::AdminProhibited, _) => {
                        write!(f, "ICMP host {d} unreachable - admin prohibited filter")
                    }
                }
            }
            Icmp::TimeExceeded { original } => {
                write!(f, "ICMP time exceeded in-transit (for {} > {})", original.src, original.dst)
            }
        }
    }
}
