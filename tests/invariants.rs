//! Property tests: invariants of the Kubernetes network model on random clusters
//! (style lesson 15, the property layer), numbered as issue 8 numbers them:
//!
//! 1. pods reach pods without NAT (`property_1_*`);
//! 2. nodes and pods reach each other without NAT, but for flannel's masquerade
//!    (`property_2_*`);
//! 3. a pod's own IP is the one others use (`property_3_*`);
//! 4. services: ClusterIP, NodePort and LoadBalancer, with Cluster/Local traffic
//!    policies and ClientIP affinity, land on a ready selected endpoint's targetPort or
//!    are rejected exactly when there is none (`property_4_*`);
//! 5. every answer comes back from the address and port the client sent to
//!    (`property_5_*`);
//! 6. the same cluster and seed give the same trace, and runs end within their event
//!    budget without panicking (`property_6_*`).
//!
//! Each property generates whole clusters (1–6 nodes on any of the three network
//! backends, 0–8 pods per node with random names, namespaces, labels and TCP/UDP
//! container ports, some named, pinned with `nodeName` or left to the scheduler, some
//! made not Ready by a `setReady` step before the first probe, 0–6 Services of every
//! type, a load-balancer mode, a seed; see `common_invariants/cluster.rs`), sends at
//! most [`MAX_PROBES`] probes of its kinds through them (a probe whose landing is left
//! to chance in property 4 goes [`CHANCE_REPEATS`] (8) times), and
//! checks the trace hop by hop, not just the answer. A failure prints the shrunk case
//! as a scenario file to rerun with `kube-netsim run`.
//!
//! The Kubernetes network model (kubernetes.io/docs/concepts/services-networking) says
//! every pod can reach every pod without NAT, node agents can reach pods, and a pod sees
//! itself with the address others use. New features slot in as new `ProbeKind`s with
//! their own checks, as LoadBalancer services, not-Ready pods and session affinity did.
//!
//! Case counts: each property runs [`CASES`] cases by default (measured to keep the whole
//! file well under two minutes in debug mode on two cores); `PROPTEST_CASES=N` overrides.

mod common_invariants;

use common_invariants::probes::{CHANCE_REPEATS, Case, ProbeKind, gen_case};
use common_invariants::services::{
    service_affinity_holds, service_answer_comes_from_the_probed_address, service_reaches_an_endpoint,
    service_source_is_expected,
};
use common_invariants::{
    Check, Probe, answer_comes_from_the_probed_address, answers_travel_unchanged, check_probes,
    check_property, node_traffic_unchanged_except_masquerade, outcome_is_expected, own_ip_is_the_reported_ip,
    request_arrives_unchanged, same_trace_twice, target_answered,
};
use proptest::strategy::Strategy;

/// Default cases per property.
const CASES: u32 = 256;
/// Probe picks in one generated cluster (sampled pairs, not all of them).
const MAX_PROBES: usize = 12;

/// Cases whose probes each go once: the properties that do not depend on which endpoint
/// a random choice picks.
fn cases_of(kinds: &[ProbeKind]) -> impl Strategy<Value = Case> + use<> {
    gen_case(kinds, MAX_PROBES, 1)
}

/// Checks run in order and the first failure is reported: hop-level checks come before
/// the outcome so that a failure names the hop that went wrong, not only "timeout".
fn property_of(name: &str, cases: impl Strategy<Value = Case>, checks: &[Check]) {
    check_property(file!(), name, CASES, cases, |case| check_probes(case, checks));
}

fn property(name: &str, kinds: &[ProbeKind], checks: &[Check]) {
    property_of(name, cases_of(kinds), checks);
}

/// Property 1. Every pod reaches every other pod's IP, by ICMP and on every port it
/// declares; the request keeps its addresses on every hop (no NAT, TTL down by one per
/// router) and the receiver sees the sender's pod IP.
#[test]
fn property_1_every_pod_reaches_every_other_pod_without_nat() {
    property(
        "1. every pod reaches every other pod without NAT",
        &[ProbeKind::PodToPodIcmp, ProbeKind::PodToPodPort],
        &[request_arrives_unchanged, outcome_is_expected, target_answered, answers_travel_unchanged],
    );
}

/// Property 1, closed ports: TCP to a port no container declares is refused (RST);
/// UDP to one is answered with ICMP port unreachable, by the pod that was probed, and
/// neither request nor answer is NATed on the way.
#[test]
fn property_1_undeclared_ports_are_refused_or_unreachable_without_nat() {
    property(
        "1. undeclared ports are refused (tcp) or unreachable (udp), without NAT",
        &[ProbeKind::UndeclaredTcp, ProbeKind::UndeclaredUdp],
        &[request_arrives_unchanged, outcome_is_expected, answers_travel_unchanged],
    );
}

