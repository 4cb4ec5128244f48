//! Traversal of one table at one hook (`ipt_do_table`), with attribution: every rule
//! that matched is reported with its table, chain, number and saved text.
//!
//! Semantics, as in the kernel: rules are tried in order; a rule without target only
//! counts; `-j CHAIN` pushes a return point, `-g CHAIN` does not (so a RETURN or the
//! end of a chain entered by goto goes back to the chain that jumped last); RETURN or
//! the end of the built-in chain applies its policy; ACCEPT/DROP/REJECT end the
//! traversal; MARK, CONNMARK, LOG and NOTRACK/CT continue; a NAT target ends the
//! traversal with ACCEPT and reports the [`NatAction`], which the caller (the packet
//! path with conntrack) applies — nat chains are only traversed for the first packet
//! of a connection, and that is the caller's decision too.
//!
//! Sans-I/O: time, randomness and address types come in through [`EvalContext`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sim_core::SimTime;

use crate::packet::{FlowKey, Ipv4Packet, L4};

use super::decider::Decider;
use super::index::{ChainIndex, Lookup};
use super::matches::AddrTypeSet;
use super::matching::rule_matches;
use super::recent::RecentLists;
use super::rule::{ConnmarkOp, Hook, NatAction, Policy, RejectWith, Table, TableName, Target};

/// Conntrack's view of the packet (`ctinfo` + the entry), supplied by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

/// What `-m conntrack`, `-m state` and `-m connmark` see of the packet's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtInfo {
    pub state: CtState,
    /// Original-direction tuple (None without an entry).
    pub orig: Option<FlowKey>,
    /// Reply tuple: after NAT setup it no longer mirrors `orig`.
    pub reply: Option<FlowKey>,
    /// IPS_SRC_NAT / IPS_DST_NAT: the virtual states SNAT and DNAT.
    pub snat: bool,
    pub dnat: bool,
    /// `--ctstatus` bits: EXPECTED 1, SEEN_REPLY 2, ASSURED 4, CONFIRMED 8.
    pub status: u8,
    /// ctmark.
    pub mark: u32,
}

impl CtInfo {
    /// A new, unconfirmed entry for the first packet of a connection.
    pub fn new_connection(ip: &Ipv4Packet) -> Self {
        let orig = ip.flow();
        let reply =
            FlowKey { proto: orig.proto, src: orig.dst, dst: orig.src, sport: orig.dport, dport: orig.sport };
        CtInfo {
            state: CtState::New,
            orig: Some(orig),
            reply: Some(reply),
            snat: false,
            dnat: false,
            status: 0,
            mark: 0,
        }
    }
    /// A packet conntrack does not follow (`-j NOTRACK`/`CT --notrack`) or cannot
    /// classify (`Invalid`).
    pub fn without_entry(state: CtState) -> Self {
        CtInfo { state, orig: None, reply: None, snat: false, dnat: false, status: 0, mark: 0 }
    }
    pub fn is_tracked(&self) -> bool {
        !matches!(self.state, CtState::Invalid | CtState::Untracked)
    }
}

/// The packet as netfilter sees it at one hook.
#[derive(Clone, Debug)]
pub struct PacketInfo<'a> {
    pub ip: &'a Ipv4Packet,
    /// `-i`: incoming device (None in OUTPUT/POSTROUTING of local traffic).
    pub in_dev: Option<&'a str>,
    /// `-o`: outgoing device (None before routing).
    pub out_dev: Option<&'a str>,
    /// br_netfilter: the bridge ports the frame came in / goes out on.
    pub physdev_in: Option<&'a str>,
    pub physdev_out: Option<&'a str>,
    pub physdev_is_bridged: bool,
    /// The link-layer header the packet was received with (destination MAC, source
    /// MAC, EtherType 0x0800), for LOG's `MAC=`; None for locally sent packets.
    pub mac_header: Option<[u8; 14]>,
    pub mark: u32,
    pub ct: CtInfo,
}

