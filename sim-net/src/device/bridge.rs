//! The Linux bridge's forwarding database (net/bridge/br_fdb.c): source MACs are learned
//! per port, entries age out after `ageing_time` (300 s) without traffic, local entries
//! (the MACs of the bridge and its ports) and static entries never age. A miss means
//! flooding. Aging is evaluated lazily against sim time when an entry is looked up or
//! shown, which is observably the same as the kernel's periodic cleanup.

use indexmap::IndexMap;
use sim_core::{SimDuration, SimTime};

use crate::packet::Mac;

/// Default `ageing_time` of a Linux bridge: 300 s.
pub const DEFAULT_AGEING: SimDuration = SimDuration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// ifindex of the bridge port.
    pub port: u32,
    pub last_seen: SimTime,
    /// The MAC of the bridge itself or of one of its ports (`permanent` in `bridge fdb`).
    pub local: bool,
    /// Added by `bridge fdb add ... static`.
    pub is_static: bool,
}

/// Result of a destination lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdbLookup {
    /// Deliver to the bridge itself (its own MAC or a port's MAC).
    Local,
    /// Forward out of this port.
    Port(u32),
    /// Unknown unicast, broadcast or multicast: flood.
    Flood,
}

#[derive(Clone, Debug, Default)]
pub struct Bridge {
    pub fdb: IndexMap<Mac, FdbEntry>,
    pub ageing: SimDuration,
}

impl Bridge {
    pub fn new() -> Self {
        Bridge { fdb: IndexMap::new(), ageing: DEFAULT_AGEING }
    }

    /// Learns `mac` on `port` at `now`; returns true if this created or moved an entry.
    pub fn learn(&mut self, mac: Mac, port: u32, now: SimTime) -> bool {
        if mac.is_multicast() || mac == Mac::ZERO {
            return false;
        }
        let ageing = self.ageing;
        match self.fdb.get_mut(&mac) {
            Some(e) if e.local || e.is_static => false,
            Some(e) => {
                let moved = e.port != port || now.saturating_since(e.last_seen) > ageing;
                e.port = port;
                e.last_seen = now;
                moved
            }
            None => {
                self.fdb.insert(mac, FdbEntry { port, last_seen: now, local: false, is_static: false });
                true
            }
        }
    }

    fn expired_at(&self, e: &FdbEntry, now: SimTime) -> bool {
        !e.local && !e.is_static && now.saturating_since(e.last_seen) > self.ageing
    }

    pub fn add_local(&mut self, mac: Mac, port: u32) {
        self.fdb.insert(mac, FdbEntry { port, last_seen: SimTime::ZERO, local: true, is_static: false });
    }

    pub fn add_static(&mut self, mac: Mac, port: u32) {
        self.fdb.insert(mac, FdbEntry { port, last_seen: SimTime::ZERO, local: false, is_static: true });
    }

    /// Forgets every entry pointing at `port` (port removed from the bridge).
    pub fn forget_port(&mut self, port: u32) {
        self.fdb.retain(|_, e| e.port != port);
    }

    /// Forgets the entries learned on `port`, keeping local and static ones: what
    /// `br_stp_disable_port` does when a port goes down (`br_fdb_delete_by_port` with
    /// `do_all = 0`), so frames for its stations are flooded until relearned.
    pub fn forget_learned(&mut self, port: u32) {
        self.fdb.retain(|_, e| e.port != port || e.local || e.is_static);
    }

    pub fn lookup(&self, dst: Mac, now: SimTime) -> FdbLookup {
        if dst.is_multicast() {
            return FdbLookup::Flood;
        }
        match self.fdb.get(&dst) {
            Some(e) if e.local => FdbLookup::Local,
            Some(e) if !self.expired_at(e, now) => FdbLookup::Port(e.port),
            _ => FdbLookup::Flood,
        }
    }

    /// Entries still alive at `now`, in learning order.
    pub fn live_entries(&self, now: SimTime) -> impl Iterator<Item = (&Mac, &FdbEntry)> {
        self.fdb.iter().filter(move |(_, e)| !self.expired_at(e, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Mac = Mac([2, 0, 0, 0, 0, 0xa]);
    const B: Mac = Mac([2, 0, 0, 0, 0, 0xb]);

    #[test]
    fn learns_forwards_and_floods_unknown() {
        let mut br = Bridge::new();
        assert_eq!(br.lookup(A, SimTime::ZERO), FdbLookup::Flood);
        assert!(br.learn(A, 3, SimTime::ZERO));
        assert_eq!(br.lookup(A, SimTime::ZERO), FdbLookup::Port(3));
        assert_eq!(br.lookup(B, SimTime::ZERO), FdbLookup::Flood);
        assert_eq!(br.lookup(Mac::BROADCAST, SimTime::ZERO), FdbLookup::Flood);
    }

    #[test]
    fn a_station_that_moves_is_relearned_on_the_new_port() {
        let mut br = Bridge::new();
        br.learn(A, 3, SimTime::ZERO);
        assert!(br.learn(A, 4, SimTime::from_nanos(10)));
        assert_eq!(br.lookup(A, SimTime::from_nanos(10)), FdbLookup::Port(4));
    }

    #[test]
    fn entries_age_out_after_300s_but_local_ones_do_not() {
        let mut br = Bridge::new();
        br.learn(A, 3, SimTime::ZERO);
        br.add_local(B, 1);
        let later = SimTime::ZERO + SimDuration::from_secs(301);
        assert_eq!(br.lookup(A, later), FdbLookup::Flood);
        assert_eq!(br.lookup(B, later), FdbLookup::Local);
        assert_eq!(br.live_entries(later).count(), 1);
    }

    #[test]
    fn a_port_going_down_forgets_its_learned_entries_only() {
        let mut b = Bridge::new();
        let (m1, m2, m3) = (Mac([2, 0, 0, 0, 0, 1]), Mac([2, 0, 0, 0, 0, 2]), Mac([2, 0, 0, 0, 0, 3]));
        b.learn(m1, 1, SimTime::ZERO);
        b.add_local(m2, 1);
        b.add_static(m3, 1);
        b.forget_learned(1);
        assert_eq!(b.lookup(m1, SimTime::ZERO), FdbLookup::Flood);
        assert_eq!(b.lookup(m2, SimTime::ZERO), FdbLookup::Local);
        assert_eq!(b.lookup(m3, SimTime::ZERO), FdbLookup::Port(1));
    }

    #[test]
    fn multicast_sources_are_never_learned() {
        let mut br = Bridge::new();
        assert!(!br.learn(Mac::BROADCAST, 3, SimTime::ZERO));
        assert!(br.fdb.is_empty());
    }
}
