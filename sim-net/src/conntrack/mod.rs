//! Connection tracking and NAT bindings of one network namespace (`nf_conntrack` +
//! `nf_nat`), as a pure library: packets and `now` in, decisions out. Sources of truth:
//! `net/netfilter/nf_conntrack_core.c` (`resolve_normal_ct`, `__nf_conntrack_confirm`,
//! `nf_conntrack_inet_error`), `nf_conntrack_proto_{tcp,udp,icmp}.c`, `nf_nat_core.c`,
//! `nf_nat_proto.c`; reference §3.5.
//!
//! Checked on a real 6.18 kernel (veth pair between two namespaces, `conntrack -L`):
//! the line format; a DNATed TCP flow ending in TIME_WAIT `[ASSURED]`; a refused
//! connection (SYN answered by RST) leaves no entry; a SYN dropped in INPUT leaves no
//! entry (never confirmed); SYN retransmits do not refresh SYN_SENT's timeout; UDP is
//! `[UNREPLIED]` 30 s, replied-within-2 s is 30 s without ASSURED, a reply after 2 s
//! gives `[ASSURED]` 120 s; ICMP echo shows `[UNREPLIED]` until the reply, never ASSURED;
//! CONNMARK shows as `mark=5`.
//!
//! Deviations from Linux, each with its reason:
//! - No TCP window tracking (see `tcp.rs`): out-of-window segments are never INVALID.
//! - No helpers/expectations (FTP, SIP…), so RELATED only ever means an ICMP error.
//! - NAT bindings map to one address (see `nat.rs`); no TIME_WAIT eviction on clash.
//! - Clash at confirmation (two first packets of one flow in flight at once): identical
//!   entries merge; otherwise the packet is dropped. Linux ≥5.6 additionally lets a UDP
//!   packet with a different NAT result through (`nf_ct_resolve_clash_harder`).
//! - Entry ids are a counter; `conntrack -L` lists by id, not by hash bucket.
//! - No `nf_conntrack_max`/early drop, no zones, no accounting, IPv4 only.

mod config;
mod entry;
mod l4;
mod nat;
mod render;
mod table;
mod tcp;
mod tracked;
mod tuple;

pub use config::ConntrackConfig;
pub use entry::{ConntrackEntry, CtInfo, CtState, CtStateMatch, CtStatus, EntryId};
pub use nat::{Manip, NatTo};
pub use render::{CtFilter, render_entry};
pub use tcp::TcpState;
pub use tracked::Tracked;
pub use tuple::{Dir, Tuple};

use sim_core::{SimRng, SimTime};

use crate::packet::{Ipv4Packet, L4};
use entry::ProtoState;
use l4::Verdict;
use table::Table;
use tcp::TcpTrack;

