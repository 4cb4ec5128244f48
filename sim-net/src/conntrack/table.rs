//! The confirmed-entry table: entries by id, a tuple index holding both directions of
//! every entry (Linux's hash of `tuplehash[ORIGINAL]` and `tuplehash[REPLY]`), and an
//! expiry index for `next_expiry`. Only `BTreeMap`/`BTreeSet`, so every walk is ordered.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::SimTime;

use super::entry::{ConntrackEntry, EntryId};
use super::tuple::{Dir, Tuple};

#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    entries: BTreeMap<EntryId, ConntrackEntry>,
    by_tuple: BTreeMap<Tuple, (EntryId, Dir)>,
    by_expiry: BTreeSet<(SimTime, EntryId)>,
}

impl Table {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry and direction `t` belongs to, ignoring whether it has expired.
    pub(crate) fn find(&self, t: &Tuple) -> Option<(EntryId, Dir)> {
        self.by_tuple.get(t).copied()
    }

    /// The live entry holding tuple `t` in either direction (`nf_conntrack_find_get`).
    pub(crate) fn find_live(&self, t: &Tuple, now: SimTime) -> Option<(&ConntrackEntry, Dir)> {
        let (id, dir) = self.find(t)?;
        let e = &self.entries[&id];
        (!e.is_expired(now)).then_some((e, dir))
    }

    pub(crate) fn get(&self, id: EntryId) -> Option<&ConntrackEntry> {
        self.entries.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: EntryId) -> Option<&mut ConntrackEntry> {
        self.entries.get_mut(&id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &ConntrackEntry> {
        self.entries.values()
    }

    /// Inserts a confirmed entry. Panics if one of its tuples is already present: the
    /// caller checks for clashes first (`__nf_conntrack_confirm`). A connection to itself
    /// (reply tuple = original tuple) is indexed once, as Original.
    pub(crate) fn insert(&mut self, e: ConntrackEntry) {
        for d in [Dir::Original, Dir::Reply] {
            if d == Dir::Reply && e.reply() == e.orig() {
                continue;
            }
            let old = self.by_tuple.insert(*e.tuple(d), (e.id, d));
            assert!(old.is_none(), "conntrack table already holds tuple {}", e.tuple(d));
        }
        self.by_expiry.insert((e.expires, e.id));
        self.entries.insert(e.id, e);
    }

    pub(crate) fn remove(&mut self, id: EntryId) -> Option<ConntrackEntry> {
        let e = self.entries.remove(&id)?;
        for d in [Dir::Original, Dir::Reply] {
            if self.by_tuple.get(e.tuple(d)).is_some_and(|(owner, _)| *owner == id) {
                self.by_tuple.remove(e.tuple(d));
            }
        }
        self.by_expiry.remove(&(e.expires, e.id));
        Some(e)
    }

    /// Moves an entry's expiry (`nf_ct_refresh`).
    pub(crate) fn set_expires(&mut self, id: EntryId, at: SimTime) {
        let e = self.entries.get_mut(&id).expect("set_expires on an entry that is not in the table");
        self.by_expiry.remove(&(e.expires, id));
        e.expires = at;
        self.by_expiry.insert((at, id));
    }

    pub(crate) fn next_expiry(&self) -> Option<SimTime> {
        self.by_expiry.first().map(|(t, _)| *t)
    }

    /// Removes every entry whose expiry is at or before `now`; returns how many.
    pub(crate) fn expire(&mut self, now: SimTime) -> usize {
        let due: Vec<EntryId> =
            self.by_expiry.iter().take_while(|(t, _)| *t <= now).map(|(_, id)| *id).collect();
        for id in &due {
            self.remove(*id);
        }
        due.len()
    }

    /// `nf_conntrack_tuple_taken`: does a live entry other than `ignored` hold `reply`
    /// in either direction? An entry with the same original tuple is the same flow (a
    /// race of two first packets) and does not count; confirmation sorts it out.
    pub(crate) fn tuple_taken(&self, reply: &Tuple, ignored: &ConntrackEntry, now: SimTime) -> bool {
        match self.find_live(reply, now) {
            Some((e, _)) => e.id != ignored.id && e.orig() != ignored.orig(),
            None => false,
        }
    }
}
