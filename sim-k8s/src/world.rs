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
use sim_net::stack::SocketEventKind;

mod agents;
mod apphost;
mod conntrack;
mod ingress;
mod lbhost;
mod nodes;
mod records;
mod resolve;
mod timeline;

pub use lbhost::{HEALTH_CHECK_TAG_BASE, HealthCheckRecord};
pub use records::{
    CommandRecord, Delivery, JournalRef, ListenerRecord, ProbeRecord, ProxiedRecord, TimelineEntry,
};

use crate::apps;
use crate::cluster::ClusterConfig;
use crate::controllers::{Action, Controller, infra, scheduler::Scheduler};
use crate::model::{Node, Pod};
use crate::run::pod_label;
use crate::store::{NodeStatus, Object, PodStatus, Store};

/// Where a probe goes: resolved to an address when the probe starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Pod {
        namespace: String,
        name: String,
    },
    Node(String),
    Client(String),
    /// A Service's ClusterIP.
    Service {
        namespace: String,
        name: String,
    },
    /// A LoadBalancer Service's external IP (`status.loadBalancer.ingress[0].ip`).
    LoadBalancer {
        namespace: String,
        name: String,
    },
    Ip(Ipv4Addr),
    /// A DNS name, resolved by the prober through its resolver configuration.
    Name(String),
}

/// Where a probe starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Pod { namespace: String, name: String },
    Node(String),
    Client(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePlan {
    pub at: SimTime,
    pub from: Origin,
    pub to: Target,
    pub port: u16,
    pub proto: IpProto,
    /// With `proto: Tcp`: speak HTTP (a GET) instead of the plain TCP client.
    pub http: bool,
    /// For `http`: Host header, path and TLS.
    pub request: apps::client::HttpOpts,
    pub timeout: SimDuration,
    /// A fixed client source port (udp), else an ephemeral one.
    pub sport: Option<u16>,
    /// Payload bytes of an icmp or udp probe (DF set), else the default payload.
    pub size: Option<u16>,
}

/// Something the timeline does to the cluster (besides probes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorldAction {
    DeletePod {
        namespace: String,
        name: String,
    },
    SetReady {
        namespace: String,
        name: String,
        ready: bool,
    },
    Scale {
        namespace: String,
        name: String,
        replicas: u32,
    },
    /// `kubectl delete node NAME`.
    DeleteNode(String),
    /// The machine dies (`fail: node/NAME`).
    FailNode(String),
    /// It comes back with its state (`restore: node/NAME`).
    RestoreNode(String),
    /// Its uplink is unplugged (`cut: {link: node/NAME}`).
    CutLink(String),
    /// And plugged back in (`heal: {link: node/NAME}`).
    HealLink(String),
    /// `kubectl apply` of validated, admitted objects.
    Apply(Vec<crate::model::Applied>),
}

pub enum Event {
    Net(NetEvent),
    /// Deliver watch event `watch` (index in the store log) to controller `controller`.
    Deliver {
        controller: usize,
        watch: usize,
    },
    Probe(usize),
    /// A timeline action (index into `actions`).
    Action(usize),
    /// A probe's timeout (socket clients).
    ProbeTimeout(usize),
    /// The load balancer sees watch event `watch` (its programming latency later).
    LbWatch(usize),
    /// Time for the next health check of load-balancer target `.0` (index into
    /// `lb_checks.targets`).
    HealthCheck(usize),
    /// A health check's timeout: (target, check number).
    HealthTimeout(usize, u64),
    /// A timer controller `usize` asked for (`Action::WakeAt`).
    Timer(usize),
}

