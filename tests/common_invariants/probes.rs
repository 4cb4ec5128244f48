//! Probes over a generated cluster: what each property sends, from where to where, and
//! what a correct network answers. Probes are drawn as index picks into the cluster
//! (so they shrink with it) and resolved into a [`Case`], whose `Debug` is a scenario
//! YAML file (see `yaml.rs`).
//!
//! New features slot in as new [`ProbeKind`]s with their expected result and source in
//! [`ProbeKind::expected`]; service probes (pod/node → ClusterIP, client → nodePort,
//! client → load balancer) get theirs from the generated spec where it decides them
//! (`service_expect`).
//!
//! A service probe whose answer depends on a random choice that a correct dataplane
//! constrains (the service selects several pods, where a broken dataplane would still
//! pick a Ready one half the time; sessionAffinity: ClientIP; a Local traffic policy,
//! where it would still pick a local endpoint half the time) is sent
//! [`CHANCE_REPEATS`] times in a row, so that a broken dataplane fails on any small
//! cluster with two endpoints, and shrinking (one run per candidate) does not mistake
//! a lucky pass for a fix.

use proptest::prelude::*;
use proptest::sample::{Index, select};
use sim_core::{SimDuration, SimTime};
use sim_k8s::model::Protocol;
use sim_k8s::model::service::Service;
use sim_k8s::run::{Expect, ExpectedResult, RunInput, StepPlan};
use sim_k8s::scenario::{DEFAULT_PROBE_TIMEOUT, LbMode};
use sim_k8s::world::{Origin, ProbePlan, Target, WorldAction};
use sim_net::packet::IpProto;

use super::cluster::{GenCluster, GenServiceType, gen_cluster};

/// Probes run one after another from this time on: every pod is running by then, and
/// the load balancer is programmed and has every node's first health check answer
/// (the service controller writes the external IP at 200 ms, the load balancer acts
/// on it `LB_LATENCY` = 1 s later and checks every node at once; the answers take
/// microseconds).
pub const FIRST_PROBE_MS: u64 = 1500;
/// A service probe whose answer a correct dataplane pins down although it involves a
/// random choice (affinity, Local policies) is sent this many times in a row: with two
/// candidates a broken dataplane passes all of them with chance 2^-7.
pub const CHANCE_REPEATS: usize = 8;
/// When the generated not-Ready pods get their `setReady: {ready: false}` step: after
/// every pod is Running (the kubelet would otherwise mark it Ready when it starts it)
/// and well before the first probe.
pub const SET_READY_MS: u64 = 500;
/// The endpointslice controller (20 ms) and then kube-proxy (100 ms) must have acted on
/// the readiness change before the first probe; 200 ms leaves a margin.
const _: () = assert!(FIRST_PROBE_MS >= SET_READY_MS + 200, "probes must start after kube-proxy synced");
/// Time between two probes: answers take microseconds, so they do not overlap unless
/// one is lost, and then its timeout runs alongside the next probes.
pub const PROBE_GAP_MS: u64 = 100;

/// Linux reports a closed UDP port (ICMP port unreachable) to a connected socket as
/// ECONNREFUSED; the simulator's probe client reports it as `unreachable` (see
/// `sim-net/src/path/local.rs::icmp_rcv`). This is the answer property 1 (closed ports) and property 4 (a service with no endpoints) check.
pub const CLOSED_UDP_PORT: ExpectedResult = ExpectedResult::Unreachable;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// A pod pings another pod's IP.
    PodToPodIcmp,
    /// A pod connects to (TCP) or sends a datagram to (UDP) a port the other pod declares.
    PodToPodPort,
    /// A pod pings its own IP (the one the API reports and others use).
    PodToSelfIcmp,
    /// A pod connects to a port it declares itself, on its own IP.
    PodToSelfPort,
    /// A node's root namespace pings a pod.
    NodeToPod,
    /// A pod pings a node's IP.
    PodToNode,
    /// TCP to a port no container of the target pod declares.
    UndeclaredTcp,
    /// UDP to a port no container of the target pod declares.
    UndeclaredUdp,
    /// A pod to a Service's ClusterIP:port (TCP or UDP, as the service port says).
    PodToService,
    /// A node's root namespace to a Service's ClusterIP:port.
    NodeToService,
    /// The client outside the cluster (`client/client`) to a node's IP:nodePort.
    ClientToNodePort,
    /// The client outside the cluster to a LoadBalancer Service's external IP:port
    /// (`lb/NAME:PORT`), through the cloud load balancer.
    ClientToLoadBalancer,
}

