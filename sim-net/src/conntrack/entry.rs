//! One connection (`struct nf_conn`): its two tuples, status bits, protocol state, mark
//! and timeout; and the per-packet view netfilter matches on ([`CtInfo`]).

use std::fmt;

use sim_core::{SimDuration, SimTime};

use super::nat::Manip;
use super::tcp::TcpTrack;
use super::tuple::{Dir, Tuple};

/// Conntrack entry id, from a per-table monotonic counter (Linux derives `id=` from a
/// hash of the entry; a counter keeps runs reproducible).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The `IPS_*` status bits this model keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtStatus {
    /// `IPS_SEEN_REPLY`: a packet went the reply way (`[UNREPLIED]` until then).
    pub seen_reply: bool,
    /// `IPS_ASSURED`: `[ASSURED]` in `conntrack -L`.
    pub assured: bool,
    /// `IPS_CONFIRMED`: in the table (a first packet's entry is not, until confirm).
    pub confirmed: bool,
    /// `IPS_SRC_NAT`: the source binding changed the tuple (`--ctstate SNAT`).
    pub src_nat: bool,
    /// `IPS_DST_NAT`: the destination binding changed the tuple (`--ctstate DNAT`).
    pub dst_nat: bool,
    /// `IPS_SRC_NAT_DONE`: a source binding (maybe null) exists.
    pub src_nat_done: bool,
    /// `IPS_DST_NAT_DONE`: a destination binding (maybe null) exists.
    pub dst_nat_done: bool,
}

impl CtStatus {
    /// `IPS_SRC_NAT` / `IPS_DST_NAT` for a manip type.
    pub fn nat(&self, m: Manip) -> bool {
        match m {
            Manip::Src => self.src_nat,
            Manip::Dst => self.dst_nat,
        }
    }
    /// `nf_nat_initialized`: a binding of this type exists.
    pub fn nat_done(&self, m: Manip) -> bool {
        match m {
            Manip::Src => self.src_nat_done,
            Manip::Dst => self.dst_nat_done,
        }
    }
    pub(crate) fn set_nat(&mut self, m: Manip, changed: bool) {
        match m {
            Manip::Src => (self.src_nat, self.src_nat_done) = (changed, true),
            Manip::Dst => (self.dst_nat, self.dst_nat_done) = (changed, true),
        }
    }
}

/// Per-protocol tracking state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoState {
    Tcp(TcpTrack),
    /// `stream_ts`: replies seen after this instant make the flow a stream (ASSURED,
    /// `udp_stream` timeout). Set to first packet + 2 s.
    Udp {
        stream_after: SimTime,
    },
    Icmp,
}

/// A conntrack entry, as `conntrack -L` shows one line of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackEntry {
    pub(crate) id: EntryId,
    /// `[Original, Reply]`; the reply tuple is rewritten by NAT bindings.
    pub(crate) tuples: [Tuple; 2],
    pub(crate) status: CtStatus,
    pub(crate) proto: ProtoState,
    pub(crate) mark: u32,
    /// Last timeout set by the protocol tracker, relative (what Linux keeps before
    /// confirmation).
    pub(crate) timeout: SimDuration,
    /// Absolute expiry; meaningful once confirmed.
    pub(crate) expires: SimTime,
    /// Egress ifindex remembered by MASQUERADE (`nat->masq_index`), for flushing the
    /// entries of a device that goes away.
    pub(crate) masq_oif: Option<u32>,
}

impl ConntrackEntry {
    pub fn id(&self) -> EntryId {
        self.id
    }
    pub fn tuple(&self, d: Dir) -> &Tuple {
        &self.tuples[d.index()]
    }
    pub fn orig(&self) -> &Tuple {
        &self.tuples[0]
    }
    pub fn reply(&self) -> &Tuple {
        &self.tuples[1]
    }
    pub fn status(&self) -> CtStatus {
        self.status
    }
    pub fn mark(&self) -> u32 {
        self.mark
    }
    pub fn expires(&self) -> SimTime {
        self.expires
    }
    pub fn masq_oif(&self) -> Option<u32> {
        self.masq_oif
    }
    /// TCP state name as `conntrack -L` prints it (`ESTABLISHED`), `None` for UDP/ICMP.
    pub fn tcp_state(&self) -> Option<super::tcp::TcpState> {
        match &self.proto {
            ProtoState::Tcp(t) => Some(t.state),
            _ => None,
        }
    }
    /// Seconds left as `conntrack -L` prints them: truncated, never negative.
    pub fn remaining_secs(&self, now: SimTime) -> u64 {
        self.expires.saturating_since(now).as_nanos() / 1_000_000_000
    }
    /// `nf_ct_is_expired`: dead once `now` reaches the expiry instant.
    pub(crate) fn is_expired(&self, now: SimTime) -> bool {
        self.expires <= now
    }
}

/// Conntrack state of one packet, as `-m conntrack --ctstate` / `-m state` see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

/// One value of `--ctstate`, including the virtual states SNAT and DNAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtStateMatch {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
    Snat,
    Dnat,
}

/// What netfilter needs from conntrack for one packet (skb `nfct` + `ctinfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtInfo {
    pub state: CtState,
    /// `--ctdir`; `None` when the packet has no entry (INVALID, UNTRACKED).
    pub dir: Option<Dir>,
    pub id: Option<EntryId>,
    pub orig: Option<Tuple>,
    pub reply: Option<Tuple>,
    pub status: CtStatus,
    /// `ctmark` (`-m connmark`, `CONNMARK --restore-mark`).
    pub mark: u32,
}

impl CtInfo {
    pub(crate) fn without_entry(state: CtState) -> CtInfo {
        CtInfo { state, dir: None, id: None, orig: None, reply: None, status: CtStatus::default(), mark: 0 }
    }

    /// `-m conntrack --ctstate X` for one X (xt_conntrack `conntrack_mt`).
    pub fn matches_ctstate(&self, m: CtStateMatch) -> bool {
        match m {
            CtStateMatch::New => self.state == CtState::New,
            CtStateMatch::Established => self.state == CtState::Established,
            CtStateMatch::Related => self.state == CtState::Related,
            CtStateMatch::Invalid => self.state == CtState::Invalid,
            CtStateMatch::Untracked => self.state == CtState::Untracked,
            CtStateMatch::Snat => self.id.is_some() && self.status.src_nat,
            CtStateMatch::Dnat => self.id.is_some() && self.status.dst_nat,
        }
    }
}
