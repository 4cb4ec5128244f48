//! JSON Lines: one object per line, `type` first: `scenario`, `event` (control plane),
//! `command` and `watch` (control plane, `--control-plane full`), `hop`, `probe`,
//! `summary`. The schema is documented in docs/trace-format.md.

use serde_json::{Value, json};
use sim_k8s::run::RunReport;

use super::ControlPlane;
use super::control::{self, LineKind};

pub fn report(r: &RunReport, cp: ControlPlane) -> String {
    let mut lines: Vec<Value> = vec![
        json!({"type": "scenario", "name": r.name, "seed": r.seed, "description": r.description, "warnings": r.warnings}),
    ];
    for l in control::lines(&r.world, cp) {
        let (t, c) = (l.time.as_nanos(), l.component);
        lines.push(match l.kind {
            LineKind::Event(text) => json!({"type": "event", "time_ns": t, "component": c, "text": text}),
            LineKind::Command { text, error } => {
                json!({"type": "command", "time_ns": t, "component": c, "command": text, "error": error})
            }
            LineKind::Watch { kind, object, resource_version } => json!({
                "type": "watch", "time_ns": t, "component": c, "event": kind, "object": object,
                "resource_version": resource_version
            }),
        });
    }
    for s in &r.steps {
        for h in &s.hops {
            let mut v = serde_json::to_value(h).expect("hops serialize");
            v.as_object_mut().expect("a hop is an object").insert("type".into(), json!("hop"));
            v["step_index"] = json!(s.index);
            lines.push(v);
        }
        let p = &s.probe;
        lines.push(json!({
            "type": "probe",
            "step_index": s.index,
            "label": s.label,
            "start_ns": p.started.as_nanos(),
            "end_ns": p.finished.map(|t| t.as_nanos()),
            "src_netns": p.src_netns,
            "dst": p.dst.map(|d| d.to_string()),
            "outcome": p.outcome.map(|o| o.word()).or(p.unresolved.as_ref().map(|_| "unresolved")),
            "error": p.error,
            "unresolved": p.unresolved,
            "lookup": p.lookup.as_ref().map(|l| json!({
                "name": l.name,
                "nameserver": l.server.ip().to_string(),
                "queries": l.queries.iter().map(|q| json!({"name": q.name, "answer": q.answer})).collect::<Vec<_>>(),
            })),
            "detail": p.detail,
            "responder": p.responder,
            "seen_source": p.seen_src.map(|s| s.to_string()),
            "http_status": p.status,
            "answer": p.answer,
            "checks": s.checks.iter().map(|c| json!({"what": c.what, "expected": c.expected, "got": c.got, "ok": c.ok})).collect::<Vec<_>>(),
        }));
    }
    let (ok, total) = r.counts();
    lines.push(json!({"type": "summary", "met": ok, "total": total, "ok": r.all_met()}));
    let mut out = String::new();
    for l in lines {
        out.push_str(&serde_json::to_string(&l).expect("json values serialize"));
        out.push('\n');
    }
    out
}
