//! Generated clusters: the proptest strategies and the model values they build.
//!
//! A [`GenCluster`] is 1–6 nodes, each with 0–8 pods that are either pinned to it
//! (`spec.nodeName`) or left to the scheduler, on a network backend drawn from
//! `NetworkBackend::ALL` (all three: flannel-vxlan, flannel-host-gw, host-gw) and a
//! cloud load-balancer mode drawn from `LbMode::ALL` (`nodeport` proxy or `vip`
//! pass-through). Names, namespaces, labels and container ports are random but
//! valid, so every generated pod is one the apiserver would accept. Services (0–6) are
//! drawn as picks into those pods (selectors from a pod's labels, targetPorts from its
//! ports) or random, with a type (ClusterIP, NodePort, LoadBalancer), traffic policies
//! (external Cluster/Local for NodePort and LoadBalancer, internal Cluster/Local for
//! all) and sometimes ClientIP affinity, and admitted by the scenario loader (ClusterIP,
//! nodePort and healthCheckNodePort allocation; the service controller gives a
//! LoadBalancer its address from the pool during the run), as the printed
//! counterexample will be. About a quarter of the pods are
//! made not Ready (a `setReady` step before the first probe): still running, but no
//! Service's endpoint. About a third are replicas of an earlier pod (its namespace,
//! labels and containers), so services often have several endpoints.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::string::string_regex;
use sim_k8s::cluster::{ClusterConfig, NetworkBackend, pod_netns};
use sim_k8s::model::{Container, ContainerPort, DEFAULT_NAMESPACE, Pod, Protocol};
use sim_k8s::scenario::LbMode;

pub const MAX_NODES: usize = 6;
pub const MAX_PODS_PER_NODE: usize = 8;

/// A generated cluster. Node *i* is `node-{i+1}` with the scenario format's defaults
/// (IP `.11 + i`, the *i*-th /24 of the pod network), as `cluster: {nodes: N}` gives.
#[derive(Clone, PartialEq, Eq)]
pub struct GenCluster {
    pub seed: u64,
    pub backend: NetworkBackend,
    /// `cluster.loadBalancer.mode`: how the cloud load balancer hands a LoadBalancer
    /// Service's traffic to a node.
    pub lb_mode: LbMode,
    /// `nodes[i]`: the pods written "for" node i (pinned to it, or left to the scheduler).
    pub nodes: Vec<Vec<GenPod>>,
    /// Services, in manifest order (admitted in that order, after `default/kubernetes`).
    pub services: Vec<GenService>,
}

/// `spec.type` of a generated Service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
}

impl GenServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            GenServiceType::ClusterIp => "ClusterIP",
            GenServiceType::NodePort => "NodePort",
            GenServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// A generated Service: a selector over the generated labels (or one matching nothing),
