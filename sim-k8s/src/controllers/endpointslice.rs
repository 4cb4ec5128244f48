//! The EndpointSlice controller's reconcile step as a pure function
//! (kubernetes pkg/controller/endpointslice + staging endpointslice `reconciler.go`,
//! `utils.go`, and `podutil.FindPort`): from a Service with a selector and the pods,
//! the slices that should exist.
//!
//! - Pods are endpoints when the selector matches, they are scheduled and have an IP
//!   (terminating pods included, with `terminating: true`).
//! - Conditions: `serving` = pod Ready, `terminating` = being deleted,
//!   `ready` = serving and not terminating.
//! - Ports are resolved per pod: a numeric `targetPort` as-is, a named one to the first
//!   container port with the same name *and* protocol; a service port with no match is
//!   left out for that pod. Pods with the same resolved ports share slices of at most
//!   [`MAX_ENDPOINTS_PER_SLICE`] endpoints; a service with no endpoints gets one empty
//!   placeholder slice.
//! - Slice names are `generateName: <service>-` (5 random characters from a seeded
//!   stream); the names of the service's existing slices are reused in order.
//!
//! Deviations: Go groups by a hash of the port list and iterates a map; here groups
//! follow the pods' order (sorted by name) and endpoints keep that order. Init
//! (sidecar) containers are not modelled, so they never provide named ports.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sim_core::SimRng;

use crate::model::Pod;
use crate::model::endpointslice::{
    CONTROLLER_NAME, Conditions, Endpoint, EndpointPort, EndpointSlice, MANAGED_BY_LABEL,
    MAX_ENDPOINTS_PER_SLICE, SERVICE_NAME_LABEL,
};
use crate::model::selector::generate_name;
use crate::model::service::{Service, ServicePort, TargetPort};

/// A pod as the controller sees it: the object plus its status.
#[derive(Clone, Copy, Debug)]
pub struct PodEndpoint<'a> {
    pub pod: &'a Pod,
    /// `status.podIP`.
    pub ip: Option<Ipv4Addr>,
    /// `spec.nodeName` once scheduled.
    pub node_name: Option<&'a str>,
    /// The pod's Ready condition.
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
}

/// `podutil.FindPort`: the port number `sp` targets on `pod`, if any.
pub fn find_port(pod: &Pod, sp: &ServicePort) -> Option<u16> {
    match &sp.target_port {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => pod
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol == sp.protocol)
            .map(|p| p.container_port),
    }
}

/// The endpoint ports of `pod` for `svc` (`getEndpointPorts`).
pub fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    svc.ports
        .iter()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            Some(EndpointPort { name: sp.name.clone(), port: Some(port), protocol: sp.protocol })
        })
        .collect()
}

/// Whether `pod` belongs in the service's endpoints (`ShouldPodBeInEndpoints` with
/// terminating pods included).
fn is_candidate(svc_namespace: &str, selector: &BTreeMap<String, String>, p: &PodEndpoint<'_>) -> bool {
    p.pod.namespace == svc_namespace
        && selector.iter().all(|(k, v)| p.pod.labels.get(k) == Some(v))
        && p.ip.is_some()
        && p.node_name.is_some()
}

fn endpoint(p: &PodEndpoint<'_>) -> Endpoint {
    Endpoint {
        address: p.ip.expect("candidates have an IP"),
        conditions: Conditions {
            ready: Some(p.ready && !p.terminating),
            serving: Some(p.ready),
            terminating: Some(p.terminating),
        },
        node_name: p.node_name.map(str::to_string),
        zone: None,
        target_pod: Some(p.pod.key()),
    }
}

/// The slices `svc` should have (none for a service without a selector). `existing`
/// are the service's current controller-owned slices, whose names are reused in order.
pub fn desired_slices(
    svc: &Service,
    pods: &[PodEndpoint<'_>],
    existing: &[EndpointSlice],
    rng: &mut SimRng,
) -> Vec<EndpointSlice> {
    let Some(selector) = &svc.selector else { return Vec::new() };
    let mut sorted: Vec<&PodEndpoint<'_>> =
        pods.iter().filter(|p| is_candidate(&svc.namespace, selector, p)).collect();
    sorted.sort_by(|a, b| a.pod.name.cmp(&b.pod.name));
    let mut groups: Vec<(Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    for p in sorted {
        let ports = endpoint_ports(svc, p.pod);
        match groups.iter_mut().find(|(g, _)| *g == ports) {
            Some((_, eps)) => eps.push(endpoint(p)),
            None => groups.push((ports, vec![endpoint(p)])),
        }
    }
    let mut chunks: Vec<(Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    for (ports, eps) in groups {
        for chunk in eps.chunks(MAX_ENDPOINTS_PER_SLICE) {
            chunks.push((ports.clone(), chunk.to_vec()));
        }
    }
    if chunks.is_empty() {
        chunks.push((Vec::new(), Vec::new()));
    }
    let mut names = existing.iter().filter(|s| owned_by(s, svc)).map(|s| s.name.clone());
    chunks
        .into_iter()
        .map(|(ports, endpoints)| EndpointSlice {
            namespace: svc.namespace.clone(),
            name: names.next().unwrap_or_else(|| generate_name(&format!("{}-", svc.name), rng)),
            labels: slice_labels(svc),
            endpoints,
            ports,
        })
        .collect()
}

fn owned_by(s: &EndpointSlice, svc: &Service) -> bool {
    s.namespace == svc.namespace
        && s.service_name() == Some(svc.name.as_str())
        && s.labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(CONTROLLER_NAME)
}

fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.labels.clone();
    labels.insert(SERVICE_NAME_LABEL.into(), svc.name.clone());
    labels.insert(MANAGED_BY_LABEL.into(), CONTROLLER_NAME.into());
    labels
}
