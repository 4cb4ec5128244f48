//! Comparison of the simulation with the kernel, item by item:
//! - per probe: the outcome class (reached / refused / unreachable / timeout), the
//!   namespace that answered (TCP/UDP: the twin server that logged the connection; ICMP:
//!   the namespace owning the address that replied), and the source address the server
//!   saw (TCP/UDP only: no server sees an ICMP echo in the twin);
//! - per namespace: every `sim_net::show::Render` (both sides through
//!   `sim_net::show::normalize`, which lists each normalisation);
//! - per op: an op the kernel refused although the simulator applied it.
//!
//! Probes whose answer kube-proxy's random endpoint choice decides are judged against
//! their group (`groups`), and the `answer` (HTTP status and http-echo's fields, or the
//! exchange's byte counts) is compared too. An item that differs is "allowed" when the
//! allowlist (`allowlist`) names it (with a reason and a pointer into
//! docs/fidelity.md); any other difference fails the run.

use std::net::Ipv4Addr;

use serde::Serialize;
use sim_net::packet::IpProto;
use sim_net::show::{Render, normalize};

pub use super::allowlist::Allowlist;
use super::groups::{self, Group, KernelSide};
use super::replay::{KernelProbe, KernelRun};
use super::report::TwinReport;
use super::{SimProbeResult, TwinInput, TwinOptions, TwinProbe};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    Agree,
    Differ,
    /// Differs, and the allowlist accepts it.
    Allowed {
        reason: String,
        doc: String,
    },
    /// Not compared, and why.
    Skipped {
        why: String,
    },
}

/// One compared thing, with both sides.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// `probe NAME outcome`, `netns NS ip route show`, `op 12`.
    pub key: String,
    #[serde(flatten)]
    pub status: Status,
    pub sim: String,
    pub kernel: String,
}

pub fn compare(input: &TwinInput<'_>, k: &KernelRun, opts: &TwinOptions) -> TwinReport {
    let owners = address_owners(k);
    let mut items = Vec::new();
    for (i, op) in input.ops.iter().enumerate() {
        let sim = input.op_errors.get(i).and_then(|e| e.as_deref());
        let kernel = k.op_failures.iter().find(|f| f.index == i);
        if sim.is_none() && kernel.is_none() {
            continue;
        }
        let side = |e: Option<&str>| match e {
            Some(e) => format!("refused: {}: {e}", op.command("")),
            None => "applied".to_string(),
        };
        let mut it = item(format!("op {i}"), side(sim), side(kernel.map(|f| f.stderr.as_str())));
        // Both refused it: the messages differ in wording (the simulator's are Linux's
        // errno texts, iproute2 adds its own prefixes); the class agrees.
        if sim.is_some() && kernel.is_some() {
            it.status = Status::Agree;
        }
        items.push(it);
    }
    let sides: Vec<KernelSide> =
        input.probes.iter().zip(&k.probes).map(|(p, kp)| kernel_side(p, kp, &owners)).collect();
    let groups = groups::groups(input.sim_results);
    let mut diverged: Vec<(String, Vec<String>)> = Vec::new();
    for (i, (p, sim)) in input.probes.iter().zip(input.sim_results).enumerate() {
        let group = groups.iter().find(|g| g.members.contains(&i));
        let ctx = group.map(|g| Ctx { g, sims: input.sim_results, probes: input.probes });
        items.extend(probe_items(p, sim, &sides[i], ctx.as_ref()));
        if let Some(g) = group {
            let last = g.members.last() == Some(&i);
            let differs = g.members.iter().any(|&j| {
                input.sim_results[j].responder != sides[j].responder
                    || Some(input.sim_results[j].outcome.word()) != sides[j].outcome.as_deref()
            });
            if last {
                items.push(groups::group_item(g, input.sim_results, &sides));
                if differs {
                    diverged.push((g.name.clone(), groups::learned_scope(g, input.sim_results, input.ops)));
                }
            }
        }
    }
    for (ns, r, text) in &k.state {
        let key = format!("netns {ns} {}", r.command());
        let Some(ours) = (input.sim_state)(ns, *r) else {
            let why = "the simulator has no rendering of this yet".to_string();
            items.push(Item {
                key,
                status: Status::Skipped { why },
                sim: String::new(),
                kernel: text.clone().unwrap_or_default(),
            });
            continue;
        };
        let kernel =
            text.as_deref().map(|t| normalize(*r, t, "")).unwrap_or_else(|| "(command failed)".into());
        items.push(item(key, normalize(*r, &ours, ""), kernel));
    }
    relax_learned_state_after_random_choice(&mut items, &diverged);
    for it in &mut items {
        if it.status == Status::Differ
            && let Some(allowed) = opts.allowlist.find(it)
        {
            it.status = allowed;
        }
    }
    TwinReport { prefix: opts.prefix.clone(), items }
}

