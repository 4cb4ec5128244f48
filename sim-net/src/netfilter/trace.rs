//! The iptables tracer: one new connection walked through the hooks in Linux order,
//! with every matching rule, and every possible outcome of `-m statistic --mode
//! random` choices with its probability.
//!
//! Walk (reference §3): arriving on a device: raw PREROUTING, mangle PREROUTING, nat
//! PREROUTING (DNAT), routing (local if the destination is a local address), then
//! mangle+filter INPUT and nat INPUT, or mangle+filter FORWARD and mangle+nat
//! POSTROUTING. Locally sent: raw, mangle, nat, filter OUTPUT, mangle+nat POSTROUTING,
//! and, if the (possibly DNATed) destination is local, the loopback input path (raw
//! and mangle PREROUTING, mangle and filter INPUT on `lo`; nat is not traversed again).
//! The nat table is skipped for untracked packets (NOTRACK in raw).
//!
//! Deviations (the tracer has no routing table or devices): REDIRECT and MASQUERADE
//! are reported, not resolved to an address (REDIRECT uses the first local IP); a DNAT
//! to an address range takes the range's first address and port (the kernel hashes
//! the tuple); `-o` only matches if the caller names the egress device.

use std::net::Ipv4Addr;

use sim_core::{RngStreams, SimTime};

use crate::packet::{Icmp, IpProto, Ipv4Packet, L4, TcpFlags, TcpSegment, UdpDatagram, UdpPayload};

use super::decider::{Decider, RngDecider, ScriptedDecider, branch_probability};
use super::eval::{CtInfo, CtState, EvalContext, MatchState, PacketInfo, RuleHit, Verdict};
use super::matches::AddrTypeSet;
use super::rule::{Hook, NatAction, TableName};
use super::{Netfilter, save};

/// Where the traced packet comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Received on this device (`--in IFACE`).
    In(String),
    /// Sent by a local process (`--local-out`).
    LocalOut,
}

/// One packet to trace: the first packet of a new connection.
#[derive(Clone, Debug)]
pub struct TraceRequest {
    pub proto: IpProto,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub entry: Entry,
    /// Egress device for `-o` matches, if known.
    pub out_dev: Option<String>,
    /// The node's addresses with their devices: `addrtype LOCAL` (with
    /// `--limit-iface-in/out`, only on that device) and the routing decision (127/8 is
    /// always local, on `lo`).
    pub local_ips: Vec<LocalIp>,
    pub now: SimTime,
}

/// One address of the traced node and the device it is configured on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalIp {
    pub ip: Ipv4Addr,
    pub dev: String,
}

impl LocalIp {
    /// The device an address is on when none is named: the node's primary interface.
    pub const DEFAULT_DEV: &'static str = "eth0";

    /// `IP` (on [`Self::DEFAULT_DEV`]) or `IP%DEV`.
    pub fn parse(s: &str) -> Result<LocalIp, String> {
        let (ip, dev) = s.split_once('%').unwrap_or((s, Self::DEFAULT_DEV));
        let ip = ip
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("bad IPv4 address in `{s}' (expected IP or IP%DEV)"))?;
        if dev.is_empty() {
            return Err(format!("empty device name in `{s}' (expected IP%DEV)"));
        }
        Ok(LocalIp { ip, dev: dev.to_string() })
    }
}

/// The rules one table traversal matched.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HookStep {
    pub table: String,
    pub hook: String,
    pub verdict: String,
    pub hits: Vec<RuleHit>,
    /// Kernel-log lines of the LOG rules that matched in this traversal.
    pub logs: Vec<String>,
}

/// One possible fate of the packet.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceOutcome {
    /// Probability of this outcome (product of the statistic decisions on its path).
    pub probability: f64,
    /// Outcomes of the statistic matches evaluated, in order.
    pub decisions: Vec<bool>,
    pub steps: Vec<HookStep>,
    /// `local`, `forward` or `output`.
    pub route: String,
    /// ACCEPT, DROP or REJECT --reject-with ...
    pub verdict: String,
    /// The table and hook that dropped or rejected the packet.
    pub stopped_at: Option<String>,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    /// The DNAT/REDIRECT target that applied, as saved.
    pub dnat: Option<String>,
    /// The SNAT/MASQUERADE target that applied, as saved.
    pub snat: Option<String>,
    /// Mark bit 0x4000 (kube-proxy's KUBE-MARK-MASQ) was set at some hook.
    pub masquerade_mark: bool,
    pub mark: u32,
    pub logs: Vec<String>,
    #[serde(skip)]
    pub final_verdict: Verdict,
}

