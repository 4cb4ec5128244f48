//! The kernel twin: the same op stream runs in the simulator and in real network
//! namespaces, and the twin must agree (or the difference must be in
//! tests/twin-allowlist.txt, explained in docs/fidelity.md).
//! - topologies built directly with `sim_net` NetOps, in process;
//! - every scenario in scenarios/, through `kube-netsim twin FILE` (the binary).
//!
//! Needs root, iproute2, iptables and ping; otherwise each test prints SKIPPED and why
//! (straight to the terminal, past the test harness's capture).
//!
//! In process, the agent is this test binary itself: `ip netns exec NS env
//! KNS_TWIN_AGENT=1 <this test> --exact twin_agent_entry ... twin-agent client tcp ...`;
//! the binary runs itself as `kube-netsim twin-agent`.

#[path = "../sim-net/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use common::{Harness, mac, s};
use kube_netsim::twin::agent::ClientMode;
use kube_netsim::twin::apps::ServerRole;
use kube_netsim::twin::{
    self, Allowlist, SimProbeResult, Status, TwinInput, TwinListener, TwinOptions, TwinProbe,
};
use sim_core::SimDuration;
use sim_net::ops::{NetOp, RouteSpec};
use sim_net::packet::IpProto;
use sim_net::show;
use sim_net::stack::{Listener, SocketEventKind};

const ALLOWLIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/twin-allowlist.txt");

/// One twin at a time: each owns the process-wide cleanup registry.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn twin_agent_entry() {
    if std::env::var_os("KNS_TWIN_AGENT").is_none() {
        return; // only a test when started by the twin
    }
    let args: Vec<String> = std::env::args().skip_while(|a| a != "twin-agent").skip(1).collect();
    std::process::exit(twin::agent::main(&args));
}

fn netns(n: &str) -> NetOp {
    NetOp::AddNetns { name: s(n) }
}
fn up(ns: &str, dev: &str) -> NetOp {
    NetOp::SetLinkUp { netns: s(ns), dev: s(dev), up: true }
}
fn addr(ns: &str, dev: &str, a: &str) -> NetOp {
    NetOp::AddAddr { netns: s(ns), dev: s(dev), addr: a.parse().unwrap() }
}
fn veth(a: &str, an: &str, m: u8, b: &str, bn: &str) -> NetOp {
    NetOp::AddVeth {
        netns: s(a),
        name: s(an),
        mac: mac(m),
        peer_netns: s(b),
        peer_name: s(bn),
        peer_mac: mac(m + 1),
    }
}
fn route(ns: &str, dst: &str, via: &str) -> NetOp {
    NetOp::AddRoute { netns: s(ns), route: RouteSpec::new(dst.parse().unwrap()).via(via.parse().unwrap()) }
}
fn ip(x: &str) -> Ipv4Addr {
    x.parse().unwrap()
}

/// Two nodes on an underlay bridge, routed host-gw style; pods a, b on node-1's cni0,
/// pod c on node-2's.
fn cluster_ops() -> Vec<NetOp> {
    let mut ops: Vec<NetOp> = ["underlay", "node-1", "node-2", "pod-a", "pod-b", "pod-c"].map(netns).to_vec();
    ops.extend([
        NetOp::AddBridge { netns: s("underlay"), name: s("br0"), mac: mac(0x01) },
        up("underlay", "br0"),
        up("underlay", "lo"),
    ]);
    for (i, node) in ["node-1", "node-2"].iter().enumerate() {
        let i8 = i as u8;
        let port = format!("n{}", i + 1);
        ops.extend([
            veth(node, "eth0", 0x10 + 2 * i8, "underlay", &port),
            NetOp::SetMaster { netns: s("underlay"), dev: port.clone(), master: Some(s("br0")) },
            up("underlay", &port),
            addr(node, "eth0", &format!("192.168.1.{}/24", 11 + i)),
            up(node, "eth0"),
            up(node, "lo"),
            NetOp::AddBridge { netns: s(node), name: s("cni0"), mac: mac(0x20 + i8) },
            addr(node, "cni0", &format!("10.244.{i}.1/24")),
            up(node, "cni0"),
            NetOp::Sysctl { netns: s(node), key: s("net.ipv4.ip_forward"), value: s("1") },
        ]);
    }
    for (j, (pod, node, a)) in [
        ("pod-a", "node-1", "10.244.0.2"),
        ("pod-b", "node-1", "10.244.0.3"),
        ("pod-c", "node-2", "10.244.1.2"),
    ]
    .into_iter()
    .enumerate()
    {
        let hv = format!("veth{pod}");
        let gw = if node == "node-1" { "10.244.0.1" } else { "10.244.1.1" };
        ops.extend([
            veth(node, &hv, 0x30 + 2 * j as u8, pod, "eth0"),
            NetOp::SetMaster { netns: s(node), dev: hv.clone(), master: Some(s("cni0")) },
            up(node, &hv),
            addr(pod, "eth0", &format!("{a}/24")),
            up(pod, "eth0"),
            up(pod, "lo"),
            route(pod, "0.0.0.0/0", gw),
        ]);
    }
    ops.extend([
        route("node-1", "10.244.1.0/24", "192.168.1.12"),
        route("node-2", "10.244.0.0/24", "192.168.1.11"),
    ]);
    ops
}

