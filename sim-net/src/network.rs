//! `Network`: every namespace of the simulated world, the only place the dataplane is
//! changed ([`Network::apply`]), and the sans-I/O packet engine: callers feed it events
//! with [`Network::handle`] and drain what it wants scheduled with
//! [`Network::poll_scheduled`] and what sockets saw with [`Network::poll_socket_events`].
//!
//! Call order for a driver (the scenario world):
//! 1. `apply` ops as controllers emit them;
//! 2. `send_probe` to start a probe from a namespace at `now`;
//! 3. after each call, move `poll_scheduled()` into the event queue;
//! 4. when an event comes due, `handle(now, event)`, then go to 3;
//! 5. read `poll_socket_events()` for probe outcomes and `tracer.take()` for hops.

use indexmap::IndexMap;
use sim_core::{RngStreams, SimDuration, SimRng, SimTime};

use crate::capture::Capture;
use crate::device::{Bridge, DeviceKind, PeerRef, VxlanConf};
use crate::hop::Tracer;
use crate::netns::{Netns, NsId};
use crate::ops::{NetOp, OpError};
use crate::packet::Frame;
use crate::stack::SocketEvent;

/// Runtime knobs of the dataplane model.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NetConfig {
    /// Time a frame takes from one end of a veth to the other. Linux veths deliver
    /// within the same softirq; 5 µs stands for the per-hop processing cost so that
    /// traces show an order. Default 5 µs.
    pub veth_latency: SimDuration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig { veth_latency: SimDuration::from_micros(5) }
    }
}

/// Something the network wants to happen later.
#[derive(Clone, Debug)]
pub enum NetEvent {
    /// A frame reaches device `ifindex` of namespace `ns`.
    Arrive { ns: NsId, ifindex: u32, frame: Frame, tag: u32 },
    /// ARP retransmit/give-up timer for a next hop.
    NeighTimer { ns: NsId, ifindex: u32, ip: std::net::Ipv4Addr },
    /// A packet sent to a local address comes back in through `lo`, keeping its
    /// connection (`skb->_nfct` survives the loopback in Linux).
    Loopback { ns: NsId, pkt: crate::packet::Ipv4Packet, tag: u32, mark: u32, ct: Box<crate::hooks::Ct> },
    /// A probe client's timeout.
    SocketTimer { ns: NsId, tag: u32 },
    /// The namespace's socket layer wants to be polled (retransmit, TIME_WAIT, ...).
    TransportTimer { ns: NsId },
}

pub struct Network {
    pub(crate) spaces: IndexMap<NsId, Netns>,
    names: IndexMap<String, NsId>,
    next_id: u32,
    pub config: NetConfig,
    pub tracer: Tracer,
    /// Per-device packet capture (`--pcap`); off unless enabled.
    pub capture: Capture,
    pub(crate) scheduled: Vec<(SimTime, NetEvent)>,
    pub(crate) socket_events: Vec<SocketEvent>,
    pub(crate) sock_events: Vec<crate::socket::SockEvent>,
    rngs: RngStreams,
    /// Per-namespace random streams (ephemeral ports, ISNs, NAT port choice).
    pub(crate) ns_rng: IndexMap<NsId, SimRng>,
    pub(crate) now: SimTime,
}

impl Network {
    pub fn new(config: NetConfig, rngs: RngStreams) -> Self {
        Network {
            spaces: IndexMap::new(),
            names: IndexMap::new(),
            next_id: 0,
            config,
            tracer: Tracer::default(),
            capture: Capture::default(),
            scheduled: Vec::new(),
            socket_events: Vec::new(),
            sock_events: Vec::new(),
            rngs,
            ns_rng: IndexMap::new(),
            now: SimTime::ZERO,
        }
    }

    pub fn id(&self, name: &str) -> Option<NsId> {
        self.names.get(name).copied()
    }

    pub fn netns(&self, name: &str) -> Option<&Netns> {
        self.spaces.get(&self.id(name)?)
    }

    pub fn netns_mut(&mut self, name: &str) -> Option<&mut Netns> {
        let id = self.id(name)?;
        self.spaces.get_mut(&id)
    }

    pub fn ns(&self, id: NsId) -> &Netns {
        self.spaces.get(&id).expect("namespace id refers to a live namespace")
    }

    pub(crate) fn ns_mut(&mut self, id: NsId) -> &mut Netns {
        self.spaces.get_mut(&id).expect("namespace id refers to a live namespace")
    }

    /// Namespaces in creation order.
    pub fn namespaces(&self) -> impl Iterator<Item = &Netns> {
        self.spaces.values()
    }

    /// Moves out every event the network wants scheduled.
    pub fn poll_scheduled(&mut self) -> Vec<(SimTime, NetEvent)> {
        std::mem::take(&mut self.scheduled)
    }

