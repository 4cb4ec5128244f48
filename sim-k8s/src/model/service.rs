//! `Service` (v1): defaulted and validated as the apiserver does (pkg/apis/core/v1/
//! defaults.go `SetDefaults_Service`, pkg/apis/core/validation `ValidateService`), with
//! its messages (`spec.ports[0].nodePort: Forbidden: may not be used when `type` is
//! 'ClusterIP'`).
//!
//! Addresses are not allocated here: an unset `clusterIP` stays [`ClusterIp::Unset`] and
//! unset node ports stay `None` until `controllers::allocators` fills them, as the
//! registry does after validation. Deviations: IPv4 only (an IPv6 address is rejected
//! with a kube-netsim message); `ExternalName` services are accepted and validated but
//! nothing in kube-netsim acts on them (kube-proxy ignores them too; there is no DNS
//! CNAME yet); `status.loadBalancer.ingress` is read from the manifest when given (the
//! service controller, `controllers::service_lb`, fills it otherwise).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field::{FieldError, FieldErrorKind, FieldPath};
use super::names;
use super::pod::Protocol;

/// `sessionAffinityConfig.clientIP.timeoutSeconds` default (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u32 = 10800;
/// The largest `timeoutSeconds` the apiserver accepts (one day).
pub const MAX_AFFINITY_TIMEOUT_SECONDS: u32 = 86400;

/// `spec.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
    ExternalName,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
}

/// `spec.clusterIP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterIp {
    /// Not given: the ClusterIP allocator picks one.
    Unset,
    /// `None`: a headless service (no virtual IP, no kube-proxy rules).
    Headless,
    /// Requested explicitly, or allocated.
    Ip(Ipv4Addr),
}

/// `ports[].targetPort`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    /// A container port name, resolved per pod by the EndpointSlice controller.
    Name(String),
}

/// `spec.ports[]`, defaulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// Empty when unnamed (only allowed with a single port).
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    /// Defaults to `port`.
    pub target_port: TargetPort,
    /// Requested or allocated; `None` until allocated (or never, for ClusterIP).
    pub node_port: Option<u16>,
}

/// `externalTrafficPolicy` / `internalTrafficPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficPolicy {
    Cluster,
    Local,
}

/// `spec.sessionAffinity` with its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAffinity {
    None,
    ClientIp { timeout_seconds: u32 },
}

/// `status.loadBalancer.ingress[].ipMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpMode {
    /// Default: traffic to the IP is delivered with the IP as destination (kube-proxy
    /// captures it).
    Vip,
    /// The load balancer proxies; kube-proxy ignores the IP.
    Proxy,
}

/// One `status.loadBalancer.ingress[]` entry with an IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadBalancerIngress {
    pub ip: Ipv4Addr,
    pub ip_mode: IpMode,
}

/// A validated, defaulted Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `None`: no selector; endpoints come from hand-written EndpointSlices.
    pub selector: Option<BTreeMap<String, String>>,
    pub type_: ServiceType,
    pub cluster_ip: ClusterIp,
    pub external_name: Option<String>,
    pub external_ips: Vec<Ipv4Addr>,
    pub ports: Vec<ServicePort>,
    pub session_affinity: SessionAffinity,
    /// Set (default Cluster) only for externally accessible services.
    pub external_traffic_policy: Option<TrafficPolicy>,
    /// Default Cluster.
    pub internal_traffic_policy: TrafficPolicy,
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    /// Requested or allocated; only for LoadBalancer with eTP Local.
    pub health_check_node_port: Option<u16>,
    /// Default true for LoadBalancer; false for every other type.
    pub allocate_load_balancer_node_ports: bool,
    pub load_balancer_ingress: Vec<LoadBalancerIngress>,
    /// `spec.loadBalancerIP` (deprecated upstream, still honoured by most controllers).
    pub load_balancer_ip: Option<Ipv4Addr>,
}