/// Property 2. Every node reaches every pod and every pod every node (ICMP), without
/// NAT, except flannel's masquerade of pod traffic to another node's IP (see the check:
/// only on the flannel backends, as real flannel's rules do).
#[test]
fn property_2_pods_and_nodes_reach_each_other_without_nat() {
    property(
        "2. pods and nodes reach each other without NAT",
        &[ProbeKind::NodeToPod, ProbeKind::PodToNode],
        &[node_traffic_unchanged_except_masquerade, outcome_is_expected, target_answered],
    );
}

/// Property 3. A pod's own IP is the one others use: it is configured in the pod, the
/// pod reaches itself there and sees itself as the source.
#[test]
fn property_3_a_pod_reaches_itself_at_the_ip_others_use() {
    property(
        "3. a pod reaches itself at the IP others use",
        &[ProbeKind::PodToSelfIcmp, ProbeKind::PodToSelfPort],
        &[own_ip_is_the_reported_ip, request_arrives_unchanged, outcome_is_expected, target_answered],
    );
}

/// Property 4. Services (0–6 per cluster: random selectors over the generated labels,
/// some matching nothing; 1–2 TCP/UDP ports with numeric or named targetPorts, some
/// names in no pod; type ClusterIP, NodePort or LoadBalancer; externalTrafficPolicy
/// Cluster or Local; internalTrafficPolicy Cluster or Local; sometimes ClientIP
/// affinity; the load balancer in `nodeport` or `vip` mode), probed from pods and nodes
/// at ClusterIP:port, from the outside client at every node's nodePort and at the
/// load balancer's external IP (`lb/NAME:PORT`):
///    a. the request lands on an endpoint the selector picks (a Running, Ready pod with
///    its labels) on that pod's resolved targetPort, and gets its answer; with no
///    endpoints it is refused (TCP) / unreachable (UDP) and reaches no pod;
///    b. a Local policy narrows the endpoints to the node the request is on (iTP: the
///    client's node, for ClusterIP traffic; eTP: the probed node, or the one the load
///    balancer chose): a node without one drops the request; from outside the client's
///    source is kept (behind the `nodeport`-mode proxy: the load balancer's), under
///    Cluster the endpoint sees the entry node's address; the load balancer sends eTP
///    Local traffic only to nodes with a local endpoint (its health checks);
///    c. under `sessionAffinity: ClientIP`, repeated probes from one client to one
///    service port (through one node, from outside) land on the endpoint the first one
///    landed on.
///    Probes left to chance (several selected pods, affinity, a Local policy) go
///    [`CHANCE_REPEATS`] (8) times. Not-Ready pods
///    (about a quarter, `setReady: {ready: false}` at 0.5 s) are no endpoints.
#[test]
fn property_4_services_reach_a_ready_selected_endpoint_on_its_target_port() {
    property_of(
        "4. services reach a ready selected endpoint on its targetPort",
        gen_case(&ProbeKind::SERVICES, MAX_PROBES, CHANCE_REPEATS),
        &[service_reaches_an_endpoint, service_source_is_expected, service_affinity_holds],
    );
}

/// Property 5: the pod network's probes and the services' (whose answer conntrack
/// un-NATs) alike.
fn answer_comes_back_from_where_it_was_sent(p: &Probe<'_>) -> Result<(), String> {
    if p.plan.service.is_some() {
        service_answer_comes_from_the_probed_address(p)
    } else {
        outcome_is_expected(p).and_then(|()| answer_comes_from_the_probed_address(p))
    }
}

/// Property 5. Whatever the probe (pods, nodes, ClusterIP, nodePort, load balancer), its
/// answer comes back from the address and port the client sent to, to the address and
/// port it sent from.
#[test]
fn property_5_every_answer_comes_from_the_address_the_client_sent_to() {
    property(
        "5. every answer comes from the address the client sent to",
        &ProbeKind::ALL,
        &[answer_comes_back_from_where_it_was_sent],
    );
}

/// Property 6. The same cluster and seed give the same trace, byte for byte; runs end by
/// themselves within their event budget and never panic.
#[test]
fn property_6_same_cluster_and_seed_give_the_same_trace() {
    check_property(
        file!(),
        "6. same cluster and seed give the same trace",
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
            lb_mode: sim_k8s::scenario::LbMode::NodePort,
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
