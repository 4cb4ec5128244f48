//! NAT bindings: choosing the translated tuple of a new connection, transcribed from
//! `net/netfilter/nf_nat_core.c` (`nf_nat_setup_info`, `get_unique_tuple`,
//! `nf_nat_l4proto_unique_tuple`, `nf_nat_used_tuple{,_new}`,
//! `__nf_nat_alloc_null_binding`).
//!
//! A binding rewrites the entry's expected reply tuple; packets are then translated from
//! the tuples alone (`manip.rs`). Port choice on a clash follows the kernel: a random
//! offset (`get_random_u16`, here drawn from the caller's [`SimRng`]) then a linear scan
//! of at most 128 ports, halving the window with a fresh offset while it is at least 16.
//!
//! Deviations: one address per binding (no `--to-source a-b` address ranges, whose
//! choice Linux makes with a keyed jhash); no `--persistent`; the last-resort eviction
//! of a TIME_WAIT entry (`nf_nat_used_tuple_harder`) needs sequence numbers and is not
//! modelled.

use std::net::Ipv4Addr;

use sim_core::{SimRng, SimTime, below};

use super::entry::ConntrackEntry;
use super::table::Table;
use super::tuple::{Dir, Tuple};
use crate::packet::IpProto;

/// NF_NAT_MAX_ATTEMPTS.
const MAX_ATTEMPTS: u32 = 128;

/// Which end a hook's NAT rewrites (`enum nf_nat_manip_type`, `HOOK2MANIP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manip {
    /// Source NAT: POSTROUTING and INPUT (SNAT, MASQUERADE).
    Src,
    /// Destination NAT: PREROUTING and OUTPUT (DNAT, REDIRECT).
    Dst,
}

impl Manip {
    pub fn flip(self) -> Manip {
        match self {
            Manip::Src => Manip::Dst,
            Manip::Dst => Manip::Src,
        }
    }
}

/// The target a nat rule chose (`struct nf_nat_range2` with one address): `-j DNAT
/// --to-destination A[:P[-Q]]`, `-j SNAT --to-source A[:P[-Q]]`, or `-j MASQUERADE`
/// with the address the caller selected from the egress device (§3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatTo {
    pub addr: Ipv4Addr,
    /// `:P-Q` (`NF_NAT_RANGE_PROTO_SPECIFIED`); for ICMP a range of echo identifiers.
    pub ports: Option<(u16, u16)>,
    /// `--random` or `--random-fully` (`NF_NAT_RANGE_PROTO_RANDOM_ALL`). Current kernels
    /// treat both the same: no port preservation, a random port from the range.
    pub random: bool,
    /// MASQUERADE's egress ifindex, remembered on the entry.
    pub masq_oif: Option<u32>,
}

impl NatTo {
    /// `--to-destination A` / `--to-source A`: address only, ports kept when possible.
    pub fn addr(addr: Ipv4Addr) -> NatTo {
        NatTo { addr, ports: None, random: false, masq_oif: None }
    }
    /// `--to-destination A:P`.
    pub fn addr_port(addr: Ipv4Addr, port: u16) -> NatTo {
        NatTo { ports: Some((port, port)), ..NatTo::addr(addr) }
    }
    /// `-j MASQUERADE` leaving through ifindex `oif`, whose address the caller picked.
    pub fn masquerade(addr: Ipv4Addr, oif: u32) -> NatTo {
        NatTo { masq_oif: Some(oif), ..NatTo::addr(addr) }
    }
    /// `:P-Q`.
    pub fn with_ports(self, lo: u16, hi: u16) -> NatTo {
        NatTo { ports: Some((lo, hi)), ..self }
    }
    /// `--random-fully` (or `--random`).
    pub fn random_fully(self) -> NatTo {
        NatTo { random: true, ..self }
    }
}

/// `nf_nat_setup_info` minus the bookkeeping: the new original-direction tuple for
/// `entry` under `to` (`None` = null binding). Returns the tuple as the packet will
/// look after this manip; the caller stores its inverse as the reply tuple.
pub(crate) fn unique_tuple(
    table: &Table,
    entry: &ConntrackEntry,
    manip: Manip,
    to: Option<&NatTo>,
    now: SimTime,
    rng: &mut SimRng,
) -> Tuple {
    let curr = entry.reply().invert();
    let range = to.copied().unwrap_or_else(|| null_binding(entry, manip));
    let ctx = Ctx { table, entry, now };
    if manip == Manip::Src
        && !range.random
        && let Some(t) = ctx.keep_source(&curr, &range)
    {
        return t;
    }
    let mut t = curr;
    set_addr(&mut t, manip, range.addr);
    if !range.random && ctx.in_range_and_free(&t, manip, &range) {
        return t;
    }
    ctx.l4proto_unique_tuple(&mut t, &range, manip, rng);
    t
}

/// `__nf_nat_alloc_null_binding`: map to the address the tuple already has, port free.
fn null_binding(entry: &ConntrackEntry, manip: Manip) -> NatTo {
    let r = entry.reply();
    NatTo::addr(if manip == Manip::Src { r.dst } else { r.src })
}

