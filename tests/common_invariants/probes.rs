//! Probes over a generated cluster: what each property sends, from where to where, and
//! what a correct network answers. Probes are drawn as index picks into the cluster
//! (so they shrink with it) and resolved into a [`Case`], whose `Debug` is a scenario
//! YAML file (see `yaml.rs`).
//!
//! New features slot in as new [`ProbeKind`]s (e.g. pod → Service ClusterIP, node →
//! NodePort) with their expected result and source in [`ProbeKind::expected`].

use proptest::prelude::*;
use proptest::sample::{Index, select};
use sim_core::{SimDuration, SimTime};
use sim_k8s::model::Protocol;
use sim_k8s::run::{Expect, ExpectedResult, RunInput, StepPlan};
use sim_k8s::scenario::DEFAULT_PROBE_TIMEOUT;
use sim_k8s::world::{Origin, ProbePlan, Target};
use sim_net::packet::IpProto;

use super::cluster::{GenCluster, gen_cluster};

/// Probes run one after another from this time on (every pod is running by then).
pub const FIRST_PROBE_MS: u64 = 1000;
/// Time between two probes: answers take microseconds, so they do not overlap unless
/// one is lost, and then its timeout runs alongside the next probes.
pub const PROBE_GAP_MS: u64 = 100;

/// Linux reports a closed UDP port (ICMP port unreachable) to a connected socket as
/// ECONNREFUSED; the simulator's probe client reports it as `unreachable` (see
/// `sim-net/src/path/local.rs::icmp_rcv`). This is the answer property 4 checks.
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
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 8] = [
        ProbeKind::PodToPodIcmp,
        ProbeKind::PodToPodPort,
        ProbeKind::PodToSelfIcmp,
        ProbeKind::PodToSelfPort,
        ProbeKind::NodeToPod,
        ProbeKind::PodToNode,
        ProbeKind::UndeclaredTcp,
        ProbeKind::UndeclaredUdp,
    ];

    fn expected(self) -> ExpectedResult {
        match self {
            ProbeKind::UndeclaredTcp => ExpectedResult::Refused,
            ProbeKind::UndeclaredUdp => CLOSED_UDP_PORT,
            _ => ExpectedResult::Reached,
        }
    }
}

/// One end of a probe: the i-th pod of the cluster (manifest order) or the i-th node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Pod(usize),
    Node(usize),
}

/// A probe drawn before it is known how many pods there are.
#[derive(Clone, Debug)]
pub struct Pick {
    kind: ProbeKind,
    from: Index,
    to: Index,
    port: Index,
    undeclared: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedProbe {
    pub kind: ProbeKind,
    pub from: End,
    pub to: End,
    pub proto: IpProto,
    /// 0 for ICMP.
    pub port: u16,
    pub expect: ExpectedResult,
}

/// A cluster and the probes one property sends through it.
#[derive(Clone, PartialEq, Eq)]
pub struct Case {
    pub cluster: GenCluster,
    pub probes: Vec<PlannedProbe>,
}

/// A cluster with at most `max_probes` probes of the given kinds. Picks that do not fit
/// the cluster (a pod-to-pod probe with one pod) are left out.
pub fn gen_case(kinds: &[ProbeKind], max_probes: usize) -> impl Strategy<Value = Case> + use<> {
    let pick = (select(kinds.to_vec()), any::<Index>(), any::<Index>(), any::<Index>(), 1..=u16::MAX)
        .prop_map(|(kind, from, to, port, undeclared)| Pick { kind, from, to, port, undeclared });
    (gen_cluster(), proptest::collection::vec(pick, 1..=max_probes)).prop_map(|(cluster, picks)| {
        let probes = picks.iter().filter_map(|p| resolve(&cluster, p)).collect();
        Case { cluster, probes }
    })
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
    let ports: Vec<(u16, Protocol)> = pod.containers.iter().flat_map(|c| c.ports.iter().copied()).collect();
    let (port, protocol) = ports[pick.index(ports.len())];
    (if protocol == Protocol::Udp { IpProto::Udp } else { IpProto::Tcp }, port)
}

/// The first port from `start` upward (wrapping) that the pod does not declare.
fn undeclared_port(c: &GenCluster, pod: usize, protocol: Protocol, start: u16) -> u16 {
    let declared = c.pod(pod).1.declared(protocol);
    let mut port = start;
    while declared.contains(&port) {
        port = port % u16::MAX + 1;
    }
    port
}

fn resolve(c: &GenCluster, p: &Pick) -> Option<PlannedProbe> {
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
    };
    Some(PlannedProbe { kind: p.kind, from, to, proto, port, expect: p.kind.expected() })
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
        let reached = p.expect == ExpectedResult::Reached;
        Expect {
            result: Some(p.expect),
            at: reached.then(|| self.end_label(p.to)),
            source: match (p.from, p.to) {
                (End::Pod(i), End::Pod(_)) if reached => Some(self.target(End::Pod(i))),
                _ => None,
            },
            via: Vec::new(),
        }
    }

    fn target(&self, e: End) -> Target {
        match e {
            End::Pod(i) => {
                let (_, pod) = self.cluster.pod(i);
                Target::Pod { namespace: pod.namespace.clone(), name: pod.name.clone() }
            }
            End::Node(i) => Target::Node(GenCluster::node_name(i)),
        }
    }

    fn origin(&self, e: End) -> Origin {
        match self.target(e) {
            Target::Pod { namespace, name } => Origin::Pod { namespace, name },
            Target::Node(n) => Origin::Node(n),
            Target::Ip(_) | Target::Client(_) | Target::Service { .. } => {
                unreachable!("ends are pods or nodes")
            }
        }
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
                    timeout: DEFAULT_PROBE_TIMEOUT,
                },
                expect: Some(self.expect(p)),
                label: self.label(p),
            })
            .collect();
        RunInput {
            name: "invariants".into(),
            description: String::new(),
            seed: self.cluster.seed,
            cluster: self.cluster.config(),
            pods: self.cluster.model_pods(),
            objects: Vec::new(),
            steps,
            trace: true,
        }
    }
}
