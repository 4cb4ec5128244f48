//! The service controller of cloud-controller-manager: for each `type: LoadBalancer`
//! Service without an external address it takes one from `cluster.loadBalancerPool`
//! (or the requested `spec.loadBalancerIP`) and writes `status.loadBalancer.ingress`.
//! The load balancer itself is programmed after its own latency by `crate::lb`.
//!
//! Its events are the real controller's: `EnsuringLoadBalancer`, `EnsuredLoadBalancer`,
//! and `SyncLoadBalancerFailed` with "Error syncing load balancer: failed to ensure load
//! balancer: ..." when the pool is exhausted or the requested address is taken or
//! outside the pool (the last two are the messages MetalLB gives, in the cloud
//! controller's wording). `ipMode` is `Proxy` in `nodeport` mode (the LB proxies to
//! node ports, so kube-proxy must not capture the address) and `VIP` in `vip` mode.

use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};

use super::{Action, Controller};
use crate::model::service::{IpMode, LoadBalancerIngress, Service, ServiceType};
use crate::scenario::{LbMode, LoadBalancerConfig};
use crate::store::{Object, Store, WatchEvent, WatchKind};

pub struct ServiceController {
    cfg: LoadBalancerConfig,
}

impl ServiceController {
    pub fn new(cfg: LoadBalancerConfig) -> Self {
        ServiceController { cfg }
    }

    /// The address for `svc`, or why there is none.
    fn allocate(&self, svc: &Service, store: &Store) -> Result<Ipv4Addr, String> {
        let taken: Vec<(Ipv4Addr, String)> = store
            .services()
            .filter(|s| s.key() != svc.key())
            .flat_map(|s| s.load_balancer_ingress.iter().map(move |i| (i.ip, s.key())))
            .collect();
        let pool = self.cfg.pool;
        if let Some(ip) = svc.load_balancer_ip {
            if !pool.contains(&ip) {
                return Err(format!("requested IP {ip} is not in the load balancer pool {pool}"));
            }
            if let Some((_, owner)) = taken.iter().find(|(t, _)| *t == ip) {
                return Err(format!("requested IP {ip} is already assigned to {owner}"));
            }
            return Ok(ip);
        }
        pool.hosts()
            .find(|ip| !taken.iter().any(|(t, _)| t == ip) && *ip != self.cfg.ip)
            .ok_or_else(|| format!("no available IP in the load balancer pool {pool}"))
    }
}

impl Controller for ServiceController {
    /// Informers of the cloud service controller: services and nodes.
    fn watches(&self, kind: &str) -> bool {
        ["Service", "Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        "service-controller"
    }
    /// Informer delivery plus the cloud API call that reserves the address.
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(200)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        let Object::Service(svc) = &ev.object else { return vec![] };
        if ev.kind == WatchKind::Deleted || svc.type_ != ServiceType::LoadBalancer {
            return vec![];
        }
        // Act on the current object only (a later write supersedes this event).
        let Some(cur) = store.service(&svc.namespace, &svc.name) else { return vec![] };
        if !cur.load_balancer_ingress.is_empty() || cur != svc {
            return vec![];
        }
        let key = svc.key();
        match self.allocate(cur, store) {
            Ok(ip) => {
                let ip_mode = match self.cfg.mode {
                    LbMode::NodePort => IpMode::Proxy,
                    LbMode::Vip => IpMode::Vip,
                };
                let mut updated = cur.clone();
                updated.load_balancer_ingress = vec![LoadBalancerIngress { ip, ip_mode }];
                vec![
                    Action::Log(format!(
                        "service/{key}: Normal EnsuringLoadBalancer: Ensuring load balancer"
                    )),
                    Action::Write(Object::Service(updated)),
                    Action::Log(format!(
                        "service/{key}: Normal EnsuredLoadBalancer: Ensured load balancer (ingress {ip}, ipMode {})",
                        match ip_mode {
                            IpMode::Vip => "VIP",
                            IpMode::Proxy => "Proxy",
                        }
                    )),
                ]
            }
            Err(e) => vec![
                Action::Log(format!("service/{key}: Normal EnsuringLoadBalancer: Ensuring load balancer")),
                Action::Log(format!(
                    "service/{key}: Warning SyncLoadBalancerFailed: Error syncing load balancer: failed to ensure load balancer: {e}"
                )),
            ],
        }
    }
}
