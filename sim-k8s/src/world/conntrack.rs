//! kube-proxy's stale UDP conntrack cleanup, the part that needs the dataplane: the
//! world lists a node's conntrack table for it (kube-proxy reads it over netlink), and
//! each stale flow filter becomes a `conntrack -D` op attributed to kube-proxy.

use sim_core::{EventQueue, SimTime};

use super::{Event, KubeWorld};

impl KubeWorld {
    /// Lists `netns`'s conntrack table for kube-proxy and deletes the stale UDP flows.
    pub(super) fn conntrack_cleanup(
        &mut self,
        component: &str,
        netns: &str,
        frontends: &crate::controllers::kube_proxy::conntrack::UdpFrontends,
        now: SimTime,
        q: &mut EventQueue<Event>,
    ) {
        use crate::controllers::kube_proxy::conntrack::{EntryView, stale_filters};
        let Some(ns) = self.net.netns(netns) else { return };
        let entries: Vec<EntryView> = ns
            .nf
            .conntrack
            .entries(now)
            .map(|e| EntryView {
                proto: e.orig().proto,
                orig_dst: e.orig().dst,
                orig_dport: e.orig().dport,
                reply_src: e.reply().src,
            })
            .collect();
        for filter in stale_filters(frontends, entries) {
            let flows = self
                .net
                .netns(netns)
                .map_or(0, |ns| ns.nf.conntrack.entries(now).filter(|e| filter.matches(e)).count());
            let what = match filter.orig_dst {
                Some(ip) => format!("{ip}:{}", filter.orig_dport.unwrap_or(0)),
                None => format!("nodePort {}", filter.orig_dport.unwrap_or(0)),
            };
            let ep = filter.reply_src.map(|a| a.to_string()).unwrap_or_default();
            let s = if flows == 1 { "" } else { "s" };
            self.log(
                now,
                component,
                format!("conntrack: delete {flows} stale UDP flow{s} to {what} answered by {ep}"),
            );
            self.apply_net(
                component,
                sim_net::ops::NetOp::ConntrackDelete { netns: netns.into(), filter },
                now,
                q,
            );
        }
    }
}
