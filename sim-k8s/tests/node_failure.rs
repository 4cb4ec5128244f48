//! Node failures end to end: the Lease timers decide when a node goes NotReady, its
//! pods leave the Services, eviction and rescheduling follow the toleration, a restore
//! undoes it, and flanneld cleans up after a deleted node (but not after a NotReady one).

use std::path::Path;

use sim_core::SimTime;
use sim_k8s::plan::plan;
use sim_k8s::run::{self, RunReport};
use sim_k8s::store::{ConditionStatus, PodPhase};
use sim_net::ops::NetOp;

fn run(text: &str) -> RunReport {
    let s = sim_k8s::scenario::load_str("t.yaml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    run::run(plan(&s, false))
}

fn t(s: &str) -> SimTime {
    s.parse().unwrap()
}

/// When the timeline has a line of `component` containing `needle`, the first one's time.
fn when(r: &RunReport, component: &str, needle: &str) -> Option<SimTime> {
    r.world.timeline.iter().find(|e| e.component == component && e.text.contains(needle)).map(|e| e.time)
}

const WEB: &str = "manifests:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: http, image: x, ports: [{containerPort: 8080}]}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
";

fn scenario(cluster: &str, steps: &str) -> String {
    format!("cluster: {cluster}\n{WEB}steps:\n{steps}")
}

#[test]
fn not_ready_comes_at_the_first_poll_past_the_grace_period_after_the_last_renewal() {
    // Defaults: renew 1 s, poll 1 s, grace 4 s. Last renewal 2 s; 6 s is not past the
    // grace period (exactly 4 s), 7 s is.
    let r =
        run(&scenario("{nodes: 3}", "- {at: 2.5s, fail: node/node-2}\n- {at: 9s, restore: node/node-2}\n"));
    assert_eq!(when(&r, "node-lifecycle-controller", "node-2: NotReady"), Some(t("7s")));
    // Other timers: renew 2 s (last renewal 2 s), poll 3 s, grace 5 s: past 7 s, at 9 s.
    let r = run(&scenario(
        "{nodes: 3, timers: {nodeLeaseRenewInterval: 2s, nodeMonitorPeriod: 3s, nodeMonitorGracePeriod: 5s}}",
        "- {at: 3.9s, fail: node/node-2}\n- {at: 10s, probe: {from: node/node-1, to: node/node-3, proto: icmp}}\n",
    ));
    assert_eq!(when(&r, "node-lifecycle-controller", "node-2: NotReady"), Some(t("9s")));
    let (_, st) = r.world.store.node("node-2").unwrap();
    assert_eq!(st.ready, ConditionStatus::Unknown);
    let taints: Vec<String> = st.taints.iter().map(|x| x.to_string()).collect();
    assert_eq!(
        taints,
        ["node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"]
    );
}

#[test]
fn a_cut_node_goes_not_ready_too_and_a_healthy_one_never_does() {
    let r = run(&scenario(
        "{nodes: 2}",
        "- {at: 1.5s, cut: {link: node/node-1}}\n- {at: 8s, heal: {link: node/node-1}}\n",
    ));
    assert_eq!(when(&r, "node-lifecycle-controller", "node-1: NotReady"), Some(t("6s")));
    assert_eq!(when(&r, "node-lifecycle-controller", "node-2: NotReady"), None);
    assert_eq!(when(&r, "node-lifecycle-controller", "node-1: Ready"), Some(t("9s")));
}

#[test]
fn pods_of_a_not_ready_node_leave_the_service_are_evicted_after_the_toleration_and_replaced_elsewhere() {
    let r = run(&scenario(
        "{nodes: 3, timers: {unreachableToleration: 3s}}",
        "- {at: 2.5s, fail: node/node-2}\n- {at: 11s, probe: {from: node/node-1, to: \"svc/web:80\", proto: http}}\n",
    ));
    let w = &r.world;
    // The pod on node-2 was marked not Ready at 7 s, its endpoint followed.
    let lost = w.store.pods().find(|(p, _)| p.node_name.as_deref() == Some("node-2")).expect("pod on node-2");
    let lost_name = lost.0.name.clone();
    assert_eq!(
        when(&r, "node-lifecycle-controller", &format!("mark pods not Ready: pod/{lost_name}")),
        Some(t("7s"))
    );
    let slice = w.store.endpoint_slices().find(|s| s.name.starts_with("web-")).unwrap();
    let ep = slice.endpoints.iter().find(|e| e.node_name.as_deref() == Some("node-2")).unwrap();
    assert!(!ep.conditions.is_ready());
    // Evicted at 7 s + 3 s, still Terminating (nobody on node-2 to confirm).
    assert_eq!(
        when(&r, "node-lifecycle-controller", &format!("taint-eviction: delete pod/{lost_name}")),
        Some(t("10s"))
    );
    assert!(lost.1.terminating);
    // The replacement: created at once, bound to node-3 (node-2 is tainted), running.
    let created = when(&r, "replicaset-controller", "create 1 pods").expect("a replacement");
    assert!(created > t("10s") && created < t("10.1s"), "{created}");
    let live: Vec<_> = w.store.pods().filter(|(_, s)| !s.terminating).collect();
    assert_eq!(live.len(), 2);
    assert!(
        live.iter().all(|(p, s)| p.node_name.as_deref() != Some("node-2") && s.phase == PodPhase::Running)
    );
    assert!(live.iter().any(|(p, _)| p.node_name.as_deref() == Some("node-3")));
}

#[test]
fn a_node_restored_before_the_eviction_keeps_its_pods_and_they_become_ready_again() {
    let r =
        run(&scenario("{nodes: 2}", "- {at: 2.5s, fail: node/node-2}\n- {at: 9s, restore: node/node-2}\n"));
    assert_eq!(when(&r, "node-lifecycle-controller", "taint-eviction"), None);
    assert_eq!(when(&r, "node-lifecycle-controller", "node-2: Ready"), Some(t("10s")));
    let w = &r.world;
    assert_eq!(w.store.pods().count(), 2);
    assert!(w.store.pods().all(|(_, s)| s.ready && !s.node_lost && !s.terminating));
    assert!(w.store.node("node-2").unwrap().1.taints.is_empty());
}

#[test]
fn a_node_restored_after_the_eviction_finishes_its_evicted_pods() {
    let r =
        run(&scenario("{nodes: 3}", "- {at: 2.5s, fail: node/node-2}\n- {at: 13s, restore: node/node-2}\n"));
    let w = &r.world;
    let del = w
        .commands
        .iter()
        .find(|c| c.component == "kubelet/node-2 (cni-bridge)" && matches!(c.op, NetOp::DelLink { .. }));
    assert_eq!(del.map(|c| c.time), Some(t("13s")));
    assert_eq!(w.store.pods().count(), 2, "the evicted pod is gone, the replacement stays");
}

fn flannel_deletes(r: &RunReport, component: &str) -> Vec<String> {
    r.world
        .commands
        .iter()
        .filter(|c| c.component == component)
        .filter(|c| matches!(c.op, NetOp::DelNeigh { .. } | NetOp::DelFdb { .. } | NetOp::DelRoute { .. }))
        .map(|c| {
            assert_eq!(c.error, None, "{}", c.op);
            c.op.to_string()
        })
        .collect()
}

#[test]
fn flanneld_removes_a_deleted_nodes_neighbour_fdb_entry_and_route_in_flannels_order() {
    let r = run(&scenario("{nodes: 3}", "- {at: 1s, delete: node/node-3}\n"));
    let w = &r.world;
    for node in ["node-1", "node-2"] {
        let got = flannel_deletes(&r, &format!("flanneld/{node}"));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with(&format!("ip -n {node} neigh del 10.244.2.0 dev flannel.1")), "{got:?}");
        assert!(got[1].starts_with(&format!("bridge -n {node} fdb del ")), "{got:?}");
        assert!(got[1].ends_with("dev flannel.1 dst 192.168.1.13"), "{got:?}");
        assert_eq!(
            got[2],
            format!("ip -n {node} route del 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink")
        );
        let routes =
            sim_net::show::render(&w.net, node, sim_net::show::Render::IpRoute, SimTime::ZERO).unwrap();
        assert!(!routes.contains("10.244.2.0/24"), "{routes}");
    }
    // The pods bound to node-3 were force-deleted by the pod garbage collector.
    assert!(w.store.pods().all(|(p, _)| p.node_name.as_deref() != Some("node-3")));
}

