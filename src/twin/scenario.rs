//! `kube-netsim twin FILE`: a scenario runs in the simulator (`sim_k8s::run::run` on
//! `sim_k8s::plan::plan`), then its record goes through the kernel twin:
//!
//! - ops: `world.commands`, every `NetOp` in issue order (with the simulator's error for
//!   the ones it refused);
//! - servers: `world.listeners`, each started after the ops issued before it listened;
//! - probes: `world.probes` that started (source namespace and address resolved), each
//!   run after the ops issued before its start time (the event queue runs equal times
//!   first in, first out, and a probe is queued before the run starts, so ops issued
//!   at its start time come after it; the bootstrap at 0 s comes before everything).
//!   A probe runs on its own in the kernel: ops the simulator issued while the probe was
//!   in flight are replayed after it has finished;
//! - state: `sim_net::show::render` of every namespace at the end of the run.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use sim_core::SimTime;
use sim_k8s::run::RunReport;
use sim_k8s::world::KubeWorld;
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;

use sim_net::stack::ProbeOutcome;

use super::agent::ClientMode;
use super::apps::{ServerRole, answer_summary};
use super::compare::{Allowlist, Item, Status};
use super::{Format, SimProbeResult, TwinArgs, TwinError, TwinInput, TwinListener, TwinOptions, TwinProbe};
use super::{TwinReport, run_twin};

/// Everything the twin needs from a scenario run, owned.
#[derive(Clone, Debug, Default)]
pub struct ScenarioInput {
    pub ops: Vec<NetOp>,
    pub op_errors: Vec<Option<String>>,
    pub listeners: Vec<TwinListener>,
    pub probes: Vec<TwinProbe>,
    pub sim_results: Vec<SimProbeResult>,
    /// The load balancer's health checks, replayed but not compared.
    pub background: Vec<TwinProbe>,
    /// Probes the twin cannot run because they did not run in the simulation either
    /// (`skipped` items of the report).
    pub not_run: Vec<Item>,
    /// The end of the simulated run: the time the renderings are taken at.
    pub end: SimTime,
}

/// Probe names: `step-N-PROTO` (N counts probe steps from 1, as `kube-netsim run` numbers
/// them), `step-N#K-PROTO` for the K-th repetition of a step with `repeat:` (N is the
/// number `kube-netsim run` shows for its first one), so allowlist patterns can name a
/// protocol (`probe *-udp outcome: ...`).
pub fn probe_name(step: usize, repeat: Option<(u32, u32)>, proto: IpProto) -> String {
    let p = match proto {
        IpProto::Tcp => "tcp",
        IpProto::Udp => "udp",
        IpProto::Icmp => "icmp",
    };
    match repeat {
        Some((k, _)) => format!("step-{}#{k}-{p}", step + 1 - k as usize),
        None => format!("step-{step}-{p}"),
    }
}

/// The group of a probe's repetitions: its name without `#K`.
fn group_of(name: &str) -> String {
    match name.split_once('#') {
        Some((head, tail)) => format!("{head}{}", tail.trim_start_matches(|c: char| c.is_ascii_digit())),
        None => name.to_string(),
    }
}

