//! Neighbour output and ARP (net/ipv4/arp.c, net/core/neighbour.c): a packet for a
//! next hop without a MAC waits while ARP requests go out once a second; after the
//! third unanswered one the entry fails and each waiting packet gets ICMP host
//! unreachable.

use std::net::Ipv4Addr;

use crate::device::DeviceKind;
use crate::hop::{DropReason, Step};
use crate::neigh::{MCAST_SOLICIT, NeighEntry, NudState, Pending, RETRANS_TIME, UNRES_QLEN};
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{ArpOp, ArpPacket, Frame, FrameBody, Icmp, Mac, UnreachCode};

use super::Skb;

impl Network {
    /// Sends `skb` to `nexthop` on device `dev`, resolving the MAC first if needed.
    pub(crate) fn neigh_output(&mut self, ns: NsId, dev: u32, nexthop: Ipv4Addr, skb: Skb) {
        let (kind_lo, noarp) = match &self.ns(ns).devices[&dev].kind {
            DeviceKind::Loopback => (true, false),
            _ => (false, false),
        };
        if kind_lo || noarp {
            let frame = Frame { src: Mac::ZERO, dst: Mac::ZERO, body: FrameBody::Ipv4(skb.pkt) };
            return self.dev_xmit(ns, dev, frame, skb.tag);
        }
        let src_mac = self.ns(ns).devices[&dev].mac;
        if let Some(mac) = self.ns(ns).neigh.resolved(dev, nexthop) {
            let state = self.ns(ns).neigh.entries[&(dev, nexthop)].state;
            let now = self.now;
            let shown = crate::neigh::NeighTable::state_at(&self.ns(ns).neigh.entries[&(dev, nexthop)], now);
            let _ = state;
            self.trace(
                ns,
                Some(dev),
                skb.tag,
                Step::Neigh,
                |_| format!("{nexthop} is at {mac} ({shown})"),
                String::new,
            );
            let frame = Frame { src: src_mac, dst: mac, body: FrameBody::Ipv4(skb.pkt) };
            return self.dev_xmit(ns, dev, frame, skb.tag);
        }
        let now = self.now;
        let tag = skb.tag;
        let sender_ip = self.arp_sender_ip(ns, dev, skb.pkt.src, nexthop);
        let table = &mut self.ns_mut(ns).neigh;
        let entry = table.entries.entry((dev, nexthop)).or_insert_with(|| NeighEntry {
            mac: None,
            state: NudState::Incomplete,
            updated: now,
            probes: 0,
            queue: Vec::new(),
        });
        let start = entry.state != NudState::Incomplete || entry.probes == 0;
        if entry.state == NudState::Failed {
            entry.state = NudState::Incomplete;
            entry.probes = 0;
        }
        if entry.queue.len() < UNRES_QLEN {
            entry.queue.push(Pending { packet: skb.pkt, tag });
        }
        if start {
            entry.probes = 1;
            entry.updated = now;
            self.trace(
                ns,
                Some(dev),
                tag,
                Step::Neigh,
                |_| format!("{nexthop} unknown: INCOMPLETE, packet waits for ARP"),
                String::new,
            );
            self.send_arp_request(ns, dev, sender_ip, nexthop, tag);
            let at = now + RETRANS_TIME;
            self.schedule(at, NetEvent::NeighTimer { ns, ifindex: dev, ip: nexthop });
        }
    }

