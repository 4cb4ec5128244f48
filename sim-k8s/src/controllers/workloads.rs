//! The deployment and replicaset controllers (kube-controller-manager): a Deployment
//! gets a ReplicaSet `<deployment>-<pod-template-hash>`, and a ReplicaSet gets
//! `replicas` pods `<replicaset>-<5 random chars>` from its template, labelled with
//! `pod-template-hash`; the scheduler places them. When one of its pods is deleted or
//! starts terminating (kubectl delete, eviction from a failed node) the ReplicaSet
//! creates a replacement at once: terminating pods do not count as replicas.
//! Rollouts are not modelled.

use sim_core::{SimDuration, SimRng, SimTime};

use super::{Action, Controller};
use crate::model::deployment::{ReplicaSet, Workload};
use crate::store::{Object, PodStatus, Store, WatchEvent, WatchKind};

pub struct WorkloadController {
    rng: SimRng,
}

impl WorkloadController {
    pub fn new(rng: SimRng) -> Self {
        WorkloadController { rng }
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
    fn name(&self) -> &str {
        "replicaset-controller"
    }
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(5)
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        if let (WatchKind::Modified, Object::ReplicaSet(rs)) = (ev.kind, &ev.object) {
            return self.reconcile(rs, store);
        }
        if let Object::Pod(pod, st) = &ev.object
            && (ev.kind == WatchKind::Deleted || (ev.kind == WatchKind::Modified && st.terminating))
        {
            // The owning ReplicaSet (its pods are named `<replicaset>-<suffix>`).
            let owner = store
                .replica_sets()
                .find(|r| {
                    r.0.namespace == pod.namespace
                        && pod.name.strip_prefix(&r.0.name).is_some_and(|rest| rest.starts_with('-'))
                })
                .cloned();
            return owner.map(|rs| self.reconcile(&rs, store)).unwrap_or_default();
        }
        if ev.kind != WatchKind::Added {
            return vec![];
        }
        match &ev.object {
            Object::Deployment(d) => {
                let name = d.replica_set_name();
                let hash = name.rsplit('-').next().unwrap_or_default().to_string();
                let mut template = d.0.template.clone();
                template.labels.insert("pod-template-hash".into(), hash);
                let rs = ReplicaSet(Workload { name: name.clone(), template, ..d.0.clone() });
                vec![
                    Action::Log(format!(
                        "deployment {}/{}: create replicaset {name}",
                        d.0.namespace, d.0.name
                    )),
                    Action::Write(Object::ReplicaSet(rs)),
                ]
            }
            Object::ReplicaSet(rs) => self.reconcile(rs, store),
            _ => vec![],
        }
    }
}