/// What the twin replays and expects, from a finished run.
pub fn input_from(report: &RunReport) -> ScenarioInput {
    let w = &report.world;
    let ops: Vec<NetOp> = w.commands.iter().map(|c| c.op.clone()).collect();
    let op_errors = w.commands.iter().map(|c| c.error.clone()).collect();
    let listeners = w
        .listeners
        .iter()
        .map(|l| TwinListener {
            netns: l.netns.clone(),
            proto: l.proto,
            port: l.port,
            after_op: l.after_op,
            until_op: l.until_op,
            until_ns: l.until.map_or(0, |t| t.as_nanos()),
            role: ServerRole::of(l.app.as_ref()),
        })
        .collect();
    let mut input = ScenarioInput { ops, op_errors, listeners, ..ScenarioInput::default() };
    let mut end = w.commands.last().map(|c| c.time).unwrap_or(SimTime::ZERO);
    for (i, p) in w.probes.iter().enumerate() {
        let (step, repeat) = report.steps.get(i).map_or((i + 1, None), |s| (s.index, s.repeat));
        let name = probe_name(step, repeat, p.plan.proto);
        dns_queries(w, &name, p, &mut input);
        let (Some(from), Some(dst), Some(outcome), None) = (&p.src_netns, p.dst, p.outcome, &p.error) else {
            let why = match (&p.error, p.outcome, &p.unresolved) {
                (Some(e), _, _) => format!("the probe did not run in the simulation: {e}"),
                (None, None, Some(u)) => {
                    format!("the name did not resolve in the simulation ({u}); its DNS queries are compared")
                }
                _ => "the probe did not finish in the simulation".to_string(),
            };
            input.not_run.push(Item {
                key: format!("probe {name} outcome"),
                status: Status::Skipped { why },
                sim: String::new(),
                kernel: String::new(),
            });
            continue;
        };
        end = end.max(p.finished.unwrap_or(p.started));
        let after_op = w.commands.iter().filter(|c| c.time < p.started || c.time == SimTime::ZERO).count();
        input.probes.push(TwinProbe {
            name: name.clone(),
            from: from.clone(),
            proto: p.plan.proto,
            dst,
            dport: p.plan.port,
            sport: p.plan.sport,
            size: p.plan.size,
            timeout: Duration::from_nanos(p.plan.timeout.as_nanos()),
            after_op,
            start_ns: p.started.as_nanos(),
            client: ClientMode::Connect,
        });
        let proxied = w.proxied.iter().find(|r| r.probe == i);
        let client = client_mode(p, proxied.is_some(), &input.listeners, w, &input.ops);
        let answer = match (&client, p.plan.proto, outcome) {
            (_, IpProto::Udp, ProbeOutcome::Reached) => Some(p.detail.clone()),
            (ClientMode::Tcp | ClientMode::Http { .. }, _, ProbeOutcome::Reached) => {
                Some(answer_summary(p.status, p.answer.as_deref(), &p.detail))
            }
            _ => None,
        };
        input.probes.last_mut().expect("just pushed").client = client;
        let answered = SimProbeResult {
            outcome,
            responder: p.responder.as_deref().map(|r| responder_netns(w, &input.ops, r)),
            seen_src: p.seen_src,
            detail: p.detail.clone(),
            possible_responders: service_endpoints(w, &p.plan, Some(dst)),
            answer,
            group: group_of(&name),
            random_entry: matches!(p.plan.to, sim_k8s::world::Target::LoadBalancer { .. }),
            path: path_of(w, p.tag),
        };
        // A connection the ingress controller proxied is two connections: the probe's
        // to the controller (whose twin server only accepts), then the controller's own
        // to the endpoint, replayed as a second client right after it.
        match proxied {
            Some(r) => {
                input.sim_results.push(SimProbeResult {
                    responder: Some(r.proxy_netns.clone()),
                    seen_src: Some(r.proxy_saw),
                    possible_responders: vec![],
                    answer: None,
                    ..answered.clone()
                });
                input.probes.push(TwinProbe {
                    name: format!("{name}-upstream"),
                    from: r.proxy_netns.clone(),
                    proto: IpProto::Tcp,
                    dst: *r.upstream.ip(),
                    dport: r.upstream.port(),
                    sport: None,
                    size: None,
                    timeout: Duration::from_nanos(p.plan.timeout.as_nanos()),
                    after_op,
                    start_ns: p.started.as_nanos(),
                    client: ClientMode::Connect,
                });
                input.sim_results.push(SimProbeResult {
                    possible_responders: vec![],
                    answer: None,
                    ..answered
                });
            }
            None => input.sim_results.push(answered),
        }
    }
    for (i, hc) in w.health_checks.iter().enumerate() {
        let after_op = hc.after_op;
        input.background.push(TwinProbe {
            name: format!("lb-check-{}-tcp", i + 1),
            from: hc.netns.clone(),
            proto: IpProto::Tcp,
            dst: hc.dst,
            dport: hc.port,
            sport: None,
            size: None,
            timeout: Duration::from_nanos(hc.timeout.as_nanos()),
            after_op,
            start_ns: hc.started.as_nanos(),
            client: ClientMode::Connect,
        });
    }
    input.end = end;
    input
}

