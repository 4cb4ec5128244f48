//! The service environment variables the kubelet gives a container
//! (pkg/kubelet/envvars/envvars.go `FromServices`, pkg/kubelet/kubelet_pods.go
//! `getServiceEnvVarMap`): for every service with a ClusterIP that exists when the
//! container starts — those of the pod's namespace (unless `enableServiceLinks: false`)
//! and `default/kubernetes` — `NAME_SERVICE_HOST`, `NAME_SERVICE_PORT`,
//! `NAME_SERVICE_PORT_<PORTNAME>` for each named port, then Docker link variables
//! `NAME_PORT`, `NAME_PORT_<PORT>_<PROTO>{,_PROTO,_PORT,_ADDR}`.
//!
//! The kubelet collects them through Go maps, so a real container's environment has no
//! fixed order; [`for_pod`] returns them sorted by name (what `env | sort` shows).

use std::collections::BTreeMap;

use crate::model::Pod;
use crate::model::service::{ClusterIp, Service};

/// `web-api` → `WEB_API` (envvars.go `makeEnvVariableName`).
fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// The variables of one service, in the order envvars.go appends them.
pub fn from_service(svc: &Service) -> Vec<(String, String)> {
    let ClusterIp::Ip(ip) = svc.cluster_ip else { return vec![] };
    let Some(first) = svc.ports.first() else { return vec![] };
    let prefix = env_name(&svc.name);
    let mut out = vec![
        (format!("{prefix}_SERVICE_HOST"), ip.to_string()),
        (format!("{prefix}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in svc.ports.iter().filter(|p| !p.name.is_empty()) {
        out.push((format!("{prefix}_SERVICE_PORT_{}", env_name(&p.name)), p.port.to_string()));
    }
    for (i, p) in svc.ports.iter().enumerate() {
        let proto = p.protocol.as_str();
        let url = format!("{}://{ip}:{}", proto.to_lowercase(), p.port);
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
        out.push((pp.clone(), url));
        out.push((format!("{pp}_PROTO"), proto.to_lowercase()));
        out.push((format!("{pp}_PORT"), p.port.to_string()));
        out.push((format!("{pp}_ADDR"), ip.to_string()));
    }
    out
}

/// The service variables of a container of `pod` started while `services` exist,
/// sorted by name. The master service `default/kubernetes` is always included; a
/// service of the pod's own namespace with the same name wins over it.
pub fn for_pod<'a>(pod: &Pod, services: impl Iterator<Item = &'a Service>) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for s in services.filter(|s| matches!(s.cluster_ip, ClusterIp::Ip(_))) {
        if s.namespace == crate::model::DEFAULT_NAMESPACE && s.name == "kubernetes" {
            chosen.entry(s.name.clone()).or_insert(s);
        } else if s.namespace == pod.namespace && pod.enable_service_links {
            chosen.insert(s.name.clone(), s);
        }
    }
    let mut out: Vec<(String, String)> = chosen.values().flat_map(|s| from_service(s)).collect();
    out.sort();
    out
}
