//! Netfilter hook points on the packet path, in the order Linux calls them
//! (include/uapi/linux/netfilter_ipv4.h priorities): raw −300, conntrack −200,
//! mangle −150, nat DNAT −100, filter 0, nat SNAT 100, conntrack confirm last.
//!
//! Each hook runs the namespace's iptables tables through `netfilter::Netfilter` and
//! keeps the packet's connection in a `conntrack::Tracked` carried with it. The nat
//! table runs only for a connection's first packet; later packets (both directions) are
//! translated from the stored bindings. MASQUERADE takes the primary address of the
//! egress device for the next hop (`inet_select_addr`).
//!
//! Difference from Linux: conntrack is active in a namespace only once some iptables
//! table exists there (Linux registers its hooks per namespace on demand, when a table
//! or match needs them; a pod namespace without rules has none). See docs/fidelity.md.

use std::net::Ipv4Addr;

use sim_core::SimRng;

use crate::conntrack::{self, Conntrack, ConntrackConfig, Manip, NatTo, Tracked};
use crate::hop::{DropReason, Step};
use crate::netfilter::{
    self, AddrTypeSet, EvalContext, Evaluation, Hook, NatAction, Netfilter, PacketInfo, RejectWith,
    RngDecider, TableName, Verdict,
};
use crate::netns::NsId;
use crate::network::Network;
use crate::ops::{RouteType, Table};
use crate::packet::{Icmp, Ipv4Packet, L4, TcpFlags, TcpSegment, UnreachCode};
use crate::path::Skb;
use crate::route::Route;

/// The connection a packet belongs to, carried from its first hook to its last.
pub(crate) type Ct = Tracked;

/// Netfilter state of one namespace: the iptables tables, conntrack, and the seeded
/// random streams for `-m statistic` and NAT port choice.
#[derive(Debug)]
pub struct NetfilterState {
    pub tables: Netfilter,
    pub conntrack: Conntrack,
    decider: RngDecider,
    nat_rng: SimRng,
}

impl Default for NetfilterState {
    /// Placeholder streams; `Network` gives every namespace its own named ones.
    fn default() -> Self {
        let s = sim_core::RngStreams::new(0);
        NetfilterState::new(s.stream("netfilter"), s.stream("nat"))
    }
}

impl NetfilterState {
    pub fn new(decider: SimRng, nat_rng: SimRng) -> Self {
        NetfilterState {
            tables: Netfilter::new(),
            conntrack: Conntrack::new(ConntrackConfig::default()),
            decider: RngDecider::new(decider),
            nat_rng,
        }
    }

    /// `iptables-restore [--noflush]`; the error is iptables-restore's message.
    pub fn restore(&mut self, input: &str, noflush: bool) -> Result<(), String> {
        self.tables.restore(input, noflush).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Whether any table exists (and so conntrack runs).
    pub fn active(&self) -> bool {
        TableName::ALL.iter().any(|t| self.tables.table(*t).is_some())
    }
}

/// Where in the path a table is traversed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    pub hook: Hook,
    pub out_dev: Option<u32>,
    pub physdev_out: Option<u32>,
}

/// What one table decided for the path.
enum TableOutcome {
    Continue { nat: Option<NatAction>, notrack: bool },
    Stopped,
}

fn table_label(t: TableName) -> &'static str {
    match t {
        TableName::Raw => "raw",
        TableName::Mangle => "mangle",
        TableName::Nat => "nat",
        TableName::Filter => "filter",
    }
}

fn hook_label(h: Hook) -> &'static str {
    match h {
        Hook::Prerouting => "PREROUTING",
        Hook::Input => "INPUT",
        Hook::Forward => "FORWARD",
        Hook::Output => "OUTPUT",
        Hook::Postrouting => "POSTROUTING",
    }
}

