//! Stale UDP conntrack cleanup, as kube-proxy does after every successful sync
//! (pkg/proxy/conntrack/cleanup.go `CleanStaleEntries`, 1.31+).
//!
//! UDP has no connection teardown: a client that keeps its socket keeps its conntrack
//! entry, and conntrack keeps translating its datagrams to the endpoint chosen by the
//! first one, even after that pod is gone, until the entry times out. So kube-proxy
//! lists the node's conntrack table and deletes every UDP entry whose original
//! destination is a service frontend (ClusterIP, external IP or load-balancer IP with
//! the service port, or any address with the nodePort) and whose reply source is not a
//! serving endpoint of that service port. Service ports without any serving endpoint are
//! left alone (their new packets are rejected by the filter rules anyway). Traffic
//! policies, topology and terminating state are deliberately not considered, so a change
//! of policy does not break existing flows.
//!
//! Each stale entry gives one deletion filter: `--orig-dst IP --dport PORT --reply-src
//! EP` for an IP frontend, `--dport NODEPORT --reply-src EP` for a nodePort; the caller
//! renders each distinct filter as a `conntrack -D` command.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use sim_net::conntrack::CtFilter;
use sim_net::packet::IpProto;

use super::endpoints::{ServicePortInfo, endpoints_map};
use crate::model::Protocol;
use crate::model::endpointslice::EndpointSlice;
use crate::model::service::Service;

/// The UDP frontends of the services that have serving endpoints, with those endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpFrontends {
    /// (service IP, service port) → serving endpoint IPs.
    pub by_ip_port: BTreeMap<(Ipv4Addr, u16), BTreeSet<Ipv4Addr>>,
    /// nodePort → serving endpoint IPs.
    pub by_node_port: BTreeMap<u16, BTreeSet<Ipv4Addr>>,
}

impl UdpFrontends {
    pub fn is_empty(&self) -> bool {
        self.by_ip_port.is_empty() && self.by_node_port.is_empty()
    }
}

/// What kube-proxy maps from its service and endpoint caches.
pub fn udp_frontends(services: &[Service], slices: &[EndpointSlice], node_name: &str) -> UdpFrontends {
    let endpoints = endpoints_map(slices, node_name);
    let mut out = UdpFrontends::default();
    for info in services.iter().flat_map(ServicePortInfo::from_service) {
        if info.name.protocol != Protocol::Udp {
            continue;
        }
        let serving: BTreeSet<Ipv4Addr> =
            endpoints.get(&info.name).into_iter().flatten().filter(|e| e.serving).map(|e| e.ip).collect();
        if serving.is_empty() {
            continue;
        }
        let ips = std::iter::once(info.cluster_ip).chain(info.load_balancer_vips.iter().copied());
        for ip in ips.chain(info.external_ips.iter().copied()) {
            out.by_ip_port.insert((ip, info.port), serving.clone());
        }
        if let Some(np) = info.node_port {
            out.by_node_port.insert(np, serving);
        }
    }
    out
}

/// The parts of a conntrack entry the cleanup looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryView {
    pub proto: IpProto,
    pub orig_dst: Ipv4Addr,
    pub orig_dport: u16,
    pub reply_src: Ipv4Addr,
}

/// The deletion filters for the stale entries among `entries`, each once, in the order
/// of the first entry that needs it.
pub fn stale_filters(f: &UdpFrontends, entries: impl IntoIterator<Item = EntryView>) -> Vec<CtFilter> {
    let mut out: Vec<CtFilter> = Vec::new();
    let mut push = |filter: CtFilter| {
        if !out.contains(&filter) {
            out.push(filter);
        }
    };
    for e in entries.into_iter().filter(|e| e.proto == IpProto::Udp) {
        if let Some(eps) = f.by_ip_port.get(&(e.orig_dst, e.orig_dport))
            && !eps.contains(&e.reply_src)
        {
            push(
                CtFilter::proto(IpProto::Udp)
                    .orig_dst(e.orig_dst)
                    .reply_src(e.reply_src)
                    .orig_dport(e.orig_dport),
            );
        }
        if let Some(eps) = f.by_node_port.get(&e.orig_dport)
            && !eps.contains(&e.reply_src)
        {
            push(CtFilter::proto(IpProto::Udp).reply_src(e.reply_src).orig_dport(e.orig_dport));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn udp(dst: &str, dport: u16, reply_src: &str) -> EntryView {
        EntryView { proto: IpProto::Udp, orig_dst: ip(dst), orig_dport: dport, reply_src: ip(reply_src) }
    }

    fn frontends() -> UdpFrontends {
        let mut f = UdpFrontends::default();
        f.by_ip_port.insert((ip("10.96.0.10"), 53), BTreeSet::from([ip("10.244.0.5")]));
        f.by_node_port.insert(30053, BTreeSet::from([ip("10.244.0.5")]));
        f
    }

    #[test]
    fn an_entry_to_a_gone_endpoint_is_deleted_by_service_ip_port_and_reply_source() {
        let got = stale_filters(
            &frontends(),
            [udp("10.96.0.10", 53, "10.244.1.7"), udp("10.96.0.10", 53, "10.244.0.5")],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].to_string(),
            "conntrack -D -p udp --orig-dst 10.96.0.10 --reply-src 10.244.1.7 --dport 53"
        );
    }

    #[test]
    fn a_node_port_entry_is_deleted_by_port_and_reply_source_once() {
        let got = stale_filters(
            &frontends(),
            [udp("192.168.1.12", 30053, "10.244.1.7"), udp("192.168.1.11", 30053, "10.244.1.7")],
        );
        assert_eq!(
            got.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            vec!["conntrack -D -p udp --reply-src 10.244.1.7 --dport 30053"]
        );
    }

    #[test]
    fn other_ports_protocols_and_live_endpoints_are_kept() {
        let mut tcp = udp("10.96.0.10", 53, "10.244.1.7");
        tcp.proto = IpProto::Tcp;
        let entries = [tcp, udp("10.96.0.10", 54, "10.244.1.7"), udp("10.96.0.11", 53, "10.244.1.7")];
        assert!(stale_filters(&frontends(), entries).is_empty());
    }
}
