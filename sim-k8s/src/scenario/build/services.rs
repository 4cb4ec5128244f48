//! Stage 2, services and workloads: Services validated and admitted as the apiserver
//! does on create (ClusterIP and NodePort allocation from the seeded stream, with the
//! apiserver's messages), Deployments/ReplicaSets and hand-written EndpointSlices
//! validated. `default/kubernetes` (network+1, port 443 → the API server on the first
//! node's 6443) is added the way the apiserver's bootstrap controller does.

use std::collections::BTreeMap;

use sim_core::RngStreams;

use super::super::*;
use super::Builder;
use crate::controllers::allocators::{self, AllocError, ClusterIpAllocator, NodePortAllocator};
use crate::manifest::Object;
use crate::model::deployment::{Deployment, ReplicaSet};
use crate::model::endpointslice::{Conditions, Endpoint, EndpointPort, EndpointSlice};
use crate::model::service::{
    ClusterIp, Service, ServicePort, ServiceType, SessionAffinity, TargetPort, TrafficPolicy,
};
use crate::model::{FieldError, FieldPath, Protocol};

/// Everything of the services world a scenario starts with.
#[derive(Clone, Debug, Default)]
pub struct Workloads {
    /// Admitted services (ClusterIP and nodePorts allocated), `default/kubernetes` first.
    pub services: Vec<Service>,
    pub deployments: Vec<Sourced<Deployment>>,
    pub replica_sets: Vec<Sourced<ReplicaSet>>,
    pub endpoint_slices: Vec<Sourced<EndpointSlice>>,
    /// Ingresses (class admitted), IngressClasses and TLS Secrets.
    pub ingress: super::ingress::IngressObjects,
}

/// The API server's own endpoint: kube-apiserver on the first node.
pub const APISERVER_PORT: u16 = 6443;

impl Builder<'_> {
    pub(super) fn workloads(
        &mut self,
        objects: &[ManifestObject],
        cluster: &ClusterConfig,
        seed: u64,
    ) -> (Workloads, Admission) {
        let mut w = Workloads::default();
        let mut ips = ClusterIpAllocator::new(cluster.service_network);
        let mut ports = NodePortAllocator::default();
        let mut rng = RngStreams::new(seed).stream("apiserver/allocators");
        w.services.extend(kubernetes_service(cluster, &ips));
        // Explicit ClusterIPs and nodePorts first, as they are requested by name; then the
        // rest, in manifest order (a real apiserver admits them in the order applied).
        let mut pending: Vec<(Service, &ManifestObject)> = Vec::new();
        for o in objects {
            match &o.object {
                Object::Service(s) => match Service::from_k8s(s) {
                    Ok(svc) => pending.push((svc, o)),
                    Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
                },
                Object::Deployment(d) => match Deployment::from_k8s(d) {
                    Ok(dep) => w.deployments.push(Sourced { value: dep, source: o.source.clone() }),
                    Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
                },
                Object::ReplicaSet(r) => match ReplicaSet::from_k8s(r) {
                    Ok(rs) => w.replica_sets.push(Sourced { value: rs, source: o.source.clone() }),
                    Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
                },
                Object::EndpointSlice(s) => match EndpointSlice::from_k8s(s) {
                    Ok(sl) => w.endpoint_slices.push(Sourced { value: sl, source: o.source.clone() }),
                    Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
                },
                _ => {}
            }
        }
        for (mut svc, o) in pending {
            if w.services.iter().any(|s| s.namespace == svc.namespace && s.name == svc.name) {
                let e = FieldError::duplicate_str(FieldPath::parse("metadata.name"), &svc.name);
                self.manifest_error(&o.source, e);
                continue;
            }
            match allocators::allocate_service(&mut svc, &mut ips, &mut ports, &mut rng) {
                Ok(()) => w.services.push(svc),
                Err(AllocError::Field(e)) => self.manifest_error(&o.source, e),
                Err(AllocError::Internal(msg)) => {
                    self.manifest_error(&o.source, FieldError::forbidden(FieldPath::parse("spec"), msg))
                }
            }
        }
        (w, Admission { ips, ports, rng })
    }
}

/// The apiserver's allocators after the scenario's initial objects: `apply:` steps
/// admit their Services against them, in time order.
#[derive(Clone, Debug)]
pub struct Admission {
    pub ips: ClusterIpAllocator,
    pub ports: NodePortAllocator,
    pub rng: sim_core::SimRng,
}

/// `default/kubernetes`: ClusterIP network+1, port `https` 443 → the API server on the
/// first node (a selector-less service with a hand-made EndpointSlice, as the apiserver
/// maintains it).
fn kubernetes_service(c: &ClusterConfig, ips: &ClusterIpAllocator) -> Option<Service> {
    let _ = c.nodes.first()?;
    let svc = Service {
        namespace: "default".into(),
        name: "kubernetes".into(),
        labels: BTreeMap::from([
            ("component".into(), "apiserver".into()),
            ("provider".into(), "kubernetes".into()),
        ]),
        selector: None,
        type_: ServiceType::ClusterIp,
        cluster_ip: ClusterIp::Ip(ips.kubernetes_ip()),
        external_name: None,
        external_ips: vec![],
        ports: vec![ServicePort {
            name: "https".into(),
            protocol: Protocol::Tcp,
            port: 443,
            target_port: TargetPort::Number(APISERVER_PORT),
            node_port: None,
        }],
        session_affinity: SessionAffinity::None,
        external_traffic_policy: None,
        internal_traffic_policy: TrafficPolicy::Cluster,
        load_balancer_source_ranges: vec![],
        health_check_node_port: None,
        allocate_load_balancer_node_ports: true,
        load_balancer_ingress: vec![],
        load_balancer_ip: None,
    };
    Some(svc)
}

/// The EndpointSlice the apiserver keeps for `default/kubernetes`.
pub fn kubernetes_slice(c: &ClusterConfig) -> Option<EndpointSlice> {
    let first = c.nodes.first()?;
    Some(EndpointSlice {
        namespace: "default".into(),
        name: "kubernetes".into(),
        labels: BTreeMap::from([(
            crate::model::endpointslice::SERVICE_NAME_LABEL.into(),
            "kubernetes".into(),
        )]),
        endpoints: vec![Endpoint {
            address: first.ip,
            conditions: Conditions { ready: Some(true), serving: Some(true), terminating: Some(false) },
            node_name: Some(first.name.clone()),
            zone: None,
            target_pod: None,
        }],
        ports: vec![EndpointPort {
            name: "https".into(),
            port: Some(APISERVER_PORT),
            protocol: Protocol::Tcp,
        }],
    })
}
