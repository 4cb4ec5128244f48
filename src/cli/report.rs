//! What `run` and `trace` share once the scenario is loaded: the seed override, the event
//! budget, printing the report (format, detail, control plane), the message for a run
//! that ran out of events, and the exit code that follows.

use sim_k8s::run::{self, RunInput, RunReport};
use sim_k8s::scenario::Scenario;

use super::{EXIT_OK, EXIT_UNMET, Format, out};
use crate::render::{self, ControlPlane, Detail};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// How much of each trace the text output shows.
    #[arg(long, value_enum, default_value = "hops")]
    pub detail: Detail,
    /// How much of the control plane (text and JSON) shows: none, summary (each
    /// component's report lines) or full (also every dataplane command and every watch
    /// event delivered to a controller).
    #[arg(long, value_enum, default_value = "summary")]
    pub control_plane: ControlPlane,
    /// Stop the run after this many simulation events, as runaway: the output so far is
    /// printed, then an error on stderr, and the exit code is 1.
    #[arg(long, value_name = "N", default_value_t = run::EVENT_BUDGET)]
    pub max_events: u64,
}

impl ReportArgs {
    /// The scenario with `--seed` applied.
    pub fn scenario(&self, mut s: Scenario) -> Scenario {
        if let Some(seed) = self.seed {
            s.seed = seed;
        }
        s
    }

    /// The run input with `--max-events` applied.
    pub fn input(&self, input: RunInput) -> RunInput {
        RunInput { max_events: self.max_events, ..input }
    }

    /// Prints the report (plus `extra` for text output) and says on stderr if the run
    /// ran out of events. Returns whether it did.
    pub fn print(&self, report: &RunReport, extra: impl FnOnce() -> String) -> bool {
        match self.format {
            Format::Text => {
                out!("{}", render::text::report(report, self.detail, self.control_plane));
                let more = extra();
                if !more.is_empty() {
                    out!("{more}");
                }
            }
            Format::Json => out!("{}", render::json::report(report, self.control_plane)),
        }
        let exhausted = report.stop == sim_core::StopReason::EventBudget;
        if exhausted {
            eprintln!(
                "error: the run exceeded its budget of {} events and was stopped (seed {})",
                report.max_events, report.seed
            );
        }
        exhausted
    }

    /// `run`'s exit code: 0 when every expectation is met and the run finished.
    pub fn exit_code(report: &RunReport) -> u8 {
        if report.all_met() { EXIT_OK } else { EXIT_UNMET }
    }
}