/// The conntrack table of one namespace.
///
/// # Call order (the packet path, per packet, in Linux hook order)
///
/// Every packet is looked up once per namespace and then carries its [`Tracked`] through
/// the later hooks (clone it with the packet). NAT runs at the nat priority of each hook:
/// ```text
/// let mut ct = if raw_notrack { Tracked::untracked() } else { conntrack.lookup(&pkt, now) };
/// // mangle/filter match on ct.info()
/// if ct.needs_nat(manip) {                       // first packet, no binding of this type yet
///     let to: Option<NatTo> = nat_table(hook);   // None: no rule matched → null binding
///     conntrack.bind(&mut ct, manip, to, rng);
/// }
/// ct.apply(manip, &mut pkt);                     // translate from the stored bindings
/// ```
/// - **PREROUTING** (from a device): raw → [`lookup`](Self::lookup) (−200) → mangle →
///   nat step with [`Manip::Dst`] (−100) → routing decision on the new destination.
/// - **OUTPUT** (locally generated, after the socket's route lookup chose the source):
///   raw → `lookup` → mangle → nat step with `Manip::Dst` → re-route if the destination
///   changed (source kept) → filter.
/// - **FORWARD**: filter only, on `ct.info()`; no conntrack call.
/// - **INPUT**: mangle → filter → nat step with [`Manip::Src`] (+100) →
///   [`confirm`](Self::confirm) (last) → socket.
/// - **POSTROUTING**: mangle → nat step with `Manip::Src` → `confirm` (last) → transmit.
///   MASQUERADE is the caller's choice of address ([`NatTo::masquerade`]).
/// - `confirm` returning `Err` means drop the packet (Linux: `insert_failed`).
/// - A packet dropped before confirm just drops its `Tracked` (or pass it to
///   [`discard`](Self::discard)): a first packet's entry disappears with it.
/// - **Loopback** and a **bridged frame handed up to the host**: the packet keeps its
///   `Tracked`; do not call `lookup` again (Linux skips conntrack for an skb that already
///   has an entry). Continue at the next hook (PREROUTING nat is then a no-op: the
///   binding exists; INPUT nat + `confirm` likewise).
/// - **Bridged frames with `bridge-nf-call-iptables=1`** (§3.7): bridge PRE_ROUTING runs
///   the PREROUTING sequence (lookup + Dst nat), bridge FORWARD runs the IPv4 FORWARD
///   filter, bridge POST_ROUTING runs the POSTROUTING sequence (Src nat + confirm).
///   Frames the host itself sends through the bridge are not run again at bridge level.
///
/// Time: [`expire`](Self::expire) at [`next_expiry`](Self::next_expiry) (entries are
/// also treated as gone from their expiry instant on, whether or not `expire` ran).
#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    config: ConntrackConfig,
    table: Table,
    next_id: u64,
}

/// Why a connection could not be confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    /// Another connection already holds one of this entry's tuples (`insert_failed`):
    /// Linux drops the packet.
    #[error("conntrack insert failed: tuple {0} is already in use; packet dropped")]
    Clash(Tuple),
}

impl Conntrack {
    pub fn new(config: ConntrackConfig) -> Self {
        Conntrack { config, table: Table::default(), next_id: 1 }
    }

    pub fn config(&self) -> &ConntrackConfig {
        &self.config
    }

    /// `sysctl -w net.netfilter.nf_conntrack_*`: new values apply from the next packet.
    pub fn set_config(&mut self, config: ConntrackConfig) {
        self.config = config;
    }

    /// The conntrack hook (priority −200 in PREROUTING and OUTPUT): attach `pkt` to its
    /// connection, updating the protocol state (as Linux does at this hook), or prepare a
    /// new unconfirmed entry. ICMP errors quoting a tracked flow are RELATED to it;
    /// anything conntrack refuses is INVALID (no entry).
    pub fn lookup(&mut self, pkt: &Ipv4Packet, now: SimTime) -> Tracked {
        match &pkt.body {
            L4::Icmp(icmp) if icmp.is_error() => self.lookup_related(pkt, icmp.quoted(), now),
            _ => self.lookup_flow(pkt, now),
        }
    }

    fn lookup_flow(&mut self, pkt: &Ipv4Packet, now: SimTime) -> Tracked {
        let tuple = Tuple::of(pkt).expect("every non-error packet has a conntrack tuple");
        match self.table.find(&tuple) {
            Some((id, _)) if self.table.get(id).is_some_and(|e| e.is_expired(now)) => {
                self.table.remove(id);
                self.new_entry(tuple, pkt, now)
            }
            Some((id, dir)) => self.existing(id, dir, tuple, pkt, now),
            None => self.new_entry(tuple, pkt, now),
        }
    }

