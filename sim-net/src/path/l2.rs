//! Layer 2: device receive/transmit, veth delivery and the Linux bridge, including the
//! br_netfilter hooks that make bridged IPv4 traffic cross iptables
//! (`net.bridge.bridge-nf-call-iptables=1`, net/bridge/br_netfilter_hooks.c).

use crate::device::{DeviceKind, FdbLookup};
use crate::hop::{DropReason, Step};
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{Frame, FrameBody, Mac};

use super::Skb;

impl Network {
    /// A frame arrives at a device (netif_receive_skb).
    pub(crate) fn dev_rx(&mut self, ns: NsId, ifindex: u32, frame: Frame, tag: u32) {
        let Some(dev) = self.ns(ns).devices.get(&ifindex) else { return };
        let (up, master, is_lo, mac) =
            (dev.up, dev.master, matches!(dev.kind, DeviceKind::Loopback), dev.mac);
        if !up {
            return self.drop_frame(ns, Some(ifindex), tag, &frame, DropReason::LinkDown, |_| String::new());
        }
        self.capture_rx(ns, ifindex, &frame);
        if !is_lo {
            let f = &frame;
            self.trace(ns, Some(ifindex), tag, Step::DevRx, |_| String::new(), || f.to_string());
        }
        if let Some(br) = master {
            return self.bridge_rx(ns, br, ifindex, frame, tag);
        }
        if !is_lo && frame.dst != mac && !frame.dst.is_multicast() {
            self.drop_frame(ns, Some(ifindex), tag, &frame, DropReason::NotForThisHost, |_| String::new());
            return;
        }
        self.l3_rx(ns, ifindex, frame, tag, None);
    }

    /// Hands a frame to the IP/ARP layer of device `ifindex`.
    fn l3_rx(&mut self, ns: NsId, ifindex: u32, frame: Frame, tag: u32, physdev_in: Option<u32>) {
        match frame.body {
            FrameBody::Arp(arp) => self.arp_rcv(ns, ifindex, frame.src, arp, tag),
            FrameBody::Ipv4(pkt) => {
                let mac_header = Some(super::eth_header(frame.dst, frame.src));
                let skb = Skb { pkt, tag, mark: 0, in_dev: Some(ifindex), physdev_in, mac_header };
                self.ip_rcv(ns, skb)
            }
        }
    }

    /// Transmits a frame on a device (dev_queue_xmit).
    pub(crate) fn dev_xmit(&mut self, ns: NsId, ifindex: u32, frame: Frame, tag: u32) {
        let Some(dev) = self.ns(ns).devices.get(&ifindex) else { return };
        if !dev.up {
            self.drop_frame(ns, Some(ifindex), tag, &frame, DropReason::LinkDown, |_| String::new());
            return;
        }
        let kind = dev.kind.clone();
        self.capture_tx(ns, ifindex, &frame);
        match kind {
            DeviceKind::Loopback => {
                let at = self.now;
                self.schedule(at, NetEvent::Arrive { ns, ifindex, frame, tag });
            }
            DeviceKind::Veth { peer } => {
                let f = &frame;
                self.trace(ns, Some(ifindex), tag, Step::DevTx, |_| String::new(), || f.to_string());
                let Some(pid) = self.id(&peer.netns) else { return };
                let peer_up = self.ns(pid).devices.get(&peer.ifindex).is_some_and(|d| d.up);
                if !peer_up {
                    self.drop_frame(ns, Some(ifindex), tag, &frame, DropReason::LinkDown, |_| {
                        "veth peer is down".into()
                    });
                    return;
                }
                let at = self.now + self.config.veth_latency;
                self.schedule(at, NetEvent::Arrive { ns: pid, ifindex: peer.ifindex, frame, tag });
            }
            DeviceKind::Bridge(_) => self.bridge_xmit(ns, ifindex, frame, tag),
            DeviceKind::Vxlan(_) => self.vxlan_xmit(ns, ifindex, frame, tag),
        }
    }

    /// The host sends a frame out of the bridge device (br_dev_xmit): FDB lookup, no
    /// iptables at bridge level for locally generated traffic.
    fn bridge_xmit(&mut self, ns: NsId, br: u32, frame: Frame, tag: u32) {
        let now = self.now;
        let decision = self.ns(ns).devices[&br].bridge().expect("bridge").lookup(frame.dst, now);
        match decision {
            FdbLookup::Port(p) => {
                let f = &frame;
                self.trace(
                    ns,
                    Some(br),
                    tag,
                    Step::Bridge,
                    |n| format!("FDB hit {} -> port {}", f.dst, n.ns(ns).dev_name(p)),
                    String::new,
                );
                self.dev_xmit(ns, p, frame, tag)
            }
            FdbLookup::Local => {}
            FdbLookup::Flood => self.flood(ns, br, None, frame, tag),
        }
    }