/// 1–2 ports, a type and traffic policies. ClusterIP and nodePorts are left to the
/// apiserver's allocators (the scenario loader admits services with `allocate_service`),
/// the external IP to the service controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenService {
    pub namespace: String,
    pub name: String,
    /// Never empty (an empty selector is stored as none by the apiserver).
    pub selector: BTreeMap<String, String>,
    pub type_: GenServiceType,
    /// `externalTrafficPolicy: Local` (NodePort and LoadBalancer only).
    pub local: bool,
    /// `internalTrafficPolicy: Local`: ClusterIP traffic goes only to endpoints on the
    /// client's node (and is dropped there when it has none).
    pub internal_local: bool,
    /// `sessionAffinity: ClientIP`.
    pub client_ip_affinity: bool,
    pub ports: Vec<GenServicePort>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenServicePort {
    /// Empty for a service with one port.
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    pub target: GenTarget,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenTarget {
    Number(u16),
    Name(String),
}

impl GenTarget {
    /// `podutil.FindPort`, written out: a number as-is, a name to the first container
    /// port of the pod with that name and protocol.
    pub fn resolve(&self, ports: &[(Option<&str>, u16, Protocol)], protocol: Protocol) -> Option<u16> {
        match self {
            GenTarget::Number(n) => Some(*n),
            GenTarget::Name(name) => {
                ports.iter().find(|(n, _, p)| *n == Some(name.as_str()) && *p == protocol).map(|p| p.1)
            }
        }
    }
}

impl GenService {
    /// NodePort or LoadBalancer: it has nodePorts.
    pub fn has_node_ports(&self) -> bool {
        self.type_ != GenServiceType::ClusterIp
    }

    /// `lb/NAME` or `lb/NS/NAME`.
    pub fn lb_label(&self) -> String {
        if self.namespace == DEFAULT_NAMESPACE {
            format!("lb/{}", self.name)
        } else {
            format!("lb/{}/{}", self.namespace, self.name)
        }
    }

    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        namespace == self.namespace && self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// `svc/NAME` or `svc/NS/NAME`.
    pub fn label(&self) -> String {
        if self.namespace == DEFAULT_NAMESPACE {
            format!("svc/{}", self.name)
        } else {
            format!("svc/{}/{}", self.namespace, self.name)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenPod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName` is set to the node this pod was generated for.
    pub pinned: bool,
    pub containers: Vec<GenContainer>,
    /// Its readiness probe fails: a `setReady: {ready: false}` step at
    /// [`SET_READY_MS`](super::probes::SET_READY_MS), before any probe. The pod keeps
    /// running (direct traffic reaches it) but is no endpoint of any Service. Shrinks
    /// to ready.
    pub not_ready: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenContainer {
    pub name: String,
    pub ports: Vec<GenPort>,
}

/// A container port: number, protocol and (sometimes) a name that named targetPorts
/// of services resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenPort {
    pub port: u16,
    pub protocol: Protocol,
    pub name: Option<String>,
}

impl GenPort {
    pub fn new(port: u16, protocol: Protocol) -> GenPort {
        GenPort { port, protocol, name: None }
    }
}

impl GenCluster {
    pub fn node_name(i: usize) -> String {
        format!("node-{}", i + 1)
    }

    /// Every pod with the node it was written for, in manifest order.
    pub fn pods(&self) -> impl Iterator<Item = (usize, &GenPod)> {
        self.nodes.iter().enumerate().flat_map(|(i, pods)| pods.iter().map(move |p| (i, p)))
    }

    pub fn pod_count(&self) -> usize {
        self.nodes.iter().map(Vec::len).sum()
    }

    pub fn pod(&self, index: usize) -> (usize, &GenPod) {
        self.pods().nth(index).expect("pod index in range")
    }

    /// The `cluster:` section of the scenario, resolved by the scenario loader itself
    /// (so the defaults are the format's, not a copy of them).
    pub fn config(&self) -> ClusterConfig {
        let text = self.cluster_yaml();
        let s = sim_k8s::scenario::load_str("cluster.yaml", &text, std::path::Path::new(""))
            .unwrap_or_else(|e| panic!("generated cluster section does not load: {e}\n{text}"));
        s.cluster
    }

    /// `cluster: {nodes: N, network: BACKEND}` as a YAML line, with the load balancer's
    /// mode when it is not the default.
    pub fn cluster_yaml(&self) -> String {
        let lb = match self.lb_mode {
            LbMode::NodePort => String::new(),
            mode => format!(", loadBalancer: {{mode: {}}}", mode.as_str()),
        };
        format!("cluster: {{nodes: {}, network: {}{lb}}}\n", self.nodes.len(), self.backend.as_str())
    }

    /// The objects the run creates at t = 0 (services admitted, `default/kubernetes` and
    /// its slice), from the scenario loader itself: the `seed`, `cluster` and services of
    /// the printed counterexample, loaded and planned.
    pub fn objects(&self) -> Vec<sim_k8s::store::Object> {
        let mut text = format!("seed: {}\n{}", self.seed, self.cluster_yaml());
        if !self.services.is_empty() {
            text.push_str("manifests:\n");
        }
        for svc in &self.services {
            super::yaml::service_yaml(&mut text, svc);
        }
        let s = sim_k8s::scenario::load_str("services.yaml", &text, std::path::Path::new(""))
            .unwrap_or_else(|e| panic!("generated services do not load: {e}\n{text}"));
        sim_k8s::plan::plan(&s, false).objects
    }

    /// The admitted services (ClusterIP and nodePorts allocated), generated ones only.
    pub fn admitted_services(&self) -> Vec<sim_k8s::model::service::Service> {
        let objects = self.objects().into_iter();
        let all: Vec<_> = objects
            .filter_map(|o| match o {
                sim_k8s::store::Object::Service(s) => Some(s),
                _ => None,
            })
            .collect();
        self.services
            .iter()
            .map(|g| {
                let found = all.iter().find(|s| s.namespace == g.namespace && s.name == g.name);
                found.cloned().unwrap_or_else(|| panic!("service {} was not admitted", g.label()))
            })
            .collect()
    }

    /// The pods as the scenario loader would build them from the manifests.
    pub fn model_pods(&self) -> Vec<Pod> {
        self.pods().map(|(node, p)| p.model(node)).collect()
    }
}

impl GenPod {
    pub fn model(&self, node: usize) -> Pod {
        let containers = self
            .containers
            .iter()
            .map(|c| Container {
                name: c.name.clone(),
                image: "busybox".into(),
                ports: c
                    .ports
                    .iter()
                    .map(|p| ContainerPort {
                        name: p.name.clone(),
                        container_port: p.port,
                        protocol: p.protocol,
                        host_port: None,
                    })
                    .collect(),
            })
            .collect();
        Pod {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            annotations: BTreeMap::new(),
            node_name: self.pinned.then(|| GenCluster::node_name(node)),
            host_network: false,
            dns_policy: Default::default(),
            enable_service_links: true,
            containers,
        }
    }

    /// Every declared port of one protocol, over all containers.
    pub fn declared(&self, protocol: Protocol) -> Vec<u16> {
        let ports = self.containers.iter().flat_map(|c| c.ports.iter());
        ports.filter(|p| p.protocol == protocol).map(|p| p.port).collect()
    }

    /// Every port of the pod, over all containers, in manifest order.
    pub fn ports(&self) -> impl Iterator<Item = &GenPort> {
        self.containers.iter().flat_map(|c| c.ports.iter())
    }

    /// `pod/NAME` or `pod/NS/NAME`, as references and responders are written.
    pub fn label(&self) -> String {
        sim_k8s::run::pod_label(&self.namespace, &self.name)
    }
}

// ---------------------------------------------------------------------------------
// Strategies

/// A DNS-1123 label: mostly from a tiny alphabet (so shrunk names read like `a`, `b`
/// and collisions between namespaces and names happen), sometimes fully random.
fn dns_label(max_inner: usize) -> impl Strategy<Value = String> {
    let regex = |r: &str| string_regex(r).expect("a valid regex");
    prop_oneof![
        3 => regex("[a-c]{1,2}(-[a-c]{1,2})?"),
        1 => regex(&format!("[a-z0-9]([a-z0-9-]{{0,{max_inner}}}[a-z0-9])?")),
    ]
}

/// A DNS-1123 subdomain pod name: one label, sometimes two joined by a dot.
fn pod_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => dns_label(10),
        1 => (dns_label(4), dns_label(4)).prop_map(|(a, b)| format!("{a}.{b}")),
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![4 => Just(DEFAULT_NAMESPACE.to_string()), 1 => dns_label(6)]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let key = select(vec!["app", "tier", "team", "app.kubernetes.io/name"]);
    let value = "[a-z0-9]([a-z0-9._-]{0,6}[a-z0-9])?";
    proptest::collection::btree_map(key.prop_map(str::to_string), value, 0..=3)
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => select(vec![53u16, 80, 443, 8080, 9000]),
        1 => 1..=u16::MAX,
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![3 => Just(Protocol::Tcp), 2 => Just(Protocol::Udp)]
}

/// Container port names (IANA_SVC_NAME) drawn for ports and named targetPorts.
pub const PORT_NAMES: [&str; 3] = ["http", "dns", "metrics"];

fn port_name() -> impl Strategy<Value = Option<String>> {
    prop_oneof![1 => Just(None), 1 => select(PORT_NAMES.to_vec()).prop_map(|n| Some(n.to_string()))]
}

/// One or two containers; 1–3 ports in all, no (port, protocol) declared twice, port
/// names unique in the pod (a repeated one is dropped).
fn containers() -> impl Strategy<Value = Vec<GenContainer>> {
    let ports = proptest::collection::vec((port(), protocol(), port_name()), 1..=3);
    (ports, dns_label(6), dns_label(6), any::<bool>()).prop_map(|(ports, n1, n2, two)| {
        let mut seen = Vec::new();
        let mut names = Vec::new();
        let ports: Vec<GenPort> = ports
            .into_iter()
            .filter(|&(port, protocol, _)| {
                !seen.contains(&(port, protocol)) && {
                    seen.push((port, protocol));
                    true
                }
            })
            .map(|(port, protocol, name)| {
                let name = name.filter(|n| !names.contains(n));
                names.extend(name.clone());
                GenPort { port, protocol, name }
            })
            .collect();
        if two && ports.len() > 1 && n1 != n2 {
            let (a, b) = ports.split_at(1);
            vec![GenContainer { name: n1, ports: a.to_vec() }, GenContainer { name: n2, ports: b.to_vec() }]
        } else {
            vec![GenContainer { name: n1, ports }]
        }
    })
}

/// A pod. It shrinks to *pinned* (`nodeName` set): where the scheduler puts a pod
/// depends on every other pod, so an unpinned endpoint moves when the shrinker removes
/// an unrelated pod, and a failure that needs it on a given node would keep every pod.
fn gen_pod() -> impl Strategy<Value = GenPod> {
    let pinned = any::<bool>().prop_map(|scheduled| !scheduled);
    (namespace(), pod_name(), labels(), pinned, containers(), prop::bool::weighted(0.25)).prop_map(
        |(namespace, name, labels, pinned, containers, not_ready)| GenPod {
            namespace,
            name,
            labels,
            pinned,
            containers,
            not_ready,
        },
    )
}

/// While true, generated pods never share a network namespace *name*. It was true while
/// sim-k8s `cluster::pod_netns` named the netns `pod-NS-NAME` (pod `c` in namespace `a`
/// and pod `a-c` in `default` got the same one); that is fixed and pinned by
/// `pods_whose_names_could_collide_get_their_own_namespaces` in invariants.rs, so it
/// stays false and such names are generated.
pub const AVOID_NETNS_NAME_COLLISIONS: bool = false;

/// Pod names are unique per namespace (and, see above, per netns name): a repeated name
/// gets the pod's position appended.
fn dedupe_names(nodes: &mut [Vec<GenPod>]) {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut netns: Vec<String> = Vec::new();
    let taken = |seen: &[(String, String)], netns: &[String], p: &GenPod| {
        seen.contains(&(p.namespace.clone(), p.name.clone()))
            || (AVOID_NETNS_NAME_COLLISIONS && netns.contains(&pod_netns(&p.namespace, &p.name)))
    };
    for (i, pod) in nodes.iter_mut().flat_map(|n| n.iter_mut()).enumerate() {
        while taken(&seen, &netns, pod) {
            pod.name = format!("{}-{i}", pod.name);
        }
        seen.push((pod.namespace.clone(), pod.name.clone()));
        netns.push(pod_netns(&pod.namespace, &pod.name));
    }
}

pub const MAX_SERVICES: usize = 6;

/// A service drawn before the pods are known: its selector and targetPorts are picks
/// into the pods (so they match something, and shrink with the cluster) or random.
#[derive(Clone, Debug)]
struct ServicePick {
    name: String,
    /// Select a subset (bit mask over the sorted labels) of this pod's labels.
    from_pod: Option<(Index, u8)>,
    /// In the picked pod's namespace (else `default`).
    same_namespace: bool,
    random_label: (String, String),
    type_: GenServiceType,
    local: bool,
    internal_local: bool,
    affinity: bool,
    ports: Vec<PortPick>,
}

#[derive(Clone, Debug)]
struct PortPick {
    port: u16,
    protocol: Protocol,
    target: TargetPick,
    /// Take the protocol of the pod port the target was picked from.
    pod_protocol: bool,
}

#[derive(Clone, Debug)]
enum TargetPick {
    Number(u16),
    /// The number of one of the generated container ports.
    PodNumber(Index),
    /// The name of one of the generated named container ports.
    PodName(Index),
    /// A name from [`PORT_NAMES`] or one no pod has.
    Name(&'static str),
}

fn target_pick() -> impl Strategy<Value = TargetPick> {
    let names = select(vec!["http", "dns", "metrics", "absent"]);
    prop_oneof![
        1 => port().prop_map(TargetPick::Number),
        4 => any::<Index>().prop_map(TargetPick::PodNumber),
        3 => any::<Index>().prop_map(TargetPick::PodName),
        1 => names.prop_map(TargetPick::Name),
    ]
}

/// ClusterIP first, so a service shrinks to the simplest type.
fn service_type() -> impl Strategy<Value = GenServiceType> {
    prop_oneof![
        2 => Just(GenServiceType::ClusterIp),
        1 => Just(GenServiceType::NodePort),
        1 => Just(GenServiceType::LoadBalancer),
    ]
}

fn service_pick() -> impl Strategy<Value = ServicePick> {
    let port = (port(), protocol(), target_pick(), prop::bool::weighted(0.9))
        .prop_map(|(port, protocol, target, pod_protocol)| PortPick { port, protocol, target, pod_protocol });
    let label = (select(vec!["app", "tier"]), "[a-c]").prop_map(|(k, v)| (k.to_string(), v));
    let from_pod = prop_oneof![1 => Just(None), 6 => (any::<Index>(), any::<u8>()).prop_map(Some)];
    (
        "[a-e]",
        from_pod,
        prop::bool::weighted(0.9),
        label,
        (service_type(), any::<bool>(), prop::bool::weighted(0.25), prop::bool::weighted(0.25)),
        proptest::collection::vec(port, 1..=2),
    )
        .prop_map(
            |(
                name,
                from_pod,
                same_namespace,
                random_label,
                (type_, local, internal_local, affinity),
                ports,
            )| {
                ServicePick {
                    name,
                    from_pod,
                    same_namespace,
                    random_label,
                    type_,
                    local,
                    internal_local,
                    affinity,
                    ports,
                }
            },
        )
}

fn resolve_service(nodes: &[Vec<GenPod>], pick: &ServicePick) -> GenService {
    let pods: Vec<&GenPod> = nodes.iter().flatten().collect();
    let source = pick.from_pod.filter(|_| !pods.is_empty()).map(|(i, _)| pods[i.index(pods.len())]);
    // TargetPorts are picked from the selector's pod (so the service often has
    // endpoints), or from every pod when the selector is random.
    let ports: Vec<&GenPort> = match source {
        Some(pod) => pod.ports().collect(),
        None => pods.iter().flat_map(|p| p.ports()).collect(),
    };
    let named: Vec<&GenPort> = ports.iter().copied().filter(|p| p.name.is_some()).collect();
    let random = BTreeMap::from([pick.random_label.clone()]);
    let (namespace, selector) = match (source, pick.from_pod) {
        (Some(pod), Some((_, mask))) => {
            let ns = if pick.same_namespace { pod.namespace.clone() } else { DEFAULT_NAMESPACE.to_string() };
            let mut sel: BTreeMap<String, String> = pod
                .labels
                .iter()
                .enumerate()
                .filter(|(j, _)| mask & (1 << j) != 0)
                .map(|(_, (k, v))| (k.clone(), v.clone()))
                .collect();
            if sel.is_empty() {
                sel = pod.labels.iter().take(1).map(|(k, v)| (k.clone(), v.clone())).collect();
            }
            (ns, if sel.is_empty() { random } else { sel })
        }
        _ => (DEFAULT_NAMESPACE.to_string(), random),
    };
    let mut out_ports: Vec<GenServicePort> = Vec::new();
    for p in &pick.ports {
        let (target, protocol) = match &p.target {
            TargetPick::Number(n) => (GenTarget::Number(*n), p.protocol),
            TargetPick::PodNumber(i) if !ports.is_empty() => {
                let cp = ports[i.index(ports.len())];
                (GenTarget::Number(cp.port), if p.pod_protocol { cp.protocol } else { p.protocol })
            }
            TargetPick::PodName(i) if !named.is_empty() => {
                let cp = named[i.index(named.len())];
                let name = cp.name.clone().expect("named");
                (GenTarget::Name(name), if p.pod_protocol { cp.protocol } else { p.protocol })
            }
            TargetPick::Name(n) => (GenTarget::Name(n.to_string()), p.protocol),
            TargetPick::PodNumber(_) | TargetPick::PodName(_) => (GenTarget::Number(p.port), p.protocol),
        };
        if out_ports.iter().any(|o| (o.port, o.protocol) == (p.port, protocol)) {
            continue;
        }
        out_ports.push(GenServicePort { name: String::new(), port: p.port, protocol, target });
    }
    if out_ports.len() > 1 {
        for (i, p) in out_ports.iter_mut().enumerate() {
            p.name = format!("p{}", i + 1);
        }
    }
    GenService {
        namespace,
        name: pick.name.clone(),
        selector,
        type_: pick.type_,
        local: pick.type_ != GenServiceType::ClusterIp && pick.local,
        internal_local: pick.internal_local,
        client_ip_affinity: pick.affinity,
        ports: out_ports,
    }
}

/// Service names are unique per namespace: a repeated one gets its position appended.
fn dedupe_services(services: &mut [GenService]) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (i, s) in services.iter_mut().enumerate() {
        while seen.contains(&(s.namespace.clone(), s.name.clone())) {
            s.name = format!("{}-{i}", s.name);
        }
        seen.push((s.namespace.clone(), s.name.clone()));
    }
}

/// A pod, sometimes a replica of an earlier one (index into the pods before it).
fn gen_pod_or_replica() -> impl Strategy<Value = (GenPod, Option<Index>)> {
    (gen_pod(), prop::option::weighted(0.3, any::<Index>()))
}

/// Replicas (as a Deployment's) take the namespace, labels and containers of an
/// earlier pod, so services often select several pods (spread, affinity, readiness of
/// some of them); their own name, node, pinning and readiness stay.
fn make_replicas(nodes: Vec<Vec<(GenPod, Option<Index>)>>) -> Vec<Vec<GenPod>> {
    let mut earlier: Vec<GenPod> = Vec::new();
    let mut out = Vec::new();
    for node in nodes {
        let mut pods = Vec::new();
        for (mut pod, replica_of) in node {
            if let Some(i) = replica_of.filter(|_| !earlier.is_empty()) {
                let of = &earlier[i.index(earlier.len())];
                pod.namespace = of.namespace.clone();
                pod.labels = of.labels.clone();
                pod.containers = of.containers.clone();
            }
            earlier.push(pod.clone());
            pods.push(pod);
        }
        out.push(pods);
    }
    out
}

pub fn gen_cluster() -> impl Strategy<Value = GenCluster> {
    let nodes = proptest::collection::vec(
        proptest::collection::vec(gen_pod_or_replica(), 0..=MAX_PODS_PER_NODE),
        1..=MAX_NODES,
    );
    let services = proptest::collection::vec(service_pick(), 0..=MAX_SERVICES);
    let backends = (select(NetworkBackend::ALL.to_vec()), select(LbMode::ALL.to_vec()));
    (any::<u64>(), backends, nodes, services).prop_map(|(seed, (backend, lb_mode), nodes, picks)| {
        let mut nodes = make_replicas(nodes);
        dedupe_names(&mut nodes);
        let mut services: Vec<GenService> = picks.iter().map(|p| resolve_service(&nodes, p)).collect();
        dedupe_services(&mut services);
        GenCluster { seed, backend, lb_mode, nodes, services }
    })
}
