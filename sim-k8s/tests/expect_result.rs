//! `expect.result` means exactly what docs/scenario-format.md says: `timeout` only when
//! nothing dropped the probe's packets, `dropped` only when a hop did; a TCP probe to a
//! closed port is `refused`, a UDP one `unreachable`.

use std::path::Path;

use sim_k8s::{plan::plan, run, scenario};

const SCENARIO: &str = r#"
name: results
cluster: {nodes: 2, network: host-gw}
manifests:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a}
    spec: {nodeName: node-1, containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: c}
    spec: {nodeName: node-2, containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
steps:
  # The router has no route for it: a hop drops it, nothing comes back.
  - at: 1s
    probe: {from: pod/a, to: 10.244.99.99, proto: icmp}
    expect: {result: RESULT_DROPPED}
  # Nothing is lost: the answer just takes longer than the probe waits.
  - at: 5s
    probe: {from: pod/a, to: pod/c, proto: icmp, timeout: 10us}
    expect: {result: RESULT_SLOW}
  - at: 6s
    probe: {from: pod/a, to: "pod/c:81", proto: tcp}
    expect: {result: refused}
  - at: 7s
    probe: {from: pod/a, to: "pod/c:81", proto: udp}
    expect: {result: unreachable}
"#;

/// The `result` checks' (ok, got) of each step.
fn results(dropped: &str, slow: &str) -> Vec<(bool, String)> {
    let text = SCENARIO.replace("RESULT_DROPPED", dropped).replace("RESULT_SLOW", slow);
    let s = scenario::load_str("results.yaml", &text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let report = run::run(plan(&s, true));
    report
        .steps
        .iter()
        .map(|st| {
            let c = st.checks.iter().find(|c| c.what == "result").expect("a result check");
            (c.ok, c.got.clone())
        })
        .collect()
}

#[test]
fn dropped_and_timeout_are_told_apart_by_the_drop_hop() {
    let r = results("dropped", "timeout");
    assert!(r.iter().all(|(ok, _)| *ok), "{r:?}");
    assert_eq!(r[0].1, "timeout (dropped)");
    let r = results("timeout", "dropped");
    assert!(!r[0].0, "a probe a hop dropped is not a plain timeout: {r:?}");
    assert!(!r[1].0, "a slow answer is not a drop: {r:?}");
}