fn item(key: String, sim: String, kernel: String) -> Item {
    let status = if sim == kernel { Status::Agree } else { Status::Differ };
    Item { key, status, sim, kernel }
}

/// The random-choice group a probe belongs to, with both sides of all its probes.
struct Ctx<'a> {
    g: &'a Group,
    sims: &'a [SimProbeResult],
    probes: &'a [TwinProbe],
}

/// What the kernel did: the agent's outcome class, and who answered (TCP/UDP: the twin
/// server that logged the connection, with the peer it saw; ICMP: the namespace owning
/// the address that replied).
fn kernel_side(p: &TwinProbe, k: &KernelProbe, owners: &[(Ipv4Addr, String)]) -> KernelSide {
    let Some(res) = &k.result else { return KernelSide::default() };
    let outcome = res.outcome.clone().unwrap_or_else(|| "error".into());
    let served = k.served.iter().find(|(_, l)| l.agent == "accepted" || l.agent == "received");
    let (responder, seen) = match (p.proto, served) {
        (IpProto::Icmp, _) if outcome == "reached" => {
            let from = res.peer.as_deref().and_then(|a| a.parse::<Ipv4Addr>().ok());
            (from.and_then(|a| owners.iter().find(|(ip, _)| *ip == a)).map(|(_, ns)| ns.clone()), None)
        }
        (_, Some((ns, l))) => {
            (Some(ns.clone()), l.peer.as_deref().and_then(|a| a.split(':').next()).map(str::to_string))
        }
        _ => (None, None),
    };
    KernelSide {
        outcome: Some(outcome),
        detail: res.detail.clone(),
        responder,
        seen,
        answer: res.answer.clone(),
    }
}

