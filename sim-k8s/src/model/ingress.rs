//! `Ingress` and `IngressClass` (networking.k8s.io/v1), validated like
//! pkg/apis/networking/validation (`pathType must be specified`, `must be an absolute
//! path`, `either `defaultBackend` or `rules` must be specified`, hosts as DNS names or
//! `*.` wildcards, backends naming a service and a port), with the apiserver's messages.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1 as net;

use super::field::{FieldError, FieldErrorKind, FieldPath};
use super::names;

/// `ingressclass.kubernetes.io/is-default-class: "true"` marks the class the apiserver's
/// DefaultIngressClass admission plugin gives Ingresses created without one.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// The legacy class annotation, still honoured by ingress-nginx.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

const WILDCARD_MSG: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const INVALID_PATH_SEQUENCES: [&str; 5] = ["//", "/./", "/../", "%2f", "%2F"];
const INVALID_PATH_SUFFIXES: [&str; 2] = ["/..", "/."];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathType {
    Exact,
    Prefix,
    ImplementationSpecific,
}

impl PathType {
    pub fn as_str(self) -> &'static str {
        match self {
            PathType::Exact => "Exact",
            PathType::Prefix => "Prefix",
            PathType::ImplementationSpecific => "ImplementationSpecific",
        }
    }
}

/// A backend service port, by number or by the Service port's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendPort {
    Number(u16),
    Name(String),
}

impl std::fmt::Display for BackendPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendPort::Number(n) => write!(f, "{n}"),
            BackendPort::Name(n) => write!(f, "{n}"),
        }
    }
}

/// `backend.service` (resource backends are rejected: nothing serves them here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub service: String,
    pub port: BackendPort,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressPath {
    /// `""` only with ImplementationSpecific (ingress-nginx reads it as `/`).
    pub path: String,
    pub path_type: PathType,
    pub backend: Backend,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressRule {
    /// `None`: every host.
    pub host: Option<String>,
    pub paths: Vec<IngressPath>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressTls {
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

/// A validated Ingress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingress {
    pub namespace: String,
    pub name: String,
    pub annotations: BTreeMap<String, String>,
    /// `spec.ingressClassName`, after the DefaultIngressClass admission plugin.
    pub class_name: Option<String>,
    pub default_backend: Option<Backend>,
    pub rules: Vec<IngressRule>,
    pub tls: Vec<IngressTls>,
}

/// A validated IngressClass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressClass {
    pub name: String,
    pub controller: String,
    pub is_default: bool,
}

impl IngressClass {
    pub fn from_k8s(c: &net::IngressClass) -> Result<IngressClass, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&c.metadata, false, &mut errs);
        let controller = c.spec.as_ref().and_then(|s| s.controller.clone()).unwrap_or_default();
        if controller.is_empty() {
            errs.push(FieldError::required(FieldPath::parse("spec.controller"), None));
        }
        let is_default = c
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
            .is_some_and(|v| v == "true");
        if errs.is_empty() { Ok(IngressClass { name: meta.name, controller, is_default }) } else { Err(errs) }
    }
}