impl Service {
    /// Defaults and validates a k8s-openapi Service; every problem is returned at once.
    pub fn from_k8s(svc: &k8s::Service) -> Result<Service, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&svc.metadata, true, &mut errs);
        let default_spec = k8s::ServiceSpec::default();
        let spec = svc.spec.as_ref().unwrap_or(&default_spec);
        let out = check_spec(spec, &mut errs).map(|mut s| {
            s.namespace = meta.namespace;
            s.name = meta.name;
            s.labels = meta.labels;
            s.load_balancer_ingress = lb_ingress(svc, &mut errs);
            s
        });
        match out {
            Some(s) if errs.is_empty() => Ok(s),
            _ => Err(errs),
        }
    }

    /// `NAMESPACE/NAME`
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// `apiservice.ExternallyAccessible`: NodePort, LoadBalancer, or ClusterIP with
    /// externalIPs.
    pub fn externally_accessible(&self) -> bool {
        externally_accessible(self.type_, !self.external_ips.is_empty())
    }

    /// `apiservice.NeedsHealthCheck`: LoadBalancer with `externalTrafficPolicy: Local`.
    pub fn needs_health_check(&self) -> bool {
        self.type_ == ServiceType::LoadBalancer && self.external_traffic_policy == Some(TrafficPolicy::Local)
    }

    /// Whether the registry allocates node ports for this service.
    pub fn wants_node_ports(&self) -> bool {
        match self.type_ {
            ServiceType::NodePort => true,
            ServiceType::LoadBalancer => self.allocate_load_balancer_node_ports,
            _ => false,
        }
    }
}

fn externally_accessible(t: ServiceType, has_external_ips: bool) -> bool {
    matches!(t, ServiceType::NodePort | ServiceType::LoadBalancer)
        || (t == ServiceType::ClusterIp && has_external_ips)
}

/// `status.loadBalancer.ingress`: entries with an IP (hostname-only entries are ignored,
/// as kube-proxy does); `ipMode` defaults to VIP.
fn lb_ingress(svc: &k8s::Service, errs: &mut Vec<FieldError>) -> Vec<LoadBalancerIngress> {
    let path = FieldPath::parse("status.loadBalancer.ingress");
    let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
    let mut out = Vec::new();
    for (i, ing) in ingress.into_iter().flatten().enumerate() {
        let Some(ip) = ing.ip.as_deref().filter(|s| !s.is_empty()) else { continue };
        let Some(ip) = parse_ipv4(&path.index(i).key("ip"), ip, errs) else { continue };
        let ip_mode = match ing.ip_mode.as_deref() {
            None | Some("VIP") => IpMode::Vip,
            Some("Proxy") => IpMode::Proxy,
            Some(other) => {
                let kind = FieldErrorKind::Unsupported {
                    value: format!("{other:?}"),
                    supported: vec!["Proxy".into(), "VIP".into()],
                };
                errs.push(FieldError { path: path.index(i).key("ipMode"), kind });
                continue;
            }
        };
        out.push(LoadBalancerIngress { ip, ip_mode });
    }
    out
}

/// The apiserver's message for an unparsable IP (`validation.IsValidIP`).
pub const INVALID_IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// Parses an IPv4 address; IPv6 is valid Kubernetes but outside kube-netsim's model.
pub(crate) fn parse_ipv4(path: &FieldPath, s: &str, errs: &mut Vec<FieldError>) -> Option<Ipv4Addr> {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Some(a),
        Ok(IpAddr::V6(_)) => {
            let detail = "kube-netsim models IPv4 only: use an IPv4 address";
            errs.push(FieldError::invalid_str(path.clone(), s, detail));
            None
        }
        Err(_) => {
            errs.push(FieldError::invalid_str(path.clone(), s, INVALID_IP_MSG));
            None
        }
    }
}