/// Per probe: outcome, responder, seen-src. A probe of a random-choice group (`ctx`)
/// agrees where the kernel's answer is one the simulator's probes of the group show is
/// possible (see `groups`); any other probe must match exactly.
fn probe_items(p: &TwinProbe, sim: &SimProbeResult, k: &KernelSide, ctx: Option<&Ctx<'_>>) -> Vec<Item> {
    let key = |what: &str| format!("probe {} {what}", p.name);
    let Some(kernel_outcome) = &k.outcome else {
        return vec![item(key("outcome"), sim.outcome.word().into(), "(the agent did not report)".into())];
    };
    let mut o = item(key("outcome"), sim.outcome.word().into(), format!("{kernel_outcome} ({})", k.detail));
    o.status = if sim.outcome.word() == kernel_outcome { Status::Agree } else { Status::Differ };
    o.sim = format!("{} ({})", sim.outcome.word(), sim.detail);
    if let Some(c) = ctx
        && o.status == Status::Differ
    {
        let allowed = c.g.allowed(c.sims);
        let reached_allowed =
            kernel_outcome == "reached" && k.responder.as_ref().is_some_and(|r| allowed.contains(r));
        if c.g.sim_classes(c.sims).contains(&kernel_outcome.as_str()) {
            o.status = Status::Agree;
            o.kernel = format!(
                "{} (random choice: the simulator's probes of {} had this outcome too)",
                o.kernel, c.g.name
            );
        } else if reached_allowed {
            // The simulator drew a dead endpoint; the kernel drew a live one it allows.
            o.status = Status::Agree;
            o.kernel = format!("{} (random choice: an endpoint the simulator allows answered)", o.kernel);
        } else if sim.random_entry {
            // The load balancer draws the node too: the kernel may have gone through a
            // node none of the simulator's probes went through (one that is down).
            let why = format!(
                "the load balancer's node choice is random too, and no simulated probe of {} had this outcome",
                c.g.name
            );
            o.status = Status::Skipped { why };
        } else if let Some(missed) = c.g.undrawn(c.sims).first() {
            // A failure the simulator's probes never had, where they never drew every
            // endpoint: the kernel may have drawn one whose answer the simulator never
            // computed (a deleted pod, a dead node). Judged only when the simulator's
            // probes of the group reached every possible endpoint.
            let why = format!(
                "the kernel may have drawn an endpoint no simulated probe of {} drew ({missed}), whose answer the simulator did not compute",
                c.g.name
            );
            o.status = Status::Skipped { why };
        }
    }
    let show = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let mut r = item(key("responder"), show(sim.responder.clone()), show(k.responder.clone()));
    let same_responder = r.status == Status::Agree;
    if let Some(c) = ctx
        && !same_responder
        && o.status != Status::Differ
        && k.responder.as_ref().is_none_or(|kr| c.g.allowed(c.sims).contains(kr))
    {
        // kube-proxy's random endpoint choice: the kernel drew another endpoint of the
        // same Service (or a dead one, as the simulator's probes also did).
        r.status = Status::Agree;
        r.kernel = format!("{} (another endpoint of the same service: random choice)", r.kernel);
    }
    let mut v = vec![o, r];
    if p.proto == IpProto::Icmp {
        if sim.seen_src.is_some() {
            let why = "no server sees an ICMP echo in the twin".to_string();
            v.push(Item {
                key: key("seen-src"),
                status: Status::Skipped { why },
                sim: show(sim.seen_src.map(|a| a.to_string())),
                kernel: "-".into(),
            });
        }
        return v;
    }
    let mut it = item(key("seen-src"), show(sim.seen_src.map(|a| a.to_string())), show(k.seen.clone()));
    if let Some(c) = ctx
        && it.status == Status::Differ
    {
        // Another endpoint may sit on another node, where the masquerade address
        // differs: compare with what the simulator's probe of the group that reached
        // the same endpoint saw.
        let kseen = k.seen.as_deref();
        match k.responder.as_deref().and_then(|kr| c.g.sim_seen_by(c.sims, kr, kseen)) {
            Some(Ok(j)) => {
                it.status = Status::Agree;
                it.sim = format!(
                    "{} ({} saw {} from the same endpoint)",
                    it.sim,
                    c.probes[j].name,
                    show(k.seen.clone())
                );
            }
            Some(Err(_)) if sim.random_entry => {
                // The load balancer's node choice decides the masquerade address too:
                // the simulator's probes of the group never took this node and endpoint.
                let why = "the load balancer's node choice and the endpoint choice together decide this source, and no simulated probe of the group took the same pair".to_string();
                it.status = Status::Skipped { why };
            }
            Some(Err(j)) => {
                it = item(
                    key("seen-src"),
                    show(c.sims[j].seen_src.map(|a| a.to_string())),
                    show(k.seen.clone()),
                );
                it.sim =
                    format!("{} (as {} saw it, which reached the same endpoint)", it.sim, c.probes[j].name);
            }
            None => {
                let why = match k.responder {
                    Some(_) => "the kernel reached an endpoint no simulated probe of the group reached",
                    None => "the kernel's probe reached no endpoint (random choice)",
                };
                it.status = Status::Skipped { why: why.to_string() };
            }
        }
    }
    v.push(it);
    if let Some(a) = &sim.answer {
        // What came back: HTTP status and http-echo's fields (who answered, the client
        // address it saw), or the exchange's byte counts. When another endpoint, or the
        // same one through another node, answered (random choice), the pod and client
        // fields name them: compared only when responder and seen source agree.
        let mut it = item(key("answer"), a.clone(), show(k.answer.clone()));
        let same_path = same_responder && sim.seen_src.map(|a| a.to_string()) == k.seen;
        if let Some(c) = ctx
            && !same_path
            && it.status == Status::Differ
        {
            let twin = k.responder.as_deref().and_then(|kr| c.g.sim_seen_by(c.sims, kr, k.seen.as_deref()));
            match twin {
                // A simulated probe of the group took the same endpoint and source.
                Some(Ok(j)) if c.sims[j].answer.is_some() => {
                    it = item(key("answer"), c.sims[j].answer.clone().unwrap_or_default(), it.kernel);
                    it.sim =
                        format!("{} (the answer to {}, from the same endpoint)", it.sim, c.probes[j].name);
                }
                _ => {
                    let why = "another endpoint or entry node answered (random choice), and no simulated probe of the group took the same one".to_string();
                    it.status = Status::Skipped { why };
                }
            }
        }
        v.push(it);
    }
    v
}

