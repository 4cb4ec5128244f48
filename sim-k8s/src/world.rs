//! `KubeWorld`: the simulated cluster as a `sim_core::World`. It routes events to the
//! network or to controllers, applies what controllers return (store writes, `NetOp`s,
//! listeners), starts probes, and keeps the records the renderers and expectations
//! read: every `NetOp` with the component that issued it, the control-plane timeline,
//! every hop, and each probe's outcome. Only this file touches the event queue.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sim_core::{EventQueue, Limits, RngStreams, SimDuration, SimTime, Simulation, StopReason, World};
use sim_net::hop::Hop;
use sim_net::network::{NetConfig, NetEvent, Network};
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;
use sim_net::path::ProbeSpec;
use sim_net::stack::{Listener, ProbeOutcome, SocketEventKind};

use crate::cluster::{ClusterConfig, pod_netns};
use crate::controllers::{Action, Controller, hostgw::HostGw, infra, kubelet::Kubelet, scheduler::Scheduler};
use crate::model::{Node, Pod};
use crate::run::pod_label;
use crate::store::{NodeStatus, Object, PodPhase, PodStatus, Store};

/// Where a probe goes: resolved to an address when the probe starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Pod { namespace: String, name: String },
    Node(String),
    Ip(Ipv4Addr),
}

/// Where a probe starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Pod { namespace: String, name: String },
    Node(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePlan {
    pub at: SimTime,
    pub from: Origin,
    pub to: Target,
    pub port: u16,
    pub proto: IpProto,
    pub timeout: SimDuration,
}

/// What happened to one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRecord {
    pub tag: u32,
    pub plan: ProbePlan,
    pub started: SimTime,
    pub finished: Option<SimTime>,
    pub src_netns: Option<String>,
    pub dst: Option<Ipv4Addr>,
    pub outcome: Option<ProbeOutcome>,
    /// Set when the probe could not start (e.g. the pod has no IP yet).
    pub error: Option<String>,
    pub detail: String,
    /// `pod/NAME` or `node/NAME` that answered.
    pub responder: Option<String>,
    pub seen_src: Option<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    pub time: SimTime,
    pub component: String,
    pub op: NetOp,
    pub error: Option<String>,
}

/// A listener an application opened (`Action::Listen`) and the number of `commands`
/// issued before it: the kernel twin starts its server at that point of the op stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerRecord {
    pub netns: String,
    pub proto: IpProto,
    pub port: u16,
    pub after_op: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub time: SimTime,
    pub component: String,
    pub text: String,
}

pub enum Event {
    Net(NetEvent),
    /// Deliver watch event `watch` (index in the store log) to controller `controller`.
    Deliver {
        controller: usize,
        watch: usize,
    },
    Probe(usize),
}

pub struct KubeWorld {
    pub cluster: ClusterConfig,
    pub net: Network,
    pub store: Store,
    controllers: Vec<Box<dyn Controller>>,
    pub commands: Vec<CommandRecord>,
    pub listeners: Vec<ListenerRecord>,
    pub timeline: Vec<TimelineEntry>,
    pub probes: Vec<ProbeRecord>,
    pub hops: Vec<Hop>,
    /// netns name → `pod/NAME` / `node/NAME` for naming responders.
    owners: BTreeMap<String, String>,
}