impl<'a> PacketInfo<'a> {
    /// A first packet with no devices, mark 0 and a NEW conntrack entry.
    pub fn new(ip: &'a Ipv4Packet) -> Self {
        PacketInfo {
            ip,
            in_dev: None,
            out_dev: None,
            physdev_in: None,
            physdev_out: None,
            physdev_is_bridged: false,
            mac_header: None,
            mark: 0,
            ct: CtInfo::new_connection(ip),
        }
    }
}

/// What the caller lends one evaluation: the time (for `-m recent`), the random
/// decisions (for `-m statistic`) and the route type of an address (for `-m
/// addrtype`; the device is given for `--limit-iface-in/out`).
pub struct EvalContext<'a> {
    pub now: SimTime,
    pub decider: &'a mut dyn Decider,
    pub addr_type: &'a dyn Fn(Ipv4Addr, Option<&str>) -> AddrTypeSet,
}

/// The fate of the packet in this table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject(RejectWith),
}

/// A rule that matched, in traversal order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleHit {
    #[serde(serialize_with = "ser_table")]
    pub table: TableName,
    pub chain: String,
    /// 1-based position in its chain (`iptables -L --line-numbers`).
    pub num: usize,
    /// As iptables-save prints it: `-A CHAIN ...`.
    pub rule: String,
    /// What the rule did: its target as saved (`-j KUBE-SVC-...`), or empty.
    pub verdict_text: String,
}

fn ser_table<S: serde::Serializer>(t: &TableName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

/// Result of one traversal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// The packet mark afterwards.
    pub mark: u32,
    /// The ctmark afterwards, if a CONNMARK target changed it.
    pub ctmark: Option<u32>,
    pub nat: Option<NatAction>,
    /// A NOTRACK or CT --notrack target ran (raw table).
    pub notrack: bool,
    pub hits: Vec<RuleHit>,
    /// Kernel-log lines of LOG targets.
    pub logs: Vec<String>,
    /// The verdict is the built-in chain's policy (no rule gave one).
    pub by_policy: bool,
    /// How many rules were tested against the packet: with the chain index this stays
    /// small however many services a kube-proxy table holds.
    pub rules_tested: usize,
}

/// State that matches keep between packets: recent lists and nth counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchState {
    pub recent: RecentLists,
    /// Per (table, chain index, rule index): the statistic nth counter.
    pub nth: BTreeMap<(TableName, usize, usize), u32>,
}

/// Per chain, built at commit: the saved text of each rule and the optional index.
#[derive(Clone, Debug, Default)]
pub struct ChainCache {
    pub texts: Vec<String>,
    pub targets: Vec<String>,
    pub index: Option<ChainIndex>,
}

/// What matches need while a traversal runs.
pub(crate) struct EvalCtx<'a> {
    pub now: SimTime,
    pub decider: &'a mut dyn Decider,
    pub addr_type: &'a dyn Fn(Ipv4Addr, Option<&str>) -> AddrTypeSet,
    pub state: &'a mut MatchState,
    pub mark: u32,
    pub ctmark: Option<u32>,
    pub table: TableName,
}

struct Frame<'t> {
    chain: usize,
    pos: usize,
    lookup: Option<Lookup<'t>>,
}

