//! What `run` and `trace` print at each `--detail` level, and the options they share:
//! `--seed`, `--proto http` (trace), and `--max-events` with its message and exit code.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary with `args`; (exit code, stdout, stderr).
fn kns(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim")).args(args).output().expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn http_scenario() -> String {
    root().join("scenarios/http-pod-to-pod.yaml").display().to_string()
}

/// The step word of every hop line ("   1.000060s pod-c   -   send   | ..."): a time,
/// a namespace, a device, then the step.
fn hop_steps(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let t = w.next()?;
            let is_time = t.strip_suffix('s').is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok());
            if !is_time {
                return None;
            }
            let (_ns, _dev, step) = (w.next()?, w.next()?, w.next()?);
            Some(step.to_string())
        })
        .collect()
}

#[test]
fn run_detail_packets_shows_only_sends_and_drops_and_summary_no_hops() {
    let f = http_scenario();
    let (code, hops, _) = kns(&["run", &f, "--control-plane", "none", "--detail", "hops"]);
    assert_eq!(code, 0);
    let all = hop_steps(&hops);
    assert!(all.iter().any(|s| s == "rx") && all.iter().any(|s| s == "route"), "{all:?}");

    let (code, packets, _) = kns(&["run", &f, "--control-plane", "none", "--detail", "packets"]);
    assert_eq!(code, 0);
    let steps = hop_steps(&packets);
    assert!(steps.iter().all(|s| s == "send" || s == "DROP"), "{steps:?}");
    assert!(steps.iter().any(|s| s == "send") && steps.iter().any(|s| s == "DROP"), "{steps:?}");
    let sends = all.iter().filter(|s| *s == "send").count();
    assert_eq!(steps.iter().filter(|s| *s == "send").count(), sends, "every send line of `hops` stays");
    assert!(packets.contains("=> reached") && packets.contains("[ok  ] result: reached"));

    let (code, summary, _) = kns(&["run", &f, "--control-plane", "none", "--detail", "summary"]);
    assert_eq!(code, 0);
    assert_eq!(hop_steps(&summary), Vec::<String>::new(), "{summary}");
    assert!(summary.contains("=> reached") && summary.contains("[ok  ] result: refused"), "{summary}");
}

#[test]
fn trace_takes_detail_and_an_http_probe() {
    let f = http_scenario();
    let args =
        ["trace", &f, "--from", "pod/a", "--to", "pod/c", "--proto", "http", "--control-plane", "none"];
    let (code, packets, err) = kns(&[&args[..], &["--detail", "packets"]].concat());
    assert_eq!(code, 0, "{err}");
    let steps = hop_steps(&packets);
    assert!(!steps.is_empty() && steps.iter().all(|s| s == "send" || s == "DROP"), "{packets}");
    assert!(packets.contains(" > 10.244.1.2.80: Flags [S]"), "the port defaults to 80: {packets}");
    assert!(packets.contains("client: HTTP/1.1 200 OK"), "{packets}");
    let (_, summary, _) = kns(&[&args[..], &["--detail", "summary"]].concat());
    assert!(hop_steps(&summary).is_empty() && summary.contains("=> reached"), "{summary}");
}

#[test]
fn trace_takes_a_seed() {
    let f = http_scenario();
    let first_syn = |seed: &str| {
        let args = ["trace", &f, "--from", "pod/a", "--to", "pod/c:80", "--proto", "tcp", "--seed", seed];
        let (code, out, _) = kns(&[&args[..], &["--detail", "packets"]].concat());
        assert_eq!(code, 0);
        out.lines().find(|l| l.contains("Flags [S],")).expect("a SYN").to_string()
    };
    assert_eq!(first_syn("5"), first_syn("5"));
    assert_ne!(first_syn("5"), first_syn("6"), "port and ISN come from the seed");
}

#[test]
fn an_exhausted_event_budget_is_reported_by_run_and_trace_alike() {
    let f = http_scenario();
    let msg = "error: the run exceeded its budget of 50 events and was stopped (seed 7)";
    let (code, _, err) = kns(&["run", &f, "--max-events", "50", "--detail", "summary"]);
    assert_eq!(code, 1);
    assert!(err.contains(msg), "{err}");
    let (code, _, err) = kns(&["trace", &f, "--from", "pod/a", "--to", "pod/c", "--max-events", "50"]);
    assert_eq!(code, 1);
    assert!(err.contains(msg), "{err}");
    let (code, _, err) = kns(&["trace", &f, "--from", "pod/a", "--to", "pod/c"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("budget"), "{err}");
}
