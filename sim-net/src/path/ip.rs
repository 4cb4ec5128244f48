//! IPv4 input, forwarding and local output (net/ipv4/ip_input.c, route.c, ip_forward.c,
//! ip_output.c), with the netfilter hooks at the places Linux calls them.

use std::net::Ipv4Addr;

use crate::device::DeviceKind;
use crate::hooks::Ct;
use crate::hop::{DropReason, Step};
use crate::netns::NsId;
use crate::network::Network;
use crate::ops::RouteType;
use crate::packet::{Icmp, Ipv4Packet, L4, Mac, UnreachCode};
use crate::route::Route;

use super::Skb;

/// The input routing decision (ip_route_input_slow).
pub(crate) enum InputRoute {
    Local,
    Forward(Route),
    Drop(DropReason, Option<UnreachCode>),
}

impl Network {
    /// ip_rcv: PREROUTING, then routing. (Frames from a bridge port with br_netfilter
    /// on have had PREROUTING at bridge level and enter at `ip_rcv_routed`.)
    pub(crate) fn ip_rcv(&mut self, ns: NsId, mut skb: Skb) {
        let Some(ct) = self.hook_prerouting(ns, &mut skb) else { return };
        self.ip_rcv_routed(ns, skb, ct)
    }

    /// A packet looped back through `lo`: it keeps its connection from OUTPUT.
    pub(crate) fn loopback_rx(&mut self, ns: NsId, pkt: Ipv4Packet, tag: u32, mark: u32, ct: Ct) {
        let Some(lo) = self.ns(ns).ifindex("lo") else { return };
        // lo's header: both addresses zero (eth_header on a device without a MAC).
        let mac_header = Some(super::eth_header(Mac([0; 6]), Mac([0; 6])));
        let mut skb = Skb { pkt, tag, mark, in_dev: Some(lo), physdev_in: None, mac_header };
        if !self.ns(ns).devices[&lo].up {
            return self.drop_pkt(ns, Some(lo), &skb, DropReason::LinkDown, |_| String::new());
        }
        self.capture_loopback(ns, lo, &skb.pkt);
        let Some(ct) = self.hook_prerouting_loopback(ns, &mut skb, ct) else { return };
        self.ip_rcv_routed(ns, skb, ct)
    }

    /// The output device of the input route for `skb` (used by bridged DNAT). With
    /// forwarding off on the input device the kernel's input route is an "unreachable"
    /// route on loopback, so the frame is not bridged but handed to the IP stack, which
    /// drops it (br_nf_pre_routing_finish; checked on a real kernel).
    pub(crate) fn input_route_dev(&self, ns: NsId, skb: &Skb) -> Option<u32> {
        let n = self.ns(ns);
        if let Some(in_dev) = skb.in_dev
            && !n.sysctl.forwarding(n.dev_name(in_dev))
            && !n.is_local(skb.pkt.dst)
        {
            return None;
        }
        let r = n.routes.lookup(skb.pkt.dst, |r| self.route_usable(ns, r))?;
        if r.kind != RouteType::Unicast {
            return None;
        }
        r.dev.as_deref().and_then(|d| n.ifindex(d))
    }

    pub(crate) fn route_usable(&self, ns: NsId, r: &Route) -> bool {
        match &r.dev {
            Some(d) => self.ns(ns).dev(d).is_ok_and(|d| d.up || matches!(d.kind, DeviceKind::Loopback)),
            None => true,
        }
    }

    fn route_input(&self, ns: NsId, skb: &Skb) -> InputRoute {
        let n = self.ns(ns);
        let in_dev = skb.in_dev.expect("received packets have an input device");
        let in_name = n.dev_name(in_dev);
        let in_lo = matches!(n.devices.get(&in_dev).map(|d| &d.kind), Some(DeviceKind::Loopback));
        let (src, dst) = (skb.pkt.src, skb.pkt.dst);
        if !in_lo && (src.is_loopback() || dst.is_loopback()) && !n.sysctl.route_localnet(in_name) {
            return InputRoute::Drop(DropReason::Martian, None);
        }
        let route = n.routes.lookup(dst, |r| self.route_usable(ns, r));
        if let Some(r) = route
            && matches!(r.kind, RouteType::Local | RouteType::Broadcast)
        {
            if !in_lo && !self.rp_ok(ns, in_dev, src) {
                return InputRoute::Drop(DropReason::RpFilter, None);
            }
            return InputRoute::Local;
        }
        if dst.is_broadcast() {
            return InputRoute::Local;
        }
        if !n.sysctl.forwarding(in_name) {
            return InputRoute::Drop(DropReason::ForwardingDisabled, None);
        }
        let Some(r) = route else { return InputRoute::Drop(DropReason::NoRoute, Some(UnreachCode::Net)) };
        match r.kind {
            RouteType::Blackhole => return InputRoute::Drop(DropReason::Blackhole, None),
            RouteType::Unreachable => {
                return InputRoute::Drop(DropReason::UnreachableRoute, Some(UnreachCode::Host));
            }
            RouteType::Prohibit => {
                return InputRoute::Drop(DropReason::UnreachableRoute, Some(UnreachCode::AdminProhibited));
            }
            _ => {}
        }
        if !self.rp_ok(ns, in_dev, src) {
            return InputRoute::Drop(DropReason::RpFilter, None);
        }
        InputRoute::Forward(r.clone())
    }

