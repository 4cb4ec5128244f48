//! The text report: the control-plane timeline, then each step with every hop of its
//! packets, the outcome and the checks, then a summary. Deterministic: only simulated
//! time and seeded choices reach it.

use std::fmt::Write;

use sim_k8s::run::{RunReport, StepReport};
use sim_net::hop::Step;

use super::Detail;

pub fn report(r: &RunReport, detail: Detail) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario {} (seed {})", r.name, r.seed);
    for line in r.description.trim().lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push('\n');
    let first_step = r.steps.first().map(|s| s.probe.started);
    let _ = writeln!(out, "control plane:");
    for e in &r.world.timeline {
        if first_step.is_some_and(|t| e.time >= t) {
            continue;
        }
        let _ = writeln!(out, "  {:>10} {:<18} {}", e.time.to_string(), e.component, e.text);
    }
    for s in &r.steps {
        out.push('\n');
        step(&mut out, s, detail);
    }
    let later: Vec<_> = r.world.timeline.iter().filter(|e| first_step.is_some_and(|t| e.time >= t)).collect();
    if !later.is_empty() {
        let _ = writeln!(out, "\ncontrol plane (during the steps):");
        for e in later {
            let _ = writeln!(out, "  {:>10} {:<18} {}", e.time.to_string(), e.component, e.text);
        }
    }
    let (ok, total) = r.counts();
    let _ = writeln!(
        out,
        "\nsummary: {ok}/{total} expectations met{}",
        if r.all_met() { "" } else { " -- FAILED" }
    );
    if !r.all_met() {
        let _ = writeln!(out, "reproduce with: kube-netsim run FILE --seed {}", r.seed);
    }
    out
}

fn step(out: &mut String, s: &StepReport, detail: Detail) {
    let p = &s.probe;
    let _ = writeln!(out, "step {} at {}: probe {}", s.index, p.started, s.label);
    let shown = s.hops.iter().filter(|h| match detail {
        Detail::Hops => true,
        Detail::Packets => matches!(h.step, Step::Send | Step::Drop { .. }),
        Detail::Summary => false,
    });
    {
        for h in shown {
            for line in h.line().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    let outcome = match (&p.error, p.outcome) {
        (Some(e), _) => format!("could not start: {e}"),
        (None, Some(o)) => {
            let mut t = format!(
                "{} after {}",
                o.word(),
                p.finished.map(|f| f.saturating_since(p.started).to_string()).unwrap_or_default()
            );
            if let Some(r) = &p.responder {
                let _ = write!(t, ", answered by {r}");
            }
            if let Some(src) = p.seen_src {
                let _ = write!(t, " (it saw the request come from {src})");
            }
            if !p.detail.is_empty() {
                let _ = write!(t, "; client: {}", p.detail);
            }
            t
        }
        (None, None) => "did not finish".into(),
    };
    let _ = writeln!(out, "  => {outcome}");
    for c in &s.checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        if c.ok {
            let _ = writeln!(out, "  [{mark}] {}: {}", c.what, c.expected);
        } else {
            let _ = writeln!(out, "  [{mark}] {}: expected {}, got {}", c.what, c.expected, c.got);
        }
    }
}
