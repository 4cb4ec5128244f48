//! Helpers for `tests/invariants.rs`: generated clusters (`cluster`), the probes each
//! property sends (`probes`), the scenario YAML a counterexample prints as (`yaml`),
//! reading a probe's trace (`trace`), and here the harness: run a case, then apply a
//! property's checks to every probe, failing with the step, the reason and its trace.

pub mod cluster;
pub mod probes;
pub mod services;
pub mod trace;
pub mod yaml;

use proptest::strategy::Strategy;
use proptest::test_runner::{
    Config, FileFailurePersistence, TestCaseError, TestError, TestRunner, contextualize_config,
};
use sim_core::StopReason;
use sim_k8s::run::{ExpectedResult, RunReport, StepReport, run};
use sim_net::packet::IpProto;
use sim_net::stack::ProbeOutcome;

use probes::{Case, End, PlannedProbe};
use trace::{Addrs, Phase};

/// Shrinking steps after a failure (proptest's default scales with the case count,
/// which leaves a 32-case run with 128 steps: too few to reach a small cluster).
const MAX_SHRINK_ITERS: u32 = 4096;
/// A cap on shrinking time: a run that hits its event budget costs seconds, so a
/// runaway failure would otherwise shrink for a long time. Normal runs cost
/// milliseconds, and shrinking finishes long before this.
const MAX_SHRINK_TIME_MS: u32 = 60_000;

/// Runs a property: `cases` generated cases by default (`PROPTEST_CASES` overrides it),
/// failures saved next to `source_file` as `<file>.proptest-regressions` and replayed
/// first on later runs. On failure, panics with the reason and the shrunk case as a
/// scenario file.
pub fn check_property(
    source_file: &'static str,
    name: &str,
    cases: u32,
    strategy: impl Strategy<Value = Case>,
    test: impl Fn(&Case) -> Result<(), String>,
) {
    let config = contextualize_config(Config {
        cases,
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        max_shrink_iters: MAX_SHRINK_ITERS,
        max_shrink_time: MAX_SHRINK_TIME_MS,
        ..Config::default()
    });
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, |case| test(&case).map_err(TestCaseError::fail)) {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => panic!(
            "property {name:?} does not hold.\n{why}\n\nMinimal failing case, as a scenario \
             (save it as a file and run `kube-netsim run FILE`):\n---\n{case:#?}"
        ),
        Err(TestError::Abort(why)) => panic!("property {name:?} aborted: {why}"),
    }
}

/// Runs a case; the run must stop by itself (idle or time limit), not on its event budget,
/// and every probe must have started and finished.
pub fn run_case(case: &Case) -> Result<RunReport, String> {
    let report = run(case.run_input());
    if report.stop == StopReason::EventBudget {
        return Err(format!("the run hit its event budget ({})", sim_k8s::run::EVENT_BUDGET));
    }
    for s in &report.steps {
        if let Some(e) = &s.probe.error {
            return Err(format!("step {} ({}) could not start: {e}", s.index, s.label));
        }
        if s.probe.outcome.is_none() {
            return Err(format!("step {} ({}) never finished", s.index, s.label));
        }
    }
    Ok(report)
}

/// One probe of a finished run, as the checks see it.
pub struct Probe<'a> {
    pub case: &'a Case,
    pub report: &'a RunReport,
    pub plan: &'a PlannedProbe,
    pub step: &'a StepReport,
}