    /// arp_solicit's choice of sender address: the packet's source if it is ours,
    /// else the device's address for the target.
    fn arp_sender_ip(&self, ns: NsId, dev: u32, pkt_src: Ipv4Addr, target: Ipv4Addr) -> Ipv4Addr {
        let n = self.ns(ns);
        if n.all_addrs().any(|(_, a)| a.addr() == pkt_src) {
            return pkt_src;
        }
        n.devices[&dev].select_addr(Some(target)).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn send_arp_request(&mut self, ns: NsId, dev: u32, sender_ip: Ipv4Addr, target: Ipv4Addr, tag: u32) {
        let mac = self.ns(ns).devices[&dev].mac;
        let arp = ArpPacket {
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip,
            target_mac: Mac::ZERO,
            target_ip: target,
        };
        let frame = Frame { src: mac, dst: Mac::BROADCAST, body: FrameBody::Arp(arp) };
        let a = frame.to_string();
        self.trace(ns, Some(dev), tag, Step::Arp, |_| format!("who-has {target}? (broadcast)"), || a);
        self.dev_xmit(ns, dev, frame, tag);
    }

    /// The retransmit timer of an INCOMPLETE entry.
    pub(crate) fn neigh_timer(&mut self, ns: NsId, dev: u32, ip: Ipv4Addr) {
        let now = self.now;
        let Some(entry) = self.ns_mut(ns).neigh.entries.get_mut(&(dev, ip)) else { return };
        if entry.state != NudState::Incomplete {
            return;
        }
        if entry.probes < MCAST_SOLICIT {
            entry.probes += 1;
            let tag = entry.queue.first().map(|p| p.tag).unwrap_or(0);
            let src = entry.queue.first().map(|p| p.packet.src).unwrap_or(Ipv4Addr::UNSPECIFIED);
            let sender = self.arp_sender_ip(ns, dev, src, ip);
            self.send_arp_request(ns, dev, sender, ip, tag);
            self.schedule(now + RETRANS_TIME, NetEvent::NeighTimer { ns, ifindex: dev, ip });
            return;
        }
        entry.state = NudState::Failed;
        entry.updated = now;
        let waiting = std::mem::take(&mut entry.queue);
        for p in waiting {
            let skb = Skb::local(p.packet, p.tag);
            self.drop_pkt(ns, Some(dev), &skb, DropReason::NeighFailed, |_| {
                format!("{ip}: {MCAST_SOLICIT} ARP requests unanswered")
            });
            let icmp = Icmp::DestUnreachable {
                code: UnreachCode::Host,
                next_hop_mtu: 0,
                original: Box::new(skb.pkt.clone()),
            };
            self.icmp_error(ns, &skb.pkt, None, icmp, skb.tag, None);
        }
    }

    /// An ARP packet reached the IP layer of `dev`.
    pub(crate) fn arp_rcv(&mut self, ns: NsId, dev: u32, eth_src: Mac, arp: ArpPacket, tag: u32) {
        let now = self.now;
        let for_us = self.ns(ns).all_addrs().any(|(_, a)| a.addr() == arp.target_ip);
        let waiting = match arp.op {
            ArpOp::Request => {
                self.ns_mut(ns).neigh.note_sender(dev, arp.sender_ip, arp.sender_mac, now, for_us)
            }
            ArpOp::Reply => {
                let known = self.ns(ns).neigh.entries.contains_key(&(dev, arp.sender_ip));
                if known {
                    self.ns_mut(ns).neigh.confirm(dev, arp.sender_ip, arp.sender_mac, now)
                } else {
                    Vec::new()
                }
            }
        };
        if arp.op == ArpOp::Request && for_us {
            let mac = self.ns(ns).devices[&dev].mac;
            let reply = ArpPacket {
                op: ArpOp::Reply,
                sender_mac: mac,
                sender_ip: arp.target_ip,
                target_mac: arp.sender_mac,
                target_ip: arp.sender_ip,
            };
            let frame = Frame { src: mac, dst: eth_src, body: FrameBody::Arp(reply) };
            let a = frame.to_string();
            let t = arp.target_ip;
            self.trace(ns, Some(dev), tag, Step::Arp, |_| format!("{t} is-at {mac} (reply)"), || a);
            self.dev_xmit(ns, dev, frame, tag);
        } else if arp.op == ArpOp::Reply {
            let (ip, mac) = (arp.sender_ip, arp.sender_mac);
            self.trace(ns, Some(dev), tag, Step::Neigh, |_| format!("learned {ip} is at {mac}"), String::new);
        }
        self.flush_pending(ns, dev, arp.sender_mac, waiting);
    }

    /// Sends packets that waited for a now-known MAC.
    pub(crate) fn flush_pending(&mut self, ns: NsId, dev: u32, mac: Mac, waiting: Vec<Pending>) {
        let src = self.ns(ns).devices[&dev].mac;
        for p in waiting {
            let frame = Frame { src, dst: mac, body: FrameBody::Ipv4(p.packet) };
            self.dev_xmit(ns, dev, frame, p.tag);
        }
    }
}
