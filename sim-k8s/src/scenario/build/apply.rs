//! Stage 2, `apply:` steps (`kubectl apply` on the timeline): each step's objects are
//! read from the step itself (`manifest:`, one object, a `kind: List` or a sequence) or
//! from a file (`file:`, relative to the scenario), validated like the initial
//! manifests, and admitted against the cluster as it will be at that time: steps are
//! built in time order, and [`Live`] carries the apiserver's view (objects and
//! allocators) from one step to the next. So every error, including an allocator's
//! (`provided port is already allocated`), is reported at load time at the applied
//! object's `file:line:col`.
//!
//! An update keeps what the server set and the manifest does not say, as the three-way
//! merge of `kubectl apply` does: the ClusterIP, the nodePort of a port (matched by
//! port and protocol) and the healthCheckNodePort; a Deployment's `replicas` when the
//! manifest has none. Immutable fields are refused with the apiserver's messages.

use crate::manifest::yaml::NodeKind;
use crate::manifest::{ManifestObject, Object, Parsed};
use crate::model::deployment::{Deployment, ReplicaSet};
use crate::model::service::{ClusterIp, Service};
use crate::model::{Applied, FieldError, FieldErrorKind, FieldPath, Pod};

use super::super::*;
use super::services::Admission;
use super::{Builder, list_names};
use crate::controllers::allocators::{self, AllocError};

/// The apiserver's state as the timeline has left it so far (initial objects included).
pub struct Live {
    pub admission: Admission,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub deployments: Vec<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
}

impl Live {
    pub fn new(pods: &[Sourced<Pod>], w: &Workloads, admission: Admission) -> Live {
        Live {
            admission,
            pods: pods.iter().map(|p| p.value.clone()).collect(),
            services: w.services.clone(),
            deployments: w.deployments.iter().map(|d| d.value.clone()).collect(),
            replica_sets: w.replica_sets.iter().map(|r| r.value.clone()).collect(),
        }
    }
}

/// What `kubectl apply` supports on the timeline.
const SUPPORTED: &str = "Pod, Service, Deployment";

/// The apiserver's message for a pod update touching a field it may not change.
const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

