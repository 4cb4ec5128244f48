//! kube-proxy's stale UDP conntrack cleanup, end to end on scenarios/udp-stale-conntrack.yaml:
//! exactly one `conntrack -D` on the client's node, for the ClusterIP, the service port
//! and the deleted pod's address, issued right after the sync that dropped the pod; and
//! nothing when no endpoint goes away.

use std::path::Path;

use sim_k8s::plan::plan;
use sim_k8s::run;
use sim_k8s::scenario;
use sim_k8s::store::Object;
use sim_net::ops::NetOp;

fn scenario_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/udp-stale-conntrack.yaml");
    std::fs::read_to_string(path).unwrap()
}

fn run_text(text: &str) -> run::RunReport {
    let s = scenario::load_str("udp.yaml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    run::run(plan(&s, false))
}

#[test]
fn the_stale_flow_to_the_deleted_pod_is_deleted_once_on_the_clients_node() {
    let report = run_text(&scenario_text());
    assert!(report.all_met());
    let w = &report.world;
    let echo_a = w
        .store
        .log
        .iter()
        .find_map(|e| match &e.object {
            Object::Pod(p, st) if p.name == "echo-a" => st.pod_ip,
            _ => None,
        })
        .expect("echo-a got an IP");
    let cluster_ip = w.probes[0].dst.expect("the first probe resolved the ClusterIP");
    let deletes: Vec<_> =
        w.commands.iter().filter(|c| matches!(c.op, NetOp::ConntrackDelete { .. })).collect();
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    let d = deletes[0];
    assert_eq!(d.component, "kube-proxy/node-1");
    assert_eq!(d.error, None);
    assert_eq!(
        d.op.to_string(),
        format!(
            "ip netns exec node-1 conntrack -D -p udp --orig-dst {cluster_ip} --reply-src {echo_a} --dport 5353"
        )
    );
    // Right after node-1's restore that dropped echo-a, at the same instant.
    let restore = w
        .commands
        .iter()
        .rposition(|c| {
            c.time <= d.time
                && c.component == "kube-proxy/node-1"
                && matches!(c.op, NetOp::IptablesRestore { .. })
        })
        .unwrap();
    assert_eq!(w.commands[restore].time, d.time);
    assert!(!w.commands[restore].op.to_string().contains(&format!("{echo_a}:5353")));
}

#[test]
fn no_flow_is_deleted_while_its_endpoint_serves() {
    // The same story without the delete: echo-b joins, the flow stays on echo-a.
    let text = scenario_text();
    let cut = text.find("  - at: 2s\n    delete: pod/echo-a").unwrap();
    let report = run_text(&text[..cut]);
    assert!(report.all_met());
    assert!(!report.world.commands.iter().any(|c| matches!(c.op, NetOp::ConntrackDelete { .. })));
}
