//! The CLI as a user runs it: exit codes (0 met, 1 unmet, 2 bad input) and errors that
//! name FILE:LINE:COL.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `text` to a fresh file in a per-test temp dir and returns its path.
fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kube-netsim-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str], file: &Path) -> (i32, String, String) {
    let out = bin().args(args).arg(file).output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const POD: &str = "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n    spec: {nodeName: node-1, containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}\n";

#[test]
fn a_passing_scenario_exits_0() {
    let (code, out, _) = run(&["run"], &root().join("scenarios/pod-to-pod.yaml"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("summary: 17/17 expectations met"), "{out}");
}

#[test]
fn an_unmet_expectation_exits_1_and_says_how_to_reproduce() {
    let f = write(
        "unmet",
        &format!(
            "manifests:\n{POD}steps:\n  - at: 1s\n    probe: {{from: pod/a, to: \"pod/a:81\", proto: tcp}}\n    expect: {{result: reached}}\n"
        ),
    );
    let (code, out, _) = run(&["run"], &f);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[FAIL] result: expected reached, got refused"), "{out}");
    assert!(out.contains("reproduce with: kube-netsim run FILE --seed 0"), "{out}");
}

#[test]
fn bad_yaml_exits_2_with_file_line_and_column() {
    let f = write("badyaml", "name: x\nsteps: [\n  - at: 1s\n");
    let (code, _, err) = run(&["run"], &f);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{}:", f.display())), "{err}");
    assert!(
        err.lines().next().unwrap().split(':').nth(1).unwrap().parse::<u32>().is_ok(),
        "line number in {err}"
    );
}

#[test]
fn an_unknown_manifest_field_exits_2_naming_the_field_and_position() {
    let f = write(
        "unknown",
        "manifests:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n    spec: {nodeNam: node-1, containers: [{name: web, image: nginx}]}\n",
    );
    let (code, _, err) = run(&["validate"], &f);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown field") && err.contains("spec.nodeNam"), "{err}");
    assert!(err.contains(&format!("{}:5:", f.display())), "{err}");
}

#[test]
fn an_unknown_pod_in_a_probe_exits_2() {
    let f = write(
        "nopod",
        &format!(
            "manifests:\n{POD}steps:\n  - at: 1s\n    probe: {{from: pod/a, to: pod/zz, proto: icmp}}\n"
        ),
    );
    let (code, _, err) = run(&["validate"], &f);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"zz\"") && err.contains(&format!("{}:", f.display())), "{err}");
}

#[test]
fn overlapping_cidrs_exit_2() {
    let f = write("overlap", "cluster:\n  podNetwork: 10.0.0.0/8\n  serviceNetwork: 10.96.0.0/12\n");
    let (code, _, err) = run(&["validate"], &f);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("overlap"), "{err}");
    assert!(
        err.contains(&format!("{}:3:", f.display())) || err.contains(&format!("{}:2:", f.display())),
        "{err}"
    );
}