impl KubeWorld {
    /// A cluster with its machines built (t = 0) and nodes registered.
    pub fn new(cluster: ClusterConfig, seed: u64, trace: bool) -> (Self, EventQueue<Event>) {
        let rngs = RngStreams::new(seed);
        let mut net = Network::new(NetConfig::default(), rngs.clone());
        net.tracer.enabled = trace;
        let mut controllers: Vec<Box<dyn Controller>> = vec![Box::new(Scheduler)];
        for n in &cluster.nodes {
            controllers.push(Box::new(Kubelet::new(
                &n.name,
                n.ip,
                n.pod_cidr,
                rngs.stream(&format!("kubelet/{}", n.name)),
            )));
            controllers.push(Box::new(HostGw::new(&n.name)));
        }
        let mut owners = BTreeMap::new();
        for n in &cluster.nodes {
            owners.insert(n.name.clone(), format!("node/{}", n.name));
        }
        owners.insert(crate::cluster::ROUTER_NETNS.to_string(), "router".to_string());
        let mut w = KubeWorld {
            cluster,
            net,
            store: Store::default(),
            controllers,
            commands: vec![],
            listeners: vec![],
            timeline: vec![],
            probes: vec![],
            hops: vec![],
            owners,
        };
        let mut q = EventQueue::new();
        let mut rng = rngs.stream("infra");
        for op in infra::bootstrap(&w.cluster, &mut rng) {
            w.apply_net("infra", op, SimTime::ZERO, &mut q);
        }
        w.log(
            SimTime::ZERO,
            "infra",
            format!(
                "{} nodes on {}, router {}",
                w.cluster.nodes.len(),
                w.cluster.node_network,
                w.cluster.router_ip
            ),
        );
        let nodes: Vec<_> = w.cluster.nodes.clone();
        for n in nodes {
            let node = Node { name: n.name.clone(), ip: Some(n.ip), labels: Default::default() };
            let status = NodeStatus { ip: n.ip, pod_cidr: n.pod_cidr };
            w.log(SimTime::ZERO, "node-ipam", format!("{}: podCIDR {}", n.name, n.pod_cidr));
            w.write(Object::Node(node, status), SimTime::ZERO, &mut q);
        }
        (w, q)
    }

    /// Submits a pod as `kubectl apply` would.
    pub fn create_pod(&mut self, pod: Pod, now: SimTime, q: &mut EventQueue<Event>) {
        let status = PodStatus { phase: PodPhase::Pending, pod_ip: None, host_ip: None, netns: None };
        self.write(Object::Pod(pod, status), now, q);
    }

    /// Schedules a probe; returns its tag.
    pub fn add_probe(&mut self, plan: ProbePlan, q: &mut EventQueue<Event>) -> u32 {
        let idx = self.probes.len();
        let tag = idx as u32 + 1;
        q.push(plan.at, Event::Probe(idx));
        self.probes.push(ProbeRecord {
            tag,
            started: plan.at,
            plan,
            finished: None,
            src_netns: None,
            dst: None,
            outcome: None,
            error: None,
            detail: String::new(),
            responder: None,
            seen_src: None,
        });
        tag
    }

    fn log(&mut self, time: SimTime, component: &str, text: String) {
        self.timeline.push(TimelineEntry { time, component: component.to_string(), text });
    }

    fn write(&mut self, obj: Object, now: SimTime, q: &mut EventQueue<Event>) {
        let idx = self.store.put(obj, now);
        for (c, ctl) in self.controllers.iter().enumerate() {
            q.push(now + ctl.latency(), Event::Deliver { controller: c, watch: idx });
        }
    }

    fn apply_net(&mut self, component: &str, op: NetOp, now: SimTime, q: &mut EventQueue<Event>) {
        let error = self.net.apply(&op, now).err().map(|e| e.to_string());
        if let Some(e) = &error {
            self.log(now, component, format!("{op}: {e}"));
        }
        self.commands.push(CommandRecord { time: now, component: component.to_string(), op, error });
        self.pump(q);
    }

    fn run_actions(
        &mut self,
        component: &str,
        actions: Vec<Action>,
        now: SimTime,
        q: &mut EventQueue<Event>,
    ) {
        for a in actions {
            match a {
                Action::Net(op) => self.apply_net(component, op, now, q),
                Action::PluginNet(plugin, op) => {
                    self.apply_net(&format!("{component} ({plugin})"), op, now, q)
                }
                Action::Write(obj) => {
                    if let Object::Pod(p, s) = &obj
                        && let Some(ns) = &s.netns
                        && !p.host_network
                    {
                        self.owners.insert(ns.clone(), pod_label(&p.namespace, &p.name));
                    }
                    self.write(obj, now, q)
                }
                Action::Listen { netns, proto, port, owner } => {
                    let res = self
                        .net
                        .netns_mut(&netns)
                        .map(|n| n.stack.listen(Listener { proto, port, owner: owner.clone() }));
                    match res {
                        Some(Ok(())) => {
                            let after_op = self.commands.len();
                            self.listeners.push(ListenerRecord { netns, proto, port, after_op });
                        }
                        Some(Err(other)) => self.log(
                            now,
                            component,
                            format!("{owner}: listen {proto}/{port}: address already in use (by {other})"),
                        ),
                        None => self.log(now, component, format!("{owner}: no network namespace {netns}")),
                    }
                }
                Action::Log(text) => self.log(now, component, text),
            }
        }
    }