fn set_addr(t: &mut Tuple, manip: Manip, a: Ipv4Addr) {
    match manip {
        Manip::Src => t.src = a,
        Manip::Dst => t.dst = a,
    }
}

/// The port (or ICMP identifier) slot a manip may change.
fn key(t: &mut Tuple, manip: Manip) -> &mut u16 {
    if t.proto == IpProto::Icmp || manip == Manip::Src { &mut t.sport } else { &mut t.dport }
}

fn port_in(p: u16, (lo, hi): (u16, u16)) -> bool {
    (lo.min(hi)..=lo.max(hi)).contains(&p)
}

struct Ctx<'a> {
    table: &'a Table,
    entry: &'a ConntrackEntry,
    now: SimTime,
}

impl Ctx<'_> {
    /// `nf_nat_used_tuple`: would the reply of `t` collide with another entry?
    fn used(&self, t: &Tuple) -> bool {
        self.table.tuple_taken(&t.invert(), self.entry, self.now)
    }

    /// `get_unique_tuple` step 1 (source manips only): keep the original source if it is
    /// in range and free (port preservation), else reuse this source's existing mapping.
    fn keep_source(&self, curr: &Tuple, range: &NatTo) -> Option<Tuple> {
        let in_range = |t: &Tuple| t.src == range.addr && range.ports.is_none_or(|r| port_in(t.sport, r));
        if in_range(curr) {
            return (!self.used_new(curr)).then_some(*curr);
        }
        let mapped = self.find_appropriate_src(curr).filter(in_range)?;
        (!self.used(&mapped)).then_some(mapped)
    }

    /// `nf_nat_used_tuple_new`: like `used`, but a UDP/ICMP entry that is this very flow
    /// seen from the other side (both tuples swapped) does not count.
    fn used_new(&self, t: &Tuple) -> bool {
        if !self.used(t) {
            return false;
        }
        let s = self.entry.status();
        if t.proto == IpProto::Tcp || s.src_nat || s.dst_nat {
            return true;
        }
        let found = self.table.find_live(t, self.now).or_else(|| self.table.find_live(&t.invert(), self.now));
        let Some((other, dir)) = found else { return false };
        let st = other.status();
        let mirror = other.orig() == self.entry.reply() && other.reply() == self.entry.orig();
        dir != Dir::Reply || st.src_nat || st.dst_nat || !mirror
    }

    /// `find_appropriate_src`: an entry from the same source address and port already
    /// mapped to some source; reuse that mapping towards this destination. Linux walks a
    /// hash chain; this walks entries in id order (the oldest mapping wins).
    fn find_appropriate_src(&self, curr: &Tuple) -> Option<Tuple> {
        self.table.iter().filter(|e| !e.is_expired(self.now)).find_map(|e| {
            let o = e.orig();
            let same = o.proto == curr.proto && o.src == curr.src && o.sport == curr.sport;
            same.then(|| Tuple { dst: curr.dst, dport: curr.dport, ..e.reply().invert() })
        })
    }

    /// `get_unique_tuple` step 3's shortcut: already in range and unique (a single-port
    /// range is taken as is, clash or not, as in Linux).
    fn in_range_and_free(&self, t: &Tuple, manip: Manip, range: &NatTo) -> bool {
        match range.ports {
            Some(r) => {
                let p = if t.proto == IpProto::Icmp || manip == Manip::Src { t.sport } else { t.dport };
                port_in(p, r) && (r.0 == r.1 || !self.used(t))
            }
            None => !self.used(t),
        }
    }

    /// `nf_nat_l4proto_unique_tuple`.
    fn l4proto_unique_tuple(&self, t: &mut Tuple, range: &NatTo, manip: Manip, rng: &mut SimRng) {
        let Some((min, size)) = port_window(t, range, manip) else { return };
        let mut off: u16 = if range.random || manip == Manip::Src { draw_u16(rng) } else { 0 };
        let mut attempts = size.min(MAX_ATTEMPTS);
        loop {
            for _ in 0..attempts {
                *key(t, manip) = (min + u32::from(off) % size) as u16;
                if !self.used(t) {
                    return;
                }
                off = off.wrapping_add(1);
            }
            if attempts >= size || attempts < 16 {
                return;
            }
            attempts /= 2;
            off = draw_u16(rng);
        }
    }
}

/// The (first port, number of ports) to search, or `None` when the port must stay.
fn port_window(t: &mut Tuple, range: &NatTo, manip: Manip) -> Option<(u32, u32)> {
    if let Some((lo, hi)) = range.ports {
        let (lo, hi) = (u32::from(lo.min(hi)), u32::from(lo.max(hi)));
        return Some((lo, hi - lo + 1));
    }
    if t.proto == IpProto::Icmp {
        return Some((0, 65536));
    }
    if manip == Manip::Dst {
        return None;
    }
    Some(match *key(t, manip) {
        p if p < 512 => (1, 511),
        p if p < 1024 => (600, 424),
        _ => (1024, 64512),
    })
}

/// `get_random_u16()`, from the simulation's stream.
fn draw_u16(rng: &mut SimRng) -> u16 {
    below(rng, 1 << 16) as u16
}
