//! kube-proxy's view of services and endpoints: `ServicePortName`, the per-port service
//! info (pkg/proxy/serviceport.go), the endpoints map built from EndpointSlices
//! (pkg/proxy/endpointslicecache.go) and `CategorizeEndpoints` (pkg/proxy/topology.go).
//!
//! Deviations: topology hints are ignored (as kube-proxy does whenever some ready
//! endpoint lacks a hint); when the "all reachable" list has to merge cluster and local
//! endpoints (Go iterates a map there), it is sorted by `IP:port` like every other list.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::Protocol;
use crate::model::endpointslice::EndpointSlice;
use crate::model::service::{ClusterIp, IpMode, Service, ServiceType, SessionAffinity, TrafficPolicy};

/// `proxy.ServicePortName`: `ns/svc` plus the port name and protocol. Displays as
/// `ns/svc:port` (or `ns/svc` for an unnamed port), the string hashed into chain names
/// and used in comments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    pub port: String,
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl ServicePortName {
    /// `tcp`, `udp`, `sctp`: the protocol as it appears in rules and hashes.
    pub fn proto(&self) -> &'static str {
        match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One service port as kube-proxy sees it (`servicePortInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInfo {
    pub name: ServicePortName,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip` with ipMode VIP.
    pub load_balancer_vips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    pub health_check_node_port: Option<u16>,
    /// `Some(timeout)` with `sessionAffinity: ClientIP`.
    pub affinity_timeout_seconds: Option<u32>,
    pub external_policy_local: bool,
    pub internal_policy_local: bool,
}

impl ServicePortInfo {
    /// The ports kube-proxy programs for `svc`: none for headless and ExternalName
    /// services, nor before a ClusterIP is allocated.
    pub fn from_service(svc: &Service) -> Vec<ServicePortInfo> {
        let ClusterIp::Ip(cluster_ip) = svc.cluster_ip else { return Vec::new() };
        if svc.type_ == ServiceType::ExternalName {
            return Vec::new();
        }
        let vips: Vec<Ipv4Addr> =
            svc.load_balancer_ingress.iter().filter(|i| i.ip_mode == IpMode::Vip).map(|i| i.ip).collect();
        let affinity = match svc.session_affinity {
            SessionAffinity::ClientIp { timeout_seconds } => Some(timeout_seconds),
            SessionAffinity::None => None,
        };
        let node_ports_apply = svc.type_ != ServiceType::ClusterIp;
        svc.ports
            .iter()
            .map(|p| ServicePortInfo {
                name: ServicePortName {
                    namespace: svc.namespace.clone(),
                    name: svc.name.clone(),
                    port: p.name.clone(),
                    protocol: p.protocol,
                },
                cluster_ip,
                port: p.port,
                node_port: p.node_port.filter(|_| node_ports_apply),
                external_ips: svc.external_ips.clone(),
                load_balancer_vips: if svc.type_ == ServiceType::LoadBalancer {
                    vips.clone()
                } else {
                    Vec::new()
                },
                load_balancer_source_ranges: svc.load_balancer_source_ranges.clone(),
                health_check_node_port: svc.health_check_node_port.filter(|_| svc.needs_health_check()),
                affinity_timeout_seconds: affinity,
                external_policy_local: svc.external_traffic_policy == Some(TrafficPolicy::Local),
                internal_policy_local: svc.internal_traffic_policy == TrafficPolicy::Local,
            })
            .collect()
    }

    /// NodePort, an LB VIP or an external IP.
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some() || !self.load_balancer_vips.is_empty() || !self.external_ips.is_empty()
    }
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.external_policy_local && self.externally_accessible())
    }
}

/// One endpoint of one service port (`BaseEndpointInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub is_local: bool,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

impl EndpointInfo {
    /// `IP:port`, the string endpoints are sorted by and hashed with.
    pub fn ip_port(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// `proxy.EndpointsMap`: the endpoints of every service port, from all slices carrying a
/// `kubernetes.io/service-name` label; de-duplicated by `IP:port` (a local copy wins) and
/// sorted by that string. "Local" means the endpoint's `nodeName` is `node_name`.
pub fn endpoints_map(
    slices: &[EndpointSlice],
    node_name: &str,
) -> BTreeMap<ServicePortName, Vec<EndpointInfo>> {
    let mut sets: BTreeMap<ServicePortName, BTreeMap<String, EndpointInfo>> = BTreeMap::new();
    for slice in slices {
        let Some(svc) = slice.service_name() else { continue };
        for port in &slice.ports {
            let Some(num) = port.port else { continue };
            let name = ServicePortName {
                namespace: slice.namespace.clone(),
                name: svc.to_string(),
                port: port.name.clone(),
                protocol: port.protocol,
            };
            let set = sets.entry(name).or_default();
            for ep in &slice.endpoints {
                let info = EndpointInfo {
                    ip: ep.address,
                    port: num,
                    is_local: ep.node_name.as_deref() == Some(node_name),
                    ready: ep.conditions.is_ready(),
                    serving: ep.conditions.is_serving(),
                    terminating: ep.conditions.is_terminating(),
                };
                let key = info.ip_port();
                if !set.contains_key(&key) || info.is_local {
                    set.insert(key, info);
                }
            }
        }
    }
    sets.into_iter().map(|(k, set)| (k, set.into_values().collect())).collect()
}

/// What `CategorizeEndpoints` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized {
    pub cluster: Vec<EndpointInfo>,
    pub local: Vec<EndpointInfo>,
    /// Every endpoint some chain of this node jumps to (the SEP chains to write).
    pub all_reachable: Vec<EndpointInfo>,
    /// Some usable endpoint exists anywhere in the cluster.
    pub has_any: bool,
}

/// `CategorizeEndpoints`: ready endpoints, falling back to serving+terminating ones.
pub fn categorize(eps: &[EndpointInfo], svc: &ServicePortInfo) -> Categorized {
    let mut c = Categorized::default();
    if svc.uses_cluster_endpoints() {
        c.cluster = eps.iter().filter(|e| e.ready).cloned().collect();
        if c.cluster.is_empty() {
            c.cluster = eps.iter().filter(|e| e.serving && e.terminating).cloned().collect();
        }
        c.has_any = !c.cluster.is_empty();
    }
    if !svc.uses_local_endpoints() {
        c.all_reachable = c.cluster.clone();
        return c;
    }
    let usable = |e: &&EndpointInfo| e.ready || (e.serving && e.terminating);
    c.has_any |= eps.iter().any(|e| usable(&e));
    let local_ready = eps.iter().any(|e| e.is_local && e.ready);
    let mut serving_terminating = false;
    if local_ready {
        c.local = eps.iter().filter(|e| e.is_local && e.ready).cloned().collect();
    } else if eps.iter().any(|e| e.is_local && e.serving && e.terminating) {
        serving_terminating = true;
        c.local = eps.iter().filter(|e| e.is_local && e.serving && e.terminating).cloned().collect();
    }
    if !svc.uses_cluster_endpoints() {
        c.all_reachable = c.local.clone();
    } else if !serving_terminating {
        c.all_reachable = c.cluster.clone();
    } else {
        let mut merged: BTreeMap<String, EndpointInfo> = BTreeMap::new();
        for e in c.cluster.iter().chain(&c.local) {
            merged.insert(e.ip_port(), e.clone());
        }
        c.all_reachable = merged.into_values().collect();
    }
    c
}
