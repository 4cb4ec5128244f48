//! The in-process API server: objects keyed by (kind, namespace, name) in sorted order,
//! a cluster-wide `resourceVersion` counter, and an ordered watch log. Controllers see
//! changes only through [`WatchEvent`]s, delivered by the world after each
//! controller's own latency, as informers deliver them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::SimTime;

use crate::model::deployment::{Deployment, ReplicaSet};
use crate::model::endpointslice::EndpointSlice;
use crate::model::ingress::{Ingress, IngressClass};
use crate::model::secret::TlsSecret;
use crate::model::service::Service;
use crate::model::{Node, Pod};

/// Pod lifecycle as far as the network sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Created, not yet scheduled.
    Pending,
    /// Bound to a node, sandbox not ready.
    Scheduled,
    /// Sandbox and network ready, containers started.
    Running,
    /// Rejected or ended for good (`status.reason` says why).
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodStatus {
    pub phase: PodPhase,
    pub pod_ip: Option<Ipv4Addr>,
    pub host_ip: Option<Ipv4Addr>,
    /// Network namespace that holds the pod (its own, or the node's for hostNetwork).
    pub netns: Option<String>,
    /// The Ready condition (readiness probes; set by `setReady` steps).
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set: the pod is shutting down.
    pub terminating: bool,
    /// `status.reason` (`NodePorts` for a pod the kubelet refused to admit).
    pub reason: Option<String>,
    /// Ready was set False by the node lifecycle controller because the pod's node
    /// stopped reporting (`MarkPodsNotReady`); the kubelet reports the pod's own
    /// readiness again once it reaches the API server.
    pub node_lost: bool,
}

impl PodStatus {
    pub fn pending() -> Self {
        PodStatus {
            phase: PodPhase::Pending,
            pod_ip: None,
            host_ip: None,
            netns: None,
            ready: false,
            terminating: false,
            reason: None,
            node_lost: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub ip: Ipv4Addr,
    /// `metadata.annotations` (flannel publishes its VTEP here).
    pub annotations: BTreeMap<String, String>,
    /// `spec.podCIDR`, assigned by the node IPAM controller.
    pub pod_cidr: Ipv4Net,
    /// The status of the `Ready` condition.
    pub ready: ConditionStatus,
    /// `spec.taints` (the node lifecycle controller's `node.kubernetes.io/...`).
    pub taints: Vec<Taint>,
}

impl NodeStatus {
    /// A node as the kubelet registers it: Ready, untainted, no annotations.
    pub fn registered(ip: Ipv4Addr, pod_cidr: Ipv4Net) -> Self {
        NodeStatus {
            ip,
            annotations: BTreeMap::new(),
            pod_cidr,
            ready: ConditionStatus::True,
            taints: vec![],
        }
    }

    /// Whether the scheduler may place new pods here: Ready and no NoSchedule or
    /// NoExecute taint (the default scheduler's TaintToleration filter with pods
    /// that tolerate nothing but the default NoExecute tolerations).
    pub fn schedulable(&self) -> bool {
        self.ready == ConditionStatus::True && self.taints.is_empty()
    }
}

/// A condition's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    /// The node lifecycle controller's verdict when the kubelet stopped reporting.
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// A node taint (`key:effect`, no value: the lifecycle taints have none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub effect: TaintEffect,
    /// `timeAdded` (set for NoExecute taints).
    pub added: Option<SimTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaintEffect {
    NoSchedule,
    NoExecute,
}

impl std::fmt::Display for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = match self.effect {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        };
        write!(f, "{}:{e}", self.key)
    }
}

/// A node's Lease in `kube-node-lease`, reduced to what decides its `renewTime`. The
/// kubelet renews it every `renew_interval` from `since` while it runs; renewals are
/// computed instead of written (a healthy cluster would otherwise write forever and a
/// run never becomes idle), which reads the same to the node lifecycle controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLease {
    pub renew_interval: sim_core::SimDuration,
    /// When the kubelet (re)started renewing: it renews at once, then every interval.
    pub since: SimTime,
    /// When it stopped (the node failed or lost the API server), if it did.
    pub stopped: Option<SimTime>,
}

