//! `Pod`: the fields of a v1 Pod that the network cares about, defaulted and validated as
//! the apiserver does (pkg/apis/core/v1/defaults.go, pkg/apis/core/validation).
//!
//! Deviations: `metadata.generateName` is refused (names must be known before the run so
//! probes can name pods); init and ephemeral containers are ignored (they do not listen).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as k8s;

use super::field::{FieldError, FieldErrorKind, FieldPath};
use super::names;

/// The namespace of an object whose manifest names none (`kubectl apply` uses the
/// context's namespace; kube-netsim has one context, `default`).
pub const DEFAULT_NAMESPACE: &str = "default";

/// A transport protocol of a container port (`corev1.Protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The spelling in manifests: `TCP`, `UDP`, `SCTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// `containers[].ports[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: u16,
    /// Defaults to TCP.
    pub protocol: Protocol,
    /// With `hostNetwork: true` this defaults to `container_port`, as the apiserver does.
    pub host_port: Option<u16>,
}

/// `spec.dnsPolicy`: where the pod's `/etc/resolv.conf` comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DnsPolicy {
    /// The default: the cluster DNS, except for hostNetwork pods, which get the node's.
    #[default]
    ClusterFirst,
    /// The cluster DNS even for a hostNetwork pod.
    ClusterFirstWithHostNet,
    /// The node's resolver configuration.
    Default,
}

impl DnsPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DnsPolicy::ClusterFirst => "ClusterFirst",
            DnsPolicy::ClusterFirstWithHostNet => "ClusterFirstWithHostNet",
            DnsPolicy::Default => "Default",
        }
    }
}

/// `spec.containers[]`: a name and the ports it declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub ports: Vec<ContainerPort>,
}

/// A validated, defaulted pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `spec.nodeName`: set means "already scheduled there"; unset means the scheduler picks.
    pub node_name: Option<String>,
    pub host_network: bool,
    pub dns_policy: DnsPolicy,
    /// `spec.enableServiceLinks` (default true): the kubelet sets the Docker-link style
    /// variables of the namespace's services.
    pub enable_service_links: bool,
    pub containers: Vec<Container>,
}

impl Pod {
    /// Validates and defaults a k8s-openapi Pod; every problem found is returned at once,
    /// each with its field path (relative to the object).
    pub fn from_k8s(pod: &k8s::Pod) -> Result<Pod, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&pod.metadata, true, &mut errs);
        let spec_path = FieldPath::parse("spec");
        let (mut dns_policy, mut enable_service_links) = (DnsPolicy::ClusterFirst, true);
        let (containers, node_name, host_network) = match &pod.spec {
            Some(spec) => {
                let host_network = spec.host_network.unwrap_or(false);
                let containers = check_containers(&spec_path, &spec.containers, host_network, &mut errs);
                if let Some(n) = &spec.node_name {
                    names::check_dns1123_subdomain(&spec_path.key("nodeName"), n, &mut errs);
                }
                dns_policy = check_dns_policy(&spec_path, spec.dns_policy.as_deref(), &mut errs);
                enable_service_links = spec.enable_service_links.unwrap_or(true);
                (containers, spec.node_name.clone().filter(|n| !n.is_empty()), host_network)
            }
            None => {
                errs.push(FieldError::required(spec_path.key("containers"), None));
                (Vec::new(), None, false)
            }
        };
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        check_app(&annotations, &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Pod {
            namespace: meta.namespace,
            name: meta.name,
            labels: meta.labels,
            annotations,
            node_name,
            host_network,
            dns_policy,
            enable_service_links,
            containers,
        })
    }

    /// `NAMESPACE/NAME`
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// `kube-netsim.io/app` must name a built-in program (the simulator's own convention:
/// the apiserver accepts any annotation, but a typo here would silently run the default).
fn check_app(annotations: &BTreeMap<String, String>, errs: &mut Vec<FieldError>) {
    let Some(v) = annotations.get(crate::apps::APP_ANNOTATION) else { return };
    if !crate::apps::APP_VALUES.contains(&v.as_str()) {
        let kind = FieldErrorKind::Unsupported {
            value: format!("{v:?}"),
            supported: crate::apps::APP_VALUES.iter().map(|s| s.to_string()).collect(),
        };
        let path = FieldPath::parse("metadata.annotations").key(crate::apps::APP_ANNOTATION);
        errs.push(FieldError { path, kind });
    }
}

