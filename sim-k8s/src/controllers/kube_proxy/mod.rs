//! kube-proxy in iptables mode (kubernetes pkg/proxy/iptables/proxier.go, 1.31–1.33):
//! the `iptables-restore --noflush` payload of a full sync, the jump rules it ensures in
//! the built-in chains, and kubelet's own iptables rules. Pure functions: services and
//! endpoints in, restore text out; the caller turns the text into a
//! `NetOp::IptablesRestore` in the node's namespace.
//!
//! Call order on a node (what kubelet and kube-proxy do at startup):
//! 1. [`jumps::kubelet_payload`] once (kubelet's `syncIPTablesRules`);
//! 2. on every full sync, [`jumps::ensure_payload`] against the node's current tables
//!    (kube-proxy's `EnsureChain`/`EnsureRule(Prepend)`), then
//! 3. [`sync_payload`] (or [`full_sync_payload`] from model objects).
//!
//! Deviations: Go iterates a map over service ports, so a real node writes services in
//! an unspecified order; here they are written sorted by service port name
//! (`ns/svc:port`, then protocol), which changes the order of rules in the shared
//! chains (KUBE-SERVICES, KUBE-NODEPORTS, filter chains) but nothing else. Partial
//! syncs ([`partial_sync_payload`]) leave out the own chains of unchanged services;
//! `largeClusterMode`'s skipping of stale-chain cleanup is not modelled. IPv4 only;
//! `--nodeport-addresses` is not modelled (NodePorts on every local address);
//! topology hints are ignored.

pub mod conntrack;
pub mod endpoints;
pub mod hash;
pub mod jumps;
pub mod proxier;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::endpointslice::EndpointSlice;
use crate::model::service::Service;
pub use endpoints::{EndpointInfo, ServicePortInfo, ServicePortName, endpoints_map};
use rules::{Buffers, PortRules, chain_line};
use rules::{KUBE_EXTERNAL_SERVICES, KUBE_FIREWALL, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS};
use rules::{KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES};

/// Above this many endpoints in total, kube-proxy drops the comments of SEP rules and
/// SVC→SEP rules (`largeClusterEndpointsThreshold`).
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// kube-proxy's flags and what it detects on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxierConfig {
    /// `--hostname-override` / the node name: endpoints with this `nodeName` are local.
    pub node_name: String,
    /// The node's primary IP (used for `loadBalancerSourceRanges` containing the node).
    pub node_ip: Ipv4Addr,
    /// `--cluster-cidr` with `--detect-local-mode=ClusterCIDR` (the default). `None`:
    /// no local-traffic detector (no `! -s CIDR` masquerade, no pod short-circuit).
    pub cluster_cidr: Option<Ipv4Net>,
    /// `--iptables-masquerade-bit`, default 14 (mark 0x4000).
    pub masquerade_bit: u8,
    /// `--masquerade-all`, default false.
    pub masquerade_all: bool,
    /// Whether iptables supports `MASQUERADE --random-fully` (≥ 1.6.2): default true.
    pub random_fully: bool,
    /// Whether nfacct counters could be created (kernel xt_nfacct): default false, like
    /// the reference lab kernel.
    pub nfacct_available: bool,
    /// `--iptables-localhost-nodeports`, default true.
    pub localhost_nodeports: bool,
    /// `net.netfilter.nf_conntrack_tcp_be_liberal != 0`: default false.
    pub conntrack_tcp_liberal: bool,
}

impl ProxierConfig {
    /// Defaults of a kubeadm cluster for the node `node_name` at `node_ip`.
    pub fn new(node_name: impl Into<String>, node_ip: Ipv4Addr, cluster_cidr: Option<Ipv4Net>) -> Self {
        ProxierConfig {
            node_name: node_name.into(),
            node_ip,
            cluster_cidr,
            masquerade_bit: 14,
            masquerade_all: false,
            random_fully: true,
            nfacct_available: false,
            localhost_nodeports: true,
            conntrack_tcp_liberal: false,
        }
    }

    /// Go `%#08x` of `1 << masquerade_bit`: `0x00004000`.
    pub fn masquerade_mark(&self) -> String {
        format!("0x{:08x}", 1u32 << self.masquerade_bit)
    }
}

/// The full-sync payload from model objects, service ports sorted by name (`ns/svc:port`,
/// then protocol): every service's ports and every
/// EndpointSlice (slices are matched to services by their `kubernetes.io/service-name`
/// label). `existing_nat_chains` are the nat chains on the node now; stale
/// KUBE-SVC/SVL/EXT/FW/SEP chains among them are flushed and deleted.
pub fn full_sync_payload(
    cfg: &ProxierConfig,
    services: &[Service],
    slices: &[EndpointSlice],
    existing_nat_chains: &[String],
) -> String {
    partial_sync_payload(cfg, services, slices, existing_nat_chains, None)
}

