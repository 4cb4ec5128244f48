//! Running a scenario: build the world from a resolved plan, run the timeline on
//! simulated time, then check every step's expectations against what the trace and
//! the probe clients saw.

use std::net::Ipv4Addr;

use sim_core::{Limits, SimDuration, SimTime, StopReason};
use sim_net::hop::{Hop, Step};
use sim_net::stack::ProbeOutcome;

use crate::cluster::ClusterConfig;
use crate::model::Pod;
use crate::world::{KubeWorld, ProbePlan, ProbeRecord, Target};

/// What a step expects. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    pub result: Option<ExpectedResult>,
    /// Glob over `pod/NAME` / `node/NAME` of whoever answered.
    pub at: Option<String>,
    /// The source address the answering side saw.
    pub source: Option<Target>,
    /// Labels (namespace or device names) that must appear in the trace in this order.
    pub via: Vec<String>,
    /// The HTTP status code of the answer.
    pub status: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedResult {
    Reached,
    Refused,
    Unreachable,
    /// No answer, and the trace shows where the packet was dropped.
    Dropped,
    /// No answer (dropped or lost; any reason).
    Timeout,
    /// The name of the target did not resolve.
    Unresolved,
}

impl ExpectedResult {
    pub fn word(self) -> &'static str {
        match self {
            Self::Reached => "reached",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::Dropped => "dropped",
            Self::Timeout => "timeout",
            Self::Unresolved => "unresolved",
        }
    }
}

#[derive(Clone, Debug)]
pub struct StepPlan {
    pub probe: ProbePlan,
    pub expect: Option<Expect>,
    /// How the scenario wrote the probe, for output (`pod/a -> pod/b (icmp)`).
    pub label: String,
    /// `Some((k, n))` for the k-th (from 1) of n repetitions of one probe step.
    pub repeat: Option<(u32, u32)>,
}

/// Everything needed to run: the cluster, the objects, the timeline.
#[derive(Clone, Debug)]
pub struct RunInput {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub cluster: ClusterConfig,
    pub pods: Vec<Pod>,
    /// Services, Deployments, ReplicaSets and EndpointSlices to create at t = 0.
    pub objects: Vec<crate::store::Object>,
    pub steps: Vec<StepPlan>,
    /// Timeline actions other than probes (delete, setReady, scale), with their times.
    pub actions: Vec<(SimTime, crate::world::WorldAction)>,
    pub trace: bool,
    /// kubectl's `Warning:` lines for the manifests (deprecated API versions).
    pub warnings: Vec<String>,
    /// Record every frame on every device for `--pcap` (`sim_net::capture`).
    pub capture: bool,
    /// Stop the timeline at this instant (`show --at`) instead of 1 s after the last
    /// probe's timeout or action.
    pub until: Option<SimTime>,
    /// Events the run may take before it is stopped as runaway ([`EVENT_BUDGET`]).
    pub max_events: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub expected: String,
    pub got: String,
    pub ok: bool,
}

#[derive(Clone, Debug)]
pub struct StepReport {
    pub index: usize,
    pub label: String,
    pub probe: ProbeRecord,
    pub checks: Vec<Check>,
    pub hops: Vec<Hop>,
    /// `Some((k, n))` for the k-th of n repetitions of one probe step.
    pub repeat: Option<(u32, u32)>,
}

pub struct RunReport {
    pub name: String,
    pub warnings: Vec<String>,
    pub description: String,
    pub seed: u64,
    pub world: KubeWorld,
    pub steps: Vec<StepReport>,
    pub stop: StopReason,
    /// The event budget the run had (`stop` says whether it ran out).
    pub max_events: u64,
}

impl RunReport {
    pub fn all_met(&self) -> bool {
        self.steps.iter().all(|s| s.checks.iter().all(|c| c.ok)) && self.stop != StopReason::EventBudget
    }
    pub fn counts(&self) -> (usize, usize) {
        let all: Vec<&Check> = self.steps.iter().flat_map(|s| s.checks.iter()).collect();
        (all.iter().filter(|c| c.ok).count(), all.len())
    }
}

/// Events a run may take before it is declared runaway.
pub const EVENT_BUDGET: u64 = 2_000_000;

