//! The kubelet of one node: for each pod bound to its node it creates the sandbox
//! (network namespace with `lo` up, then CNI ADD through the bridge plugin with
//! host-local IPAM), reports the pod IP, and starts the containers' built-in
//! applications (`crate::apps`): every declared `containerPort` gets a server —
//! `http-echo` on TCP, `udp-echo` on UDP — unless the pod's annotation
//! `kube-netsim.io/app` picks another (`tcp-echo`, `none`). Real programs listen
//! without declaring ports; the simulator needs the declaration (docs/fidelity.md).
//! Container ports with a `hostPort` go through the `portmap` plugin, chained after
//! the bridge plugin, on ADD and (first) on DEL.

use std::collections::BTreeSet;

use ipnet::Ipv4Net;
use sim_core::{SimDuration, SimRng, SimTime};
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;

use super::cni::{bridge, host_local::HostLocal, portmap};
use super::{Action, Controller};
use crate::apps::{self, ServerApp};
use crate::cluster::pod_netns;
use crate::model::{Pod, Protocol};
use crate::store::{Object, PodPhase, PodStatus, Store, WatchEvent};

pub use crate::apps::APP_ANNOTATION;

/// A server a hostNetwork pod listens with in its node's namespace: (netns, protocol, port).
type HostServer = (String, IpProto, u16);
/// A sandbox as the kubelet remembers it for CNI DEL: host veth, IP, container ID and
/// the port mappings portmap was given.
type Sandbox = (String, std::net::Ipv4Addr, String, Vec<portmap::PortMapping>);

pub struct Kubelet {
    /// The bridge plugin's config (from flannel's subnet.env, or the plain default).
    cni: bridge::BridgeConfig,
    name: String,
    node: String,
    node_ip: std::net::Ipv4Addr,
    ipam: HostLocal,
    pod_cidr: Ipv4Net,
    bridge_exists: bool,
    started: BTreeSet<(String, String)>,
    /// Pods whose sandbox this kubelet created: (namespace, name) → (host veth, IP,
    /// sandbox container ID, the port mappings portmap was given).
    sandboxes: std::collections::BTreeMap<(String, String), Sandbox>,
    /// The servers hostNetwork pods started in the node's namespace: (namespace, name) →
    /// (netns, protocol, port), stopped when the pod goes (its sockets were the node's,
    /// no namespace dies with them). Kept here so a pod already gone from the API (force
    /// deleted while the node was away) can still be stopped.
    host_servers: std::collections::BTreeMap<(String, String), Vec<HostServer>>,
    rng: SimRng,
    /// The container runtime's sandbox IDs (64 hex digits), a stream of their own.
    sandbox_ids: SimRng,
    /// The portmap plugin's shared chains exist on this node.
    portmap_ready: bool,
}

impl Kubelet {
    pub fn new(
        node: &str,
        node_ip: std::net::Ipv4Addr,
        pod_cidr: Ipv4Net,
        cni: bridge::BridgeConfig,
        rng: SimRng,
        sandbox_ids: SimRng,
    ) -> Self {
        Kubelet {
            cni,
            name: format!("kubelet/{node}"),
            node: node.to_string(),
            node_ip,
            ipam: HostLocal::new(pod_cidr),
            pod_cidr,
            bridge_exists: false,
            started: BTreeSet::new(),
            sandboxes: Default::default(),
            host_servers: Default::default(),
            rng,
            sandbox_ids,
            portmap_ready: false,
        }
    }

    /// A new sandbox ID, as containerd generates them (32 random bytes, hex).
    fn sandbox_id(&mut self) -> String {
        use rand_core::Rng;
        (0..8).map(|_| format!("{:08x}", self.sandbox_ids.next_u32())).collect()
    }