#[test]
fn host_gw_removes_the_route_and_a_not_ready_node_keeps_its_routes() {
    let r = run(&scenario("{nodes: 3, network: flannel-host-gw}", "- {at: 1s, delete: node/node-3}\n"));
    assert_eq!(
        flannel_deletes(&r, "flanneld/node-1"),
        ["ip -n node-1 route del 10.244.2.0/24 via 192.168.1.13 dev eth0"]
    );
    let r = run(&scenario("{nodes: 3}", "- {at: 1s, fail: node/node-3}\n- {at: 8s, fail: node/node-1}\n"));
    assert!(when(&r, "node-lifecycle-controller", "node-3: NotReady").is_some());
    assert_eq!(flannel_deletes(&r, "flanneld/node-1"), Vec::<String>::new());
    assert_eq!(flannel_deletes(&r, "flanneld/node-2"), Vec::<String>::new());
}

#[test]
fn a_client_route_lives_on_the_router() {
    let text =
        "clients: [{name: laptop, ip: 203.0.113.20, routes: [{to: 10.96.0.0/12, via: node/node-2}]}]\n";
    let r = run(text);
    let op = r.world.commands.iter().find(|c| matches!(&c.op, NetOp::AddRoute { netns, .. } if netns == "router" && c.op.to_string().contains("10.96.0.0/12")));
    assert_eq!(
        op.map(|c| c.op.to_string()).as_deref(),
        Some("ip -n router route add 10.96.0.0/12 via 192.168.1.12 dev eth0")
    );
}