/// Every outcome, in rule order of the random choices.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceReport {
    pub outcomes: Vec<TraceOutcome>,
    /// More than [`MAX_OUTCOMES`] outcomes: the list was cut.
    pub truncated: bool,
}

/// Enumeration bound: a trace never lists more outcomes than this.
pub const MAX_OUTCOMES: usize = 4096;

/// Lists every outcome with its probability, without changing `nf`.
pub fn trace(nf: &Netfilter, req: &TraceRequest) -> TraceReport {
    let mut outcomes: Vec<TraceOutcome> = Vec::new();
    let mut todo: Vec<Vec<bool>> = vec![vec![]];
    let mut truncated = false;
    while let Some(prefix) = todo.pop() {
        if outcomes.len() >= MAX_OUTCOMES {
            truncated = true;
            break;
        }
        let mut d = ScriptedDecider::new(prefix.clone());
        let mut state = nf.match_state().clone();
        let o = trace_one(nf, req, &mut d, &mut state);
        for i in prefix.len()..d.taken.len() {
            let (t, yes) = d.taken[i];
            if !yes && t > 0 {
                let mut alt: Vec<bool> = d.taken[..i].iter().map(|(_, y)| *y).collect();
                alt.push(true);
                todo.push(alt);
            }
        }
        outcomes.push(o);
    }
    outcomes.sort_by(|a, b| {
        let key = |o: &TraceOutcome| o.decisions.iter().map(|y| !y).collect::<Vec<_>>();
        key(a).cmp(&key(b))
    });
    TraceReport { outcomes, truncated }
}

/// Follows one draw of the `"iptables-trace"` stream of `seed`; commits nothing.
pub fn trace_seeded(nf: &Netfilter, req: &TraceRequest, seed: u64) -> TraceOutcome {
    let mut d = RngDecider::new(RngStreams::new(seed).stream("iptables-trace"));
    let mut state = nf.match_state().clone();
    trace_one(nf, req, &mut d, &mut state)
}

/// The packet the tracer sends: TCP SYN, empty UDP datagram, or ICMP echo request.
pub fn first_packet(req: &TraceRequest) -> Ipv4Packet {
    let body = match req.proto {
        IpProto::Tcp => L4::Tcp(TcpSegment {
            sport: req.sport,
            dport: req.dport,
            flags: TcpFlags::SYN,
            window: 64240,
            ..TcpSegment::default()
        }),
        IpProto::Udp => {
            L4::Udp(UdpDatagram { sport: req.sport, dport: req.dport, payload: UdpPayload::Data(vec![]) })
        }
        IpProto::Icmp => L4::Icmp(Icmp::EchoRequest { ident: req.sport, seq: 1, data: vec![] }),
    };
    Ipv4Packet::new(req.src, req.dst, body)
}

/// Walks one packet through the hooks, drawing from `decider`, updating `state`.
pub fn trace_one(
    nf: &Netfilter,
    req: &TraceRequest,
    decider: &mut dyn Decider,
    state: &mut MatchState,
) -> TraceOutcome {
    let mut rec = Recorder { inner: decider, taken: vec![] };
    let mut w = Walk::new(nf, req, &mut rec, state);
    match &req.entry {
        Entry::In(dev) => w.inbound(dev),
        Entry::LocalOut => w.local_out(),
    }
    let mut o = w.finish();
    o.probability = rec.taken.iter().map(|&(t, y)| branch_probability(t, y)).product();
    o.decisions = rec.taken.iter().map(|&(_, y)| y).collect();
    o
}

/// Passes decisions through and remembers them.
struct Recorder<'a> {
    inner: &'a mut dyn Decider,
    taken: Vec<(u32, bool)>,
}

impl Decider for Recorder<'_> {
    fn random(&mut self, threshold_u31: u32) -> bool {
        let yes = self.inner.random(threshold_u31);
        self.taken.push((threshold_u31, yes));
        yes
    }
}

struct Walk<'a> {
    nf: &'a Netfilter,
    req: &'a TraceRequest,
    decider: &'a mut dyn Decider,
    state: &'a mut MatchState,
    ip: Ipv4Packet,
    ct: CtInfo,
    mark: u32,
    out: TraceOutcome,
    stopped: bool,
}

