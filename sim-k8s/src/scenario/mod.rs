//! The scenario format (v1; docs/scenario-format.md is the contract): a cluster, real
//! Kubernetes manifests and a timeline of probes with expectations.
//!
//! Loading runs in two stages (style lesson 11):
//! 1. `schema`: serde with `deny_unknown_fields` checks the shape and parses scalars
//!    (durations, CIDRs, references); its first error stops loading.
//! 2. `build`: every default resolved (node names, IPs, pod CIDRs), manifests read and
//!    validated into `model` objects, references checked against them. Every error found
//!    is reported, sorted by position.
//!
//! A file holding only Kubernetes manifests (several documents, or `apiVersion`/`kind` at
//! the top) is a scenario on the default cluster with no steps.
//! Errors render as `FILE:LINE:COL: message`, pointing at the offending value.

mod build;
pub mod refs;
pub mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Deref;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use sim_core::{SimDuration, SimTime};

use crate::manifest::{Location, ManifestError, ManifestErrorKind, ManifestObject, Source};
use crate::model::Pod;
pub use build::services::{APISERVER_PORT, Workloads, kubernetes_slice};
pub use refs::{Glob, Ref, RefError};
use schema::Expecting;

/// Nodes in a cluster whose scenario does not say (`cluster.nodes`).
pub const DEFAULT_NODE_COUNT: usize = 2;
/// The most nodes a scenario may have.
pub const MAX_NODES: usize = 64;
/// `cluster.nodeNetwork` default: the nodes' `eth0` subnet; `.1` is the router.
pub const DEFAULT_NODE_NETWORK: &str = "192.168.1.0/24";
/// `cluster.podNetwork` default: flannel's stock `Network` (kube-controller-manager
/// `--cluster-cidr`); node i gets the i-th /24 (`--node-cidr-mask-size=24`).
pub const DEFAULT_POD_NETWORK: &str = "10.244.0.0/16";
/// `cluster.serviceNetwork` default: kubeadm's `--service-cluster-ip-range`.
pub const DEFAULT_SERVICE_NETWORK: &str = "10.96.0.0/12";
/// Node i (from 0) without an explicit IP gets host number `FIRST_NODE_HOST + i`.
pub const FIRST_NODE_HOST: u32 = 11;
/// The prefix length of each node's pod CIDR.
pub const NODE_POD_CIDR_PREFIX: u8 = 24;
/// `probe.interval` default: the gap between repetitions of a probe.
pub const DEFAULT_REPEAT_INTERVAL: SimDuration = SimDuration::from_millis(10);
/// The most repetitions one probe step may ask for.
pub const MAX_REPEAT: u32 = 1000;
/// The largest `probe.size`: 1500 bytes on the wire with the 20-byte IP header and the
/// 8-byte ICMP or UDP header. A larger packet needs IP fragmentation.
pub const MAX_PROBE_SIZE: u32 = 1472;
/// `probe.timeout` default.
pub const DEFAULT_PROBE_TIMEOUT: SimDuration = SimDuration::from_secs(3);

/// A loaded, validated scenario: everything the runner needs, every default resolved.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file name used in messages (as given to [`load`] / [`load_str`]).
    pub file: Arc<str>,
    /// `name`, default: the file name without directory and extension.
    pub name: String,
    /// `description`, default empty.
    pub description: String,
    /// `seed`, default 0.
    pub seed: u64,
    pub cluster: ClusterConfig,
    /// Validated pods in manifest order (namespace defaulted).
    pub pods: Vec<Sourced<Pod>>,
    /// Services (admitted: ClusterIPs and nodePorts allocated), Deployments,
    /// ReplicaSets and hand-written EndpointSlices.
    pub workloads: Workloads,
    /// Every object read from the manifests, in order (pods and nodes included), as
    /// k8s-openapi values for the controllers that need more than the model holds.
    pub objects: Vec<ManifestObject>,
    /// Steps sorted by time; steps with equal times keep their order in the file.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// What kubectl prints as `Warning: ...` when applying the manifests.
    pub fn warnings(&self) -> Vec<String> {
        self.objects.iter().filter_map(|o| o.warning.clone()).collect()
    }
    /// The pod a reference names (ignoring its port), if it is a pod reference.
    pub fn pod(&self, r: &Ref) -> Option<&Sourced<Pod>> {
        match r {
            Ref::Pod { namespace, name, .. } => {
                self.pods.iter().find(|p| &p.value.namespace == namespace && &p.value.name == name)
            }
            _ => None,
        }
    }
    /// The node a reference names, if it is a node reference.
    pub fn node(&self, r: &Ref) -> Option<&ClusterNode> {
        match r {
            Ref::Node { name, .. } => self.cluster.nodes.iter().find(|n| &n.name == name),
            _ => None,
        }
    }
}