pub type Check = fn(&Probe<'_>) -> Result<(), String>;

/// Runs `case` and applies every check to every probe; the first failure is returned
/// with the step, what the probe saw and its trace.
pub fn check_probes(case: &Case, checks: &[Check]) -> Result<(), String> {
    let report = run_case(case)?;
    for (plan, step) in case.probes.iter().zip(&report.steps) {
        let probe = Probe { case, report: &report, plan, step };
        for check in checks {
            check(&probe).map_err(|why| probe.explain(&why))?;
        }
    }
    Ok(())
}

impl Probe<'_> {
    fn explain(&self, why: &str) -> String {
        let p = &self.step.probe;
        let outcome = p.outcome.map_or("unfinished", ProbeOutcome::word);
        let seen = p.seen_src.map_or("nothing".into(), |s| s.to_string());
        let responder = p.responder.as_deref().unwrap_or("nobody");
        let failed: Vec<String> = self
            .step
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("\n  expect {}: expected {}, got {}", c.what, c.expected, c.got))
            .collect();
        format!(
            "step {} ({}): {why}\n  outcome {outcome} ({}), answered by {responder}, which saw source {seen}{}\n  \
             trace of this probe:\n{}",
            self.step.index,
            self.step.label,
            p.detail,
            failed.concat(),
            trace::render(&self.step.hops)
        )
    }

    fn request(&self) -> Result<Phase<'_>, String> {
        trace::request_phase(&self.step.hops, &self.target_netns())
    }

    fn answer(&self) -> Result<Phase<'_>, String> {
        let after = self.request()?.hops.len();
        trace::answer_phase(&self.step.hops, after, &self.target_netns(), self.client_netns())
    }

    /// What the answer must look like: the request reversed, or for an ICMP error, from
    /// the probed address to the sender without ports.
    fn expected_answer(&self, req: Addrs) -> Addrs {
        match self.plan.expect {
            Some(ExpectedResult::Unreachable) => {
                Addrs { src: req.dst, sport: None, dst: req.src, dport: None }
            }
            _ => req.reversed(),
        }
    }

    /// The network namespace the target lives in, and its label.
    fn target_netns(&self) -> String {
        match self.plan.to {
            End::Node(i) => cluster::GenCluster::node_name(i),
            End::Service(_) | End::Lb(_) | End::Client => String::new(),
            End::Pod(i) => {
                let (_, pod) = self.case.cluster.pod(i);
                let status = self.report.world.store.pod(&pod.namespace, &pod.name).map(|(_, s)| s);
                status.and_then(|s| s.netns.clone()).unwrap_or_default()
            }
        }
    }

    fn pod_ip(&self, i: usize) -> Option<std::net::Ipv4Addr> {
        let (_, pod) = self.case.cluster.pod(i);
        self.report.world.store.pod(&pod.namespace, &pod.name).and_then(|(_, s)| s.pod_ip)
    }

    fn client_netns(&self) -> &str {
        self.step.probe.src_netns.as_deref().unwrap_or_default()
    }

    fn port(&self) -> Option<u16> {
        (self.plan.proto != IpProto::Icmp).then_some(self.plan.port)
    }
}

// ---------------------------------------------------------------------------------
// Checks

/// The probe got the answer a correct network gives (and the step's `expect` held).
pub fn outcome_is_expected(p: &Probe<'_>) -> Result<(), String> {
    let got = p.step.probe.outcome;
    let Some(want) = p.plan.expect else {
        return Err("no expected result planned (service probes are checked by `services`)".into());
    };
    let ok = match want {
        ExpectedResult::Reached => got == Some(ProbeOutcome::Reached),
        ExpectedResult::Refused => got == Some(ProbeOutcome::Refused),
        ExpectedResult::Unreachable => got == Some(ProbeOutcome::Unreachable),
        ExpectedResult::Dropped | ExpectedResult::Timeout => got == Some(ProbeOutcome::Timeout),
        ExpectedResult::Unresolved => p.step.probe.unresolved.is_some(),
    };
    if !ok {
        return Err(format!("expected {}, got {}", want.word(), got.map_or("nothing", ProbeOutcome::word)));
    }
    match p.step.checks.iter().find(|c| !c.ok) {
        Some(c) => Err(format!("expect {}: expected {}, got {}", c.what, c.expected, c.got)),
        None => Ok(()),
    }
}

/// The target itself answered (not some other pod or node).
pub fn target_answered(p: &Probe<'_>) -> Result<(), String> {
    let want = p.case.end_label(p.plan.to);
    match &p.step.probe.responder {
        Some(r) if *r == want => Ok(()),
        other => Err(format!("expected {want} to answer, got {}", other.as_deref().unwrap_or("nobody"))),
    }
}

