//! Timeline actions other than probes: `delete` (pods and nodes), `setReady`, `scale`
//! (the Deployment's replicas change; the deployment controller scales its ReplicaSet),
//! `apply` (create or update, reported as kubectl prints it: `service/web configured`),
//! and the machine failures of `nodes.rs`, each run at its step's instant.

use sim_core::{EventQueue, SimTime};

use super::{Event, KubeWorld, WorldAction};
use crate::model::Applied;
use crate::store::{Object, PodStatus};

impl KubeWorld {
    /// Schedules a timeline action (delete, setReady, scale, apply, fail, restore, cut, heal).
    pub fn add_action(&mut self, at: SimTime, action: WorldAction, q: &mut EventQueue<Event>) {
        self.actions.push(action);
        q.push(at, Event::Action(self.actions.len() - 1));
    }

    pub(super) fn run_timeline_action(&mut self, idx: usize, now: SimTime, q: &mut EventQueue<Event>) {
        let action = self.actions[idx].clone();
        match action {
            WorldAction::DeletePod { namespace, name } => {
                let Some((pod, st)) = self.store.pod(&namespace, &name).map(|(p, s)| (p.clone(), s.clone()))
                else {
                    return self.log(now, "kubectl", format!("delete pod/{name}: not found"));
                };
                self.log(now, "kubectl", format!("delete pod/{name}: terminating"));
                self.write(Object::Pod(pod, PodStatus { terminating: true, ready: false, ..st }), now, q);
            }
            WorldAction::SetReady { namespace, name, ready } => {
                let Some((pod, st)) = self.store.pod(&namespace, &name).map(|(p, s)| (p.clone(), s.clone()))
                else {
                    return self.log(now, "kubelet", format!("pod/{name}: not found"));
                };
                self.log(
                    now,
                    "kubelet",
                    format!(
                        "pod/{name}: readiness probe {}",
                        if ready { "succeeds: Ready" } else { "fails: not Ready" }
                    ),
                );
                self.write(Object::Pod(pod, PodStatus { ready, ..st }), now, q);
            }
            WorldAction::Scale { namespace, name, replicas } => {
                let dep = self
                    .store
                    .deployments()
                    .find(|d| d.0.namespace == namespace && d.0.name == name)
                    .cloned();
                let Some(mut dep) = dep else {
                    return self.log(now, "kubectl", format!("scale deployment/{name}: not found"));
                };
                self.log(now, "kubectl", format!("scale deployment/{name} --replicas={replicas}"));
                dep.0.replicas = replicas;
                self.write(Object::Deployment(dep), now, q);
            }
            WorldAction::Apply(objects) => {
                for o in objects {
                    self.apply_one(o, now, q);
                }
            }
            WorldAction::DeleteNode(name) => self.delete_node(&name, now, q),
            WorldAction::FailNode(name) => self.fail_node(&name, now, q),
            WorldAction::RestoreNode(name) => self.restore_node(&name, now, q),
            WorldAction::CutLink(name) => self.cut_link(&name, now, q),
            WorldAction::HealLink(name) => self.heal_link(&name, now, q),
        }
    }

    /// One object of `kubectl apply`: created, configured or unchanged.
    fn apply_one(&mut self, o: Applied, now: SimTime, q: &mut EventQueue<Event>) {
        let (what, obj) = match o {
            Applied::Service(s) => (format!("service/{}", s.name), Object::Service(s)),
            Applied::Deployment(d) => (format!("deployment.apps/{}", d.0.name), Object::Deployment(d)),
            Applied::Pod(mut p) => {
                let what = format!("pod/{}", p.name);
                let status = match self.store.pod(&p.namespace, &p.name) {
                    Some((live, st)) => {
                        // The scheduler's binding stays: the manifest does not say.
                        p.node_name = p.node_name.or_else(|| live.node_name.clone());
                        st.clone()
                    }
                    None => PodStatus::pending(),
                };
                (what, Object::Pod(p, status))
            }
        };
        let verb = match self.store.get(&obj.key()) {
            None => "created",
            Some(live) if *live == obj => "unchanged",
            Some(_) => "configured",
        };
        self.log(now, "kubectl", format!("apply: {what} {verb}"));
        if verb != "unchanged" {
            self.write(obj, now, q);
        }
    }
}