impl ProbeKind {
    /// Probes of Services (their answers depend on the endpoints; see `services.rs`).
    pub const SERVICES: [ProbeKind; 4] = [
        ProbeKind::PodToService,
        ProbeKind::NodeToService,
        ProbeKind::ClientToNodePort,
        ProbeKind::ClientToLoadBalancer,
    ];

    pub const ALL: [ProbeKind; 12] = [
        ProbeKind::PodToPodIcmp,
        ProbeKind::PodToPodPort,
        ProbeKind::PodToSelfIcmp,
        ProbeKind::PodToSelfPort,
        ProbeKind::NodeToPod,
        ProbeKind::PodToNode,
        ProbeKind::UndeclaredTcp,
        ProbeKind::UndeclaredUdp,
        ProbeKind::PodToService,
        ProbeKind::NodeToService,
        ProbeKind::ClientToNodePort,
        ProbeKind::ClientToLoadBalancer,
    ];

    pub fn is_service(self) -> bool {
        ProbeKind::SERVICES.contains(&self)
    }

    fn expected(self) -> ExpectedResult {
        match self {
            ProbeKind::UndeclaredTcp => ExpectedResult::Refused,
            ProbeKind::UndeclaredUdp => CLOSED_UDP_PORT,
            _ => ExpectedResult::Reached,
        }
    }
}

/// The client outside the cluster that every scenario has (203.0.113.10 by default).
pub const CLIENT: &str = "client";

/// One end of a probe: the i-th pod of the cluster (manifest order), the i-th node, the
/// i-th generated service (its ClusterIP, or its external IP for `Lb`), or the client
/// outside the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Pod(usize),
    Node(usize),
    Service(usize),
    Lb(usize),
    Client,
}

/// A probe drawn before it is known how many pods there are.
#[derive(Clone, Debug)]
pub struct Pick {
    kind: ProbeKind,
    from: Index,
    to: Index,
    port: Index,
    undeclared: u16,
    /// For a service probe: repeat one of the earlier service probes instead (same
    /// client, same service port), so session affinity has repeated probes to hold on.
    repeat: Option<Index>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedProbe {
    pub kind: ProbeKind,
    pub from: End,
    pub to: End,
    pub proto: IpProto,
    /// 0 for ICMP; the service port or the nodePort for service probes.
    pub port: u16,
    /// What a correct network answers; `None` for a service probe whose answer depends
    /// on which endpoint kube-proxy picks or where the scheduler put a pod (the checks
    /// then decide from the run's endpoints).
    pub expect: Option<ExpectedResult>,
    /// For service probes: (service index, port index).
    pub service: Option<(usize, usize)>,
}

/// A cluster and the probes one property sends through it.
#[derive(Clone, PartialEq, Eq)]
pub struct Case {
    pub cluster: GenCluster,
    pub probes: Vec<PlannedProbe>,
}

/// A cluster with at most `max_probes` probe picks of the given kinds. Picks that do not
/// fit the cluster (a pod-to-pod probe with one pod) are left out; a service probe left
/// to chance ([`GenCluster::left_to_chance`]) is sent `chance_repeats` times.
pub fn gen_case(
    kinds: &[ProbeKind],
    max_probes: usize,
    chance_repeats: usize,
) -> impl Strategy<Value = Case> + use<> {
    let pick = (
        select(kinds.to_vec()),
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        1..EPHEMERAL_PORTS_START,
        prop::option::weighted(0.3, any::<Index>()),
    )
        .prop_map(|(kind, from, to, port, undeclared, repeat)| Pick {
            kind,
            from,
            to,
            port,
            undeclared,
            repeat,
        });
    (gen_cluster(), proptest::collection::vec(pick, 1..=max_probes)).prop_map(move |(cluster, picks)| {
        let wants_services = picks.iter().any(|p| p.kind.is_service()) && !cluster.services.is_empty();
        let admitted = if wants_services { cluster.admitted_services() } else { Vec::new() };
        let mut probes: Vec<PlannedProbe> = Vec::new();
        for p in &picks {
            let earlier: Vec<&PlannedProbe> = probes.iter().filter(|e| e.service.is_some()).collect();
            let probe = match p.repeat {
                Some(i) if p.kind.is_service() && !earlier.is_empty() => {
                    Some(earlier[i.index(earlier.len())].clone())
                }
                _ => resolve(&cluster, &admitted, p),
            };
            let times =
                probe.as_ref().map_or(0, |q| if cluster.left_to_chance(q) { chance_repeats } else { 1 });
            probes.extend(std::iter::repeat_n(probe, times).flatten());
        }
        Case { cluster, probes }
    })
}

/// The generated pods a service port sends to (manifest index, the node it was written
/// for, pinned, resolved target port, declared there), from the generated spec alone:
/// selected, Ready, with a target port that resolves.
pub fn spec_endpoints(c: &GenCluster, s: usize, k: usize) -> Vec<(usize, usize, bool, u16, bool)> {
    let (svc, sp) = (&c.services[s], &c.services[s].ports[k]);
    c.pods()
        .enumerate()
        .filter(|(_, (_, pod))| !pod.not_ready && svc.selects(&pod.namespace, &pod.labels))
        .filter_map(|(i, (node, pod))| {
            let ports: Vec<_> = pod.ports().map(|p| (p.name.as_deref(), p.port, p.protocol)).collect();
            let port = sp.target.resolve(&ports, sp.protocol)?;
            Some((i, node, pod.pinned, port, pod.declared(sp.protocol).contains(&port)))
        })
        .collect()
}

/// What the client gets when nothing answers on a port: TCP refused, UDP unreachable.
pub fn closed(protocol: Protocol) -> ExpectedResult {
    if protocol == Protocol::Tcp { ExpectedResult::Refused } else { CLOSED_UDP_PORT }
}

/// How a service probe reaches the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// To the ClusterIP, from a client on this node (`None`: a pod the scheduler places).
    ClusterIp(Option<usize>),
    /// To this node's IP:nodePort.
    NodePort(usize),
    /// To the external IP, through the load balancer (which picks the node).
    Lb,
}

