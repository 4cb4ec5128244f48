//! Probes whose answer kube-proxy's random endpoint choice decides, compared as a set.
//!
//! A probe to a Service with several endpoints reaches one of them at random
//! (`-m statistic --mode random`), and the kernel draws its own numbers: probe by probe,
//! the two sides may differ without either being wrong. What must agree is what the
//! repetitions of one step show together (the issue: "compare the set of pods reached
//! over repeated probes with the set the simulator says is possible"). A group is the
//! probes with the same `SimProbeResult::group` that have possible responders; for it:
//!
//! - every kernel responder must be one the simulator allows (an endpoint that was
//!   ready up to the probe's start, or one the simulator's probes reached);
//! - every kernel outcome class must be one the simulator's probes of the group had,
//!   or `reached` at an endpoint the simulator allows (checked per probe in
//!   `compare::probe_items`): a timeout where every simulated probe reached is a
//!   difference. A failure the simulator never had is not judged (skipped, saying why)
//!   while some possible endpoint was never drawn by the simulator's probes of the
//!   group: the kernel may have drawn it (a deleted pod, a pod on a dead node), and the
//!   simulator did not compute what it answers (nor when a load balancer draws the node
//!   too: the kernel may have gone through a node the simulator's probes did not);
//! - when the simulator's probes reached n >= 2 endpoints, and m kernel probes reached
//!   one, the kernel must have reached more than one endpoint, once chance makes that
//!   near certain: with each endpoint drawn with p = 1/n, all m landing on one endpoint
//!   has probability n * (1/n)^m, and the rule applies only when that is below
//!   [`SAME_ENDPOINT_CHANCE`] (m >= 18 for two endpoints: 2/2^18; m >= 12 for three).
//!   A kernel that always answered from one endpoint fails it.

use sim_net::ops::NetOp;

use super::SimProbeResult;
use super::compare::{Item, Status};

/// Below this chance of a fair draw putting every probe on one endpoint, a kernel that
/// did so fails the group. A false alarm fails CI, so it must stay rarer than one in
/// 100,000 runs of such a group, even with a few such groups per scenario.
pub const SAME_ENDPOINT_CHANCE: f64 = 1e-5;

/// What the kernel did for one probe, reduced to what is compared.
#[derive(Clone, Debug, Default)]
pub struct KernelSide {
    /// `None`: the agent did not report.
    pub outcome: Option<String>,
    pub detail: String,
    pub responder: Option<String>,
    pub seen: Option<String>,
    pub answer: Option<String>,
}

/// One group of random-choice probes (indices into the probe list).
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub members: Vec<usize>,
}

impl Group {
    /// Outcome classes the simulator's probes of the group had.
    pub fn sim_classes(&self, sims: &[SimProbeResult]) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.members.iter().map(|&i| sims[i].outcome.word()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Responders the simulator allows: every possible endpoint, and whoever its probes
    /// reached.
    pub fn allowed(&self, sims: &[SimProbeResult]) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for &i in &self.members {
            v.extend(sims[i].possible_responders.iter().cloned());
            v.extend(sims[i].responder.iter().cloned());
        }
        v.sort();
        v.dedup();
        v
    }

    /// Possible endpoints none of the simulator's probes of the group reached.
    pub fn undrawn(&self, sims: &[SimProbeResult]) -> Vec<String> {
        let reached: Vec<&str> = self.members.iter().filter_map(|&i| sims[i].responder.as_deref()).collect();
        self.allowed(sims).into_iter().filter(|a| !reached.contains(&a.as_str())).collect()
    }

    /// A simulated probe of the group whose answer came from `responder` having seen
    /// `seen` (when the entry node is random too, any source the simulator's answers
    /// from `responder` saw through any node), else the first one from `responder`.
    /// `Ok`: the pair is one the simulator also had.
    pub fn sim_seen_by(
        &self,
        sims: &[SimProbeResult],
        responder: &str,
        seen: Option<&str>,
    ) -> Option<Result<usize, usize>> {
        let from: Vec<usize> = self
            .members
            .iter()
            .copied()
            .filter(|&i| sims[i].responder.as_deref() == Some(responder))
            .collect();
        let same = |i: &usize| sims[*i].seen_src.map(|a| a.to_string()).as_deref() == seen;
        match from.iter().find(|i| same(i)) {
            Some(&i) => Some(Ok(i)),
            None => from.first().map(|&i| Err(i)),
        }
    }
}