fn probe(name: &str, from: &str, proto: IpProto, dst: &str, dport: u16, secs: u64) -> TwinProbe {
    TwinProbe {
        name: s(name),
        from: s(from),
        proto,
        dst: ip(dst),
        dport,
        sport: None,
        size: None,
        timeout: Duration::from_secs(secs),
        after_op: usize::MAX,
        start_ns: 0,
        client: ClientMode::Connect,
    }
}

/// Runs `ops`, listeners and probes in the simulator, then in the kernel twin.
fn run_both(ops: &[NetOp], listeners: &[TwinListener], probes: &[TwinProbe]) -> Option<twin::TwinReport> {
    run_both_altered(ops, listeners, probes, |_| {})
}

/// `run_both`, with the simulator's results changed by `alter` before the comparison.
fn run_both_altered(
    ops: &[NetOp],
    listeners: &[TwinListener],
    probes: &[TwinProbe],
    alter: impl Fn(&mut Vec<SimProbeResult>),
) -> Option<twin::TwinReport> {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = twin::replay::check_prerequisites(ops, probes) {
        let _ = writeln!(std::io::stderr(), "SKIPPED kernel twin test: {e}");
        return None;
    }
    let mut h = Harness::new();
    h.apply(ops);
    for l in listeners {
        let owner = format!("twin {}", l.port);
        h.net
            .netns_mut(&l.netns)
            .unwrap()
            .stack
            .listen(Listener { proto: l.proto, port: l.port, owner })
            .unwrap();
    }
    let mut sim_results: Vec<SimProbeResult> = probes.iter().map(|p| sim_probe(&mut h, p)).collect();
    alter(&mut sim_results);
    let probes: Vec<TwinProbe> =
        probes.iter().map(|p| TwinProbe { after_op: ops.len(), ..p.clone() }).collect();
    let listeners: Vec<TwinListener> =
        listeners.iter().map(|l| TwinListener { after_op: ops.len(), ..l.clone() }).collect();
    let now = h.now();
    let sim_state = |ns: &str, r| show::render(&h.net, ns, r, now);
    let input = TwinInput {
        background: &[],
        ops,
        op_errors: &[],
        listeners: &listeners,
        probes: &probes,
        sim_results: &sim_results,
        sim_state: &sim_state,
    };
    let exe = std::env::current_exe().unwrap().display().to_string();
    let opts = TwinOptions {
        agent: [exe.as_str(), "--exact", "twin_agent_entry", "--nocapture", "--quiet"]
            .map(str::to_string)
            .to_vec(),
        agent_env: vec![(s("KNS_TWIN_AGENT"), s("1"))],
        allowlist: Allowlist::load(Path::new(ALLOWLIST)).unwrap(),
        ..TwinOptions::default()
    };
    let report = twin::run_twin(&input, &opts).unwrap_or_else(|e| panic!("{e}"));
    let _ = writeln!(std::io::stderr(), "{}", report.to_text());
    Some(report)
}

fn sim_probe(h: &mut Harness, p: &TwinProbe) -> SimProbeResult {
    let before = h.events.len();
    let timeout = SimDuration::from_millis(p.timeout.as_millis() as u64);
    let (outcome, detail, seen_src) =
        h.probe_with_timeout(&p.from, p.proto, &p.dst.to_string(), p.dport, timeout);
    let responder = h.events[before..].iter().find_map(|e| match &e.kind {
        SocketEventKind::Answered { responder, .. } => Some(h.net.ns(*responder).name.clone()),
        _ => None,
    });
    SimProbeResult {
        outcome,
        responder,
        seen_src,
        detail,
        possible_responders: vec![],
        answer: None,
        group: String::new(),
        random_entry: false,
        path: vec![],
    }
}

