//! One network namespace (`struct net`): its devices, addresses, routing tables,
//! neighbour table, sysctls, netfilter tables, conntrack and the transport stack.
//! Mutations come from `Network::apply`; this file holds the per-namespace pieces of
//! those ops and the queries the packet path needs.

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use crate::device::{Device, DeviceKind};
use crate::neigh::NeighTable;
use crate::ops::{OpError, RouteProto, RouteSpec, RouteType, Scope, Table};
use crate::packet::Mac;
use crate::route::{Route, Routes};
use crate::stack::Stack;
use crate::sysctl::Sysctls;

/// Index of a namespace in the [`crate::network::Network`]; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsId(pub u32);

pub struct Netns {
    pub id: NsId,
    pub name: String,
    pub devices: IndexMap<u32, Device>,
    next_ifindex: u32,
    pub routes: Routes,
    pub neigh: NeighTable,
    pub sysctl: Sysctls,
    pub stack: Stack,
    pub nf: crate::hooks::NetfilterState,
}

impl Netns {
    /// A fresh namespace: only `lo` (ifindex 1), down, as after `ip netns add`.
    pub fn new(id: NsId, name: &str) -> Self {
        let mut ns = Netns {
            id,
            name: name.to_string(),
            devices: IndexMap::new(),
            next_ifindex: 1,
            routes: Routes::default(),
            neigh: NeighTable::default(),
            sysctl: Sysctls::default(),
            stack: Stack::default(),
            nf: crate::hooks::NetfilterState::default(),
        };
        let lo = ns.add_device("lo", Mac::ZERO, DeviceKind::Loopback).expect("fresh namespace has no lo");
        ns.devices[&lo].addrs.push("127.0.0.1/8".parse().expect("valid literal"));
        ns.add_local_routes(lo, "127.0.0.1/8".parse().expect("valid literal"));
        ns
    }

    pub fn ifindex(&self, name: &str) -> Option<u32> {
        self.devices.values().find(|d| d.name == name).map(|d| d.ifindex)
    }

    pub fn dev(&self, name: &str) -> Result<&Device, OpError> {
        self.devices.values().find(|d| d.name == name).ok_or_else(|| OpError::NoSuchDevice(name.to_string()))
    }

    pub fn dev_mut(&mut self, name: &str) -> Result<&mut Device, OpError> {
        self.devices
            .values_mut()
            .find(|d| d.name == name)
            .ok_or_else(|| OpError::NoSuchDevice(name.to_string()))
    }

    pub fn dev_name(&self, ifindex: u32) -> &str {
        self.devices.get(&ifindex).map(|d| d.name.as_str()).unwrap_or("?")
    }

