//! The deployment and replicaset controllers (kube-controller-manager): a Deployment
//! gets a ReplicaSet `<deployment>-<pod-template-hash>` per pod template, scaled by the
//! RollingUpdate strategy (`deployment.rs`) when the template changes; a ReplicaSet
//! keeps `replicas` live pods `<replicaset>-<5 random chars>` from its template,
//! labelled with `pod-template-hash`; the scheduler places them. When one of its pods
//! is deleted or starts terminating (kubectl delete, eviction from a failed node) the
//! ReplicaSet creates a replacement at once: terminating pods do not count as replicas.
//! The ReplicaSets a Deployment owns (`ownerReferences` in a real cluster) are
//! remembered by the controller.

use std::collections::BTreeMap;

use sim_core::{SimDuration, SimRng, SimTime};

use super::deployment::{self, RsState};
use super::{Action, Controller};
use crate::model::deployment::{Deployment, ReplicaSet, Workload};
use crate::store::{Object, PodPhase, PodStatus, Store, WatchEvent, WatchKind};

pub struct WorkloadController {
    rng: SimRng,
    /// (namespace, deployment) → the ReplicaSets it created, oldest first.
    owned: BTreeMap<(String, String), Vec<String>>,
}

impl WorkloadController {
    pub fn new(rng: SimRng) -> Self {
        WorkloadController { rng, owned: BTreeMap::new() }
    }

    /// The Deployment owning ReplicaSet `rs`, if one does.
    fn owner_of_rs(&self, namespace: &str, rs: &str) -> Option<(String, String)> {
        self.owned
            .iter()
            .find(|((ns, _), list)| ns == namespace && list.iter().any(|n| n == rs))
            .map(|(k, _)| k.clone())
    }

    /// One rolling-update reconcile of a Deployment: create its current ReplicaSet, or
    /// move replicas from the old ones to it.
    fn reconcile_deployment(&mut self, namespace: &str, name: &str, store: &Store) -> Vec<Action> {
        let Some(dep) = store.deployments().find(|d| d.0.namespace == namespace && d.0.name == name).cloned()
        else {
            return vec![];
        };
        let new_name = dep.replica_set_name();
        let owned = self.owned.entry((namespace.into(), name.into())).or_default().clone();
        let state = |rs: &ReplicaSet| RsState { rs: rs.clone(), available: available(store, rs) };
        let find = |n: &str| store.replica_sets().find(|r| r.0.namespace == namespace && r.0.name == n);
        let old: Vec<RsState> =
            owned.iter().filter(|n| **n != new_name).filter_map(|n| find(n)).map(state).collect();
        let desired = dep.0.replicas;
        let Some(new) = find(&new_name) else {
            let mut rs = new_replica_set(&dep);
            rs.0.replicas = 0;
            let count = deployment::reconcile(desired, &state(&rs), &old)
                .into_iter()
                .find(|(n, _)| *n == new_name)
                .map_or(0, |(_, c)| c);
            rs.0.replicas = count;
            self.owned.entry((namespace.into(), name.into())).or_default().push(new_name.clone());
            let text = if old.is_empty() {
                format!("deployment {namespace}/{name}: create replicaset {new_name}")
            } else {
                format!("deployment {namespace}/{name}: create replicaset {new_name} with {count} replicas")
            };
            return vec![Action::Log(text), Action::Write(Object::ReplicaSet(rs))];
        };
        let mut all = old.clone();
        all.push(state(new));
        let mut actions = Vec::new();
        for (rs_name, count) in deployment::reconcile(desired, &state(new), &old) {
            let Some(s) = all.iter().find(|s| s.rs.0.name == rs_name) else { continue };
            let from = s.rs.0.replicas;
            let dir = if count > from { "up" } else { "down" };
            actions.push(Action::Log(format!(
                "deployment {namespace}/{name}: scaled {dir} replica set {rs_name} to {count} from {from}"
            )));
            let mut rs = s.rs.clone();
            rs.0.replicas = count;
            actions.push(Action::Write(Object::ReplicaSet(rs)));
        }
        actions
    }