/// Traverses `table`'s built-in chain for `hook` (ACCEPT with no hits if the table
/// has no such chain).
pub(crate) fn traverse(
    table: &Table,
    caches: &[ChainCache],
    use_index: bool,
    hook: Hook,
    p: &PacketInfo,
    ctx: &mut EvalContext,
    state: &mut MatchState,
) -> Evaluation {
    let mut cx = EvalCtx {
        now: ctx.now,
        decider: &mut *ctx.decider,
        addr_type: ctx.addr_type,
        state,
        mark: p.mark,
        ctmark: p.ct.is_tracked().then_some(p.ct.mark),
        table: table.name,
    };
    let mut ev = Evaluation {
        verdict: Verdict::Accept,
        mark: p.mark,
        ctmark: None,
        nat: None,
        notrack: false,
        hits: vec![],
        logs: vec![],
        by_policy: false,
        rules_tested: 0,
    };
    let Some(start) = table.chains.get_index_of(hook.chain_name()) else { return ev };
    let key = packet_key(p.ip);
    let enter = |chain: usize| Frame {
        chain,
        pos: 0,
        lookup: caches[chain].index.as_ref().filter(|_| use_index).map(|i| i.lookup(key)),
    };
    let policy = table.chains[start].policy.unwrap_or(Policy::Accept);
    let mut stack: Vec<Frame> = Vec::new();
    let mut f = enter(start);
    loop {
        let (_, chain) = table.chains.get_index(f.chain).expect("frame chains exist");
        let next = match &f.lookup {
            Some(l) => l.next_from(f.pos),
            None => (f.pos < chain.rules.len()).then_some(f.pos),
        };
        let Some(i) = next else {
            match stack.pop() {
                Some(up) => f = up,
                None => break (ev.verdict, ev.by_policy) = (policy_verdict(policy), true),
            }
            continue;
        };
        f.pos = i + 1;
        let rule = &chain.rules[i];
        ev.rules_tested += 1;
        if !rule_matches(rule, p, &mut cx, (f.chain, i)) {
            continue;
        }
        ev.hits.push(hit(table, caches, f.chain, i));
        let Some(target) = &rule.target else { continue };
        match target {
            Target::Accept => break ev.verdict = Verdict::Accept,
            Target::Drop => break ev.verdict = Verdict::Drop,
            Target::Reject(w) => break ev.verdict = Verdict::Reject(*w),
            Target::Nat(a) => {
                ev.nat = Some(a.clone());
                break ev.verdict = Verdict::Accept;
            }
            Target::Return => match stack.pop() {
                Some(up) => f = up,
                None => break (ev.verdict, ev.by_policy) = (policy_verdict(policy), true),
            },
            Target::Jump(c) | Target::Goto(c) => {
                let idx =
                    table.chains.get_index_of(c.as_str()).expect("jump targets exist (validated at commit)");
                let callee = enter(idx);
                if matches!(target, Target::Jump(_)) {
                    stack.push(std::mem::replace(&mut f, callee));
                    assert!(stack.len() <= 64, "jump depth is bounded by validation (15)");
                } else {
                    f = callee;
                }
            }
            Target::Mark { value, mask } => cx.mark = (cx.mark & !mask) ^ value,
            Target::Connmark(op) => connmark(&mut cx, &mut ev, *op),
            Target::Log { prefix, level } => {
                ev.logs.push(super::log::log_line(prefix.as_deref(), *level, p, cx.mark))
            }
            Target::Notrack | Target::CtNotrack => ev.notrack = true,
        }
    }
    ev.mark = cx.mark;
    ev
}

fn policy_verdict(p: Policy) -> Verdict {
    match p {
        Policy::Accept => Verdict::Accept,
        Policy::Drop => Verdict::Drop,
    }
}

fn hit(table: &Table, caches: &[ChainCache], chain: usize, i: usize) -> RuleHit {
    let (name, _) = table.chains.get_index(chain).expect("chain exists");
    RuleHit {
        table: table.name,
        chain: name.clone(),
        num: i + 1,
        rule: caches[chain].texts[i].clone(),
        verdict_text: caches[chain].targets[i].clone(),
    }
}

/// (destination, protocol number, destination port) used by the index.
pub(crate) fn packet_key(ip: &Ipv4Packet) -> (Ipv4Addr, u8, Option<u16>) {
    let dport = match &ip.body {
        L4::Tcp(t) => Some(t.dport),
        L4::Udp(u) => Some(u.dport),
        L4::Icmp(_) => None,
    };
    (ip.dst, ip.proto().number(), dport)
}

fn connmark(cx: &mut EvalCtx, ev: &mut Evaluation, op: ConnmarkOp) {
    let Some(ct) = cx.ctmark else { return };
    let new = match op {
        ConnmarkOp::SetXmark { value, mask } => (ct & !mask) ^ value,
        ConnmarkOp::Save { nfmask, ctmask } => (ct & !ctmask) ^ (cx.mark & nfmask),
        ConnmarkOp::Restore { nfmask, ctmask } => {
            cx.mark = (cx.mark & !nfmask) ^ (ct & ctmask);
            return;
        }
    };
    cx.ctmark = Some(new);
    ev.ctmark = Some(new);
}
