//! VXLAN encapsulation and decapsulation (drivers/net/vxlan): the inner frame's
//! destination MAC selects the remote VTEP from the device's static FDB (flannel runs
//! with `nolearning`), the outer IPv4/UDP packet is locally generated on the node and
//! crosses OUTPUT and POSTROUTING like any other; on the far node it is delivered to
//! the UDP port (8472), and the inner frame re-enters as received on the vxlan device.

use sim_core::stable_hash;

use crate::device::DeviceKind;
use crate::hop::{DropReason, Step};
use crate::netns::NsId;
use crate::network::{NetEvent, Network};
use crate::packet::{Frame, FrameBody, Ipv4Packet, L4, Mac, UdpDatagram, UdpPayload};

use super::Skb;

impl Network {
    pub(crate) fn vxlan_xmit(&mut self, ns: NsId, dev: u32, frame: Frame, tag: u32) {
        let DeviceKind::Vxlan(conf) = &self.ns(ns).devices[&dev].kind else { unreachable!("vxlan device") };
        let remote = conf
            .fdb
            .iter()
            .find(|(m, _)| *m == frame.dst)
            .or_else(|| conf.fdb.iter().find(|(m, _)| *m == Mac::ZERO));
        let Some(&(_, remote)) = remote else {
            let d = frame.dst;
            return self.drop_frame(ns, Some(dev), tag, &frame, DropReason::NoRoute, |_| {
                format!("vxlan: no FDB entry for {d}")
            });
        };
        let (local, vni, dstport) = (conf.local, conf.vni, conf.dstport);
        // udp_flow_src_port: a hash of the inner flow inside ip_local_port_range.
        let flow = match &frame.body {
            FrameBody::Ipv4(p) => format!("{:?}", p.flow()),
            FrameBody::Arp(a) => format!("{:?}", a.target_ip),
        };
        let sport = 32768 + (stable_hash(&flow) % (60999 - 32768 + 1)) as u16;
        let inner = frame.to_string();
        let mut outer = Ipv4Packet::new(
            local,
            remote,
            L4::Udp(UdpDatagram {
                sport,
                dport: dstport,
                payload: UdpPayload::Vxlan { vni, inner: Box::new(frame) },
            }),
        );
        outer.dont_frag = false;
        self.trace(
            ns,
            Some(dev),
            tag,
            Step::Vxlan,
            |_| format!("encap vni {vni}: {local}:{sport} > {remote}:{dstport} | {inner}"),
            String::new,
        );
        if let Err(reason) = self.local_out(ns, outer.clone(), tag) {
            let skb = Skb::local(outer, tag);
            self.drop_pkt(ns, Some(dev), &skb, reason, |_| "vxlan underlay".into());
        }
    }

    /// UDP delivered locally: if a vxlan device listens on this port and VNI, decapsulate.
    pub(crate) fn vxlan_rcv(&mut self, ns: NsId, skb: &Skb, dport: u16, vni: u32, inner: Frame) -> bool {
        let dev = self.ns(ns).devices.values().find(|d| match &d.kind {
            DeviceKind::Vxlan(c) => c.dstport == dport && c.vni == vni && d.up,
            _ => false,
        });
        let Some(dev) = dev.map(|d| d.ifindex) else { return false };
        let (src, dst) = (skb.pkt.src, skb.pkt.dst);
        let i = inner.to_string();
        self.trace(
            ns,
            Some(dev),
            skb.tag,
            Step::Vxlan,
            |_| format!("decap vni {vni} from {src} (to {dst}:{dport}) | {i}"),
            String::new,
        );
        let at = self.now;
        self.schedule(at, NetEvent::Arrive { ns, ifindex: dev, frame: inner, tag: skb.tag });
        true
    }
}
