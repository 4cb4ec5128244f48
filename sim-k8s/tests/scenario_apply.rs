//! `apply:` steps: objects read inline or from a file, admitted in time order against
//! what earlier steps left, with errors at the applied object's file:line:col.

use std::path::Path;

use sim_k8s::model::Applied;
use sim_k8s::model::service::{ClusterIp, ServiceType};
use sim_k8s::scenario::{self, Scenario, StepAction};
use sim_k8s::world::WorldAction;

const BASE: &str = "manifests:\n\
- {apiVersion: v1, kind: Pod, metadata: {name: a, labels: {app: web}}, spec: {nodeName: node-1, containers: [{name: web, image: x, ports: [{containerPort: 8080}]}]}}\n\
- {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}}\n\
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {replicas: 3, selector: {matchLabels: {app: d}}, template: {metadata: {labels: {app: d}}, spec: {containers: [{name: c, image: x}]}}}}\n";

fn load(steps: &str) -> Scenario {
    scenario::load_str("s.yaml", &format!("{BASE}steps:\n{steps}"), Path::new(".")).unwrap()
}

fn error(steps: &str) -> String {
    match scenario::load_str("s.yaml", &format!("{BASE}steps:\n{steps}"), Path::new(".")) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn applied(s: &Scenario, step: usize) -> &[Applied] {
    match &s.steps[step].action {
        StepAction::Act(WorldAction::Apply(objects)) => objects,
        other => panic!("not an apply step: {other:?}"),
    }
}

fn service(a: &Applied) -> &sim_k8s::model::service::Service {
    match a {
        Applied::Service(s) => s,
        other => panic!("not a service: {other:?}"),
    }
}

#[test]
fn a_service_update_keeps_the_cluster_ip_and_the_node_port() {
    let s = load(
        "- at: 1s\n  apply:\n    manifest: {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: NodePort, selector: {app: web, v: two}, ports: [{port: 80, targetPort: 8080}]}}\n",
    );
    let initial = s.workloads.services.iter().find(|x| x.name == "web").unwrap();
    let updated = service(&applied(&s, 0)[0]);
    assert_eq!(updated.cluster_ip, initial.cluster_ip);
    assert!(matches!(updated.cluster_ip, ClusterIp::Ip(_)));
    assert_eq!(updated.ports[0].node_port, initial.ports[0].node_port);
    assert_eq!(updated.selector.as_ref().unwrap().get("v").map(String::as_str), Some("two"));
}

#[test]
fn a_type_change_to_cluster_ip_drops_the_node_port_and_back_allocates_one() {
    let s = load(
        "- at: 2s\n  apply: {manifest: {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web}, ports: [{port: 80}]}}}\n\
         - at: 3s\n  apply: {manifest: {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}}}\n",
    );
    let down = service(&applied(&s, 0)[0]);
    assert_eq!(down.type_, ServiceType::ClusterIp);
    assert_eq!(down.ports[0].node_port, None);
    let up = service(&applied(&s, 1)[0]);
    assert!(up.ports[0].node_port.is_some_and(|p| (30000..=32767).contains(&p)));
}

#[test]
fn steps_are_admitted_in_time_order_not_file_order() {
    // The 1 s step creates svc/other with nodePort 30100; the 2 s step (written first,
    // line 7)
    // asks for the same port and is refused, at its own position.
    let e = error(
        "- at: 2s\n  apply: {manifest: {apiVersion: v1, kind: Service, metadata: {name: late}, spec: {type: NodePort, ports: [{port: 80, nodePort: 30100}]}}}\n\
         - at: 1s\n  apply: {manifest: {apiVersion: v1, kind: Service, metadata: {name: other}, spec: {type: NodePort, ports: [{port: 80, nodePort: 30100}]}}}\n",
    );
    assert_eq!(
        e,
        "s.yaml:7:129: spec.ports[0].nodePort: Invalid value: 30100: provided port is already allocated"
    );
}

#[test]
fn the_cluster_ip_is_immutable() {
    let e = error(
        "- at: 1s\n  apply: {manifest: {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {clusterIP: 10.96.0.99, selector: {app: web}, ports: [{port: 80}]}}}\n",
    );
    assert_eq!(e, "s.yaml:7:94: spec.clusterIP: Invalid value: \"10.96.0.99\": field is immutable");
}

#[test]
fn a_deployment_update_keeps_replicas_and_refuses_a_new_selector() {
    let s = load(
        "- at: 1s\n  apply: {manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {selector: {matchLabels: {app: d}}, template: {metadata: {labels: {app: d, v: two}}, spec: {containers: [{name: c, image: x}]}}}}}\n",
    );
    let Applied::Deployment(d) = &applied(&s, 0)[0] else { panic!() };
    assert_eq!(d.0.replicas, 3, "replicas not in the manifest: the live value stays");
    assert_ne!(d.replica_set_name(), s.workloads.deployments[0].replica_set_name());
    let e = error(
        "- at: 1s\n  apply: {manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {selector: {matchLabels: {app: e}}, template: {metadata: {labels: {app: e}}, spec: {containers: [{name: c, image: x}]}}}}}\n",
    );
    assert!(e.starts_with("s.yaml:7:"), "{e}");
    assert!(e.contains("spec.selector: Invalid value: "), "{e}");
    assert!(e.ends_with(": field is immutable"), "{e}");
}

#[test]
fn a_pod_update_may_change_labels_but_not_its_ports() {
    let s = load(
        "- at: 1s\n  apply: {manifest: {apiVersion: v1, kind: Pod, metadata: {name: a, labels: {app: other}}, spec: {nodeName: node-1, containers: [{name: web, image: y, ports: [{containerPort: 8080}]}]}}}\n",
    );
    let Applied::Pod(p) = &applied(&s, 0)[0] else { panic!() };
    assert_eq!(p.labels.get("app").map(String::as_str), Some("other"));
    let e = error(
        "- at: 1s\n  apply: {manifest: {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: node-1, containers: [{name: web, image: x, ports: [{containerPort: 9090}]}]}}}\n",
    );
    assert!(e.starts_with("s.yaml:7:"), "{e}");
    assert!(
        e.contains(
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        ),
        "{e}"
    );
}

#[test]
fn an_applied_pod_can_be_probed_and_a_list_applies_in_order() {
    let s = load(
        "- at: 1s\n  apply:\n    manifest:\n    - {apiVersion: v1, kind: Pod, metadata: {name: new, labels: {app: web}}, spec: {containers: [{name: c, image: x}]}}\n    - {apiVersion: v1, kind: Service, metadata: {name: two}, spec: {selector: {app: web}, ports: [{port: 81}]}}\n\
         - at: 2s\n  probe: {from: pod/new, to: \"svc/two:81\", proto: tcp}\n",
    );
    assert_eq!(applied(&s, 0).len(), 2);
}

#[test]
fn errors_in_an_inline_manifest_point_into_the_step() {
    let e = error(
        "- at: 1s\n  apply:\n    manifest:\n      apiVersion: v1\n      kind: Pod\n      metadata: {name: x}\n      spec: {containerz: []}\n",
    );
    assert_eq!(e, "s.yaml:12:14: unknown field \"steps[0].apply.manifest.spec.containerz\"");
}

#[test]
fn an_unsupported_kind_and_a_bad_shape_are_refused() {
    let e = error("- at: 1s\n  apply: {manifest: {apiVersion: v1, kind: Namespace, metadata: {name: n}}}\n");
    assert!(
        e.contains("kind: kind Namespace cannot be applied by a step (supported: Pod, Service, Deployment)"),
        "{e}"
    );
    let e = error("- at: 1s\n  apply: {manifests: []}\n");
    assert!(e.starts_with("s.yaml:7:10: steps[0].apply: expected {manifest: OBJECT}"), "{e}");
    let e = error("- at: 1s\n  apply: {file: nowhere.yaml}\n");
    assert!(e.contains("cannot read"), "{e}");
    let e = error(
        "- at: 1s\n  apply: {manifest: {apiVersion: v1, kind: Pod, metadata: {name: x}, spec: {containers: [{name: c, image: x}]}}}\n  expect: {result: reached}\n",
    );
    assert!(e.contains("steps[0].expect: only a probe step has expectations"), "{e}");
}

#[test]
fn a_probe_before_the_apply_cannot_name_what_it_creates() {
    let e = error(
        "- at: 2s\n  apply: {manifest: {apiVersion: v1, kind: Service, metadata: {name: two}, spec: {selector: {app: web}, ports: [{port: 81}]}}}\n\
         - at: 1s\n  probe: {from: pod/a, to: \"svc/two:81\", proto: tcp}\n",
    );
    assert!(e.contains("service \"two\" not found"), "{e}");
}

#[test]
fn an_ingress_is_listed_under_manifests_not_applied_by_a_step() {
    // The ingress-nginx add-on and its routes come from the initial manifests; an
    // Ingress on the timeline is refused at load time, at its `kind`, with the way out.
    let e = error(
        "- at: 1s\n  apply:\n    manifest: {apiVersion: networking.k8s.io/v1, kind: Ingress, metadata: {name: i}, spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}}\n",
    );
    assert!(e.starts_with("s.yaml:"), "{e}");
    assert!(
        e.contains(
            "kind Ingress cannot be applied by a step (supported: Pod, Service, Deployment); list it under manifests:"
        ),
        "{e}"
    );
}