impl Ingress {
    pub fn from_k8s(i: &net::Ingress) -> Result<Ingress, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&i.metadata, true, &mut errs);
        let spec = i.spec.clone().unwrap_or_default();
        let sp = FieldPath::parse("spec");
        let rules_in = spec.rules.clone().unwrap_or_default();
        if rules_in.is_empty() && spec.default_backend.is_none() {
            errs.push(FieldError {
                path: sp.clone(),
                kind: FieldErrorKind::Invalid {
                    value: "null".into(),
                    detail: "either `defaultBackend` or `rules` must be specified".into(),
                },
            });
        }
        let default_backend =
            spec.default_backend.as_ref().and_then(|b| backend(b, &sp.key("defaultBackend"), &mut errs));
        let mut rules = Vec::new();
        for (r, rule) in rules_in.iter().enumerate() {
            let rp = sp.key("rules").index(r);
            let host = rule.host.clone().filter(|h| !h.is_empty());
            if let Some(h) = &host {
                check_host(&rp.key("host"), h, &mut errs);
            }
            let mut paths = Vec::new();
            if let Some(http) = &rule.http {
                if http.paths.is_empty() {
                    errs.push(FieldError::required(rp.key("http").key("paths"), None));
                }
                for (k, p) in http.paths.iter().enumerate() {
                    let pp = rp.key("http").key("paths").index(k);
                    if let Some(x) = http_path(p, &pp, &mut errs) {
                        paths.push(x);
                    }
                }
            }
            rules.push(IngressRule { host, paths });
        }
        let mut tls = Vec::new();
        for (t, entry) in spec.tls.iter().flatten().enumerate() {
            let tp = sp.key("tls").index(t);
            let hosts = entry.hosts.clone().unwrap_or_default();
            for (h, host) in hosts.iter().enumerate() {
                check_dns_or_wildcard(&tp.key("hosts").index(h), host, &mut errs);
            }
            if let Some(s) = entry.secret_name.as_deref().filter(|s| !s.is_empty()) {
                names::check_dns1123_subdomain(&tp.key("secretName"), s, &mut errs);
            }
            tls.push(IngressTls { hosts, secret_name: entry.secret_name.clone().filter(|s| !s.is_empty()) });
        }
        if let Some(c) = &spec.ingress_class_name {
            names::check_dns1123_subdomain(&sp.key("ingressClassName"), c, &mut errs);
        }
        let annotations: BTreeMap<String, String> =
            i.metadata.annotations.clone().unwrap_or_default().into_iter().collect();
        if let (Some(a), Some(c)) = (annotations.get(LEGACY_CLASS_ANNOTATION), &spec.ingress_class_name)
            && a != c
        {
            errs.push(FieldError::invalid_str(
                FieldPath::root().key("annotations").key(LEGACY_CLASS_ANNOTATION),
                a,
                "must match `ingressClassName` when both are specified",
            ));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Ingress {
            namespace: meta.namespace,
            name: meta.name,
            annotations,
            class_name: spec.ingress_class_name.clone(),
            default_backend,
            rules,
            tls,
        })
    }

    /// `NAMESPACE/NAME`
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The class this Ingress asks for: `ingressClassName`, else the legacy annotation.
    pub fn class(&self) -> Option<&str> {
        self.class_name
            .as_deref()
            .or_else(|| self.annotations.get(LEGACY_CLASS_ANNOTATION).map(String::as_str))
    }
}

fn check_host(path: &FieldPath, host: &str, errs: &mut Vec<FieldError>) {
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.parse::<std::net::Ipv6Addr>().is_ok() {
        errs.push(FieldError::invalid_str(path.clone(), host, "must be a DNS name, not an IP address"));
    }
    check_dns_or_wildcard(path, host, errs);
}

fn check_dns_or_wildcard(path: &FieldPath, host: &str, errs: &mut Vec<FieldError>) {
    if host.contains('*') {
        let ok = host.strip_prefix("*.").is_some_and(names::is_dns1123_subdomain);
        if !ok {
            errs.push(FieldError::invalid_str(path.clone(), host, WILDCARD_MSG));
        }
    } else {
        names::check_dns1123_subdomain(path, host, errs);
    }
}

fn http_path(p: &net::HTTPIngressPath, path: &FieldPath, errs: &mut Vec<FieldError>) -> Option<IngressPath> {
    // k8s-openapi reads a missing `pathType` as "" (the API's field is a pointer).
    let pt = p.path_type.as_str();
    if pt.is_empty() {
        errs.push(FieldError::required(path.key("pathType"), Some("pathType must be specified")));
        return None;
    }
    let value = p.path.clone().unwrap_or_default();
    let before = errs.len();
    let path_type = match pt {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid_str(path.key("path"), &value, "must be an absolute path"));
            }
            for seq in INVALID_PATH_SEQUENCES.iter().filter(|s| value.contains(**s)) {
                errs.push(FieldError::invalid_str(
                    path.key("path"),
                    &value,
                    format!("must not contain '{seq}'"),
                ));
            }
            for suf in INVALID_PATH_SUFFIXES.iter().filter(|s| value.ends_with(**s)) {
                errs.push(FieldError::invalid_str(
                    path.key("path"),
                    &value,
                    format!("cannot end with '{suf}'"),
                ));
            }
            if pt == "Exact" { PathType::Exact } else { PathType::Prefix }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid_str(path.key("path"), &value, "must be an absolute path"));
            }
            PathType::ImplementationSpecific
        }
        other => {
            errs.push(FieldError {
                path: path.key("pathType"),
                kind: FieldErrorKind::Unsupported {
                    value: format!("{other:?}"),
                    supported: vec!["Exact".into(), "ImplementationSpecific".into(), "Prefix".into()],
                },
            });
            return None;
        }
    };
    let backend = backend(&p.backend, &path.key("backend"), errs)?;
    (errs.len() == before).then_some(IngressPath { path: value, path_type, backend })
}

