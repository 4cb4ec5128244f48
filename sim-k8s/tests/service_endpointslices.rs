//! The EndpointSlice controller's reconcile step.

use std::net::Ipv4Addr;

use sim_core::RngStreams;
use sim_k8s::controllers::endpointslice::{PodEndpoint, desired_slices};
use sim_k8s::manifest::{self, Object};
use sim_k8s::model::service::Service;
use sim_k8s::model::{Pod, Protocol};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, targetPort: 9090}
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8081}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-c, labels: {app: web}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080, protocol: UDP}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, labels: {app: other}}
spec: {containers: [{name: c, image: i}]}
"#;

fn load() -> (Service, Vec<Pod>) {
    let mut svc = None;
    let mut pods = Vec::new();
    for o in manifest::parse_str("t.yaml", OBJECTS).unwrap() {
        match o.object {
            Object::Service(s) => svc = Some(Service::from_k8s(&s).unwrap()),
            Object::Pod(p) => pods.push(Pod::from_k8s(&p).unwrap()),
            _ => {}
        }
    }
    (svc.unwrap(), pods)
}

fn view<'a>(pods: &'a [Pod], i: usize, ip: [u8; 4], ready: bool, terminating: bool) -> PodEndpoint<'a> {
    PodEndpoint { pod: &pods[i], ip: Some(Ipv4Addr::from(ip)), node_name: Some("node-1"), ready, terminating }
}

#[test]
fn named_target_ports_resolve_per_pod_by_name_and_protocol() {
    let (svc, pods) = load();
    let views = [
        view(&pods, 0, [10, 244, 1, 5], true, false),
        view(&pods, 1, [10, 244, 1, 6], true, false),
        view(&pods, 2, [10, 244, 1, 7], true, false),
        view(&pods, 3, [10, 244, 1, 8], true, false),
    ];
    let slices = desired_slices(&svc, &views, &[], &mut RngStreams::new(1).stream("epslice"));
    // web-a and web-b resolve http differently; web-c has only a UDP "http": it is an
    // endpoint for metrics alone. `other` does not match the selector.
    assert_eq!(slices.len(), 3);
    let ports: Vec<Vec<(String, Option<u16>)>> =
        slices.iter().map(|s| s.ports.iter().map(|p| (p.name.clone(), p.port)).collect()).collect();
    assert_eq!(ports[0], [("http".to_string(), Some(8080)), ("metrics".to_string(), Some(9090))]);
    assert_eq!(ports[1], [("http".to_string(), Some(8081)), ("metrics".to_string(), Some(9090))]);
    assert_eq!(ports[2], [("metrics".to_string(), Some(9090))]);
    assert!(slices.iter().all(|s| s.name.starts_with("web-") && s.name.len() == 9));
    assert!(slices.iter().all(|s| s.service_name() == Some("web")));
    assert_eq!(slices[0].ports[0].protocol, Protocol::Tcp);
}

#[test]
fn conditions_follow_readiness_and_termination() {
    let (svc, pods) = load();
    let views = [view(&pods, 0, [10, 244, 1, 5], true, true), view(&pods, 0, [10, 244, 1, 9], false, false)];
    let slices = desired_slices(&svc, &views[..1], &[], &mut RngStreams::new(1).stream("e"));
    let c = slices[0].endpoints[0].conditions;
    assert_eq!((c.ready, c.serving, c.terminating), (Some(false), Some(true), Some(true)));
    let slices = desired_slices(&svc, &views[1..], &[], &mut RngStreams::new(1).stream("e"));
    let c = slices[0].endpoints[0].conditions;
    assert_eq!((c.ready, c.serving, c.terminating), (Some(false), Some(false), Some(false)));
    assert_eq!(slices[0].endpoints[0].node_name.as_deref(), Some("node-1"));
}

#[test]
fn no_matching_pods_gives_one_empty_slice_and_names_are_kept() {
    let (svc, _) = load();
    let mut rng = RngStreams::new(3).stream("e");
    let first = desired_slices(&svc, &[], &[], &mut rng);
    assert_eq!(first.len(), 1);
    assert!(first[0].endpoints.is_empty());
    let again = desired_slices(&svc, &[], &first, &mut rng);
    assert_eq!(again[0].name, first[0].name);
}

#[test]
fn slices_hold_at_most_100_endpoints() {
    let (svc, pods) = load();
    let views: Vec<PodEndpoint<'_>> =
        (0..250u32).map(|i| view(&pods, 0, (0x0af4_0000 + i).to_be_bytes(), true, false)).collect();
    let slices = desired_slices(&svc, &views, &[], &mut RngStreams::new(1).stream("e"));
    let sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
}
