//! Property tests: invariants of the Kubernetes network model on random clusters
//! (style lesson 15, the property layer).
//!
//! Each property generates whole clusters (1–6 nodes, 0–8 pods per node with random
//! names, namespaces, labels and TCP/UDP container ports, some named, pinned with
//! `nodeName` or left to the scheduler, some made not Ready by a `setReady` step before
//! the first probe, 0–6 Services, a network backend, a seed), sends at most [`MAX_PROBES`] probes of
//! its kinds through them, and checks the trace hop by hop, not just the answer. A
//! failure prints the shrunk case as a scenario file to rerun with `kube-netsim run`.
//!
//! The Kubernetes network model (kubernetes.io/docs/concepts/services-networking) says
//! every pod can reach every pod without NAT, node agents can reach pods, and a pod sees
//! itself with the address others use. Properties for features that have not landed
//! yet slot in as new `ProbeKind`s with their own checks:
//! - LoadBalancer services join property 7's generator (`cluster.rs`) and checks
//!   (`services.rs`), as not-Ready pods and session affinity did;
//! - overlay backends (flannel-vxlan): `NetworkBackend::ALL` grows and every property
//!   runs on them; `trace::parse_packet` reads the inner header of VXLAN packets;
//! - flannel's ip-masq masquerades pod → *remote node* traffic, so property 2 allows the
//!   node's address as the source there (`node_traffic_unchanged_except_masquerade`).
//!
//! Case counts: each property runs [`CASES`] cases by default (measured to keep the whole
//! file well under two minutes in debug mode on two cores); `PROPTEST_CASES=N` overrides.

mod common_invariants;

use common_invariants::probes::{Case, ProbeKind, gen_case};
use common_invariants::services::{
    service_affinity_holds, service_answer_comes_from_the_probed_address, service_reaches_an_endpoint,
    service_source_is_expected,
};
use common_invariants::{
    Check, answer_comes_from_the_probed_address, answers_travel_unchanged, check_probes, check_property,
    node_traffic_unchanged_except_masquerade, outcome_is_expected, own_ip_is_the_reported_ip,
    request_arrives_unchanged, same_trace_twice, target_answered,
};
use proptest::strategy::Strategy;

/// Default cases per property.
const CASES: u32 = 256;
/// Probes sent in one generated cluster (sampled pairs, not all of them).
const MAX_PROBES: usize = 12;

fn cases_of(kinds: &[ProbeKind]) -> impl Strategy<Value = Case> + use<> {
    gen_case(kinds, MAX_PROBES)
}

/// Checks run in order and the first failure is reported: hop-level checks come before
/// the outcome so that a failure names the hop that went wrong, not only "timeout".
fn property(name: &str, kinds: &[ProbeKind], checks: &[Check]) {
    check_property(file!(), name, CASES, cases_of(kinds), |case| check_probes(case, checks));
}

/// 1. Every pod reaches every other pod's IP, by ICMP and on every port it declares;
///    the request keeps its addresses on every hop and the receiver sees the sender's
///    pod IP.
#[test]
fn every_pod_reaches_every_other_pod_without_nat() {
    property(
        "every pod reaches every other pod without NAT",
        &[ProbeKind::PodToPodIcmp, ProbeKind::PodToPodPort],
        &[request_arrives_unchanged, outcome_is_expected, target_answered, answers_travel_unchanged],
    );
}

/// 2. Every node reaches every pod and every pod every node (ICMP), without NAT, except
///    flannel's masquerade of pod traffic to a remote node's IP (see the check).
#[test]
fn pods_and_nodes_reach_each_other_without_nat() {
    property(
        "pods and nodes reach each other without NAT",
        &[ProbeKind::NodeToPod, ProbeKind::PodToNode],
        &[node_traffic_unchanged_except_masquerade, outcome_is_expected, target_answered],
    );
}

/// 3. A pod's own IP is the one others use: it is configured in the pod, the pod
///    reaches itself there and sees itself as the source.
#[test]
fn a_pod_reaches_itself_at_the_ip_others_use() {
    property(
        "a pod reaches itself at the IP others use",
        &[ProbeKind::PodToSelfIcmp, ProbeKind::PodToSelfPort],
        &[own_ip_is_the_reported_ip, request_arrives_unchanged, outcome_is_expected, target_answered],
    );
}

/// 4. TCP to a port no container declares is refused (RST); UDP to one is answered
///    with ICMP port unreachable, from the pod that was probed.
#[test]
fn undeclared_ports_are_refused_or_unreachable() {
    property(
        "undeclared ports are refused (tcp) or unreachable (udp)",
        &[ProbeKind::UndeclaredTcp, ProbeKind::UndeclaredUdp],
        &[request_arrives_unchanged, outcome_is_expected, answers_travel_unchanged],
    );
}

/// 5. Whatever the probe, its answer comes back from the address and port the client
///    sent to, to the address and port it sent from.
#[test]
fn every_answer_comes_from_the_address_the_client_sent_to() {
    property(
        "every answer comes from the address the client sent to",
        &ProbeKind::POD_NETWORK,
        &[outcome_is_expected, answer_comes_from_the_probed_address],
    );
}

