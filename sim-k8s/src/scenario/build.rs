//! Stage 2: from the parsed schema to a validated [`Scenario`], every default resolved.
//!
//! Order: manifests (files and inline) → cluster (nodes may come from Node manifests) →
//! model objects (pods checked against the nodes) → steps (references checked against
//! pods and nodes). Errors are collected, not returned at the first one; each points at
//! the offending value through the file's position index.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use crate::manifest::yaml::{self, NodeKind, YamlDoc};
use crate::manifest::{self, Location, ManifestErrorKind, ManifestObject, Object, Parsed};
use crate::model::{self, FieldError, FieldPath, Pod};
use crate::world::WorldAction;

use super::refs::{Glob, Ref, pod_name};
use super::schema::{ExpectDoc, ScenarioDoc, StepDoc};
use super::*;

mod apply;
mod cluster;
pub mod ingress;
mod probe;
pub mod services;

/// Loads and validates; errors are unsorted.
pub(super) fn load(name: &str, text: &str, base_dir: &Path) -> Result<Scenario, Vec<Diagnostic>> {
    let file: Arc<str> = name.into();
    let docs = yaml::index(text).map_err(|e| vec![Diagnostic::from(manifest::syntax_error(&file, e))])?;
    let non_empty: Vec<&YamlDoc> = docs.iter().filter(|d| !is_empty_doc(d)).collect();
    let Some(first) = non_empty.first() else {
        let msg = "empty file: expected a scenario (name, cluster, manifests, steps) or Kubernetes manifests";
        return Err(vec![Diagnostic {
            at: Location::new(&file, yaml::Pos::START),
            kind: DiagnosticKind::NotAScenario(msg.into()),
        }]);
    };
    let mut b =
        Builder { file: file.clone(), text, doc: Arc::new((*first).clone()), base_dir, errors: Vec::new() };
    let manifest_only = non_empty.len() > 1 || has_type_meta(first);
    let (doc, objects) = if manifest_only {
        let objects = manifest::parse_str(name, text).unwrap_or_else(|errs| {
            b.errors.extend(errs.into_iter().map(Diagnostic::from));
            Vec::new()
        });
        (empty_doc(), objects)
    } else {
        let doc: ScenarioDoc = serde_norway::from_str(text).map_err(|e| vec![schema_error(&b, &e)])?;
        let objects = b.manifests(doc.manifests.len());
        (doc, objects)
    };
    let scenario = b.scenario(doc, objects);
    if b.errors.is_empty() { Ok(scenario) } else { Err(b.errors) }
}

fn is_empty_doc(d: &YamlDoc) -> bool {
    d.root().is_none_or(|r| r.kind == NodeKind::Scalar && r.scalar.as_deref() == Some(""))
}

fn has_type_meta(d: &YamlDoc) -> bool {
    let root = FieldPath::root();
    d.get(&root.key("apiVersion")).is_some() || d.get(&root.key("kind")).is_some()
}

fn empty_doc() -> ScenarioDoc {
    ScenarioDoc {
        name: None,
        description: None,
        seed: None,
        cluster: None,
        clients: None,
        manifests: Vec::new(),
        steps: Vec::new(),
    }
}

/// A stage-1 (serde) error as a diagnostic; "unknown field" gets the full dotted path.
fn schema_error(b: &Builder<'_>, e: &serde_norway::Error) -> Diagnostic {
    let (path, message) = manifest::split_serde_message(&e.to_string());
    let at = match e.location() {
        Some(l) => Location { file: b.file.clone(), line: l.line(), col: l.column() },
        None => b.at(&path),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = expected.split('`').skip(1).step_by(2).map(str::to_string).collect();
        let path = path.key(field).to_string();
        return Diagnostic { at, kind: DiagnosticKind::UnknownField { path, expected } };
    }
    let text = if path.is_root() { message } else { format!("{path}: {message}") };
    Diagnostic { at, kind: DiagnosticKind::Schema(text) }
}

