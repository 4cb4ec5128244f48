//! Packets as typed header values (smoltcp's "Repr" idea): every stage of the path
//! consumes and produces these, never bytes. `crate::wire` turns them into real bytes
//! at the edges (pcap, smoltcp sockets).
//!
//! What the model leaves out, on purpose: IP options, fragmentation (a packet is never
//! split; too big with DF set is answered with ICMP "fragmentation needed" instead), IPv6,
//! VLAN tags, and TCP options other than MSS, window scale, SACK-permitted and
//! timestamps. Checksums are not stored: they are computed when bytes are emitted, so a
//! NAT rewrite can never leave a stale checksum behind.

mod arp;
pub mod dns;
mod eth;
mod icmp;
mod ipv4;
mod l4;

pub use arp::{ArpOp, ArpPacket};
pub use eth::{Frame, FrameBody, Mac};
pub use icmp::{Icmp, UnreachCode};
pub use ipv4::{IpProto, Ipv4Packet, L4};
pub use l4::{TcpFlags, TcpSegment, UdpDatagram, UdpPayload, VXLAN_OVERHEAD};

/// The 5-tuple-ish view netfilter and conntrack match on. Ports are `None` for ICMP;
/// for ICMP echo the identifier plays the port's role in conntrack (as in Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    pub proto: IpProto,
    pub src: std::net::Ipv4Addr,
    pub dst: std::net::Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}
