//! TCP connection tracking, transcribed from `net/netfilter/nf_conntrack_proto_tcp.c`
//! (`tcp_conntracks`, `tcp_new`, `tcp_error`, `nf_conntrack_tcp_packet`).
//!
//! The transition table is kept as a table, in the kernel's row and column order, so it
//! can be checked line by line against the source; the special cases around it (reopen
//! from TIME_WAIT, simultaneous open, RST before any reply, mid-stream pickup, ASSURED)
//! are one small function each.
//!
//! Deviation: no sequence/window tracking (`tcp_in_window`). Every segment is taken as
//! in window, so out-of-window segments are never INVALID (as with
//! `nf_conntrack_tcp_be_liberal=1`), RST sequence checks are skipped, the
//! `unacknowledged`/`max_retrans` timeout caps for unacked data and zero windows do not
//! apply, and the SYN/ACK resynchronisation of ignored SYNs is not modelled. The sim's
//! TCP stacks only send in-window segments, so normal flows behave identically.

use std::fmt;

use sim_core::SimDuration;

use super::config::ConntrackConfig;
use super::entry::CtStatus;
use super::l4::Verdict;
use super::tuple::Dir;
use crate::packet::{TcpFlags, TcpSegment};

/// `enum tcp_conntrack`, in the kernel's order (the order matters: "old < TIME_WAIT").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    SynSent2,
}

impl TcpState {
    /// `tcp_conntrack_names`, as `conntrack -L` prints them.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `enum tcp_bit_set`: which row of the table a segment uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Index {
    Syn,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

/// A cell of the table: a new state, `sIG` (let through, change nothing) or `sIV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    To(TcpState),
    Ignore,
    Invalid,
}

/// The per-entry TCP tracking data this model keeps (`struct ip_ct_tcp`, minus windows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpTrack {
    pub state: TcpState,
    last_index: Index,
    last_dir: Dir,
    /// `IP_CT_TCP_FLAG_CLOSE_INIT` per direction: this side sent the first FIN.
    close_init: [bool; 2],
    /// `IP_CT_TCP_SIMULTANEOUS_OPEN`.
    simultaneous_open: bool,
}

/// `get_conntrack_index`.
fn index_of(flags: TcpFlags) -> Index {
    if flags.has(TcpFlags::RST) {
        Index::Rst
    } else if flags.has(TcpFlags::SYN) {
        if flags.has(TcpFlags::ACK) { Index::SynAck } else { Index::Syn }
    } else if flags.has(TcpFlags::FIN) {
        Index::Fin
    } else if flags.has(TcpFlags::ACK) {
        Index::Ack
    } else {
        Index::None
    }
}

/// `tcp_error`'s flag check (`tcp_valid_flags`, PSH ignored): SYN, SYN+ACK, RST,
/// RST+ACK, FIN+ACK and ACK are the only valid combinations.
pub(crate) fn valid_flags(flags: TcpFlags) -> bool {
    let f = flags.0 & !TcpFlags::PSH.0;
    let (syn, ack, rst, fin) = (TcpFlags::SYN.0, TcpFlags::ACK.0, TcpFlags::RST.0, TcpFlags::FIN.0);
    [syn, syn | ack, rst, rst | ack, fin | ack, ack].contains(&f)
}