    /// fib_validate_source with rp_filter 1 (strict: the route back to the source leaves
    /// through the input device) or 2 (loose: any route back exists).
    fn rp_ok(&self, ns: NsId, in_dev: u32, src: Ipv4Addr) -> bool {
        let n = self.ns(ns);
        let mode = n.sysctl.rp_filter(n.dev_name(in_dev));
        if mode == 0 || src.is_unspecified() {
            return true;
        }
        let back = n.routes.lookup(src, |r| self.route_usable(ns, r) && r.kind == RouteType::Unicast);
        match (mode, back) {
            (_, None) => false,
            (1, Some(r)) => r.dev.as_deref() == Some(n.dev_name(in_dev)),
            _ => true,
        }
    }

    /// After PREROUTING: route, then INPUT or FORWARD.
    pub(crate) fn ip_rcv_routed(&mut self, ns: NsId, mut skb: Skb, mut ct: Ct) {
        match self.route_input(ns, &skb) {
            InputRoute::Local => {
                let d = skb.pkt.dst;
                self.trace(
                    ns,
                    skb.in_dev,
                    skb.tag,
                    Step::Route,
                    |_| format!("{d} is local -> INPUT"),
                    String::new,
                );
                if !self.hook_input(ns, &mut skb, &mut ct) {
                    return;
                }
                self.local_deliver(ns, skb)
            }
            InputRoute::Forward(route) => self.ip_forward(ns, skb, route, ct),
            InputRoute::Drop(reason, icmp) => {
                let related = ct.related_error();
                self.hook_discard(ns, ct);
                let in_dev = skb.in_dev;
                self.drop_pkt(ns, in_dev, &skb, reason, |_| "routing".into());
                if let Some(code) = icmp {
                    self.icmp_error(
                        ns,
                        &skb.pkt,
                        in_dev,
                        Icmp::DestUnreachable { code, next_hop_mtu: 0, original: Box::new(skb.pkt.clone()) },
                        skb.tag,
                        Some(related),
                    );
                }
            }
        }
    }

    /// ip_forward: TTL, MTU, FORWARD hook, POSTROUTING, neighbour output.
    fn ip_forward(&mut self, ns: NsId, mut skb: Skb, route: Route, mut ct: Ct) {
        let out_dev =
            route.dev.as_deref().and_then(|d| self.ns(ns).ifindex(d)).expect("forward routes have a device");
        let r = &route;
        self.trace(ns, skb.in_dev, skb.tag, Step::Route, |_| format!("forward: {r}"), String::new);
        if skb.pkt.ttl <= 1 {
            let related = ct.related_error();
            self.hook_discard(ns, ct);
            let in_dev = skb.in_dev;
            self.drop_pkt(ns, in_dev, &skb, DropReason::TtlExceeded, |_| String::new());
            let original = Box::new(skb.pkt.clone());
            self.icmp_error(ns, &skb.pkt, in_dev, Icmp::TimeExceeded { original }, skb.tag, Some(related));
            return;
        }
        let mtu = self.ns(ns).devices[&out_dev].mtu;
        if skb.pkt.dont_frag && skb.pkt.total_len() > mtu as usize {
            let related = ct.related_error();
            self.hook_discard(ns, ct);
            let in_dev = skb.in_dev;
            self.drop_pkt(ns, Some(out_dev), &skb, DropReason::FragNeeded, |_| {
                format!("{} > mtu {mtu}", skb.pkt.total_len())
            });
            let original = Box::new(skb.pkt.clone());
            let icmp =
                Icmp::DestUnreachable { code: UnreachCode::FragNeeded, next_hop_mtu: mtu as u16, original };
            self.icmp_error(ns, &skb.pkt, in_dev, icmp, skb.tag, Some(related));
            return;
        }
        skb.pkt.ttl -= 1;
        let ttl = skb.pkt.ttl;
        self.trace(
            ns,
            Some(out_dev),
            skb.tag,
            Step::Forward,
            |_| format!("ttl {}->{ttl}", ttl + 1),
            String::new,
        );
        if !self.hook_forward(ns, &mut skb, out_dev, None, &mut ct) {
            return;
        }
        if !self.hook_postrouting(ns, &mut skb, out_dev, None, &mut ct) {
            return;
        }
        let nexthop = route.via.unwrap_or(skb.pkt.dst);
        self.neigh_output(ns, out_dev, nexthop, skb)
    }