/// `dnsPolicy`: `None` (which needs `dnsConfig`) is not modelled and refused.
fn check_dns_policy(spec: &FieldPath, v: Option<&str>, errs: &mut Vec<FieldError>) -> DnsPolicy {
    match v {
        None | Some("") | Some("ClusterFirst") => DnsPolicy::ClusterFirst,
        Some("ClusterFirstWithHostNet") => DnsPolicy::ClusterFirstWithHostNet,
        Some("Default") => DnsPolicy::Default,
        Some(other) => {
            let kind = FieldErrorKind::Unsupported {
                value: format!("{other:?}"),
                supported: vec!["ClusterFirst".into(), "ClusterFirstWithHostNet".into(), "Default".into()],
            };
            errs.push(FieldError { path: spec.key("dnsPolicy"), kind });
            DnsPolicy::ClusterFirst
        }
    }
}

fn check_containers(
    spec: &FieldPath,
    containers: &[k8s::Container],
    host_network: bool,
    errs: &mut Vec<FieldError>,
) -> Vec<Container> {
    let path = spec.key("containers");
    if containers.is_empty() {
        errs.push(FieldError::required(path, None));
        return Vec::new();
    }
    let mut seen_names: Vec<&str> = Vec::new();
    let mut seen_ports: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let cpath = path.index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(cpath.key("name"), None));
        } else {
            names::check_dns1123_label(&cpath.key("name"), &c.name, errs);
            if seen_names.contains(&c.name.as_str()) {
                errs.push(FieldError::duplicate_str(cpath.key("name"), &c.name));
            }
            seen_names.push(&c.name);
        }
        let image = c.image.clone().unwrap_or_default();
        if image.trim().is_empty() {
            errs.push(FieldError::required(cpath.key("image"), None));
        }
        let ports_path = cpath.key("ports");
        let mut ports = Vec::new();
        for (j, p) in c.ports.iter().flatten().enumerate() {
            let ppath = ports_path.index(j);
            if let Some(n) = p.name.as_deref() {
                names::check_port_name(&ppath.key("name"), n, errs);
                if seen_ports.contains(&n) {
                    errs.push(FieldError::duplicate_str(ppath.key("name"), n));
                }
                seen_ports.push(n);
            }
            ports.extend(check_port(&ppath, p, host_network, errs));
        }
        out.push(Container { name: c.name.clone(), image, ports });
    }
    out
}

fn port_number(path: FieldPath, n: i32, errs: &mut Vec<FieldError>) -> Option<u16> {
    match u16::try_from(n) {
        Ok(v) if v >= 1 => Some(v),
        _ => {
            errs.push(FieldError::invalid_num(path, n.into(), "must be between 1 and 65535, inclusive"));
            None
        }
    }
}

fn check_port(
    path: &FieldPath,
    p: &k8s::ContainerPort,
    host_network: bool,
    errs: &mut Vec<FieldError>,
) -> Option<ContainerPort> {
    let container_port = port_number(path.key("containerPort"), p.container_port, errs);
    // hostPort 0 means "not set" in the API.
    let host_port = match p.host_port {
        None | Some(0) => None,
        Some(h) => port_number(path.key("hostPort"), h, errs),
    };
    let protocol = match p.protocol.as_deref() {
        None | Some("TCP") => Some(Protocol::Tcp),
        Some("UDP") => Some(Protocol::Udp),
        Some("SCTP") => Some(Protocol::Sctp),
        Some(other) => {
            let kind = FieldErrorKind::Unsupported {
                value: format!("{other:?}"),
                supported: vec!["SCTP".into(), "TCP".into(), "UDP".into()],
            };
            errs.push(FieldError { path: path.key("protocol"), kind });
            None
        }
    };
    let container_port = container_port?;
    let host_port = match (host_network, host_port) {
        (true, None) => Some(container_port),
        (true, Some(h)) if h != container_port => {
            let detail = "must match `containerPort` when `hostNetwork` is true";
            errs.push(FieldError::invalid_num(path.key("hostPort"), h.into(), detail));
            None
        }
        (_, h) => h,
    };
    Some(ContainerPort { name: p.name.clone(), container_port, protocol: protocol?, host_port })
}
