//! `EndpointSlice` (discovery.k8s.io/v1): the endpoints of one Service, written by the
//! EndpointSlice controller for services with a selector, or by hand for services
//! without one. Validated like pkg/apis/discovery/validation.
//!
//! Deviations: only `addressType: IPv4` is modelled (IPv6 and FQDN slices are rejected
//! with a kube-netsim message); only the first address of an endpoint is kept, as
//! kube-proxy only uses that one; hints are ignored.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::discovery::v1 as k8s;

use super::field::{FieldError, FieldErrorKind, FieldPath};
use super::names;
use super::pod::Protocol;
use super::service::{port_num, protocol};

/// The label naming a slice's service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming the slice's writer.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// `MANAGED_BY_LABEL`'s value on slices the controller writes.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Most endpoints the controller puts in one slice (`--max-endpoints-per-slice`).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
const MAX_ADDRESSES: usize = 100;

/// `endpoints[].conditions`; unset means "unknown", which consumers read as
/// ready=true, serving=true, terminating=false.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

impl Conditions {
    pub fn is_ready(&self) -> bool {
        self.ready.unwrap_or(true)
    }
    pub fn is_serving(&self) -> bool {
        self.serving.unwrap_or(true)
    }
    pub fn is_terminating(&self) -> bool {
        self.terminating.unwrap_or(false)
    }
}

/// One `endpoints[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `addresses[0]`.
    pub address: Ipv4Addr,
    pub conditions: Conditions,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    /// `targetRef` when it names a Pod: `NAMESPACE/NAME`.
    pub target_pod: Option<String>,
}

/// One `ports[]` entry. The name matches a Service port name (empty when unnamed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPort {
    pub name: String,
    pub port: Option<u16>,
    pub protocol: Protocol,
}

/// A validated EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSlice {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<EndpointPort>,
}

impl EndpointSlice {
    pub fn from_k8s(s: &k8s::EndpointSlice) -> Result<EndpointSlice, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&s.metadata, true, &mut errs);
        match s.address_type.as_str() {
            "IPv4" => {}
            "IPv6" | "FQDN" => {
                let detail = "kube-netsim models IPv4 only: use addressType IPv4";
                errs.push(FieldError::invalid_str(FieldPath::parse("addressType"), &s.address_type, detail));
            }
            "" => errs.push(FieldError::required(FieldPath::parse("addressType"), None)),
            other => {
                let supported = vec!["FQDN".into(), "IPv4".into(), "IPv6".into()];
                let kind = FieldErrorKind::Unsupported { value: format!("{other:?}"), supported };
                errs.push(FieldError { path: FieldPath::parse("addressType"), kind });
            }
        }
        let endpoints =
            s.endpoints.iter().enumerate().filter_map(|(i, e)| endpoint(i, e, &mut errs)).collect();
        let ports = ports(s.ports.as_deref().unwrap_or_default(), &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(EndpointSlice {
            namespace: meta.namespace,
            name: meta.name,
            labels: meta.labels,
            endpoints,
            ports,
        })
    }

    /// The `kubernetes.io/service-name` label.
    pub fn service_name(&self) -> Option<&str> {
        self.labels.get(SERVICE_NAME_LABEL).map(String::as_str)
    }
}

fn endpoint(i: usize, e: &k8s::Endpoint, errs: &mut Vec<FieldError>) -> Option<Endpoint> {
    let path = FieldPath::parse("endpoints").index(i);
    let apath = path.key("addresses");
    if e.addresses.is_empty() {
        errs.push(FieldError::required(apath.clone(), Some("must contain at least 1 address")));
    } else if e.addresses.len() > MAX_ADDRESSES {
        let kind = FieldErrorKind::Invalid {
            value: e.addresses.len().to_string(),
            detail: format!("must have at most {MAX_ADDRESSES} items"),
        };
        errs.push(FieldError { path: apath.clone(), kind });
    }
    let mut first = None;
    for (j, a) in e.addresses.iter().enumerate() {
        match a.parse::<Ipv4Addr>() {
            Ok(ip) => first = first.or(Some(ip)),
            Err(_) => errs.push(FieldError::invalid_str(apath.index(j), a, "must be a valid IPv4 address")),
        }
    }
    if let Some(n) = &e.node_name {
        names::check_dns1123_subdomain(&path.key("nodeName"), n, errs);
    }
    let c = e.conditions.clone().unwrap_or_default();
    let target_pod = e
        .target_ref
        .as_ref()
        .filter(|r| r.kind.as_deref() == Some("Pod"))
        .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or("")));
    Some(Endpoint {
        address: first?,
        conditions: Conditions { ready: c.ready, serving: c.serving, terminating: c.terminating },
        node_name: e.node_name.clone(),
        zone: e.zone.clone(),
        target_pod,
    })
}

fn ports(raw: &[k8s::EndpointPort], errs: &mut Vec<FieldError>) -> Vec<EndpointPort> {
    let path = FieldPath::parse("ports");
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let ppath = path.index(i);
        let name = p.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            names::check_dns1123_label(&ppath.key("name"), name, errs);
        }
        if seen.contains(&name) {
            errs.push(FieldError::duplicate_str(ppath.key("name"), name));
        }
        seen.push(name);
        let port = p.port.and_then(|n| port_num(ppath.key("port"), n, errs));
        if let Some(protocol) = protocol(ppath.key("protocol"), p.protocol.as_deref(), errs) {
            out.push(EndpointPort { name: name.to_string(), port, protocol });
        }
    }
    out
}