/// Defaults a port's `targetPort`: unset, 0 or "" mean "same as `port`".
fn target_port(
    path: &FieldPath,
    port: u16,
    t: Option<&IntOrString>,
    errs: &mut Vec<FieldError>,
) -> TargetPort {
    match t {
        None | Some(IntOrString::Int(0)) => TargetPort::Number(port),
        Some(IntOrString::String(s)) if s.is_empty() => TargetPort::Number(port),
        Some(IntOrString::Int(n)) => match u16::try_from(*n) {
            Ok(v) => TargetPort::Number(v),
            Err(_) => {
                errs.push(FieldError::invalid_num(path.clone(), (*n).into(), PORT_RANGE_MSG));
                TargetPort::Number(port)
            }
        },
        Some(IntOrString::String(s)) => {
            names::check_port_name(path, s, errs);
            TargetPort::Name(s.clone())
        }
    }
}

/// `validation.IsValidPortNum`.
pub const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

/// A port number in 1..=65535, or an error at `path`.
pub(crate) fn port_num(path: FieldPath, n: i32, errs: &mut Vec<FieldError>) -> Option<u16> {
    match u16::try_from(n) {
        Ok(v) if v >= 1 => Some(v),
        _ => {
            errs.push(FieldError::invalid_num(path, n.into(), PORT_RANGE_MSG));
            None
        }
    }
}

/// A protocol (`TCP` default), or an Unsupported error at `path`.
pub(crate) fn protocol(path: FieldPath, p: Option<&str>, errs: &mut Vec<FieldError>) -> Option<Protocol> {
    match p {
        None | Some("TCP") => Some(Protocol::Tcp),
        Some("UDP") => Some(Protocol::Udp),
        Some("SCTP") => Some(Protocol::Sctp),
        Some(other) => {
            let supported = vec!["SCTP".into(), "TCP".into(), "UDP".into()];
            errs.push(FieldError {
                path,
                kind: FieldErrorKind::Unsupported { value: format!("{other:?}"), supported },
            });
            None
        }
    }
}

/// `ValidateService` on the defaulted spec, in the apiserver's order. Returns the
/// service without metadata (filled by the caller) when the spec alone is valid.
fn check_spec(spec: &k8s::ServiceSpec, errs: &mut Vec<FieldError>) -> Option<Service> {
    let before = errs.len();
    let path = FieldPath::parse("spec");
    let type_ = service_type(&path, spec.type_.as_deref(), errs);
    let cluster_ip = cluster_ip(&path, spec, type_, errs);
    let headless = cluster_ip == ClusterIp::Headless;
    let raw_ports = spec.ports.as_deref().unwrap_or_default();
    if raw_ports.is_empty() && !headless && type_ != ServiceType::ExternalName {
        errs.push(FieldError::required(path.key("ports"), None));
    }
    let external_name = check_type_specific(&path, spec, type_, errs);
    let ports = check_ports(&path.key("ports"), raw_ports, type_, errs);
    if let Some(sel) = &spec.selector {
        names::check_labels(&path.key("selector"), sel, errs);
    }
    let session_affinity = session_affinity(&path, spec, errs);
    let external_ips = external_ips(&path.key("externalIPs"), spec, errs);
    let load_balancer_source_ranges = source_ranges(&path, spec, type_, errs);
    if spec.allocate_load_balancer_node_ports.is_some() && type_ != ServiceType::LoadBalancer {
        let detail = "may only be used when `type` is 'LoadBalancer'";
        errs.push(FieldError::forbidden(path.key("allocateLoadBalancerNodePorts"), detail));
    }
    let accessible = externally_accessible(type_, !external_ips.is_empty());
    let external_traffic_policy = external_policy(&path, spec, accessible, errs);
    let needs_hc =
        type_ == ServiceType::LoadBalancer && external_traffic_policy == Some(TrafficPolicy::Local);
    let health_check_node_port = health_check_node_port(&path, spec, needs_hc, errs);
    let internal_traffic_policy = match spec.internal_traffic_policy.as_deref() {
        None | Some("Cluster") => TrafficPolicy::Cluster,
        Some("Local") => TrafficPolicy::Local,
        Some(other) => {
            push_unsupported(errs, path.key("internalTrafficPolicy"), other, &["Cluster", "Local"]);
            TrafficPolicy::Cluster
        }
    };
    (errs.len() == before).then(|| Service {
        namespace: String::new(),
        name: String::new(),
        labels: BTreeMap::new(),
        selector: spec.selector.clone(),
        type_,
        cluster_ip,
        external_name,
        external_ips,
        ports,
        session_affinity,
        external_traffic_policy,
        internal_traffic_policy,
        load_balancer_source_ranges,
        health_check_node_port,
        allocate_load_balancer_node_ports: type_ == ServiceType::LoadBalancer
            && spec.allocate_load_balancer_node_ports.unwrap_or(true),
        load_balancer_ingress: Vec::new(),
        load_balancer_ip: spec
            .load_balancer_ip
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|ip| parse_ipv4(&path.key("loadBalancerIP"), ip, errs)),
    })
}

