//! The tracer's hook walk and outcome enumeration on real-shaped node dumps
//! (kube-proxy + flannel + CNI portmap fixtures of `tests/fixtures/netfilter`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use sim_core::SimTime;
use sim_net::netfilter::trace::{Entry, LocalIp, TraceOutcome, TraceRequest, trace, trace_seeded};
use sim_net::netfilter::{Netfilter, RejectWith, Verdict};
use sim_net::packet::IpProto;

const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 11);

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/netfilter").join(name);
    std::fs::read_to_string(p).expect("fixture exists")
}

/// kube-proxy's dump, then flannel's and portmap's rules added with --noflush, in the
/// order the components start on a real node.
fn node(kube_proxy: &str) -> Netfilter {
    let mut nf = Netfilter::new();
    nf.restore(&fixture(kube_proxy), false).expect("kube-proxy rules load");
    nf.restore(&fixture("flannel.rules"), true).expect("flannel rules load");
    nf.restore(&fixture("portmap.rules"), true).expect("portmap rules load");
    nf
}

fn req(src: &str, sport: u16, dst: &str, dport: u16, entry: Entry) -> TraceRequest {
    TraceRequest {
        proto: IpProto::Tcp,
        src: src.parse().unwrap(),
        sport,
        dst: dst.parse().unwrap(),
        dport,
        entry,
        out_dev: None,
        local_ips: vec![LocalIp { ip: NODE_IP, dev: "eth0".into() }],
        now: SimTime::ZERO,
    }
}

fn from_pod(src: &str, dst: &str, dport: u16) -> TraceRequest {
    req(src, 40000, dst, dport, Entry::In("cni0".into()))
}

fn dests(outcomes: &[TraceOutcome]) -> Vec<(String, String)> {
    outcomes.iter().map(|o| (o.destination(), format!("{:.4}", o.probability))).collect()
}

fn chains_hit(o: &TraceOutcome) -> Vec<String> {
    o.steps.iter().flat_map(|s| s.hits.iter().map(|h| format!("{} {}#{}", h.table, h.chain, h.num))).collect()
}

#[test]
fn clusterip_from_a_pod_lists_both_endpoints_with_half_probability_each() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &from_pod("10.244.1.6", "10.96.100.10", 80));
    assert_eq!(
        dests(&r.outcomes),
        vec![("10.244.1.5:8080".into(), "0.5000".into()), ("10.244.2.7:8080".into(), "0.5000".into())]
    );
    for o in &r.outcomes {
        assert_eq!(o.route, "forward");
        assert_eq!(o.final_verdict, Verdict::Accept);
        assert!(!o.masquerade_mark, "pod source inside the cluster CIDR is not masqueraded");
        assert_eq!(o.src, "10.244.1.6".parse::<Ipv4Addr>().unwrap());
        assert_eq!(o.snat, None, "flannel RETURNs pod-to-pod traffic: {:?}", chains_hit(o));
    }
    let first = chains_hit(&r.outcomes[0]);
    assert_eq!(
        &first[..4],
        [
            "nat PREROUTING#1",
            "nat KUBE-SERVICES#1",
            "nat KUBE-SVC-CDGGSHYLG3RE2FKL#2",
            "nat KUBE-SEP-AFGSLHOD2HFNCBX4#2"
        ]
    );
    assert!(first.contains(&"filter FLANNEL-FWD#1".to_string()), "{first:?}");
    assert_eq!(r.outcomes[0].dnat.as_deref(), Some("-j DNAT --to-destination 10.244.1.5:8080"));
}

#[test]
fn nodeport_from_outside_is_dnatted_to_the_pod_and_masqueraded() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &req("203.0.113.2", 50000, "192.168.56.11", 30080, Entry::In("eth0".into())));
    assert_eq!(r.outcomes.len(), 1);
    let o = &r.outcomes[0];
    assert_eq!(o.destination(), "10.244.1.6:8080");
    assert_eq!(o.route, "forward", "DNAT before routing turns the NodePort into forwarded traffic");
    assert!(o.masquerade_mark);
    assert_eq!(o.snat.as_deref(), Some("-j MASQUERADE --random-fully"));
    let hits = chains_hit(o);
    assert!(
        hits.contains(&"nat KUBE-SERVICES#4".to_string()),
        "the last KUBE-SERVICES rule (addrtype LOCAL): {hits:?}"
    );
    assert!(hits.contains(&"nat KUBE-NODEPORTS#1".to_string()));
    assert!(
        hits.contains(&"filter KUBE-FORWARD#2".to_string()),
        "marked traffic is accepted by KUBE-FORWARD"
    );
    assert!(hits.contains(&"nat KUBE-POSTROUTING#3".to_string()));
    assert_eq!(o.mark, 0, "KUBE-POSTROUTING clears the mark before masquerading");
}