pub struct KubeWorld {
    pub cluster: ClusterConfig,
    /// Timeline actions, by index.
    pub actions: Vec<WorldAction>,
    pub net: Network,
    pub store: Store,
    controllers: Vec<Box<dyn Controller>>,
    pub commands: Vec<CommandRecord>,
    pub listeners: Vec<ListenerRecord>,
    pub proxied: Vec<ProxiedRecord>,
    pub timeline: Vec<TimelineEntry>,
    /// Every watch delivery to a controller.
    pub deliveries: Vec<Delivery>,
    /// Timeline lines, commands and deliveries in the order they happened.
    pub journal: Vec<JournalRef>,
    pub probes: Vec<ProbeRecord>,
    pub hops: Vec<Hop>,
    apps: apphost::AppHost,
    /// netns name → `pod/NAME` / `node/NAME` for naming responders.
    owners: BTreeMap<String, String>,
    /// The cloud's load balancer and the bookkeeping of its health checks.
    pub lb: crate::lb::LoadBalancer,
    lb_checks: lbhost::Checks,
    /// Every health check started, in order.
    pub health_checks: Vec<HealthCheckRecord>,
    /// (namespace, pod) → the service environment variables its containers started with.
    pub pod_env: BTreeMap<(String, String), Vec<(String, String)>>,
    /// Nodes that are failed or cut off, by name.
    down: BTreeMap<String, nodes::Down>,
    /// Watch events a node agent could not receive while its node was down:
    /// (controller, watch index), in order.
    withheld: Vec<(usize, usize)>,
    /// Index of the node lifecycle controller in `controllers`.
    lifecycle: usize,
}

