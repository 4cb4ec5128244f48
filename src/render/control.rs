//! The control plane as the renderers show it, at the chosen `--control-plane` level:
//! `none`, `summary` (the timeline lines the components log: syncs, CNI ADD, endpoint
//! changes) or `full` (those, every dataplane command as it would be typed, and every
//! watch event delivered to a controller), in the order they happened.

use sim_core::SimTime;
use sim_k8s::store::WatchKind;
use sim_k8s::world::{JournalRef, KubeWorld};

use super::ControlPlane;

/// One control-plane record ready to print.
pub struct Line {
    pub time: SimTime,
    pub component: String,
    pub kind: LineKind,
}

pub enum LineKind {
    /// A component's own timeline line.
    Event(String),
    /// A dataplane command (possibly several lines, e.g. an iptables-restore input) and
    /// its error, if the dataplane refused it.
    Command { text: String, error: Option<String> },
    /// A watch event delivered to the component.
    Watch { kind: &'static str, object: String, resource_version: u64 },
}

/// The records `level` shows, in journal order.
pub fn lines(w: &KubeWorld, level: ControlPlane) -> Vec<Line> {
    let mut out = Vec::new();
    if level == ControlPlane::None {
        return out;
    }
    for r in &w.journal {
        match *r {
            JournalRef::Timeline(i) => {
                let e = &w.timeline[i];
                out.push(Line {
                    time: e.time,
                    component: e.component.clone(),
                    kind: LineKind::Event(e.text.clone()),
                });
            }
            JournalRef::Command(i) if level == ControlPlane::Full => {
                let c = &w.commands[i];
                let kind = LineKind::Command { text: c.op.to_string(), error: c.error.clone() };
                out.push(Line { time: c.time, component: c.component.clone(), kind });
            }
            JournalRef::Delivery(i) if level == ControlPlane::Full => {
                let d = &w.deliveries[i];
                let ev = &w.store.log[d.watch];
                let key = ev.object.key();
                let object = if key.namespace.is_empty() {
                    format!("{} {}", key.kind, key.name)
                } else {
                    format!("{} {}/{}", key.kind, key.namespace, key.name)
                };
                let kind = match ev.kind {
                    WatchKind::Added => "ADDED",
                    WatchKind::Modified => "MODIFIED",
                    WatchKind::Deleted => "DELETED",
                };
                let kind = LineKind::Watch { kind, object, resource_version: ev.resource_version };
                out.push(Line { time: d.time, component: d.controller.clone(), kind });
            }
            JournalRef::Command(_) | JournalRef::Delivery(_) => {}
        }
    }
    out
}

/// The text form: `  TIME COMPONENT TEXT`, commands after `$ ` with their further
/// lines indented under the first.
pub fn text_line(l: &Line) -> String {
    let head = format!("  {:>10} {:<18} ", l.time.to_string(), l.component);
    match &l.kind {
        LineKind::Event(t) => format!("{head}{t}"),
        LineKind::Watch { kind, object, resource_version } => {
            format!("{head}watch: {kind} {object} (resourceVersion {resource_version})")
        }
        LineKind::Command { text, error } => {
            let pad = " ".repeat(head.chars().count() + 2);
            let mut s = format!("{head}$ ");
            for (i, line) in text.lines().enumerate() {
                if i > 0 {
                    s.push('\n');
                    s.push_str(&pad);
                }
                s.push_str(line);
            }
            if let Some(e) = error {
                s.push_str(&format!("\n{pad}-> failed: {e}"));
            }
            s
        }
    }
}
