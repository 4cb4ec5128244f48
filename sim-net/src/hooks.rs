//! Netfilter hook points on the packet path, in the order Linux calls them
//! (include/uapi/linux/netfilter_ipv4.h priorities): raw −300, conntrack −200,
//! mangle −150, nat DNAT −100, filter 0, nat SNAT 100, conntrack confirm last.
//! Until the iptables engine and conntrack are wired in, a namespace has no rules,
//! every hook accepts, and `iptables-restore` reports that it is unavailable.

use crate::netns::NsId;
use crate::network::Network;
use crate::path::Skb;
use crate::route::Route;

/// The conntrack entry a packet belongs to, carried from the first hook to the last.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ct;

#[derive(Debug, Default)]
pub struct NetfilterState {}

impl NetfilterState {
    pub fn restore(&mut self, _input: &str, _noflush: bool) -> Result<(), String> {
        Err("the iptables engine is not available in this build".to_string())
    }
}

impl Network {
    /// PREROUTING: raw, conntrack, mangle, nat (DNAT). `None`: the packet was dropped.
    pub(crate) fn hook_prerouting(&mut self, _ns: NsId, _skb: &mut Skb) -> Option<Ct> {
        Some(Ct)
    }
    /// INPUT: mangle, filter, nat (SNAT), conntrack confirm.
    pub(crate) fn hook_input(&mut self, _ns: NsId, _skb: &mut Skb, _ct: Ct) -> bool {
        true
    }
    /// FORWARD: mangle, filter.
    pub(crate) fn hook_forward(
        &mut self,
        _ns: NsId,
        _skb: &mut Skb,
        _out: u32,
        _physdev_out: Option<u32>,
        _ct: Ct,
    ) -> bool {
        true
    }
    /// OUTPUT up to nat: raw, conntrack, mangle, nat (DNAT).
    pub(crate) fn hook_output(&mut self, _ns: NsId, _skb: &mut Skb, _route: &Route) -> Option<Ct> {
        Some(Ct)
    }
    /// OUTPUT filter, after the re-route.
    pub(crate) fn hook_output_filter(&mut self, _ns: NsId, _skb: &mut Skb, _out: u32, _ct: Ct) -> bool {
        true
    }
    /// POSTROUTING: mangle, nat (SNAT/MASQUERADE), conntrack confirm.
    pub(crate) fn hook_postrouting(
        &mut self,
        _ns: NsId,
        _skb: &mut Skb,
        _out: u32,
        _physdev_out: Option<u32>,
        _ct: Ct,
    ) -> bool {
        true
    }
    /// The packet died before confirmation: forget its unconfirmed entry.
    pub(crate) fn hook_discard(&mut self, _ns: NsId, _ct: Ct) {}
}