    /// Moves out what probe sockets observed.
    pub fn poll_socket_events(&mut self) -> Vec<SocketEvent> {
        std::mem::take(&mut self.socket_events)
    }

    pub(crate) fn schedule(&mut self, at: SimTime, ev: NetEvent) {
        self.scheduled.push((at, ev));
    }

    pub(crate) fn rng(&mut self, ns: NsId) -> &mut SimRng {
        self.ns_rng.get_mut(&ns).expect("every namespace has a random stream")
    }

    fn lookup(&self, name: &str) -> Result<NsId, OpError> {
        self.id(name).ok_or_else(|| OpError::NoSuchNetns(name.to_string()))
    }

    fn space(&mut self, name: &str) -> Result<&mut Netns, OpError> {
        let id = self.lookup(name)?;
        Ok(self.ns_mut(id))
    }

    /// Applies one op, the only way to change the dataplane. On error nothing changed.
    /// A device that loses carrier through it forgets its neighbours (`carrier.rs`).
    pub fn apply(&mut self, op: &NetOp, now: SimTime) -> Result<(), OpError> {
        if !crate::carrier::may_drop_carrier(op) {
            return self.apply_op(op, now);
        }
        let before = crate::carrier::snapshot(self);
        let result = self.apply_op(op, now);
        if result.is_ok() {
            crate::carrier::flush_lost(self, &before);
        }
        result
    }

    fn apply_op(&mut self, op: &NetOp, now: SimTime) -> Result<(), OpError> {
        use NetOp::*;
        self.now = now;
        match op {
            AddNetns { name } => self.add_netns(name),
            DelNetns { name } => self.del_netns(name),
            AddVeth { netns, name, mac, peer_netns, peer_name, peer_mac } => {
                self.add_veth(netns, name, *mac, peer_netns, peer_name, *peer_mac)
            }
            AddBridge { netns, name, mac } => {
                let ns = self.space(netns)?;
                let idx = ns.add_device(name, *mac, DeviceKind::Bridge(Bridge::new()))?;
                let br = ns.devices[&idx].bridge_mut().expect("just created a bridge");
                br.add_local(*mac, idx);
                Ok(())
            }
            AddVxlan { netns, name, mac, vni, local, dev, dstport, learning } => {
                let ns = self.space(netns)?;
                ns.dev(dev)?;
                let conf = VxlanConf {
                    vni: *vni,
                    local: *local,
                    dev: dev.clone(),
                    dstport: *dstport,
                    learning: *learning,
                    fdb: vec![],
                };
                let idx = ns.add_device(name, *mac, DeviceKind::Vxlan(conf))?;
                ns.devices[&idx].mtu = 1450;
                Ok(())
            }
            DelLink { netns, dev } => self.del_link(netns, dev),
            SetLinkUp { netns, dev, up } => self.set_link_up(netns, dev, *up),
            SetMtu { netns, dev, mtu } => {
                if !(68..=65535).contains(mtu) {
                    return Err(OpError::InvalidArgument(format!("mtu {mtu} out of range")));
                }
                self.space(netns)?.dev_mut(dev)?.mtu = *mtu;
                Ok(())
            }
            SetMaster { netns, dev, master } => self.set_master(netns, dev, master.as_deref()),
            SetHairpin { netns, dev, on } => {
                let d = self.space(netns)?.dev_mut(dev)?;
                if d.master.is_none() {
                    return Err(OpError::InvalidArgument(format!("{dev} is not a bridge port")));
                }
                d.hairpin = *on;
                Ok(())
            }
            AddAddr { netns, dev, addr } => {
                let ns = self.space(netns)?;
                let d = ns.dev_mut(dev)?;
                if d.addrs.iter().any(|a| a.addr() == addr.addr() && a.prefix_len() == addr.prefix_len()) {
                    return Err(OpError::Exists);
                }
                d.addrs.push(*addr);
                let idx = d.ifindex;
                ns.add_local_routes(idx, *addr);
                Ok(())
            }
            DelAddr { netns, dev, addr } => {
                let ns = self.space(netns)?;
                let idx = ns.dev(dev)?.ifindex;
                ns.del_addr(idx, *addr).map(|_| ())
            }
            AddRoute { netns, route } => self.space(netns)?.add_route(route),
            DelRoute { netns, route } => {
                if self.space(netns)?.routes.del(route) {
                    Ok(())
                } else {
                    Err(OpError::NoSuchProcess)
                }
            }
            AddNeigh { netns, ip, mac, dev } => {
                let id = self.lookup(netns)?;
                let idx = self.ns(id).dev(dev)?.ifindex;
                let waiting = self.ns_mut(id).neigh.set_permanent(idx, *ip, *mac, now);
                self.flush_pending(id, idx, *mac, waiting);
                Ok(())
            }
            DelNeigh { netns, ip, dev } => {
                let ns = self.space(netns)?;
                let idx = ns.dev(dev)?.ifindex;
                ns.neigh.entries.shift_remove(&(idx, *ip)).map(|_| ()).ok_or(OpError::NoSuchProcess)
            }
            AddFdb { netns, mac, dev, dst } => self.add_fdb(netns, *mac, dev, *dst),
            DelFdb { netns, mac, dev, dst } => self.del_fdb(netns, *mac, dev, *dst),
            Sysctl { netns, key, value } => self
                .space(netns)?
                .sysctl
                .set(key, value)
                .map_err(|_| OpError::NoSuchSysctl(key.replace('.', "/"))),
            IptablesRestore { netns, input, noflush } => {
                let id = self.lookup(netns)?;
                self.ns_mut(id).nf.restore(input, *noflush).map_err(OpError::Iptables)
            }
            ConntrackDelete { netns, filter } => {
                self.space(netns)?.nf.conntrack.delete_matching(filter);
                Ok(())
            }
        }
    }

