//! Service and EndpointSlice models: the apiserver's defaults and validation messages.

use sim_k8s::manifest::{self, Object};
use sim_k8s::model::Protocol;
use sim_k8s::model::endpointslice::EndpointSlice;
use sim_k8s::model::service::{
    ClusterIp, DEFAULT_AFFINITY_TIMEOUT_SECONDS, Service, ServiceType, SessionAffinity, TargetPort,
    TrafficPolicy,
};

fn parse(yaml: &str) -> Result<Service, Vec<String>> {
    let objects = manifest::parse_str("svc.yaml", yaml).expect("parses");
    let Object::Service(s) = &objects[0].object else { panic!("not a service") };
    Service::from_k8s(s).map_err(|errs| errs.iter().map(|e| e.to_string()).collect())
}

fn svc(spec: &str) -> Result<Service, Vec<String>> {
    parse(&format!("apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {spec}\n"))
}

#[test]
fn defaults_follow_the_apiserver() {
    let s = svc("{selector: {app: web}, ports: [{port: 80}]}").unwrap();
    assert_eq!(s.type_, ServiceType::ClusterIp);
    assert_eq!(s.cluster_ip, ClusterIp::Unset);
    assert_eq!(s.ports[0].protocol, Protocol::Tcp);
    assert_eq!(s.ports[0].target_port, TargetPort::Number(80));
    assert_eq!(s.session_affinity, SessionAffinity::None);
    assert_eq!(s.external_traffic_policy, None);
    assert_eq!(s.internal_traffic_policy, TrafficPolicy::Cluster);
    let np = svc("{type: NodePort, ports: [{port: 80, targetPort: http}]}").unwrap();
    assert_eq!(np.external_traffic_policy, Some(TrafficPolicy::Cluster));
    assert_eq!(np.ports[0].target_port, TargetPort::Name("http".into()));
    let lb = svc("{type: LoadBalancer, ports: [{port: 80}]}").unwrap();
    assert!(lb.allocate_load_balancer_node_ports);
    let sticky = svc("{sessionAffinity: ClientIP, ports: [{port: 80}]}").unwrap();
    assert_eq!(
        sticky.session_affinity,
        SessionAffinity::ClientIp { timeout_seconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS }
    );
    assert_eq!(svc("{clusterIP: None, ports: [{port: 80}]}").unwrap().cluster_ip, ClusterIp::Headless);
}

#[test]
fn node_port_on_a_cluster_ip_service_is_forbidden() {
    let errs = svc("{ports: [{port: 80, nodePort: 30080}]}").unwrap_err();
    assert_eq!(errs, ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]);
}

#[test]
fn ports_need_names_when_there_are_several() {
    let errs = svc("{ports: [{port: 80}, {port: 443}]}").unwrap_err();
    assert_eq!(errs, ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]);
}

#[test]
fn duplicate_port_and_protocol_is_reported_with_the_go_value() {
    let errs = svc("{ports: [{name: a, port: 80}, {name: b, port: 80}]}").unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"
        ]
    );
    assert!(svc("{ports: [{name: a, port: 53, protocol: UDP}, {name: b, port: 53}]}").is_ok());
}

#[test]
fn duplicate_node_ports_and_names_are_reported() {
    let errs = svc("{type: NodePort, ports: [{name: a, port: 80, nodePort: 30080}, {name: a, port: 81, nodePort: 30080}]}")
        .unwrap_err();
    assert_eq!(
        errs,
        ["spec.ports[1].name: Duplicate value: \"a\"", "spec.ports[1].nodePort: Duplicate value: 30080"]
    );
}

#[test]
fn port_ranges_and_protocols_are_checked() {
    let errs = svc("{ports: [{port: 0, targetPort: 70000, protocol: ICMP}]}").unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ]
    );
    let errs =
        svc("{ports: [{port: 80}]}").map(|_| ()).and(svc("{selector: {a: b}}").map(|_| ())).unwrap_err();
    assert_eq!(errs, ["spec.ports: Required value"]);
}

