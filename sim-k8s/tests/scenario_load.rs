//! Loading valid scenarios: defaults resolved, manifests read, steps typed and sorted.

use std::net::Ipv4Addr;
use std::path::Path;

use sim_core::{SimDuration, SimTime};
use sim_k8s::model::Protocol;
use sim_k8s::scenario::{self, ExpectedResult, NetworkBackend, ProbeProto, Ref, Scenario, StepAction};

fn load(text: &str) -> Scenario {
    scenario::load_str("s.yaml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn pod_ref(name: &str, port: Option<u16>) -> Ref {
    Ref::Pod { namespace: "default".into(), name: name.into(), port }
}

#[test]
fn the_pod_to_pod_example_loads_with_files_and_inline_manifests() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-to-pod.yaml");
    let s = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "pod-to-pod");
    assert_eq!(s.seed, 1);
    assert!(s.description.contains("cni0"));
    let pods: Vec<_> = s.pods.iter().map(|p| (p.name.as_str(), p.node_name.as_deref())).collect();
    assert_eq!(pods, [("a", Some("node-1")), ("b", Some("node-1")), ("c", Some("node-2"))]);
    let a = &s.pods[0];
    assert_eq!(a.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["web", "sidecar"]);
    assert!(a.source.location().to_string().ends_with("manifests/pods.yaml:3:1"), "{}", a.source.location());
    assert!(
        s.pods[2].source.location().to_string().ends_with("pod-to-pod.yaml:29:5"),
        "{}",
        s.pods[2].source.location()
    );
    assert_eq!(s.steps.len(), 6);
    let StepAction::Probe(p) = &s.steps[3].action else { panic!() };
    assert_eq!(p.container.as_deref(), Some("sidecar"));
    assert_eq!(p.to, Ref::Ip { addr: Ipv4Addr::LOCALHOST, port: Some(80) });
    let StepAction::Probe(p) = &s.steps[0].action else { panic!() };
    assert_eq!(p.container.as_deref(), Some("web"), "a pod probe defaults to the first container");
    assert_eq!(s.steps[4].expect.as_ref().unwrap().result, Some(ExpectedResult::Dropped));
}

#[test]
fn an_empty_cluster_section_gets_every_default() {
    let s = load("name: x\n");
    let c = &s.cluster;
    assert_eq!(
        c.network,
        NetworkBackend::FlannelVxlan,
        "flannel's default backend, as kube-flannel.yml ships it"
    );
    assert_eq!(c.clients.len(), 1, "one default client");
    assert_eq!(c.clients[0].ip, Ipv4Addr::new(203, 0, 113, 10));
    assert_eq!(c.node_network.to_string(), "192.168.1.0/24");
    assert_eq!(c.router_ip, Ipv4Addr::new(192, 168, 1, 1));
    assert_eq!(c.pod_network.to_string(), "10.244.0.0/16");
    assert_eq!(c.service_network.to_string(), "10.96.0.0/12");
    let nodes: Vec<_> =
        c.nodes.iter().map(|n| (n.name.as_str(), n.ip.to_string(), n.pod_cidr.to_string())).collect();
    assert_eq!(
        nodes,
        [
            ("node-1", "192.168.1.11".into(), "10.244.0.0/24".into()),
            ("node-2", "192.168.1.12".into(), "10.244.1.0/24".into())
        ]
    );
    assert_eq!((s.seed, s.description.as_str(), s.steps.len()), (0, "", 0));
}

#[test]
fn listed_nodes_keep_their_ips_and_the_others_get_the_default_ones() {
    let s =
        load("cluster:\n  nodes: [{name: cp, ip: 192.168.1.50}, {name: w1}]\n  podNetwork: 10.10.0.0/22\n");
    let nodes: Vec<_> =
        s.cluster.nodes.iter().map(|n| (n.name.as_str(), n.ip.to_string(), n.pod_cidr.to_string())).collect();
    assert_eq!(
        nodes,
        [
            ("cp", "192.168.1.50".into(), "10.10.0.0/24".into()),
            ("w1", "192.168.1.12".into(), "10.10.1.0/24".into())
        ]
    );
}

#[test]
fn a_name_defaults_to_the_file_stem() {
    let s = scenario::load_str("dir/my-test.yaml", "seed: 7\n", Path::new(".")).unwrap();
    assert_eq!(s.name, "my-test");
}

