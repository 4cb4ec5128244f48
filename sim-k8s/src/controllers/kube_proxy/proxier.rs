//! kube-proxy in iptables mode as a controller, one per node: on Service and
//! EndpointSlice changes it does a full sync (`syncProxyRules`): it ensures its jump
//! rules and writes the whole KUBE-* rule set with one `iptables-restore --noflush`.
//! Changes that arrive together are coalesced into one sync, as the informer plus
//! `minSyncPeriod` do. It keeps a scratch copy of what it wrote, the way the real one
//! reads `iptables-save` at a full sync, to know which chains exist.

use sim_core::{SimDuration, SimTime};
use sim_net::netfilter::{Netfilter, TableName};
use sim_net::ops::NetOp;

use super::super::{Action, Controller};
use super::{ProxierConfig, full_sync_payload, jumps};
use crate::store::{Object, Store, WatchEvent};

pub struct KubeProxy {
    name: String,
    cfg: ProxierConfig,
    /// What this node's iptables look like as far as kube-proxy wrote them.
    scratch: Netfilter,
    started: bool,
}

impl KubeProxy {
    /// kube-proxy starts on a node where the kubelet has written its own rules.
    pub fn new(cfg: ProxierConfig) -> Self {
        let mut scratch = Netfilter::new();
        let _ = scratch.restore(&jumps::kubelet_payload(&Netfilter::new()), true);
        KubeProxy { name: format!("kube-proxy/{}", cfg.node_name), cfg, scratch, started: false }
    }

    fn restore(&mut self, input: String) -> Action {
        // The scratch copy mirrors the node; a payload the engine refuses would be a bug in
        // the generator, and the real restore on the node reports it too.
        let _ = self.scratch.restore(&input, true);
        Action::Net(NetOp::IptablesRestore { netns: self.cfg.node_name.clone(), input, noflush: true })
    }

    fn sync(&mut self, store: &Store) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.started {
            self.started = true;
            if self.cfg.localhost_nodeports {
                actions.push(Action::Net(NetOp::Sysctl {
                    netns: self.cfg.node_name.clone(),
                    key: "net.ipv4.conf.all.route_localnet".into(),
                    value: "1".into(),
                }));
            }
        }
        let services: Vec<_> = store.services().cloned().collect();
        let slices: Vec<_> = store.endpoint_slices().cloned().collect();
        let jumps = jumps::kube_proxy_jumps_payload(&self.scratch);
        if !jumps.is_empty() {
            actions.push(self.restore(jumps));
        }
        let chains: Vec<String> = self
            .scratch
            .table(TableName::Nat)
            .map(|t| t.chains.keys().cloned().collect())
            .unwrap_or_default();
        let payload = full_sync_payload(&self.cfg, &services, &slices, &chains);
        let rules = payload.lines().filter(|l| l.starts_with("-A ")).count();
        let ports: usize = services.iter().map(|s| s.ports.len()).sum();
        actions.push(Action::Log(format!(
            "sync: {} services ({ports} ports), iptables-restore {rules} rules",
            services.len()
        )));
        actions.push(self.restore(payload));
        // After a successful restore: delete UDP flows still pointing at endpoints that
        // no longer serve (CleanStaleEntries).
        let frontends = super::conntrack::udp_frontends(&services, &slices, &self.cfg.node_name);
        if !frontends.is_empty() {
            actions.push(Action::ConntrackCleanup { netns: self.cfg.node_name.clone(), frontends });
        }
        actions.extend(self.health_servers(&services, &slices));
        actions
    }

    /// `serviceHealthServer.SyncServices` + `SyncEndpoints`: one health server per
    /// service that needs one, told how many local ready endpoints it has (counted per
    /// service, by address, as `LocalReadyEndpoints` does).
    fn health_servers(
        &self,
        services: &[crate::model::service::Service],
        slices: &[crate::model::endpointslice::EndpointSlice],
    ) -> Vec<Action> {
        use crate::model::endpointslice::SERVICE_NAME_LABEL;
        let mut out = Vec::new();
        for svc in services.iter().filter(|s| s.needs_health_check()) {
            let Some(port) = svc.health_check_node_port else { continue };
            let mut local: Vec<std::net::Ipv4Addr> = slices
                .iter()
                .filter(|sl| {
                    sl.namespace == svc.namespace
                        && sl.labels.get(SERVICE_NAME_LABEL).is_some_and(|n| *n == svc.name)
                })
                .flat_map(|sl| sl.endpoints.iter())
                .filter(|e| {
                    e.node_name.as_deref() == Some(self.cfg.node_name.as_str())
                        && e.conditions.ready.unwrap_or(true)
                })
                .map(|e| e.address)
                .collect();
            local.sort();
            local.dedup();
            out.push(Action::ServeHealth {
                netns: self.cfg.node_name.clone(),
                port,
                namespace: svc.namespace.clone(),
                name: svc.name.clone(),
                endpoints: local.len(),
            });
        }
        out
    }
}

impl Controller for KubeProxy {
    /// Informers of kube-proxy: services, slices and nodes.
    fn watches(&self, kind: &str) -> bool {
        ["Service", "EndpointSlice", "Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn node(&self) -> Option<&str> {
        Some(&self.cfg.node_name)
    }
    /// Informer delivery plus the sync itself.
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(100)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        if !matches!(ev.object, Object::Service(_) | Object::EndpointSlice(_)) {
            return vec![];
        }
        // Coalesce: a later Service/EndpointSlice change will trigger its own sync.
        let later = store
            .log
            .iter()
            .rev()
            .take_while(|e| e.resource_version > ev.resource_version)
            .any(|e| matches!(e.object, Object::Service(_) | Object::EndpointSlice(_)));
        if later {
            return vec![];
        }
        self.sync(store)
    }
}

/// The kubelet's own iptables rules on a node (KUBE-FIREWALL, KUBE-KUBELET-CANARY,
/// KUBE-IPTABLES-HINT), written once at startup.
pub fn kubelet_rules(node: &str) -> NetOp {
    NetOp::IptablesRestore {
        netns: node.to_string(),
        input: jumps::kubelet_payload(&Netfilter::new()),
        noflush: true,
    }
}