#[test]
fn service_without_endpoints_is_rejected_in_filter_forward() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &from_pod("10.244.1.6", "10.96.50.50", 80));
    assert_eq!(r.outcomes.len(), 1);
    let o = &r.outcomes[0];
    assert_eq!(o.final_verdict, Verdict::Reject(RejectWith::IcmpPortUnreachable));
    assert_eq!(o.stopped_at.as_deref(), Some("filter FORWARD"));
    assert_eq!(o.dnat, None);
    let last = o.steps.last().unwrap().hits.last().unwrap();
    assert_eq!(
        last.rule,
        "-A KUBE-SERVICES -d 10.96.50.50/32 -p tcp -m comment --comment \"default/gone:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"
    );
}

#[test]
fn hairpin_to_itself_gets_the_masquerade_mark_only_for_its_own_endpoint() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &from_pod("10.244.1.5", "10.96.100.10", 80));
    let marks: Vec<(String, bool)> =
        r.outcomes.iter().map(|o| (o.destination(), o.masquerade_mark)).collect();
    assert_eq!(marks, vec![("10.244.1.5:8080".into(), true), ("10.244.2.7:8080".into(), false)]);
    assert_eq!(r.outcomes[0].snat.as_deref(), Some("-j MASQUERADE --random-fully"));
}

#[test]
fn three_endpoint_ladder_gives_each_endpoint_a_third() {
    let nf = node("kube-proxy-affinity.rules");
    let r = trace(&nf, &from_pod("10.244.1.6", "10.96.20.20", 80));
    let got = dests(&r.outcomes);
    assert_eq!(
        got,
        vec![
            ("10.244.1.10:80".into(), "0.3333".into()),
            ("10.244.2.11:80".into(), "0.3333".into()),
            ("10.244.3.12:80".into(), "0.3333".into())
        ]
    );
    let total: f64 = r.outcomes.iter().map(|o| o.probability).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    // The kernel's fixed point: 715827883 / 2^31 for the first rule.
    assert!((r.outcomes[0].probability - 715_827_883.0 / 2_147_483_648.0).abs() < 1e-15);
}

#[test]
fn session_affinity_sends_the_second_connection_to_the_same_endpoint() {
    let mut nf = node("kube-proxy-affinity.rules");
    let mut q = from_pod("10.244.1.6", "10.96.20.20", 80);
    // First connection, with a seeded draw; commit its recent-list updates.
    let mut state = nf.match_state().clone();
    let mut d = sim_net::netfilter::RngDecider::new(sim_core::RngStreams::new(7).stream("t"));
    let first = sim_net::netfilter::trace::trace_one(&nf, &q, &mut d, &mut state);
    nf.set_match_state(state);
    // Second connection a minute later: whatever the dice say, the recent match wins.
    q.now = SimTime::from_nanos(60_000_000_000);
    q.sport = 40001;
    let second = trace(&nf, &q);
    assert_eq!(second.outcomes.len(), 1, "no random choice is left: {:?}", dests(&second.outcomes));
    assert_eq!(second.outcomes[0].destination(), first.destination());
    assert!(second.outcomes[0].decisions.is_empty());
    let rcheck_hit =
        second.outcomes[0].steps.iter().flat_map(|s| &s.hits).any(|h| h.rule.contains("--rcheck"));
    assert!(rcheck_hit);
    // After the 10800 s affinity timeout the statistic ladder decides again.
    q.now = SimTime::from_nanos(60_000_000_000 + 10_801_000_000_000);
    assert_eq!(trace(&nf, &q).outcomes.len(), 3);
}

#[test]
fn loadbalancer_source_ranges_admit_allowed_clients_to_local_endpoints_only() {
    let nf = node("kube-proxy-lb-local.rules");
    let allowed = trace(&nf, &req("198.51.100.7", 50000, "203.0.113.10", 80, Entry::In("eth0".into())));
    assert_eq!(dests(&allowed.outcomes), vec![("10.244.1.8:8080".into(), "1.0000".into())]);
    assert!(!allowed.outcomes[0].masquerade_mark, "eTP Local keeps the client address");
    let blocked = trace(&nf, &req("192.0.2.99", 50000, "203.0.113.10", 80, Entry::In("eth0".into())));
    let o = &blocked.outcomes[0];
    assert_eq!(o.final_verdict, Verdict::Drop);
    assert_eq!(o.stopped_at.as_deref(), Some("filter FORWARD"));
    assert_eq!(o.dnat, None);
    let fw_counter =
        o.steps.iter().flat_map(|s| &s.hits).find(|h| h.chain == "KUBE-FW-JSLCNGWSGB5JPS5Q").unwrap();
    assert_eq!(fw_counter.num, 2, "the target-less counter rule matched and did nothing");
    assert_eq!(fw_counter.verdict_text, "");
}

#[test]
fn localhost_nodeport_from_the_node_goes_through_output_and_is_masqueraded() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &req("127.0.0.1", 50000, "127.0.0.1", 30080, Entry::LocalOut));
    let o = &r.outcomes[0];
    assert_eq!(o.route, "output");
    assert_eq!(o.destination(), "10.244.1.6:8080");
    assert!(o.masquerade_mark);
    assert_eq!(o.final_verdict, Verdict::Accept, "KUBE-FIREWALL lets DNATed localhost traffic pass");
}