impl<'a> Walk<'a> {
    fn new(
        nf: &'a Netfilter,
        req: &'a TraceRequest,
        decider: &'a mut dyn Decider,
        state: &'a mut MatchState,
    ) -> Self {
        let ip = first_packet(req);
        let ct = CtInfo::new_connection(&ip);
        let out = TraceOutcome {
            probability: 1.0,
            decisions: vec![],
            steps: vec![],
            route: String::new(),
            verdict: "ACCEPT".into(),
            stopped_at: None,
            src: req.src,
            sport: req.sport,
            dst: req.dst,
            dport: req.dport,
            dnat: None,
            snat: None,
            masquerade_mark: false,
            mark: 0,
            logs: vec![],
            final_verdict: Verdict::Accept,
        };
        Walk { nf, req, decider, state, ip, ct, mark: 0, out, stopped: false }
    }

    fn is_local(&self, a: Ipv4Addr) -> bool {
        a.is_loopback() || self.req.local_ips.iter().any(|l| l.ip == a)
    }

    fn inbound(&mut self, dev: &str) {
        self.run(TableName::Raw, Hook::Prerouting, Some(dev), None);
        self.run(TableName::Mangle, Hook::Prerouting, Some(dev), None);
        self.run(TableName::Nat, Hook::Prerouting, Some(dev), None);
        if self.is_local(self.ip.dst) {
            self.out.route = "local".into();
            self.local_input(dev);
        } else {
            self.out.route = "forward".into();
            let out = self.req.out_dev.clone();
            self.run(TableName::Mangle, Hook::Forward, Some(dev), out.as_deref());
            self.run(TableName::Filter, Hook::Forward, Some(dev), out.as_deref());
            self.run(TableName::Mangle, Hook::Postrouting, None, out.as_deref());
            self.run(TableName::Nat, Hook::Postrouting, None, out.as_deref());
        }
    }

    fn local_input(&mut self, dev: &str) {
        self.run(TableName::Mangle, Hook::Input, Some(dev), None);
        self.run(TableName::Filter, Hook::Input, Some(dev), None);
        self.run(TableName::Nat, Hook::Input, Some(dev), None);
    }

    fn local_out(&mut self) {
        self.out.route = "output".into();
        let out = self.req.out_dev.clone();
        for t in [TableName::Raw, TableName::Mangle, TableName::Nat, TableName::Filter] {
            self.run(t, Hook::Output, None, out.as_deref());
        }
        self.run(TableName::Mangle, Hook::Postrouting, None, out.as_deref());
        self.run(TableName::Nat, Hook::Postrouting, None, out.as_deref());
        if self.is_local(self.ip.dst) {
            // Looped back through lo; conntrack already holds the NAT bindings.
            self.run(TableName::Raw, Hook::Prerouting, Some("lo"), None);
            self.run(TableName::Mangle, Hook::Prerouting, Some("lo"), None);
            self.run(TableName::Mangle, Hook::Input, Some("lo"), None);
            self.run(TableName::Filter, Hook::Input, Some("lo"), None);
        }
    }

    fn run(&mut self, table: TableName, hook: Hook, in_dev: Option<&str>, out_dev: Option<&str>) {
        if self.stopped || self.nf.table(table).is_none() {
            return;
        }
        if table == TableName::Nat && (!self.ct.is_tracked() || self.done_nat(hook)) {
            return;
        }
        let pkt = PacketInfo {
            ip: &self.ip,
            in_dev,
            out_dev,
            physdev_in: None,
            physdev_out: None,
            physdev_is_bridged: false,
            // The tracer has no frame: LOG prints an empty `MAC=`.
            mac_header: None,
            mark: self.mark,
            ct: self.ct.clone(),
        };
        let local = self.req.local_ips.clone();
        let addr_type = move |a: Ipv4Addr, dev: Option<&str>| node_addr_type(a, &local, dev);
        let mut ctx = EvalContext { now: self.req.now, decider: &mut *self.decider, addr_type: &addr_type };
        let ev = self.nf.evaluate_with_state(table, hook, &pkt, &mut ctx, self.state);
        self.mark = ev.mark;
        self.out.masquerade_mark |= ev.mark & 0x4000 != 0;
        if let Some(m) = ev.ctmark {
            self.ct.mark = m;
        }
        if ev.notrack {
            self.ct = CtInfo::without_entry(CtState::Untracked);
        }
        self.out.logs.extend(ev.logs.iter().cloned());
        let verdict = verdict_text(ev.verdict);
        self.out.steps.push(HookStep {
            table: table.name().into(),
            hook: hook.chain_name().into(),
            verdict,
            hits: ev.hits,
            logs: ev.logs,
        });
        if let Some(n) = ev.nat {
            self.apply_nat(&n);
        }
        if ev.verdict != Verdict::Accept {
            self.stopped = true;
            self.out.final_verdict = ev.verdict;
            self.out.verdict = verdict_text(ev.verdict);
            self.out.stopped_at = Some(format!("{table} {hook}"));
        }
    }