fn backend(b: &net::IngressBackend, path: &FieldPath, errs: &mut Vec<FieldError>) -> Option<Backend> {
    let invalid = |detail: &str| FieldError {
        path: path.clone(),
        kind: FieldErrorKind::Invalid { value: "\"\"".into(), detail: detail.into() },
    };
    let svc = match (&b.resource, &b.service) {
        (Some(_), Some(_)) => {
            errs.push(invalid("cannot set both resource and service backends"));
            return None;
        }
        (Some(_), None) => {
            let d = "kube-netsim models service backends only (no controller serves resource backends)";
            errs.push(FieldError::forbidden(path.key("resource"), d));
            return None;
        }
        (None, None) => {
            errs.push(invalid("resource or service backend is required"));
            return None;
        }
        (None, Some(s)) => s,
    };
    let before = errs.len();
    if svc.name.is_empty() {
        errs.push(FieldError::required(path.key("service").key("name"), None));
    } else {
        names::check_dns1123_label(&path.key("service").key("name"), &svc.name, errs);
    }
    let port = svc.port.clone().unwrap_or_default();
    let name = port.name.filter(|n| !n.is_empty());
    let number = port.number.filter(|n| *n != 0);
    let port = match (name, number) {
        (Some(_), Some(_)) => {
            errs.push(invalid("cannot set both port name & port number"));
            None
        }
        (Some(n), None) => {
            names::check_port_name(&path.key("service").key("port").key("name"), &n, errs);
            Some(BackendPort::Name(n))
        }
        (None, Some(n)) => match u16::try_from(n) {
            Ok(p) => Some(BackendPort::Number(p)),
            Err(_) => {
                let p = path.key("service").key("port").key("number");
                errs.push(FieldError::invalid_num(p, n.into(), "must be between 1 and 65535, inclusive"));
                None
            }
        },
        (None, None) => {
            errs.push(FieldError::required(path.clone(), Some("port name or number is required")));
            None
        }
    };
    let port = port?;
    (errs.len() == before).then(|| Backend { service: svc.name.clone(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(yaml: &str) -> Result<Ingress, Vec<String>> {
        let i: net::Ingress = serde_norway::from_str(yaml).unwrap();
        Ingress::from_k8s(&i).map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn path_type_is_required_in_v1() {
        let e = ingress(
            "metadata: {name: a}\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /x\n        backend: {service: {name: web, port: {number: 80}}}\n",
        )
        .unwrap_err();
        assert_eq!(e, ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]);
    }

    #[test]
    fn paths_must_be_absolute_and_clean() {
        let e = ingress(
            "metadata: {name: a}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: x, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n      - {path: /a//b, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            [
                "spec.rules[0].http.paths[0].path: Invalid value: \"x\": must be an absolute path",
                "spec.rules[0].http.paths[1].path: Invalid value: \"/a//b\": must not contain '//'",
            ]
        );
    }

    #[test]
    fn hosts_are_dns_names_or_one_leading_wildcard() {
        let e = ingress(
            "metadata: {name: a}\nspec:\n  rules:\n  - {host: 10.0.0.1}\n  - {host: 'a.*.com'}\n  - {host: '*.ok.com'}\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with(
            "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address"
        ));
        assert!(
            e[1].starts_with("spec.rules[1].host: Invalid value: \"a.*.com\": a wildcard DNS-1123 subdomain")
        );
    }

    #[test]
    fn an_ingress_needs_rules_or_a_default_backend_and_ports() {
        let e = ingress("metadata: {name: a}\nspec: {}\n").unwrap_err();
        assert_eq!(e, ["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"]);
        let e = ingress("metadata: {name: a}\nspec: {defaultBackend: {service: {name: web}}}\n").unwrap_err();
        assert_eq!(e, ["spec.defaultBackend: Required value: port name or number is required"]);
    }
}
