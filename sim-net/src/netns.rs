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
    /// A fresh namespace: only `lo` (ifindex 1), down and without an address, as after
    /// `ip netns add` (Linux gives `lo` 127.0.0.1/8 the first time it comes up; see
    /// [`Netns::loopback_up`]).
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
        ns.add_device("lo", Mac::ZERO, DeviceKind::Loopback).expect("fresh namespace has no lo");
        ns
    }

    /// devinet.c `inetdev_event(NETDEV_UP)` on a loopback device: it (re)gets
    /// 127.0.0.1/8 unless it already has it, inserted after any other loopback
    /// (host-scope) primary address and before the global ones (`__inet_insert_ifa`).
    /// The address stays when `lo` goes down again.
    pub fn loopback_up(&mut self, ifindex: u32) {
        let lo: Ipv4Net = "127.0.0.1/8".parse().expect("valid literal");
        let dev = self.devices.get_mut(&ifindex).expect("device exists");
        if !matches!(dev.kind, DeviceKind::Loopback) || dev.addrs.contains(&lo) {
            return;
        }
        let at = dev.addrs.iter().take_while(|a| a.addr().is_loopback()).count();
        dev.addrs.insert(at, lo);
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

    /// The primary address of `addr`'s subnet on device `ifindex` (`__inet_insert_ifa`:
    /// the first address with the same prefix length whose subnet holds it); `addr`
    /// itself when it is the primary. `None` if the device does not have `addr`.
    pub fn primary_of(&self, ifindex: u32, addr: Ipv4Net) -> Option<Ipv4Net> {
        let dev = self.devices.get(&ifindex)?;
        if !dev.addrs.contains(&addr) {
            return None;
        }
        dev.addrs.iter().find(|p| p.prefix_len() == addr.prefix_len() && p.trunc() == addr.trunc()).copied()
    }

    /// The kernel routes an address brings (fib.c `fib_add_ifaddr`), all with the
    /// primary address of the subnet as `src`: `local ADDR` always; while the device is
    /// up and only for a primary address, the prefix route (in table main; in table
    /// local as type `local` on a loopback device) and the subnet's broadcast route. A
    /// secondary address (same subnet as an earlier one) adds its `local` route only.
    pub fn add_local_routes(&mut self, ifindex: u32, addr: Ipv4Net) {
        let Some(prim) = self.primary_of(ifindex, addr) else { return };
        let dev = &self.devices[&ifindex];
        let (name, up, loopback) = (dev.name.clone(), dev.up, matches!(dev.kind, DeviceKind::Loopback));
        let src = prim.addr();
        let host = Ipv4Net::new(addr.addr(), 32).expect("32 is valid");
        let mut specs = vec![kernel_route(Table::Local, RouteType::Local, host, &name, src)];
        let secondary = prim != addr;
        let zeronet = addr.trunc().addr().octets()[0] == 0;
        if up && !secondary && !zeronet && addr.prefix_len() < 32 {
            specs.push(if loopback {
                kernel_route(Table::Local, RouteType::Local, addr.trunc(), &name, src)
            } else {
                kernel_route(Table::Main, RouteType::Unicast, addr.trunc(), &name, src)
            });
            if addr.prefix_len() < 31 {
                let bcast = Ipv4Net::new(addr.broadcast(), 32).expect("32 is valid");
                specs.push(kernel_route(Table::Local, RouteType::Broadcast, bcast, &name, src));
            }
        }
        for spec in specs {
            // An identical route may already exist (the same address on two devices, or
            // a device coming up again): the kernel keeps the first, as we do.
            let _ = self.routes.add(Route::from_spec(&spec));
        }
    }

    /// `ip addr del ADDR dev DEV` (devinet.c `__inet_del_ifa`, `fib_del_ifaddr`): removes
    /// the address and its kernel routes. Deleting a primary address also deletes its
    /// secondaries (`promote_secondaries` is 0 by default). Returns the addresses
    /// removed; "Cannot assign requested address" if the device does not have `addr`.
    pub fn del_addr(&mut self, ifindex: u32, addr: Ipv4Net) -> Result<Vec<Ipv4Net>, OpError> {
        let prim = self.primary_of(ifindex, addr).ok_or(OpError::CannotAssignAddress)?;
        let dev = &self.devices[&ifindex];
        let name = dev.name.clone();
        let gone: Vec<Ipv4Net> = if prim == addr {
            dev.addrs
                .iter()
                .filter(|a| a.prefix_len() == addr.prefix_len() && a.trunc() == addr.trunc())
                .copied()
                .collect()
        } else {
            vec![addr]
        };
        for a in &gone {
            // A secondary's only route: `local ADDR ... src PRIMARY`.
            let host = Ipv4Net::new(a.addr(), 32).expect("32 is valid");
            self.routes.remove_where(|r| {
                r.proto == RouteProto::Kernel
                    && r.kind == RouteType::Local
                    && r.dev.as_deref() == Some(name.as_str())
                    && r.dst == host
            });
        }
        if prim == addr {
            self.remove_local_routes(&name, addr);
        }
        self.devices[&ifindex].addrs.retain(|a| !gone.contains(a));
        Ok(gone)
    }

    /// Removes the kernel routes whose `src` is `addr` on `dev` (a primary address's
    /// local, prefix and broadcast routes).
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