    /// Sends a copy out of every up port except `except` (the ingress port).
    fn flood(&mut self, ns: NsId, br: u32, except: Option<u32>, frame: Frame, tag: u32) {
        let ports: Vec<u32> = self
            .ns(ns)
            .devices
            .values()
            .filter(|d| d.master == Some(br) && d.up && (Some(d.ifindex) != except || d.hairpin))
            .map(|d| d.ifindex)
            .collect();
        let f = &frame;
        let what = if frame.dst.is_broadcast() { "broadcast" } else { "unknown destination" };
        self.trace(
            ns,
            Some(br),
            tag,
            Step::Bridge,
            |n| {
                let names: Vec<&str> = ports.iter().map(|p| n.ns(ns).dev_name(*p)).collect();
                format!(
                    "flood ({what} {}) -> {}",
                    f.dst,
                    if names.is_empty() { "no ports".to_string() } else { names.join(", ") }
                )
            },
            String::new,
        );
        for p in ports {
            self.dev_xmit(ns, p, frame.clone(), tag);
        }
    }

    /// A frame entered bridge `br` through `port` (br_handle_frame).
    fn bridge_rx(&mut self, ns: NsId, br: u32, port: u32, frame: Frame, tag: u32) {
        let now = self.now;
        let bridge_up = self.ns(ns).devices.get(&br).is_some_and(|d| d.up);
        if !bridge_up {
            self.drop_frame(ns, Some(br), tag, &frame, DropReason::LinkDown, |_| "bridge is down".into());
            return;
        }
        self.capture_rx(ns, br, &frame);
        let bridge = self.ns_mut(ns).devices[&br].bridge_mut().expect("master is a bridge");
        bridge.learn(frame.src, port, now);
        let decision = bridge.lookup(frame.dst, now);
        let brnf = matches!(frame.body, FrameBody::Ipv4(_)) && self.ns(ns).sysctl.bridge_nf_call_iptables();
        match decision {
            FdbLookup::Local => {
                let f = &frame;
                self.trace(
                    ns,
                    Some(br),
                    tag,
                    Step::Bridge,
                    |_| format!("{} is the bridge's own MAC -> up to the host", f.dst),
                    String::new,
                );
                if brnf {
                    return self.bridge_ipv4(ns, br, port, None, frame, tag);
                }
                self.l3_rx(ns, br, frame, tag, Some(port))
            }
            FdbLookup::Port(out) => {
                let f = &frame;
                self.trace(
                    ns,
                    Some(br),
                    tag,
                    Step::Bridge,
                    |n| format!("FDB hit {} -> port {}", f.dst, n.ns(ns).dev_name(out)),
                    String::new,
                );
                if brnf {
                    return self.bridge_ipv4(ns, br, port, Some(out), frame, tag);
                }
                self.bridge_forward(ns, br, port, out, frame, tag)
            }
            FdbLookup::Flood => {
                let to_host = frame.dst.is_multicast();
                self.flood(ns, br, Some(port), frame.clone(), tag);
                if to_host {
                    self.l3_rx(ns, br, frame, tag, Some(port));
                }
            }
        }
    }

    /// br_forward: out of port `out`, unless that is the ingress port without hairpin.
    fn bridge_forward(&mut self, ns: NsId, br: u32, inp: u32, out: u32, frame: Frame, tag: u32) {
        let hairpin = self.ns(ns).devices.get(&out).is_some_and(|d| d.hairpin);
        if out == inp && !hairpin {
            self.drop_frame(ns, Some(br), tag, &frame, DropReason::HairpinOff, |n| {
                format!("port {}", n.ns(ns).dev_name(out))
            });
            return;
        }
        self.dev_xmit(ns, out, frame, tag)
    }