/// The verdict hop of a table that accepted after some rule matched:
/// `nat PREROUTING: ACCEPT (DNAT --to-destination 10.244.1.5:8080)`, with `(policy)`
/// when no rule gave the verdict and the chain's policy did.
fn accept_hop_text(label: &str, ev: &Evaluation) -> String {
    let mut s = format!("{label}: ACCEPT");
    if let Some(n) = &ev.nat {
        let target = netfilter::save::target_text(&netfilter::Target::Nat(n.clone()));
        s += &format!(" ({})", target.trim_start_matches("-j "));
    }
    if ev.by_policy {
        s += " (policy)";
    }
    s
}

/// The conntrack view netfilter matches on.
fn nf_ct(ct: &Ct) -> netfilter::CtInfo {
    let i = ct.info();
    let state = match i.state {
        conntrack::CtState::New => netfilter::CtState::New,
        conntrack::CtState::Established => netfilter::CtState::Established,
        conntrack::CtState::Related => netfilter::CtState::Related,
        conntrack::CtState::Invalid => netfilter::CtState::Invalid,
        conntrack::CtState::Untracked => netfilter::CtState::Untracked,
    };
    let key = |t: conntrack::Tuple| crate::packet::FlowKey {
        proto: t.proto,
        src: t.src,
        dst: t.dst,
        sport: t.sport,
        dport: t.dport,
    };
    let s = i.status;
    let status = (u8::from(s.seen_reply) << 1) | (u8::from(s.assured) << 2) | (u8::from(s.confirmed) << 3);
    netfilter::CtInfo {
        state,
        orig: i.orig.map(key),
        reply: i.reply.map(key),
        snat: s.src_nat,
        dnat: s.dst_nat,
        status,
        mark: i.mark,
    }
}

impl Network {
    fn nf_active(&self, ns: NsId) -> bool {
        self.ns(ns).nf.active()
    }

    /// `inet_dev_addr_type`: the type of an address in this namespace's local table.
    /// With `dev` (addrtype `--limit-iface-in/out`), the local-table route found must
    /// point at that device, otherwise the address counts as UNICAST — so the node's
    /// own address on eth0 is not LOCAL for a packet that arrived on cni0.
    fn addr_type(&self, ns: NsId, ip: Ipv4Addr, dev: Option<&str>) -> AddrTypeSet {
        if ip.is_broadcast() || ip.is_unspecified() {
            return AddrTypeSet(AddrTypeSet::BROADCAST);
        }
        if ip.is_multicast() {
            return AddrTypeSet(AddrTypeSet::MULTICAST);
        }
        let local = self.ns(ns).routes.iter().find(|r| {
            r.table == Table::Local
                && r.dst.contains(&ip)
                && (r.kind == RouteType::Local || r.dst.prefix_len() == 32)
        });
        let local = local.filter(|r| dev.is_none_or(|d| r.dev.as_deref() == Some(d)));
        match local.map(|r| r.kind) {
            Some(RouteType::Local) => AddrTypeSet(AddrTypeSet::LOCAL),
            Some(RouteType::Broadcast) => AddrTypeSet(AddrTypeSet::BROADCAST),
            _ => AddrTypeSet(AddrTypeSet::UNICAST),
        }
    }

