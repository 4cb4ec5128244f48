//! The packet path in Linux order. Control flow lives here; each submodule is one part
//! of the kernel's path:
//! - `l2`: device receive and transmit, veth delivery, the bridge (with br_netfilter);
//! - `ip`: `ip_rcv` → PREROUTING → routing decision → INPUT or FORWARD → POSTROUTING,
//!   and local output (route, OUTPUT, POSTROUTING);
//! - `arp`: neighbour resolution, ARP requests/replies, the ARP give-up timer;
//! - `icmp`: ICMP errors generated where Linux generates them;
//! - `local`: what the namespace's own stack does with packets delivered to it, and
//!   probe clients.
//!
//! Source of truth: net/core/dev.c, net/bridge/br_input.c + br_forward.c +
//! br_netfilter_hooks.c, net/ipv4/ip_input.c, route.c (ip_route_input_slow),
//! ip_forward.c, ip_output.c, arp.c, icmp.c.

mod arp;
mod icmp;
mod ip;
mod l2;
mod local;
mod vxlan;

use sim_core::SimTime;

use crate::hop::{DropReason, Hop, Step};
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{Ipv4Packet, Mac};

pub use local::{ProbeError, ProbeSpec};

/// A packet travelling through one namespace with the metadata the kernel keeps in
/// `struct sk_buff` (mark, input device, bridge port) and our trace tag.
#[derive(Clone, Debug)]
pub(crate) struct Skb {
    pub pkt: Ipv4Packet,
    pub tag: u32,
    /// `skb->mark` (`-m mark`, `MARK`).
    pub mark: u32,
    /// ifindex of the (logical) input device; the bridge for frames from a port.
    pub in_dev: Option<u32>,
    /// ifindex of the bridge port the frame came in on (`-m physdev --physdev-in`).
    pub physdev_in: Option<u32>,
    /// The Ethernet header it was received with (LOG's `MAC=`); None when sent locally.
    pub mac_header: Option<[u8; 14]>,
}

impl Skb {
    pub fn local(pkt: Ipv4Packet, tag: u32) -> Self {
        Skb { pkt, tag, mark: 0, in_dev: None, physdev_in: None, mac_header: None }
    }
}

/// An IPv4 Ethernet header as the kernel keeps it in the skb: destination, source,
/// EtherType 0x0800.
pub(crate) fn eth_header(dst: Mac, src: Mac) -> [u8; 14] {
    let mut h = [0u8; 14];
    h[..6].copy_from_slice(&dst.0);
    h[6..12].copy_from_slice(&src.0);
    h[12..].copy_from_slice(&[0x08, 0x00]);
    h
}

impl Network {
    /// Handles one due event (see the call order on [`Network`]).
    pub fn handle(&mut self, now: SimTime, ev: NetEvent) {
        self.now = now;
        match ev {
            NetEvent::Arrive { ns, ifindex, frame, tag } => {
                if self.spaces.contains_key(&ns) {
                    self.dev_rx(ns, ifindex, frame, tag)
                }
            }
            NetEvent::NeighTimer { ns, ifindex, ip } => {
                if self.spaces.contains_key(&ns) {
                    self.neigh_timer(ns, ifindex, ip)
                }
            }
            NetEvent::SocketTimer { ns, tag } => self.probe_timeout(ns, tag),
            NetEvent::TransportTimer { ns } => self.transport_timer(ns),
            NetEvent::Loopback { ns, pkt, tag, mark, ct } => {
                if self.spaces.contains_key(&ns) {
                    self.loopback_rx(ns, pkt, tag, mark, *ct)
                }
            }
        }
    }

    /// Appends a hop when tracing is on; the closures run only then.
    pub(crate) fn trace(
        &mut self,
        ns: NsId,
        dev: Option<u32>,
        tag: u32,
        step: Step,
        detail: impl FnOnce(&Network) -> String,
        packet: impl FnOnce() -> String,
    ) {
        if !self.tracer.enabled {
            return;
        }
        let n = self.ns(ns);
        let hop = Hop {
            time: self.now,
            tag,
            netns: n.name.clone(),
            dev: dev.map(|d| n.dev_name(d).to_string()),
            step,
            detail: detail(self),
            packet: packet(),
            before: None,
        };
        self.tracer.hops.push(hop);
    }

    pub(crate) fn drop_pkt(
        &mut self,
        ns: NsId,
        dev: Option<u32>,
        skb: &Skb,
        reason: DropReason,
        why: impl FnOnce(&Network) -> String,
    ) {
        let pkt = &skb.pkt;
        self.trace(ns, dev, skb.tag, Step::Drop { reason }, why, || pkt.to_string());
    }
}
