//! The scheduler's NodePorts filter: hostNetwork pods (whose container ports are host
//! ports) spread one per node and port; with no free node the pod stays Pending and the
//! FailedScheduling message is kube-scheduler's.

use sim_core::SimTime;
use sim_k8s::controllers::Action;
use sim_k8s::controllers::Controller;
use sim_k8s::controllers::scheduler::{Scheduler, failed_scheduling_ports, host_ports, node_ports_fit};
use sim_k8s::model::{Container, ContainerPort, Node, Pod, Protocol};
use sim_k8s::store::{NodeStatus, Object, PodStatus, Store, WatchEvent};

fn pod(name: &str, node: Option<&str>, host_network: bool, port: u16, proto: Protocol) -> Pod {
    Pod {
        namespace: "default".into(),
        name: name.into(),
        labels: Default::default(),
        annotations: Default::default(),
        node_name: node.map(String::from),
        host_network,
        dns_policy: Default::default(),
        enable_service_links: true,
        containers: vec![Container {
            name: "c".into(),
            image: "x".into(),
            ports: vec![ContainerPort {
                name: None,
                container_port: port,
                protocol: proto,
                host_port: host_network.then_some(port),
            }],
        }],
    }
}

fn store_with_nodes(n: usize) -> Store {
    let mut s = Store::default();
    for i in 1..=n {
        let ip = std::net::Ipv4Addr::new(192, 168, 1, 10 + i as u8);
        let node = Node { name: format!("node-{i}"), ip: Some(ip), labels: Default::default() };
        let st = NodeStatus::registered(ip, "10.244.0.0/24".parse().unwrap());
        s.put(Object::Node(node, st), SimTime::ZERO);
    }
    s
}

/// Submits `p` and runs the scheduler on its Added event.
fn submit(s: &mut Store, p: Pod) -> Vec<Action> {
    let idx = s.put(Object::Pod(p, PodStatus::pending()), SimTime::ZERO);
    let ev: WatchEvent = s.log[idx].clone();
    Scheduler.handle_watch(SimTime::ZERO, s, &ev)
}

fn bound_to(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Write(Object::Pod(p, _)) => p.node_name.clone(),
        _ => None,
    })
}

#[test]
fn host_network_pods_spread_then_clash() {
    let mut s = store_with_nodes(2);
    let a = submit(&mut s, pod("a", None, true, 8080, Protocol::Tcp));
    let node_a = bound_to(&a).expect("a is bound");
    for act in a {
        if let Action::Write(o) = act {
            s.put(o, SimTime::ZERO);
        }
    }
    let b = submit(&mut s, pod("b", None, true, 8080, Protocol::Tcp));
    let node_b = bound_to(&b).expect("b is bound");
    assert_ne!(node_a, node_b, "the NodePorts filter keeps b off a's node");
    for act in b {
        if let Action::Write(o) = act {
            s.put(o, SimTime::ZERO);
        }
    }
    let c = submit(&mut s, pod("c", None, true, 8080, Protocol::Tcp));
    assert_eq!(bound_to(&c), None);
    let msg = c
        .iter()
        .find_map(|a| match a {
            Action::Log(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert!(msg.ends_with(&failed_scheduling_ports(2)), "{msg}");
    assert_eq!(
        failed_scheduling_ports(2),
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. \
         preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.."
    );
}

#[test]
fn other_protocol_or_port_does_not_clash() {
    let mut s = store_with_nodes(1);
    s.put(
        Object::Pod(pod("dns", Some("node-1"), true, 53, Protocol::Udp), PodStatus::pending()),
        SimTime::ZERO,
    );
    assert!(node_ports_fit(&s, &[], &pod("tcp53", None, true, 53, Protocol::Tcp), "node-1"));
    assert!(node_ports_fit(&s, &[], &pod("other", None, true, 54, Protocol::Udp), "node-1"));
    assert!(!node_ports_fit(&s, &[], &pod("udp53", None, true, 53, Protocol::Udp), "node-1"));
    // A pod-network pod declares no host port: it never clashes.
    let plain = pod("plain", None, false, 53, Protocol::Udp);
    assert!(host_ports(&plain).is_empty());
    assert!(node_ports_fit(&s, &[], &plain, "node-1"));
}

#[test]
fn the_kubelet_rejects_a_pinned_pod_whose_host_port_is_taken() {
    let text = r#"
cluster: {nodes: 1}
manifests:
  - {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: node-1, hostNetwork: true, containers: [{name: c, image: x, ports: [{containerPort: 9100}]}]}}
  - {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {nodeName: node-1, hostNetwork: true, containers: [{name: c, image: x, ports: [{containerPort: 9100}]}]}}
  - {apiVersion: v1, kind: Pod, metadata: {name: c}, spec: {nodeName: node-1, hostNetwork: true, containers: [{name: c, image: x, ports: [{containerPort: 9100, protocol: UDP}]}]}}
"#;
    let s = sim_k8s::scenario::load_str("k.yaml", text, std::path::Path::new("")).unwrap();
    let r = sim_k8s::run::run(sim_k8s::plan::plan(&s, false));
    let st = |n: &str| r.world.store.pod("default", n).map(|(_, s)| s.clone()).unwrap();
    use sim_k8s::store::PodPhase;
    assert_eq!(st("a").phase, PodPhase::Running);
    assert_eq!((st("b").phase, st("b").reason.as_deref()), (PodPhase::Failed, Some("NodePorts")));
    assert_eq!(st("b").pod_ip, None);
    // UDP 9100 is another host port.
    assert_eq!(st("c").phase, PodPhase::Running);
    assert!(r.world.timeline.iter().any(|e| e.text
        == "default/b: Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"));
}