fn differing(report: &twin::TwinReport) -> Vec<String> {
    report.differences().map(|i| i.key.clone()).collect()
}

#[test]
fn the_kernel_agrees_with_the_simulator_on_two_host_gw_nodes() {
    let listeners = [
        TwinListener {
            netns: s("pod-c"),
            proto: IpProto::Tcp,
            port: 8080,
            after_op: 0,
            until_op: None,
            until_ns: 0,
            role: ServerRole::Accept,
        },
        TwinListener {
            netns: s("pod-c"),
            proto: IpProto::Udp,
            port: 5353,
            after_op: 0,
            until_op: None,
            until_ns: 0,
            role: ServerRole::Accept,
        },
    ];
    let probes = [
        probe("a-ping-b", "pod-a", IpProto::Icmp, "10.244.0.3", 0, 2),
        probe("a-ping-c", "pod-a", IpProto::Icmp, "10.244.1.2", 0, 2),
        probe("a-tcp-c-8080", "pod-a", IpProto::Tcp, "10.244.1.2", 8080, 2),
        probe("a-tcp-b-closed", "pod-a", IpProto::Tcp, "10.244.0.3", 81, 2),
        probe("a-udp-c-5353", "pod-a", IpProto::Udp, "10.244.1.2", 5353, 2),
        probe("a-ping-arp-fails", "pod-a", IpProto::Icmp, "10.244.0.99", 0, 5),
        probe("b-ping-no-route-on-node", "pod-b", IpProto::Icmp, "10.99.0.1", 0, 2),
    ];
    let Some(report) = run_both(&cluster_ops(), &listeners, &probes) else { return };
    assert!(report.summary().agree > 40, "{}", report.to_text());
    assert_eq!(differing(&report), Vec::<String>::new(), "{}", report.to_text());
    assert_eq!(report.exit_code(), 0);
}

/// What the twin once found (each a simulator bug, fixed): a namespace whose `lo` never
/// came up has no 127.0.0.1/8 (devinet.c gives it on the first NETDEV_UP); a second
/// address in the same subnet is secondary, its local route's src is the primary
/// (fib_add_ifaddr); a veth pair inside one namespace registers the peer first. A UDP
/// probe to a closed port stays a documented difference (allowlist).
#[test]
fn the_kernel_agrees_on_fresh_lo_secondary_addresses_and_same_namespace_veths() {
    let mut ops = cluster_ops();
    ops.extend([
        netns("fresh"),
        addr("pod-b", "eth0", "10.244.0.50/24"),
        veth("node-2", "x0", 0x60, "node-2", "x1"),
    ]);
    let probes = [
        probe("a-udp-b-closed", "pod-a", IpProto::Udp, "10.244.0.3", 53, 2),
        probe("a-ping-b-secondary", "pod-a", IpProto::Icmp, "10.244.0.50", 0, 2),
    ];
    let Some(report) = run_both(&ops, &[], &probes) else { return };
    assert_eq!(differing(&report), Vec::<String>::new(), "{}", report.to_text());
    let udp = report.items.iter().find(|i| i.key == "probe a-udp-b-closed outcome").unwrap();
    assert!(udp.kernel.starts_with("refused"), "{}", report.to_text());
    assert!(
        matches!(&udp.status, Status::Allowed { doc, .. } if doc.starts_with("docs/fidelity.md#")),
        "{}",
        report.to_text()
    );
    let allowed: Vec<&str> = report
        .items
        .iter()
        .filter(|i| matches!(i.status, Status::Allowed { .. }))
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(allowed, ["probe a-udp-b-closed outcome"]);
    for key in ["netns fresh ip -br addr", "netns pod-b ip route show table local", "netns node-2 ip link"] {
        assert!(
            report.items.iter().any(|i| i.key == key && i.status == Status::Agree),
            "{key}\n{}",
            report.to_text()
        );
    }
    assert_eq!(report.exit_code(), 0);
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios in {}", dir.display());
    files
}