/// `tcp_conntracks[dir][index][state]`.
fn transition(dir: Dir, index: Index, state: TcpState) -> Cell {
    use Cell::{Ignore as IG, Invalid as IV};
    use TcpState::*;
    const SS: Cell = Cell::To(SynSent);
    const SR: Cell = Cell::To(SynRecv);
    const ES: Cell = Cell::To(Established);
    const FW: Cell = Cell::To(FinWait);
    const CW: Cell = Cell::To(CloseWait);
    const LA: Cell = Cell::To(LastAck);
    const TW: Cell = Cell::To(TimeWait);
    const CL: Cell = Cell::To(Close);
    const S2: Cell = Cell::To(SynSent2);
    #[rustfmt::skip]
    let row: [Cell; 10] = match (dir, index) {
        //                              sNO sSS sSR sES sFW sCW sLA sTW sCL sS2
        (Dir::Original, Index::Syn)    => [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        (Dir::Original, Index::SynAck) => [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        (Dir::Original, Index::Fin)    => [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        (Dir::Original, Index::Ack)    => [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        (Dir::Original, Index::Rst)    => [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        (Dir::Reply, Index::Syn)       => [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        (Dir::Reply, Index::SynAck)    => [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        (Dir::Reply, Index::Fin)       => [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        (Dir::Reply, Index::Ack)       => [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        (Dir::Reply, Index::Rst)       => [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        (_, Index::None)               => [IV; 10],
    };
    row[state as usize]
}

impl TcpTrack {
    /// `tcp_new`: the tracking data for a segment with no entry, or `None` when the
    /// segment cannot start one (INVALID): SYN-ACK, FIN, RST, or ACK with `tcp_loose=0`.
    pub(crate) fn new(seg: &TcpSegment, cfg: &ConntrackConfig) -> Option<TcpTrack> {
        let index = index_of(seg.flags);
        match transition(Dir::Original, index, TcpState::None) {
            Cell::To(TcpState::SynSent) => {}
            Cell::To(_) if cfg.tcp_loose => {}
            _ => return None,
        }
        Some(TcpTrack {
            state: TcpState::None,
            last_index: Index::None,
            last_dir: Dir::Original,
            close_init: [false; 2],
            simultaneous_open: false,
        })
    }

    /// `nf_conntrack_tcp_packet` for one segment of this connection.
    pub(crate) fn packet(
        &mut self,
        status: &mut CtStatus,
        dir: Dir,
        seg: &TcpSegment,
        cfg: &ConntrackConfig,
    ) -> Verdict {
        if !valid_flags(seg.flags) {
            return Verdict::Invalid;
        }
        let index = index_of(seg.flags);
        let old = self.state;
        let new = match transition(dir, index, old) {
            Cell::Invalid => return Verdict::Invalid,
            Cell::Ignore => return self.ignore(index, dir),
            Cell::To(TcpState::SynSent) if old >= TcpState::TimeWait => {
                return self.reopen_or_ignore(index, dir);
            }
            Cell::To(s) => self.special_case(dir, index, s),
        };
        self.last_index = index;
        self.last_dir = dir;
        self.state = new;
        if old != new && new == TcpState::FinWait {
            self.close_init[dir.index()] = true;
        }
        let timeout = if index == Index::Rst { cfg.tcp_close } else { timeout_of(new, cfg) };
        finish(status, index, old, new, timeout, cfg)
    }

    /// `sIG`: let the segment through without touching state or timeout.
    fn ignore(&mut self, index: Index, dir: Dir) -> Verdict {
        self.last_index = index;
        self.last_dir = dir;
        Verdict::Accept(None)
    }

    /// A SYN on a TIME_WAIT/CLOSE entry: reopen if the old connection was closed by a
    /// FIN or aborted by a RST from this side; otherwise treat it as ignored.
    fn reopen_or_ignore(&mut self, index: Index, dir: Dir) -> Verdict {
        let closed = self.close_init[0] || self.close_init[1];
        let aborted = self.last_dir == dir && self.last_index == Index::Rst;
        if closed || aborted { Verdict::Reopen } else { self.ignore(index, dir) }
    }

    /// Simultaneous open: SYN_SENT2 flags it; the reply ACK then completes the handshake.
    fn special_case(&mut self, dir: Dir, index: Index, to: TcpState) -> TcpState {
        match to {
            TcpState::SynSent2 => {
                self.simultaneous_open = true;
                to
            }
            TcpState::SynRecv if dir == Dir::Reply && index == Index::Ack && self.simultaneous_open => {
                TcpState::Established
            }
            _ => to,
        }
    }
}

/// The tail of `nf_conntrack_tcp_packet`: kill on a RST before any reply, keep the timeout
/// on SYN retransmits, cap mid-stream pickups, set ASSURED.
fn finish(
    status: &mut CtStatus,
    index: Index,
    old: TcpState,
    new: TcpState,
    timeout: SimDuration,
    cfg: &ConntrackConfig,
) -> Verdict {
    if !status.seen_reply {
        if index == Index::Rst {
            return Verdict::AcceptAndKill;
        }
        if index == Index::Syn && old == TcpState::SynSent {
            return Verdict::Accept(None);
        }
        if new == TcpState::Established && timeout > cfg.tcp_unacknowledged {
            return Verdict::Accept(Some(cfg.tcp_unacknowledged));
        }
    } else if !status.assured
        && matches!(old, TcpState::SynRecv | TcpState::Established)
        && new == TcpState::Established
    {
        status.assured = true;
    }
    Verdict::Accept(Some(timeout))
}

/// `tcp_timeouts[state]` from the sysctls.
fn timeout_of(s: TcpState, cfg: &ConntrackConfig) -> SimDuration {
    match s {
        TcpState::SynSent | TcpState::SynSent2 | TcpState::None => cfg.tcp_syn_sent,
        TcpState::SynRecv => cfg.tcp_syn_recv,
        TcpState::Established => cfg.tcp_established,
        TcpState::FinWait => cfg.tcp_fin_wait,
        TcpState::CloseWait => cfg.tcp_close_wait,
        TcpState::LastAck => cfg.tcp_last_ack,
        TcpState::TimeWait => cfg.tcp_time_wait,
        TcpState::Close => cfg.tcp_close,
    }
}