struct Builder<'a> {
    file: Arc<str>,
    text: &'a str,
    /// The scenario document's position index.
    doc: Arc<YamlDoc>,
    base_dir: &'a Path,
    errors: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn at(&self, path: &FieldPath) -> Location {
        Location::new(&self.file, self.doc.locate(path))
    }
    fn invalid(&mut self, path: &FieldPath, message: impl Into<String>) {
        let kind = DiagnosticKind::Invalid { path: path.to_string(), message: message.into() };
        self.errors.push(Diagnostic { at: self.at(path), kind });
    }
    /// An apiserver-style error about a scenario field.
    fn field_error(&mut self, e: FieldError) {
        let message = e.kind.to_string();
        self.invalid(&e.path, message);
    }
    fn manifest_error(&mut self, source: &manifest::Source, e: FieldError) {
        let at = source.locate_error(&e);
        self.errors.push(Diagnostic { at, kind: DiagnosticKind::Manifest(ManifestErrorKind::Invalid(e)) });
    }

    /// `manifests:`: each entry is `{file: PATH}` or an inline object (or `kind: List`).
    fn manifests(&mut self, count: usize) -> Vec<ManifestObject> {
        let mut out = Parsed::default();
        for i in 0..count {
            let path = FieldPath::root().key("manifests").index(i);
            let Some(node) = self.doc.get(&path) else { continue };
            if node.kind != NodeKind::Mapping {
                self.invalid(&path, "expected a Kubernetes object or {file: PATH}");
                continue;
            }
            let keys = self.doc.child_keys(&path);
            if keys.iter().any(|k| k == "file") {
                self.manifest_file(&path, &keys, &mut out);
            } else {
                let doc = self.doc.clone();
                manifest::parse_node(&self.file, self.text, &doc, &path, &mut out);
            }
        }
        self.errors.extend(out.errors.into_iter().map(Diagnostic::from));
        out.objects
    }

    fn manifest_file(&mut self, entry: &FieldPath, keys: &[String], out: &mut Parsed) {
        if let Some(other) = keys.iter().find(|k| *k != "file") {
            let msg = format!(
                "unknown field {other:?} next to file: an entry is either {{file: PATH}} or a Kubernetes object"
            );
            return self.invalid(&entry.key(other), msg);
        }
        let path = entry.key("file");
        let Some(rel) = self.doc.scalar(&path).filter(|s| !s.is_empty()).map(str::to_string) else {
            return self.invalid(&path, "expected a file path relative to the scenario");
        };
        let full = self.base_dir.join(&rel);
        let display = full.display().to_string();
        match std::fs::read_to_string(&full) {
            Ok(text) => match manifest::parse_str(&display, &text) {
                Ok(objects) => out.objects.extend(objects),
                Err(errs) => out.errors.extend(errs),
            },
            Err(e) => {
                let kind = DiagnosticKind::Io { path: display, reason: e.to_string() };
                self.errors.push(Diagnostic { at: self.at(&path), kind });
            }
        }
    }

    fn scenario(&mut self, doc: ScenarioDoc, mut objects: Vec<ManifestObject>) -> Scenario {
        let cluster_doc = doc.cluster.unwrap_or_default();
        let addon = self.ingress_addon(&objects, cluster_doc.ingress_controller.as_ref());
        objects.extend(addon);
        let manifest_nodes = self.model_nodes(&objects);
        let mut cluster = self.cluster(&cluster_doc, manifest_nodes);
        cluster.clients = self.clients(doc.clients.as_deref(), &cluster);
        // The DNS add-on: on when asked, else when some probe needs a name resolved.
        let uses_names =
            doc.steps.iter().any(|s| s.probe.as_ref().is_some_and(|p| matches!(p.to.0, Ref::Name { .. })));
        cluster.dns = cluster_doc.dns.as_ref().and_then(|d| d.enabled).unwrap_or(uses_names);
        if cluster.dns {
            let text = crate::dns::addon::manifests(cluster.service_network);
            match manifest::parse_str(crate::dns::addon::SOURCE, &text) {
                // The add-on exists before the scenario's own objects are applied.
                Ok(addon) => objects.splice(0..0, addon).for_each(drop),
                Err(errs) => self.errors.extend(errs.into_iter().map(Diagnostic::from)),
            }
        }
        self.check_duplicates(&objects);
        let pods = self.pods(&objects, &cluster);
        let (mut workloads, admission) = self.workloads(&objects, &cluster, doc.seed.unwrap_or(0));
        workloads.ingress = self.ingress_objects(&objects);
        let mut live = apply::Live::new(&pods, &workloads, admission);
        // In time order (a stable sort keeps the file's order at equal times): an
        // `apply:` step is admitted against what the earlier steps left.
        let mut docs: Vec<(usize, StepDoc)> = doc.steps.into_iter().enumerate().collect();
        docs.sort_by_key(|(_, s)| s.at.0);
        let mut steps = Vec::new();
        for (i, s) in docs {
            if let Some(step) = self.step(i, s, &cluster, &mut live) {
                steps.push(step);
            }
        }
        let stem = Path::new(&*self.file).file_stem().map(|s| s.to_string_lossy().into_owned());
        Scenario {
            file: self.file.clone(),
            name: doc.name.or(stem).unwrap_or_default(),
            description: doc.description.unwrap_or_default(),
            seed: doc.seed.unwrap_or(0),
            cluster,
            pods,
            workloads,
            objects,
            steps,
        }
    }

    fn model_nodes(&mut self, objects: &[ManifestObject]) -> Vec<Sourced<model::Node>> {
        let mut out = Vec::new();
        for o in objects {
            let Object::Node(n) = &o.object else { continue };
            match model::Node::from_k8s(n) {
                Ok(value) => out.push(Sourced { value, source: o.source.clone() }),
                Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
            }
        }
        out
    }

    /// `pods "a" already exists`, as `kubectl create` says for a second object of the
    /// same kind, namespace and name.
    fn check_duplicates(&mut self, objects: &[ManifestObject]) {
        let mut seen: BTreeSet<(&'static str, String, String)> = BTreeSet::new();
        for o in objects {
            let Some(name) = o.object.metadata().name.clone().filter(|n| !n.is_empty()) else { continue };
            let (resource, namespaced) = resource_of(&o.object);
            let ns = match o.object.metadata().namespace.clone().filter(|n| !n.is_empty()) {
                _ if !namespaced => String::new(),
                Some(ns) => ns,
                None => model::DEFAULT_NAMESPACE.into(),
            };
            if !seen.insert((resource, ns, name.clone())) {
                let at = o.source.locate(&FieldPath::parse("metadata.name"));
                self.errors.push(Diagnostic { at, kind: DiagnosticKind::AlreadyExists { resource, name } });
            }
        }
    }

    fn pods(&mut self, objects: &[ManifestObject], cluster: &ClusterConfig) -> Vec<Sourced<Pod>> {
        let mut out: Vec<Sourced<Pod>> = Vec::new();
        for o in objects {
            let Object::Pod(p) = &o.object else { continue };
            let pod = match Pod::from_k8s(p) {
                Ok(pod) => pod,
                Err(errs) => {
                    errs.into_iter().for_each(|e| self.manifest_error(&o.source, e));
                    continue;
                }
            };
            if let Some(node) =
                pod.node_name.as_deref().filter(|n| !cluster.nodes.iter().any(|c| c.name == *n))
            {
                let names = list_names(cluster.nodes.iter().map(|n| n.name.clone()), "nodes");
                let e = FieldError::invalid_str(
                    FieldPath::parse("spec.nodeName"),
                    node,
                    format!("node {node:?} not found ({names})"),
                );
                self.manifest_error(&o.source, e);
            }
            if !out.iter().any(|q| q.namespace == pod.namespace && q.name == pod.name) {
                out.push(Sourced { value: pod, source: o.source.clone() });
            }
        }
        out
    }

    fn step(
        &mut self,
        i: usize,
        s: StepDoc,
        cluster: &ClusterConfig,
        live: &mut apply::Live,
    ) -> Option<Step> {
        let path = FieldPath::root().key("steps").index(i);
        let given = [
            s.probe.is_some(),
            s.delete.is_some(),
            s.set_ready.is_some(),
            s.scale.is_some(),
            s.fail.is_some(),
            s.restore.is_some(),
            s.cut.is_some(),
            s.heal.is_some(),
            s.apply.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.invalid(
                &path,
                "a step needs exactly one action: probe, delete, setReady, scale, fail, restore, cut, heal or apply",
            );
            return None;
        }
        let expect_doc = s.expect;
        if s.apply.is_some() {
            let objects = self.apply(&path.key("apply"), cluster, live)?;
            if expect_doc.is_some() {
                self.invalid(&path.key("expect"), "only a probe step has expectations");
            }
            return Some(Step {
                at: s.at.0,
                index: i,
                location: self.at(&path),
                action: StepAction::Act(WorldAction::Apply(objects)),
                expect: None,
            });
        }
        if let Some(sc) = &s.scale
            && let Some(d) = live.deployments.iter_mut().find(|d| d.0.name == sc.deployment)
        {
            d.0.replicas = sc.replicas;
        }
        let world = World {
            pods: live.pods.iter().collect(),
            cluster,
            services: &live.services,
            deployments: &live.deployments,
            replica_sets: &live.replica_sets,
        };
        let action = if let Some(probe) = s.probe {
            StepAction::Probe(self.probe(&path.key("probe"), probe, &world)?)
        } else if let Some(r) = s.delete {
            if let Ref::Node { .. } = r.0 {
                StepAction::Act(WorldAction::DeleteNode(self.node_ref(&path.key("delete"), &r.0, cluster)?))
            } else {
                let (namespace, name) = self.pod_ref(&path.key("delete"), &r.0, &world)?;
                StepAction::Act(WorldAction::DeletePod { namespace, name })
            }
        } else if let Some(r) = s.fail {
            StepAction::Act(WorldAction::FailNode(self.node_ref(&path.key("fail"), &r.0, cluster)?))
        } else if let Some(r) = s.restore {
            StepAction::Act(WorldAction::RestoreNode(self.node_ref(&path.key("restore"), &r.0, cluster)?))
        } else if let Some(l) = s.cut {
            StepAction::Act(WorldAction::CutLink(self.node_ref(
                &path.key("cut").key("link"),
                &l.link.0,
                cluster,
            )?))
        } else if let Some(l) = s.heal {
            StepAction::Act(WorldAction::HealLink(self.node_ref(
                &path.key("heal").key("link"),
                &l.link.0,
                cluster,
            )?))
        } else if let Some(sr) = s.set_ready {
            let (namespace, name) = self.pod_ref(&path.key("setReady").key("pod"), &sr.pod.0, &world)?;
            StepAction::Act(WorldAction::SetReady { namespace, name, ready: sr.ready })
        } else {
            let sc = s.scale.expect("one action is given");
            if !world.deployments.iter().any(|d| d.0.name == sc.deployment) {
                let names = list_names(world.deployments.iter().map(|d| d.0.name.clone()), "deployments");
                self.invalid(
                    &path.key("scale").key("deployment"),
                    format!("deployment {:?} not found ({names})", sc.deployment),
                );
                return None;
            }
            StepAction::Act(WorldAction::Scale {
                namespace: model::DEFAULT_NAMESPACE.into(),
                name: sc.deployment,
                replicas: sc.replicas,
            })
        };
        if expect_doc.is_some() && !matches!(action, StepAction::Probe(_)) {
            self.invalid(&path.key("expect"), "only a probe step has expectations");
        }
        let expect = match &action {
            StepAction::Probe(_) => expect_doc.map(|e| self.expect(&path.key("expect"), e, &world)),
            _ => None,
        };
        Some(Step { at: s.at.0, index: i, location: self.at(&path), action, expect })
    }

    /// A `node/NAME` reference to a node of the cluster.
    fn node_ref(&mut self, path: &FieldPath, r: &Ref, cluster: &ClusterConfig) -> Option<String> {
        match r {
            Ref::Node { name, port: None } if cluster.nodes.iter().any(|n| &n.name == name) => {
                Some(name.clone())
            }
            Ref::Node { port: None, .. } => {
                let names = list_names(cluster.nodes.iter().map(|n| n.name.clone()), "nodes");
                self.invalid(path, format!("{r} not found ({names})"));
                None
            }
            other => {
                self.invalid(path, format!("expected node/NAME, found {other}"));
                None
            }
        }
    }

    /// A `pod/NAME` reference to a pod of the manifests.
    fn pod_ref(&mut self, path: &FieldPath, r: &Ref, world: &World<'_>) -> Option<(String, String)> {
        match r {
            Ref::Pod { namespace, name, port: None } => {
                self.check_exists(path, r, world).then(|| (namespace.clone(), name.clone()))
            }
            other => {
                self.invalid(path, format!("expected pod/NAME, found {other}"));
                None
            }
        }
    }

    fn check_exists(&mut self, path: &FieldPath, r: &Ref, world: &World<'_>) -> bool {
        match r {
            Ref::Pod { namespace, name, .. } if world.pod(r).is_none() => {
                let names = list_names(world.pods.iter().map(|p| short_pod(&p.namespace, &p.name)), "pods");
                let shown = short_pod(namespace, name);
                self.invalid(path, format!("pod {shown:?} not found ({names})"));
                false
            }
            Ref::Node { name, .. } if !world.cluster.nodes.iter().any(|n| &n.name == name) => {
                let names = list_names(world.cluster.nodes.iter().map(|n| n.name.clone()), "nodes");
                self.invalid(path, format!("node {name:?} not found ({names})"));
                false
            }
            Ref::Service { namespace, name, .. }
                if !world.services.iter().any(|s| &s.namespace == namespace && &s.name == name) =>
            {
                let names =
                    list_names(world.services.iter().map(|s| short_pod(&s.namespace, &s.name)), "services");
                self.invalid(path, format!("service {:?} not found ({names})", short_pod(namespace, name)));
                false
            }
            Ref::LoadBalancer { namespace, name, .. } => {
                let svc = world.services.iter().find(|s| &s.namespace == namespace && &s.name == name);
                match svc {
                    Some(s) if s.type_ == crate::model::service::ServiceType::LoadBalancer => true,
                    Some(s) => {
                        let msg = format!(
                            "service {:?} is of type {}: only a LoadBalancer Service has a load-balancer address",
                            short_pod(namespace, name),
                            s.type_.as_str()
                        );
                        self.invalid(path, msg);
                        false
                    }
                    None => {
                        let names = list_names(
                            world.services.iter().map(|s| short_pod(&s.namespace, &s.name)),
                            "services",
                        );
                        self.invalid(
                            path,
                            format!("service {:?} not found ({names})", short_pod(namespace, name)),
                        );
                        false
                    }
                }
            }
            Ref::Client { name, .. } if !world.cluster.clients.iter().any(|c| &c.name == name) => {
                let names = list_names(world.cluster.clients.iter().map(|c| c.name.clone()), "clients");
                self.invalid(path, format!("client {name:?} not found ({names})"));
                false
            }
            _ => true,
        }
    }

    fn expect(&mut self, path: &FieldPath, e: ExpectDoc, world: &World<'_>) -> Expect {
        if let Some(g) = &e.at {
            self.check_receiver(&path.key("at"), &g.0, world);
        }
        if let Some(s) = &e.source {
            if let Ref::Name { name, .. } = &s.0 {
                let msg = format!(
                    "the source a receiver saw is an address: expected a pod, node, client or IP, found the name {name}"
                );
                self.invalid(&path.key("source"), msg);
            }
            self.check_exists(&path.key("source"), &s.0, world);
        }
        let via = e.via.unwrap_or_default();
        for (i, label) in via.iter().enumerate() {
            if label.trim().is_empty() {
                self.invalid(&path.key("via").index(i), "a trace label cannot be empty");
            }
        }
        if let Some(st) = e.status
            && !(100..=599).contains(&st)
        {
            self.invalid(
                &path.key("status"),
                format!("an HTTP status code is between 100 and 599, found {st}"),
            );
        }
        Expect {
            result: e.result.map(|r| r.0),
            receiver: e.at.map(|g| g.0),
            source: e.source.map(|s| s.0),
            via,
            status: e.status,
        }
    }

    /// A receiver pattern must match some pod or node, or it could never be satisfied.
    fn check_receiver(&mut self, path: &FieldPath, g: &Glob, world: &World<'_>) {
        let mut candidates = world.pods.iter().map(|p| pod_name(&p.namespace, &p.name));
        let mut nodes = world.cluster.nodes.iter().map(|n| format!("node/{}", n.name));
        let mut clients = world.cluster.clients.iter().map(|c| format!("client/{}", c.name));
        // Replicas of a Deployment get generated names: `<deployment>-<hash>-<5 chars>`.
        let mut replicas = world
            .deployments
            .iter()
            .map(|d| pod_name(&d.0.namespace, &format!("{}-xxxxx", d.replica_set_name())));
        let mut rs_replicas =
            world.replica_sets.iter().map(|r| pod_name(&r.0.namespace, &format!("{}-xxxxx", r.0.name)));
        if candidates.any(|c| g.matches(&c))
            || nodes.any(|c| g.matches(&c))
            || clients.any(|c| g.matches(&c))
            || replicas.any(|c| g.matches(&c))
            || rs_replicas.any(|c| g.matches(&c))
        {
            return;
        }
        let (what, names) = if g.as_str().starts_with("node/") {
            ("node", list_names(world.cluster.nodes.iter().map(|n| n.name.clone()), "nodes"))
        } else {
            ("pod", list_names(world.pods.iter().map(|p| short_pod(&p.namespace, &p.name)), "pods"))
        };
        let msg = if g.is_literal() {
            let name = g.as_str().split_once('/').map_or(g.as_str(), |(_, n)| n);
            format!("{what} {name:?} not found ({names})")
        } else {
            format!("pattern {:?} matches no {what} ({names})", g.as_str())
        };
        self.invalid(path, msg);
    }
}