impl GenCluster {
    /// Whether the probe's landing is a random choice that a correct dataplane
    /// constrains: the service selects two pods or more (a broken dataplane may still
    /// pick the right one, Ready or local), has affinity, or a Local policy on the
    /// probe's path (see [`CHANCE_REPEATS`]).
    pub fn left_to_chance(&self, p: &PlannedProbe) -> bool {
        let Some((s, _)) = p.service else { return false };
        let svc = &self.services[s];
        let local = match p.to {
            End::Service(_) => svc.internal_local,
            _ => svc.local,
        };
        let selected = self.pods().filter(|(_, pod)| svc.selects(&pod.namespace, &pod.labels)).count();
        selected > 1 || svc.client_ip_affinity || local
    }

    /// The node a probe's client runs on, when the spec decides it.
    fn client_node(&self, from: End) -> Option<usize> {
        match from {
            End::Node(n) => Some(n),
            End::Pod(i) => {
                let (node, pod) = self.pod(i);
                pod.pinned.then_some(node)
            }
            End::Client | End::Service(_) | End::Lb(_) => None,
        }
    }

    /// The node whose endpoints a Local policy restricts the probe to: `Some(None)` when
    /// the policy applies but the node is not known from the spec.
    fn local_node(&self, s: usize, path: Path) -> Option<Option<usize>> {
        let svc = &self.services[s];
        match path {
            Path::ClusterIp(n) if svc.internal_local => Some(n),
            Path::NodePort(n) if svc.local => Some(Some(n)),
            Path::Lb if svc.local => Some(None),
            _ => None,
        }
    }
}

/// The answer to a service probe when the generated spec decides it: no endpoints →
/// REJECT; a Local policy and none on the node → DROP; otherwise reached if every
/// candidate listens on its target port, closed if none does.
fn service_expect(c: &GenCluster, s: usize, k: usize, path: Path) -> Option<ExpectedResult> {
    let protocol = c.services[s].ports[k].protocol;
    let eps = spec_endpoints(c, s, k);
    if eps.is_empty() {
        return Some(closed(protocol));
    }
    let candidates: Vec<_> = match c.local_node(s, path) {
        Some(n) => {
            // Where the scheduler puts a pod (or the load balancer sends) decides.
            let n = n.filter(|_| eps.iter().all(|e| e.2))?;
            eps.into_iter().filter(|e| e.1 == n).collect()
        }
        None => eps,
    };
    if candidates.is_empty() {
        Some(ExpectedResult::Dropped)
    } else if candidates.iter().all(|e| e.4) {
        Some(ExpectedResult::Reached)
    } else if candidates.iter().all(|e| !e.4) {
        Some(closed(protocol))
    } else {
        None
    }
}