fn push_unsupported(errs: &mut Vec<FieldError>, path: FieldPath, value: &str, supported: &[&str]) {
    let supported = supported.iter().map(|s| s.to_string()).collect();
    errs.push(FieldError {
        path,
        kind: FieldErrorKind::Unsupported { value: format!("{value:?}"), supported },
    });
}

fn service_type(spec: &FieldPath, t: Option<&str>, errs: &mut Vec<FieldError>) -> ServiceType {
    match t {
        None | Some("ClusterIP") => ServiceType::ClusterIp,
        Some("NodePort") => ServiceType::NodePort,
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("ExternalName") => ServiceType::ExternalName,
        Some(other) => {
            let supported = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
            push_unsupported(errs, spec.key("type"), other, &supported);
            ServiceType::ClusterIp
        }
    }
}

/// `spec.clusterIP` (or `spec.clusterIPs[0]`), checked as `clusterIPs[0]` like the
/// apiserver does after its strategy copies one into the other.
fn cluster_ip(
    spec: &FieldPath,
    s: &k8s::ServiceSpec,
    t: ServiceType,
    errs: &mut Vec<FieldError>,
) -> ClusterIp {
    let given = s.cluster_ip.clone().or_else(|| s.cluster_ips.as_ref().and_then(|v| v.first().cloned()));
    let path = spec.key("clusterIPs").index(0);
    match given.as_deref() {
        None | Some("") => ClusterIp::Unset,
        Some(_) if t == ServiceType::ExternalName => {
            errs.push(FieldError::forbidden(
                spec.key("clusterIPs"),
                "may not be set for ExternalName services",
            ));
            ClusterIp::Unset
        }
        Some("None") => {
            let kind = match t {
                ServiceType::LoadBalancer => Some("LoadBalancer"),
                ServiceType::NodePort => Some("NodePort"),
                _ => None,
            };
            if let Some(k) = kind {
                errs.push(FieldError::invalid_str(
                    path,
                    "None",
                    format!("may not be set to 'None' for {k} services"),
                ));
            }
            ClusterIp::Headless
        }
        Some(ip) => parse_ipv4(&path, ip, errs).map_or(ClusterIp::Unset, ClusterIp::Ip),
    }
}

/// Checks that depend on the type: the kubelet port on LoadBalancers, `externalName`.
fn check_type_specific(
    spec: &FieldPath,
    s: &k8s::ServiceSpec,
    t: ServiceType,
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    const KUBELET_PORT: i32 = 10250;
    if t == ServiceType::LoadBalancer {
        for (i, p) in s.ports.iter().flatten().enumerate().filter(|(_, p)| p.port == KUBELET_PORT) {
            let detail = format!("may not expose port {KUBELET_PORT} externally since it is used by kubelet");
            errs.push(FieldError::invalid_num(spec.key("ports").index(i), p.port.into(), detail));
        }
    }
    if t != ServiceType::ExternalName {
        return None;
    }
    let cname = s.external_name.as_deref().unwrap_or("").trim_end_matches('.');
    if cname.is_empty() {
        errs.push(FieldError::required(spec.key("externalName"), None));
        return None;
    }
    names::check_dns1123_subdomain(&spec.key("externalName"), cname, errs);
    Some(cname.to_string())
}