/// The groups: probes with possible responders, by `group` (a probe without one is a
/// group of its own), in the order of their first probe.
pub fn groups(sims: &[SimProbeResult]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, s) in sims.iter().enumerate() {
        if s.possible_responders.is_empty() {
            continue;
        }
        match out.iter_mut().find(|g| !s.group.is_empty() && g.name == s.group) {
            Some(g) => g.members.push(i),
            None => out.push(Group { name: s.group.clone(), members: vec![i] }),
        }
    }
    out
}

fn distinct(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

/// `"reached pod-a x3, timeout x2"`: the outcomes and responders of a group, counted.
fn census<'a>(it: impl Iterator<Item = (String, Option<&'a str>)>) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (class, who) in it {
        let k = match who {
            Some(w) => format!("{class} {w}"),
            None => class,
        };
        match counts.iter_mut().find(|(c, _)| *c == k) {
            Some((_, n)) => *n += 1,
            None => counts.push((k, 1)),
        }
    }
    counts.sort();
    counts.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
}

/// `probe GROUP endpoints`: both sides' census; differs when the kernel reached an
/// endpoint the simulator does not allow, or stayed on one endpoint where a fair draw
/// would not have (see the module comment).
pub fn group_item(g: &Group, sims: &[SimProbeResult], kernel: &[KernelSide]) -> Item {
    let sim =
        census(g.members.iter().map(|&i| (sims[i].outcome.word().to_string(), sims[i].responder.as_deref())));
    let k = census(g.members.iter().map(|&i| {
        (kernel[i].outcome.clone().unwrap_or_else(|| "no-report".into()), kernel[i].responder.as_deref())
    }));
    let allowed = g.allowed(sims);
    let sim_reached = distinct(g.members.iter().filter_map(|&i| sims[i].responder.as_deref()).collect());
    let k_reached_all: Vec<&str> = g.members.iter().filter_map(|&i| kernel[i].responder.as_deref()).collect();
    let m = k_reached_all.len();
    let k_reached = distinct(k_reached_all);
    let outside: Vec<&str> = k_reached.iter().copied().filter(|r| !allowed.iter().any(|a| a == r)).collect();
    let n = sim_reached.len();
    let chance = n as f64 * (1.0 / n as f64).powi(i32::try_from(m).unwrap_or(i32::MAX));
    let stuck = n >= 2 && chance < SAME_ENDPOINT_CHANCE && k_reached.len() < 2;
    let key = format!("probe {} endpoints", g.name);
    let mut it = Item { key, status: Status::Agree, sim, kernel: k };
    if !outside.is_empty() {
        it.status = Status::Differ;
        it.kernel = format!("{} (not an endpoint the simulator allows: {})", it.kernel, outside.join(", "));
    } else if stuck {
        it.status = Status::Differ;
        it.kernel = format!(
            "{} (one endpoint only over {m} probes; a fair draw among {n} does that with chance {chance:.1e})",
            it.kernel
        );
    }
    it
}

/// Namespaces whose learned state (neighbours, bridge FDB) a diverged group may have
/// changed differently on the two sides: every namespace the simulator's probes of the
/// group crossed, and around their source and every endpoint the kernel could have
/// reached instead: the
/// endpoint's namespace, the namespaces its veths lead to (its node, or a hostNetwork
/// endpoint's pods and the underlay), and, one veth further, those with a bridge (the
/// underlay switch the traffic to that node crossed).
pub fn learned_scope(g: &Group, sims: &[SimProbeResult], ops: &[NetOp]) -> Vec<String> {
    let mut v: Vec<String> = g.members.iter().flat_map(|&i| sims[i].path.iter().cloned()).collect();
    let sources = g.members.iter().filter_map(|&i| sims[i].path.first().cloned());
    let mut around: Vec<String> = sources.chain(g.allowed(sims)).collect();
    around.dedup();
    for r in around {
        let near = veth_peers(ops, &r);
        for n in &near {
            v.extend(veth_peers(ops, n).into_iter().filter(|x| has_bridge(ops, x)));
        }
        v.extend(near);
        v.push(r);
    }
    v.sort();
    v.dedup();
    v
}

fn veth_peers(ops: &[NetOp], ns: &str) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            NetOp::AddVeth { netns, peer_netns, .. } if netns == ns => Some(peer_netns.clone()),
            NetOp::AddVeth { netns, peer_netns, .. } if peer_netns == ns => Some(netns.clone()),
            _ => None,
        })
        .filter(|n| n != ns)
        .collect()
}

