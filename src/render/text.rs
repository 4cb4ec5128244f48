//! The text report: the control-plane timeline, then each step with every hop of its
//! packets, the outcome and the checks, then a summary. Deterministic: only simulated
//! time and seeded choices reach it.

use std::fmt::Write;

use sim_k8s::run::{RunReport, StepReport};
use sim_net::hop::Step;

use super::control::{self, text_line};
use super::{ControlPlane, Detail};

pub fn report(r: &RunReport, detail: Detail, cp: ControlPlane) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario {} (seed {})", r.name, r.seed);
    for line in r.description.trim().lines() {
        let _ = writeln!(out, "  {line}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "Warning: {w}");
    }
    out.push('\n');
    let first_step = r.steps.first().map(|s| s.probe.started);
    let (before, later): (Vec<_>, Vec<_>) =
        control::lines(&r.world, cp).into_iter().partition(|l| first_step.is_none_or(|t| l.time < t));
    if cp != ControlPlane::None {
        let _ = writeln!(out, "control plane:");
    }
    for l in &before {
        let _ = writeln!(out, "{}", text_line(l));
    }
    for (i, s) in r.steps.iter().enumerate() {
        match s.repeat {
            // Later repetitions of a probe: one line each, then the split.
            Some((k, n)) if k > 1 => {
                repetition(&mut out, s);
                if k == n {
                    split(&mut out, &r.steps[i + 1 - n as usize..=i]);
                }
            }
            _ => {
                out.push('\n');
                step(&mut out, s, detail);
            }
        }
    }
    if !later.is_empty() {
        let _ = writeln!(out, "\ncontrol plane (during the steps):");
        for l in &later {
            let _ = writeln!(out, "{}", text_line(l));
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

/// One line for a later repetition of a probe step (the first one shows the trace).
fn repetition(out: &mut String, s: &StepReport) {
    let p = &s.probe;
    let (k, n) = s.repeat.expect("only repetitions");
    let what = match (&p.error, p.outcome) {
        (Some(e), _) => format!("could not start: {e}"),
        (None, Some(o)) => match &p.responder {
            Some(r) => format!("{} {r}", o.word()),
            None => o.word().to_string(),
        },
        (None, None) if p.unresolved.is_some() => "unresolved".into(),
        (None, None) => "did not finish".into(),
    };
    let failed: Vec<String> = s
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("[FAIL] {}: expected {}, got {}", c.what, c.expected, c.got))
        .collect();
    let line = format!("  {k:>4}/{n} at {}: {what} {}", p.started, failed.join(" "));
    let _ = writeln!(out, "{}", line.trim_end());
}

/// Who answered how often, over all repetitions of one probe step.
fn split(out: &mut String, group: &[StepReport]) {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for s in group {
        let who = match (&s.probe.responder, s.probe.outcome) {
            (Some(r), _) => r.clone(),
            (None, Some(o)) => format!("({})", o.word()),
            (None, None) => "(unfinished)".to_string(),
        };
        *counts.entry(who).or_default() += 1;
    }
    let total = group.len();
    let parts: Vec<String> = counts
        .iter()
        .map(|(who, c)| format!("{who} {c} ({:.0}%)", 100.0 * *c as f64 / total as f64))
        .collect();
    let _ = writeln!(out, "  split over {total} probes: {}", parts.join(", "));
}

fn step(out: &mut String, s: &StepReport, detail: Detail) {
    let p = &s.probe;
    match s.repeat {
        Some((1, n)) => {
            let _ = writeln!(
                out,
                "step {} at {}: probe {} (1 of {n}; the others follow, one line each)",
                s.index, p.started, s.label
            );
        }
        _ => {
            let _ = writeln!(out, "step {} at {}: probe {}", s.index, p.started, s.label);
        }
    }
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
    if let Some(l) = &p.lookup {
        let _ = writeln!(out, "  lookup {} (nameserver {}):", l.name, l.server.ip());
        for q in &l.queries {
            let _ = writeln!(out, "    A? {} -> {}", q.name, q.answer.as_deref().unwrap_or("no answer"));
        }
    }
    let outcome = match (&p.error, p.outcome) {
        (Some(e), _) => format!("could not start: {e}"),
        (None, None) if p.unresolved.is_some() => {
            format!("unresolved: {}", p.unresolved.as_deref().unwrap_or_default())
        }
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
    // An HTTP answer's body: http-echo names the pod, the client it saw and the
    // headers a proxy added; an ingress controller's own answers show as they are.
    if let Some(body) = &p.answer {
        for line in body.lines() {
            let _ = writeln!(out, "     | {line}");
        }
    }
    for c in &s.checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        if c.ok {
            let _ = writeln!(out, "  [{mark}] {}: {}", c.what, c.expected);
        } else {
            let _ = writeln!(out, "  [{mark}] {}: expected {}, got {}", c.what, c.expected, c.got);
        }
    }
}
