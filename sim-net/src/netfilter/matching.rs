//! Does a rule match a packet? The IP header part first (`-s -d -i -o -p`, as
//! `ip_packet_match` does), then each match in order, stopping at the first that fails
//! — so a stateful match (statistic, recent) after a failing one is never evaluated,
//! exactly as in the kernel. Each match follows its kernel module's `*_mt` function.

use std::net::Ipv4Addr;

use crate::packet::{Icmp, L4};

use super::eval::{CtState, EvalCtx, PacketInfo};
use super::matches::*;
use super::rule::{AddrMask, Neg, PortRange, Rule};

/// Whether `r` matches; `mark`/`ctmark` are the values as modified so far in this
/// traversal; `rule_key` identifies the rule for per-rule state (nth counters).
pub fn rule_matches(r: &Rule, p: &PacketInfo, cx: &mut EvalCtx, rule_key: (usize, usize)) -> bool {
    header_matches(r, p) && r.matches.iter().all(|m| match_one(m, p, cx, rule_key))
}

fn net(n: &Option<Neg<AddrMask>>, a: Ipv4Addr) -> bool {
    n.as_ref().is_none_or(|n| n.apply(n.v.contains(&a)))
}

fn header_matches(r: &Rule, p: &PacketInfo) -> bool {
    let iface = |m: &Option<Neg<super::rule::IfaceMatch>>, dev: Option<&str>| {
        m.as_ref().is_none_or(|m| m.apply(m.v.matches(dev.unwrap_or(""))))
    };
    net(&r.src, p.ip.src)
        && net(&r.dst, p.ip.dst)
        && iface(&r.in_iface, p.in_dev)
        && iface(&r.out_iface, p.out_dev)
        && r.proto.as_ref().is_none_or(|pr| pr.apply(pr.v.number() == p.ip.proto().number()))
}

fn port(m: &Option<Neg<PortRange>>, v: u16) -> bool {
    m.as_ref().is_none_or(|m| m.apply(m.v.contains(v)))
}

fn l4_ports(p: &PacketInfo) -> Option<(u16, u16)> {
    match &p.ip.body {
        L4::Tcp(t) => Some((t.sport, t.dport)),
        L4::Udp(u) => Some((u.sport, u.dport)),
        L4::Icmp(_) => None,
    }
}

fn match_one(m: &Match, p: &PacketInfo, cx: &mut EvalCtx, rule_key: (usize, usize)) -> bool {
    match m {
        Match::Tcp(t) => match &p.ip.body {
            L4::Tcp(seg) => {
                port(&t.ports.sport, seg.sport)
                    && port(&t.ports.dport, seg.dport)
                    && t.flags.as_ref().is_none_or(|f| f.apply(seg.flags.0 & f.v.0 == f.v.1))
            }
            _ => false,
        },
        Match::Udp(u) => match &p.ip.body {
            L4::Udp(d) => port(&u.sport, d.sport) && port(&u.dport, d.dport),
            _ => false,
        },
        Match::Sctp(_) => false,
        Match::Icmp(i) => icmp(i, p),
        Match::Multiport(mp) => multiport(mp, p),
        Match::Comment(_) | Match::Nfacct(_) => true,
        Match::Mark(mm) => mm.apply(cx.mark & mm.v.mask == mm.v.value),
        Match::Connmark(mm) => cx.ctmark.is_some_and(|c| mm.apply(c & mm.v.mask == mm.v.value)),
        Match::Conntrack(c) => conntrack(c, p),
        Match::State(s) => s.apply(state_bits(p, false) & s.v.0 != 0),
        Match::Addrtype(a) => addrtype(a, p, cx),
        Match::Statistic(s) => statistic(s, cx, rule_key),
        Match::Recent(r) => cx.state.recent.check(r, p.ip.src, p.ip.dst, p.ip.ttl, cx.now),
        Match::Physdev(ph) => physdev(ph, p),
    }
}

fn icmp(i: &Neg<IcmpType>, p: &PacketInfo) -> bool {
    let L4::Icmp(msg) = &p.ip.body else { return false };
    let (typ, code) = match msg {
        Icmp::EchoRequest { .. } => (8, 0),
        Icmp::EchoReply { .. } => (0, 0),
        Icmp::DestUnreachable { code, .. } => (3, *code as u8),
        Icmp::TimeExceeded { .. } => (11, 0),
    };
    let hit = match i.v {
        IcmpType::Any => true,
        // icmp_type_code_match: test type 0xFF matches every ICMP packet, whatever code.
        IcmpType::Type { typ: 0xff, .. } => true,
        IcmpType::Type { typ: t, code_lo, code_hi } => t == typ && (code_lo..=code_hi).contains(&code),
    };
    i.apply(hit)
}