#[test]
fn steps_are_typed_defaulted_and_sorted_stably_by_time() {
    let s = load(
        "manifests:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: w, image: x}]}}\n\
         steps:\n\
         - {at: 2s, probe: {from: pod/a, to: node/node-2, proto: icmp}}\n\
         - {at: 1.5s, probe: {from: node/node-1, to: \"pod/a:80\", proto: udp, timeout: 150ms}, expect: {result: refused}}\n\
         - {at: 1500ms, probe: {from: pod/a, to: \"10.96.0.1:443\", proto: tcp}}\n",
    );
    let order: Vec<_> = s.steps.iter().map(|st| (st.index, st.at)).collect();
    assert_eq!(
        order,
        [
            (1, SimTime::from_nanos(1_500_000_000)),
            (2, SimTime::from_nanos(1_500_000_000)),
            (0, SimTime::from_nanos(2_000_000_000))
        ]
    );
    let StepAction::Probe(p) = &s.steps[0].action else { panic!() };
    assert_eq!(
        (p.from.clone(), p.container.clone()),
        (Ref::Node { name: "node-1".into(), port: None }, None)
    );
    assert_eq!(
        (p.to.clone(), p.proto, p.timeout),
        (pod_ref("a", Some(80)), ProbeProto::Udp, SimDuration::from_millis(150))
    );
    let StepAction::Probe(p) = &s.steps[2].action else { panic!() };
    assert_eq!(p.timeout, SimDuration::from_secs(3));
    assert_eq!(s.steps[0].location.to_string(), "s.yaml:5:3");
}

#[test]
fn pods_are_defaulted_like_the_apiserver_does() {
    let s = load(
        "cluster: {nodes: 1}\nmanifests:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: h, namespace: web}\n  spec:\n    hostNetwork: true\n    containers: [{name: w, image: x, ports: [{containerPort: 53, protocol: UDP, name: dns}, {containerPort: 8080}]}]\n",
    );
    let p = &s.pods[0];
    assert_eq!((p.namespace.as_str(), p.host_network, p.node_name.as_deref()), ("web", true, None));
    let ports = &p.containers[0].ports;
    assert_eq!(
        (ports[0].protocol, ports[0].name.as_deref(), ports[0].host_port),
        (Protocol::Udp, Some("dns"), Some(53))
    );
    assert_eq!((ports[1].protocol, ports[1].host_port), (Protocol::Tcp, Some(8080)));
    assert_eq!(s.pod(&Ref::Pod { namespace: "web".into(), name: "h".into(), port: None }).unwrap().name, "h");
}

#[test]
fn a_manifest_only_file_runs_on_the_default_cluster() {
    let s =
        load("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: w, image: x}]}\n");
    assert_eq!((s.name.as_str(), s.cluster.nodes.len(), s.pods.len(), s.steps.len()), ("s", 2, 1, 0));
}

#[test]
fn a_multi_document_manifest_file_is_manifest_only() {
    let s = load(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: shop}, spec: {containers: [{name: w, image: x}]}}\n",
    );
    assert_eq!(s.objects.iter().map(|o| o.object.kind()).collect::<Vec<_>>(), ["Namespace", "Pod"]);
    assert_eq!(s.pods[0].key(), "shop/a");
}

#[test]
fn node_manifests_define_the_nodes_when_the_cluster_does_not() {
    let s = load(
        "manifests:\n- {apiVersion: v1, kind: Node, metadata: {name: cp, labels: {zone: a}}, status: {addresses: [{type: InternalIP, address: 192.168.1.20}]}}\n- {apiVersion: v1, kind: Node, metadata: {name: w}}\n",
    );
    let nodes: Vec<_> = s.cluster.nodes.iter().map(|n| (n.name.as_str(), n.ip.to_string())).collect();
    assert_eq!(nodes, [("cp", "192.168.1.20".into()), ("w", "192.168.1.12".into())]);
    assert_eq!(s.cluster.nodes[0].labels.get("zone").map(String::as_str), Some("a"));
}

#[test]
fn expectations_accept_globs_refs_and_labels() {
    let s = load(
        "manifests:\n- {apiVersion: v1, kind: Pod, metadata: {name: c-1}, spec: {containers: [{name: w, image: x}]}}\n\
         steps:\n- {at: 1s, probe: {from: node/node-1, to: pod/c-1, proto: icmp}, expect: {result: reached, at: \"pod/c*\", source: 192.168.1.11, via: [node-1, cni0]}}\n",
    );
    let e = s.steps[0].expect.clone().unwrap();
    assert!(e.receiver.unwrap().matches("pod/c-1"));
    assert_eq!(e.source, Some(Ref::Ip { addr: Ipv4Addr::new(192, 168, 1, 11), port: None }));
    assert_eq!(e.via, ["node-1", "cni0"]);
}