impl NodeLease {
    /// `spec.renewTime` as seen at `now`: the last renewal at or before `now` (or
    /// before the kubelet stopped).
    pub fn renew_time(&self, now: SimTime) -> SimTime {
        let until = self.stopped.map_or(now, |s| s.min(now));
        let elapsed = until.saturating_since(self.since).as_nanos();
        let step = self.renew_interval.as_nanos().max(1);
        self.since + sim_core::SimDuration::from_nanos(elapsed - elapsed % step)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Node(Node, NodeStatus),
    Pod(Pod, PodStatus),
    Service(Service),
    EndpointSlice(EndpointSlice),
    Deployment(Deployment),
    ReplicaSet(ReplicaSet),
    Ingress(Ingress),
    IngressClass(IngressClass),
    /// A `kubernetes.io/tls` Secret.
    TlsSecret(TlsSecret),
}

impl Object {
    pub fn key(&self) -> ObjKey {
        match self {
            Object::Node(n, _) => ObjKey { kind: "Node", namespace: String::new(), name: n.name.clone() },
            Object::Pod(p, _) => ObjKey { kind: "Pod", namespace: p.namespace.clone(), name: p.name.clone() },
            Object::Service(s) => {
                ObjKey { kind: "Service", namespace: s.namespace.clone(), name: s.name.clone() }
            }
            Object::EndpointSlice(s) => {
                ObjKey { kind: "EndpointSlice", namespace: s.namespace.clone(), name: s.name.clone() }
            }
            Object::Deployment(d) => {
                ObjKey { kind: "Deployment", namespace: d.0.namespace.clone(), name: d.0.name.clone() }
            }
            Object::ReplicaSet(r) => {
                ObjKey { kind: "ReplicaSet", namespace: r.0.namespace.clone(), name: r.0.name.clone() }
            }
            Object::Ingress(i) => {
                ObjKey { kind: "Ingress", namespace: i.namespace.clone(), name: i.name.clone() }
            }
            Object::IngressClass(c) => {
                ObjKey { kind: "IngressClass", namespace: String::new(), name: c.name.clone() }
            }
            Object::TlsSecret(s) => {
                ObjKey { kind: "Secret", namespace: s.namespace.clone(), name: s.name.clone() }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: WatchKind,
    pub resource_version: u64,
    pub time: SimTime,
    pub object: Object,
}

#[derive(Debug, Default)]
pub struct Store {
    objects: BTreeMap<ObjKey, (u64, Object)>,
    resource_version: u64,
    pub log: Vec<WatchEvent>,
    /// Node leases by node name (see [`NodeLease`]: not watched objects).
    pub leases: BTreeMap<String, NodeLease>,
    /// `metadata.creationTimestamp` of each object, in simulated time.
    created: BTreeMap<ObjKey, SimTime>,
}

impl Store {
    /// Creates or replaces an object and appends the watch event; returns its index.
    pub fn put(&mut self, obj: Object, now: SimTime) -> usize {
        self.resource_version += 1;
        let rv = self.resource_version;
        let kind = if self.objects.contains_key(&obj.key()) { WatchKind::Modified } else { WatchKind::Added };
        if kind == WatchKind::Added {
            self.created.insert(obj.key(), now);
        }
        self.objects.insert(obj.key(), (rv, obj.clone()));
        self.log.push(WatchEvent { kind, resource_version: rv, time: now, object: obj });
        self.log.len() - 1
    }

    /// Removes an object and appends the Deleted watch event (with its last state).
    pub fn delete(&mut self, key: &ObjKey, now: SimTime) -> Option<usize> {
        let (_, obj) = self.objects.remove(key)?;
        self.created.remove(key);
        self.resource_version += 1;
        let rv = self.resource_version;
        self.log.push(WatchEvent { kind: WatchKind::Deleted, resource_version: rv, time: now, object: obj });
        Some(self.log.len() - 1)
    }

    /// When the object was created (`metadata.creationTimestamp`; kubectl's AGE).
    pub fn created(&self, key: &ObjKey) -> Option<SimTime> {
        self.created.get(key).copied()
    }

    pub fn get(&self, key: &ObjKey) -> Option<&Object> {
        self.objects.get(key).map(|(_, o)| o)
    }

    pub fn pods(&self) -> impl Iterator<Item = (&Pod, &PodStatus)> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::Pod(p, s) => Some((p, s)),
            _ => None,
        })
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&Node, &NodeStatus)> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::Node(n, s) => Some((n, s)),
            _ => None,
        })
    }

    pub fn node(&self, name: &str) -> Option<(&Node, &NodeStatus)> {
        match self.get(&ObjKey { kind: "Node", namespace: String::new(), name: name.into() })? {
            Object::Node(n, s) => Some((n, s)),
            _ => None,
        }
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<(&Pod, &PodStatus)> {
        match self.get(&ObjKey { kind: "Pod", namespace: namespace.into(), name: name.into() })? {
            Object::Pod(p, s) => Some((p, s)),
            _ => None,
        }
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::Service(s) => Some(s),
            _ => None,
        })
    }

    pub fn endpoint_slices(&self) -> impl Iterator<Item = &EndpointSlice> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::EndpointSlice(s) => Some(s),
            _ => None,
        })
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services().find(|s| s.namespace == namespace && s.name == name)
    }

    /// The highest resourceVersion handed out so far.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn deployments(&self) -> impl Iterator<Item = &Deployment> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::Deployment(d) => Some(d),
            _ => None,
        })
    }

    pub fn replica_sets(&self) -> impl Iterator<Item = &ReplicaSet> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::ReplicaSet(r) => Some(r),
            _ => None,
        })
    }

    pub fn ingresses(&self) -> impl Iterator<Item = &Ingress> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::Ingress(i) => Some(i),
            _ => None,
        })
    }

    pub fn ingress_classes(&self) -> impl Iterator<Item = &IngressClass> {
        self.objects.values().filter_map(|(_, o)| match o {
            Object::IngressClass(c) => Some(c),
            _ => None,
        })
    }

    pub fn tls_secret(&self, namespace: &str, name: &str) -> Option<&TlsSecret> {
        match self.get(&ObjKey { kind: "Secret", namespace: namespace.into(), name: name.into() })? {
            Object::TlsSecret(s) => Some(s),
            _ => None,
        }
    }
}
