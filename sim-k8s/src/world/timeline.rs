//! Timeline actions other than probes: `delete` (pods and nodes), `setReady`, `scale`,
//! and the machine failures of `nodes.rs`, each run at its step's instant.

use sim_core::{EventQueue, SimTime};

use super::{Event, KubeWorld, WorldAction};
use crate::store::{Object, PodStatus};

impl KubeWorld {
    /// Schedules a timeline action (delete, setReady, scale, fail, restore, cut, heal).
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
                let Some(dep) = dep else {
                    return self.log(now, "kubectl", format!("scale deployment/{name}: not found"));
                };
                let rs_name = dep.replica_set_name();
                let rs = self
                    .store
                    .replica_sets()
                    .find(|r| r.0.namespace == namespace && r.0.name == rs_name)
                    .cloned();
                let Some(mut rs) = rs else {
                    return self.log(now, "kubectl", format!("scale deployment/{name}: no replicaset yet"));
                };
                self.log(now, "kubectl", format!("scale deployment/{name} --replicas={replicas}"));
                rs.0.replicas = replicas;
                self.write(Object::ReplicaSet(rs), now, q);
            }
            WorldAction::DeleteNode(name) => self.delete_node(&name, now, q),
            WorldAction::FailNode(name) => self.fail_node(&name, now, q),
            WorldAction::RestoreNode(name) => self.restore_node(&name, now, q),
            WorldAction::CutLink(name) => self.cut_link(&name, now, q),
            WorldAction::HealLink(name) => self.heal_link(&name, now, q),
        }
    }
}