    /// Traverses one table at one hook: rule hits go to the trace, the mark is applied,
    /// DROP and REJECT end the packet here.
    fn nf_table(&mut self, ns: NsId, table: TableName, at: At, skb: &mut Skb, ct: &mut Ct) -> TableOutcome {
        if self.ns(ns).nf.tables.table(table).is_none() {
            return TableOutcome::Continue { nat: None, notrack: false };
        }
        let ev = self.evaluate(ns, table, at, skb, ct);
        // Hop texts are built only when tracing: this runs for every packet at every hook.
        let label = || format!("{} {}", table_label(table), hook_label(at.hook));
        let dev = at.out_dev.or(skb.in_dev);
        for hit in &ev.hits {
            let text = || format!("{} #{}: {}", table_label(table), hit.num, hit.rule);
            self.trace(ns, dev, skb.tag, Step::Rule, |_| text(), String::new);
        }
        for log in &ev.logs {
            self.trace(ns, dev, skb.tag, Step::Netfilter, |_| format!("LOG {log}"), String::new);
        }
        skb.mark = ev.mark;
        if let Some(m) = ev.ctmark {
            self.ns_mut(ns).nf.conntrack.set_mark(ct, m);
        }
        match ev.verdict {
            Verdict::Accept => {
                // The verdict is a hop too, but only where a rule matched: a table the
                // packet crossed without a match would only add noise.
                if !ev.hits.is_empty() {
                    self.trace(
                        ns,
                        dev,
                        skb.tag,
                        Step::Netfilter,
                        |_| accept_hop_text(&label(), &ev),
                        String::new,
                    );
                }
                TableOutcome::Continue { nat: ev.nat, notrack: ev.notrack }
            }
            Verdict::Drop => {
                let policy = if ev.by_policy { " (policy DROP)" } else { "" };
                self.drop_pkt(ns, dev, skb, DropReason::RuleDrop, |_| format!("{}{policy}", label()));
                TableOutcome::Stopped
            }
            Verdict::Reject(with) => {
                self.drop_pkt(ns, dev, skb, DropReason::RuleReject, |_| {
                    format!("{} --reject-with {}", label(), with.name())
                });
                self.send_reject(ns, skb, with);
                TableOutcome::Stopped
            }
        }
    }

    fn evaluate(&mut self, ns: NsId, table: TableName, at: At, skb: &Skb, ct: &Ct) -> Evaluation {
        let n = self.ns(ns);
        let name = |d: Option<u32>| d.map(|i| n.dev_name(i).to_string());
        let in_dev = name(skb.in_dev);
        let out_dev = name(at.out_dev);
        let physdev_in = name(skb.physdev_in);
        let physdev_out = name(at.physdev_out);
        let bridged = skb.physdev_in.is_some() && at.physdev_out.is_some();
        let now = self.now;
        let mut tables = std::mem::take(&mut self.ns_mut(ns).nf.tables);
        let mut decider = std::mem::replace(
            &mut self.ns_mut(ns).nf.decider,
            RngDecider::new(sim_core::RngStreams::new(0).stream("")),
        );
        let ev = {
            let pkt = PacketInfo {
                ip: &skb.pkt,
                in_dev: in_dev.as_deref(),
                out_dev: out_dev.as_deref(),
                physdev_in: physdev_in.as_deref(),
                physdev_out: physdev_out.as_deref(),
                physdev_is_bridged: bridged,
                mac_header: skb.mac_header,
                mark: skb.mark,
                ct: nf_ct(ct),
            };
            let addr_type = |ip: Ipv4Addr, dev: Option<&str>| self.addr_type(ns, ip, dev);
            let mut ctx = EvalContext { now, decider: &mut decider, addr_type: &addr_type };
            tables.evaluate(table, at.hook, &pkt, &mut ctx)
        };
        let nf = &mut self.ns_mut(ns).nf;
        nf.tables = tables;
        nf.decider = decider;
        ev
    }