pub fn run(input: RunInput) -> RunReport {
    let (mut world, mut q) = KubeWorld::new(input.cluster.clone(), input.seed, input.trace);
    world.net.capture.enabled = input.capture;
    for pod in input.pods {
        world.create_pod(pod, SimTime::ZERO, &mut q);
    }
    for obj in input.objects {
        world.create(obj, SimTime::ZERO, &mut q);
    }
    for s in &input.steps {
        world.add_probe(s.probe.clone(), &mut q);
    }
    for (at, a) in &input.actions {
        world.add_action(*at, a.clone(), &mut q);
    }
    let last_action = input.actions.iter().map(|(t, _)| *t).max().unwrap_or(SimTime::ZERO);
    let horizon = input
        .steps
        .iter()
        .map(|s| s.probe.at + s.probe.timeout)
        .max()
        .unwrap_or(SimTime::ZERO)
        .max(last_action);
    let until = input.until.unwrap_or(horizon + SimDuration::from_secs(1));
    let (world, stop) = world.run(q, Limits { until, max_events: input.max_events });
    let mut steps = Vec::new();
    for (i, s) in input.steps.iter().enumerate() {
        let probe = world.probes[i].clone();
        let hops: Vec<Hop> = world.hops.iter().filter(|h| h.tag == probe.tag).cloned().collect();
        let checks = s.expect.as_ref().map(|e| check(&world, &probe, &hops, e)).unwrap_or_default();
        steps.push(StepReport {
            index: i + 1,
            label: s.label.clone(),
            probe,
            checks,
            hops,
            repeat: s.repeat,
        });
    }
    RunReport {
        name: input.name,
        warnings: input.warnings,
        description: input.description,
        seed: input.seed,
        world,
        steps,
        stop,
        max_events: input.max_events,
    }
}

fn outcome_word(p: &ProbeRecord) -> String {
    match (&p.error, p.outcome) {
        (Some(e), _) => format!("error: {e}"),
        (None, None) if p.unresolved.is_some() => "unresolved".to_string(),
        (None, Some(o)) => o.word().to_string(),
        (None, None) => "unfinished".to_string(),
    }
}

/// A drop hop that can explain a silent probe: any but a flooded frame's copy that a
/// host ignores because it is addressed to another host's MAC (the copy that matters
/// went on elsewhere, or was lost where no hop could see it, such as a link that is down).
fn drops_the_probe(h: &Hop) -> bool {
    matches!(h.step, Step::Drop { reason } if reason != sim_net::hop::DropReason::NotForThisHost)
}

fn check(world: &KubeWorld, p: &ProbeRecord, hops: &[Hop], e: &Expect) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(r) = e.result {
        // Only drops before the client gave up explain its silence (a late answer
        // that finds no socket is dropped too, but it did come).
        let in_time = |h: &&Hop| p.finished.is_none_or(|f| h.time <= f);
        let dropped = hops.iter().filter(in_time).any(drops_the_probe);
        let ok = match r {
            ExpectedResult::Reached => p.outcome == Some(ProbeOutcome::Reached),
            ExpectedResult::Refused => p.outcome == Some(ProbeOutcome::Refused),
            ExpectedResult::Unreachable => p.outcome == Some(ProbeOutcome::Unreachable),
            // `timeout` is strict: nothing answered *and* no hop dropped the probe's
            // packets (else it is `dropped`, which names where they died).
            ExpectedResult::Timeout => p.outcome == Some(ProbeOutcome::Timeout) && !dropped,
            ExpectedResult::Dropped => p.outcome == Some(ProbeOutcome::Timeout) && dropped,
            ExpectedResult::Unresolved => p.unresolved.is_some(),
        } && p.error.is_none();
        let mut got = outcome_word(p);
        if p.outcome == Some(ProbeOutcome::Timeout) && dropped {
            got.push_str(" (dropped)");
        }
        out.push(Check { what: "result".into(), expected: r.word().into(), got, ok });
    }
    if let Some(glob) = &e.at {
        let got = p.responder.clone().unwrap_or_else(|| "nobody".into());
        out.push(Check {
            what: "at".into(),
            expected: glob.clone(),
            got: got.clone(),
            ok: glob_match(glob, &got),
        });
    }
    if let Some(src) = &e.source {
        let want = resolve_ip(world, src);
        let got = p.seen_src.map(|i| i.to_string()).unwrap_or_else(|| "nothing seen".into());
        let expected = match (src, want) {
            (Target::Ip(ip), _) => ip.to_string(),
            (t, Some(ip)) => format!("{} ({ip})", target_label(t)),
            (t, None) => format!("{} (no address)", target_label(t)),
        };
        let ok = want.is_some() && want == p.seen_src;
        out.push(Check { what: "source".into(), expected, got, ok });
    }
    if let Some(want) = e.status {
        let got = p.status.map_or_else(|| "no HTTP answer".to_string(), |s| s.to_string());
        out.push(Check {
            what: "status".into(),
            expected: want.to_string(),
            got,
            ok: p.status == Some(want),
        });
    }
    if !e.via.is_empty() {
        let (ok, missing) = via_match(&e.via, hops);
        let got =
            if ok { "all, in order".into() } else { format!("missing {missing:?} (after the earlier ones)") };
        out.push(Check { what: "via".into(), expected: e.via.join(" > "), got, ok });
    }
    out
}