/// The DNS queries of a probe's name lookup, each as a UDP probe of its own
/// (`step-N-dns-K-udp`) from the same namespace to the nameserver's port 53. The twin's
/// DNS pods run the agent's UDP echo server, which takes the same path back as the
/// answer: neighbours, bridge FDBs and conntrack see the same exchange.
fn dns_queries(w: &KubeWorld, name: &str, p: &sim_k8s::world::ProbeRecord, input: &mut ScenarioInput) {
    let (Some(l), Some(from)) = (&p.lookup, &p.src_netns) else { return };
    let after_op = w.commands.iter().filter(|c| c.time < p.started || c.time == SimTime::ZERO).count();
    let server = *l.server.ip();
    let plan = sim_k8s::world::ProbePlan {
        to: sim_k8s::world::Target::Ip(server),
        port: 53,
        proto: IpProto::Udp,
        ..p.plan.clone()
    };
    for (k, q) in l.queries.iter().enumerate() {
        let outcome = match (&q.server_netns, &q.answer) {
            (Some(_), _) => ProbeOutcome::Reached,
            (None, Some(_)) => ProbeOutcome::Unreachable,
            (None, None) => ProbeOutcome::Timeout,
        };
        input.probes.push(TwinProbe {
            name: format!(
                "{}-dns-{}-udp",
                name.trim_end_matches(|c: char| c.is_ascii_lowercase()).trim_end_matches('-'),
                k + 1
            ),
            from: from.clone(),
            proto: IpProto::Udp,
            dst: server,
            dport: 53,
            sport: None,
            size: None,
            timeout: Duration::from_nanos(p.plan.timeout.as_nanos()),
            after_op,
            start_ns: p.started.as_nanos(),
            client: ClientMode::Connect,
        });
        input.sim_results.push(SimProbeResult {
            outcome,
            answer: None,
            responder: q.server_netns.clone(),
            seen_src: q.seen_src,
            detail: format!("A? {} -> {}", q.name, q.answer.as_deref().unwrap_or("no answer")),
            possible_responders: service_endpoints(w, &plan, Some(server)),
            group: group_of(&input.probes.last().expect("just pushed").name),
            random_entry: false,
            // Not traced on its own: the source, whose surroundings `learned_scope` adds.
            path: vec![from.clone()],
        });
    }
}

/// The namespaces of every endpoint that was ready, at some time up to the probe's start,
/// in the Service the probe goes to (by ClusterIP or by nodePort), when there are more
/// than one: kube-proxy's rules at that instant may lag the endpoints, and its choice
/// among them is random.
fn service_endpoints(w: &KubeWorld, plan: &sim_k8s::world::ProbePlan, dst: Option<Ipv4Addr>) -> Vec<String> {
    use sim_k8s::model::service::ClusterIp;
    use sim_k8s::store::Object;
    use sim_k8s::world::Target;
    let by_cluster_ip = |s: &sim_k8s::model::service::Service| {
        matches!(s.cluster_ip, ClusterIp::Ip(ip) if Some(ip) == dst)
            && s.ports.iter().any(|p| p.port == plan.port)
    };
    let svc = w.store.services().find(|s| match &plan.to {
        Target::Service { namespace, name } | Target::LoadBalancer { namespace, name } => {
            &s.namespace == namespace && &s.name == name
        }
        Target::Node(_) | Target::Ip(_) => {
            s.ports.iter().any(|p| p.node_port == Some(plan.port)) || by_cluster_ip(s)
        }
        Target::Name(_) => by_cluster_ip(s),
        _ => false,
    });
    let Some(svc) = svc else { return vec![] };
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    let mut netns_of: Vec<(Ipv4Addr, String)> = Vec::new();
    for ev in w.store.log.iter().filter(|e| e.time <= plan.at) {
        match &ev.object {
            Object::EndpointSlice(e)
                if e.namespace == svc.namespace && e.service_name() == Some(svc.name.as_str()) =>
            {
                for ep in e.endpoints.iter().filter(|ep| ep.conditions.is_ready()) {
                    if !ips.contains(&ep.address) {
                        ips.push(ep.address);
                    }
                }
            }
            Object::Pod(_, st) => {
                if let (Some(ip), Some(ns)) = (st.pod_ip, &st.netns) {
                    netns_of.push((ip, ns.clone()));
                }
            }
            _ => {}
        }
    }
    let mut netns: Vec<String> = Vec::new();
    for ip in ips {
        if let Some((_, ns)) = netns_of.iter().rev().find(|(a, _)| *a == ip)
            && !netns.contains(ns)
        {
            netns.push(ns.clone());
        }
    }
    if netns.len() > 1 { netns } else { vec![] }
}

/// What the twin's client does once connected: the simulator's `http` GET when
/// http-echo answered it there (or nobody did: the servers behind a Service are
/// http-echo), its `tcp` exchange when the server that answered plays tcp-echo or
/// http-echo in the twin; a plain connect for connections the twin does not replay
/// byte for byte (through the ingress controller, TLS, kube-proxy's health server).
fn client_mode(
    p: &sim_k8s::world::ProbeRecord,
    proxied: bool,
    listeners: &[TwinListener],
    w: &KubeWorld,
    ops: &[NetOp],
) -> ClientMode {
    if proxied || p.plan.proto != IpProto::Tcp || p.plan.request.tls {
        return ClientMode::Connect;
    }
    let played = match &p.responder {
        None => true,
        Some(r) => {
            let ns = responder_netns(w, ops, r);
            listeners.iter().any(|l| l.netns == ns && l.proto == IpProto::Tcp && l.role != ServerRole::Accept)
        }
    };
    let echo_body = p.answer.as_deref().is_none_or(|b| b.starts_with("pod: "));
    match (p.plan.http, played) {
        (true, true) if echo_body => {
            // curl http://NAME/ sends `Host: NAME`, not the address it resolved to.
            let host = match (&p.plan.request.host, &p.plan.to) {
                (None, sim_k8s::world::Target::Name(name)) => Some(name.clone()),
                (h, _) => h.clone(),
            };
            ClientMode::Http { host, path: p.plan.request.path.clone() }
        }
        (false, true) => ClientMode::Tcp,
        _ => ClientMode::Connect,
    }
}