#[test]
fn hostport_is_dnatted_by_portmap_when_no_service_claims_the_port() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &req("203.0.113.2", 50000, "192.168.56.11", 8080, Entry::In("eth0".into())));
    let o = &r.outcomes[0];
    assert_eq!(o.destination(), "10.244.1.5:80");
    assert!(chains_hit(o).contains(&"nat CNI-DN-3e9a3d0f9583cdc0e7133#3".to_string()));
}

#[test]
fn seeded_trace_is_deterministic_and_covers_both_endpoints() {
    let nf = node("kube-proxy-basic.rules");
    let q = from_pod("10.244.1.6", "10.96.100.10", 80);
    assert_eq!(trace_seeded(&nf, &q, 3), trace_seeded(&nf, &q, 3));
    let mut seen: Vec<String> = (0..32).map(|s| trace_seeded(&nf, &q, s).destination()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, vec!["10.244.1.5:8080", "10.244.2.7:8080"]);
}

#[test]
fn packet_to_the_node_itself_takes_the_input_path() {
    let nf = node("kube-proxy-basic.rules");
    let r = trace(&nf, &req("203.0.113.2", 50000, "192.168.56.11", 22, Entry::In("eth0".into())));
    let o = &r.outcomes[0];
    assert_eq!(o.route, "local");
    let hooks: Vec<String> = o.steps.iter().map(|s| format!("{} {}", s.table, s.hook)).collect();
    assert_eq!(hooks, ["mangle PREROUTING", "nat PREROUTING", "mangle INPUT", "filter INPUT", "nat INPUT"]);
}

#[test]
fn addrtype_limit_iface_in_uses_the_device_of_each_local_address() {
    let mut nf = Netfilter::new();
    nf.restore(
        "*filter\n-A INPUT -p tcp -m addrtype --dst-type LOCAL --limit-iface-in -j DROP\n-A FORWARD -m addrtype --src-type LOCAL --limit-iface-out -j REJECT\nCOMMIT\n",
        false,
    )
    .unwrap();
    let verdict = |entry: &str, local: &str| {
        let mut r = req("192.168.56.1", 40000, "192.168.56.11", 22, Entry::In(entry.into()));
        r.local_ips = vec![LocalIp::parse(local).unwrap()];
        trace(&nf, &r).outcomes[0].verdict.clone()
    };
    assert_eq!(verdict("eth0", "192.168.56.11"), "DROP", "no %DEV: on eth0");
    assert_eq!(verdict("eth1", "192.168.56.11"), "ACCEPT");
    assert_eq!(verdict("eth1", "192.168.56.11%eth1"), "DROP");
    assert_eq!(verdict("eth0", "192.168.56.11%eth1"), "ACCEPT");
    // 127/8 is on lo.
    let mut r = req("10.0.0.9", 40000, "127.0.0.1", 22, Entry::In("lo".into()));
    assert_eq!(trace(&nf, &r).outcomes[0].verdict, "DROP");
    r.entry = Entry::In("eth0".into());
    assert_eq!(trace(&nf, &r).outcomes[0].verdict, "ACCEPT");
    // --limit-iface-out: a forwarded packet whose source is this node's address on
    // the egress device.
    let mut r = req("192.168.56.11", 40000, "10.1.2.3", 22, Entry::In("cni0".into()));
    r.out_dev = Some("eth0".into());
    assert_eq!(trace(&nf, &r).outcomes[0].verdict, "REJECT --reject-with icmp-port-unreachable");
    r.out_dev = Some("flannel.1".into());
    assert_eq!(trace(&nf, &r).outcomes[0].verdict, "ACCEPT");
    assert!(LocalIp::parse("10.0.0.1%").is_err() && LocalIp::parse("10.0.0%eth0").is_err());
}

#[test]
fn log_rules_print_their_kernel_line_in_the_text_trace() {
    let mut nf = Netfilter::new();
    nf.restore("*filter\n-A INPUT -p tcp -j LOG --log-prefix \"in: \" --log-level 6\nCOMMIT\n", false)
        .unwrap();
    let r = trace(&nf, &req("192.168.56.1", 40000, "192.168.56.11", 22, Entry::In("eth0".into())));
    let text = r.to_text();
    assert!(
        text.contains("    INPUT#1  -A INPUT -p tcp -j LOG --log-prefix \"in: \" --log-level 6\n    LOG <6>in: IN=eth0 OUT= MAC= SRC=192.168.56.1 DST=192.168.56.11 LEN="),
        "{text}"
    );
    assert!(text.contains(" PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 \n"), "{text}");
    assert_eq!(r.outcomes[0].steps.iter().map(|s| s.logs.len()).sum::<usize>(), 1);
}
