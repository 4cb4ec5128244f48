//! Built-in programs meeting a client of another protocol, as the real ones do: a plain
//! TCP client writing a line to http-echo gets Go net/http's `400 Bad Request`; an HTTP
//! client whose answer is not HTTP (tcp-echo sends the request back) gives up at once
//! like curl ("Received HTTP/0.9 when not allowed"), instead of waiting for a timeout.

use std::path::Path;

use sim_core::SimDuration;
use sim_k8s::apps::BAD_REQUEST;
use sim_k8s::{plan::plan, run, scenario};
use sim_net::stack::ProbeOutcome;

const SCENARIO: &str = r#"
name: cross-protocol
cluster: {nodes: 2, network: host-gw}
manifests:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a}
    spec: {nodeName: node-1, containers: [{name: sh, image: curl}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: w}
    spec: {nodeName: node-2, containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: t, annotations: {kube-netsim.io/app: tcp-echo}}
    spec: {nodeName: node-2, containers: [{name: echo, image: socat, ports: [{containerPort: 7}]}]}
steps:
  - at: 1s
    probe: {from: pod/a, to: "pod/w:80", proto: tcp}
    expect: {result: reached, at: pod/w}
  - at: 2s
    probe: {from: pod/a, to: "pod/t:7", proto: http}
    expect: {result: reached, at: pod/t}
"#;

#[test]
fn http_echo_says_400_to_tcp_and_curl_refuses_a_non_http_answer() {
    let s = scenario::load_str("x.yaml", SCENARIO, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let report = run::run(plan(&s, true));
    assert!(report.all_met());
    let tcp = &report.steps[0].probe;
    let want = format!("connected, sent 18 bytes, received {} bytes", BAD_REQUEST.len());
    assert_eq!(tcp.detail, want);
    let served =
        report.steps[0].hops.iter().any(|h| h.packet.contains(&format!("length {}", BAD_REQUEST.len())));
    assert!(served, "the 400 crosses the network");

    let http = &report.steps[1].probe;
    assert_eq!(http.outcome, Some(ProbeOutcome::Reached));
    assert!(http.detail.starts_with("curl: (1) Received HTTP/0.9 when not allowed"), "{}", http.detail);
    assert_eq!(http.status, None);
    let took = http.finished.unwrap().saturating_since(http.started);
    assert!(took < SimDuration::from_millis(10), "gave up at once, not at the timeout: {took:?}");
}
