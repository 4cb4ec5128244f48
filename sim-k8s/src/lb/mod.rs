//! The cloud's external load balancer (what cloud-controller-manager programs for a
//! `type: LoadBalancer` Service): its own namespace `lb` on the node network, one
//! frontend per Service with an external IP, health checks against every node, and the
//! forwarding to healthy nodes (`rules.rs`, `select.rs`, `health.rs`). It is configured
//! only with `NetOp`s; the world runs its health-check connections (`world/lbhost.rs`).
//!
//! Health checks, as GCE and AWS run them for Kubernetes: eTP Cluster → a TCP connect
//! to nodeIP:nodePort (the first port's); eTP Local → `GET /healthz` on
//! nodeIP:healthCheckNodePort, healthy only on HTTP 200 (kube-proxy answers 503 when
//! the node has no local ready endpoint).

pub mod health;
pub mod rules;
pub mod select;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::SimRng;
use sim_net::ops::{NetOp, RouteSpec};

use crate::model::service::{Service, ServiceType};
use crate::scenario::{ClusterConfig, LbMode};
use health::TargetHealth;
pub use rules::{FrontPort, LB_NETNS};

/// How a frontend's targets are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// TCP connect to the node port.
    Tcp(u16),
    /// `GET /healthz` on the health-check node port.
    Http(u16),
}

/// One Service's frontend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontend {
    pub vip: Ipv4Addr,
    pub ports: Vec<FrontPort>,
    pub source_ranges: Vec<Ipv4Net>,
    pub check: Option<Check>,
}

impl Frontend {
    /// The frontend of a LoadBalancer Service with an external IP.
    pub fn of(svc: &Service) -> Option<Frontend> {
        if svc.type_ != ServiceType::LoadBalancer {
            return None;
        }
        let vip = svc.load_balancer_ingress.first()?.ip;
        let ports: Vec<FrontPort> = svc
            .ports
            .iter()
            .map(|p| FrontPort {
                proto: match p.protocol {
                    crate::model::Protocol::Udp => "udp",
                    crate::model::Protocol::Sctp => "sctp",
                    crate::model::Protocol::Tcp => "tcp",
                },
                port: p.port,
                node_port: p.node_port,
                name: if p.name.is_empty() { svc.key() } else { format!("{}:{}", svc.key(), p.name) },
            })
            .collect();
        let check = match svc.health_check_node_port.filter(|_| svc.needs_health_check()) {
            Some(hc) => Some(Check::Http(hc)),
            None => ports.iter().find(|p| p.proto == "tcp").and_then(|p| p.node_port).map(Check::Tcp),
        };
        Some(Frontend { vip, ports, source_ranges: svc.load_balancer_source_ranges.clone(), check })
    }
}

/// A (service key, node name) health-check target.
pub type TargetKey = (String, String);

/// The load balancer's state and its programming.
pub struct LoadBalancer {
    cfg: ClusterConfig,
    rng: SimRng,
    created: bool,
    pub frontends: BTreeMap<String, Frontend>,
    pub health: BTreeMap<TargetKey, TargetHealth>,
    /// What was last written: the nat/filter payload and each VIP's route next hop.
    payload: String,
    routes: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

impl LoadBalancer {
    pub fn new(cfg: ClusterConfig, rng: SimRng) -> Self {
        LoadBalancer {
            cfg,
            rng,
            created: false,
            frontends: BTreeMap::new(),
            health: BTreeMap::new(),
            payload: String::new(),
            routes: BTreeMap::new(),
        }
    }