    /// `resolve_normal_ct` + the protocol handler for a packet of a confirmed entry.
    fn existing(&mut self, id: EntryId, dir: Dir, tuple: Tuple, pkt: &Ipv4Packet, now: SimTime) -> Tracked {
        let e = self.table.get_mut(id).expect("tuple index points at a missing entry");
        let state =
            if dir == Dir::Reply || e.status.seen_reply { CtState::Established } else { CtState::New };
        match l4::handle_packet(e, dir, pkt, now, &self.config) {
            Verdict::Invalid => Tracked::invalid(now),
            Verdict::Reopen => {
                self.table.remove(id);
                self.new_entry(tuple, pkt, now)
            }
            Verdict::AcceptAndKill => {
                let e = self.table.remove(id).expect("entry vanished while handling its packet");
                Tracked::with_entry(state, dir, e, now)
            }
            Verdict::Accept(timeout) => {
                if dir == Dir::Reply {
                    e.status.seen_reply = true;
                }
                if let Some(t) = timeout {
                    e.timeout = t;
                    self.table.set_expires(id, now + t);
                }
                let snapshot = self.table.get(id).expect("entry present").clone();
                Tracked::with_entry(state, dir, snapshot, now)
            }
        }
    }

    /// `init_conntrack` + the protocol handler: a NEW unconfirmed entry, or INVALID.
    fn new_entry(&mut self, tuple: Tuple, pkt: &Ipv4Packet, now: SimTime) -> Tracked {
        if !tuple.can_start_flow() {
            return Tracked::invalid(now);
        }
        let proto = match &pkt.body {
            L4::Tcp(seg) if tcp::valid_flags(seg.flags) => match TcpTrack::new(seg, &self.config) {
                Some(t) => ProtoState::Tcp(t),
                None => return Tracked::invalid(now),
            },
            L4::Tcp(_) => return Tracked::invalid(now),
            L4::Udp(_) => ProtoState::Udp { stream_after: now },
            L4::Icmp(_) => ProtoState::Icmp,
        };
        let mut e = ConntrackEntry {
            id: EntryId(self.next_id),
            tuples: [tuple, tuple.invert()],
            status: CtStatus::default(),
            proto,
            mark: 0,
            timeout: self.config.udp,
            expires: now,
            masq_oif: None,
        };
        match l4::handle_packet(&mut e, Dir::Original, pkt, now, &self.config) {
            Verdict::Accept(t) => e.timeout = t.unwrap_or(e.timeout),
            _ => return Tracked::invalid(now),
        }
        self.next_id += 1;
        Tracked::with_entry(CtState::New, Dir::Original, e, now)
    }

    /// `nf_conntrack_inet_error`: the quoted packet, inverted, names the connection; the
    /// error's destination must be where that direction goes.
    fn lookup_related(&self, pkt: &Ipv4Packet, quoted: Option<&Ipv4Packet>, now: SimTime) -> Tracked {
        let Some(inner) = quoted.and_then(Tuple::of) else { return Tracked::invalid(now) };
        match self.table.find_live(&inner.invert(), now) {
            Some((e, dir)) if e.tuple(dir).dst == pkt.dst => {
                Tracked::with_entry(CtState::Related, dir, e.clone(), now)
            }
            _ => Tracked::invalid(now),
        }
    }

    /// Records the binding a nat rule chose for this hook's manip type (`None` when no
    /// rule matched: the null binding, which still moves a clashing source port), and
    /// rewrites the expected reply tuple. Source bindings keep the port when the reply
    /// tuple is free, else pick one as `nf_nat_l4proto_unique_tuple` does, drawing the
    /// offset from `rng`; `random` (`--random-fully`) always draws.
    ///
    /// Panics unless `ct.needs_nat(manip)`: bindings are made once, on the first packet.
    pub fn bind(&self, ct: &mut Tracked, manip: Manip, to: Option<NatTo>, rng: &mut SimRng) {
        assert!(ct.needs_nat(manip), "Conntrack::bind({manip:?}) when Tracked::needs_nat is false");
        let at = ct.at;
        let conn = ct.conn_mut().expect("needs_nat implies an entry");
        let e = &mut conn.entry;
        let t = nat::unique_tuple(&self.table, e, manip, to.as_ref(), at, rng);
        let changed = t != e.reply().invert();
        e.tuples[1] = t.invert();
        e.status.set_nat(manip, changed);
        if let Some(oif) = to.and_then(|n| n.masq_oif) {
            e.masq_oif = Some(oif);
        }
    }

