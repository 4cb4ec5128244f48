//! The external load balancer as a user sees it: the EXTERNAL-IP column (`<pending>`
//! until the service controller assigns an address, and for good when it cannot), the
//! controller's events, and health checks steering traffic.

use std::path::PathBuf;
use std::process::Command;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kube-netsim-lb-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn kube_netsim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim")).args(args).output().expect("binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn lb_service(name: &str, extra: &str) -> String {
    format!(
        "  - apiVersion: v1\n    kind: Service\n    metadata: {{name: {name}}}\n    spec: {{type: LoadBalancer, selector: {{app: web}}, ports: [{{port: 80}}]{extra}}}\n"
    )
}

/// A pool of two addresses and three LoadBalancer Services, the third asking for an
/// address the first one already has.
fn exhausted_pool() -> PathBuf {
    let mut text = String::from("cluster: {loadBalancerPool: 198.51.100.0/30}\nmanifests:\n");
    text.push_str(&lb_service("a", ""));
    text.push_str(&lb_service("b", ""));
    text.push_str(&lb_service("c", ", loadBalancerIP: 198.51.100.1"));
    text.push_str(&lb_service("d", ""));
    text.push_str("steps:\n  - at: 2s\n    probe: {from: client/client, to: \"node/node-1:22\", proto: tcp, timeout: 1s}\n");
    write("exhausted", &text)
}

#[test]
fn external_ip_column_shows_the_address_or_pending() {
    let (code, out) = kube_netsim(&["show", exhausted_pool().to_str().unwrap(), "svc"]);
    assert_eq!(code, 0, "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row {name}: {out}"))
            .split_whitespace()
            .nth(4)
            .unwrap()
            .to_string()
    };
    assert_eq!(row("a"), "198.51.100.1");
    assert_eq!(row("b"), "198.51.100.2");
    assert_eq!(row("c"), "<pending>", "requested address taken");
    assert_eq!(row("d"), "<pending>", "pool exhausted");
    assert_eq!(row("kubernetes"), "<none>");
}

#[test]
fn the_service_controller_reports_why_an_address_cannot_be_assigned() {
    let (_, out) = kube_netsim(&["run", exhausted_pool().to_str().unwrap()]);
    assert!(
        out.contains("service/default/c: Warning SyncLoadBalancerFailed: Error syncing load balancer: failed to ensure load balancer: requested IP 198.51.100.1 is already assigned to default/a"),
        "{out}"
    );
    assert!(
        out.contains("service/default/d: Warning SyncLoadBalancerFailed: Error syncing load balancer: failed to ensure load balancer: no available IP in the load balancer pool 198.51.100.0/30"),
        "{out}"
    );
}

#[test]
fn health_check_thresholds_delay_the_state_changes() {
    // eTP Local with the only pod on node-1: node-2's kube-proxy answers 503. With an
    // unhealthy threshold of 2 and healthy threshold of 3 at a 1s interval, node-1
    // becomes healthy on its third check (t = 1s + 2s) and node-2 never does.
    let text = "cluster:\n  loadBalancer: {mode: vip, healthCheck: {interval: 1s, timeout: 500ms, healthyThreshold: 3, unhealthyThreshold: 2}}\nmanifests:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: web, labels: {app: web}}\n    spec: {nodeName: node-1, containers: [{name: http, image: x, ports: [{containerPort: 80}]}]}\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: web}\n    spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: web}, ports: [{port: 80}]}\nsteps:\n  - at: 5s\n    probe: {from: client/client, to: \"lb/web:80\", proto: http}\n    expect: {result: reached, at: pod/web, source: client/client}\n";
    let (code, out) = kube_netsim(&["run", write("thresholds", text).to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let lb: Vec<&str> = out.lines().filter(|l| l.split_whitespace().nth(1) == Some("lb")).collect();
    let healthy: Vec<&&str> = lb.iter().filter(|l| l.contains(" healthy for ")).collect();
    assert_eq!(healthy.len(), 1, "{lb:#?}");
    assert!(healthy[0].contains("node-1 healthy") && healthy[0].trim_start().starts_with("3.0"), "{lb:#?}");
    assert!(lb.iter().any(|l| l.contains("node-2 not healthy yet") && l.contains("HTTP 503")), "{lb:#?}");
    assert!(!lb.iter().any(|l| l.contains("node-2 healthy")), "{lb:#?}");
}

#[test]
fn show_lb_prints_the_load_balancer_namespace() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (code, out) =
        kube_netsim(&["show", &format!("{root}/scenarios/loadbalancer-vip.yaml"), "routes", "--lb"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("blackhole 198.51.100.0/24 \n198.51.100.1 via 192.168.1.12 dev eth0 \n"), "{out}");
    let (code, out) = kube_netsim(&["show", &format!("{root}/scenarios/pod-to-pod.yaml"), "routes", "--lb"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no load balancer"), "{out}");
}

#[test]
fn external_ip_is_pending_until_the_service_controller_assigns_it() {
    let file = format!("{}/scenarios/loadbalancer.yaml", env!("CARGO_MANIFEST_DIR"));
    let column = |at: &str| {
        let (code, out) = kube_netsim(&["show", &file, "svc", "--at", at]);
        assert_eq!(code, 0, "{out}");
        let row = out.lines().find(|l| l.split_whitespace().nth(1) == Some("web")).expect("a row for web");
        row.split_whitespace().nth(4).unwrap().to_string()
    };
    assert_eq!(column("100ms"), "<pending>");
    assert_eq!(column("300ms"), "198.51.100.1", "the service controller acts at 200ms");
}

#[test]
fn health_checks_are_printed_only_on_request() {
    let file = format!("{}/scenarios/lb-local-policy.yaml", env!("CARGO_MANIFEST_DIR"));
    let (_, plain) = kube_netsim(&["run", &file]);
    assert!(!plain.contains("load balancer health checks:"), "{plain}");
    let (code, out) = kube_netsim(&["run", &file, "--health-checks", "--detail", "packets"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("check 1 at 1.000s: lb -> 192.168.1.11:32000 GET /healthz: reached (HTTP 200)"),
        "{out}"
    );
    assert!(
        out.contains("check 2 at 1.000s: lb -> 192.168.1.12:32000 GET /healthz: reached (HTTP 503)"),
        "{out}"
    );
    assert!(out.contains("192.168.1.2.51404 > 192.168.1.11.32000: Flags [S]"), "{out}");
}

#[test]
fn describe_svc_shows_the_ingress_health_check_port_and_source_ranges() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (code, out) =
        kube_netsim(&["show", &format!("{root}/scenarios/lb-local-policy.yaml"), "describe", "svc/web"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\nIPs:                      10."), "{out}");
    assert!(out.contains("\nLoadBalancer Ingress:     198.51.100.1 (VIP)\nPort:"), "{out}");
    assert!(
        out.contains("\nInternal Traffic Policy:  Cluster\nHealthCheck NodePort:     32000\nEvents:"),
        "{out}"
    );
    let (_, out) =
        kube_netsim(&["show", &format!("{root}/scenarios/lb-source-ranges.yaml"), "describe", "svc/web"]);
    assert!(out.contains("\nLoadBalancer Source Ranges:  203.0.113.0/24\n"), "{out}");
}