fn has_bridge(ops: &[NetOp], ns: &str) -> bool {
    ops.iter().any(|op| matches!(op, NetOp::AddBridge { netns, .. } if netns == ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_net::stack::ProbeOutcome;

    fn sim(responder: Option<&str>, outcome: ProbeOutcome) -> SimProbeResult {
        SimProbeResult {
            outcome,
            responder: responder.map(str::to_string),
            seen_src: None,
            detail: String::new(),
            possible_responders: vec!["a".into(), "b".into()],
            group: "step-1-tcp".into(),
            random_entry: false,
            answer: None,
            path: vec![],
        }
    }
    fn kernel(responder: Option<&str>) -> KernelSide {
        let outcome = Some(if responder.is_some() { "reached" } else { "timeout" }.to_string());
        KernelSide { outcome, responder: responder.map(str::to_string), ..KernelSide::default() }
    }
    fn alternating(n: usize) -> Vec<SimProbeResult> {
        (0..n).map(|i| sim(Some(if i % 2 == 0 { "a" } else { "b" }), ProbeOutcome::Reached)).collect()
    }

    #[test]
    fn a_kernel_stuck_on_one_endpoint_fails_a_large_group_only() {
        let sims = alternating(18);
        let g = &groups(&sims)[0];
        assert_eq!(g.members.len(), 18);
        let stuck: Vec<KernelSide> = (0..18).map(|_| kernel(Some("a"))).collect();
        let it = group_item(g, &sims, &stuck);
        assert_eq!(it.status, Status::Differ, "{it:?}");
        assert!(it.kernel.contains("one endpoint only over 18 probes"), "{}", it.kernel);
        let fair: Vec<KernelSide> = (0..18).map(|i| kernel(Some(if i < 3 { "b" } else { "a" }))).collect();
        assert_eq!(group_item(g, &sims, &fair).status, Status::Agree);
        // Ten probes over two endpoints: one endpoint only happens 1 time in 512 by chance,
        // too often to fail a CI run on.
        let sims = alternating(10);
        let g = &groups(&sims)[0];
        assert_eq!(group_item(g, &sims, &stuck[..10]).status, Status::Agree);
    }

    #[test]
    fn a_kernel_responder_outside_the_allowed_set_fails() {
        let sims = alternating(2);
        let g = &groups(&sims)[0];
        let it = group_item(g, &sims, &[kernel(Some("a")), kernel(Some("c"))]);
        assert_eq!(it.status, Status::Differ);
        assert!(it.kernel.contains("not an endpoint the simulator allows: c"), "{}", it.kernel);
        assert_eq!(it.sim, "reached a x1, reached b x1");
    }

    #[test]
    fn groups_are_formed_by_name_and_only_for_random_choices() {
        let mut sims = alternating(3);
        sims[1].group = "step-2-tcp".into();
        sims.push(SimProbeResult { possible_responders: vec![], ..sims[0].clone() });
        let gs = groups(&sims);
        let members: Vec<Vec<usize>> = gs.iter().map(|g| g.members.clone()).collect();
        assert_eq!(members, [vec![0, 2], vec![1]]);
        assert_eq!(gs[0].sim_classes(&sims), ["reached"]);
    }

    #[test]
    fn the_learned_scope_is_the_path_and_the_neighbourhood_of_each_endpoint() {
        let mac = sim_net::packet::Mac([2, 0, 0, 0, 0, 1]);
        let veth = |a: &str, b: &str| NetOp::AddVeth {
            netns: a.into(),
            name: "x".into(),
            mac,
            peer_netns: b.into(),
            peer_name: "y".into(),
            peer_mac: mac,
        };
        let ops = [
            veth("node-1", "a"),
            veth("node-2", "b"),
            veth("node-3", "c"),
            veth("node-2", "other-pod"),
            veth("node-1", "underlay"),
            veth("node-2", "underlay"),
            veth("node-3", "underlay"),
            NetOp::AddBridge { netns: "underlay".into(), name: "br0".into(), mac },
        ];
        let mut sims = alternating(2);
        sims[0].path = vec!["client".into(), "underlay".into(), "node-1".into(), "a".into()];
        let g = &groups(&sims)[0];
        let scope = learned_scope(g, &sims, &ops);
        assert_eq!(scope, ["a", "b", "client", "node-1", "node-2", "underlay"]);
        // The source's surroundings count too (a DNS query is not traced on its own).
        sims[0].path = vec!["c".into()];
        let scope = learned_scope(g, &sims, &ops);
        assert_eq!(scope, ["a", "b", "c", "node-1", "node-2", "node-3", "underlay"]);
    }
}
