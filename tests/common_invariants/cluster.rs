//! Generated clusters: the proptest strategies and the model values they build.
//!
//! A [`GenCluster`] is 1–6 nodes, each with 0–8 pods that are either pinned to it
//! (`spec.nodeName`) or left to the scheduler, on a network backend drawn from
//! `NetworkBackend::ALL` (one value today; flannel-vxlan and friends join the draw when
//! they are added there). Names, namespaces, labels and container ports are random but
//! valid, so every generated pod is one the apiserver would accept.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::string::string_regex;
use sim_k8s::cluster::{ClusterConfig, NetworkBackend, pod_netns};
use sim_k8s::model::{Container, ContainerPort, DEFAULT_NAMESPACE, Pod, Protocol};

pub const MAX_NODES: usize = 6;
pub const MAX_PODS_PER_NODE: usize = 8;

/// A generated cluster. Node *i* is `node-{i+1}` with the scenario format's defaults
/// (IP `.11 + i`, the *i*-th /24 of the pod network), as `cluster: {nodes: N}` gives.
#[derive(Clone, PartialEq, Eq)]
pub struct GenCluster {
    pub seed: u64,
    pub backend: NetworkBackend,
    /// `nodes[i]`: the pods written "for" node i (pinned to it, or left to the scheduler).
    pub nodes: Vec<Vec<GenPod>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenPod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName` is set to the node this pod was generated for.
    pub pinned: bool,
    pub containers: Vec<GenContainer>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenContainer {
    pub name: String,
    pub ports: Vec<(u16, Protocol)>,
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

    /// `cluster: {nodes: N, network: BACKEND}` as a YAML line.
    pub fn cluster_yaml(&self) -> String {
        format!("cluster: {{nodes: {}, network: {}}}\n", self.nodes.len(), self.backend.as_str())
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
                    .map(|&(port, protocol)| ContainerPort {
                        name: None,
                        container_port: port,
                        protocol,
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
            containers,
        }
    }

    /// Every declared port of one protocol, over all containers.
    pub fn declared(&self, protocol: Protocol) -> Vec<u16> {
        let ports = self.containers.iter().flat_map(|c| c.ports.iter());
        ports.filter(|p| p.1 == protocol).map(|p| p.0).collect()
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

/// One or two containers; 1–3 ports in all, no (port, protocol) declared twice.
fn containers() -> impl Strategy<Value = Vec<GenContainer>> {
    let ports = proptest::collection::vec((port(), protocol()), 1..=3);
    (ports, dns_label(6), dns_label(6), any::<bool>()).prop_map(|(ports, n1, n2, two)| {
        let mut seen = Vec::new();
        let ports: Vec<_> = ports
            .into_iter()
            .filter(|p| {
                !seen.contains(p) && {
                    seen.push(*p);
                    true
                }
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

fn gen_pod() -> impl Strategy<Value = GenPod> {
    (namespace(), pod_name(), labels(), any::<bool>(), containers()).prop_map(
        |(namespace, name, labels, pinned, containers)| GenPod {
            namespace,
            name,
            labels,
            pinned,
            containers,
        },
    )
}

/// While true, generated pods never share a network namespace *name*: a known simulator
/// bug (sim-k8s `cluster::pod_netns` names the netns `pod-NS-NAME`, so pod `c` in
/// namespace `a` and pod `a-c` in `default` get the same one; see
/// `known_bug_pods_whose_netns_names_collide_are_still_isolated` in invariants.rs).
/// Set it to false once netns names are unique.
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

pub fn gen_cluster() -> impl Strategy<Value = GenCluster> {
    let nodes =
        proptest::collection::vec(proptest::collection::vec(gen_pod(), 0..=MAX_PODS_PER_NODE), 1..=MAX_NODES);
    (any::<u64>(), select(NetworkBackend::ALL.to_vec()), nodes).prop_map(|(seed, backend, mut nodes)| {
        dedupe_names(&mut nodes);
        GenCluster { seed, backend, nodes }
    })
}
