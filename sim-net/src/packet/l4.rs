//! TCP segments and UDP datagrams (and VXLAN, which rides in UDP).

use std::fmt;

use super::eth::Frame;

/// Bytes VXLAN adds around an inner frame on an IPv4 underlay:
/// outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). This is why flannel.1
/// has MTU 1450 on a 1500-byte network.
pub const VXLAN_OVERHEAD: usize = 50;

/// TCP control bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);

    pub fn has(self, f: TcpFlags) -> bool {
        self.0 & f.0 == f.0
    }
    pub fn with(self, f: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | f.0)
    }
}

/// tcpdump's flag letters: `[S]`, `[S.]`, `[R.]`, `[P.]`, `[F.]`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (flag, c) in [(Self::FIN, 'F'), (Self::SYN, 'S'), (Self::RST, 'R'), (Self::PSH, 'P')] {
            if self.has(flag) {
                s.push(c);
            }
        }
        if self.has(Self::ACK) {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("none");
        }
        write!(f, "[{s}]")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpSegment {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<(u32, u32)>,
    pub payload: Vec<u8>,
}

impl TcpSegment {
    /// Header length in bytes including options, padded to a multiple of 4.
    pub fn header_len(&self) -> usize {
        let mut opts: usize = 0;
        if self.mss.is_some() {
            opts += 4;
        }
        if self.window_scale.is_some() {
            opts += 3;
        }
        if self.sack_permitted {
            opts += 2;
        }
        if self.timestamp.is_some() {
            opts += 10;
        }
        20 + opts.div_ceil(4) * 4
    }
    pub fn wire_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }
}

impl fmt::Display for TcpSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags {}, seq {}", self.flags, self.seq)?;
        if self.flags.has(TcpFlags::ACK) {
            write!(f, ", ack {}", self.ack)?;
        }
        write!(f, ", win {}", self.window)?;
        if !self.payload.is_empty() {
            write!(f, ", length {}", self.payload.len())?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpPayload {
    Data(Vec<u8>),
    /// RFC 7348: 8-byte VXLAN header (I flag, 24-bit VNI) and the inner frame.
    Vxlan {
        vni: u32,
        inner: Box<Frame>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram {
    pub sport: u16,
    pub dport: u16,
    pub payload: UdpPayload,
}

impl UdpDatagram {
    pub fn payload_len(&self) -> usize {
        match &self.payload {
            UdpPayload::Data(d) => d.len(),
            UdpPayload::Vxlan { inner, .. } => 8 + inner.wire_len(),
        }
    }
    pub fn wire_len(&self) -> usize {
        8 + self.payload_len()
    }
}

impl fmt::Display for UdpDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            // tcpdump decodes port 53 as DNS (NAMESERVER_PORT); bytes that are not a
            // DNS message print as `[|domain]`.
            UdpPayload::Data(d) if self.sport == 53 || self.dport == 53 => {
                match super::dns::Message::decode(d) {
                    Ok(m) => write!(f, "{}", super::dns::Tcpdump(&m, d.len())),
                    Err(_) => write!(f, "[|domain]"),
                }
            }
            UdpPayload::Data(d) => write!(f, "UDP, length {}", d.len()),
            UdpPayload::Vxlan { vni, inner } => write!(f, "VXLAN, vni {vni} | {inner}"),
        }
    }
}
