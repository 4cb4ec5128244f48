//! Machines failing on the timeline: `fail`/`restore` (the machine dies and comes
//! back), `cut`/`heal` (only its uplink is unplugged) and `delete: node/NAME`.
//!
//! Either way the node's switch port in `underlay` goes down (`ip link set sw-NODE
//! down`, a `NetOp` the kernel twin replays), so nothing crosses its cable; its kubelet
//! stops renewing the node Lease and its agents (kubelet, kube-proxy, flanneld) stop
//! receiving watch events, because the API server is on the other side of that cable.
//! `fail` also means nothing runs there: probes cannot start on the node or its pods.
//! The control plane notices only through the Lease (node lifecycle controller).
//!
//! A restored node comes back with the state it had (like a machine that hung or a
//! partition that healed, not a reboot): its namespaces, routes and sockets are as they
//! were; its agents reconcile with the API server, then get the events they missed.

use sim_core::{EventQueue, SimTime};
use sim_net::ops::NetOp;

use super::{Event, KubeWorld};
use crate::cluster::UNDERLAY_NETNS;
use crate::controllers::infra::switch_port;
use crate::controllers::node_lifecycle::next_poll;
use crate::store::{NodeLease, Object};

/// Why a node is down; both can hold at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Down {
    pub failed: bool,
    pub cut: bool,
}

impl KubeWorld {
    pub(super) fn fail_node(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>) {
        if self.down.get(name).is_some_and(|d| d.failed) {
            return self.log(now, "infra", format!("{name} has already failed"));
        }
        self.log(
            now,
            "infra",
            format!("{name} fails: its NIC goes dark and its kubelet, kube-proxy and network agent stop"),
        );
        self.take_down(name, now, q, |d| d.failed = true);
    }

    pub(super) fn cut_link(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>) {
        if self.down.get(name).is_some_and(|d| d.cut) {
            return self.log(now, "infra", format!("{name}: uplink already cut"));
        }
        self.log(
            now,
            "infra",
            format!(
                "{name}: uplink cut; the node runs on but reaches neither the API server nor anyone else"
            ),
        );
        self.take_down(name, now, q, |d| d.cut = true);
    }

    pub(super) fn restore_node(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>) {
        if !self.down.get(name).is_some_and(|d| d.failed) {
            return self.log(now, "infra", format!("{name} has not failed: nothing to restore"));
        }
        self.log(now, "infra", format!("{name} is back (with the state it had)"));
        self.bring_up(name, now, q, |d| d.failed = false);
    }

    pub(super) fn heal_link(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>) {
        if !self.down.get(name).is_some_and(|d| d.cut) {
            return self.log(now, "infra", format!("{name}: uplink is not cut"));
        }
        self.log(now, "infra", format!("{name}: uplink plugged back in"));
        self.bring_up(name, now, q, |d| d.cut = false);
    }

    /// `kubectl delete node NAME`: the Node object (and its Lease) go; the machine, if
    /// it still runs, is untouched.
    pub(super) fn delete_node(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>) {
        let Some((node, st)) = self.store.node(name).map(|(n, s)| (n.clone(), s.clone())) else {
            return self.log(now, "kubectl", format!("delete node/{name}: not found"));
        };
        self.log(now, "kubectl", format!("delete node/{name}"));
        self.store.leases.remove(name);
        self.delete(&Object::Node(node, st), now, q);
    }

    fn take_down(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>, f: impl FnOnce(&mut Down)) {
        let was_down = self.down.contains_key(name);
        f(self.down.entry(name.to_string()).or_default());
        if was_down {
            return;
        }
        self.set_port(name, false, now, q);
        if let Some(lease) = self.store.leases.get_mut(name) {
            lease.stopped = Some(now);
        }
        self.wake_lifecycle(now, q);
    }

    fn bring_up(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>, f: impl FnOnce(&mut Down)) {
        let Some(d) = self.down.get_mut(name) else { return };
        f(d);
        if d.failed || d.cut {
            return;
        }
        self.down.remove(name);
        self.set_port(name, true, now, q);
        if let Some(lease) = self.store.leases.get_mut(name) {
            // The kubelet renews at once when it reaches the API server again.
            *lease = NodeLease { since: now, stopped: None, ..lease.clone() };
        }
        self.reconnect_agents(name, now, q);
        self.wake_lifecycle(now, q);
    }

    /// `ip -n underlay link set sw-NODE up|down`: the node's cable at the switch.
    fn set_port(&mut self, name: &str, up: bool, now: SimTime, q: &mut EventQueue<Event>) {
        let Some(port) = switch_port(&self.cluster, name) else { return };
        let op = NetOp::SetLinkUp { netns: UNDERLAY_NETNS.to_string(), dev: port, up };
        self.apply_net("infra", op, now, q);
    }

    /// The node's agents reconcile with the API server, then receive the watch events
    /// they missed, in order, each after its own latency.
    fn reconnect_agents(&mut self, name: &str, now: SimTime, q: &mut EventQueue<Event>) {
        let agents: Vec<usize> =
            (0..self.controllers.len()).filter(|&c| self.controllers[c].node() == Some(name)).collect();
        for &c in &agents {
            let actions = self.controllers[c].reconnect(now, &self.store);
            self.run_controller_actions(c, actions, now, q);
        }
        let (mine, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.withheld).into_iter().partition(|(c, _)| agents.contains(c));
        self.withheld = rest;
        for (controller, watch) in mine {
            let latency = self.controllers[controller].latency();
            q.push(now + latency, Event::Deliver { controller, watch });
        }
    }

    /// The node lifecycle controller polls at its next period boundary (see
    /// `controllers::node_lifecycle`: polls are simulated only while needed).
    fn wake_lifecycle(&mut self, now: SimTime, q: &mut EventQueue<Event>) {
        let at = next_poll(self.cluster.timers.node_monitor_period, now);
        q.push(at, Event::Timer(self.lifecycle));
    }
}