/// The request left with the sender's own address and the probed destination, kept
/// them on every hop, reached the target's stack, and the target saw that source.
pub fn request_arrives_unchanged(p: &Probe<'_>) -> Result<(), String> {
    let first = p.step.hops.first().ok_or("the probe left no trace")?;
    let sent = trace::parse_packet(&first.packet)?.ok_or("the probe's first hop shows no IPv4 packet")?;
    sender_address_is_own(p, sent)?;
    let dst = p.step.probe.dst.ok_or("the probe has no resolved destination")?;
    if sent.dst != dst || sent.dport != p.port() {
        let want = Addrs { dst, dport: p.port(), ..sent };
        return Err(format!("the request was sent as {sent}, not as {want}"));
    }
    let req = p.request()?;
    trace::phase_unchanged(&req)?;
    if p.plan.expect == Some(ExpectedResult::Reached) && p.step.probe.seen_src != Some(req.sent.src) {
        return Err(format!(
            "the target saw source {:?}, the packet was sent from {}",
            p.step.probe.seen_src, req.sent.src
        ));
    }
    Ok(())
}

/// A pod sends from its pod IP as the API reports it; a node from one of its own addresses.
fn sender_address_is_own(p: &Probe<'_>, sent: Addrs) -> Result<(), String> {
    match p.plan.from {
        End::Pod(i) => match p.pod_ip(i) {
            Some(ip) if ip == sent.src => Ok(()),
            ip => Err(format!("the pod's status says IP {ip:?} but it sent {sent}")),
        },
        End::Node(i) => {
            let name = cluster::GenCluster::node_name(i);
            let ns = p.report.world.net.netns(&name).ok_or(format!("no netns {name}"))?;
            if ns.is_local(sent.src) {
                Ok(())
            } else {
                Err(format!("{name} sent {sent}, not from an address of its own"))
            }
        }
        End::Client | End::Service(_) | End::Lb(_) => {
            Err("pod-network checks apply to pods and nodes only".into())
        }
    }
}

/// The answer (echo reply, SYN-ACK, RST, ICMP error) is the request reversed (or an
/// ICMP error from the probed address to the sender) and keeps its addresses on every
/// hop back to the client; every other packet of the flow shows one of those tuples.
pub fn answers_travel_unchanged(p: &Probe<'_>) -> Result<(), String> {
    let req = p.request()?.sent;
    let answer = p.answer()?;
    let want = p.expected_answer(req);
    if answer.sent != want {
        return Err(format!("the answer to {req} was sent as {}, expected {want}", answer.sent));
    }
    trace::phase_unchanged(&answer)?;
    trace::only_tuples(&p.step.hops, &[req, want])
}

/// Property 2: pod ↔ node traffic keeps its addresses on every hop, with the one exception real
/// flannel makes. flanneld's `--ip-masq` rules (flannel-io/flannel
/// pkg/trafficmngr/iptables, `MasqRules`, as sim-k8s `flannel::masquerade_rules` writes
/// them) end with `-s POD_NET ! -d 224.0.0.0/4 -j MASQUERADE` and `! -s POD_NET -d
/// POD_NET -j MASQUERADE`. So with a flannel backend:
/// - a pod's traffic to *another* node's IP leaves its node masqueraded: the target
///   sees an address of the pod's node, never the pod IP (traffic to its own node is
///   delivered locally and never reaches POSTROUTING: no NAT);
/// - a node's traffic to a pod on another node keeps the node's address (MASQUERADE
///   picks the outgoing device's address, the one the node sent from; over VXLAN the
///   node sends from `flannel.1`'s address inside the pod network, which RETURNs);
///
/// and in both the answer comes back from the probed address to the client's own
/// address (conntrack un-NATs it). The plain `host-gw` backend writes no masquerade
/// rules: there every probe must pass the strict hop-by-hop checks.
pub fn node_traffic_unchanged_except_masquerade(p: &Probe<'_>) -> Result<(), String> {
    let strict = |p: &Probe<'_>| request_arrives_unchanged(p).and_then(|()| answers_travel_unchanged(p));
    let (pod, node) = match (p.plan.from, p.plan.to) {
        (End::Pod(i), End::Node(j)) | (End::Node(j), End::Pod(i)) => (i, cluster::GenCluster::node_name(j)),
        _ => return strict(p),
    };
    let flannel = p.case.cluster.backend != sim_k8s::cluster::NetworkBackend::HostGw;
    let (name, namespace) = (&p.case.cluster.pod(pod).1.name, &p.case.cluster.pod(pod).1.namespace);
    let bound = p.report.world.store.pod(namespace, name).and_then(|(pod, _)| pod.node_name.clone());
    let pod_node = bound.ok_or("the pod is not bound to a node")?;
    if pod_node == node || !flannel {
        return strict(p);
    }
    let seen = p.step.probe.seen_src.ok_or("the target saw nothing")?;
    let sent = p.request()?.sent;
    match p.plan.from {
        End::Pod(_) => {
            let masqueraded = p.report.world.net.netns(&pod_node).is_some_and(|n| n.is_local(seen));
            if !masqueraded {
                return Err(format!(
                    "flannel masquerades a pod's traffic to another node (-s POD_NET ! -d 224.0.0.0/4): \
                     {node} must see an address of {pod_node}, saw {seen} (sent as {sent})"
                ));
            }
        }
        _ if seen != sent.src => {
            return Err(format!("{node} sent from {} but the pod saw source {seen}", sent.src));
        }
        _ => {}
    }
    answer_comes_from_the_probed_address(p)
}