/// Two different pods, or `None` with fewer than two.
fn two_pods(c: &GenCluster, p: &Pick) -> Option<(usize, usize)> {
    let n = c.pod_count();
    if n < 2 {
        return None;
    }
    let from = p.from.index(n);
    let to = p.to.index(n - 1);
    Some((from, if to >= from { to + 1 } else { to }))
}

/// A port the pod declares, with its protocol.
fn declared_port(c: &GenCluster, pod: usize, pick: &Index) -> (IpProto, u16) {
    let (_, pod) = c.pod(pod);
    let ports: Vec<_> = pod.ports().collect();
    let p = ports[pick.index(ports.len())];
    (ip_proto(p.protocol), p.port)
}

/// The start of Linux's default `net.ipv4.ip_local_port_range` (32768-60999), from which
/// clients take their source ports. Undeclared-port probes stay below it: a pod probing
/// its own IP on a port equal to the source port it was given connects to itself (TCP
/// simultaneous open, as on Linux), which is an answer, not a refusal.
const EPHEMERAL_PORTS_START: u16 = 32768;

/// The first port from `start` upward (wrapping below the ephemeral range) that the pod
/// does not declare.
fn undeclared_port(c: &GenCluster, pod: usize, protocol: Protocol, start: u16) -> u16 {
    let declared = c.pod(pod).1.declared(protocol);
    let mut port = start;
    while declared.contains(&port) {
        port = port % (EPHEMERAL_PORTS_START - 1) + 1;
    }
    port
}

fn resolve(c: &GenCluster, admitted: &[Service], p: &Pick) -> Option<PlannedProbe> {
    let pods = c.pod_count();
    let one_pod = |i: &Index| (pods > 0).then(|| i.index(pods));
    let node = |i: &Index| i.index(c.nodes.len());
    let (from, to, proto, port) = match p.kind {
        ProbeKind::PodToPodIcmp => {
            let (a, b) = two_pods(c, p)?;
            (End::Pod(a), End::Pod(b), IpProto::Icmp, 0)
        }
        ProbeKind::PodToPodPort => {
            let (a, b) = two_pods(c, p)?;
            let (proto, port) = declared_port(c, b, &p.port);
            (End::Pod(a), End::Pod(b), proto, port)
        }
        ProbeKind::PodToSelfIcmp => {
            let a = one_pod(&p.from)?;
            (End::Pod(a), End::Pod(a), IpProto::Icmp, 0)
        }
        ProbeKind::PodToSelfPort => {
            let a = one_pod(&p.from)?;
            let (proto, port) = declared_port(c, a, &p.port);
            (End::Pod(a), End::Pod(a), proto, port)
        }
        ProbeKind::NodeToPod => (End::Node(node(&p.from)), End::Pod(one_pod(&p.to)?), IpProto::Icmp, 0),
        ProbeKind::PodToNode => (End::Pod(one_pod(&p.from)?), End::Node(node(&p.to)), IpProto::Icmp, 0),
        ProbeKind::UndeclaredTcp | ProbeKind::UndeclaredUdp => {
            let (from, to) = (one_pod(&p.from)?, one_pod(&p.to)?);
            let (proto, protocol) = match p.kind {
                ProbeKind::UndeclaredTcp => (IpProto::Tcp, Protocol::Tcp),
                _ => (IpProto::Udp, Protocol::Udp),
            };
            (End::Pod(from), End::Pod(to), proto, undeclared_port(c, to, protocol, p.undeclared))
        }
        ProbeKind::PodToService | ProbeKind::NodeToService => {
            let s = (!c.services.is_empty()).then(|| p.to.index(c.services.len()))?;
            let k = p.port.index(c.services[s].ports.len());
            let sp = &c.services[s].ports[k];
            let from = match p.kind {
                ProbeKind::PodToService => End::Pod(one_pod(&p.from)?),
                _ => End::Node(node(&p.from)),
            };
            let expect = service_expect(c, s, k, Path::ClusterIp(c.client_node(from)));
            return Some(PlannedProbe {
                kind: p.kind,
                from,
                to: End::Service(s),
                proto: ip_proto(sp.protocol),
                port: sp.port,
                expect,
                service: Some((s, k)),
            });
        }
        ProbeKind::ClientToNodePort => {
            let node_ports: Vec<usize> =
                (0..c.services.len()).filter(|&s| c.services[s].has_node_ports()).collect();
            let s = (!node_ports.is_empty()).then(|| node_ports[p.to.index(node_ports.len())])?;
            let k = p.port.index(c.services[s].ports.len());
            let n = node(&p.from);
            let node_port = admitted[s].ports[k].node_port.expect("NodePort services get nodePorts");
            return Some(PlannedProbe {
                kind: p.kind,
                from: End::Client,
                to: End::Node(n),
                proto: ip_proto(c.services[s].ports[k].protocol),
                port: node_port,
                expect: service_expect(c, s, k, Path::NodePort(n)),
                service: Some((s, k)),
            });
        }
        ProbeKind::ClientToLoadBalancer => {
            let lbs: Vec<usize> = (0..c.services.len())
                .filter(|&s| c.services[s].type_ == GenServiceType::LoadBalancer)
                .collect();
            let s = (!lbs.is_empty()).then(|| lbs[p.to.index(lbs.len())])?;
            let k = p.port.index(c.services[s].ports.len());
            let sp = &c.services[s].ports[k];
            return Some(PlannedProbe {
                kind: p.kind,
                from: End::Client,
                to: End::Lb(s),
                proto: ip_proto(sp.protocol),
                port: sp.port,
                expect: service_expect(c, s, k, Path::Lb),
                service: Some((s, k)),
            });
        }
    };
    Some(PlannedProbe { kind: p.kind, from, to, proto, port, expect: Some(p.kind.expected()), service: None })
}