impl Builder<'_> {
    /// Reads `apply:` at `path` and admits its objects against `live`; `None` when
    /// anything in it is wrong (every problem is reported).
    pub(super) fn apply(
        &mut self,
        path: &FieldPath,
        cluster: &ClusterConfig,
        live: &mut Live,
    ) -> Option<Vec<Applied>> {
        let node = self.doc.get(path)?;
        let shape =
            "expected {manifest: OBJECT} (an object, a kind: List or a sequence of objects) or {file: PATH}";
        if node.kind != NodeKind::Mapping {
            self.invalid(path, shape);
            return None;
        }
        let keys = self.doc.child_keys(path);
        let mut out = Parsed::default();
        match keys.as_slice() {
            [k] if k == "manifest" => {
                let at = path.key("manifest");
                let doc = self.doc.clone();
                match doc.get(&at).map(|n| (n.kind, n.len)) {
                    Some((NodeKind::Sequence, len)) => {
                        for i in 0..len {
                            crate::manifest::parse_node(&self.file, self.text, &doc, &at.index(i), &mut out);
                        }
                    }
                    _ => crate::manifest::parse_node(&self.file, self.text, &doc, &at, &mut out),
                }
            }
            [k] if k == "file" => self.manifest_file(path, &keys, &mut out),
            _ => {
                self.invalid(path, shape);
                return None;
            }
        }
        let before = self.errors.len();
        self.errors.extend(out.errors.into_iter().map(Diagnostic::from));
        if out.objects.is_empty() && self.errors.len() == before {
            self.invalid(path, "applies no objects");
        }
        let applied: Vec<Option<Applied>> =
            out.objects.iter().map(|o| self.admit(o, cluster, live)).collect();
        if self.errors.len() != before {
            return None;
        }
        applied.into_iter().collect()
    }

    fn admit(&mut self, o: &ManifestObject, cluster: &ClusterConfig, live: &mut Live) -> Option<Applied> {
        match &o.object {
            Object::Service(s) => {
                let svc = Service::from_k8s(s).map_err(|errs| self.manifest_errors(o, errs)).ok()?;
                self.admit_service(svc, o, live).map(Applied::Service)
            }
            Object::Deployment(d) => {
                let mut dep = Deployment::from_k8s(d).map_err(|errs| self.manifest_errors(o, errs)).ok()?;
                let replicas_given = d.spec.as_ref().is_some_and(|s| s.replicas.is_some());
                let key = |x: &Deployment| (x.0.namespace.clone(), x.0.name.clone());
                match live.deployments.iter_mut().find(|x| key(x) == key(&dep)) {
                    Some(old) => {
                        if old.0.selector != dep.0.selector {
                            let kind = FieldErrorKind::Invalid {
                                value: dep.0.selector.go_repr(),
                                detail: "field is immutable".into(),
                            };
                            let e = FieldError { path: FieldPath::parse("spec.selector"), kind };
                            self.manifest_error(&o.source, e);
                            return None;
                        }
                        if !replicas_given {
                            dep.0.replicas = old.0.replicas;
                        }
                        *old = dep.clone();
                    }
                    None => live.deployments.push(dep.clone()),
                }
                Some(Applied::Deployment(dep))
            }
            Object::Pod(p) => {
                let pod = Pod::from_k8s(p).map_err(|errs| self.manifest_errors(o, errs)).ok()?;
                self.admit_pod(pod, o, cluster, live).map(Applied::Pod)
            }
            other => {
                let message = format!(
                    "kind {} cannot be applied by a step (supported: {SUPPORTED}); list it under manifests:",
                    other.kind()
                );
                let kind = DiagnosticKind::Invalid { path: "kind".into(), message };
                self.errors.push(Diagnostic { at: o.source.locate(&FieldPath::parse("kind")), kind });
                None
            }
        }
    }

    fn manifest_errors(&mut self, o: &ManifestObject, errs: Vec<FieldError>) {
        errs.into_iter().for_each(|e| self.manifest_error(&o.source, e));
    }

    /// Create (allocate) or update (keep the server-set fields, re-admit the rest).
    fn admit_service(&mut self, mut svc: Service, o: &ManifestObject, live: &mut Live) -> Option<Service> {
        let idx = live.services.iter().position(|s| s.namespace == svc.namespace && s.name == svc.name);
        let mut trial = live.admission.clone();
        if let Some(idx) = idx {
            let old = &live.services[idx];
            match (&svc.cluster_ip, &old.cluster_ip) {
                (ClusterIp::Unset, kept) => svc.cluster_ip = *kept,
                (new, old) if new == old => {}
                (new, _) => {
                    let value = match new {
                        ClusterIp::Ip(ip) => ip.to_string(),
                        _ => "None".to_string(),
                    };
                    let e = FieldError::invalid_str(
                        FieldPath::parse("spec.clusterIP"),
                        &value,
                        "field is immutable",
                    );
                    self.manifest_error(&o.source, e);
                    return None;
                }
            }
            if svc.wants_node_ports() {
                for p in svc.ports.iter_mut().filter(|p| p.node_port.is_none()) {
                    p.node_port = old
                        .ports
                        .iter()
                        .find(|q| q.port == p.port && q.protocol == p.protocol)
                        .and_then(|q| q.node_port);
                }
            }
            if svc.needs_health_check() && svc.health_check_node_port.is_none() {
                svc.health_check_node_port = old.health_check_node_port;
            }
            // The update is admitted as a whole: what the old object held is free for it.
            if let ClusterIp::Ip(ip) = old.cluster_ip {
                trial.ips.release(ip);
            }
            old.ports.iter().filter_map(|p| p.node_port).for_each(|p| trial.ports.release(p));
            if let Some(p) = old.health_check_node_port {
                trial.ports.release(p);
            }
        }
        match allocators::allocate_service(&mut svc, &mut trial.ips, &mut trial.ports, &mut trial.rng) {
            Ok(()) => {
                live.admission = trial;
                match idx {
                    Some(i) => live.services[i] = svc.clone(),
                    None => live.services.push(svc.clone()),
                }
                Some(svc)
            }
            Err(AllocError::Field(e)) => {
                self.manifest_error(&o.source, e);
                None
            }
            Err(AllocError::Internal(msg)) => {
                self.manifest_error(&o.source, FieldError::forbidden(FieldPath::parse("spec"), msg));
                None
            }
        }
    }

    /// Create, or update labels, annotations and images (what a pod update may change).
    fn admit_pod(
        &mut self,
        pod: Pod,
        o: &ManifestObject,
        cluster: &ClusterConfig,
        live: &mut Live,
    ) -> Option<Pod> {
        if let Some(node) = pod.node_name.as_deref().filter(|n| !cluster.nodes.iter().any(|c| c.name == *n)) {
            let names = list_names(cluster.nodes.iter().map(|n| n.name.clone()), "nodes");
            let e = FieldError::invalid_str(
                FieldPath::parse("spec.nodeName"),
                node,
                format!("node {node:?} not found ({names})"),
            );
            self.manifest_error(&o.source, e);
            return None;
        }
        match live.pods.iter_mut().find(|p| p.namespace == pod.namespace && p.name == pod.name) {
            Some(old) => {
                let mut same = pod.clone();
                same.labels = old.labels.clone();
                same.annotations = old.annotations.clone();
                for (c, was) in same.containers.iter_mut().zip(&old.containers) {
                    c.image = was.image.clone();
                }
                if same != *old {
                    self.manifest_error(
                        &o.source,
                        FieldError::forbidden(FieldPath::parse("spec"), POD_UPDATE_FORBIDDEN),
                    );
                    return None;
                }
                *old = pod.clone();
            }
            None => live.pods.push(pod.clone()),
        }
        Some(pod)
    }
}