/// The answer delivered to the client comes from the address and port it sent to, back
/// to the address and port it sent from.
pub fn answer_comes_from_the_probed_address(p: &Probe<'_>) -> Result<(), String> {
    let req = p.request()?.sent;
    let answer = p.answer()?;
    let last = answer.hops.last().expect("a phase has hops");
    let got = trace::parse_packet(&last.packet)?.ok_or("the client got a packet without IPv4")?;
    let dst = p.step.probe.dst.ok_or("the probe has no resolved destination")?;
    let icmp_error = p.plan.expect == Some(ExpectedResult::Unreachable);
    let want_sport = if icmp_error { None } else { p.port() };
    if got.src != dst || got.sport != want_sport {
        let sent_to = Addrs { src: req.src, sport: req.sport, dst, dport: p.port() };
        return Err(format!("the client sent {sent_to} but its answer came as {got}:\n{}", last.line()));
    }
    let back_to = if icmp_error { (req.src, None) } else { (req.src, req.sport) };
    if (got.dst, got.dport) != back_to {
        return Err(format!(
            "the answer came back as {got}, but the request left as {req}:\n{}",
            last.line()
        ));
    }
    Ok(())
}

/// The pod's own address is the one the API reports: configured in its namespace,
/// what it sends from, and what reaches it when it probes itself.
pub fn own_ip_is_the_reported_ip(p: &Probe<'_>) -> Result<(), String> {
    let End::Pod(i) = p.plan.from else { return Ok(()) };
    if !matches!(p.plan.to, End::Pod(j) if j == i) {
        return Ok(()); // only a probe of a pod to itself
    }
    let ip = p.pod_ip(i).ok_or("the pod has no IP in its status")?;
    let client = p.client_netns();
    let ns = p.report.world.net.netns(client).ok_or(format!("no netns {client}"))?;
    if !ns.is_local(ip) {
        return Err(format!("the status IP {ip} is not an address of {client}"));
    }
    let sent = p.request()?.sent;
    if sent.src != ip || sent.dst != ip || p.step.probe.seen_src != Some(ip) {
        return Err(format!("probing itself at {ip}: sent {sent}, seen source {:?}", p.step.probe.seen_src));
    }
    Ok(())
}

/// Property 6: runs a case twice and compares everything a run outputs: every hop line,
/// probe record, command issued (`kube-netsim show commands`: every iptables-restore
/// payload, so an order that depends on a HashMap shows up on any node that syncs a
/// service with two endpoints, probed or not) and timeline line.
pub fn same_trace_twice(case: &Case) -> Result<(), String> {
    let render = |r: &RunReport| {
        let mut lines: Vec<(&str, String)> = r.world.hops.iter().map(|h| ("trace", h.line())).collect();
        lines.extend(r.world.probes.iter().map(|p| ("probe", format!("{p:?}"))));
        lines.extend(r.world.commands.iter().map(|c| ("command", format!("{c:?}"))));
        lines.extend(r.world.timeline.iter().map(|t| ("timeline", format!("{t:?}"))));
        lines
    };
    let (a, b) = (run_case(case)?, run_case(case)?);
    let (la, lb) = (render(&a), render(&b));
    if let Some(i) = (0..la.len().max(lb.len())).find(|&i| la.get(i) != lb.get(i)) {
        let show =
            |l: Option<&(&str, String)>| l.map_or("(end)".to_string(), |(what, l)| format!("{what}: {l}"));
        return Err(format!(
            "the runs differ at output line {}:\n  first:  {}\n  second: {}",
            i + 1,
            show(la.get(i)),
            show(lb.get(i))
        ));
    }
    Ok(())
}