    /// Adds a device with the next ifindex; "File exists" if the name is taken.
    pub fn add_device(&mut self, name: &str, mac: Mac, kind: DeviceKind) -> Result<u32, OpError> {
        if self.ifindex(name).is_some() {
            return Err(OpError::Exists);
        }
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
            return Err(OpError::InvalidArgument(format!("\"{name}\" is not a valid ifname")));
        }
        let ifindex = self.next_ifindex;
        self.next_ifindex += 1;
        self.devices.insert(ifindex, Device::new(ifindex, name, mac, kind));
        self.sysctl.add_device(name);
        Ok(ifindex)
    }

    /// Removes a device and everything that referred to it (routes, neighbours, FDB
    /// entries, bridge membership). Returns the removed device.
    pub fn remove_device(&mut self, ifindex: u32) -> Option<Device> {
        let dev = self.devices.shift_remove(&ifindex)?;
        self.routes.remove_dev(&dev.name);
        self.neigh.remove_dev(ifindex);
        self.sysctl.remove_device(&dev.name);
        for d in self.devices.values_mut() {
            if d.master == Some(ifindex) {
                d.master = None;
            }
            if let Some(br) = d.bridge_mut() {
                br.forget_port(ifindex);
            }
        }
        Some(dev)
    }

    /// Whether `ip` is one of this namespace's own addresses (a `local` route).
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.routes.lookup(ip, |_| true).is_some_and(|r| r.kind == RouteType::Local)
    }

    /// The kernel routes an address brings (fib_add_ifaddr): `local` always; the
    /// connected prefix and the broadcast route only while the device is up.
    pub fn add_local_routes(&mut self, ifindex: u32, addr: Ipv4Net) {
        let dev = &self.devices[&ifindex];
        let (name, up, loopback) = (dev.name.clone(), dev.up, matches!(dev.kind, DeviceKind::Loopback));
        let local_dst =
            if loopback { addr.trunc() } else { Ipv4Net::new(addr.addr(), 32).expect("32 is valid") };
        let mut specs = vec![kernel_route(Table::Local, RouteType::Local, local_dst, &name, addr.addr())];
        if loopback && addr.prefix_len() < 32 {
            specs.push(kernel_route(
                Table::Local,
                RouteType::Local,
                Ipv4Net::new(addr.addr(), 32).expect("32"),
                &name,
                addr.addr(),
            ));
        }
        if up || loopback {
            if addr.prefix_len() < 31 {
                let bcast = Ipv4Net::new(addr.broadcast(), 32).expect("32 is valid");
                specs.push(kernel_route(Table::Local, RouteType::Broadcast, bcast, &name, addr.addr()));
            }
            if addr.prefix_len() < 32 && !loopback {
                specs.push(kernel_route(Table::Main, RouteType::Unicast, addr.trunc(), &name, addr.addr()));
            }
        }
        for spec in specs {
            // An identical route may already exist (two addresses in one subnet): the
            // kernel keeps the first, as we do.
            let _ = self.routes.add(Route::from_spec(&spec));
        }
    }

    /// Removes the kernel routes of `addr` on `dev`.
    pub fn remove_local_routes(&mut self, dev: &str, addr: Ipv4Net) {
        self.routes.remove_where(|r| {
            r.proto == RouteProto::Kernel && r.dev.as_deref() == Some(dev) && r.src == Some(addr.addr())
        });
    }

    /// `ip route add` semantics: the device must exist, a gateway must be reachable
    /// directly (a link-scope route covers it) unless `onlink`.
    pub fn add_route(&mut self, spec: &RouteSpec) -> Result<(), OpError> {
        let mut spec = spec.clone();
        if let Some(dev) = &spec.dev {
            self.dev(dev)?;
        }
        if spec.kind == RouteType::Unicast
            && let Some(gw) = spec.via
        {
            if spec.onlink {
                if spec.dev.is_none() {
                    return Err(OpError::InvalidArgument("onlink requires a device".into()));
                }
            } else {
                let r = self
                    .routes
                    .lookup(gw, |r| r.kind == RouteType::Unicast && r.via.is_none() && r.table == Table::Main)
                    .ok_or(OpError::InvalidGateway)?;
                if let Some(dev) = &spec.dev
                    && r.dev.as_ref() != Some(dev)
                {
                    return Err(OpError::InvalidGateway);
                }
                if spec.dev.is_none() {
                    spec.dev = r.dev.clone();
                }
            }
        } else if spec.kind == RouteType::Unicast && spec.dev.is_none() {
            return Err(OpError::InvalidArgument("need a device or a gateway".into()));
        }
        if let Some(dev) = &spec.dev
            && !self.dev(dev)?.up
            && !spec.onlink
        {
            return Err(OpError::NexthopDeviceDown);
        }
        if spec.scope.is_none() && spec.via.is_some() {
            spec.scope = Some(Scope::Global);
        }
        self.routes.add(Route::from_spec(&spec)).map_err(|_| OpError::Exists)
    }

    /// Addresses of every device, for `addrtype LOCAL` and ARP (arp_ignore=0 answers for
    /// any local address on any interface).
    pub fn all_addrs(&self) -> impl Iterator<Item = (u32, &Ipv4Net)> {
        self.devices.values().flat_map(|d| d.addrs.iter().map(move |a| (d.ifindex, a)))
    }
}

fn kernel_route(table: Table, kind: RouteType, dst: Ipv4Net, dev: &str, src: Ipv4Addr) -> RouteSpec {
    let mut s = RouteSpec::new(dst).dev(dev).kind(kind).src(src);
    s.table = table;
    s.proto = RouteProto::Kernel;
    s.scope = Some(match kind {
        RouteType::Local => Scope::Host,
        _ => Scope::Link,
    });
    s
}