/// `pod/NAME` in the default namespace, `pod/NS/NAME` elsewhere.
pub fn pod_label(namespace: &str, name: &str) -> String {
    if namespace == crate::model::DEFAULT_NAMESPACE {
        format!("pod/{name}")
    } else {
        format!("pod/{namespace}/{name}")
    }
}

pub fn target_label(t: &Target) -> String {
    match t {
        Target::Pod { namespace, name } => pod_label(namespace, name),
        Target::Node(n) => format!("node/{n}"),
        Target::Client(c) => format!("client/{c}"),
        Target::Service { namespace, name } if namespace == crate::model::DEFAULT_NAMESPACE => {
            format!("svc/{name}")
        }
        Target::Service { namespace, name } => format!("svc/{namespace}/{name}"),
        Target::LoadBalancer { namespace, name } if namespace == crate::model::DEFAULT_NAMESPACE => {
            format!("lb/{name}")
        }
        Target::LoadBalancer { namespace, name } => format!("lb/{namespace}/{name}"),
        Target::Ip(ip) => ip.to_string(),
        Target::Name(n) => n.clone(),
    }
}

fn resolve_ip(world: &KubeWorld, t: &Target) -> Option<Ipv4Addr> {
    match t {
        Target::Ip(ip) => Some(*ip),
        Target::Node(n) => crate::cluster::node(&world.cluster, n).map(|n| n.ip),
        Target::Client(c) => world.cluster.clients.iter().find(|x| &x.name == c).map(|x| x.ip),
        Target::Service { namespace, name } => {
            match world.store.service(namespace, name).map(|s| &s.cluster_ip) {
                Some(crate::model::service::ClusterIp::Ip(ip)) => Some(*ip),
                _ => None,
            }
        }
        Target::Pod { namespace, name } => world.store.pod(namespace, name).and_then(|(_, s)| s.pod_ip),
        Target::LoadBalancer { namespace, name } => {
            world.store.service(namespace, name).and_then(|s| s.load_balancer_ingress.first()).map(|i| i.ip)
        }
        Target::Name(_) => None,
    }
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Each label must match a hop's namespace or device (`pod/NAME` and `pod/NS/NAME` stand
/// for the pod's namespace; `*` matches any run of characters), in order. Returns the
/// first label that could not be found.
fn via_match(labels: &[String], hops: &[Hop]) -> (bool, String) {
    let tokens: Vec<(String, Option<String>)> =
        hops.iter().map(|h| (h.netns.clone(), h.dev.clone())).collect();
    let mut i = 0;
    for label in labels {
        let want_ns = label
            .strip_prefix("pod/")
            .map(|p| match p.split_once('/') {
                Some((ns, name)) => crate::cluster::pod_netns(ns, name),
                None => format!("pod-{p}"),
            })
            .or_else(|| label.strip_prefix("node/").map(str::to_string));
        let found = tokens[i..].iter().position(|(ns, dev)| match &want_ns {
            Some(n) => glob_match(n, ns),
            None => glob_match(label, ns) || dev.as_deref().is_some_and(|d| glob_match(label, d)),
        });
        match found {
            Some(p) => i += p + 1,
            None => return (false, label.clone()),
        }
    }
    (true, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_prefixes_suffixes_and_middles() {
        assert!(glob_match("pod/c*", "pod/c-1"));
        assert!(glob_match("pod/*", "pod/web-1"));
        assert!(glob_match("*-1", "pod/web-1"));
        assert!(glob_match("pod/b", "pod/b"));
        assert!(!glob_match("pod/b", "pod/bb"));
        assert!(!glob_match("pod/c*", "node/c"));
        assert!(glob_match("p*d/*b", "pod/b"));
    }
}