/// Address → namespace, from the kernel's `ip -br addr` of every namespace.
fn address_owners(k: &KernelRun) -> Vec<(Ipv4Addr, String)> {
    let mut v = Vec::new();
    for (ns, r, text) in &k.state {
        if *r != Render::IpAddrBrief {
            continue;
        }
        for tok in text.as_deref().unwrap_or("").split_whitespace() {
            if let Some(ip) = tok.split_once('/').and_then(|(a, _)| a.parse::<Ipv4Addr>().ok())
                && !ip.is_loopback()
            {
                v.push((ip, ns.clone()));
            }
        }
    }
    v
}

/// When the kernel's random endpoint choice sent connections of a group elsewhere than
/// the simulator's, the two sides talked to different hosts, so the neighbour and bridge
/// FDB entries that traffic taught differ legitimately, but only in the namespaces that
/// traffic could have crossed (`groups::learned_scope`). Those items are reported as
/// skipped, with the groups; every other namespace is still compared.
fn relax_learned_state_after_random_choice(items: &mut [Item], diverged: &[(String, Vec<String>)]) {
    for it in items.iter_mut() {
        let learned = it.key.ends_with(" ip neigh show") || it.key.ends_with(" bridge fdb show");
        let ns = it.key.strip_prefix("netns ").and_then(|k| k.split_whitespace().next()).unwrap_or("");
        let by: Vec<&str> = diverged
            .iter()
            .filter(|(_, scope)| scope.iter().any(|s| s == ns))
            .map(|(g, _)| g.as_str())
            .collect();
        if learned && it.status == Status::Differ && !by.is_empty() {
            let why = format!(
                "kube-proxy's random choice sent traffic of {} to other endpoints in the kernel, on paths through this namespace, so learned neighbours/FDB entries differ",
                by.join(", ")
            );
            it.status = Status::Skipped { why };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sim_net::stack::ProbeOutcome;

    use super::super::agent::{AgentLine, ClientMode};
    use super::*;

    fn probe(name: &str) -> TwinProbe {
        TwinProbe {
            name: name.into(),
            from: "a".into(),
            proto: IpProto::Tcp,
            dst: Ipv4Addr::new(10, 96, 0, 1),
            dport: 80,
            sport: None,
            size: None,
            timeout: Duration::from_secs(1),
            after_op: 0,
            start_ns: 0,
            client: ClientMode::Connect,
        }
    }

    fn sim(responder: &str, possible: &[&str]) -> SimProbeResult {
        SimProbeResult {
            outcome: ProbeOutcome::Reached,
            responder: Some(responder.into()),
            seen_src: Some(Ipv4Addr::new(10, 244, 0, 2)),
            detail: "connected".into(),
            possible_responders: possible.iter().map(|s| s.to_string()).collect(),
            answer: None,
            group: "step-1-tcp".into(),
            random_entry: false,
            path: vec![],
        }
    }

    fn kernel(responder: &str) -> KernelProbe {
        let line = |agent: &str| AgentLine { agent: agent.into(), ..AgentLine::default() };
        KernelProbe {
            result: Some(AgentLine { outcome: Some("reached".into()), ..line("client") }),
            served: vec![(
                responder.into(),
                AgentLine { peer: Some("10.244.0.2:4000".into()), ..line("accepted") },
            )],
        }
    }

    fn run(sims: &[SimProbeResult], kernels: Vec<KernelProbe>, allowlist: Allowlist) -> TwinReport {
        let probes: Vec<TwinProbe> =
            (0..sims.len()).map(|i| probe(&format!("step-1#{}-tcp", i + 1))).collect();
        let no_state = |_: &str, _: Render| None;
        let input = TwinInput {
            ops: &[],
            op_errors: &[],
            listeners: &[],
            probes: &probes,
            sim_results: sims,
            background: &[],
            sim_state: &no_state,
        };
        let k = KernelRun { probes: kernels, ..KernelRun::default() };
        compare(&input, &k, &TwinOptions { allowlist, ..TwinOptions::default() })
    }

    /// The simulator's result altered (another responder): the report says DIFFER and
    /// the exit status is 1; an allowlist entry for that item makes it 0.
    #[test]
    fn a_difference_fails_the_run_unless_the_allowlist_explains_it() {
        let report = run(&[sim("b", &[])], vec![kernel("c")], Allowlist::default());
        let keys: Vec<&str> = report.differences().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["probe step-1#1-tcp responder"]);
        assert_eq!(report.exit_code(), 1);
        assert!(report.to_text().contains("DIFFER"), "{}", report.to_text());
        let l =
            Allowlist::parse("probe step-1#*-tcp responder | the test says so | docs/fidelity.md#x").unwrap();
        let report = run(&[sim("b", &[])], vec![kernel("c")], l);
        assert_eq!(report.exit_code(), 0, "{}", report.to_text());
    }

    #[test]
    fn a_random_choice_agrees_within_the_allowed_set_and_fails_outside_it() {
        let sims = [sim("b", &["b", "c"]), sim("c", &["b", "c"])];
        let report = run(&sims, vec![kernel("c"), kernel("b")], Allowlist::default());
        assert_eq!(report.exit_code(), 0, "{}", report.to_text());
        let report = run(&sims, vec![kernel("c"), kernel("d")], Allowlist::default());
        let keys: Vec<&str> = report.differences().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["probe step-1#2-tcp responder", "probe step-1-tcp endpoints"]);
    }

    fn timed_out() -> KernelProbe {
        let client =
            AgentLine { agent: "client".into(), outcome: Some("timeout".into()), ..AgentLine::default() };
        KernelProbe { result: Some(client), served: vec![] }
    }

    fn status_of<'a>(r: &'a TwinReport, key: &str) -> &'a Status {
        &r.items.iter().find(|i| i.key == key).unwrap_or_else(|| panic!("{key}\n{}", r.to_text())).status
    }

    /// A kernel that timed out where every simulated probe reached fails; a failure is not
    /// judged while an endpoint the simulator never drew could explain it; reaching an
    /// allowed endpoint where the simulator drew a dead one agrees.
    #[test]
    fn outcome_classes_of_a_group_are_judged_against_what_the_simulator_drew() {
        let both = [sim("b", &["b", "c"]), sim("c", &["b", "c"])];
        let report = run(&both, vec![kernel("b"), timed_out()], Allowlist::default());
        assert_eq!(status_of(&report, "probe step-1#2-tcp outcome"), &Status::Differ);
        assert_eq!(report.exit_code(), 1);
        let one = [sim("b", &["b", "c"])];
        let report = run(&one, vec![timed_out()], Allowlist::default());
        assert!(
            matches!(status_of(&report, "probe step-1#1-tcp outcome"), Status::Skipped { why } if why.contains("(c)"))
        );
        assert_eq!(report.exit_code(), 0, "{}", report.to_text());
        let dead =
            [SimProbeResult { outcome: ProbeOutcome::Unreachable, responder: None, ..sim("b", &["b", "c"]) }];
        let report = run(&dead, vec![kernel("c")], Allowlist::default());
        assert_eq!(status_of(&report, "probe step-1#1-tcp outcome"), &Status::Agree);
        assert_eq!(report.exit_code(), 0, "{}", report.to_text());
    }

    #[test]
    fn learned_state_is_skipped_only_in_the_scope_of_a_diverged_group() {
        let mut items = vec![
            Item {
                key: "netns node-1 ip neigh show".into(),
                status: Status::Differ,
                sim: "x".into(),
                kernel: "y".into(),
            },
            Item {
                key: "netns node-9 ip neigh show".into(),
                status: Status::Differ,
                sim: "x".into(),
                kernel: "y".into(),
            },
            Item {
                key: "netns node-1 ip route show".into(),
                status: Status::Differ,
                sim: "x".into(),
                kernel: "y".into(),
            },
        ];
        relax_learned_state_after_random_choice(&mut items, &[("step-1-tcp".into(), vec!["node-1".into()])]);
        assert!(matches!(&items[0].status, Status::Skipped { why } if why.contains("step-1-tcp")));
        assert_eq!(items[1].status, Status::Differ, "a namespace outside the paths");
        assert_eq!(items[2].status, Status::Differ, "routes are not learned");
    }
}