    /// Brings the ReplicaSet's live pods to `replicas`: creates the missing ones, or
    /// deletes the surplus (the real controller ranks pods; the model deletes the last
    /// by name).
    fn reconcile(&mut self, rs: &ReplicaSet, store: &Store) -> Vec<Action> {
        let w = &rs.0;
        let prefix = format!("{}-", w.name);
        let mut live: Vec<(crate::model::Pod, PodStatus)> = store
            .pods()
            .filter(|(p, st)| p.namespace == w.namespace && p.name.starts_with(&prefix) && !st.terminating)
            .map(|(p, st)| (p.clone(), st.clone()))
            .collect();
        let want = w.replicas as usize;
        if live.len() >= want {
            live.sort_by(|a, b| b.0.name.cmp(&a.0.name));
            let surplus = live.len() - want;
            let mut actions = Vec::new();
            for (pod, st) in live.into_iter().take(surplus) {
                actions.push(Action::Log(format!(
                    "replicaset {}/{}: delete pod {}",
                    w.namespace, w.name, pod.name
                )));
                actions.push(Action::Write(Object::Pod(
                    pod,
                    PodStatus { terminating: true, ready: false, ..st },
                )));
            }
            return actions;
        }
        let hash = w.template.labels.get("pod-template-hash").cloned();
        let mut scaled = rs.clone();
        scaled.0.replicas = (want - live.len()) as u32;
        self.pods_for(&scaled, hash.as_deref())
    }

    fn pods_for(&mut self, rs: &ReplicaSet, hash: Option<&str>) -> Vec<Action> {
        let w = &rs.0;
        let mut actions =
            vec![Action::Log(format!("replicaset {}/{}: create {} pods", w.namespace, w.name, w.replicas))];
        for _ in 0..w.replicas {
            let mut pod = w.template.clone();
            pod.name = rs.pod_name(&mut self.rng);
            pod.namespace = w.namespace.clone();
            if let Some(h) = hash {
                pod.labels.insert("pod-template-hash".into(), h.to_string());
            }
            let status = PodStatus::pending();
            actions.push(Action::Write(Object::Pod(pod, status)));
        }
        actions
    }
}

impl Controller for WorkloadController {
    /// Informers of the deployment and replicaset controllers.
    fn watches(&self, kind: &str) -> bool {
        ["Deployment", "ReplicaSet", "Pod"].contains(&kind)
    }
    fn name(&self) -> &str {
        "replicaset-controller"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(5)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        // A deleted pod still matters (its ReplicaSet replaces it); other deletions not.
        if ev.kind == WatchKind::Deleted && !matches!(ev.object, Object::Pod(..)) {
            return vec![];
        }
        match &ev.object {
            Object::Deployment(d) => self.reconcile_deployment(&d.0.namespace, &d.0.name, store),
            Object::ReplicaSet(rs) => {
                // Act on the current object: the event may be stale.
                let Some(current) = store
                    .replica_sets()
                    .find(|r| r.0.namespace == rs.0.namespace && r.0.name == rs.0.name)
                    .cloned()
                else {
                    return vec![];
                };
                let mut actions = self.reconcile(&current, store);
                if let Some((ns, dep)) = self.owner_of_rs(&rs.0.namespace, &rs.0.name) {
                    actions.extend(self.reconcile_deployment(&ns, &dep, store));
                }
                actions
            }
            Object::Pod(p, _) => {
                // A pod of a ReplicaSet changed: a terminating one is replaced, a Ready
                // one lets a rollout go on.
                let Some((rs_name, _)) = p.name.rsplit_once('-') else { return vec![] };
                let Some(rs) = store
                    .replica_sets()
                    .find(|r| r.0.namespace == p.namespace && r.0.name == rs_name)
                    .cloned()
                else {
                    return vec![];
                };
                let mut actions = self.reconcile(&rs, store);
                if let Some((ns, dep)) = self.owner_of_rs(&p.namespace, rs_name) {
                    actions.extend(self.reconcile_deployment(&ns, &dep, store));
                }
                actions
            }
            _ => vec![],
        }
    }
}

/// The ReplicaSet for a Deployment's current template.
fn new_replica_set(d: &Deployment) -> ReplicaSet {
    let name = d.replica_set_name();
    let hash = name.rsplit('-').next().unwrap_or_default().to_string();
    let mut template = d.0.template.clone();
    template.labels.insert("pod-template-hash".into(), hash);
    ReplicaSet(Workload { name, template, ..d.0.clone() })
}

/// Pods of `rs` that are available: running, Ready and not terminating.
fn available(store: &Store, rs: &ReplicaSet) -> u32 {
    let prefix = format!("{}-", rs.0.name);
    store
        .pods()
        .filter(|(p, st)| {
            p.namespace == rs.0.namespace
                && p.name.starts_with(&prefix)
                && st.phase == PodPhase::Running
                && st.ready
                && !st.terminating
        })
        .count() as u32
}
