//! Normalised Kubernetes objects: defaulted and validated as the apiserver does, with its
//! error messages (`metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain
//! must consist of ...`). A value of these types is always valid ("parse, don't validate").
//!
//! Each type is built from its k8s-openapi counterpart by `from_k8s`, which returns every
//! [`FieldError`] found with a path relative to the object; `manifest::Source::locate`
//! turns the path into `file:line:col`. Service, Deployment and friends are parsed by
//! `manifest` and kept as k8s-openapi objects until their model types arrive.

pub mod deployment;
pub mod endpointslice;
pub mod field;
pub mod ingress;
mod meta;
pub mod names;
pub mod node;
pub mod pod;
pub mod secret;
pub mod selector;
pub mod service;

pub use field::{FieldError, FieldErrorKind, FieldPath, PathSeg};
pub use node::Node;
pub use pod::{Container, ContainerPort, DEFAULT_NAMESPACE, DnsPolicy, Pod, Protocol};

/// An object a timeline `apply:` step submits, already validated (and, for a Service,
/// admitted: its ClusterIP and nodePorts allocated or kept from the live object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    Pod(Pod),
    Service(service::Service),
    Deployment(deployment::Deployment),
}