#[test]
fn trace_runs_one_adhoc_probe() {
    let out = bin()
        .args(["trace"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["--from", "pod/a", "--to", "pod/c:80", "--proto", "tcp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("=> reached"), "{text}");
    assert!(text.contains("Flags [S.]"), "{text}");
}

#[test]
fn trace_with_an_unknown_pod_exits_2() {
    let out = bin()
        .args(["trace"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["--from", "pod/nope", "--to", "pod/c"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn show_routes_prints_ip_route_of_a_node() {
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["routes", "--node", "node-1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("default via 192.168.1.1 dev eth0"), "{text}");
    assert!(text.contains("10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1"), "{text}");
    assert!(text.contains("10.244.1.0/24 via 192.168.1.12 dev eth0"), "{text}");
}

#[test]
fn show_commands_groups_ops_by_component() {
    let out =
        bin().args(["show"]).arg(root().join("scenarios/pod-to-pod.yaml")).arg("commands").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# kubelet/node-1 (cni-bridge)"), "{text}");
    assert!(text.contains("ip -n node-1 route add 10.244.1.0/24 via 192.168.1.12 dev eth0"), "{text}");
}

#[test]
fn show_pods_is_like_kubectl_get_pods_wide() {
    let out =
        bin().args(["show"]).arg(root().join("scenarios/pod-to-pod.yaml")).arg("pods").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE   IP           NODE     NOMINATED NODE   READINESS GATES"
    );
    // AGE is simulated time since the pod was created (at 0) until the state shown
    // (after the run: its last probe's end, 9 s).
    assert!(text.contains("\ndefault     c      1/1     Running   0          9s    10.244.1.2   node-2   <none>           <none>\n"), "{text}");
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["pods", "--node", "node-1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(names, ["a", "b"], "--node keeps node-1's pods: {text}");
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["pods", "--node", "node-9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node \"node-9\" (nodes: node-1, node-2)"));
}

#[test]
fn show_nodes_is_like_kubectl_get_nodes_wide() {
    let out =
        bin().args(["show"]).arg(root().join("scenarios/pod-to-pod.yaml")).arg("nodes").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "NAME     STATUS   ROLES    AGE   VERSION   INTERNAL-IP    EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME"
    );
    assert!(
        lines[2].starts_with("node-2   Ready    <none>   9s    v1.31.0   192.168.1.12   <none> "),
        "{text}"
    );
}

#[test]
fn iptables_trace_lists_every_outcome_of_a_random_split() {
    let rules = root().join("sim-net/tests/fixtures/netfilter/kube-proxy-basic.rules");
    let out = bin()
        .args(["iptables", "trace", "--rules"])
        .arg(&rules)
        .args([
            "--src",
            "10.244.1.6",
            "--dst",
            "10.96.100.10:80",
            "--in",
            "cni0",
            "--local-ip",
            "192.168.56.11",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("10.244.1.5:8080   50.0%  ACCEPT"), "{text}");
    assert!(text.contains("10.244.2.7:8080   50.0%  ACCEPT"), "{text}");
}

#[test]
fn iptables_check_of_a_non_dump_exits_2_with_a_position() {
    let out = bin()
        .args(["iptables", "check", "--rules"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pod-to-pod.yaml:1:1:"), "{err}");
}

#[test]
fn show_svc_is_like_kubectl_get_svc_with_the_allocated_node_port() {
    let out = bin().args(["show"]).arg(root().join("scenarios/nodeport.yaml")).arg("svc").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.starts_with("NAMESPACE   NAME         TYPE        CLUSTER-IP"), "{text}");
    assert!(text.contains("kubernetes   ClusterIP   10.96.0.1 "), "{text}");
    assert!(text.contains("NodePort") && text.contains("80:30080/TCP   app=web"), "{text}");
}

#[test]
fn show_iptables_prints_the_rules_kube_proxy_and_flannel_wrote() {
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/nodeport.yaml"))
        .args(["iptables", "--node", "node-2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web\" -m tcp --dport 30080 -j KUBE-EXT-"
        ),
        "{text}"
    );
    assert!(
        text.contains("-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG"),
        "{text}"
    );
}

#[test]
fn show_describe_svc_lists_the_ready_endpoints() {
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/readiness.yaml"))
        .args(["describe", "svc/web"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // Values start two columns after the longest key, "Internal Traffic Policy:".
    assert!(text.contains("Selector:                 app=web"), "{text}");
    // Both pods were made not ready by the end of the scenario.
    assert!(text.contains("Endpoints:                <none>"), "{text}");
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/readiness.yaml"))
        .args(["describe", "svc/nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn show_ingress_lists_the_ingresses_and_a_deprecated_version_warns_on_stderr() {
    let file = root().join("scenarios/ingress-v1beta1-seed.yaml");
    let out = bin().arg("show").arg(&file).arg("ingress").output().expect("binary runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("NAMESPACE   NAME              CLASS   HOSTS           ADDRESS"), "{stdout}");
    assert!(stdout.contains("test-ingress      nginx   test.name.com"), "{stdout}");
    assert_eq!(
        stderr.trim(),
        "Warning: extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress"
    );
    let (code, out, err) = run(&["run"], &file);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\nWarning: extensions/v1beta1 Ingress is deprecated"),
        "the report says it too: {out}"
    );
    assert!(err.is_empty(), "run prints the warning once, in its report: {err}");
}

#[test]
fn show_resolv_and_env_print_what_the_kubelet_gave_a_pod() {
    let file = root().join("scenarios/dns-service-discovery.yaml");
    let show = |args: &[&str]| {
        let out = bin().arg("show").arg(&file).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, text, _) = show(&["resolv", "--pod", "client"]);
    assert_eq!(code, Some(0));
    assert!(
        text.ends_with(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        ),
        "{text}"
    );
    let (_, text, _) = show(&["resolv", "--pod", "shop/api"]);
    assert!(text.contains("search shop.svc.cluster.local svc.cluster.local cluster.local\n"), "{text}");
    let (code, text, _) = show(&["env", "--pod", "client"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("\nKUBERNETES_SERVICE_HOST=10.96.0.1\n")
            && text.contains("\nWEB_SERVICE_PORT_HTTP=80\n"),
        "{text}"
    );
    let (code, _, err) = show(&["env", "--pod", "nobody"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no running pod \"nobody\""), "{err}");
    let (_, text, _) = show(&["pods"]);
    assert_eq!(text.lines().filter(|l| l.starts_with("kube-system   coredns-")).count(), 2, "{text}");
}

#[test]
fn show_pods_lists_a_host_port_clash_as_pending() {
    let out = bin().arg("show").arg(root().join("scenarios/hostnetwork.yaml")).arg("pods").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let status = |s: &str| text.lines().filter(|l| l.split_whitespace().nth(3) == Some(s)).count();
    assert_eq!((status("Pending"), status("NodePorts"), status("Running")), (1, 1, 3), "{text}");
}

#[test]
fn show_at_a_time_prints_the_state_of_that_instant() {
    let show = |what: &str, at: &str| {
        let out = bin()
            .args(["show"])
            .arg(root().join("scenarios/node-failure.yaml"))
            .args([what, "--at", at])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let nodes = show("nodes", "6s");
    assert!(nodes.contains("node-2   Ready "), "{nodes}");
    let nodes = show("nodes", "8s");
    assert!(nodes.contains("node-2   NotReady "), "{nodes}");
    let pods = show("pods", "13s");
    let node = |l: &str| l.split_whitespace().nth(7).map(str::to_string);
    assert!(
        pods.lines().any(|l| l.contains("Terminating") && node(l).as_deref() == Some("node-2")),
        "{pods}"
    );
    // The replacement pod was created at 13 s: AGE 0s.
    let age = |l: &str| l.split_whitespace().nth(5).map(str::to_string);
    assert!(
        pods.lines().any(|l| age(l).as_deref() == Some("0s") && node(l).as_deref() == Some("node-3")),
        "{pods}"
    );
    let out = bin()
        .args(["show"])
        .arg(root().join("scenarios/node-failure.yaml"))
        .args(["nodes", "--at", "8"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn control_plane_none_shows_only_packets_and_results() {
    let f = root().join("scenarios/udp-stale-conntrack.yaml");
    let (code, out, _) = run(&["run", "--control-plane", "none"], &f);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("control plane"), "{out}");
    assert!(!out.contains("kube-proxy/node-1"), "{out}");
    assert!(out.contains("=> reached"), "{out}");
    assert!(out.contains("summary: 15/15 expectations met"), "{out}");
}

#[test]
fn control_plane_summary_is_the_default() {
    let f = root().join("scenarios/udp-stale-conntrack.yaml");
    let (_, default, _) = run(&["run"], &f);
    let (_, summary, _) = run(&["run", "--control-plane", "summary"], &f);
    assert_eq!(default, summary);
    assert!(summary.contains("kube-proxy/node-1  conntrack: delete 1 stale UDP flow"), "{summary}");
    assert!(!summary.contains("$ ip netns exec node-1 conntrack -D"), "{summary}");
    assert!(!summary.contains("watch: "), "{summary}");
}

#[test]
fn control_plane_full_adds_every_command_and_watch_delivery_in_order() {
    let f = root().join("scenarios/udp-stale-conntrack.yaml");
    let (code, out, _) = run(&["run", "--control-plane", "full", "--detail", "summary"], &f);
    assert_eq!(code, 0, "{out}");
    // After the delete: kube-proxy gets the slice change, restores, then cleans up.
    let after = &out[out.find("kubectl            delete pod/echo-a").expect("the delete is logged")..];
    let pos = |needle: &str| after.find(needle).unwrap_or_else(|| panic!("{needle:?} missing:\n{after}"));
    let watch = pos("kube-proxy/node-1  watch: MODIFIED EndpointSlice default/echo-");
    let restore = pos("kube-proxy/node-1  $ ip netns exec node-1 iptables-restore -w --noflush <<'EOF'");
    let delete = pos("kube-proxy/node-1  $ ip netns exec node-1 conntrack -D -p udp --orig-dst ");
    assert!(watch < restore && restore < delete, "{out}");
    // A restore's input follows its command line, indented.
    assert!(out.contains(&format!("\n{}*nat\n", " ".repeat(34))), "{out}");
    // kube-proxy has no pod informer: no pod deliveries for it.
    assert!(!out.contains("kube-proxy/node-1  watch: ADDED Pod"), "{out}");
    assert!(out.contains("kubelet/node-2     watch: ADDED Pod default/echo-b"), "{out}");
}

#[test]
fn control_plane_full_in_json_has_command_and_watch_records() {
    let f = root().join("scenarios/udp-stale-conntrack.yaml");
    let (code, out, _) = run(&["run", "--format", "json", "--control-plane", "full"], &f);
    assert_eq!(code, 0);
    let kinds: std::collections::BTreeSet<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains("command") && kinds.contains("watch") && kinds.contains("event"), "{kinds:?}");
    let (_, none, _) = run(&["run", "--format", "json", "--control-plane", "none"], &f);
    assert!(!none.contains("\"type\":\"event\""), "{none}");
}

#[test]
fn trace_takes_control_plane_too() {
    let out = bin()
        .args(["trace"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["--from", "pod/a", "--to", "pod/c:80", "--proto", "tcp", "--control-plane", "full"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("$ ip netns add pod-a"), "{text}");
    let none = bin()
        .args(["trace"])
        .arg(root().join("scenarios/pod-to-pod.yaml"))
        .args(["--from", "pod/a", "--to", "pod/c:80", "--proto", "tcp", "--control-plane", "none"])
        .output()
        .unwrap();
    let none = String::from_utf8_lossy(&none.stdout);
    assert!(!none.contains("CNI ADD"), "{none}");
    assert!(none.contains("=> reached"), "{none}");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = bin()
        .args(["run", "--detail", "hops"])
        .arg(root().join("scenarios/clusterip.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kube-netsim");
    // Like `| head -c 64`: read a little, then close the pipe while output remains.
    let mut first = [0u8; 64];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("some output");
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
    let status = child.wait().expect("wait");
    assert!(String::from_utf8_lossy(&first).starts_with("scenario clusterip"));
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
}