/// 7. Services (0–6 per cluster: random selectors over the generated labels, some
///    matching nothing; 1–2 TCP/UDP ports with numeric or named targetPorts, some names
///    in no pod; ClusterIP or NodePort with eTP Cluster or Local; sometimes ClientIP
///    affinity), probed from pods and nodes at ClusterIP:port and from the outside
///    client at every node's nodePort:
///    a. the request lands on an endpoint the selector picks (a Running pod with its
///    labels) on that pod's resolved targetPort, and gets its answer; with no
///    endpoints it is refused (TCP) / unreachable (UDP) and reaches no pod;
///    b. through a nodePort under eTP Cluster the same, the endpoint seeing the node's
///    address; under eTP Local a node without a local endpoint drops the request,
///    one with a local endpoint keeps the client's address;
///    c. (5') the answer comes back from the address and port the client sent to;
///    d. under `sessionAffinity: ClientIP`, repeated probes from one client to one
///    service port (through one node, for a nodePort) land on the endpoint the first
///    one landed on (the generator repeats earlier service probes now and then).
///    Not-Ready pods (about a quarter, `setReady: {ready: false}` at 0.5 s, probes from
///    1 s) are no endpoints: a service whose selected pods are all not Ready has none.
#[test]
fn services_reach_their_endpoints_and_answer_from_the_service_address() {
    property(
        "services reach their endpoints and answer from the service address",
        &ProbeKind::SERVICES,
        &[
            service_reaches_an_endpoint,
            service_source_is_expected,
            service_answer_comes_from_the_probed_address,
            service_affinity_holds,
        ],
    );
}

/// 6. The same cluster and seed give the same trace, byte for byte; runs end by
///    themselves within their event budget and never panic.
#[test]
fn same_cluster_and_seed_give_the_same_trace() {
    check_property(
        file!(),
        "same cluster and seed give the same trace",
        CASES,
        cases_of(&ProbeKind::ALL),
        same_trace_twice,
    );
}

/// A counterexample is only useful if it reruns: the printed scenario loads back into
/// the same cluster, pods and steps the property ran.
#[test]
fn counterexamples_print_as_scenarios_that_load_back() {
    check_property(file!(), "counterexamples load back", CASES, cases_of(&ProbeKind::ALL), |case| {
        let yaml = format!("{case:#?}");
        let s = sim_k8s::scenario::load_str("counterexample.yaml", &yaml, std::path::Path::new(""))
            .map_err(|e| format!("the printed scenario does not load: {e}"))?;
        let loaded = sim_k8s::plan::plan(&s, true);
        let direct = case.run_input();
        if loaded.seed != direct.seed || loaded.cluster != direct.cluster || loaded.pods != direct.pods {
            return Err(format!("loaded back differently: {:?}\nvs {:?}", loaded.pods, direct.pods));
        }
        if loaded.actions != direct.actions {
            return Err(format!(
                "setReady steps loaded back differently: {:?}\nvs {:?}",
                loaded.actions, direct.actions
            ));
        }
        if loaded.objects != direct.objects {
            return Err(format!(
                "objects loaded back differently: {:?}\nvs {:?}",
                loaded.objects, direct.objects
            ));
        }
        let plans = |i: &sim_k8s::run::RunInput| -> Vec<_> {
            i.steps.iter().map(|s| (s.probe.clone(), s.expect.clone())).collect()
        };
        if plans(&loaded) != plans(&direct) {
            return Err(format!(
                "steps loaded back differently:\n{:?}\nvs\n{:?}",
                plans(&loaded),
                plans(&direct)
            ));
        }
        Ok(())
    });
}

/// Regression: pod `c` in namespace `a` and pod `a-c` in `default` once both got the
/// network namespace `pod-a-c` (sim-k8s `cluster::pod_netns`), so the second pod's
/// sandbox was the first one's. On Linux each pod has its own netns (`cni-<uuid>`).
#[test]
fn pods_whose_names_could_collide_get_their_own_namespaces() {
    use common_invariants::cluster::{GenCluster, GenContainer, GenPod, GenPort};
    use common_invariants::probes::{End, PlannedProbe};
    use sim_k8s::model::Protocol;
    use sim_k8s::run::ExpectedResult;
    use sim_net::packet::IpProto;

    let pod = |namespace: &str, name: &str| GenPod {
        namespace: namespace.into(),
        name: name.into(),
        labels: Default::default(),
        pinned: true,
        containers: vec![GenContainer { name: "web".into(), ports: vec![GenPort::new(80, Protocol::Tcp)] }],
        not_ready: false,
    };
    let probe = |kind, from, to| PlannedProbe {
        kind,
        from: End::Pod(from),
        to: End::Pod(to),
        proto: IpProto::Icmp,
        port: 0,
        expect: Some(ExpectedResult::Reached),
        service: None,
    };
    let case = Case {
        cluster: GenCluster {
            seed: 0,
            backend: sim_k8s::cluster::NetworkBackend::HostGw,
            nodes: vec![vec![pod("a", "c"), pod("default", "a-c")], vec![]],
            services: vec![],
        },
        probes: vec![
            probe(ProbeKind::PodToPodIcmp, 0, 1),
            probe(ProbeKind::PodToPodIcmp, 1, 0),
            probe(ProbeKind::PodToSelfIcmp, 0, 0),
            probe(ProbeKind::PodToSelfIcmp, 1, 1),
        ],
    };
    let checks: &[Check] =
        &[own_ip_is_the_reported_ip, request_arrives_unchanged, outcome_is_expected, target_answered];
    if let Err(why) = check_probes(&case, checks) {
        panic!("{why}\n---\n{case:#?}");
    }
}