    /// Route lookup for a locally generated packet; `None` means ENETUNREACH.
    /// The MTU of the device the output route to `dst` leaves by (what a socket sizes
    /// its packets against before any path MTU is learned).
    pub fn route_mtu(&self, netns: &str, dst: Ipv4Addr) -> Option<u32> {
        let ns = self.id(netns)?;
        let route = self.output_route(ns, dst)?;
        route.dev.as_deref().and_then(|d| self.ns(ns).dev(d).ok()).map(|d| d.mtu)
    }

    pub(crate) fn output_route(&self, ns: NsId, dst: Ipv4Addr) -> Option<Route> {
        self.ns(ns).routes.lookup(dst, |r| self.route_usable(ns, r)).cloned()
    }

    /// The source address Linux picks for a packet to `dst` via `route`: the route's
    /// `src`, else the primary address of the output device for the next hop.
    pub(crate) fn select_src(&self, ns: NsId, route: &Route, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if let Some(s) = route.src {
            return Some(s);
        }
        if route.kind == RouteType::Local {
            return Some(dst);
        }
        let n = self.ns(ns);
        let dev = n.dev(route.dev.as_deref()?).ok()?;
        dev.select_addr(Some(route.via.unwrap_or(dst)))
            .or_else(|| n.devices.values().filter(|d| d.up).find_map(|d| d.select_addr(None)))
    }

    /// Sends a locally generated packet (ip_local_out): OUTPUT, re-route after DNAT,
    /// POSTROUTING, then loopback or the neighbour layer. Returns the drop reason if
    /// the packet could not even be routed (the caller's socket gets the error).
    pub(crate) fn local_out(&mut self, ns: NsId, pkt: Ipv4Packet, tag: u32) -> Result<(), DropReason> {
        self.local_out_attached(ns, pkt, tag, None)
    }

    /// [`local_out`](Self::local_out) for a packet that already carries a connection
    /// (an ICMP error with its offending packet's entry attached).
    pub(crate) fn local_out_attached(
        &mut self,
        ns: NsId,
        pkt: Ipv4Packet,
        tag: u32,
        attach: Option<Ct>,
    ) -> Result<(), DropReason> {
        let Some(route) = self.output_route(ns, pkt.dst) else { return Err(DropReason::NoRoute) };
        match route.kind {
            RouteType::Blackhole => return Err(DropReason::Blackhole),
            RouteType::Unreachable | RouteType::Prohibit => return Err(DropReason::UnreachableRoute),
            _ => {}
        }
        let mut skb = Skb::local(pkt, tag);
        let p = &skb.pkt;
        self.trace(ns, None, tag, Step::Send, |_| String::new(), || p.to_string());
        let orig_dst = skb.pkt.dst;
        let Some(mut ct) = self.hook_output(ns, &mut skb, &route, attach) else { return Ok(()) };
        let route = if skb.pkt.dst != orig_dst {
            // ip_route_me_harder: new output route, source address unchanged.
            match self.output_route(ns, skb.pkt.dst) {
                Some(r) => r,
                None => {
                    self.hook_discard(ns, ct);
                    self.drop_pkt(ns, None, &skb, DropReason::NoRoute, |_| "re-route after DNAT".into());
                    return Ok(());
                }
            }
        } else {
            route
        };
        let out_dev = route.dev.as_deref().and_then(|d| self.ns(ns).ifindex(d)).unwrap_or(1);
        let r = &route;
        self.trace(ns, Some(out_dev), tag, Step::Route, |_| format!("output: {r}"), String::new);
        if !self.hook_output_filter(ns, &mut skb, out_dev, &mut ct) {
            return Ok(());
        }
        if !self.hook_postrouting(ns, &mut skb, out_dev, None, &mut ct) {
            return Ok(());
        }
        if route.kind == RouteType::Local {
            let lo = self.ns(ns).ifindex("lo").expect("every namespace has lo");
            self.trace(ns, Some(lo), tag, Step::DevTx, |_| "loopback".into(), String::new);
            let at = self.now;
            let ev = crate::network::NetEvent::Loopback {
                ns,
                pkt: skb.pkt,
                tag,
                mark: skb.mark,
                ct: Box::new(ct),
            };
            self.schedule(at, ev);
            return Ok(());
        }
        let nexthop = route.via.unwrap_or(skb.pkt.dst);
        self.neigh_output(ns, out_dev, nexthop, skb);
        Ok(())
    }

    /// Whether `pkt` is an ICMP error (never answered with another ICMP error).
    pub(crate) fn is_icmp_error(pkt: &Ipv4Packet) -> bool {
        matches!(&pkt.body, L4::Icmp(i) if i.is_error())
    }
}