    /// REJECT: an ICMP error, or for `tcp-reset` a RST that appears to come from the
    /// destination (nf_send_reset), sent by this namespace.
    fn send_reject(&mut self, ns: NsId, skb: &Skb, with: RejectWith) {
        let code = match with {
            RejectWith::IcmpNetUnreachable => UnreachCode::Net,
            RejectWith::IcmpHostUnreachable => UnreachCode::Host,
            RejectWith::IcmpProtoUnreachable => UnreachCode::Protocol,
            RejectWith::IcmpPortUnreachable => UnreachCode::Port,
            RejectWith::IcmpNetProhibited => UnreachCode::NetProhibited,
            RejectWith::IcmpHostProhibited => UnreachCode::HostProhibited,
            RejectWith::IcmpAdminProhibited => UnreachCode::AdminProhibited,
            RejectWith::TcpReset => {
                let L4::Tcp(seg) = &skb.pkt.body else { return };
                if seg.flags.has(TcpFlags::RST) {
                    return;
                }
                let (seq, ack, flags) = if seg.flags.has(TcpFlags::ACK) {
                    (seg.ack, 0, TcpFlags::RST)
                } else {
                    let len = seg.payload.len() as u32
                        + u32::from(seg.flags.has(TcpFlags::SYN))
                        + u32::from(seg.flags.has(TcpFlags::FIN));
                    (0, seg.seq.wrapping_add(len), TcpFlags::RST.with(TcpFlags::ACK))
                };
                let rst = TcpSegment {
                    sport: seg.dport,
                    dport: seg.sport,
                    seq,
                    ack,
                    flags,
                    ..TcpSegment::default()
                };
                let mut p = Ipv4Packet::new(skb.pkt.dst, skb.pkt.src, L4::Tcp(rst));
                p.ttl = self.ns(ns).sysctl.default_ttl();
                let _ = self.local_out(ns, p, skb.tag);
                return;
            }
        };
        let icmp = Icmp::DestUnreachable { code, next_hop_mtu: 0, original: Box::new(skb.pkt.clone()) };
        self.icmp_error(ns, &skb.pkt, skb.in_dev, icmp, skb.tag, None);
    }

    /// The nat step of a hook: bind on a connection's first packet, then translate.
    fn nat_step(&mut self, ns: NsId, at: At, skb: &mut Skb, ct: &mut Ct, manip: Manip) -> bool {
        if ct.needs_nat(manip) {
            let action = match self.nf_table(ns, TableName::Nat, at, skb, ct) {
                TableOutcome::Stopped => return false,
                TableOutcome::Continue { nat, .. } => nat,
            };
            let to = match action {
                None => None,
                Some(a) => match self.nat_to(ns, at, skb, &a) {
                    Some(to) => Some(to),
                    None => {
                        let dev = at.out_dev;
                        self.drop_pkt(ns, dev, skb, DropReason::NatFailed, |_| {
                            "MASQUERADE: no address on the egress device".into()
                        });
                        return false;
                    }
                },
            };
            let nf = &mut self.ns_mut(ns).nf;
            nf.conntrack.bind(ct, manip, to, &mut nf.nat_rng);
        }
        let before = skb.pkt.clone();
        ct.apply(manip, &mut skb.pkt);
        if skb.pkt != before {
            self.trace_nat(ns, at, skb, &before, manip);
        }
        true
    }

    fn trace_nat(&mut self, ns: NsId, at: At, skb: &Skb, before: &Ipv4Packet, manip: Manip) {
        if !self.tracer.enabled {
            return;
        }
        let (b, a) = (before.flow(), skb.pkt.flow());
        let what = match manip {
            Manip::Dst => format!("DNAT {}:{} -> {}:{}", b.dst, b.dport, a.dst, a.dport),
            Manip::Src => format!("SNAT {}:{} -> {}:{}", b.src, b.sport, a.src, a.sport),
        };
        let detail = format!("{what} (nat {})", hook_label(at.hook));
        let n = self.ns(ns);
        self.tracer.hops.push(crate::hop::Hop {
            time: self.now,
            tag: skb.tag,
            netns: n.name.clone(),
            dev: at.out_dev.or(skb.in_dev).map(|d| n.dev_name(d).to_string()),
            step: Step::Nat,
            detail,
            packet: skb.pkt.to_string(),
            before: Some(before.to_string()),
        });
    }

