//! The neighbour (ARP) table of a namespace (net/core/neighbour.c, net/ipv4/arp.c).
//! States as `ip neigh` shows them. Resolution sends up to `mcast_solicit` (3) ARP
//! requests `retrans_time` (1 s) apart while packets wait in a queue (`unres_qlen`);
//! after the last one the entry is FAILED and the queued packets are answered with ICMP
//! host unreachable. A REACHABLE entry turns STALE after `base_reachable_time` (30 s);
//! the kernel randomises that between 15 and 45 s, the model uses exactly 30 s (see
//! docs/fidelity.md). A STALE entry is still used to send (Linux then probes in the
//! background, which the model does not do).

use std::fmt;
use std::net::Ipv4Addr;

use indexmap::IndexMap;
use sim_core::{SimDuration, SimTime};

use crate::packet::{Ipv4Packet, Mac};

pub const RETRANS_TIME: SimDuration = SimDuration::from_secs(1);
pub const MCAST_SOLICIT: u32 = 3;
pub const BASE_REACHABLE: SimDuration = SimDuration::from_secs(30);
/// `unres_qlen_bytes` default is 212992; the model counts packets instead (101 would be
/// the old `unres_qlen`).
pub const UNRES_QLEN: usize = 101;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NudState {
    Incomplete,
    Reachable,
    Stale,
    Failed,
    Permanent,
}

impl fmt::Display for NudState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NudState::Incomplete => "INCOMPLETE",
            NudState::Reachable => "REACHABLE",
            NudState::Stale => "STALE",
            NudState::Failed => "FAILED",
            NudState::Permanent => "PERMANENT",
        })
    }
}

/// A packet waiting for its next hop's MAC, with what it needs to be sent later.
#[derive(Clone, Debug)]
pub struct Pending {
    pub packet: Ipv4Packet,
    pub tag: u32,
}

#[derive(Clone, Debug)]
pub struct NeighEntry {
    pub mac: Option<Mac>,
    pub state: NudState,
    pub updated: SimTime,
    pub probes: u32,
    pub queue: Vec<Pending>,
}

/// Key: (ifindex, next-hop address).
#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    pub entries: IndexMap<(u32, Ipv4Addr), NeighEntry>,
}

impl NeighTable {
    /// State at `now`, with REACHABLE decayed to STALE lazily.
    pub fn state_at(e: &NeighEntry, now: SimTime) -> NudState {
        if e.state == NudState::Reachable && now.saturating_since(e.updated) > BASE_REACHABLE {
            NudState::Stale
        } else {
            e.state
        }
    }

    /// A usable MAC for sending now (REACHABLE, STALE or PERMANENT).
    pub fn resolved(&self, dev: u32, ip: Ipv4Addr) -> Option<Mac> {
        let e = self.entries.get(&(dev, ip))?;
        match e.state {
            NudState::Reachable | NudState::Stale | NudState::Permanent => e.mac,
            _ => None,
        }
    }

    /// Records a confirmed mapping (ARP reply or request for us). Returns packets that
    /// were waiting for it.
    pub fn confirm(&mut self, dev: u32, ip: Ipv4Addr, mac: Mac, now: SimTime) -> Vec<Pending> {
        let e = self.entries.entry((dev, ip)).or_insert_with(|| NeighEntry {
            mac: None,
            state: NudState::Incomplete,
            updated: now,
            probes: 0,
            queue: Vec::new(),
        });
        if e.state == NudState::Permanent {
            return Vec::new();
        }
        e.mac = Some(mac);
        e.state = NudState::Reachable;
        e.updated = now;
        e.probes = 0;
        std::mem::take(&mut e.queue)
    }

    /// Creates an entry from an ARP request's sender only if one exists or the request
    /// was for us (`arp_process`: "Unsolicited ARP is not accepted by default").
    pub fn note_sender(
        &mut self,
        dev: u32,
        ip: Ipv4Addr,
        mac: Mac,
        now: SimTime,
        for_us: bool,
    ) -> Vec<Pending> {
        if !for_us && !self.entries.contains_key(&(dev, ip)) {
            return Vec::new();
        }
        // A request updates an entry to STALE in Linux, not REACHABLE (no reachability
        // confirmation yet); a waiting queue is released all the same.
        let pending = self.confirm(dev, ip, mac, now);
        if let Some(e) = self.entries.get_mut(&(dev, ip))
            && e.state != NudState::Permanent
        {
            e.state = NudState::Stale;
        }
        pending
    }

    pub fn set_permanent(&mut self, dev: u32, ip: Ipv4Addr, mac: Mac, now: SimTime) -> Vec<Pending> {
        let queue =
            self.entries.get_mut(&(dev, ip)).map(|e| std::mem::take(&mut e.queue)).unwrap_or_default();
        self.entries.insert(
            (dev, ip),
            NeighEntry { mac: Some(mac), state: NudState::Permanent, updated: now, probes: 0, queue: vec![] },
        );
        queue
    }

    pub fn remove_dev(&mut self, dev: u32) {
        self.entries.retain(|(d, _), _| *d != dev);
    }

    /// `neigh_carrier_down`: the device lost its carrier; every entry but the
    /// permanent ones goes.
    pub fn carrier_down(&mut self, dev: u32) {
        self.entries.retain(|(d, _), e| *d != dev || e.state == NudState::Permanent);
    }
}
