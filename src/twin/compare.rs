//! Comparison of the simulation with the kernel, item by item:
//! - per probe: the outcome class (reached / refused / unreachable / timeout), the
//!   namespace that answered (TCP/UDP: the twin server that logged the connection; ICMP:
//!   the namespace owning the address that replied), and the source address the server
//!   saw (TCP/UDP only: no server sees an ICMP echo in the twin);
//! - per namespace: every `sim_net::show::Render` (both sides through
//!   `sim_net::show::normalize`, which lists each normalisation);
//! - per op: an op the kernel refused although the simulator applied it.
//!
//! An item that differs is "allowed" when the allowlist names it (with a reason and a
//! pointer into docs/fidelity.md); any other difference fails the run.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;
use sim_net::packet::IpProto;
use sim_net::show::{Render, normalize};

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

/// Accepted differences: `ITEM-PATTERN | reason | docs/fidelity.md#anchor` per line,
/// `*` matches any text, `#` starts a comment. A pattern matches an item's key
/// (`probe step-3-udp outcome`), or the key with the first word of each side,
/// `KEY: SIM -> KERNEL` (`probe *-udp outcome: unreachable -> refused`), so that an
/// entry can accept one particular difference of outcome classes and nothing else.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    entries: Vec<(String, String, String)>,
}

impl Allowlist {
    pub fn parse(text: &str) -> Result<Allowlist, String> {
        let mut entries = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = l.split('|').map(str::trim).collect();
            match parts.as_slice() {
                [pat, reason, doc]
                    if !pat.is_empty() && !reason.is_empty() && doc.starts_with("docs/fidelity.md") =>
                {
                    entries.push((pat.to_string(), reason.to_string(), doc.to_string()))
                }
                _ => {
                    return Err(format!(
                        "line {}: want `ITEM | reason | docs/fidelity.md#anchor`, found {raw:?}",
                        n + 1
                    ));
                }
            }
        }
        Ok(Allowlist { entries })
    }

    pub fn load(path: &Path) -> Result<Allowlist, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Allowlist::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The entry accepting `it`, as an `Allowed` status.
    pub fn find(&self, it: &Item) -> Option<Status> {
        let word = |t: &str| t.split_whitespace().next().unwrap_or("(empty)").to_string();
        let long = format!("{}: {} -> {}", it.key, word(&it.sim), word(&it.kernel));
        self.entries
            .iter()
            .find(|(p, _, _)| glob(p, &it.key) || glob(p, &long))
            .map(|(_, r, d)| Status::Allowed { reason: r.clone(), doc: d.clone() })
    }

    /// `(pattern, reason, docs/fidelity.md#anchor)` of every entry.
    pub fn entries(&self) -> &[(String, String, String)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len())
                    .any(|i| s.is_char_boundary(head.len() + i) && glob(rest, &s[head.len() + i..]))
        }
    }
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
    for ((p, sim), kp) in input.probes.iter().zip(input.sim_results).zip(&k.probes) {
        items.extend(probe_items(p, sim, kp, &owners));
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
    relax_learned_state_after_random_choice(&mut items);
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

fn probe_items(
    p: &TwinProbe,
    sim: &SimProbeResult,
    k: &KernelProbe,
    owners: &[(Ipv4Addr, String)],
) -> Vec<Item> {
    let key = |what: &str| format!("probe {} {what}", p.name);
    let Some(res) = &k.result else {
        return vec![item(key("outcome"), sim.outcome.word().into(), "(the agent did not report)".into())];
    };
    let kernel_outcome = res.outcome.clone().unwrap_or_else(|| "error".into());
    let mut v =
        vec![item(key("outcome"), sim.outcome.word().into(), format!("{kernel_outcome} ({})", res.detail))];
    v[0].status = if sim.outcome.word() == kernel_outcome { Status::Agree } else { Status::Differ };
    // With several endpoints, kube-proxy's random draw decides which one a connection
    // reaches, and in the kernel that draw is not ours: a different outcome there (one
    // endpoint gone, the other alive) is not a disagreement about the dataplane.
    let random = !sim.possible_responders.is_empty();
    let random_skip = random && v[0].status == Status::Differ;
    if random_skip {
        let why = "kube-proxy's random endpoint choice decides this outcome, and the kernel draws its own"
            .to_string();
        v[0].status = Status::Skipped { why };
    }
    v[0].sim = format!("{} ({})", sim.outcome.word(), sim.detail);
    let served = k.served.iter().find(|(_, l)| l.agent == "accepted" || l.agent == "received");
    let (responder, seen) = match (p.proto, served) {
        (IpProto::Icmp, _) if kernel_outcome == "reached" => {
            let from = res.peer.as_deref().and_then(|a| a.parse::<Ipv4Addr>().ok());
            (from.and_then(|a| owners.iter().find(|(ip, _)| *ip == a)).map(|(_, ns)| ns.clone()), None)
        }
        (_, Some((ns, l))) => {
            (Some(ns.clone()), l.peer.as_deref().and_then(|a| a.split(':').next()).map(str::to_string))
        }
        _ => (None, None),
    };
    let show = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let mut r = item(key("responder"), show(sim.responder.clone()), show(responder.clone()));
    let random_diverged = r.status == Status::Differ
        && (random_skip
            || responder.as_ref().is_some_and(|k| sim.possible_responders.iter().any(|p| p == k)));
    if random_diverged {
        // kube-proxy's random endpoint choice: the kernel drew another endpoint of the
        // same Service, which the simulator also could have picked.
        r.status = Status::Agree;
        r.kernel = format!("{} (another endpoint of the same service: random choice)", r.kernel);
    }
    v.push(r);
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
    } else {
        let mut it = item(key("seen-src"), show(sim.seen_src.map(|a| a.to_string())), show(seen));
        if random_diverged && it.status == Status::Differ {
            // Another endpoint may sit on another node: the masquerade address differs.
            let why = "the kernel picked another endpoint, so the source it saw differs".to_string();
            it.status = Status::Skipped { why };
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

/// When the kernel's random endpoint choice sent a connection to another pod than the
/// simulator's, the two sides have talked to different hosts, so the neighbour entries
/// and bridge FDB entries they learned from that traffic differ legitimately. Those items
/// are then reported as skipped, with the reason; everything else is still compared.
fn relax_learned_state_after_random_choice(items: &mut [Item]) {
    let diverged =
        items.iter().any(|it| it.kernel.contains("(another endpoint of the same service: random choice)"));
    if !diverged {
        return;
    }
    for it in items.iter_mut() {
        let learned = it.key.ends_with(" ip neigh show") || it.key.ends_with(" bridge fdb show");
        if learned && it.status == Status::Differ {
            let why = "kube-proxy's random choice sent traffic to another endpoint in the kernel, so learned neighbours/FDB entries differ".to_string();
            it.status = Status::Skipped { why };
        }
    }
}