/// What references are checked against: the cluster as the timeline has left it.
struct World<'a> {
    pods: Vec<&'a Pod>,
    cluster: &'a ClusterConfig,
    services: &'a [model::service::Service],
    deployments: &'a [model::deployment::Deployment],
    replica_sets: &'a [model::deployment::ReplicaSet],
}

impl World<'_> {
    fn pod(&self, r: &Ref) -> Option<&Pod> {
        let Ref::Pod { namespace, name, .. } = r else { return None };
        self.pods.iter().copied().find(|p| &p.namespace == namespace && &p.name == name)
    }
}

/// `a` in namespace default, else `ns/a`.
fn short_pod(namespace: &str, name: &str) -> String {
    if namespace == model::DEFAULT_NAMESPACE { name.to_string() } else { format!("{namespace}/{name}") }
}

/// `pods: a, b, c` or `there are no pods`.
fn list_names(names: impl Iterator<Item = String>, what: &str) -> String {
    let names: Vec<String> = names.collect();
    if names.is_empty() { format!("there are no {what}") } else { format!("{what}: {}", names.join(", ")) }
}

/// The resource name kubectl prints (`pods "a" already exists`) and whether it is namespaced.
fn resource_of(o: &Object) -> (&'static str, bool) {
    match o {
        Object::Pod(_) => ("pods", true),
        Object::Node(_) => ("nodes", false),
        Object::Service(_) => ("services", true),
        Object::Deployment(_) => ("deployments.apps", true),
        Object::ReplicaSet(_) => ("replicasets.apps", true),
        Object::EndpointSlice(_) => ("endpointslices.discovery.k8s.io", true),
        Object::Ingress(_) => ("ingresses.networking.k8s.io", true),
        Object::IngressClass(_) => ("ingressclasses.networking.k8s.io", false),
        Object::Namespace(_) => ("namespaces", false),
        Object::ConfigMap(_) => ("configmaps", true),
        Object::Secret(_) => ("secrets", true),
    }
}