    fn start_pod(&mut self, pod: &Pod, store: &Store) -> Vec<Action> {
        let mut actions = Vec::new();
        let (netns, pod_ip) = if pod.host_network {
            (self.node.clone(), self.node_ip)
        } else {
            let netns = pod_netns(&pod.namespace, &pod.name);
            let Some(ip) = self.ipam.allocate() else {
                return vec![Action::Log(format!(
                    "CNI ADD {} failed: no IP addresses available in range set {}",
                    pod.key(),
                    self.pod_cidr
                ))];
            };
            let addr = Ipv4Net::new(ip, self.pod_cidr.prefix_len()).expect("prefix of a valid net");
            actions.push(Action::Net(NetOp::AddNetns { name: netns.clone() }));
            actions.push(Action::PluginNet(
                "cni-loopback",
                NetOp::SetLinkUp { netns: netns.clone(), dev: "lo".into(), up: true },
            ));
            let (ops, res) = bridge::add(
                &self.node,
                &netns,
                addr,
                self.ipam.gateway(),
                self.bridge_exists,
                &self.cni,
                &mut self.rng,
            );
            self.bridge_exists = true;
            let id = self.sandbox_id();
            let maps = portmap::mappings(pod);
            self.sandboxes.insert(
                (pod.namespace.clone(), pod.name.clone()),
                (res.host_veth.clone(), ip, id.clone(), maps.clone()),
            );
            actions.push(Action::Log(format!("CNI ADD {} -> {}, {}", pod.key(), res.host_veth, res.ip)));
            actions.extend(ops.into_iter().map(|op| Action::PluginNet("cni-bridge", op)));
            if !maps.is_empty() {
                let input = portmap::add_payload(&id, res.ip, &maps, self.portmap_ready);
                self.portmap_ready = true;
                let ports: Vec<String> = maps
                    .iter()
                    .map(|m| format!("{}/{} -> {}", m.host_port, m.protocol, m.container_port))
                    .collect();
                actions.push(Action::Log(format!(
                    "portmap: hostPort {} via {}",
                    ports.join(", "),
                    portmap::dnat_chain_name(portmap::NETWORK_NAME, &id)
                )));
                let op = NetOp::IptablesRestore { netns: self.node.clone(), input, noflush: true };
                actions.push(Action::PluginNet("cni-portmap", op));
            }
            (netns, ip)
        };
        // The containers start with the variables of the services that exist now.
        let env = crate::envvars::for_pod(pod, store.services());
        actions.push(Action::ContainerEnv { namespace: pod.namespace.clone(), pod: pod.name.clone(), env });
        let apps = apps_of(pod, &netns, pod_ip);
        if pod.host_network {
            let servers = apps.iter().filter_map(|a| match a {
                Action::StartApp { netns, app } => Some((netns.clone(), app.proto, app.port)),
                _ => None,
            });
            self.host_servers.insert((pod.namespace.clone(), pod.name.clone()), servers.collect());
        }
        actions.extend(apps);
        let status = PodStatus {
            phase: PodPhase::Running,
            pod_ip: Some(pod_ip),
            host_ip: Some(self.node_ip),
            netns: Some(netns),
            ready: true,
            terminating: false,
            reason: None,
            node_lost: false,
        };
        actions.push(Action::Write(Object::Pod(pod.clone(), status)));
        actions
    }
}

impl Kubelet {
    /// The kubelet's admission (pkg/kubelet/lifecycle/predicate.go): a pod bound here
    /// without the scheduler (`nodeName` in its spec) whose host ports an admitted pod
    /// already holds is rejected: phase Failed, reason `NodePorts`.
    fn admit(&self, pod: &Pod, st: &PodStatus, store: &Store) -> Option<Vec<Action>> {
        use super::scheduler::host_ports;
        let wanted = host_ports(pod);
        let clash = store.pods().any(|(other, _)| {
            self.started.contains(&(other.namespace.clone(), other.name.clone()))
                && host_ports(other).iter().any(|hp| wanted.contains(hp))
        });
        if wanted.is_empty() || !clash {
            return None;
        }
        let msg = "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports";
        let status = PodStatus { phase: PodPhase::Failed, reason: Some("NodePorts".into()), ..st.clone() };
        Some(vec![
            Action::Log(format!("{}: {msg}", pod.key())),
            Action::Write(Object::Pod(pod.clone(), status)),
        ])
    }

    /// A terminating pod: its containers stop (their sockets die with the namespace),
    /// CNI DEL removes the veth and the namespace and releases the IP, and the pod object
    /// is removed. The grace period is not modelled: the kubelet acts after its latency.
    fn stop_pod(&mut self, pod: &Pod, st: &PodStatus) -> Vec<Action> {
        let mut actions = self.teardown(&pod.namespace, &pod.name, st.netns.as_deref());
        actions.push(Action::Delete(Object::Pod(pod.clone(), st.clone())));
        actions
    }

    /// Stops the pod's containers and removes its sandbox (CNI DEL).
    fn teardown(&mut self, namespace: &str, name: &str, netns: Option<&str>) -> Vec<Action> {
        let key = (namespace.to_string(), name.to_string());
        self.started.remove(&key);
        let mut actions = Vec::new();
        // A hostNetwork pod's containers exit; their sockets were the node's.
        for (netns, proto, port) in self.host_servers.remove(&key).unwrap_or_default() {
            actions.push(Action::StopApp { netns, proto, port });
        }
        if let Some((veth, ip, id, maps)) = self.sandboxes.remove(&key) {
            self.ipam.release(ip);
            actions.push(Action::Log(format!("CNI DEL {namespace}/{name} ({veth}, {ip})")));
            // A chain's DEL runs its plugins in reverse order: portmap before the bridge.
            if !maps.is_empty() {
                let input = portmap::del_payload(&id, &maps);
                let op = NetOp::IptablesRestore { netns: self.node.clone(), input, noflush: true };
                actions.push(Action::PluginNet("cni-portmap", op));
            }
            actions.push(Action::PluginNet(
                "cni-bridge",
                NetOp::DelLink { netns: self.node.clone(), dev: veth },
            ));
            if let Some(ns) = netns {
                actions.push(Action::Net(NetOp::DelNetns { name: ns.to_string() }));
            }
        }
        actions
    }
}

