//! Golden cases of kube-proxy's iptables output beyond the worked example: NodePort with
//! `externalTrafficPolicy: Local` (with and without local endpoints), services without
//! endpoints, ClientIP affinity and UDP, a LoadBalancer with source ranges and a health
//! check node port, externalIPs.
//!
//! For each case, `tests/fixtures/kube-proxy/<case>.restore.txt` is the generator's
//! payload, `<case>.setup.txt` kubelet's rules and kube-proxy's jumps for a fresh node,
//! and `<case>.kernel-save.txt` what the real `iptables-nft-save` 1.8.9 printed after
//! `iptables-nft-restore --noflush` of setup then payload in a fresh network namespace
//! (recorded by `tests/fixtures/kube-proxy/record-kernel.sh`; `#` lines removed). The
//! simulated netfilter must print exactly the kernel's text.
//!
//! Regenerate the payload fixtures with
//! `KNS_WRITE_FIXTURES=1 cargo test -p sim-k8s --test kube_proxy_cases`, then re-record
//! the kernel output and review both diffs.

#[path = "kube_proxy_support.rs"]
mod support;

use std::net::Ipv4Addr;

use sim_k8s::controllers::kube_proxy::{self, ProxierConfig, jumps};
use sim_net::netfilter::Netfilter;
use support::{check_fixture, fixture_path, load, node_after_sync, strip_comments};

/// The worked example of the reference (§1.10), written in name order.
const WORKED_EXAMPLE_SORTED: &str = include_str!("fixtures/kube-proxy/worked-example.yaml");

const NODEPORT_LOCAL: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: NodePort
  clusterIP: 10.96.0.50
  externalTrafficPolicy: Local
  selector: {app: local}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: local-b4x9z, labels: {kubernetes.io/service-name: local}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.244.1.8], nodeName: node-1}
- {addresses: [10.244.2.9], nodeName: node-2}
"#;

const NO_ENDPOINTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: ghost}
spec:
  clusterIP: 10.96.0.60
  selector: {app: ghost}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ghost-np}
spec:
  type: NodePort
  clusterIP: 10.96.0.61
  externalIPs: [192.168.56.100]
  selector: {app: ghost}
  ports: [{port: 8080, nodePort: 30082}]
"#;

const AFFINITY: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  clusterIP: 10.96.0.70
  sessionAffinity: ClientIP
  selector: {app: sticky}
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: sticky-7hq2c, labels: {kubernetes.io/service-name: sticky}}
addressType: IPv4
ports: [{name: "", port: 80}]
endpoints:
- {addresses: [10.244.1.2], nodeName: node-1}
- {addresses: [10.244.2.3], nodeName: node-2}
- {addresses: [10.244.1.11], nodeName: node-1}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kube-dns-5xk8d, namespace: kube-system, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
endpoints:
- {addresses: [10.244.2.4], nodeName: node-2}
"#;

const LOAD_BALANCER: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.80
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  loadBalancerSourceRanges: [203.0.113.0/24, 192.168.56.0/24]
  selector: {app: lb}
  ports: [{name: https, port: 443, targetPort: 8443, nodePort: 30443}]
status:
  loadBalancer:
    ingress: [{ip: 192.168.56.200}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-n2mzs, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: https, port: 8443}]
endpoints:
- {addresses: [10.244.1.20], nodeName: node-1}
- {addresses: [10.244.2.21], nodeName: node-2}
- {addresses: [10.244.1.22], nodeName: node-1, conditions: {ready: false, serving: true, terminating: true}}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  clusterIP: 10.96.0.81
  externalIPs: [192.168.56.101]
  selector: {app: ext}
  ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-c8v5t, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{name: "", port: 8080}]
endpoints:
- {addresses: [10.244.2.30], nodeName: node-2}
"#;

/// (fixture name, manifests, node the rules are computed for)
const CASES: [(&str, &str, &str); 7] = [
    ("worked-example", WORKED_EXAMPLE_SORTED, "node-1"),
    ("nodeport-local", NODEPORT_LOCAL, "node-1"),
    ("nodeport-local-no-local-endpoints", NODEPORT_LOCAL, "node-3"),
    ("no-endpoints", NO_ENDPOINTS, "node-1"),
    ("affinity-and-udp", AFFINITY, "node-1"),
    ("loadbalancer-source-ranges", LOAD_BALANCER, "node-1"),
    ("loadbalancer-no-local-endpoints", LOAD_BALANCER, "node-2"),
];

fn config(node: &str) -> ProxierConfig {
    ProxierConfig::new(node, Ipv4Addr::new(192, 168, 56, 11), Some("10.244.0.0/16".parse().unwrap()))
}

fn payload(yaml: &str, node: &str) -> String {
    let (services, slices) = load(yaml);
    kube_proxy::full_sync_payload(&config(node), &services, &slices, &[])
}

fn setup() -> String {
    let mut nf = Netfilter::new();
    let kubelet = jumps::kubelet_payload(&nf);
    nf.restore(&kubelet, true).expect("kubelet rules load");
    kubelet + &jumps::kube_proxy_jumps_payload(&nf)
}

#[test]
fn payloads_equal_their_fixtures() {
    check_fixture("setup.txt", &setup());
    for (name, yaml, node) in CASES {
        check_fixture(&format!("{name}.restore.txt"), &payload(yaml, node));
    }
}

/// The simulated `iptables-save` after setup + payload equals the real kernel's.
#[test]
fn simulated_iptables_save_equals_the_kernel_recording() {
    for (name, yaml, node) in CASES {
        let nf = node_after_sync(&payload(yaml, node));
        let got = strip_comments(&nf.save());
        let path = fixture_path(&format!("{name}.kernel-save.txt"));
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(got, want, "{name}: simulated iptables-save differs from the kernel's");
    }
}

#[test]
fn etp_local_without_local_endpoints_drops_external_traffic() {
    let p = payload(NODEPORT_LOCAL, "node-3");
    assert!(p.contains(
        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/local:http has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j DROP"
    ));
    assert!(!p.contains(":KUBE-SVL-"), "no SVL chain without local endpoints");
}

#[test]
fn services_without_endpoints_are_rejected_in_filter_only() {
    let p = payload(NO_ENDPOINTS, "node-1");
    let nat = &p[p.find("*nat").unwrap()..];
    assert!(!nat.contains("ghost"), "no nat rules for a service without endpoints");
    assert!(p.contains("-A KUBE-SERVICES -m comment --comment \"default/ghost has no endpoints\" -m tcp -p tcp -d 10.96.0.60 --dport 80 -j REJECT"));
}

#[test]
fn endpoints_are_ordered_by_ip_port_string() {
    let p = payload(AFFINITY, "node-1");
    let order: Vec<&str> =
        p.lines().filter(|l| l.contains("-m statistic") || l.ends_with("-j KUBE-SEP-")).collect();
    let first = p.find("default/sticky -> 10.244.1.11:80").unwrap();
    let second = p.find("default/sticky -> 10.244.1.2:80").unwrap();
    assert!(first < second, "{order:?}");
    assert!(p.contains("--probability 0.3333333333"));
    assert!(p.contains("-m recent --name KUBE-SEP-"));
}