/// A model object with where it was written.
#[derive(Clone, Debug)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Deref for Sourced<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// `cluster:` with every default resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// In registration order: node i has the i-th /24 of `pod_network`.
    pub nodes: Vec<ClusterNode>,
    pub node_network: Ipv4Net,
    /// The first host of `node_network` (`.1`): the nodes' default gateway.
    pub router_ip: Ipv4Addr,
    pub pod_network: Ipv4Net,
    pub service_network: Ipv4Net,
    pub network: NetworkBackend,
    /// Hosts outside the cluster, behind the router (scenario key `clients`).
    pub clients: Vec<ClientNode>,
    /// The cloud's load balancer for `type: LoadBalancer` Services.
    pub load_balancer: LoadBalancerConfig,
    /// The cluster DNS add-on runs (`cluster.dns.enabled`).
    pub dns: bool,
    /// `cluster.timers`.
    pub timers: ClusterTimers,
}

/// `cluster.loadBalancerPool` default: TEST-NET-2, addresses no real host owns.
pub const DEFAULT_LB_POOL: &str = "198.51.100.0/24";
/// The load balancer's own address on the node network: host number 2 (`.2`).
pub const LB_HOST: u32 = 2;

/// `cluster.loadBalancer` (plus `cluster.loadBalancerPool`) with defaults resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerConfig {
    /// Where the service controller takes external IPs from.
    pub pool: Ipv4Net,
    pub mode: LbMode,
    pub health_check: HealthCheckConfig,
    /// The load balancer's address on the node network (`.2`).
    pub ip: Ipv4Addr,
}

/// How the load balancer hands a connection to a node (`cluster.loadBalancer.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LbMode {
    /// A proxy-like LB (AWS CLB/NLB with instance targets): VIP:port is DNATed to a
    /// healthy node's nodeIP:nodePort and SNATed to the LB's own address.
    NodePort,
    /// A pass-through LB (GCE network LB, MetalLB): the packet keeps destination VIP
    /// and is routed to a healthy node, whose kube-proxy LB-IP rules catch it.
    Vip,
}

impl LbMode {
    pub const ALL: [LbMode; 2] = [LbMode::NodePort, LbMode::Vip];
    pub fn as_str(self) -> &'static str {
        match self {
            LbMode::NodePort => "nodeport",
            LbMode::Vip => "vip",
        }
    }
}

/// `cluster.loadBalancer.healthCheck`. Defaults are GCE's for Kubernetes L4 load
/// balancers (cloud-provider-gcp `gceHc*`): every 8s, 1s timeout, healthy after 1
/// success, unhealthy after 3 failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub interval: SimDuration,
    pub timeout: SimDuration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            interval: SimDuration::from_secs(8),
            timeout: SimDuration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
        }
    }
}

/// The node-failure timers of the control plane (`cluster.timers`). The defaults are
/// shortened so scenarios stay short; the real defaults are in the comments and in
/// docs/fidelity.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterTimers {
    /// How often the kubelet renews its node Lease (real: 10 s, a quarter of
    /// `nodeLeaseDurationSeconds` 40). Default 1 s.
    pub node_lease_renew_interval: SimDuration,
    /// `--node-monitor-period` of the node lifecycle controller (real: 5 s). Default 1 s.
    pub node_monitor_period: SimDuration,
    /// `--node-monitor-grace-period` (real: 50 s since Kubernetes 1.32, 40 s before).
    /// Default 4 s.
    pub node_monitor_grace_period: SimDuration,
    /// `tolerationSeconds` of the `node.kubernetes.io/unreachable:NoExecute` toleration
    /// every pod gets (kube-apiserver `--default-unreachable-toleration-seconds`, real:
    /// 300 s). Default 5 s.
    pub unreachable_toleration: SimDuration,
}

impl Default for ClusterTimers {
    fn default() -> Self {
        ClusterTimers {
            node_lease_renew_interval: SimDuration::from_secs(1),
            node_monitor_period: SimDuration::from_secs(1),
            node_monitor_grace_period: SimDuration::from_secs(4),
            unreachable_toleration: SimDuration::from_secs(5),
        }
    }
}

/// `clients[].routes[]`: traffic of the client to `to` goes through node `via_node`.
/// The route is installed on the client's gateway, the router (see
/// docs/concepts/failures.md): a next hop must be on-link, and the node is not on the
/// client's own network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRoute {
    pub to: Ipv4Net,
    pub via_node: String,
    pub via: Ipv4Addr,
}