impl KubeWorld {
    /// A cluster with its machines built (t = 0) and nodes registered.
    pub fn new(cluster: ClusterConfig, seed: u64, trace: bool) -> (Self, EventQueue<Event>) {
        let rngs = RngStreams::new(seed);
        let mut net = Network::new(NetConfig::default(), rngs.clone());
        net.tracer.enabled = trace;
        let mut controllers: Vec<Box<dyn Controller>> = vec![
            Box::new(Scheduler),
            Box::new(crate::controllers::workloads::WorkloadController::new(
                rngs.stream("replicaset-controller"),
            )),
            Box::new(crate::controllers::endpointslices::EndpointSliceController::new(
                rngs.stream("endpointslice-controller"),
            )),
            Box::new(crate::controllers::node_lifecycle::NodeLifecycle::new(cluster.timers)),
            Box::new(crate::controllers::node_lifecycle::PodGc),
        ];
        let lifecycle = 3;
        for n in &cluster.nodes {
            controllers.extend(agents::network_controllers(&cluster, n, &rngs));
            let cfg =
                crate::controllers::kube_proxy::ProxierConfig::new(&n.name, n.ip, Some(cluster.pod_network));
            controllers.push(Box::new(crate::controllers::kube_proxy::proxier::KubeProxy::new(cfg)));
        }
        // cloud-controller-manager's service controller.
        controllers.push(Box::new(crate::controllers::service_lb::ServiceController::new(
            cluster.load_balancer.clone(),
        )));
        let mut owners = BTreeMap::new();
        for n in &cluster.nodes {
            owners.insert(n.name.clone(), format!("node/{}", n.name));
        }
        owners.insert(crate::cluster::ROUTER_NETNS.to_string(), "router".to_string());
        owners.insert(crate::lb::LB_NETNS.to_string(), "lb".to_string());
        let lb = crate::lb::LoadBalancer::new(cluster.clone(), rngs.stream("lb"));
        for c in &cluster.clients {
            owners.insert(crate::cluster::client_netns(&c.name), format!("client/{}", c.name));
        }
        let mut w = KubeWorld {
            cluster,
            actions: vec![],
            net,
            store: Store::default(),
            controllers,
            commands: vec![],
            listeners: vec![],
            proxied: vec![],
            timeline: vec![],
            deliveries: vec![],
            journal: vec![],
            probes: vec![],
            hops: vec![],
            apps: apphost::AppHost::new(&rngs),
            owners,
            lb,
            lb_checks: Default::default(),
            health_checks: vec![],
            pod_env: BTreeMap::new(),
            down: BTreeMap::new(),
            withheld: Vec::new(),
            lifecycle,
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
        for n in &nodes {
            let op = crate::controllers::kube_proxy::proxier::kubelet_rules(&n.name);
            w.apply_net(&format!("kubelet/{}", n.name), op, SimTime::ZERO, &mut q);
        }
        for n in nodes {
            let node = Node { name: n.name.clone(), ip: Some(n.ip), labels: Default::default() };
            let status = NodeStatus::registered(n.ip, n.pod_cidr);
            w.log(SimTime::ZERO, "node-ipam", format!("{}: podCIDR {}", n.name, n.pod_cidr));
            let renew_interval = w.cluster.timers.node_lease_renew_interval;
            let lease = crate::store::NodeLease { renew_interval, since: SimTime::ZERO, stopped: None };
            w.store.leases.insert(n.name.clone(), lease);
            w.write(Object::Node(node, status), SimTime::ZERO, &mut q);
        }
        (w, q)
    }

    /// Submits any object as `kubectl apply` would (services arrive already admitted).
    pub fn create(&mut self, obj: Object, now: SimTime, q: &mut EventQueue<Event>) {
        self.write(obj, now, q);
    }

    /// Submits a pod as `kubectl apply` would.
    pub fn create_pod(&mut self, pod: Pod, now: SimTime, q: &mut EventQueue<Event>) {
        let status = PodStatus::pending();
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
            answer: None,
            status: None,
            lookup: None,
            unresolved: None,
        });
        tag
    }

    fn log(&mut self, time: SimTime, component: &str, text: String) {
        self.journal.push(JournalRef::Timeline(self.timeline.len()));
        self.timeline.push(TimelineEntry { time, component: component.to_string(), text });
    }

    fn write(&mut self, obj: Object, now: SimTime, q: &mut EventQueue<Event>) {
        let idx = self.store.put(obj, now);
        self.notify(idx, now, q);
    }

    fn delete(&mut self, obj: &Object, now: SimTime, q: &mut EventQueue<Event>) {
        if let Some(idx) = self.store.delete(&obj.key(), now) {
            self.notify(idx, now, q);
        }
    }

    /// Every controller sees watch event `idx` after its own latency.
    fn notify(&mut self, idx: usize, now: SimTime, q: &mut EventQueue<Event>) {
        for (c, ctl) in self.controllers.iter().enumerate() {
            q.push(now + ctl.latency(), Event::Deliver { controller: c, watch: idx });
        }
        if matches!(self.store.log[idx].object, Object::Service(_)) {
            q.push(now + lbhost::LB_LATENCY, Event::LbWatch(idx));
        }
    }

    fn apply_net(&mut self, component: &str, op: NetOp, now: SimTime, q: &mut EventQueue<Event>) {
        let error = self.net.apply(&op, now).err().map(|e| e.to_string());
        if let Some(e) = &error {
            self.log(now, component, format!("{op}: {e}"));
        }
        self.journal.push(JournalRef::Command(self.commands.len()));
        self.commands.push(CommandRecord { time: now, component: component.to_string(), op, error });
        self.pump(q);
    }

    /// Applies what controller `ctl` returned.
    fn run_controller_actions(
        &mut self,
        ctl: usize,
        actions: Vec<Action>,
        now: SimTime,
        q: &mut EventQueue<Event>,
    ) {
        let name = self.controllers[ctl].name().to_string();
        self.run_actions(&name, Some(ctl), actions, now, q);
    }

    fn run_actions(
        &mut self,
        component: &str,
        ctl: Option<usize>,
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
                Action::Delete(obj) => self.delete(&obj, now, q),
                Action::StartApp { netns, app } => {
                    self.start_app(component, netns, app, now);
                    self.pump(q);
                }
                Action::StopApp { netns, proto, port } => {
                    self.stop_app(&netns, proto, port, now);
                    self.pump(q);
                }
                Action::ContainerEnv { namespace, pod, env } => {
                    self.pod_env.insert((namespace, pod), env);
                }
                Action::Log(text) => self.log(now, component, text),
                Action::ServeHealth { netns, port, namespace, name, endpoints } => {
                    self.serve_health(component, netns, port, (namespace, name), endpoints, now);
                    self.pump(q);
                }
                Action::WakeAt(at) => {
                    if let Some(c) = ctl {
                        q.push(at.max(now), Event::Timer(c));
                    }
                }
                Action::ConntrackCleanup { netns, frontends } => {
                    self.conntrack_cleanup(component, &netns, &frontends, now, q)
                }
            }
        }
    }

    /// Moves the network's scheduled events and socket observations in.
    fn pump(&mut self, q: &mut EventQueue<Event>) {
        self.pump_sockets();
        for (t, ev) in self.net.poll_scheduled() {
            q.push(t, Event::Net(ev));
        }
        for ev in self.net.poll_socket_events() {
            let Some(rec) = (ev.tag as usize).checked_sub(1).and_then(|i| self.probes.get_mut(i)) else {
                continue;
            };
            match ev.kind {
                SocketEventKind::Answered { responder, seen_src, local_port, .. } => {
                    if rec.responder.is_some() {
                        continue; // the first answer of the probe's flow names the responder
                    }
                    // The DNS server answering the lookup of a name is not the probe's
                    // destination (unless the probe itself asks it on UDP 53).
                    let dns_probe = rec.plan.proto == IpProto::Udp && rec.plan.port == 53;
                    if self.apps.is_dns_server(responder, local_port) && !dns_probe {
                        let ns = self.net.ns(responder).name.clone();
                        self.apps.note_dns_server(ev.tag as usize - 1, ns, seen_src);
                        continue;
                    }
                    let name = self.net.ns(responder).name.clone();
                    let server = self.apps.server_pod(responder, rec.plan.proto, local_port);
                    rec.responder = Some(server.or_else(|| self.owners.get(&name).cloned()).unwrap_or(name));
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
        self.lb_results(q);
    }

    fn start_probe(&mut self, idx: usize, now: SimTime, q: &mut EventQueue<Event>) {
        let plan = self.probes[idx].plan.clone();
        let tag = self.probes[idx].tag;
        if let Target::Name(name) = &plan.to {
            return self.start_name_probe(idx, name, now, q);
        }
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
        q.push(now + plan.timeout, Event::ProbeTimeout(idx));
        if plan.proto != IpProto::Icmp {
            let kind = match (plan.proto, plan.http) {
                (IpProto::Udp, _) => apps::client::ClientKind::Udp,
                (_, true) => apps::client::ClientKind::Http,
                _ => apps::client::ClientKind::Tcp,
            };
            let dst = std::net::SocketAddrV4::new(dst, plan.port);
            let payload = apps::client::probe_payload(plan.size, apps::client::PROBE_TEXT);
            if let Some(mtu) = plan.size.and_then(|_| self.net.route_mtu(&netns, *dst.ip()))
                && payload.len() + 28 > mtu as usize
            {
                // Linux would fragment the datagram locally (IP_PMTUDISC_WANT); the
                // simulator has no fragmentation.
                let rec = &mut self.probes[idx];
                rec.error = Some(format!(
                    "a {}-byte datagram does not fit the {mtu}-byte MTU of the first hop: Linux would fragment it, which the simulator does not model",
                    payload.len() + 28
                ));
                rec.finished = Some(now);
                return;
            }
            self.start_client(idx, &netns, (dst, plan.sport), payload, kind, now);
            return self.pump(q);
        }
        let spec = ProbeSpec {
            tag,
            proto: plan.proto,
            dst,
            dport: plan.port,
            timeout: plan.timeout,
            payload: apps::client::probe_payload(plan.size, apps::client::PROBE_TEXT.trim_ascii_end()),
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
                if self.controllers[controller].node().is_some_and(|n| self.down.contains_key(n)) {
                    // The agent cannot reach the API server: the event waits for it.
                    self.withheld.push((controller, watch));
                    return;
                }
                let we = self.store.log[watch].clone();
                let actions = self.controllers[controller].handle_watch(now, &self.store, &we);
                if self.controllers[controller].watches(we.object.key().kind) {
                    let name = self.controllers[controller].name().to_string();
                    self.journal.push(JournalRef::Delivery(self.deliveries.len()));
                    self.deliveries.push(Delivery { time: now, controller: name, watch });
                }
                self.run_controller_actions(controller, actions, now, q);
            }
            Event::Timer(controller) => {
                let actions = self.controllers[controller].on_timer(now, &self.store);
                self.run_controller_actions(controller, actions, now, q);
            }
            Event::Probe(idx) => self.start_probe(idx, now, q),
            Event::Action(idx) => self.run_timeline_action(idx, now, q),
            Event::ProbeTimeout(idx) => self.probe_timeout(idx, now, q),
            Event::LbWatch(idx) => self.lb_watch(idx, now, q),
            Event::HealthCheck(t) => self.health_check(t, now, q),
            Event::HealthTimeout(t, seq) => {
                self.health_check_timeout(t, seq, now);
                self.pump(q);
            }
        }
    }
}