/// The namespaces the trace of probe `tag` crossed, in order of first appearance.
fn path_of(w: &KubeWorld, tag: u32) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for h in w.hops.iter().filter(|h| h.tag == tag) {
        if !v.contains(&h.netns) {
            v.push(h.netns.clone());
        }
    }
    v
}

/// `pod/NAME`, `node/NAME`, `router` → the namespace the world gave that owner (for a
/// hostNetwork pod, its node's).
fn responder_netns(w: &KubeWorld, ops: &[NetOp], owner: &str) -> String {
    // From the watch log: the pod may be gone by the end of the run.
    let host_network_pod = || {
        w.store.log.iter().rev().find_map(|ev| match &ev.object {
            sim_k8s::store::Object::Pod(p, st)
                if p.host_network && sim_k8s::run::pod_label(&p.namespace, &p.name) == owner =>
            {
                st.netns.clone()
            }
            _ => None,
        })
    };
    ops.iter()
        .filter_map(|op| match op {
            NetOp::AddNetns { name } => Some(name),
            _ => None,
        })
        .find(|ns| w.owner_of(ns) == Some(owner))
        .cloned()
        .or_else(host_network_pod)
        .unwrap_or_else(|| owner.to_string())
}

/// Why `twin FILE` could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioTwinError {
    /// The scenario or the allowlist does not load (already printed for a scenario).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Twin(#[from] TwinError),
}

/// Runs the scenario at `path` in the simulator and then in the kernel twin.
pub fn run_file(path: &Path, opts: &TwinOptions) -> Result<TwinReport, ScenarioTwinError> {
    let s = sim_k8s::scenario::load(path).map_err(|e| ScenarioTwinError::Input(e.to_string()))?;
    let report = sim_k8s::run::run(sim_k8s::plan::plan(&s, true));
    run_report(&report, opts)
}

/// The kernel twin of a finished run.
pub fn run_report(report: &RunReport, opts: &TwinOptions) -> Result<TwinReport, ScenarioTwinError> {
    let input = input_from(report);
    let net = &report.world.net;
    let sim_state = |ns: &str, r| sim_net::show::render(net, ns, r, input.end);
    let twin_input = TwinInput {
        ops: &input.ops,
        op_errors: &input.op_errors,
        listeners: &input.listeners,
        probes: &input.probes,
        sim_results: &input.sim_results,
        background: &input.background,
        sim_state: &sim_state,
    };
    let mut twin = run_twin(&twin_input, opts)?;
    twin.items.splice(0..0, input.not_run);
    Ok(twin)
}

/// `kube-netsim twin FILE [--keep] [--format text|json] [--allowlist FILE]`. Exit status:
/// 0 the kernel agrees (or every difference is allowed), 1 a difference nobody
/// explained, 2 bad input or the machine cannot host the twin (the message says why).
pub fn cli(a: TwinArgs) -> u8 {
    // The project-wide known deviations always apply (marked as such in the report);
    // `--allowlist FILE` adds the user's own.
    let allowlist = match &a.allowlist {
        None => Allowlist::builtin(),
        Some(p) => match Allowlist::load(p) {
            Ok(l) => l.and(Allowlist::builtin()),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
    };
    let opts = TwinOptions { keep: a.keep, allowlist, ..TwinOptions::default() };
    match run_file(&a.file, &opts) {
        Ok(report) => {
            match a.format {
                Format::Text => print!("{}", report.to_text()),
                Format::Json => println!("{}", report.to_json()),
            }
            report.exit_code()
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_named_after_the_step_and_repetition_run_shows() {
        assert_eq!(probe_name(3, None, IpProto::Tcp), "step-3-tcp");
        // clusterip.yaml: `repeat: 60` is run's step 7 (its first repetition) .. 66.
        assert_eq!(probe_name(7, Some((1, 60)), IpProto::Tcp), "step-7#1-tcp");
        assert_eq!(probe_name(66, Some((60, 60)), IpProto::Tcp), "step-7#60-tcp");
        assert_eq!(group_of("step-7#60-tcp"), "step-7-tcp");
        assert_eq!(group_of("step-7#12-dns-2-udp"), "step-7-dns-2-udp");
        assert_eq!(group_of("step-3-udp"), "step-3-udp");
    }
}
