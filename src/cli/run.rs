//! `kube-netsim run FILE`: the whole timeline, with traces and expectation checks.

use super::out;
use std::path::PathBuf;

use sim_k8s::{plan::plan, run};

use super::{EXIT_OK, EXIT_UNMET, Format, load_quiet};
use crate::render::{self, ControlPlane, Detail};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario YAML (or a file of Kubernetes manifests).
    pub file: PathBuf,
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
    /// Capture every device's traffic into DIR, one pcap file per interface that saw
    /// frames: DIR/<netns>_<dev>.pcap (open with Wireshark or tshark; for VXLAN add
    /// `-d udp.port==8472,vxlan`).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Also print the load balancer's health checks, each with its packets (text
    /// format; the timeline shows only each target's first result and every change).
    #[arg(long)]
    pub health_checks: bool,
}

pub fn run(a: RunArgs) -> u8 {
    let mut s = match load_quiet(&a.file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    let mut input = plan(&s, true);
    input.capture = a.pcap.is_some();
    let mut report = run::run(input);
    if let Some(dir) = &a.pcap {
        let frames = report.world.net.capture.take();
        if let Err(e) = render::pcap::write_dir(dir, &frames) {
            eprintln!("error: cannot write the capture to {}: {e}", dir.display());
            return super::EXIT_BAD_INPUT;
        }
    }
    match a.format {
        Format::Text => {
            out!("{}", render::text::report(&report, a.detail, a.control_plane));
            if a.health_checks {
                out!("{}", render::health::report(&report, a.detail));
            }
        }
        Format::Json => out!("{}", render::json::report(&report, a.control_plane)),
    }
    if report.stop == sim_core::StopReason::EventBudget {
        eprintln!(
            "error: the run exceeded its budget of {} events and was stopped (seed {})",
            run::EVENT_BUDGET,
            report.seed
        );
    }
    if report.all_met() { EXIT_OK } else { EXIT_UNMET }
}