/// Every scenario through `kube-netsim twin FILE --allowlist tests/twin-allowlist.txt`:
/// exit 0 (agreement, or differences the allowlist explains) is required; exit 2 with
/// "cannot run here" is a scenario this machine cannot host (SKIPPED, with why), and the
/// others still run. On a machine that passes the basic checks, at least one must run.
#[test]
fn every_scenario_agrees_with_the_kernel() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = twin::replay::check_prerequisites(&[], &[]) {
        let _ = writeln!(std::io::stderr(), "SKIPPED kernel twin of every scenario: {e}");
        return;
    }
    let mut skipped = Vec::new();
    let files = scenario_files();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
            .arg("twin")
            .arg(path)
            .args(["--format", "json", "--allowlist", ALLOWLIST])
            .output()
            .expect("kube-netsim runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.code() == Some(2) && stderr.contains("cannot run here") {
            let _ = writeln!(std::io::stderr(), "SKIPPED kernel twin of scenario {name}: {}", stderr.trim());
            skipped.push(format!("{name}: {}", stderr.trim()));
            continue;
        }
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("{name}: exit {:?}, no JSON report ({e})\n{stdout}\n{stderr}", out.status)
        });
        let items = report["items"].as_array().expect("items");
        let differing: Vec<String> = items
            .iter()
            .filter(|i| i["status"] == "differ")
            .map(|i| format!("{}\n  simulator: {}\n  kernel:    {}", i["key"], i["sim"], i["kernel"]))
            .collect();
        assert!(differing.is_empty(), "{name}: the kernel differs:\n{}\n{stderr}", differing.join("\n"));
        assert_eq!(out.status.code(), Some(0), "{name}\n{stdout}\n{stderr}");
        let probes =
            items.iter().filter(|i| i["key"].as_str().is_some_and(|k| k.ends_with(" outcome"))).count();
        assert!(probes > 0 && report["summary"]["agree"].as_u64() > Some(20), "{name}: {stdout}");
        let _ = writeln!(std::io::stderr(), "kernel twin of scenario {name}: {}", report["summary"]);
    }
    if !skipped.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {} of {} scenarios:\n  {}",
            skipped.len(),
            files.len(),
            skipped.join("\n  ")
        );
    }
    assert!(
        skipped.len() < files.len(),
        "this machine passes the twin's basic checks, yet every scenario was skipped:\n{}",
        skipped.join("\n")
    );
}

/// The simulator's result altered (another responder, another outcome): the kernel
/// twin reports both items as differences and the run's exit status is 1.
#[test]
fn a_simulator_that_is_wrong_fails_the_twin() {
    let listeners = [TwinListener {
        netns: s("pod-c"),
        proto: IpProto::Tcp,
        port: 8080,
        after_op: 0,
        until_op: None,
        until_ns: 0,
        role: ServerRole::Accept,
    }];
    let probes = [
        probe("a-tcp-c-8080", "pod-a", IpProto::Tcp, "10.244.1.2", 8080, 2),
        probe("a-ping-b", "pod-a", IpProto::Icmp, "10.244.0.3", 0, 2),
    ];
    let alter = |r: &mut Vec<SimProbeResult>| {
        r[0].responder = Some(s("pod-b"));
        r[1].outcome = sim_net::stack::ProbeOutcome::Timeout;
    };
    let Some(report) = run_both_altered(&cluster_ops(), &listeners, &probes, alter) else { return };
    assert_eq!(
        differing(&report),
        ["probe a-tcp-c-8080 responder", "probe a-ping-b outcome"],
        "{}",
        report.to_text()
    );
    assert_eq!(report.exit_code(), 1);
    assert!(report.to_text().contains("DIFFER   probe a-ping-b outcome"), "{}", report.to_text());
}

/// Runs `kube-netsim twin ARGS` and returns (exit code, stdout, stderr); `None` (and
/// SKIPPED) where the machine cannot host the twin.
fn twin_cli(args: &[&str]) -> Option<(Option<i32>, String, String)> {
    if let Err(e) = twin::replay::check_prerequisites(&[], &[]) {
        let _ = writeln!(std::io::stderr(), "SKIPPED kernel twin CLI test: {e}");
        return None;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .arg("twin")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("kube-netsim runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    Some((out.status.code(), text(&out.stdout), text(&out.stderr)))
}

fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Without `--allowlist`, the project's known deviations are built in: the UDP probe to
/// a closed port of http-pod-to-pod.yaml is reported as one, and the run exits 0.
#[test]
fn known_deviations_are_built_in() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some((code, stdout, stderr)) = twin_cli(&["scenarios/http-pod-to-pod.yaml"]) else { return };
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let row = stdout.lines().find(|l| l.starts_with("allowed") && l.contains("-udp outcome")).unwrap_or_else(
        || {
            panic!("no allowed UDP row:\n{stdout}");
        },
    );
    assert!(row.contains("known deviation: ") && row.contains("(docs/fidelity.md#"), "{row}");
}

/// `--keep` leaves the namespaces and prints a command that removes them all.
#[test]
fn keep_leaves_the_namespaces_and_says_how_to_remove_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some((code, stdout, stderr)) = twin_cli(&["scenarios/pod-to-pod.yaml", "--keep"]) else { return };
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let kept = stderr.lines().find(|l| l.starts_with("kernel twin: kept ")).expect("the --keep message");
    let n: usize = kept.split_whitespace().nth(3).and_then(|w| w.parse().ok()).expect("a count");
    let cmd =
        stderr.lines().skip_while(|l| *l != kept).nth(1).expect("the removal command").trim().to_string();
    let prefix =
        cmd.split("grep '^").nth(1).and_then(|r| r.split('\'').next()).expect("the prefix").to_string();
    assert!(prefix.starts_with("kns-") && prefix.ends_with('-'), "{cmd}");
    assert_eq!(netns_with_prefix(&prefix).len(), n, "{stderr}");
    assert!(n > 2, "{stderr}");
    let rm = std::process::Command::new("sh").args(["-c", &cmd]).status().expect("sh runs");
    assert!(rm.success(), "{cmd}");
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new(), "{cmd} left namespaces");
}

