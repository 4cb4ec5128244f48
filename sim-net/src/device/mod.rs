//! Network devices of a namespace: loopback, veth, Linux bridge, vxlan. A device has
//! the attributes `ip link` shows (ifindex, name, MAC, MTU, admin state, master) and its
//! IPv4 addresses (`ip addr`); the kind-specific behaviour lives in the submodules.

pub mod bridge;

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::packet::Mac;
pub use bridge::{Bridge, FdbEntry, FdbLookup};

/// Where the other end of a veth lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRef {
    pub netns: String,
    pub ifindex: u32,
}

/// A VXLAN device's configuration (`ip -d link show flannel.1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanConf {
    pub vni: u32,
    pub local: Ipv4Addr,
    pub dev: String,
    pub dstport: u16,
    pub learning: bool,
    /// Static FDB: inner destination MAC → remote VTEP address.
    pub fdb: Vec<(Mac, Ipv4Addr)>,
}

#[derive(Clone, Debug)]
pub enum DeviceKind {
    Loopback,
    Veth { peer: PeerRef },
    Bridge(Bridge),
    Vxlan(VxlanConf),
}

impl DeviceKind {
    pub fn name(&self) -> &'static str {
        match self {
            DeviceKind::Loopback => "loopback",
            DeviceKind::Veth { .. } => "veth",
            DeviceKind::Bridge(_) => "bridge",
            DeviceKind::Vxlan(_) => "vxlan",
        }
    }
}

/// One interface (`struct net_device`).
#[derive(Clone, Debug)]
pub struct Device {
    pub ifindex: u32,
    pub name: String,
    pub mac: Mac,
    pub mtu: u32,
    pub up: bool,
    /// ifindex of the bridge this device is a port of.
    pub master: Option<u32>,
    /// Bridge port flag `hairpin_mode`: frames may leave through the port they came in.
    pub hairpin: bool,
    /// Addresses in the order added; the first one of a subnet is its primary address.
    pub addrs: Vec<Ipv4Net>,
    pub kind: DeviceKind,
}

impl Device {
    pub fn new(ifindex: u32, name: &str, mac: Mac, kind: DeviceKind) -> Self {
        let mtu = match kind {
            DeviceKind::Loopback => 65536,
            _ => 1500,
        };
        Device {
            ifindex,
            name: name.to_string(),
            mac,
            mtu,
            up: false,
            master: None,
            hairpin: false,
            addrs: Vec::new(),
            kind,
        }
    }

    pub fn is_bridge(&self) -> bool {
        matches!(self.kind, DeviceKind::Bridge(_))
    }

    pub fn bridge(&self) -> Option<&Bridge> {
        match &self.kind {
            DeviceKind::Bridge(b) => Some(b),
            _ => None,
        }
    }

    pub fn bridge_mut(&mut self) -> Option<&mut Bridge> {
        match &mut self.kind {
            DeviceKind::Bridge(b) => Some(b),
            _ => None,
        }
    }

    pub fn has_addr(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|a| a.addr() == ip)
    }

    /// `inet_select_addr`: the first primary address whose subnet holds `towards`, else
    /// the first address with global scope (loopback addresses are host scope).
    pub fn select_addr(&self, towards: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(t) = towards
            && let Some(a) = self.addrs.iter().find(|a| a.prefix_len() < 32 && a.contains(&t))
        {
            return Some(a.addr());
        }
        self.addrs.iter().find(|a| !a.addr().is_loopback()).map(|a| a.addr())
    }
}

/// Operational state as `ip link` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperState {
    Up,
    Down,
    /// Admin up, but the veth peer is down (`state LOWERLAYERDOWN` / `M-DOWN` in iproute2).
    LowerLayerDown,
    /// Loopback and devices without carrier notion report UNKNOWN.
    Unknown,
}

impl fmt::Display for OperState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperState::Up => "UP",
            OperState::Down => "DOWN",
            OperState::LowerLayerDown => "LOWERLAYERDOWN",
            OperState::Unknown => "UNKNOWN",
        })
    }
}
