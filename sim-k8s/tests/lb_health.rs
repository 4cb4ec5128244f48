//! The load balancer's health checks notice a node that stops answering purely from
//! failed connections: its link goes down (the dataplane only; no Kubernetes object
//! changes), the checks time out, and after `unhealthyThreshold` of them the node leaves
//! the load balancer's rules; when the link comes back, one success brings it back.

use std::path::Path;

use sim_core::{Limits, SimDuration, SimTime, Simulation};
use sim_k8s::world::KubeWorld;
use sim_net::ops::NetOp;

const SCENARIO: &str = "
seed: 2
cluster:
  loadBalancer: {healthCheck: {interval: 2s, timeout: 500ms, unhealthyThreshold: 2}}
manifests:
  - apiVersion: v1
    kind: Pod
    metadata: {name: web, labels: {app: web}}
    spec: {nodeName: node-1, containers: [{name: http, image: x, ports: [{containerPort: 8080}]}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080, nodePort: 30080}]}
";

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

fn link(node: &str, up: bool) -> NetOp {
    NetOp::SetLinkUp { netns: node.into(), dev: "eth0".into(), up }
}

fn lb_lines(w: &KubeWorld) -> Vec<String> {
    w.timeline.iter().filter(|e| e.component == "lb").map(|e| format!("{} {}", e.time, e.text)).collect()
}

fn lb_rules(w: &KubeWorld) -> String {
    w.net.netns("lb").expect("the load balancer exists").nf.tables.save()
}

#[test]
fn a_node_whose_link_is_down_fails_its_checks_and_leaves_the_rules() {
    let s = sim_k8s::scenario::load_str("lb.yaml", SCENARIO, Path::new(".")).expect("loads");
    let input = sim_k8s::plan::plan(&s, false);
    let (mut world, mut q) = KubeWorld::new(input.cluster.clone(), input.seed, false);
    for pod in input.pods {
        world.create_pod(pod, SimTime::ZERO, &mut q);
    }
    for obj in input.objects {
        world.create(obj, SimTime::ZERO, &mut q);
    }
    let mut sim = Simulation::new(world);
    sim.queue = q;
    let limits = |t| Limits { until: secs(t), max_events: 1_000_000 };
    sim.run(limits(4));
    assert!(lb_rules(&sim.world).contains("--to-destination 192.168.1.12:30080"), "{}", lb_rules(&sim.world));

    // node-2 goes dark at 4s: checks at 5s and 7s time out (500ms each), the second one
    // makes it unhealthy at 7.5s.
    sim.world.net.apply(&link("node-2", false), secs(4)).unwrap();
    sim.run(limits(10));
    let lines = lb_lines(&sim.world);
    let down = lines.iter().find(|l| l.contains("node-2 unhealthy")).unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(down.starts_with("7.5") && down.contains("(timeout)"), "{lines:#?}");
    let rules = lb_rules(&sim.world);
    assert!(!rules.contains("192.168.1.12"), "{rules}");
    assert!(rules.contains("-j DNAT --to-destination 192.168.1.11:30080"), "{rules}");

    // Back at 10s: the next check (11s) succeeds, healthy threshold 1.
    sim.world.net.apply(&link("node-2", true), secs(10)).unwrap();
    sim.run(limits(12));
    let lines = lb_lines(&sim.world);
    assert!(lines.iter().any(|l| l.starts_with("11.") && l.contains("node-2 healthy")), "{lines:#?}");
    assert!(lb_rules(&sim.world).contains("192.168.1.12:30080"));
}
