//! ARP for IPv4 over Ethernet (RFC 826).

use std::fmt;
use std::net::Ipv4Addr;

use super::eth::Mac;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    pub op: ArpOp,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

/// tcpdump's wording: `ARP, Request who-has 10.244.0.1 tell 10.244.0.2`.
impl fmt::Display for ArpPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            ArpOp::Request => write!(f, "ARP, Request who-has {} tell {}", self.target_ip, self.sender_ip),
            ArpOp::Reply => write!(f, "ARP, Reply {} is-at {}", self.sender_ip, self.sender_mac),
        }
    }
}
