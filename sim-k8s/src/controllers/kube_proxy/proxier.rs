//! kube-proxy in iptables mode as a controller, one per node: on Service and
//! EndpointSlice changes it syncs (`syncProxyRules`) with one `iptables-restore
//! --noflush`. The first sync (and one an hour after, `FullSyncPeriod`) is full: it
//! ensures its jump rules and writes every KUBE-* chain. The others are partial
//! (`MinimizeIPTablesRestore`, on since 1.27): the shared chains and the filter table
//! are rewritten whole, but only the services whose Service or EndpointSlices changed
//! since the last sync get their own SVC/SVL/EXT/FW/SEP chains written; chains no
//! longer used are deleted either way. Changes that arrive together are coalesced into
//! one sync, as the informer plus `minSyncPeriod` do. It keeps a scratch copy of what it
//! wrote, the way the real one reads `iptables-save`, to know which chains exist.

use sim_core::{SimDuration, SimTime};
use sim_net::netfilter::{Netfilter, TableName};
use sim_net::ops::NetOp;

use super::super::{Action, Controller};
use super::{ProxierConfig, jumps, partial_sync_payload};
use crate::store::{Object, Store, WatchEvent};

pub struct KubeProxy {
    name: String,
    cfg: ProxierConfig,
    /// What this node's iptables look like as far as kube-proxy wrote them.
    scratch: Netfilter,
    started: bool,
    /// The next sync must be full (at start, then every [`FULL_SYNC_PERIOD`]).
    need_full_sync: bool,
    last_full_sync: SimTime,
    /// `namespace/name` of the services whose Service or EndpointSlices changed since
    /// the last sync (`serviceChanges` / `endpointsChanges` pending).
    changed: std::collections::BTreeSet<String>,
}

/// `proxyutil.FullSyncPeriod`: at least one full sync an hour.
pub const FULL_SYNC_PERIOD: SimDuration = SimDuration::from_secs(3600);

impl KubeProxy {
    /// kube-proxy starts on a node where the kubelet has written its own rules.
    pub fn new(cfg: ProxierConfig) -> Self {
        let mut scratch = Netfilter::new();
        let _ = scratch.restore(&jumps::kubelet_payload(&Netfilter::new()), true);
        KubeProxy {
            name: format!("kube-proxy/{}", cfg.node_name),
            cfg,
            scratch,
            started: false,
            need_full_sync: true,
            last_full_sync: SimTime::ZERO,
            changed: Default::default(),
        }
    }

    fn restore(&mut self, input: String) -> Action {
        // The scratch copy mirrors the node; a payload the engine refuses would be a bug in
        // the generator, and the real restore on the node reports it too.
        let _ = self.scratch.restore(&input, true);
        Action::Net(NetOp::IptablesRestore { netns: self.cfg.node_name.clone(), input, noflush: true })
    }

    fn sync(&mut self, now: SimTime, store: &Store) -> Vec<Action> {
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
        let full = self.need_full_sync || now.saturating_since(self.last_full_sync) > FULL_SYNC_PERIOD;
        // Only a full sync ensures the jumps from the built-in chains.
        let jumps = if full { jumps::kube_proxy_jumps_payload(&self.scratch) } else { String::new() };
        if !jumps.is_empty() {
            actions.push(self.restore(jumps));
        }
        let chains: Vec<String> = self
            .scratch
            .table(TableName::Nat)
            .map(|t| t.chains.keys().cloned().collect())
            .unwrap_or_default();
        let changed = std::mem::take(&mut self.changed);
        let payload =
            partial_sync_payload(&self.cfg, &services, &slices, &chains, (!full).then_some(&changed));
        let rules = payload.lines().filter(|l| l.starts_with("-A ")).count();
        let ports: usize = services.iter().map(|s| s.ports.len()).sum();
        let text = if full {
            format!("full sync: {} services ({ports} ports), iptables-restore {rules} rules", services.len())
        } else {
            let n =
                services.iter().filter(|s| changed.contains(&format!("{}/{}", s.namespace, s.name))).count();
            format!(
                "partial sync: {n} of {} services changed, iptables-restore {rules} rules",
                services.len()
            )
        };
        actions.push(Action::Log(text));
        if full {
            self.need_full_sync = false;
            self.last_full_sync = now;
        }
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
    fn handle_watch(&mut self, now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        match &ev.object {
            Object::Service(s) => {
                self.changed.insert(format!("{}/{}", s.namespace, s.name));
            }
            Object::EndpointSlice(sl) => {
                if let Some(svc) = sl.service_name() {
                    self.changed.insert(format!("{}/{svc}", sl.namespace));
                }
            }
            _ => return vec![],
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
        self.sync(now, store)
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