    /// br_netfilter for an IPv4 frame: IPv4 PREROUTING at bridge level; after DNAT the
    /// new destination is routed, and if that route leads back into the same bridge the
    /// frame stays bridged ("bridged DNAT"); otherwise it goes up to the IP stack.
    /// Bridged frames then cross IPv4 FORWARD and POSTROUTING with in=out=the bridge.
    fn bridge_ipv4(&mut self, ns: NsId, br: u32, port: u32, out: Option<u32>, frame: Frame, tag: u32) {
        let mac_header = Some(super::eth_header(frame.dst, frame.src));
        let FrameBody::Ipv4(pkt) = frame.body else { unreachable!("bridge_ipv4 is called for IPv4 frames") };
        let orig_dst = pkt.dst;
        let mut skb = Skb { pkt, tag, mark: 0, in_dev: Some(br), physdev_in: Some(port), mac_header };
        let Some(mut ct) = self.hook_prerouting(ns, &mut skb) else { return };
        let dnat = skb.pkt.dst != orig_dst;
        let route_dev = if dnat { self.input_route_dev(ns, &skb) } else { None };
        let bridged_dnat = dnat && route_dev == Some(br);
        if out.is_none() && !bridged_dnat {
            // Addressed to the bridge's MAC: the IP stack takes it (PREROUTING is done).
            return self.ip_rcv_routed(ns, skb, ct);
        }
        if dnat && !bridged_dnat {
            return self.ip_rcv_routed(ns, skb, ct);
        }
        let dst_mac = if bridged_dnat {
            match self.ns(ns).neigh.resolved(br, skb.pkt.dst) {
                Some(m) => m,
                None => {
                    // br_nf_pre_routing_finish_bridge resolves through the neighbour
                    // layer; the model sends it through the host's resolution on the bridge.
                    return self.bridge_dnat_resolve(ns, br, skb, ct);
                }
            }
        } else {
            frame.dst
        };
        let now = self.now;
        let out = match self.ns(ns).devices[&br].bridge().expect("bridge").lookup(dst_mac, now) {
            FdbLookup::Port(p) => p,
            _ => {
                self.hook_discard(ns, ct);
                self.drop_pkt(ns, Some(br), &skb, DropReason::NoSocket, |_| {
                    format!("bridged DNAT to {dst_mac}: no FDB entry")
                });
                return;
            }
        };
        if bridged_dnat {
            self.trace(
                ns,
                Some(br),
                tag,
                Step::Bridge,
                |n| {
                    format!(
                        "bridged DNAT: {} is behind this bridge -> port {}",
                        dst_mac,
                        n.ns(ns).dev_name(out)
                    )
                },
                String::new,
            );
        }
        let hairpin = self.ns(ns).devices.get(&out).is_some_and(|d| d.hairpin);
        if out == port && !hairpin {
            self.hook_discard(ns, ct);
            self.drop_pkt(ns, Some(br), &skb, DropReason::HairpinOff, |n| {
                format!("port {}", n.ns(ns).dev_name(out))
            });
            return;
        }
        if !self.hook_forward(ns, &mut skb, br, Some(out), &mut ct) {
            return;
        }
        if !self.hook_postrouting(ns, &mut skb, br, Some(out), &mut ct) {
            return;
        }
        let src = self.ns(ns).devices.get(&port).map(|_| frame.src).unwrap_or(Mac::ZERO);
        let frame = Frame { src, dst: dst_mac, body: FrameBody::Ipv4(skb.pkt) };
        self.dev_xmit(ns, out, frame, tag)
    }
}

impl Network {
    /// Bridged DNAT to a neighbour the host has not resolved yet: the model runs the
    /// bridge-level FORWARD/POSTROUTING hooks and lets the host's neighbour layer on the
    /// bridge resolve and send it.
    pub(crate) fn bridge_dnat_resolve(&mut self, ns: NsId, br: u32, mut skb: Skb, mut ct: crate::hooks::Ct) {
        if !self.hook_forward(ns, &mut skb, br, None, &mut ct) {
            return;
        }
        if !self.hook_postrouting(ns, &mut skb, br, None, &mut ct) {
            return;
        }
        let dst = skb.pkt.dst;
        self.neigh_output(ns, br, dst, skb)
    }
}

impl Network {
    /// Records that `frame` died here; formatting happens only when tracing is on.
    pub(crate) fn drop_frame(
        &mut self,
        ns: NsId,
        dev: Option<u32>,
        tag: u32,
        frame: &Frame,
        reason: DropReason,
        why: impl FnOnce(&Network) -> String,
    ) {
        self.trace(ns, dev, tag, Step::Drop { reason }, why, || frame.to_string());
    }
}
