//! Client source ports and ISNs: a thousand HTTP GETs from one pod to one server all
//! get through (the port choice walks `ip_local_port_range` per destination like
//! Linux's `__inet_hash_connect`, so no 4-tuple comes back while the server still
//! holds it in TIME_WAIT), the choice repeats exactly with the seed, and another seed
//! changes both the first SYN's source port and its initial sequence number.

use std::path::Path;

use sim_k8s::{plan::plan, run, scenario};
use sim_net::stack::ProbeOutcome;

const MANY: &str = r#"
name: many-gets
seed: SEED
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
  - at: 1s
    probe: {from: pod/a, to: "pod/c:80", proto: http, repeat: REPEAT, interval: 1ms}
    expect: {result: reached, at: pod/c}
"#;

/// Runs `repeat` GETs with `seed`; returns each probe's outcome and its first SYN's
/// (source port, sequence number).
fn run_gets(seed: u64, repeat: u32) -> (Vec<Option<ProbeOutcome>>, Vec<(u16, u32)>) {
    let text = MANY.replace("SEED", &seed.to_string()).replace("REPEAT", &repeat.to_string());
    let s = scenario::load_str("many.yaml", &text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let report = run::run(plan(&s, true));
    assert_eq!(report.steps.len(), repeat as usize);
    let outcomes = report.steps.iter().map(|st| st.probe.outcome).collect();
    let syns = report
        .steps
        .iter()
        .map(|st| {
            let p = &st.hops.iter().find(|h| h.packet.contains("Flags [S],")).expect("a SYN").packet;
            // "10.244.0.2.50218 > 10.244.1.2.80: Flags [S], seq 360773725, win 8192"
            let src = p.split(' ').next().unwrap();
            let port = src.rsplit('.').next().unwrap().parse().unwrap();
            let seq = p.split("seq ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
            (port, seq)
        })
        .collect();
    (outcomes, syns)
}

#[test]
fn a_thousand_gets_one_ms_apart_all_reach_on_distinct_ports() {
    let (outcomes, syns) = run_gets(7, 1000);
    let reached = outcomes.iter().filter(|o| **o == Some(ProbeOutcome::Reached)).count();
    assert_eq!(reached, 1000, "{outcomes:?}");
    let ports: std::collections::BTreeSet<u16> = syns.iter().map(|s| s.0).collect();
    assert_eq!(ports.len(), 1000, "a port came back while the server held it in TIME_WAIT");
    assert!(syns.iter().all(|s| s.0 % 2 == 0), "connect() prefers even ports");
}

#[test]
fn port_choice_repeats_with_the_seed_and_changes_with_it() {
    let (_, a) = run_gets(3, 20);
    let (_, b) = run_gets(3, 20);
    let (_, c) = run_gets(4, 20);
    assert_eq!(a, b);
    let ports = |v: &[(u16, u32)]| v.iter().map(|s| s.0).collect::<Vec<_>>();
    assert_ne!(ports(&a), ports(&c));
}

#[test]
fn the_first_syns_source_port_and_isn_come_from_the_seed() {
    let (_, a) = run_gets(1, 1);
    let (_, b) = run_gets(2, 1);
    assert_ne!(a[0].0, b[0].0, "source port");
    assert_ne!(a[0].1, b[0].1, "initial sequence number");
}