    /// Turns a nat rule's target into a concrete binding.
    fn nat_to(&self, ns: NsId, at: At, skb: &Skb, a: &NatAction) -> Option<NatTo> {
        let ports = |p: Option<netfilter::rule::PortRange>, to: NatTo| match p {
            Some(r) => to.with_ports(r.lo, r.hi),
            None => to,
        };
        let random = |f: &netfilter::rule::NatFlags, to: NatTo| {
            if f.random || f.random_fully { to.random_fully() } else { to }
        };
        Some(match a {
            NatAction::Dnat { range, flags } | NatAction::Snat { range, flags } => {
                random(flags, ports(range.ports, NatTo::addr(range.min_ip)))
            }
            NatAction::Masquerade { ports: p, flags } => {
                let out = at.out_dev?;
                let n = self.ns(ns);
                let route = n.routes.lookup(skb.pkt.dst, |_| true);
                let nexthop = route.and_then(|r| r.via).unwrap_or(skb.pkt.dst);
                let addr = n.devices.get(&out)?.select_addr(Some(nexthop))?;
                random(flags, ports(*p, NatTo::masquerade(addr, out)))
            }
            NatAction::Redirect { ports: p, flags } => {
                let n = self.ns(ns);
                let addr = match skb.in_dev {
                    Some(d) => n.devices.get(&d)?.select_addr(None)?,
                    None => Ipv4Addr::LOCALHOST,
                };
                random(flags, ports(*p, NatTo::addr(addr)))
            }
        })
    }

    fn confirm(&mut self, ns: NsId, skb: &Skb, ct: &mut Ct, dev: Option<u32>) -> bool {
        let now = self.now;
        match self.ns_mut(ns).nf.conntrack.confirm(ct, now) {
            Ok(()) => true,
            Err(e) => {
                self.drop_pkt(ns, dev, skb, DropReason::NatFailed, |_| e.to_string());
                false
            }
        }
    }

    fn ct_lookup(&mut self, ns: NsId, pkt: &Ipv4Packet) -> Ct {
        let now = self.now;
        let ctk = &mut self.ns_mut(ns).nf.conntrack;
        if ctk.next_expiry().is_some_and(|t| t <= now) {
            ctk.expire(now);
        }
        ctk.lookup(pkt, now)
    }

    /// PREROUTING: raw, conntrack, mangle, nat (DNAT). `None`: the packet was dropped.
    pub(crate) fn hook_prerouting(&mut self, ns: NsId, skb: &mut Skb) -> Option<Ct> {
        if !self.nf_active(ns) {
            return Some(Tracked::untracked());
        }
        let at = At { hook: Hook::Prerouting, out_dev: None, physdev_out: None };
        let ct = self.raw_and_conntrack(ns, at, skb)?;
        self.prerouting_after_conntrack(ns, skb, ct)
    }

    /// The raw table (−300), then the conntrack hook (−200) unless a raw rule said
    /// NOTRACK. Shared by PREROUTING and OUTPUT. `None`: the raw table dropped it.
    fn raw_and_conntrack(&mut self, ns: NsId, at: At, skb: &mut Skb) -> Option<Ct> {
        let mut ct = Tracked::untracked();
        let TableOutcome::Continue { notrack, .. } = self.nf_table(ns, TableName::Raw, at, skb, &mut ct)
        else {
            return None;
        };
        if !notrack {
            ct = self.ct_lookup(ns, &skb.pkt);
        }
        Some(ct)
    }

    /// PREROUTING for a looped-back packet: it keeps the connection it had on output
    /// (Linux skips the conntrack lookup for an skb that already has one).
    pub(crate) fn hook_prerouting_loopback(&mut self, ns: NsId, skb: &mut Skb, ct: Ct) -> Option<Ct> {
        if !self.nf_active(ns) {
            return Some(ct);
        }
        let at = At { hook: Hook::Prerouting, out_dev: None, physdev_out: None };
        let mut ct = ct;
        if let TableOutcome::Stopped = self.nf_table(ns, TableName::Raw, at, skb, &mut ct) {
            return None;
        }
        self.prerouting_after_conntrack(ns, skb, ct)
    }

    fn prerouting_after_conntrack(&mut self, ns: NsId, skb: &mut Skb, mut ct: Ct) -> Option<Ct> {
        let at = At { hook: Hook::Prerouting, out_dev: None, physdev_out: None };
        if let TableOutcome::Stopped = self.nf_table(ns, TableName::Mangle, at, skb, &mut ct) {
            return None;
        }
        self.nat_step(ns, at, skb, &mut ct, Manip::Dst).then_some(ct)
    }

