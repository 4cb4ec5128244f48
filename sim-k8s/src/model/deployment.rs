//! `Deployment` and `ReplicaSet` (apps/v1): replicas, a label selector and a pod
//! template, validated like pkg/apis/apps/validation (`selector` must match the
//! template's labels, `replicas` non-negative, `restartPolicy: Always`); the template's
//! pod spec is checked by [`Pod::from_k8s`], its errors moved under `spec.template`.
//!
//! Deviation: `pod-template-hash` is an FNV-1a hash of the template's canonical JSON,
//! encoded like `rand.SafeEncodeString`; the real controller hashes a `spew` dump, so
//! the hash (and the ReplicaSet and pod names built from it) differ from a real
//! cluster's, but are stable run after run.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as K8sSelector, ObjectMeta};

use super::field::{FieldError, FieldErrorKind, FieldPath, PathSeg};
use super::pod::Pod;
use super::selector::{LabelSelector, RANDOM_ALPHABET, generate_name, go_map};

/// What Deployments and ReplicaSets share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    /// Default 1.
    pub replicas: u32,
    pub selector: LabelSelector,
    /// The template as a pod named after the workload; replicas get their own names.
    pub template: Pod,
}

/// A validated Deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment(pub Workload);

/// A validated ReplicaSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSet(pub Workload);

impl Deployment {
    pub fn from_k8s(d: &apps::Deployment) -> Result<Deployment, Vec<FieldError>> {
        let spec = d.spec.clone().unwrap_or_default();
        workload(&d.metadata, spec.replicas, &spec.selector, Some(&spec.template)).map(Deployment)
    }

    /// `<deployment>-<pod-template-hash>`, the ReplicaSet the Deployment creates.
    pub fn replica_set_name(&self) -> String {
        format!("{}-{}", self.0.name, pod_template_hash(&self.0.template))
    }
}

impl ReplicaSet {
    pub fn from_k8s(r: &apps::ReplicaSet) -> Result<ReplicaSet, Vec<FieldError>> {
        let spec = r.spec.clone().unwrap_or_default();
        workload(&r.metadata, spec.replicas, &spec.selector, spec.template.as_ref()).map(ReplicaSet)
    }

    /// A new replica's name: `<replicaset>-` plus 5 random characters.
    pub fn pod_name(&self, rng: &mut sim_core::SimRng) -> String {
        generate_name(&format!("{}-", self.0.name), rng)
    }
}

fn workload(
    meta: &ObjectMeta,
    replicas: Option<i32>,
    selector: &K8sSelector,
    template: Option<&core::PodTemplateSpec>,
) -> Result<Workload, Vec<FieldError>> {
    let mut errs = Vec::new();
    let m = super::meta::check_meta(meta, true, &mut errs);
    let spec = FieldPath::parse("spec");
    let replicas = replicas.unwrap_or(1);
    if replicas < 0 {
        errs.push(FieldError::invalid_num(
            spec.key("replicas"),
            replicas.into(),
            "must be greater than or equal to 0",
        ));
    }
    let sel = LabelSelector::from_k8s(&spec.key("selector"), selector, &mut errs);
    if sel.is_empty() {
        let kind = FieldErrorKind::Invalid {
            value: sel.go_repr(),
            detail: "empty selector is invalid for deployment".into(),
        };
        errs.push(FieldError { path: spec.key("selector"), kind });
    }
    let tpath = spec.key("template");
    let Some(template) = template else {
        errs.push(FieldError::required(tpath, None));
        return Err(errs);
    };
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    if !sel.is_empty() && !sel.matches(&labels) {
        let kind = FieldErrorKind::Invalid {
            value: go_map(&labels),
            detail: "`selector` does not match template `labels`".into(),
        };
        errs.push(FieldError { path: tpath.key("metadata").key("labels"), kind });
    }
    let pod = template_pod(&m.name, &m.namespace, template, &mut errs);
    match pod {
        Some(template) if errs.is_empty() => Ok(Workload {
            namespace: m.namespace,
            name: m.name,
            replicas: replicas as u32,
            selector: sel,
            template,
        }),
        _ => Err(errs),
    }
}

/// The template checked as a pod; errors are moved under `spec.template`.
fn template_pod(name: &str, ns: &str, t: &core::PodTemplateSpec, errs: &mut Vec<FieldError>) -> Option<Pod> {
    let restart = t.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    if restart != "Always" {
        let path = FieldPath::parse("spec.template.spec.restartPolicy");
        let kind =
            FieldErrorKind::Unsupported { value: format!("{restart:?}"), supported: vec!["Always".into()] };
        errs.push(FieldError { path, kind });
    }
    let mut metadata = t.metadata.clone().unwrap_or_default();
    metadata.name = Some(if name.is_empty() { "template".into() } else { name.to_string() });
    metadata.namespace = Some(ns.to_string());
    let pod = core::Pod { metadata, spec: Some(t.spec.clone().unwrap_or_default()), status: None };
    match Pod::from_k8s(&pod) {
        Ok(p) => Some(p),
        Err(pod_errs) => {
            let base = FieldPath::parse("spec.template");
            errs.extend(pod_errs.into_iter().filter(|e| !is_name_error(e)).map(|mut e| {
                e.path = base.join(&e.path);
                e
            }));
            None
        }
    }
}

/// The template's name is ours, not the user's: never report it.
fn is_name_error(e: &FieldError) -> bool {
    matches!(e.path.0.as_slice(), [PathSeg::Key(a), PathSeg::Key(b)] if a == "metadata" && (b == "name" || b == "namespace"))
}

/// A stable stand-in for `pod-template-hash` (see the module doc).
pub fn pod_template_hash(template: &Pod) -> String {
    // The fields in declaration order, as `{:?}` prints them; fields added later appear
    // only when set, so the hash of a template that does not use them stays the same.
    let t = template;
    let mut text = format!(
        "Pod {{ namespace: {:?}, name: {:?}, labels: {:?}, annotations: {:?}, node_name: {:?}, host_network: {:?}, containers: {:?} }}",
        t.namespace, t.name, t.labels, t.annotations, t.node_name, t.host_network, t.containers
    );
    if t.dns_policy != super::DnsPolicy::default() {
        text.push_str(&format!(" dns_policy: {:?}", t.dns_policy));
    }
    if !t.enable_service_links {
        text.push_str(" enable_service_links: false");
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // rand.SafeEncodeString of the decimal digits: each byte maps into the alphabet.
    h.to_string().bytes().map(|b| RANDOM_ALPHABET[usize::from(b) % RANDOM_ALPHABET.len()] as char).collect()
}
