//! ICMP errors the stack sends (net/ipv4/icmp.c `__icmp_send`): never about an ICMP
//! error, never to a broadcast, and with the source address Linux picks: the original
//! destination when it was one of ours, else the address of the route back to the
//! sender. The kernel rate-limits these (icmp_ratelimit 1 s per destination, with a
//! burst); the model does not, see docs/fidelity.md. An error about a packet that had a
//! conntrack entry carries that entry (RELATED, `nf_ct_attach`), so NAT translates it.

use crate::netns::NsId;
use crate::network::Network;
use crate::packet::{Icmp, Ipv4Packet, L4};

impl Network {
    pub(crate) fn icmp_error(
        &mut self,
        ns: NsId,
        orig: &Ipv4Packet,
        _in_dev: Option<u32>,
        icmp: Icmp,
        tag: u32,
        attach: Option<crate::hooks::Ct>,
    ) {
        if Self::is_icmp_error(orig) || orig.dst.is_broadcast() || orig.src.is_unspecified() {
            return;
        }
        let src = if self.ns(ns).is_local(orig.dst) {
            orig.dst
        } else {
            let Some(route) = self.output_route(ns, orig.src) else { return };
            match self.select_src(ns, &route, orig.src) {
                Some(s) => s,
                None => return,
            }
        };
        let mut reply = Ipv4Packet::new(src, orig.src, L4::Icmp(icmp));
        reply.ttl = self.ns(ns).sysctl.default_ttl();
        reply.dont_frag = false;
        let _ = self.local_out_attached(ns, reply, tag, attach);
    }
}
