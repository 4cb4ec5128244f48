//! `kube-netsim run --health-checks`: the load balancer's health checks, one block each
//! (when, from `lb` to which node and port, what came of it), with their packets at the
//! run's `--detail`. Off by default: a check every 8 s per node and Service would bury
//! the probes; the timeline already shows each target's first result and every change.

use std::fmt::Write;

use sim_k8s::run::RunReport;
use sim_net::hop::Step;

use super::Detail;

pub fn report(r: &RunReport, detail: Detail) -> String {
    let w = &r.world;
    let mut out = String::new();
    if w.health_checks.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nload balancer health checks:");
    for (i, hc) in w.health_checks.iter().enumerate() {
        let what = if hc.http { "GET /healthz" } else { "TCP connect" };
        let result = match hc.outcome {
            Some(o) => format!("{} ({})", o.word(), hc.detail),
            None => "did not finish before the end of the run".into(),
        };
        let _ = writeln!(
            out,
            "\ncheck {} at {}: {} -> {}:{} {what}: {result}",
            i + 1,
            hc.started,
            hc.netns,
            hc.dst,
            hc.port
        );
        let hops = w.hops.iter().filter(|h| h.tag == hc.tag).filter(|h| match detail {
            Detail::Hops => true,
            Detail::Packets => matches!(h.step, Step::Send | Step::Drop { .. }),
            Detail::Summary => false,
        });
        for h in hops {
            for line in h.line().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}