fn check_ports(
    path: &FieldPath,
    raw: &[k8s::ServicePort],
    t: ServiceType,
    errs: &mut Vec<FieldError>,
) -> Vec<ServicePort> {
    let mut seen_names: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let ppath = path.index(i);
        let name = p.name.as_deref().unwrap_or("");
        if raw.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(ppath.key("name"), None));
        } else if !name.is_empty() {
            names::check_dns1123_label(&ppath.key("name"), name, errs);
            if seen_names.contains(&name) {
                errs.push(FieldError::duplicate_str(ppath.key("name"), name));
            }
            seen_names.push(name);
        }
        let port = port_num(ppath.key("port"), p.port, errs);
        let proto = protocol(ppath.key("protocol"), p.protocol.as_deref(), errs);
        let target = target_port(&ppath.key("targetPort"), port.unwrap_or(0), p.target_port.as_ref(), errs);
        let node_port = node_port(&ppath.key("nodePort"), p.node_port, t, errs);
        if let (Some(port), Some(protocol)) = (port, proto) {
            out.push(ServicePort { name: name.to_string(), protocol, port, target_port: target, node_port });
        }
    }
    check_duplicates(path, &out, errs);
    out
}

fn node_port(path: &FieldPath, n: Option<i32>, t: ServiceType, errs: &mut Vec<FieldError>) -> Option<u16> {
    let n = n.filter(|n| *n != 0)?;
    if t == ServiceType::ClusterIp {
        errs.push(FieldError::forbidden(path.clone(), "may not be used when `type` is 'ClusterIP'"));
        return None;
    }
    match u16::try_from(n) {
        Ok(v) => Some(v),
        Err(_) => {
            let detail = crate::controllers::allocators::NodePortError::NotInRange {
                range: crate::controllers::allocators::DEFAULT_NODE_PORT_RANGE,
            };
            errs.push(FieldError::invalid_num(path.clone(), n.into(), detail.to_string()));
            None
        }
    }
}

/// Duplicate (protocol, nodePort) and (protocol, port) pairs.
fn check_duplicates(path: &FieldPath, ports: &[ServicePort], errs: &mut Vec<FieldError>) {
    for (i, p) in ports.iter().enumerate() {
        let earlier = &ports[..i];
        if let Some(np) = p.node_port
            && earlier.iter().any(|q| q.protocol == p.protocol && q.node_port == Some(np))
        {
            let kind = FieldErrorKind::Duplicate(np.to_string());
            errs.push(FieldError { path: path.index(i).key("nodePort"), kind });
        }
    }
    for (i, p) in ports.iter().enumerate() {
        if ports[..i].iter().any(|q| q.protocol == p.protocol && q.port == p.port) {
            errs.push(FieldError { path: path.index(i), kind: FieldErrorKind::Duplicate(go_port_key(p)) });
        }
    }
}

/// Go's `%#v` of the `core.ServicePort{Protocol, Port}` key the apiserver reports.
fn go_port_key(p: &ServicePort) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:\"{}\", AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        p.protocol.as_str(),
        p.port
    )
}

fn session_affinity(spec: &FieldPath, s: &k8s::ServiceSpec, errs: &mut Vec<FieldError>) -> SessionAffinity {
    let cfg_path = spec.key("sessionAffinityConfig");
    match s.session_affinity.as_deref() {
        None | Some("None") => {
            if s.session_affinity_config.is_some() {
                errs.push(FieldError::forbidden(cfg_path, "must not be set when session affinity is None"));
            }
            SessionAffinity::None
        }
        Some("ClientIP") => {
            let t = s
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            let t = t.unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS as i32);
            if t <= 0 || t > MAX_AFFINITY_TIMEOUT_SECONDS as i32 {
                let detail = format!("must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT_SECONDS}");
                errs.push(FieldError::invalid_num(
                    cfg_path.key("clientIP").key("timeoutSeconds"),
                    t.into(),
                    detail,
                ));
            }
            SessionAffinity::ClientIp { timeout_seconds: t.max(0) as u32 }
        }
        Some(other) => {
            push_unsupported(errs, spec.key("sessionAffinity"), other, &["ClientIP", "None"]);
            SessionAffinity::None
        }
    }
}