    /// Reads the Services: frontends appear and go; returns the ops to apply, log
    /// lines, and the targets whose health checking starts now.
    pub fn sync<'a>(
        &mut self,
        services: impl Iterator<Item = &'a Service>,
    ) -> (Vec<NetOp>, Vec<String>, Vec<TargetKey>) {
        let wanted: BTreeMap<String, Frontend> =
            services.filter_map(|s| Frontend::of(s).map(|f| (s.key(), f))).collect();
        let mut ops = Vec::new();
        let mut logs = Vec::new();
        let mut new_targets = Vec::new();
        if !wanted.is_empty() && !self.created {
            self.created = true;
            ops.extend(rules::bootstrap(&self.cfg, &mut self.rng));
            logs.push(format!(
                "load balancer up at {} ({} mode), pool {} routed to it",
                self.cfg.load_balancer.ip,
                self.cfg.load_balancer.mode.as_str(),
                self.cfg.load_balancer.pool
            ));
        }
        for (key, f) in &wanted {
            if self.frontends.get(key) != Some(f) {
                let check = match f.check {
                    Some(Check::Tcp(p)) => format!("TCP :{p}"),
                    Some(Check::Http(p)) => format!("HTTP :{p}/healthz"),
                    None => "none".into(),
                };
                logs.push(format!("frontend {key} at {}: health check {check} on every node", f.vip));
            }
            for n in &self.cfg.nodes {
                let k = (key.clone(), n.name.clone());
                if !self.health.contains_key(&k) && f.check.is_some() {
                    self.health.insert(k.clone(), TargetHealth::default());
                    new_targets.push(k);
                }
            }
        }
        self.health.retain(|(svc, _), _| wanted.contains_key(svc));
        for key in self.frontends.keys() {
            if !wanted.contains_key(key) {
                logs.push(format!("frontend {key} removed"));
            }
        }
        self.frontends = wanted;
        if self.created {
            ops.extend(self.program());
        }
        (ops, logs, new_targets)
    }

    /// Records a check result; on a state change (or a target's first result) returns
    /// the log line and the ops. The forwarding is rewritten only once every target of
    /// the frontend has answered its first check: until then it stays open to all nodes,
    /// instead of following each first answer as it arrives.
    pub fn record(&mut self, target: &TargetKey, ok: bool, why: &str) -> Option<(String, Vec<NetOp>)> {
        let cfg = self.cfg.load_balancer.health_check;
        let h = self.health.get_mut(target)?;
        let first = !h.checked;
        let line = match h.record(ok, &cfg) {
            Some(true) => format!("{} healthy for {} ({why})", target.1, target.0),
            Some(false) => format!("{} unhealthy for {} ({why})", target.1, target.0),
            // The first answer is worth a line even when it changes nothing yet.
            None if first => format!("{} not healthy yet for {} ({why})", target.1, target.0),
            None => return None,
        };
        let all_checked = self.health.iter().filter(|((svc, _), _)| *svc == target.0).all(|(_, h)| h.checked);
        Some((line, if all_checked { self.program() } else { vec![] }))
    }

    /// The node IPs a frontend may use now: the healthy ones, or all (fail-open, also
    /// before every target has answered once).
    fn targets(&self, key: &str) -> Vec<(String, Ipv4Addr)> {
        let all: Vec<(String, Ipv4Addr)> = self.cfg.nodes.iter().map(|n| (n.name.clone(), n.ip)).collect();
        let healthy: Vec<(String, Ipv4Addr)> = all
            .iter()
            .filter(|(n, _)| self.health.get(&(key.to_string(), n.clone())).is_some_and(|h| h.healthy))
            .cloned()
            .collect();
        let all_checked = self.health.iter().filter(|((svc, _), _)| svc == key).all(|(_, h)| h.checked);
        if healthy.is_empty() || !all_checked { all } else { healthy }
    }

