//! `kube-netsim run FILE`: the whole timeline, with traces and expectation checks.

use std::path::PathBuf;

use sim_k8s::{plan::plan, run};

use super::load_quiet;
use super::report::ReportArgs;
use crate::render;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario YAML (or a file of Kubernetes manifests).
    pub file: PathBuf,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Capture every device's traffic into DIR, one pcap file per interface that saw
    /// frames: DIR/<netns>_<dev>.pcap (open with Wireshark or tshark; for VXLAN add
    /// `-d udp.port==8472,vxlan`). DIR is created if needed; every *.pcap file already
    /// in it is deleted first, so it holds only this run's captures.
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Also print the load balancer's health checks, each with its packets (text
    /// format; the timeline shows only each target's first result and every change).
    #[arg(long)]
    pub health_checks: bool,
}

pub fn run(a: RunArgs) -> u8 {
    let s = match load_quiet(&a.file) {
        Ok(s) => a.report.scenario(s),
        Err(code) => return code,
    };
    let mut input = a.report.input(plan(&s, true));
    input.capture = a.pcap.is_some();
    let mut report = run::run(input);
    if let Some(dir) = &a.pcap {
        let frames = report.world.net.capture.take();
        if let Err(e) = render::pcap::write_dir(dir, &frames) {
            eprintln!("error: cannot write the capture to {}: {e}", dir.display());
            return super::EXIT_BAD_INPUT;
        }
    }
    let detail = a.report.detail;
    let health = || if a.health_checks { render::health::report(&report, detail) } else { String::new() };
    a.report.print(&report, health);
    ReportArgs::exit_code(&report)
}
