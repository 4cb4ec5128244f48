//! The pre-1.22 Ingress shape (`extensions/v1beta1`, `networking.k8s.io/v1beta1`) that
//! older tutorials use: `backend: {serviceName, servicePort}`, `spec.backend`, and no
//! required `pathType`. Read strictly like every manifest, then converted to
//! networking.k8s.io/v1 the way the apiserver's conversion does (a missing `pathType` is
//! defaulted to `ImplementationSpecific`, `servicePort` becomes `port.number` or
//! `port.name`), with the deprecation warning kubectl prints for these versions.

use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;

/// The two old group versions that served Ingress.
pub const VERSIONS: [&str; 2] = ["extensions/v1beta1", "networking.k8s.io/v1beta1"];

/// kubectl's warning for an object of a deprecated version (from the apiserver's
/// `Warning` header).
pub fn deprecation_warning(api_version: &str) -> String {
    let since = if api_version.starts_with("extensions/") { "v1.14+" } else { "v1.19+" };
    format!(
        "{api_version} Ingress is deprecated in {since}, unavailable in v1.22+; use networking.k8s.io/v1 Ingress"
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    #[serde(rename = "apiVersion")]
    pub _api_version: String,
    #[serde(rename = "kind")]
    pub _kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub ingress_class_name: Option<String>,
    pub backend: Option<Backend>,
    pub rules: Option<Vec<Rule>>,
    pub tls: Option<Vec<net::IngressTLS>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    #[serde(default)]
    pub service_name: String,
    pub service_port: Option<IntOrString>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub host: Option<String>,
    pub http: Option<Http>,
}

#[derive(Debug, Deserialize)]
pub struct Http {
    pub paths: Vec<Path>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Path {
    pub path: Option<String>,
    pub path_type: Option<String>,
    pub backend: Backend,
}

fn backend(b: &Backend) -> net::IngressBackend {
    let port = match &b.service_port {
        Some(IntOrString::Int(n)) => net::ServiceBackendPort { number: Some(*n), name: None },
        Some(IntOrString::String(s)) => net::ServiceBackendPort { number: None, name: Some(s.clone()) },
        None => net::ServiceBackendPort::default(),
    };
    net::IngressBackend {
        resource: None,
        service: Some(net::IngressServiceBackend { name: b.service_name.clone(), port: Some(port) }),
    }
}

impl Ingress {
    /// The networking.k8s.io/v1 object the apiserver stores.
    pub fn to_v1(&self) -> net::Ingress {
        let rules = self.spec.rules.as_ref().map(|rules| {
            rules
                .iter()
                .map(|r| net::IngressRule {
                    host: r.host.clone(),
                    http: r.http.as_ref().map(|h| net::HTTPIngressRuleValue {
                        paths: h
                            .paths
                            .iter()
                            .map(|p| net::HTTPIngressPath {
                                path: p.path.clone(),
                                path_type: p
                                    .path_type
                                    .clone()
                                    .unwrap_or_else(|| "ImplementationSpecific".into()),
                                backend: backend(&p.backend),
                            })
                            .collect(),
                    }),
                })
                .collect()
        });
        net::Ingress {
            metadata: self.metadata.clone(),
            spec: Some(net::IngressSpec {
                default_backend: self.spec.backend.as_ref().map(backend),
                ingress_class_name: self.spec.ingress_class_name.clone(),
                rules,
                tls: self.spec.tls.clone(),
            }),
            status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_and_port_become_a_v1_backend_and_path_type_is_defaulted() {
        let y = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\nspec:\n  backend: {serviceName: d, servicePort: http}\n  rules:\n  - host: test.name.com\n    http:\n      paths:\n      - {path: /test, backend: {serviceName: test, servicePort: 80}}\n";
        let old: Ingress = serde_norway::from_str(y).unwrap();
        let v1 = old.to_v1();
        let spec = v1.spec.unwrap();
        let rules = spec.rules.unwrap();
        let p = &rules[0].http.as_ref().unwrap().paths[0];
        assert_eq!(p.path_type, "ImplementationSpecific");
        let svc = p.backend.service.as_ref().unwrap();
        assert_eq!((svc.name.as_str(), svc.port.as_ref().unwrap().number), ("test", Some(80)));
        let d = spec.default_backend.unwrap().service.unwrap();
        assert_eq!(d.port.unwrap().name.as_deref(), Some("http"));
        assert_eq!(
            deprecation_warning("extensions/v1beta1"),
            "extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress"
        );
    }
}