mod property {
    //! On random clusters, timers and failure instants: the NotReady instant follows
    //! from the timers alone, a dead node's pods are replaced on live nodes and leave the
    //! Service, and a restore brings the node back without leftovers.

    use super::*;
    use proptest::prelude::*;

    /// The first poll instant strictly after `renew + grace` (all in ms).
    fn expected_not_ready(fail_ms: u64, renew: u64, period: u64, grace: u64) -> u64 {
        let last_renewal = fail_ms - fail_ms % renew;
        ((last_renewal + grace) / period + 1) * period
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn a_failed_node_is_noticed_on_time_and_its_pods_move(
            nodes in 2usize..=4,
            replicas in 1u32..=5,
            victim in 0usize..4,
            fail_ms in 300u64..3000,
            renew in 1u64..=3,
            period in 1u64..=3,
            extra_grace in 1u64..=3,
            toleration in 1u64..=4,
            restore in any::<bool>(),
        ) {
            let victim = format!("node-{}", victim % nodes + 1);
            let (renew, period) = (renew * 500, period * 500);
            let grace = renew + extra_grace * 700;
            let toleration = toleration * 1000;
            let not_ready = expected_not_ready(fail_ms, renew, period, grace);
            let evicted = not_ready + toleration;
            let end = evicted + 2000;
            let restore_step = if restore { format!("- {{at: {end}ms, restore: node/{victim}}}\n") } else { String::new() };
            let text = format!(
                "cluster: {{nodes: {nodes}, timers: {{nodeLeaseRenewInterval: {renew}ms, nodeMonitorPeriod: {period}ms, nodeMonitorGracePeriod: {grace}ms, unreachableToleration: {toleration}ms}}}}\n{}steps:\n- {{at: {fail_ms}ms, fail: node/{victim}}}\n{restore_step}- {{at: {}ms, probe: {{from: client/client, to: node/node-1, proto: icmp}}}}\n",
                WEB.replace("replicas: 2", &format!("replicas: {replicas}")),
                end + 3000,
            );
            let r = run(&text);
            let ms = |x: u64| SimTime::from_nanos(x * 1_000_000);
            prop_assert_eq!(when(&r, "node-lifecycle-controller", &format!("{victim}: NotReady")), Some(ms(not_ready)), "{}", text);
            let w = &r.world;
            let live: Vec<_> = w.store.pods().filter(|(_, s)| !s.terminating).collect();
            prop_assert_eq!(live.len(), replicas as usize, "{}", text);
            for (p, s) in &live {
                prop_assert_eq!(s.phase, PodPhase::Running);
                prop_assert!(s.ready, "{} not ready\n{}", p.name, text);
            }
            let ready_eps = w.store.endpoint_slices().filter(|s| s.name.starts_with("web-"))
                .flat_map(|s| s.endpoints.iter()).filter(|e| e.conditions.is_ready()).count();
            prop_assert_eq!(ready_eps, replicas as usize, "{}", text);
            let (_, st) = w.store.node(&victim).unwrap();
            if restore {
                prop_assert_eq!(st.ready, ConditionStatus::True);
                prop_assert!(st.taints.is_empty());
                prop_assert!(w.store.pods().all(|(_, s)| !s.terminating), "{}", text);
            } else {
                prop_assert_eq!(st.ready, ConditionStatus::Unknown);
                prop_assert!(live.iter().all(|(p, _)| p.node_name.as_deref() != Some(victim.as_str())), "{}", text);
                let lost: Vec<_> = w.store.pods().filter(|(p, _)| p.node_name.as_deref() == Some(victim.as_str())).collect();
                prop_assert!(lost.iter().all(|(_, s)| s.terminating && !s.ready), "{}", text);
                if !lost.is_empty() {
                    prop_assert!(when(&r, "node-lifecycle-controller", "taint-eviction").is_some_and(|t| t == ms(evicted)), "{}", text);
                }
            }
        }
    }
}