    fn add_netns(&mut self, name: &str) -> Result<(), OpError> {
        if self.names.contains_key(name) {
            return Err(OpError::NetnsExists(name.to_string()));
        }
        let id = NsId(self.next_id);
        self.next_id += 1;
        self.names.insert(name.to_string(), id);
        self.spaces.insert(id, Netns::new(id, name));
        self.ns_rng.insert(id, self.rngs.stream(&format!("netns/{name}")));
        let nf = crate::hooks::NetfilterState::new(
            self.rngs.stream(&format!("netfilter/{name}")),
            self.rngs.stream(&format!("nat/{name}")),
        );
        self.ns_mut(id).nf = nf;
        Ok(())
    }

    fn del_netns(&mut self, name: &str) -> Result<(), OpError> {
        let id = self.lookup(name)?;
        // Veth peers in other namespaces die with their partner.
        let peers: Vec<PeerRef> = self
            .ns(id)
            .devices
            .values()
            .filter_map(|d| match &d.kind {
                DeviceKind::Veth { peer } => Some(peer.clone()),
                _ => None,
            })
            .collect();
        for p in peers {
            if let Some(pid) = self.id(&p.netns)
                && pid != id
            {
                self.ns_mut(pid).remove_device(p.ifindex);
            }
        }
        self.spaces.shift_remove(&id);
        self.names.shift_remove(name);
        Ok(())
    }

    fn add_veth(
        &mut self,
        netns: &str,
        name: &str,
        mac: crate::packet::Mac,
        peer_netns: &str,
        peer_name: &str,
        peer_mac: crate::packet::Mac,
    ) -> Result<(), OpError> {
        let a = self.lookup(netns)?;
        let b = self.lookup(peer_netns)?;
        if self.ns(a).ifindex(name).is_some()
            || self.ns(b).ifindex(peer_name).is_some()
            || (a == b && name == peer_name)
        {
            return Err(OpError::Exists);
        }
        // veth_newlink registers the peer first: in one namespace it gets the lower ifindex.
        let placeholder = PeerRef { netns: String::new(), ifindex: 0 };
        let ib =
            self.ns_mut(b).add_device(peer_name, peer_mac, DeviceKind::Veth { peer: placeholder.clone() })?;
        let ia = match self.ns_mut(a).add_device(name, mac, DeviceKind::Veth { peer: placeholder }) {
            Ok(i) => i,
            Err(e) => {
                self.ns_mut(b).remove_device(ib);
                return Err(e);
            }
        };
        let (na, nb) = (netns.to_string(), peer_netns.to_string());
        self.ns_mut(a).devices[&ia].kind = DeviceKind::Veth { peer: PeerRef { netns: nb, ifindex: ib } };
        self.ns_mut(b).devices[&ib].kind = DeviceKind::Veth { peer: PeerRef { netns: na, ifindex: ia } };
        Ok(())
    }

    fn del_link(&mut self, netns: &str, dev: &str) -> Result<(), OpError> {
        let id = self.lookup(netns)?;
        let idx = self.ns(id).dev(dev)?.ifindex;
        if matches!(self.ns(id).devices[&idx].kind, DeviceKind::Loopback) {
            return Err(OpError::InvalidArgument("cannot delete lo".into()));
        }
        let removed = self.ns_mut(id).remove_device(idx).expect("device exists");
        if let DeviceKind::Veth { peer } = removed.kind
            && let Some(pid) = self.id(&peer.netns)
        {
            self.ns_mut(pid).remove_device(peer.ifindex);
        }
        Ok(())
    }