fn multiport(mp: &MultiportMatch, p: &PacketInfo) -> bool {
    let Some((s, d)) = l4_ports(p) else { return false };
    let any = |v: u16| mp.ports.v.iter().any(|r| r.contains(v));
    let hit = match mp.kind {
        MultiportKind::Sports => any(s),
        MultiportKind::Dports => any(d),
        MultiportKind::Ports => any(s) || any(d),
    };
    mp.ports.apply(hit)
}

/// xt_conntrack / xt_state state bits for this packet.
fn state_bits(p: &PacketInfo, with_nat: bool) -> u8 {
    let ct = &p.ct;
    let mut bits = match ct.state {
        CtState::New => CtStateSet::NEW,
        CtState::Established => CtStateSet::ESTABLISHED,
        CtState::Related => CtStateSet::RELATED,
        CtState::Invalid => CtStateSet::INVALID,
        CtState::Untracked => CtStateSet::UNTRACKED,
    };
    if with_nat && ct.is_tracked() {
        if ct.snat {
            bits |= CtStateSet::SNAT;
        }
        if ct.dnat {
            bits |= CtStateSet::DNAT;
        }
    }
    bits
}

fn conntrack(c: &ConntrackMatch, p: &PacketInfo) -> bool {
    if let Some(s) = &c.state
        && !s.apply(state_bits(p, true) & s.v.0 != 0)
    {
        return false;
    }
    let (Some(orig), Some(reply), true) = (p.ct.orig, p.ct.reply, p.ct.is_tracked()) else {
        // No conntrack entry: only the state test could be made (xt_conntrack).
        return c.state.is_some();
    };
    net(&c.orig_src, orig.src)
        && net(&c.orig_dst, orig.dst)
        && net(&c.repl_src, reply.src)
        && net(&c.repl_dst, reply.dst)
        && c.proto.as_ref().is_none_or(|pr| pr.apply(pr.v == orig.proto.number()))
        && port(&c.orig_src_port, orig.sport)
        && port(&c.orig_dst_port, orig.dport)
        && port(&c.repl_src_port, reply.sport)
        && port(&c.repl_dst_port, reply.dport)
        && c.status.as_ref().is_none_or(|st| st.apply(p.ct.status & st.v != 0))
}

fn addrtype(a: &AddrtypeMatch, p: &PacketInfo, cx: &EvalCtx) -> bool {
    let dev = if a.limit_iface_in {
        p.in_dev
    } else if a.limit_iface_out {
        p.out_dev
    } else {
        None
    };
    let test = |t: &Option<Neg<AddrTypeSet>>, addr: Ipv4Addr| {
        t.as_ref().is_none_or(|t| t.apply((cx.addr_type)(addr, dev).contains_any(t.v)))
    };
    test(&a.src, p.ip.src) && test(&a.dst, p.ip.dst)
}

fn statistic(s: &StatisticMatch, cx: &mut EvalCtx, rule_key: (usize, usize)) -> bool {
    match *s {
        StatisticMatch::Random { neg, prob_u31 } => cx.decider.random(prob_u31) != neg,
        StatisticMatch::Nth { neg, every, packet } => {
            // xt_statistic: iptables stores `every - 1` and starts the counter at
            // `(every - 1) - packet`; each packet advances it (wrapping after
            // `every - 1`) and the rule matches when it wraps to 0. So with counting
            // from 0, packets `packet`, `packet + every`, ... match.
            let key = (cx.table, rule_key.0, rule_key.1);
            let count = cx.state.nth.entry(key).or_insert(every - 1 - packet);
            *count = if *count == every - 1 { 0 } else { *count + 1 };
            (*count == 0) != neg
        }
    }
}

/// xt_physdev: packets that did not cross a bridge match only options given with `!`.
fn physdev(ph: &PhysdevMatch, p: &PacketInfo) -> bool {
    let bridged_info = p.physdev_in.is_some() || p.physdev_out.is_some() || p.physdev_is_bridged;
    if !bridged_info {
        let only_negated = |o: Option<bool>| o.is_none_or(|neg| neg);
        return only_negated(ph.is_bridged)
            && only_negated(ph.is_in)
            && only_negated(ph.is_out)
            && ph.phys_in.as_ref().is_none_or(|m| m.neg)
            && ph.phys_out.as_ref().is_none_or(|m| m.neg);
    }
    let out = p.physdev_out;
    let is_bridged = out.is_some() || p.physdev_is_bridged;
    let flag_ok = |o: Option<bool>, present: bool| o.is_none_or(|neg| present != neg);
    if !flag_ok(ph.is_bridged, is_bridged)
        || !flag_ok(ph.is_in, p.physdev_in.is_some())
        || !flag_ok(ph.is_out, out.is_some())
    {
        return false;
    }
    if let (Some(m), Some(dev)) = (&ph.phys_in, p.physdev_in)
        && !m.apply(m.v.matches(dev))
    {
        return false;
    }
    match (&ph.phys_out, out) {
        (Some(m), Some(dev)) => m.apply(m.v.matches(dev)),
        _ => true,
    }
}