/// A host outside the cluster: its own namespace `client-NAME` on the outside network
/// behind the router, with the router as default gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientNode {
    pub name: String,
    pub ip: Ipv4Addr,
    /// `routes:` (empty by default).
    pub routes: Vec<ClientRoute>,
}

/// The client every scenario has unless it lists its own.
pub const DEFAULT_CLIENT: (&str, Ipv4Addr) = ("client", Ipv4Addr::new(203, 0, 113, 10));

/// One machine of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    pub name: String,
    /// The address of its `eth0` in `node_network`.
    pub ip: Ipv4Addr,
    /// `spec.podCIDR`, as kube-controller-manager allocates it.
    pub pod_cidr: Ipv4Net,
    /// Labels from a Node manifest of the same name, if any.
    pub labels: BTreeMap<String, String>,
}

/// How pods on different nodes reach each other (`cluster.network`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum NetworkBackend {
    /// flanneld with the vxlan backend (the default, as in the stock kube-flannel.yml):
    /// `flannel.1`, VNI 1, UDP 8472, MTU 1450.
    FlannelVxlan,
    /// flanneld with the host-gw backend: a route per remote node's pod CIDR via that
    /// node's IP, plus flannel's masquerade rules.
    FlannelHostGw,
    /// Static host-gw routes and nothing else (no flanneld, no masquerade rules).
    HostGw,
}

impl NetworkBackend {
    pub const ALL: [NetworkBackend; 3] =
        [NetworkBackend::FlannelVxlan, NetworkBackend::FlannelHostGw, NetworkBackend::HostGw];
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkBackend::FlannelVxlan => "flannel-vxlan",
            NetworkBackend::FlannelHostGw => "flannel-host-gw",
            NetworkBackend::HostGw => "host-gw",
        }
    }
}

/// A step: at a simulated time, do one action, then check what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: SimTime,
    /// Position of the step in the file's `steps` list (before sorting by time).
    pub index: usize,
    pub location: Location,
    pub action: StepAction,
    pub expect: Option<Expect>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepAction {
    Probe(Probe),
    /// Every other step (`delete`, `setReady`, `scale`, `fail`, `restore`, `cut`, `heal`,
    /// `apply`): the change it makes, already validated, as the world runs it.
    Act(crate::world::WorldAction),
}

/// Send one packet (or open one connection) and follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// A pod or a node, without a port.
    pub from: Ref,
    /// For a pod source: the container it runs in (the `container:` key, default the
    /// pod's first container). All containers share the pod's network namespace, so
    /// this changes the story told, not the path. `None` for a node source.
    pub container: Option<String>,
    /// With a port for tcp and udp, without for icmp.
    pub to: Ref,
    pub proto: ProbeProto,
    pub timeout: SimDuration,
    /// How many times the probe runs (`repeat`, default 1), `interval` apart.
    pub repeat: u32,
    pub interval: SimDuration,
    /// `http` only: the Host header (and TLS SNI), the path (default `/`), TLS.
    pub http: crate::apps::client::HttpOpts,
    /// `sourcePort` (udp only): a fixed client port instead of an ephemeral one.
    pub source_port: Option<u16>,
    /// `size` (icmp, udp): payload bytes; the packet has DF set.
    pub size: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProbeProto {
    /// An ICMP echo request (ping).
    Icmp,
    /// A TCP connection: connect, send, half-close, read until the server closes.
    Tcp,
    /// One UDP datagram.
    Udp,
    /// An HTTP GET over TCP (port 80 unless given).
    Http,
}

impl ProbeProto {
    pub const ALL: [ProbeProto; 4] = [ProbeProto::Icmp, ProbeProto::Tcp, ProbeProto::Udp, ProbeProto::Http];
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeProto::Icmp => "icmp",
            ProbeProto::Tcp => "tcp",
            ProbeProto::Udp => "udp",
            ProbeProto::Http => "http",
        }
    }
}

/// What the step expects (all parts optional; an absent part is not checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub result: Option<ExpectedResult>,
    /// YAML `at`: who received the packet.
    pub receiver: Option<Glob>,
    /// The source address the receiver saw (a pod/node stands for its IP).
    pub source: Option<Ref>,
    /// Trace labels that must appear in this order (others may come between).
    pub via: Vec<String>,
    /// The HTTP status code of the answer (`http` probes).
    pub status: Option<u16>,
}

/// The outcome of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ExpectedResult {
    /// The destination's socket got it (TCP: the handshake completed; ICMP: echo reply).
    Reached,
    /// The destination answered "no" (TCP RST, ICMP port unreachable).
    Refused,
    /// An ICMP destination-unreachable (net, host, ...) came back from on the way.
    Unreachable,
    /// A hop discarded it silently (no route, firewall DROP, ...), as the trace shows.
    Dropped,
    /// Nothing came back before the probe's timeout, and no drop was seen.
    Timeout,
    /// The target's name did not resolve (NXDOMAIN for every candidate of the search
    /// list, a failing server, or no DNS server answering with an ICMP error).
    Unresolved,
}

