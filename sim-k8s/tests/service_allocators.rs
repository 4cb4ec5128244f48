//! The apiserver's ClusterIP and NodePort allocators: messages and band behaviour.

use sim_core::RngStreams;
use sim_k8s::controllers::allocators::{
    AllocError, ClusterIpAllocator, DEFAULT_NODE_PORT_RANGE, NodePortAllocator, PortRange, allocate_service,
};
use sim_k8s::manifest::{self, Object};
use sim_k8s::model::service::{ClusterIp, Service};

fn rng() -> sim_core::SimRng {
    RngStreams::new(7).stream("allocators")
}

fn service(yaml: &str) -> Service {
    let objects = manifest::parse_str("svc.yaml", yaml).expect("parses");
    let Object::Service(s) = &objects[0].object else { panic!("not a service") };
    Service::from_k8s(s).expect("valid")
}

#[test]
fn kubernetes_service_gets_network_plus_one() {
    let mut a = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
    assert_eq!(a.kubernetes_ip().to_string(), "10.96.0.1");
    let err = a.allocate("10.96.0.1".parse().unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "failed to allocate IP 10.96.0.1: provided IP is already allocated");
}

#[test]
fn explicit_cluster_ip_is_honoured_once() {
    let mut a = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
    a.allocate("10.96.0.10".parse().unwrap()).unwrap();
    let err = a.allocate("10.96.0.10".parse().unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "failed to allocate IP 10.96.0.10: provided IP is already allocated");
}

#[test]
fn cluster_ip_outside_the_range_is_refused() {
    let mut a = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
    let err = a.allocate("1.2.3.4".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to allocate IP 1.2.3.4: the provided IP (1.2.3.4) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    );
    let err = a.allocate("10.111.255.255".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("not in the valid range"), "broadcast is never allocated");
}

#[test]
fn dynamic_cluster_ips_come_from_the_upper_band_until_it_is_full() {
    // /28: 14 usable addresses, offset 16 would exceed them; use /24: offset 16 (.1-.16).
    let mut a = ClusterIpAllocator::new("10.96.0.0/24".parse().unwrap());
    let mut r = rng();
    let mut got = Vec::new();
    for _ in 0..(254 - 16) {
        let ip = a.allocate_next(&mut r).unwrap();
        assert!(ip.octets()[3] > 16, "{ip} is in the static band while the upper band has room");
        got.push(ip);
    }
    // Upper band full: the lower band (minus .1, the kubernetes service) is used next.
    let ip = a.allocate_next(&mut r).unwrap();
    assert!(ip.octets()[3] <= 16 && ip.octets()[3] >= 2, "{ip}");
    for _ in 0..14 {
        a.allocate_next(&mut r).unwrap();
    }
    let err = a.allocate_next(&mut r).unwrap_err();
    assert_eq!(err.to_string(), "failed to allocate a serviceIP: range is full");
}

#[test]
fn cluster_ip_allocation_is_reproducible_from_the_seed() {
    let draw = || {
        let mut a = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
        let mut r = rng();
        (0..5).map(|_| a.allocate_next(&mut r).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(draw(), draw());
}

#[test]
fn node_port_static_band_is_30000_to_30085() {
    let a = NodePortAllocator::default();
    assert_eq!(a.dynamic_band_start(), 30086);
    assert_eq!(DEFAULT_NODE_PORT_RANGE.to_string(), "30000-32767");
}

#[test]
fn dynamic_node_ports_avoid_the_static_band() {
    let mut a = NodePortAllocator::default();
    let mut r = rng();
    for _ in 0..500 {
        let p = a.allocate_next(&mut r).unwrap();
        assert!((30086..=32767).contains(&p), "{p}");
    }
}

#[test]
fn node_port_messages_match_the_apiserver() {
    let mut a = NodePortAllocator::default();
    a.allocate(30080).unwrap();
    assert_eq!(a.allocate(30080).unwrap_err().to_string(), "provided port is already allocated");
    assert_eq!(
        a.allocate(80).unwrap_err().to_string(),
        "provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
}

#[test]
fn tiny_node_port_range_fills_up() {
    let mut a = NodePortAllocator::new(PortRange { first: 30000, last: 30003 });
    let mut r = rng();
    for _ in 0..4 {
        a.allocate_next(&mut r).unwrap();
    }
    assert_eq!(a.allocate_next(&mut r).unwrap_err().to_string(), "range is full");
}

const DNS_NODEPORT: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  type: NodePort
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP, nodePort: 30053}
  - {name: metrics, port: 9153}
"#;

#[test]
fn one_port_number_with_two_protocols_shares_its_node_port() {
    let mut svc = service(DNS_NODEPORT);
    let (mut ips, mut ports) =
        (ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap()), NodePortAllocator::default());
    allocate_service(&mut svc, &mut ips, &mut ports, &mut rng()).unwrap();
    assert_eq!(svc.ports[0].node_port, Some(30053), "UDP 53 reuses the nodePort requested for TCP 53");
    assert_eq!(svc.ports[1].node_port, Some(30053));
    assert!(svc.ports[2].node_port.unwrap() >= 30086);
    assert!(matches!(svc.cluster_ip, ClusterIp::Ip(_)));
}

#[test]
fn taken_node_port_is_reported_on_its_field_and_nothing_stays_allocated() {
    let mut ips = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
    let mut ports = NodePortAllocator::default();
    ports.allocate(30053).unwrap();
    let mut svc = service(DNS_NODEPORT);
    let err = allocate_service(&mut svc, &mut ips, &mut ports, &mut rng()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.ports[0].nodePort: Invalid value: 30053: provided port is already allocated"
    );
    assert!(matches!(err, AllocError::Field(_)));
    // The ClusterIP taken for the failed create was released: the whole /12 minus .1 is free.
    let mut again = service(DNS_NODEPORT);
    again.ports[1].node_port = Some(30054);
    allocate_service(&mut again, &mut ips, &mut ports, &mut rng()).unwrap();
}

#[test]
fn explicit_cluster_ip_conflict_uses_the_cluster_ips_field() {
    let mut ips = ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap());
    let mut ports = NodePortAllocator::default();
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 53}]}\n";
    allocate_service(&mut service(yaml), &mut ips, &mut ports, &mut rng()).unwrap();
    let err = allocate_service(&mut service(yaml), &mut ips, &mut ports, &mut rng()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
}

#[test]
fn load_balancer_with_local_policy_gets_a_health_check_node_port() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 443}]}\n";
    let mut svc = service(yaml);
    let (mut ips, mut ports) =
        (ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap()), NodePortAllocator::default());
    allocate_service(&mut svc, &mut ips, &mut ports, &mut rng()).unwrap();
    assert!(svc.health_check_node_port.is_some_and(|p| p >= 30086));
    assert!(svc.ports[0].node_port.is_some());
}

#[test]
fn headless_services_get_no_cluster_ip() {
    let yaml =
        "apiVersion: v1\nkind: Service\nmetadata: {name: h}\nspec: {clusterIP: None, ports: [{port: 80}]}\n";
    let mut svc = service(yaml);
    let (mut ips, mut ports) =
        (ClusterIpAllocator::new("10.96.0.0/12".parse().unwrap()), NodePortAllocator::default());
    allocate_service(&mut svc, &mut ips, &mut ports, &mut rng()).unwrap();
    assert_eq!(svc.cluster_ip, ClusterIp::Headless);
}
