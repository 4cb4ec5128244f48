//! `metadata`: name, namespace and labels, checked like the apiserver's `ValidateObjectMeta`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::field::{FieldError, FieldPath};
use super::names;
use super::pod::DEFAULT_NAMESPACE;

/// The checked parts of `metadata`.
pub(crate) struct Meta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// Checks `metadata`; `namespaced` objects get `default` when no namespace is given.
pub(crate) fn check_meta(meta: &ObjectMeta, namespaced: bool, errs: &mut Vec<FieldError>) -> Meta {
    let path = FieldPath::parse("metadata");
    let name = meta.name.clone().unwrap_or_default();
    if name.is_empty() {
        if meta.generate_name.as_deref().is_some_and(|g| !g.is_empty()) {
            let detail = "kube-netsim needs every object named up front: set metadata.name";
            errs.push(FieldError::forbidden(path.key("generateName"), detail));
        } else {
            errs.push(FieldError::required(path.key("name"), Some("name or generateName is required")));
        }
    } else {
        names::check_dns1123_subdomain(&path.key("name"), &name, errs);
    }
    let namespace = match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() && namespaced => {
            names::check_dns1123_label(&path.key("namespace"), ns, errs);
            ns.to_string()
        }
        _ if namespaced => DEFAULT_NAMESPACE.to_string(),
        _ => String::new(),
    };
    let labels = meta.labels.clone().unwrap_or_default();
    names::check_labels(&path.key("labels"), &labels, errs);
    for key in meta.annotations.iter().flatten().map(|(k, _)| k) {
        names::check_qualified_name(&path.key("annotations"), key, errs);
    }
    Meta { name, namespace, labels }
}