impl ExpectedResult {
    pub const ALL: [ExpectedResult; 6] = [
        ExpectedResult::Reached,
        ExpectedResult::Refused,
        ExpectedResult::Unreachable,
        ExpectedResult::Dropped,
        ExpectedResult::Timeout,
        ExpectedResult::Unresolved,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedResult::Reached => "reached",
            ExpectedResult::Refused => "refused",
            ExpectedResult::Unreachable => "unreachable",
            ExpectedResult::Dropped => "dropped",
            ExpectedResult::Timeout => "timeout",
            ExpectedResult::Unresolved => "unresolved",
        }
    }
}

/// An IPv4 network written with its network address (`10.244.0.0/16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub Ipv4Net);

/// Parses one of a closed set of names, listing them all when the input is none.
fn parse_enum<T: Copy>(what: &str, s: &str, all: &[T], name: fn(T) -> &'static str) -> Result<T, String> {
    all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        format!("unknown {what} {s:?}: expected one of: {}", names.join(", "))
    })
}

macro_rules! closed_set {
    ($t:ty, $what:literal) => {
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_enum($what, s, &<$t>::ALL, <$t>::as_str)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Expecting for $t {
            const EXPECTING: &'static str = concat!("a ", $what);
        }
    };
}
closed_set!(NetworkBackend, "network backend");
closed_set!(LbMode, "load balancer mode");
closed_set!(ProbeProto, "protocol");
closed_set!(ExpectedResult, "result");

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let net: Ipv4Net = s
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: expected an IPv4 network like 10.244.0.0/16"))?;
        if net.addr() != net.network() {
            return Err(format!("invalid CIDR {s:?}: host bits are set (did you mean {}?)", net.trunc()));
        }
        Ok(Cidr(net))
    }
}

impl Expecting for Cidr {
    const EXPECTING: &'static str = "an IPv4 network like 10.244.0.0/16";
}

/// One problem with a scenario, at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct Diagnostic {
    pub at: Location,
    pub kind: DiagnosticKind,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiagnosticKind {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    /// The file is empty or holds neither a scenario nor manifests.
    #[error("{0}")]
    NotAScenario(String),
    /// Stage 1: a key the format does not have.
    #[error("unknown field {path:?}, expected {}", expected_list(.expected))]
    UnknownField { path: String, expected: Vec<String> },
    /// Stage 1: serde's message (wrong type, bad duration, bad reference, ...).
    #[error("{0}")]
    Schema(String),
    /// A manifest problem (syntax, unknown field, type, validation, unsupported kind).
    #[error("{0}")]
    Manifest(ManifestErrorKind),
    /// A second object of the same kind, namespace and name (kubectl create's message).
    #[error("{resource} {name:?} already exists")]
    AlreadyExists { resource: &'static str, name: String },
    /// Stage 2: a value that does not fit the rest of the scenario.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn expected_list(expected: &[String]) -> String {
    match expected {
        [] => "no fields here".to_string(),
        [one] => one.clone(),
        many => format!("one of: {}", many.join(", ")),
    }
}

impl From<ManifestError> for Diagnostic {
    fn from(e: ManifestError) -> Self {
        let kind = match e.kind {
            ManifestErrorKind::Io { path, reason } => DiagnosticKind::Io { path, reason },
            other => DiagnosticKind::Manifest(other),
        };
        Diagnostic { at: e.at, kind }
    }
}

/// Everything wrong with a scenario, sorted by position (the scenario file first).
/// Displays one `FILE:LINE:COL: message` per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Loads a scenario file; manifests named with `file:` are read relative to its folder.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        diagnostics: vec![Diagnostic {
            at: Location { file: name.as_str().into(), line: 1, col: 1 },
            kind: DiagnosticKind::Io { path: name.clone(), reason: e.to_string() },
        }],
    })?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    load_str(&name, &text, base_dir)
}

/// Loads a scenario from text; `name` is used in messages, `base_dir` resolves `file:`.
pub fn load_str(name: &str, text: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
    build::load(name, text, base_dir).map_err(|mut diagnostics| {
        diagnostics.sort_by(|a, b| {
            let key = |d: &Diagnostic| (&*d.at.file != name, d.at.file.clone(), d.at.line, d.at.col);
            key(a).cmp(&key(b))
        });
        diagnostics.dedup();
        ScenarioError { diagnostics }
    })
}
