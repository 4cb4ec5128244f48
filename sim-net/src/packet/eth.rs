//! Ethernet II frames.

use std::fmt;

use super::arp::ArpPacket;
use super::ipv4::Ipv4Packet;

/// A MAC address. Displays as `0a:58:0a:f4:00:01` like `ip link`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);

    pub fn is_broadcast(&self) -> bool {
        *self == Mac::BROADCAST
    }
    /// Group bit set: broadcast or multicast; bridges flood these.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    /// Parses `aa:bb:cc:dd:ee:ff`.
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in out.iter_mut() {
            let p = parts.next()?;
            if p.len() != 2 {
                return None;
            }
            *b = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}
impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An Ethernet frame carrying ARP or IPv4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub src: Mac,
    pub dst: Mac,
    pub body: FrameBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameBody {
    Arp(ArpPacket),
    Ipv4(Ipv4Packet),
}

impl Frame {
    /// Bytes on the wire without the FCS: 14 bytes of header plus the body.
    pub fn wire_len(&self) -> usize {
        14 + match &self.body {
            FrameBody::Arp(_) => 28,
            FrameBody::Ipv4(p) => p.total_len(),
        }
    }
}

/// tcpdump -e style: `0a:58:.. > 0a:58:.., ARP, Request who-has ...`.
impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            FrameBody::Arp(a) => write!(f, "{} > {}, {a}", self.src, self.dst),
            FrameBody::Ipv4(p) => write!(f, "{} > {}, {p}", self.src, self.dst),
        }
    }
}
