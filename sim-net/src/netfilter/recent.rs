//! `-m recent` lists (net/netfilter/xt_recent.c): per list name, addresses with up to
//! `ip_pkt_list_tot` (20) timestamps each and at most `ip_list_tot` (200) entries,
//! the least recently updated evicted first. `recent_mt` is followed step by step:
//! `--set` adds a stamp (creating the entry), `--rcheck`/`--update` look for enough
//! fresh stamps (`--seconds`, `--hitcount`), `--update` then adds a stamp, `--reap`
//! drops the list's least recently updated entry when its newest stamp is stale, `--remove` deletes it.
//!
//! Deviation: time is [`SimTime`] nanoseconds instead of jiffies, and a stamp exactly
//! `--seconds` old still counts as fresh (the kernel's `time_after` at HZ resolution).

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use indexmap::IndexMap;
use sim_core::{SimDuration, SimTime};

use super::matches::{RecentCmd, RecentMatch};

/// xt_recent's `ip_list_tot` module parameter default.
pub const IP_LIST_TOT: usize = 200;
/// xt_recent's `ip_pkt_list_tot` module parameter default.
pub const IP_PKT_LIST_TOT: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Entry {
    stamps: VecDeque<SimTime>,
    ttl: u8,
}

/// All recent lists of one namespace (`/proc/net/xt_recent/*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentLists {
    /// Per list, entries in LRU order (front = least recently updated).
    lists: BTreeMap<String, IndexMap<Ipv4Addr, Entry>>,
}

impl RecentLists {
    /// Evaluates one recent match for a packet; returns whether it matched.
    pub fn check(&mut self, m: &RecentMatch, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, now: SimTime) -> bool {
        let raw = if m.dest { dst } else { src };
        let addr = Ipv4Addr::from(u32::from(raw) & u32::from(m.mask));
        let list = self.lists.entry(m.name.clone()).or_default();
        let mut ret = m.neg;
        let found = list.get(&addr).filter(|e| !m.rttl || e.ttl == ttl).is_some();
        if !found {
            if m.cmd == RecentCmd::Set {
                insert_new(list, addr, ttl, now);
                ret = !ret;
            }
            return ret;
        }
        let mut matched = false;
        match m.cmd {
            RecentCmd::Set => ret = !ret,
            RecentCmd::Remove => {
                list.shift_remove(&addr);
                return !ret;
            }
            RecentCmd::Rcheck | RecentCmd::Update => {
                let e = list.get(&addr).expect("found above");
                if fresh_hits(e, m, now) {
                    ret = !ret;
                    matched = true;
                }
                if m.reap {
                    reap_oldest(list, addr, m.cmd == RecentCmd::Update && matched, m.seconds, now);
                }
            }
        }
        if m.cmd == RecentCmd::Set || (m.cmd == RecentCmd::Update && matched) {
            stamp(list, addr, ttl, now);
        }
        ret
    }

    /// Addresses currently in `name`, least recently updated first (like reading
    /// `/proc/net/xt_recent/NAME`).
    pub fn entries(&self, name: &str) -> Vec<Ipv4Addr> {
        self.lists.get(name).map(|l| l.keys().copied().collect()).unwrap_or_default()
    }

    /// Drops the lists no rule refers to any more (the kernel frees a list with the
    /// last rule that uses it).
    pub fn retain_names(&mut self, used: &[String]) {
        self.lists.retain(|name, _| used.contains(name));
    }
}

fn within(stamp: SimTime, seconds: u32, now: SimTime) -> bool {
    now.saturating_since(stamp) <= SimDuration::from_secs(u64::from(seconds))
}

fn fresh_hits(e: &Entry, m: &RecentMatch, now: SimTime) -> bool {
    let mut hits = 0;
    for s in &e.stamps {
        if m.seconds != 0 && !within(*s, m.seconds, now) {
            continue;
        }
        hits += 1;
        if m.hitcount == 0 || hits >= m.hitcount {
            return true;
        }
    }
    false
}

/// recent_entry_reap: looks only at the least recently updated entry of the list and
/// removes it if its newest stamp is stale, unless it is the entry about to be updated.
fn reap_oldest(
    list: &mut IndexMap<Ipv4Addr, Entry>,
    working: Ipv4Addr,
    updating: bool,
    seconds: u32,
    now: SimTime,
) {
    let Some((addr, e)) = list.get_index(0) else { return };
    if *addr == working && updating {
        return;
    }
    if e.stamps.back().is_some_and(|s| !within(*s, seconds, now)) {
        list.shift_remove_index(0);
    }
}

fn insert_new(list: &mut IndexMap<Ipv4Addr, Entry>, addr: Ipv4Addr, ttl: u8, now: SimTime) {
    if list.len() >= IP_LIST_TOT {
        list.shift_remove_index(0);
    }
    list.insert(addr, Entry { stamps: VecDeque::from([now]), ttl });
}

fn stamp(list: &mut IndexMap<Ipv4Addr, Entry>, addr: Ipv4Addr, ttl: u8, now: SimTime) {
    let Some(mut e) = list.shift_remove(&addr) else { return };
    if e.stamps.len() == IP_PKT_LIST_TOT {
        e.stamps.pop_front();
    }
    e.stamps.push_back(now);
    e.ttl = ttl;
    list.insert(addr, e);
}
