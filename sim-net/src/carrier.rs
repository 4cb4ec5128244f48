//! Carrier loss flushes neighbours: when a device loses carrier (its veth peer or the
//! last bridge port with carrier goes away, or it is set down), Linux drops its
//! non-permanent neighbour entries (`arp_netdev_event` → `neigh_carrier_down`, which
//! also frees packets queued on INCOMPLETE entries). A node whose only pod is deleted
//! loses carrier on `cni0` and forgets that pod's address, as `ip neigh` then shows.

use crate::neigh::NudState;
use crate::netns::NsId;
use crate::network::Network;
use crate::ops::NetOp;

/// Whether `op` can take carrier away from some device.
pub fn may_drop_carrier(op: &NetOp) -> bool {
    matches!(
        op,
        NetOp::DelLink { .. }
            | NetOp::DelNetns { .. }
            | NetOp::SetLinkUp { up: false, .. }
            | NetOp::SetMaster { master: None, .. }
    )
}

/// Every (namespace, ifindex) that has carrier now.
pub fn snapshot(net: &Network) -> Vec<(NsId, u32)> {
    let mut out = Vec::new();
    for ns in net.namespaces() {
        let Some(id) = net.id(&ns.name) else { continue };
        for dev in ns.devices.values() {
            if crate::show::carrier(net, ns, dev, 0) {
                out.push((id, dev.ifindex));
            }
        }
    }
    out
}

/// Flushes the neighbours of every device in `before` that no longer has carrier.
pub fn flush_lost(net: &mut Network, before: &[(NsId, u32)]) {
    let lost: Vec<(NsId, u32)> = before
        .iter()
        .copied()
        .filter(|(id, idx)| {
            let Some(ns) = net.namespaces().find(|n| net.id(&n.name) == Some(*id)) else { return false };
            ns.devices.get(idx).is_some_and(|d| !crate::show::carrier(net, ns, d, 0))
        })
        .collect();
    for (id, idx) in lost {
        let ns = net.ns_mut(id);
        ns.neigh.entries.retain(|(dev, _), e| *dev != idx || e.state == NudState::Permanent);
    }
}