/// A sync's payload from model objects; `changed` (`Some` for a partial sync) holds the
/// `namespace/name` of the services whose Service or EndpointSlices changed since the
/// last sync: only their own chains are written (`MinimizeIPTablesRestore`, 1.27+).
pub fn partial_sync_payload(
    cfg: &ProxierConfig,
    services: &[Service],
    slices: &[EndpointSlice],
    existing_nat_chains: &[String],
    changed: Option<&BTreeSet<String>>,
) -> String {
    let mut ports: Vec<ServicePortInfo> = services.iter().flat_map(ServicePortInfo::from_service).collect();
    ports.sort_by_cached_key(|p| (p.name.to_string(), p.name.protocol));
    let eps = endpoints_map(slices, &cfg.node_name);
    sync_payload_with(cfg, &ports, &eps, existing_nat_chains, changed)
}

/// `syncProxyRules` on a full sync: the exact `iptables-restore --noflush` input
/// (`*filter` ... `COMMIT`, `*nat` ... `COMMIT`). Service ports are written in the order
/// given (kube-proxy's is Go map order; [`full_sync_payload`] sorts them by name).
pub fn sync_payload(
    cfg: &ProxierConfig,
    services: &[ServicePortInfo],
    endpoints: &BTreeMap<ServicePortName, Vec<EndpointInfo>>,
    existing_nat_chains: &[String],
) -> String {
    sync_payload_with(cfg, services, endpoints, existing_nat_chains, None)
}

fn sync_payload_with(
    cfg: &ProxierConfig,
    services: &[ServicePortInfo],
    endpoints: &BTreeMap<ServicePortName, Vec<EndpointInfo>>,
    existing_nat_chains: &[String],
    changed: Option<&BTreeSet<String>>,
) -> String {
    let mut b = Buffers::default();
    write_top_level(cfg, &mut b);
    let total: usize = services.iter().map(|s| endpoints.get(&s.name).map_or(0, Vec::len)).sum();
    let large = total > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
    for svc in services {
        let eps = endpoints.get(&svc.name).map_or(&[][..], Vec::as_slice);
        let rules = PortRules::new(cfg, svc, eps, large);
        let key = format!("{}/{}", svc.name.namespace, svc.name.name);
        match changed {
            Some(set) if !set.contains(&key) => rules.write_unchanged(&mut b),
            _ => rules.write(&mut b),
        }
    }
    delete_stale_chains(&mut b, existing_nat_chains);
    write_trailer(cfg, &mut b);
    let mut out = String::from("*filter\n");
    for line in b.filter_chains.iter().chain(&b.filter_rules) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("COMMIT\n*nat\n");
    for line in b.nat_chains.iter().chain(&b.nat_rules) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

/// Chain lines of the top-level chains and the fixed rules written before services.
fn write_top_level(cfg: &ProxierConfig, b: &mut Buffers) {
    for c in [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL] {
        b.filter_chains.push(chain_line(c));
    }
    for c in [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ] {
        b.nat_chains.push(chain_line(c));
    }
    let mark = cfg.masquerade_mark();
    b.nat_rules.push(format!("-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN"));
    b.nat_rules.push(format!("-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}"));
    let fully = if cfg.random_fully { " --random-fully" } else { "" };
    b.nat_rules.push(format!(
        "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE{fully}"
    ));
    b.nat_rules.push(format!("-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}"));
    if cfg.localhost_nodeports {
        b.filter_chains.push(chain_line(KUBE_FIREWALL));
        b.filter_rules.push(jumps::KUBE_FIREWALL_RULE.to_string());
    }
}

/// `:CHAIN` + `-X CHAIN` for service chains on the node that this sync does not write.
fn delete_stale_chains(b: &mut Buffers, existing: &[String]) {
    let prefixes = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-FW-", "KUBE-EXT-"];
    let mut stale: Vec<&String> = existing
        .iter()
        .filter(|c| prefixes.iter().any(|p| c.starts_with(p)) && !b.active_nat_chains.contains(*c))
        .collect();
    stale.sort();
    stale.dedup();
    for c in stale {
        b.nat_chains.push(chain_line(c));
        b.nat_rules.push(format!("-X {c}"));
    }
}

/// The last KUBE-SERVICES rule and the KUBE-FORWARD rules.
fn write_trailer(cfg: &ProxierConfig, b: &mut Buffers) {
    let localhost = if cfg.localhost_nodeports { "" } else { " ! -d 127.0.0.0/8" };
    b.nat_rules.push(format!(
        "-A {KUBE_SERVICES} -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL{localhost} -j {KUBE_NODEPORTS}"
    ));
    if !cfg.conntrack_tcp_liberal {
        let nfacct =
            if cfg.nfacct_available { " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts" } else { "" };
        b.filter_rules.push(format!("-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{nfacct} -j DROP"));
    }
    let mark = cfg.masquerade_mark();
    b.filter_rules.push(format!(
        "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark}/{mark} -j ACCEPT"
    ));
    b.filter_rules.push(format!(
        "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    ));
}
