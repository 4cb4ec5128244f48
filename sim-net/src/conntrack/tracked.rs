//! [`Tracked`]: what a packet carries through the hooks after conntrack saw it (the
//! skb's `_nfct` pointer plus `ctinfo`), and NAT applied from it
//! (`nf_nat_packet`, `nf_nat_manip_pkt`, `nf_nat_icmp_reply_translation`).
//!
//! Like the skb's reference, the handle keeps its own copy of the entry: a first packet's
//! entry lives only here until [`Conntrack::confirm`](super::Conntrack::confirm) inserts
//! it (dropping the handle is the "unconfirmed entry disappears with the packet" of
//! Linux), and NAT still applies to a packet whose entry was deleted meanwhile (e.g. the
//! RST that kills a connection that never saw a reply is still un-DNATed). Tuples and NAT
//! status never change after confirmation, so the copy cannot go stale where it matters.

use sim_core::SimTime;

use super::entry::{ConntrackEntry, CtInfo, CtState};
use super::nat::Manip;
use super::tuple::{Dir, Tuple};
use crate::packet::{Icmp, Ipv4Packet, L4};

/// A packet's conntrack association. Get one from
/// [`Conntrack::lookup`](super::Conntrack::lookup) (or [`Tracked::untracked`] after a raw
/// `NOTRACK`), carry it with the packet through every later hook of the same namespace,
/// and clone it with the packet. See [`Conntrack`](super::Conntrack) for the call order.
#[derive(Clone, Debug)]
pub struct Tracked {
    state: CtState,
    conn: Option<Conn>,
    /// The instant of the lookup, used for liveness checks while binding.
    pub(crate) at: SimTime,
}

#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub(crate) dir: Dir,
    pub(crate) entry: Box<ConntrackEntry>,
}

impl Tracked {
    /// A packet exempted by `-t raw -j CT --notrack` (or `-j NOTRACK`): state UNTRACKED,
    /// no entry, no NAT.
    pub fn untracked() -> Tracked {
        Tracked { state: CtState::Untracked, conn: None, at: SimTime::ZERO }
    }

    pub(crate) fn invalid(at: SimTime) -> Tracked {
        Tracked { state: CtState::Invalid, conn: None, at }
    }

    pub(crate) fn with_entry(state: CtState, dir: Dir, entry: ConntrackEntry, at: SimTime) -> Tracked {
        Tracked { state, conn: Some(Conn { dir, entry: Box::new(entry) }), at }
    }

    /// What an ICMP error the stack sends about this packet carries (`icmp_glue_bits` →
    /// `nf_ct_attach`): the same connection, RELATED, in the other direction. Its NAT
    /// bindings then translate the error and the packet it quotes on the way out, even
    /// when the connection was never confirmed (a first packet dropped in forwarding).
    pub fn related_error(&self) -> Tracked {
        match &self.conn {
            Some(c) => Tracked::with_entry(CtState::Related, c.dir.flip(), (*c.entry).clone(), self.at),
            None => Tracked { state: self.state, conn: None, at: self.at },
        }
    }

    pub(crate) fn conn_mut(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut()
    }

    /// The conntrack view netfilter matches on (`--ctstate`, `--ctdir`, `connmark`…).
    /// Read it again after [`Conntrack::bind`](super::Conntrack::bind): the virtual
    /// states SNAT/DNAT appear once the binding exists.
    pub fn info(&self) -> CtInfo {
        let Some(c) = &self.conn else { return CtInfo::without_entry(self.state) };
        let e = &c.entry;
        CtInfo {
            state: self.state,
            dir: Some(c.dir),
            id: Some(e.id),
            orig: Some(*e.orig()),
            reply: Some(*e.reply()),
            status: e.status,
            mark: e.mark,
        }
    }

    /// Must the nat table of a hook of this manip type run for this packet? Only for the
    /// first packet of a connection (entry not yet confirmed) and only while no binding
    /// of that type exists. RELATED ICMP errors never traverse nat: [`Tracked::apply`]
    /// translates them from their connection's bindings.
    pub fn needs_nat(&self, manip: Manip) -> bool {
        let Some(c) = &self.conn else { return false };
        self.state == CtState::New && !c.entry.status.confirmed && !c.entry.status.nat_done(manip)
    }

    /// Translates `pkt` at a hook of type `manip` from the stored bindings
    /// (`nf_nat_packet`): at Dst hooks the original direction gets its DNAT and the reply
    /// direction has its SNAT undone; at Src hooks the original direction gets its SNAT and
    /// the reply direction has its DNAT undone. A RELATED ICMP error has both its outer
    /// header and its quoted packet rewritten (`nf_nat_icmp_reply_translation`).
    ///
    /// Panics if [`Tracked::needs_nat`] is true: bind first (a null binding if no rule
    /// matched).
    pub fn apply(&self, manip: Manip, pkt: &mut Ipv4Packet) {
        assert!(
            !self.needs_nat(manip),
            "Tracked::apply({manip:?}) before Conntrack::bind for a new connection"
        );
        let Some(c) = &self.conn else { return };
        if !nat_applies(&c.entry, manip, c.dir) {
            return;
        }
        let other = c.entry.tuple(c.dir.flip());
        if self.state == CtState::Related
            && let Some(inner) = quoted_mut(pkt)
        {
            manip_pkt(inner, other, manip.flip());
        }
        manip_pkt(pkt, &other.invert(), manip);
    }
}

/// The status-bit test of `nf_nat_packet`: in the reply direction a Src hook undoes the
/// DNAT and a Dst hook undoes the SNAT.
fn nat_applies(e: &ConntrackEntry, manip: Manip, dir: Dir) -> bool {
    let bit = if dir == Dir::Reply { manip.flip() } else { manip };
    e.status.nat(bit)
}

fn quoted_mut(pkt: &mut Ipv4Packet) -> Option<&mut Ipv4Packet> {
    match &mut pkt.body {
        L4::Icmp(Icmp::DestUnreachable { original, .. } | Icmp::TimeExceeded { original }) => Some(original),
        _ => None,
    }
}

/// `nf_nat_ipv4_manip_pkt`: make `pkt`'s source (Src) or destination (Dst) address and
/// port those of `target`. An ICMP echo's identifier always becomes the target's
/// (`icmp_manip_pkt` ignores the manip type); ICMP errors keep their header.
fn manip_pkt(pkt: &mut Ipv4Packet, target: &Tuple, manip: Manip) {
    match manip {
        Manip::Src => pkt.set_src(target.src, Some(target.sport)),
        Manip::Dst => pkt.set_dst(target.dst, Some(target.dport)),
    }
    if let L4::Icmp(Icmp::EchoRequest { ident, .. } | Icmp::EchoReply { ident, .. }) = &mut pkt.body {
        *ident = target.sport;
    }
}