fn ip_proto(p: Protocol) -> IpProto {
    if p == Protocol::Udp { IpProto::Udp } else { IpProto::Tcp }
}

impl Case {
    /// When probe `i` starts.
    pub fn at(i: usize) -> SimTime {
        SimTime::from_nanos(0) + SimDuration::from_millis(FIRST_PROBE_MS + PROBE_GAP_MS * i as u64)
    }

    /// `pod/NAME`, `pod/NS/NAME` or `node/NAME`.
    pub fn end_label(&self, e: End) -> String {
        match e {
            End::Pod(i) => self.cluster.pod(i).1.label(),
            End::Node(i) => format!("node/{}", GenCluster::node_name(i)),
            End::Service(i) => self.cluster.services[i].label(),
            End::Lb(i) => self.cluster.services[i].lb_label(),
            End::Client => format!("client/{CLIENT}"),
        }
    }

    /// The scenario's way of writing a probe target: `pod/b`, `pod/b:80`.
    pub fn target_ref(&self, p: &PlannedProbe) -> String {
        let base = self.end_label(p.to);
        if p.proto == IpProto::Icmp { base } else { format!("{base}:{}", p.port) }
    }

    pub fn proto_word(p: &PlannedProbe) -> &'static str {
        match p.proto {
            IpProto::Icmp => "icmp",
            IpProto::Tcp => "tcp",
            IpProto::Udp => "udp",
        }
    }

    pub fn label(&self, p: &PlannedProbe) -> String {
        format!("{} -> {} ({})", self.end_label(p.from), self.target_ref(p), Self::proto_word(p))
    }

    /// What the step's `expect:` says: the result; for reached probes who answers and,
    /// between pods, the source the target must see (the sender's pod IP). The source a
    /// node sees from a pod, or a pod from a node, depends on where the pod runs (own
    /// node: no NAT; remote node: flannel masquerades; a node sends from cni0's address
    /// to its own pods) and is checked on the trace instead.
    pub fn expect(&self, p: &PlannedProbe) -> Expect {
        if let Some((s, k)) = p.service {
            return self.service_step_expect(p, s, k);
        }
        let reached = p.expect == Some(ExpectedResult::Reached);
        Expect {
            result: p.expect,
            at: reached.then(|| self.end_label(p.to)),
            source: match (p.from, p.to) {
                (End::Pod(i), End::Pod(_)) if reached => Some(self.target(End::Pod(i))),
                _ => None,
            },
            via: Vec::new(),
            status: None,
        }
    }

    /// A service step's `expect:` where the spec decides it: the result, who answers
    /// when only one pod can, and the source it sees when it is the client's own (a pod
    /// that is not itself the endpoint; the outside client under eTP Local).
    fn service_step_expect(&self, p: &PlannedProbe, s: usize, k: usize) -> Expect {
        let mut e = Expect { result: p.expect, ..Expect::default() };
        if p.expect != Some(ExpectedResult::Reached) {
            return e;
        }
        let path = self.path(p);
        let local = self.cluster.local_node(s, path);
        let candidates: Vec<usize> = spec_endpoints(&self.cluster, s, k)
            .into_iter()
            .filter(|e| local.is_none_or(|n| n == Some(e.1)))
            .map(|e| e.0)
            .collect();
        if let [only] = candidates[..]
            && local != Some(None)
        {
            e.at = Some(self.end_label(End::Pod(only)));
        }
        let svc = &self.cluster.services[s];
        e.source = match (p.from, path) {
            (End::Pod(i), _) if local != Some(None) && !candidates.contains(&i) => {
                Some(self.target(End::Pod(i)))
            }
            (End::Client, Path::NodePort(_)) if svc.local => Some(Target::Client(CLIENT.into())),
            (End::Client, Path::Lb) if svc.local => Some(match self.cluster.lb_mode {
                LbMode::Vip => Target::Client(CLIENT.into()),
                // The proxy masquerades: the node (and the pod) see the load balancer.
                _ => Target::Ip(self.cluster.config().load_balancer.ip),
            }),
            _ => None,
        };
        e
    }

    /// How the probe reaches its service (`PlannedProbe::service` must be set).
    pub fn path(&self, p: &PlannedProbe) -> Path {
        match (p.from, p.to) {
            (End::Client, End::Node(n)) => Path::NodePort(n),
            (_, End::Lb(_)) => Path::Lb,
            (from, _) => Path::ClusterIp(self.cluster.client_node(from)),
        }
    }

    fn target(&self, e: End) -> Target {
        match e {
            End::Pod(i) => {
                let (_, pod) = self.cluster.pod(i);
                Target::Pod { namespace: pod.namespace.clone(), name: pod.name.clone() }
            }
            End::Node(i) => Target::Node(GenCluster::node_name(i)),
            End::Service(i) => {
                let svc = &self.cluster.services[i];
                Target::Service { namespace: svc.namespace.clone(), name: svc.name.clone() }
            }
            End::Lb(i) => {
                let svc = &self.cluster.services[i];
                Target::LoadBalancer { namespace: svc.namespace.clone(), name: svc.name.clone() }
            }
            End::Client => Target::Client(CLIENT.into()),
        }
    }

    fn origin(&self, e: End) -> Origin {
        match self.target(e) {
            Target::Pod { namespace, name } => Origin::Pod { namespace, name },
            Target::Node(n) => Origin::Node(n),
            Target::Client(c) => Origin::Client(c),
            Target::Ip(_) | Target::Service { .. } | Target::LoadBalancer { .. } | Target::Name(_) => {
                unreachable!("probes start at pods, nodes or the client")
            }
        }
    }

    /// The `setReady: {ready: false}` steps of the not-Ready pods, at [`SET_READY_MS`].
    pub fn actions(&self) -> Vec<(SimTime, WorldAction)> {
        let at = SimTime::from_nanos(0) + SimDuration::from_millis(SET_READY_MS);
        let not_ready = self.cluster.pods().map(|(_, p)| p).filter(|p| p.not_ready);
        not_ready
            .map(|p| {
                let action = WorldAction::SetReady {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    ready: false,
                };
                (at, action)
            })
            .collect()
    }

    /// The run, built directly (no YAML), with tracing on.
    pub fn run_input(&self) -> RunInput {
        let steps = self
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| StepPlan {
                probe: ProbePlan {
                    at: Self::at(i),
                    from: self.origin(p.from),
                    to: self.target(p.to),
                    port: p.port,
                    proto: p.proto,
                    http: false,
                    request: Default::default(),
                    timeout: DEFAULT_PROBE_TIMEOUT,
                    sport: None,
                    size: None,
                },
                expect: Some(self.expect(p)).filter(|e| *e != Expect::default()),
                label: self.label(p),
                repeat: None,
            })
            .collect();
        RunInput {
            name: "invariants".into(),
            description: String::new(),
            seed: self.cluster.seed,
            cluster: self.cluster.config(),
            pods: self.cluster.model_pods(),
            objects: self.cluster.objects(),
            actions: self.actions(),
            steps,
            trace: true,
            capture: false,
            warnings: vec![],
            until: None,
            max_events: sim_k8s::run::EVENT_BUDGET,
        }
    }
}
