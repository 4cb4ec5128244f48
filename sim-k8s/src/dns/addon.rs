//! The cluster DNS add-on as kubeadm installs it: the `coredns` Deployment (2
//! replicas, `kube-system`, label `k8s-app: kube-dns`, `dnsPolicy: Default`) and the
//! `kube-dns` Service at the tenth address of the service network with ports
//! `dns` 53/UDP, `dns-tcp` 53/TCP and `metrics` 9153/TCP. The objects are real
//! manifests, read like the scenario's own, so they go through the same admission and
//! controllers and `show pods -A` / `show svc -A` list them.

use std::net::Ipv4Addr;

use super::nth_address;
use crate::apps::APP_ANNOTATION;

/// The source name of the add-on's objects in messages.
pub const SOURCE: &str = "<cluster add-on coredns>";
pub const NAMESPACE: &str = "kube-system";
pub const SERVICE: &str = "kube-dns";
/// The value of `kube-netsim.io/app` that runs the DNS server program.
pub const APP: &str = "coredns";

/// The kube-dns ClusterIP for a service network.
pub fn service_ip(service_network: ipnet::Ipv4Net) -> Ipv4Addr {
    nth_address(service_network, 10)
}

/// The add-on's manifests (YAML, several documents).
pub fn manifests(service_network: ipnet::Ipv4Net) -> String {
    let ip = service_ip(service_network);
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: {NAMESPACE}
  labels: {{k8s-app: kube-dns}}
spec:
  replicas: 2
  selector: {{matchLabels: {{k8s-app: kube-dns}}}}
  template:
    metadata:
      labels: {{k8s-app: kube-dns}}
      annotations: {{{APP_ANNOTATION}: {APP}}}
    spec:
      dnsPolicy: Default
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.11.1
        ports:
        - {{containerPort: 53, name: dns, protocol: UDP}}
        - {{containerPort: 53, name: dns-tcp, protocol: TCP}}
        - {{containerPort: 9153, name: metrics, protocol: TCP}}
---
apiVersion: v1
kind: Service
metadata:
  name: {SERVICE}
  namespace: {NAMESPACE}
  labels: {{k8s-app: kube-dns, kubernetes.io/name: CoreDNS}}
spec:
  selector: {{k8s-app: kube-dns}}
  clusterIP: {ip}
  ports:
  - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
  - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}}
  - {{name: metrics, port: 9153, protocol: TCP, targetPort: 9153}}
"#
    )
}