    fn set_link_up(&mut self, netns: &str, dev: &str, up: bool) -> Result<(), OpError> {
        let ns = self.space(netns)?;
        let d = ns.dev_mut(dev)?;
        if d.up == up {
            return Ok(());
        }
        d.up = up;
        let (idx, name) = (d.ifindex, d.name.clone());
        if up {
            // NETDEV_UP: lo gets 127.0.0.1/8 (inetdev_event), then every address its
            // routes (fib_netdev_event → fib_add_ifaddr).
            ns.loopback_up(idx);
            for a in ns.devices[&idx].addrs.clone() {
                ns.add_local_routes(idx, a);
            }
        } else {
            // NETDEV_DOWN: routes through the device go; local routes of its addresses stay.
            ns.routes.remove_where(|r| {
                r.dev.as_deref() == Some(name.as_str()) && r.kind != crate::ops::RouteType::Local
            });
            ns.neigh.remove_dev(idx);
            // A bridge port going down stops forwarding and forgets its stations.
            if let Some(br) = ns.devices[&idx].master
                && let Some(b) = ns.devices.get_mut(&br).and_then(|d| d.bridge_mut())
            {
                b.forget_learned(idx);
            }
            // The veth's peer loses its carrier (NETDEV_CHANGE): its dynamic neighbours
            // go (`neigh_carrier_down`) and, if it is a bridge port, the bridge disables
            // it and forgets its stations. Its routes stay, flagged `linkdown`.
            if let DeviceKind::Veth { peer } = ns.devices[&idx].kind.clone()
                && let Some(pid) = self.id(&peer.netns)
            {
                let pns = self.ns_mut(pid);
                pns.neigh.carrier_down(peer.ifindex);
                if let Some(br) = pns.devices.get(&peer.ifindex).and_then(|d| d.master)
                    && let Some(b) = pns.devices.get_mut(&br).and_then(|d| d.bridge_mut())
                {
                    b.forget_learned(peer.ifindex);
                }
            }
        }
        Ok(())
    }

    fn set_master(&mut self, netns: &str, dev: &str, master: Option<&str>) -> Result<(), OpError> {
        let ns = self.space(netns)?;
        let port = ns.dev(dev)?.ifindex;
        let (port_mac, old) = (ns.devices[&port].mac, ns.devices[&port].master);
        if let Some(old) = old
            && let Some(br) = ns.devices[&old].bridge_mut()
        {
            br.forget_port(port);
        }
        let new = match master {
            None => None,
            Some(m) => {
                let bi = ns.dev(m)?.ifindex;
                if bi == port || !ns.devices[&bi].is_bridge() {
                    return Err(OpError::InvalidArgument(format!("{m} is not a bridge")));
                }
                ns.devices[&bi].bridge_mut().expect("checked").add_local(port_mac, port);
                Some(bi)
            }
        };
        ns.devices[&port].master = new;
        Ok(())
    }

    fn add_fdb(
        &mut self,
        netns: &str,
        mac: crate::packet::Mac,
        dev: &str,
        dst: Option<std::net::Ipv4Addr>,
    ) -> Result<(), OpError> {
        let ns = self.space(netns)?;
        let d = ns.dev(dev)?;
        let (idx, master) = (d.ifindex, d.master);
        match (dst, &mut ns.devices[&idx].kind) {
            (Some(ip), DeviceKind::Vxlan(conf)) => {
                if conf.fdb.contains(&(mac, ip)) {
                    return Err(OpError::Exists);
                }
                conf.fdb.push((mac, ip));
                Ok(())
            }
            (None, _) => {
                let br =
                    master.ok_or_else(|| OpError::InvalidArgument(format!("{dev} is not a bridge port")))?;
                ns.devices[&br].bridge_mut().expect("master is a bridge").add_static(mac, idx);
                Ok(())
            }
            (Some(_), _) => Err(OpError::InvalidArgument(format!("{dev} is not a vxlan device"))),
        }
    }

    fn del_fdb(
        &mut self,
        netns: &str,
        mac: crate::packet::Mac,
        dev: &str,
        dst: Option<std::net::Ipv4Addr>,
    ) -> Result<(), OpError> {
        let ns = self.space(netns)?;
        let idx = ns.dev(dev)?.ifindex;
        let master = ns.devices[&idx].master;
        if let DeviceKind::Vxlan(conf) = &mut ns.devices[&idx].kind {
            let before = conf.fdb.len();
            conf.fdb.retain(|(m, ip)| !(*m == mac && dst.is_none_or(|d| d == *ip)));
            return if conf.fdb.len() < before { Ok(()) } else { Err(OpError::NoSuchProcess) };
        }
        let br = master.ok_or(OpError::NoSuchProcess)?;
        let bridge = ns.devices[&br].bridge_mut().expect("master is a bridge");
        bridge.fdb.shift_remove(&mac).map(|_| ()).ok_or(OpError::NoSuchProcess)
    }
}