    /// Moves the network's scheduled events and socket observations in.
    fn pump(&mut self, q: &mut EventQueue<Event>) {
        for (t, ev) in self.net.poll_scheduled() {
            q.push(t, Event::Net(ev));
        }
        for ev in self.net.poll_socket_events() {
            let Some(rec) = self.probes.get_mut(ev.tag as usize - 1) else { continue };
            match ev.kind {
                SocketEventKind::Answered { responder, seen_src, .. } => {
                    let name = self.net.ns(responder).name.clone();
                    rec.responder = Some(self.owners.get(&name).cloned().unwrap_or(name));
                    rec.seen_src = Some(seen_src);
                }
                SocketEventKind::Finished { outcome, detail } => {
                    rec.outcome = Some(outcome);
                    rec.detail = detail;
                    rec.finished = Some(ev.time);
                }
            }
        }
        self.hops.extend(self.net.tracer.take());
    }

    fn origin_netns(&self, o: &Origin) -> Result<String, String> {
        match o {
            Origin::Node(n) => Ok(n.clone()),
            Origin::Pod { namespace, name } => {
                let (pod, st) =
                    self.store.pod(namespace, name).ok_or_else(|| format!("pod {name} does not exist"))?;
                if st.phase != PodPhase::Running {
                    return Err(format!("pod {} is not running yet", pod.name));
                }
                Ok(st.netns.clone().unwrap_or_else(|| pod_netns(namespace, name)))
            }
        }
    }

    fn target_ip(&self, t: &Target) -> Result<Ipv4Addr, String> {
        match t {
            Target::Ip(ip) => Ok(*ip),
            Target::Node(n) => crate::cluster::node(&self.cluster, n)
                .map(|n| n.ip)
                .ok_or_else(|| format!("node {n} does not exist")),
            Target::Pod { namespace, name } => {
                let (_, st) =
                    self.store.pod(namespace, name).ok_or_else(|| format!("pod {name} does not exist"))?;
                st.pod_ip.ok_or_else(|| format!("pod {name} has no IP yet (not running)"))
            }
        }
    }

    fn start_probe(&mut self, idx: usize, now: SimTime, q: &mut EventQueue<Event>) {
        let plan = self.probes[idx].plan.clone();
        let tag = self.probes[idx].tag;
        let resolved = self.origin_netns(&plan.from).and_then(|ns| Ok((ns, self.target_ip(&plan.to)?)));
        let (netns, dst) = match resolved {
            Ok(x) => x,
            Err(e) => {
                let rec = &mut self.probes[idx];
                rec.error = Some(e);
                rec.finished = Some(now);
                return;
            }
        };
        self.probes[idx].src_netns = Some(netns.clone());
        self.probes[idx].dst = Some(dst);
        let spec = ProbeSpec {
            tag,
            proto: plan.proto,
            dst,
            dport: plan.port,
            timeout: plan.timeout,
            payload: b"kube-netsim probe".to_vec(),
        };
        if let Err(e) = self.net.send_probe(&netns, spec, now) {
            self.probes[idx].error = Some(e.to_string());
        }
        self.pump(q);
    }

    /// Runs until idle (or `limits`), returning why it stopped.
    pub fn run(self, q: EventQueue<Event>, limits: Limits) -> (Self, StopReason) {
        let mut sim = Simulation::new(self);
        sim.queue = q;
        let reason = sim.run(limits);
        (sim.world, reason)
    }

    /// Name of the pod or node owning a namespace.
    pub fn owner_of(&self, netns: &str) -> Option<&str> {
        self.owners.get(netns).map(String::as_str)
    }
}

impl World for KubeWorld {
    type Event = Event;

    fn handle(&mut self, now: SimTime, ev: Event, q: &mut EventQueue<Event>) {
        match ev {
            Event::Net(e) => {
                self.net.handle(now, e);
                self.pump(q);
            }
            Event::Deliver { controller, watch } => {
                let we = self.store.log[watch].clone();
                let actions = self.controllers[controller].handle_watch(now, &self.store, &we);
                let name = self.controllers[controller].name().to_string();
                self.run_actions(&name, actions, now, q);
            }
            Event::Probe(idx) => self.start_probe(idx, now, q),
        }
    }
}