    /// The ops that bring the namespace to the current frontends and health.
    fn program(&mut self) -> Vec<NetOp> {
        let mut ops = Vec::new();
        match self.cfg.load_balancer.mode {
            LbMode::NodePort => {
                let targets: Vec<(String, Vec<Ipv4Addr>)> = self
                    .frontends
                    .keys()
                    .map(|k| (k.clone(), self.targets(k).into_iter().map(|t| t.1).collect()))
                    .collect();
                let fr: Vec<rules::FrontendRules<'_>> = self
                    .frontends
                    .iter()
                    .zip(targets)
                    .map(|((_, f), (_, t))| rules::FrontendRules {
                        vip: f.vip,
                        ports: &f.ports,
                        source_ranges: &f.source_ranges,
                        targets: t,
                    })
                    .collect();
                let payload = rules::nodeport_payload(&fr);
                if payload != self.payload {
                    self.payload = payload.clone();
                    ops.push(NetOp::IptablesRestore {
                        netns: LB_NETNS.into(),
                        input: payload,
                        noflush: false,
                    });
                }
            }
            LbMode::Vip => {
                let mut want = BTreeMap::new();
                for (key, f) in &self.frontends {
                    let t = self.targets(key);
                    let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
                    let winner = select::rank(&names, f.vip).first().copied().map(str::to_string);
                    if let Some(ip) = winner.and_then(|w| t.iter().find(|(n, _)| *n == w).map(|x| x.1)) {
                        want.insert(f.vip, ip);
                    }
                }
                let route = |vip: Ipv4Addr, via: Ipv4Addr| {
                    RouteSpec::new(Ipv4Net::new(vip, 32).expect("32 is a valid prefix")).via(via).dev("eth0")
                };
                for (vip, via) in &self.routes {
                    if want.get(vip) != Some(via) {
                        ops.push(NetOp::DelRoute { netns: LB_NETNS.into(), route: route(*vip, *via) });
                    }
                }
                for (vip, via) in &want {
                    if self.routes.get(vip) != Some(via) {
                        ops.push(NetOp::AddRoute { netns: LB_NETNS.into(), route: route(*vip, *via) });
                    }
                }
                self.routes = want;
            }
        }
        ops
    }

    /// The frontend and node address of a target, if both still exist.
    pub fn target_addr(&self, t: &TargetKey) -> Option<(Check, Ipv4Addr)> {
        let f = self.frontends.get(&t.0)?;
        let node = self.cfg.nodes.iter().find(|n| n.name == t.1)?;
        Some((f.check?, node.ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three nodes, `vip` mode, one Service whose manifest already carries its address.
    fn lb() -> (LoadBalancer, Vec<Service>) {
        let yaml = "cluster: {nodes: 3, loadBalancer: {mode: vip}}\nmanifests:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: web}\n    spec: {type: LoadBalancer, ports: [{port: 80, nodePort: 30080}]}\n    status: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}\n";
        let s = crate::scenario::load_str("t.yaml", yaml, std::path::Path::new(".")).expect("loads");
        let services = s.workloads.services.to_vec();
        (LoadBalancer::new(s.cluster.clone(), sim_core::RngStreams::new(0).stream("lb")), services)
    }

    fn routes(ops: &[NetOp]) -> Vec<String> {
        ops.iter()
            .filter_map(|op| match op {
                NetOp::AddRoute { netns, route } if netns == LB_NETNS && route.dst.prefix_len() == 32 => {
                    Some(format!("add {route}"))
                }
                NetOp::DelRoute { netns, route } if netns == LB_NETNS => Some(format!("del {route}")),
                _ => None,
            })
            .collect()
    }

    fn key(node: &str) -> TargetKey {
        ("default/web".into(), node.into())
    }

    #[test]
    fn vip_goes_to_the_best_ranked_healthy_node_and_moves_when_it_fails() {
        let (mut lb, services) = lb();
        let (ops, _, targets) = lb.sync(services.iter());
        assert_eq!(targets.len(), 3, "one target per node");
        // Nobody checked yet: fail open to all, MetalLB's first choice for .1 is node-3.
        assert_eq!(routes(&ops), ["add 198.51.100.1/32 via 192.168.1.13 dev eth0"]);
        for n in ["node-1", "node-2"] {
            let (_, ops) = lb.record(&key(n), true, "TCP connect ok").unwrap();
            assert!(ops.is_empty(), "not every node has answered yet");
        }
        let (line, ops) = lb.record(&key("node-3"), true, "TCP connect ok").unwrap();
        assert_eq!(line, "node-3 healthy for default/web (TCP connect ok)");
        assert!(ops.is_empty(), "node-3 keeps the VIP");
        assert!(lb.record(&key("node-3"), false, "timeout").is_none());
        assert!(lb.record(&key("node-3"), false, "timeout").is_none());
        let (line, ops) = lb.record(&key("node-3"), false, "timeout").unwrap();
        assert_eq!(line, "node-3 unhealthy for default/web (timeout)");
        assert_eq!(
            routes(&ops),
            [
                "del 198.51.100.1/32 via 192.168.1.13 dev eth0",
                "add 198.51.100.1/32 via 192.168.1.12 dev eth0"
            ]
        );
    }
}