impl Controller for Kubelet {
    /// Informers of the kubelet: pods, services (environment variables) and nodes.
    fn watches(&self, kind: &str) -> bool {
        ["Pod", "Service", "Node"].contains(&kind)
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// Pod sandbox creation takes a moment on a real node; 100 ms keeps traces readable.
    fn latency(&self) -> SimDuration {
        SimDuration::from_millis(100)
    }
    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }
    /// Back in touch with the API server (`syncLoop` after a relist): pods deleted
    /// meanwhile are torn down, Terminating ones are finished and removed, and pods the
    /// node lifecycle controller marked not Ready get their own status reported again.
    fn reconnect(&mut self, _now: SimTime, store: &Store) -> Vec<Action> {
        let mut actions = Vec::new();
        for key in self.started.clone() {
            match store.pod(&key.0, &key.1) {
                None => {
                    let netns = pod_netns(&key.0, &key.1);
                    let sandbox = self.sandboxes.contains_key(&key).then_some(netns.as_str());
                    actions.extend(self.teardown(&key.0, &key.1, sandbox));
                }
                Some((p, st)) if st.terminating => {
                    let (p, st) = (p.clone(), st.clone());
                    actions.extend(self.stop_pod(&p, &st));
                }
                Some((p, st)) if st.node_lost => {
                    actions.push(Action::Log(format!("{}: status Ready again", p.key())));
                    let status = PodStatus { ready: true, node_lost: false, ..st.clone() };
                    actions.push(Action::Write(Object::Pod(p.clone(), status)));
                }
                Some(_) => {}
            }
        }
        actions
    }
    fn handle_watch(&mut self, _now: SimTime, store: &Store, ev: &WatchEvent) -> Vec<Action> {
        let Object::Pod(pod, _) = &ev.object else { return vec![] };
        if pod.node_name.as_deref() != Some(self.node.as_str()) {
            return vec![];
        }
        let key = (pod.namespace.clone(), pod.name.clone());
        let Some((_, st)) = store.pod(&pod.namespace, &pod.name) else {
            // Force-deleted (pod garbage collector): the kubelet kills what still runs.
            let Object::Pod(_, last) = &ev.object else { return vec![] };
            if self.started.contains(&key) {
                return self.teardown(&pod.namespace, &pod.name, last.netns.as_deref());
            }
            return vec![];
        };
        if st.terminating {
            // Not started here (deleted while the node was away): nothing to stop.
            return if self.started.contains(&key) {
                self.stop_pod(pod, st)
            } else {
                vec![Action::Delete(Object::Pod(pod.clone(), st.clone()))]
            };
        }
        if self.started.contains(&key) {
            return vec![];
        }
        // Act on the current object (the event may be stale).
        let Some((current, st)) = store.pod(&pod.namespace, &pod.name) else { return vec![] };
        if st.phase == PodPhase::Failed {
            return vec![];
        }
        let (current, st) = (current.clone(), st.clone());
        if let Some(rejected) = self.admit(&current, &st, store) {
            return rejected;
        }
        self.started.insert(key);
        self.start_pod(&current, store)
    }
}

/// The servers of a pod's containers, one per declared port.
fn apps_of(pod: &Pod, netns: &str, pod_ip: std::net::Ipv4Addr) -> Vec<Action> {
    let annotation = pod.annotations.get(APP_ANNOTATION).map(String::as_str);
    let mut out = Vec::new();
    for c in &pod.containers {
        for p in &c.ports {
            let proto = match p.protocol {
                Protocol::Tcp => IpProto::Tcp,
                Protocol::Udp => IpProto::Udp,
                Protocol::Sctp => continue,
            };
            let kind = match apps::server_for(annotation, proto, p.container_port) {
                Ok(Some(k)) => k,
                Ok(None) => continue,
                Err(e) => return vec![Action::Log(format!("{}: {e}", pod.key()))],
            };
            let app = ServerApp {
                kind,
                proto,
                port: p.container_port,
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                container: c.name.clone(),
                pod_ip,
            };
            out.push(Action::StartApp { netns: netns.to_string(), app });
        }
    }
    out
}
