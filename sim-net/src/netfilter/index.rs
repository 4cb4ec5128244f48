//! An index that makes a lookup in a 10,000-service KUBE-SERVICES chain cost about
//! the same as in a 10-service one, while returning exactly what first-match linear
//! evaluation returns.
//!
//! A rule is *keyed* when failing its key proves it cannot match and has no side
//! effect: `-d A/32` (not negated) and/or `-p P` (not negated) with a single,
//! non-negated `--dport N` (or `-m multiport --dports` of single ports) whose match
//! comes before any stateful match (statistic, recent). The key is (destination or
//! any, protocol or any, port or any), with at least a destination or a port. Every
//! other rule is a *barrier* and keeps its position. For a packet, the candidates are
//! the barriers plus the rules of the (at most four) buckets its own key can fall in,
//! merged in rule order; the evaluator tries exactly these, so it visits the same
//! matching rules in the same order as a linear scan (checked by a proptest in
//! `sim-net/tests/netfilter_index.rs`).

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use super::matches::{Match, MultiportKind};
use super::rule::{PortRange, Rule};

/// Chains shorter than this are scanned linearly.
pub const INDEX_MIN_RULES: usize = 8;

type Key = (Option<Ipv4Addr>, Option<u8>, Option<u16>);

/// Buckets of keyed rule positions plus the barrier positions, all ascending.
#[derive(Clone, Debug, Default)]
pub struct ChainIndex {
    buckets: IndexMap<Key, Vec<u32>>,
    barriers: Vec<u32>,
}

/// The candidate lists of one packet in one chain.
#[derive(Clone, Debug)]
pub struct Lookup<'a> {
    lists: [&'a [u32]; 5],
}

impl ChainIndex {
    /// Builds the index, or None when the chain is short or mostly unkeyed.
    pub fn build(rules: &[Rule]) -> Option<ChainIndex> {
        if rules.len() < INDEX_MIN_RULES {
            return None;
        }
        let mut idx = ChainIndex::default();
        for (i, r) in rules.iter().enumerate() {
            let pos = u32::try_from(i).expect("fewer than 2^32 rules in a chain");
            let keys = keys(r);
            if keys.is_empty() {
                idx.barriers.push(pos);
            }
            for k in keys {
                idx.buckets.entry(k).or_default().push(pos);
            }
        }
        (idx.barriers.len() * 2 < rules.len()).then_some(idx)
    }

    /// The candidate rules for a packet with this (destination, protocol, port).
    pub fn lookup(&self, (dst, proto, dport): (Ipv4Addr, u8, Option<u16>)) -> Lookup<'_> {
        let get = |k: Key| self.buckets.get(&k).map_or(&[][..], Vec::as_slice);
        let (a, d) = match dport {
            Some(p) => (get((Some(dst), Some(proto), Some(p))), get((None, Some(proto), Some(p)))),
            None => (&[][..], &[][..]),
        };
        Lookup {
            lists: [&self.barriers, a, get((Some(dst), Some(proto), None)), get((Some(dst), None, None)), d],
        }
    }
}

impl Lookup<'_> {
    /// The first candidate position at or after `pos`.
    pub fn next_from(&self, pos: usize) -> Option<usize> {
        self.lists
            .iter()
            .filter_map(|l| {
                let i = l.partition_point(|&x| (x as usize) < pos);
                l.get(i).map(|&x| x as usize)
            })
            .min()
    }
}

/// The keys under which `r` must be found (empty: a barrier).
fn keys(r: &Rule) -> Vec<Key> {
    let dst = r.dst.as_ref().filter(|d| !d.neg && d.v.is_host()).map(|d| d.v.addr);
    let proto = r.proto.as_ref().filter(|p| !p.neg).map(|p| p.v.number());
    let ports = dports(r);
    match (dst, proto, ports) {
        (_, Some(p), Some(ports)) => ports.into_iter().map(|port| (dst, Some(p), Some(port))).collect(),
        (Some(d), p, None) => vec![(Some(d), p, None)],
        _ => vec![],
    }
}

/// The single destination ports of the first port-bearing match, if it is keyable
/// and comes before any stateful match.
fn dports(r: &Rule) -> Option<Vec<u16>> {
    for m in &r.matches {
        let single = |p: &PortRange| (p.lo == p.hi).then_some(p.lo);
        match m {
            Match::Tcp(t) if t.ports.dport.is_some() => {
                let d = t.ports.dport.as_ref().filter(|d| !d.neg)?;
                return single(&d.v).map(|p| vec![p]);
            }
            Match::Udp(u) if u.dport.is_some() => {
                let d = u.dport.as_ref().filter(|d| !d.neg)?;
                return single(&d.v).map(|p| vec![p]);
            }
            Match::Multiport(mp) if mp.kind == MultiportKind::Dports && !mp.ports.neg => {
                return mp.ports.v.iter().map(single).collect();
            }
            m if m.is_stateful() => return None,
            _ => {}
        }
    }
    None
}
