//! The twin's report: a summary line, then one row per item (`agree`, `DIFFER`,
//! `allowed`, `skipped`); for every difference both sides are printed, the simulator's
//! first, with the lines only one side has marked `-` (simulator) and `+` (kernel).
//! JSON: one object with the summary and every item. Exit status: 1 on any difference
//! that the allowlist does not accept, else 0.

use std::fmt::Write;

use serde::Serialize;

use super::compare::{Item, Status};

#[derive(Clone, Debug, Serialize)]
pub struct TwinReport {
    /// The namespace prefix of the run (removed from all kernel output).
    pub prefix: String,
    pub items: Vec<Item>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub agree: usize,
    pub differ: usize,
    pub allowed: usize,
    pub skipped: usize,
}

impl TwinReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for i in &self.items {
            match i.status {
                Status::Agree => s.agree += 1,
                Status::Differ => s.differ += 1,
                Status::Allowed { .. } => s.allowed += 1,
                Status::Skipped { .. } => s.skipped += 1,
            }
        }
        s
    }

    /// Items that fail the run.
    pub fn differences(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.status == Status::Differ)
    }

    pub fn exit_code(&self) -> u8 {
        u8::from(self.summary().differ > 0)
    }

    pub fn to_text(&self) -> String {
        let s = self.summary();
        let mut out = format!(
            "kernel twin: {} items: {} agree, {} differ, {} allowed, {} skipped\n",
            self.items.len(),
            s.agree,
            s.differ,
            s.allowed,
            s.skipped
        );
        let width = self.items.iter().map(|i| i.key.len()).max().unwrap_or(4).min(60);
        let _ = writeln!(out, "{:<8} {:<width$} RESULT", "STATUS", "ITEM");
        for i in &self.items {
            out.push_str(&row(i, width));
        }
        out
    }

    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            summary: Summary,
            #[serde(flatten)]
            report: &'a TwinReport,
        }
        serde_json::to_string_pretty(&Json { summary: self.summary(), report: self })
            .expect("the report serialises")
    }
}

fn row(i: &Item, width: usize) -> String {
    let one_line = !i.sim.contains('\n') && !i.kernel.contains('\n');
    match &i.status {
        Status::Agree if one_line => format!("{:<8} {:<width$} {}\n", "agree", i.key, i.sim),
        Status::Agree => format!("{:<8} {:<width$} ({} lines)\n", "agree", i.key, i.sim.lines().count()),
        Status::Skipped { why } => format!("{:<8} {:<width$} {why}\n", "skipped", i.key),
        Status::Differ => format!("{:<8} {:<width$}\n{}", "DIFFER", i.key, both_sides(i)),
        Status::Allowed { reason, doc } => {
            format!("{:<8} {:<width$} {reason} ({doc})\n{}", "allowed", i.key, both_sides(i))
        }
    }
}

/// Both sides, indented; a line present on one side only is marked.
fn both_sides(i: &Item) -> String {
    let mut out = String::new();
    for (label, text, other, mark) in
        [("simulator", &i.sim, &i.kernel, '-'), ("kernel", &i.kernel, &i.sim, '+')]
    {
        let _ = writeln!(out, "    {label}:");
        if text.is_empty() {
            out.push_str("      (empty)\n");
        }
        for l in text.lines() {
            let m = if other.lines().any(|o| o == l) { ' ' } else { mark };
            let _ = writeln!(out, "    {m} {l}");
        }
    }
    out
}
