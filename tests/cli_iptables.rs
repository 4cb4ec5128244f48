//! `kube-netsim iptables trace|check` and `show ... conntrack` as a user runs them:
//! the binary, its text and JSON output and its exit codes.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-net/tests/fixtures/netfilter").join(name)
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim")).args(args).output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `iptables trace` on the kube-proxy fixture (ClusterIP 10.96.100.10:80 with two
/// endpoints, node address 192.168.56.11) with these extra arguments.
fn trace(extra: &[&str]) -> (i32, String, String) {
    let rules = fixture("kube-proxy-basic.rules");
    let mut args =
        vec!["iptables", "trace", "--rules", rules.to_str().unwrap(), "--local-ip", "192.168.56.11"];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn a_seed_follows_one_draw_and_the_same_seed_gives_the_same_outcome() {
    let base = ["--src", "10.244.1.6", "--dst", "10.96.100.10:80", "--in", "cni0"];
    let with_seed = |seed: &str| {
        let mut a = base.to_vec();
        a.extend(["--seed", seed]);
        let (code, out, err) = trace(&a);
        assert_eq!(code, 0, "{err}");
        out
    };
    let first = with_seed("7");
    assert_eq!(first, with_seed("7"), "same seed, same output");
    assert!(first.contains("Seed 7:\n"), "{first}");
    assert_eq!(first.matches("  result: ").count(), 1, "one outcome: {first}");
    // Over a few seeds both endpoints come up: the seed really draws.
    let picks: Vec<bool> =
        (1..=12).map(|s| with_seed(&s.to_string()).contains("-> 10.244.1.5:8080\n")).collect();
    assert!(picks.contains(&true) && picks.contains(&false), "{picks:?}");
    // Without a seed: every outcome with its probability.
    let (_, all, _) = trace(&base);
    assert!(all.contains("Outcome 1 of 2 (probability 50.0%):"), "{all}");
    assert!(
        all.contains("10.244.1.5:8080   50.0%  ACCEPT") && all.contains("10.244.2.7:8080   50.0%  ACCEPT"),
        "{all}"
    );
}

#[test]
fn json_output_has_every_outcome_with_its_steps() {
    let (code, out, err) =
        trace(&["--src", "10.244.1.6", "--dst", "10.96.100.10:80", "--in", "cni0", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let outcomes = v["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 2);
    assert_eq!(v["truncated"], false);
    let dsts: Vec<String> =
        outcomes.iter().map(|o| format!("{}:{}", o["dst"].as_str().unwrap(), o["dport"])).collect();
    assert_eq!(dsts, ["10.244.1.5:8080", "10.244.2.7:8080"]);
    for o in outcomes {
        assert_eq!(o["probability"], 0.5);
        assert_eq!(o["verdict"], "ACCEPT");
        assert_eq!(o["route"], "forward");
        assert_eq!(o["masquerade_mark"], false);
        assert!(o["dnat"].as_str().unwrap().starts_with("-j DNAT --to-destination 10.244."), "{o}");
        let nat =
            o["steps"].as_array().unwrap().iter().find(|s| s["table"] == "nat" && s["hook"] == "PREROUTING");
        let hits = nat.expect("nat PREROUTING step")["hits"].as_array().unwrap().clone();
        assert_eq!(hits[0]["chain"], "PREROUTING");
        assert!(hits.iter().any(|h| h["rule"].as_str().unwrap().contains("-j KUBE-SVC-")), "{hits:?}");
    }
    // With a seed, JSON is the one outcome.
    let (_, out, _) = trace(&[
        "--src",
        "10.244.1.6",
        "--dst",
        "10.96.100.10:80",
        "--in",
        "cni0",
        "--format",
        "json",
        "--seed",
        "3",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert!(v["dst"].as_str().unwrap().starts_with("10.244."), "{v}");
    assert_eq!(v["decisions"].as_array().unwrap().len(), 1);
}

#[test]
fn local_out_udp_and_icmp_take_their_own_paths() {
    // From the node itself: OUTPUT first, then POSTROUTING.
    let (code, out, err) = trace(&["--src", "192.168.56.11", "--dst", "10.96.100.10:80", "--local-out"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent by a local process"), "{out}");
    assert!(out.contains("  nat OUTPUT: ACCEPT\n") && out.contains("  route: output\n"), "{out}");
    assert!(!out.contains("PREROUTING"), "{out}");
    // UDP to the DNS service: its own rules, one endpoint.
    let (_, out, _) =
        trace(&["--proto", "udp", "--src", "10.244.1.6:5353", "--dst", "10.96.0.10:53", "--in", "cni0"]);
    assert!(out.starts_with("Tracing udp 10.244.1.6:5353 -> 10.96.0.10:53 arriving on cni0\n"), "{out}");
    assert!(
        out.contains("kube-system/kube-dns:dns cluster IP") && out.contains("10.244.1.2:53  100.0%  ACCEPT"),
        "{out}"
    );
    // ICMP echo to the ClusterIP: no rule matches a port, so nothing is translated.
    let (_, out, _) =
        trace(&["--proto", "icmp", "--src", "10.244.1.6", "--dst", "10.96.100.10", "--in", "cni0"]);
    assert!(out.contains("  10.96.100.10  100.0%  ACCEPT"), "{out}");
    assert!(!out.contains("dnat:"), "{out}");
}

#[test]
fn without_in_or_local_out_the_packet_arrives_on_eth0() {
    let (code, out, err) = trace(&["--src", "192.168.56.1", "--dst", "192.168.56.11:30080"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Tracing tcp 192.168.56.1:40000 -> 192.168.56.11:30080 arriving on eth0\n"),
        "{out}"
    );
    let (code, _, err) =
        trace(&["--src", "192.168.56.1", "--dst", "10.0.0.1:1", "--in", "eth1", "--local-out"]);
    assert_eq!(code, 2, "{err}");
    let (_, help, _) = run(&["iptables", "trace", "--help"]);
    assert!(help.contains("default,") && help.contains("on eth0"), "{help}");
}

#[test]
fn check_prints_the_same_rules_the_kernel_saves() {
    for name in [
        "kube-proxy-basic",
        "kube-proxy-affinity",
        "kube-proxy-lb-local",
        "flannel",
        "portmap",
        "matches-and-targets",
    ] {
        let rules = fixture(&format!("{name}.rules"));
        let (code, out, err) = run(&["iptables", "check", "--rules", rules.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        let expected = std::fs::read_to_string(fixture(&format!("{name}.expected"))).unwrap();
        let strip = |s: &str| s.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&out), strip(&expected), "{name}");
    }
}

#[test]
fn show_conntrack_prints_like_conntrack_l_after_a_probe() {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/clusterip.yaml");
    let (code, out, err) = run(&["show", scenario.to_str().unwrap(), "conntrack", "--node", "node-1"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("# node/node-1: conntrack -L"));
    let entries: Vec<&str> = lines.collect();
    assert!(!entries.is_empty());
    for e in &entries {
        let proto = ["tcp      6 ", "udp      17 ", "icmp     1 "];
        assert!(proto.iter().any(|p| e.starts_with(p)), "{e}");
        assert!(e.ends_with(" mark=0 use=1"), "{e}");
        assert_eq!(e.matches(" src=").count(), 2, "original and reply tuple: {e}");
    }
    // The client's connection to the ClusterIP (in 10.96.0.0/12): the reply tuple
    // comes from the endpoint and goes back to the client (un-DNAT).
    let in_service_range = |f: &str| {
        let ip: std::net::Ipv4Addr = f.trim_start_matches("dst=").parse().unwrap();
        ip.octets()[0] == 10 && (96..112).contains(&ip.octets()[1])
    };
    let svc = entries
        .iter()
        .map(|e| e.split_whitespace().collect::<Vec<_>>())
        .find(|f| f[0] == "tcp" && in_service_range(f[5]))
        .expect("a ClusterIP flow");
    assert_eq!(svc[3], "TIME_WAIT", "{svc:?}");
    let (orig_src, reply_src, reply_dst) = (svc[4], svc[8], svc[9]);
    assert!(reply_src.starts_with("src=10.244."), "{svc:?}");
    assert_eq!(orig_src.trim_start_matches("src="), reply_dst.trim_start_matches("dst="), "{svc:?}");
    assert_eq!(svc[12], "[ASSURED]", "{svc:?}");
}