    /// A NAT binding of this hook's kind already exists (DNAT at PREROUTING/OUTPUT,
    /// SNAT at POSTROUTING/INPUT), as after the first traversal of the nat table.
    fn done_nat(&self, hook: Hook) -> bool {
        let dst_hook = matches!(hook, Hook::Prerouting | Hook::Output);
        self.out
            .steps
            .iter()
            .any(|s| s.table == "nat" && matches!(s.hook.as_str(), "PREROUTING" | "OUTPUT") == dst_hook)
    }

    fn apply_nat(&mut self, n: &NatAction) {
        let text = save::target_text(&super::rule::Target::Nat(n.clone()));
        let port = |p: Option<super::rule::PortRange>, old: u16| p.map_or(old, |p| p.lo);
        let (sport, dport) = self.ip.ports();
        match n {
            NatAction::Dnat { range, .. } => self.ip.set_dst(range.min_ip, Some(port(range.ports, dport))),
            NatAction::Redirect { ports, .. } => {
                let addr = if self.req.entry == Entry::LocalOut {
                    Ipv4Addr::LOCALHOST
                } else {
                    self.req.local_ips.first().map_or(Ipv4Addr::LOCALHOST, |l| l.ip)
                };
                self.ip.set_dst(addr, Some(port(*ports, dport)));
            }
            NatAction::Snat { range, .. } => self.ip.set_src(range.min_ip, Some(port(range.ports, sport))),
            NatAction::Masquerade { .. } => {}
        }
        if matches!(n, NatAction::Dnat { .. } | NatAction::Redirect { .. }) {
            self.ct.dnat = true;
            self.out.dnat = Some(text);
            if let Some(r) = self.ct.reply.as_mut() {
                let (_, d) = self.ip.ports();
                (r.src, r.sport) = (self.ip.dst, d);
            }
        } else {
            self.ct.snat = true;
            self.out.snat = Some(text);
        }
    }

    fn finish(mut self) -> TraceOutcome {
        let (sport, dport) = self.ip.ports();
        (self.out.src, self.out.sport, self.out.dst, self.out.dport) =
            (self.ip.src, sport, self.ip.dst, dport);
        self.out.mark = self.mark;
        self.out
    }
}

/// `addrtype` for the tracer, as `inet_dev_addr_type` answers from the node's local
/// table: 0.0.0.0 and 255.255.255.255 BROADCAST, 224/4 MULTICAST, the node's
/// addresses and 127/8 LOCAL — but with a device (`--limit-iface-in/out`) only if the
/// address is on that device (127/8 is on `lo`), else UNICAST.
pub fn node_addr_type(a: Ipv4Addr, local: &[LocalIp], dev: Option<&str>) -> AddrTypeSet {
    if a.is_broadcast() || a.is_unspecified() {
        return AddrTypeSet(AddrTypeSet::BROADCAST);
    }
    if a.is_multicast() {
        return AddrTypeSet(AddrTypeSet::MULTICAST);
    }
    let on = |d: &str| dev.is_none_or(|want| want == d);
    let is_local = (a.is_loopback() && on("lo")) || local.iter().any(|l| l.ip == a && on(&l.dev));
    AddrTypeSet(if is_local { AddrTypeSet::LOCAL } else { AddrTypeSet::UNICAST })
}

fn verdict_text(v: Verdict) -> String {
    match v {
        Verdict::Accept => "ACCEPT".into(),
        Verdict::Drop => "DROP".into(),
        Verdict::Reject(w) => format!("REJECT --reject-with {}", w.name()),
    }
}