    /// INPUT: mangle, filter, nat (SNAT), conntrack confirm.
    pub(crate) fn hook_input(&mut self, ns: NsId, skb: &mut Skb, ct: &mut Ct) -> bool {
        if !self.nf_active(ns) {
            return true;
        }
        let at = At { hook: Hook::Input, out_dev: None, physdev_out: None };
        for t in [TableName::Mangle, TableName::Filter] {
            if let TableOutcome::Stopped = self.nf_table(ns, t, at, skb, ct) {
                return false;
            }
        }
        self.nat_step(ns, at, skb, ct, Manip::Src) && self.confirm(ns, skb, ct, skb.in_dev)
    }

    /// FORWARD: mangle, filter.
    pub(crate) fn hook_forward(
        &mut self,
        ns: NsId,
        skb: &mut Skb,
        out: u32,
        physdev_out: Option<u32>,
        ct: &mut Ct,
    ) -> bool {
        if !self.nf_active(ns) {
            return true;
        }
        let at = At { hook: Hook::Forward, out_dev: Some(out), physdev_out };
        for t in [TableName::Mangle, TableName::Filter] {
            if let TableOutcome::Stopped = self.nf_table(ns, t, at, skb, ct) {
                return false;
            }
        }
        true
    }

    /// OUTPUT up to nat: raw, conntrack, mangle, nat (DNAT). `None`: dropped.
    /// `attach`: a connection the packet already carries (conntrack skips the lookup).
    pub(crate) fn hook_output(
        &mut self,
        ns: NsId,
        skb: &mut Skb,
        route: &Route,
        attach: Option<Ct>,
    ) -> Option<Ct> {
        if !self.nf_active(ns) {
            return Some(Tracked::untracked());
        }
        let out = route.dev.as_deref().and_then(|d| self.ns(ns).ifindex(d));
        let at = At { hook: Hook::Output, out_dev: out, physdev_out: None };
        let mut ct = match attach {
            Some(mut ct) => {
                if let TableOutcome::Stopped = self.nf_table(ns, TableName::Raw, at, skb, &mut ct) {
                    return None;
                }
                ct
            }
            None => self.raw_and_conntrack(ns, at, skb)?,
        };
        if let TableOutcome::Stopped = self.nf_table(ns, TableName::Mangle, at, skb, &mut ct) {
            return None;
        }
        self.nat_step(ns, at, skb, &mut ct, Manip::Dst).then_some(ct)
    }

    /// OUTPUT filter, after the re-route.
    pub(crate) fn hook_output_filter(&mut self, ns: NsId, skb: &mut Skb, out: u32, ct: &mut Ct) -> bool {
        if !self.nf_active(ns) {
            return true;
        }
        let at = At { hook: Hook::Output, out_dev: Some(out), physdev_out: None };
        !matches!(self.nf_table(ns, TableName::Filter, at, skb, ct), TableOutcome::Stopped)
    }

    /// POSTROUTING: mangle, nat (SNAT/MASQUERADE), conntrack confirm.
    pub(crate) fn hook_postrouting(
        &mut self,
        ns: NsId,
        skb: &mut Skb,
        out: u32,
        physdev_out: Option<u32>,
        ct: &mut Ct,
    ) -> bool {
        if !self.nf_active(ns) {
            return true;
        }
        let at = At { hook: Hook::Postrouting, out_dev: Some(out), physdev_out };
        if let TableOutcome::Stopped = self.nf_table(ns, TableName::Mangle, at, skb, ct) {
            return false;
        }
        self.nat_step(ns, at, skb, ct, Manip::Src) && self.confirm(ns, skb, ct, Some(out))
    }

    /// The packet died before confirmation: its unconfirmed entry goes with it.
    pub(crate) fn hook_discard(&mut self, ns: NsId, ct: Ct) {
        self.ns_mut(ns).nf.conntrack.discard(ct);
    }
}
