//! Every scenario in scenarios/: its text trace is an insta snapshot, it meets its own
//! expectations, and two runs give byte-identical text and JSON.

use std::path::{Path, PathBuf};

use kube_netsim::render::{self, ControlPlane, Detail};
use sim_k8s::{plan::plan, run, scenario};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios found in {}", dir.display());
    files
}

fn render_both(path: &Path) -> (String, String, bool) {
    let s = scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let report = run::run(plan(&s, true));
    (
        render::text::report(&report, Detail::Hops, ControlPlane::Summary),
        render::json::report(&report, ControlPlane::Full),
        report.all_met(),
    )
}

#[test]
fn every_scenario_meets_its_expectations_and_matches_its_snapshot() {
    for path in scenario_files() {
        let (text, _, ok) = render_both(&path);
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(ok, "{name}: expectations not met:\n{text}");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn two_runs_of_every_scenario_are_byte_identical() {
    for path in scenario_files() {
        let (t1, j1, _) = render_both(&path);
        let (t2, j2, _) = render_both(&path);
        assert!(t1 == t2, "{}: text differs between runs", path.display());
        assert!(j1 == j2, "{}: JSON differs between runs", path.display());
    }
}

#[test]
fn a_different_seed_changes_random_choices_but_not_outcomes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pod-to-pod.yaml");
    let mut s = scenario::load(&path).unwrap();
    let a = run::run(plan(&s, true));
    s.seed += 1;
    let b = run::run(plan(&s, true));
    let ta = render::text::report(&a, Detail::Hops, ControlPlane::Full);
    let tb = render::text::report(&b, Detail::Hops, ControlPlane::Full);
    assert_ne!(ta, tb, "MACs, veth names and ports come from the seed");
    assert!(a.all_met() && b.all_met());
}

#[test]
fn json_lines_are_valid_json_with_a_type() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pod-to-pod.yaml");
    let (_, json, _) = render_both(&path);
    let mut kinds = std::collections::BTreeSet::new();
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        kinds.insert(v["type"].as_str().expect("type field").to_string());
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["command", "event", "hop", "probe", "scenario", "summary", "watch"]
    );
}