/// `spec.externalIPs`: valid, and not special (`ValidateNonSpecialIP`).
fn external_ips(path: &FieldPath, s: &k8s::ServiceSpec, errs: &mut Vec<FieldError>) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for (i, ip) in s.external_ips.iter().flatten().enumerate() {
        let p = path.index(i);
        let Some(a) = parse_ipv4(&p, ip, errs) else { continue };
        let special = if a.is_unspecified() {
            Some("may not be unspecified (0.0.0.0)")
        } else if a.is_loopback() {
            Some("may not be in the loopback range (127.0.0.0/8, ::1/128)")
        } else if a.is_link_local() {
            Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
        } else if a.octets()[..3] == [224, 0, 0] {
            Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        } else {
            None
        };
        match special {
            Some(detail) => errs.push(FieldError::invalid_str(p, ip, detail)),
            None => out.push(a),
        }
    }
    out
}

/// `spec.loadBalancerSourceRanges` (whitespace-trimmed CIDRs). The apiserver names the
/// field `spec.LoadBalancerSourceRanges` in these messages; so does kube-netsim.
fn source_ranges(
    spec: &FieldPath,
    s: &k8s::ServiceSpec,
    t: ServiceType,
    errs: &mut Vec<FieldError>,
) -> Vec<Ipv4Net> {
    let raw = s.load_balancer_source_ranges.clone().unwrap_or_default();
    if raw.is_empty() {
        return Vec::new();
    }
    let path = spec.key("LoadBalancerSourceRanges");
    if t != ServiceType::LoadBalancer {
        errs.push(FieldError::forbidden(path.clone(), "may only be used when `type` is 'LoadBalancer'"));
    }
    let parsed: Result<Vec<Ipv4Net>, _> = raw.iter().map(|r| r.trim().parse::<Ipv4Net>()).collect();
    match parsed {
        Ok(v) => v.into_iter().map(|n| n.trunc()).collect(),
        Err(_) => {
            let shown = format!("[{}]", raw.join(" "));
            let detail = "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ";
            errs.push(FieldError::invalid_str(path, &shown, detail));
            Vec::new()
        }
    }
}

fn external_policy(
    spec: &FieldPath,
    s: &k8s::ServiceSpec,
    accessible: bool,
    errs: &mut Vec<FieldError>,
) -> Option<TrafficPolicy> {
    let path = spec.key("externalTrafficPolicy");
    match (s.external_traffic_policy.as_deref(), accessible) {
        (None | Some(""), false) => None,
        (Some(v), false) => {
            errs.push(FieldError::invalid_str(path, v, "may only be set for externally-accessible services"));
            None
        }
        (None | Some("") | Some("Cluster"), true) => Some(TrafficPolicy::Cluster),
        (Some("Local"), true) => Some(TrafficPolicy::Local),
        (Some(other), true) => {
            push_unsupported(errs, path, other, &["Cluster", "Local"]);
            None
        }
    }
}

fn health_check_node_port(
    spec: &FieldPath,
    s: &k8s::ServiceSpec,
    needed: bool,
    errs: &mut Vec<FieldError>,
) -> Option<u16> {
    let hc = s.health_check_node_port.filter(|p| *p != 0)?;
    let path = spec.key("healthCheckNodePort");
    if !needed {
        let detail = "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'";
        errs.push(FieldError::invalid_num(path, hc.into(), detail));
        return None;
    }
    port_num(path, hc, errs)
}