#[test]
fn traffic_policies_are_checked_like_the_apiserver() {
    let errs = svc("{externalTrafficPolicy: Local, ports: [{port: 80}]}").unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"
        ]
    );
    let errs = svc("{type: NodePort, healthCheckNodePort: 30001, ports: [{port: 80}]}").unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.healthCheckNodePort: Invalid value: 30001: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
        ]
    );
    let errs = svc("{loadBalancerSourceRanges: [10.0.0.0/8], ports: [{port: 80}]}").unwrap_err();
    assert_eq!(
        errs,
        ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"]
    );
    let errs = svc("{type: NodePort, clusterIP: None, ports: [{port: 80}]}").unwrap_err();
    assert_eq!(
        errs,
        ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]
    );
    let ext =
        svc("{externalIPs: [192.168.56.100], externalTrafficPolicy: Local, ports: [{port: 80}]}").unwrap();
    assert_eq!(ext.external_traffic_policy, Some(TrafficPolicy::Local));
}

#[test]
fn affinity_timeout_and_addresses_are_checked() {
    let errs = svc("{sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}, ports: [{port: 80}]}")
        .unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400"
        ]
    );
    let errs = svc("{clusterIP: 10.96.0.300, externalIPs: [127.0.0.1], ports: [{port: 80}]}").unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "spec.externalIPs[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ]
    );
}

#[test]
fn endpoint_slices_default_conditions_and_check_addresses() {
    let yaml = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
- {addresses: [10.244.1.5]}
- {addresses: [nope]}
"#;
    let objects = manifest::parse_str("s.yaml", yaml).unwrap();
    let Object::EndpointSlice(s) = &objects[0].object else { panic!() };
    let errs: Vec<String> = EndpointSlice::from_k8s(s).unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(errs, ["endpoints[1].addresses[0]: Invalid value: \"nope\": must be a valid IPv4 address"]);
    let ok = yaml.replace("- {addresses: [nope]}\n", "");
    let objects = manifest::parse_str("s.yaml", &ok).unwrap();
    let Object::EndpointSlice(s) = &objects[0].object else { panic!() };
    let slice = EndpointSlice::from_k8s(s).unwrap();
    assert_eq!(slice.service_name(), Some("web"));
    assert_eq!(slice.ports[0].name, "");
    assert!(slice.endpoints[0].conditions.is_ready() && !slice.endpoints[0].conditions.is_terminating());
}

fn deployment(yaml_spec: &str) -> Result<sim_k8s::model::deployment::Deployment, Vec<String>> {
    let yaml = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec: {yaml_spec}\n");
    let objects = manifest::parse_str("d.yaml", &yaml).expect("parses");
    let Object::Deployment(d) = &objects[0].object else { panic!("not a deployment") };
    sim_k8s::model::deployment::Deployment::from_k8s(d)
        .map_err(|errs| errs.iter().map(|e| e.to_string()).collect())
}

#[test]
fn deployment_selector_must_match_the_template_labels() {
    let errs = deployment(
        "{selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: api}}, spec: {containers: [{name: c, image: i}]}}}",
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\"}: `selector` does not match template `labels`"
        ]
    );
}

#[test]
fn deployment_template_errors_are_reported_under_spec_template() {
    let errs = deployment(
        "{replicas: -1, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: C, image: i}]}}}",
    )
    .unwrap_err();
    assert_eq!(errs[0], "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
    assert!(errs[1].starts_with("spec.template.spec.containers[0].name: Invalid value: \"C\""), "{errs:?}");
    let ok = deployment(
        "{selector: {matchExpressions: [{key: app, operator: In, values: [web]}]}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}",
    )
    .unwrap();
    assert_eq!(ok.0.replicas, 1);
    assert_eq!(ok.0.template.labels.get("app").map(String::as_str), Some("web"));
    assert!(ok.replica_set_name().starts_with("web-"));
}