/// The vxlan prerequisite creates a VXLAN device in a scratch namespace of the run, and
/// removes that namespace again; ops without VXLAN devices skip it.
#[test]
fn the_vxlan_check_uses_a_scratch_namespace_of_the_run_and_removes_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = twin::replay::check_prerequisites(&[], &[]) {
        let _ = writeln!(std::io::stderr(), "SKIPPED kernel twin vxlan check test: {e}");
        return;
    }
    let prefix = format!("kns-vx{}-", std::process::id());
    let opts = TwinOptions { prefix: prefix.clone(), ..TwinOptions::default() };
    let vxlan = NetOp::AddVxlan {
        netns: s("node-1"),
        name: s("flannel.1"),
        mac: mac(0x70),
        vni: 1,
        local: ip("192.168.1.11"),
        dev: s("eth0"),
        dstport: 8472,
        learning: false,
    };
    let mut run = twin::replay::Run::start(&opts).unwrap();
    let checked = run.check_vxlan(&[vxlan]);
    let left = netns_with_prefix(&prefix);
    run.finish();
    match checked {
        Ok(()) => {}
        Err(e) => assert!(e.to_string().contains("modprobe vxlan"), "{e}"),
    }
    assert_eq!(left, Vec::<String>::new(), "the scratch namespace stayed");
    let mut run = twin::replay::Run::start(&opts).unwrap();
    assert!(run.check_vxlan(&cluster_ops()).is_ok(), "no VXLAN op, nothing to check");
    run.finish();
}

/// Ctrl-C in the middle of a run: exit 130, and no namespace of the run is left.
#[test]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // wall-clock waits for a real process
fn ctrl_c_removes_every_namespace_of_the_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = twin::replay::check_prerequisites(&[], &[]) {
        let _ = writeln!(std::io::stderr(), "SKIPPED kernel twin Ctrl-C test: {e}");
        return;
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args(["twin", "scenarios/clusterip.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kube-netsim starts");
    let prefix = format!("kns-{}-", child.id());
    let start = std::time::Instant::now();
    while netns_with_prefix(&prefix).len() < 4 && start.elapsed() < Duration::from_secs(60) {
        assert!(child.try_wait().unwrap().is_none(), "the twin ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(netns_with_prefix(&prefix).len() >= 4, "the run never created its namespaces");
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let mut status = None;
    while status.is_none() && start.elapsed() < Duration::from_secs(120) {
        status = child.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the twin did not exit after SIGINT");
    };
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted, cleaning up"), "{err}");
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new(), "namespaces left after Ctrl-C");
}

/// GitHub's heading anchors: lower case, punctuation other than `-` and `_` dropped,
/// spaces become `-`.
fn anchors(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix('#').map(|h| h.trim_start_matches('#').trim()))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// Every allowlist entry has a reason and points at a section of docs/fidelity.md.
#[test]
fn allowlist_entries_point_at_sections_of_the_fidelity_doc() {
    let list = Allowlist::load(Path::new(ALLOWLIST)).unwrap();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fidelity.md")).unwrap();
    let anchors = anchors(&doc);
    assert!(!list.is_empty(), "the allowlist is expected to hold at least the UDP entry");
    for (pattern, reason, pointer) in list.entries() {
        assert!(reason.len() > 20, "{pattern}: say why");
        let anchor = pointer.strip_prefix("docs/fidelity.md#").unwrap_or_else(|| panic!("{pointer}"));
        assert!(anchors.iter().any(|a| a == anchor), "{pattern}: no section #{anchor} in docs/fidelity.md");
    }
}