    /// The confirm hook (last in POSTROUTING and INPUT): insert a first packet's entry
    /// into the table, starting its timeout. A no-op for packets of confirmed entries,
    /// RELATED, INVALID and UNTRACKED packets. `Err` means: drop the packet.
    pub fn confirm(&mut self, ct: &mut Tracked, now: SimTime) -> Result<(), ConfirmError> {
        let Some(conn) = ct.conn_mut() else { return Ok(()) };
        if conn.entry.status.confirmed || ct.info().state == CtState::Related {
            return Ok(());
        }
        let conn = ct.conn_mut().expect("checked above");
        if let Some(same) = self.table.get(conn.entry.id) {
            *conn.entry = same.clone(); // a clone of this packet confirmed it
            return Ok(());
        }
        for d in [Dir::Original, Dir::Reply] {
            let t = *conn.entry.tuple(d);
            if let Some((other, _)) = self.table.find_live(&t, now) {
                return merge_clash(conn, other, t);
            }
            if let Some((stale, _)) = self.table.find(&t) {
                self.table.remove(stale);
            }
        }
        conn.entry.status.confirmed = true;
        conn.entry.expires = now + conn.entry.timeout;
        self.table.insert((*conn.entry).clone());
        Ok(())
    }

    /// A packet dropped before confirmation. Equivalent to dropping the handle: an
    /// unconfirmed entry lives only in it. Entries already confirmed stay.
    pub fn discard(&mut self, ct: Tracked) {
        drop(ct);
    }

    /// `CONNMARK --set-mark` / `--save-mark`: sets the entry's `ctmark`.
    pub fn set_mark(&mut self, ct: &mut Tracked, mark: u32) {
        let Some(conn) = ct.conn_mut() else { return };
        conn.entry.mark = mark;
        if let Some(e) = self.table.get_mut(conn.entry.id) {
            e.mark = mark;
        }
    }

    /// Deletes every entry `filter` selects; returns how many (`conntrack -D …`).
    pub fn delete_matching(&mut self, filter: &CtFilter) -> usize {
        let ids: Vec<EntryId> = self.table.iter().filter(|e| filter.matches(e)).map(|e| e.id).collect();
        for id in &ids {
            self.table.remove(*id);
        }
        ids.len()
    }

    /// `conntrack -F`.
    pub fn flush(&mut self) -> usize {
        self.delete_matching(&CtFilter::default())
    }

    /// Removes entries whose timeout ran out by `now`; returns how many.
    pub fn expire(&mut self, now: SimTime) -> usize {
        self.table.expire(now)
    }

    /// The earliest instant an entry expires, for scheduling [`expire`](Self::expire).
    pub fn next_expiry(&self) -> Option<SimTime> {
        self.table.next_expiry()
    }

    /// Live confirmed entries at `now`, by id.
    pub fn entries(&self, now: SimTime) -> impl Iterator<Item = &ConntrackEntry> {
        self.table.iter().filter(move |e| !e.is_expired(now))
    }

    pub fn get(&self, id: EntryId) -> Option<&ConntrackEntry> {
        self.table.get(id)
    }

    /// Number of confirmed entries, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Exactly what `conntrack -L` prints on stdout at `now`, one line per live entry.
    pub fn render_list(&self, now: SimTime) -> String {
        self.entries(now).map(|e| render_entry(e, now) + "\n").collect()
    }
}

/// `nf_ct_resolve_clash` (simplified): if the entry already in the table is this same
/// connection with the same NAT result, the packet joins it; otherwise it is dropped.
fn merge_clash(conn: &mut tracked::Conn, other: &ConntrackEntry, t: Tuple) -> Result<(), ConfirmError> {
    let ours = &conn.entry;
    let same = other.tuples == ours.tuples
        && other.status.src_nat == ours.status.src_nat
        && other.status.dst_nat == ours.status.dst_nat
        && ours.orig().proto != crate::packet::IpProto::Tcp;
    if !same {
        return Err(ConfirmError::Clash(t));
    }
    *conn.entry = other.clone();
    Ok(())
}
