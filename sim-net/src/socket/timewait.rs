//! A new SYN for a 4-tuple still in TIME_WAIT, as Linux's `tcp_timewait_state_process`
//! answers it (smoltcp would swallow the SYN silently: "expecting an ACK"):
//!
//! - a SYN whose sequence number is after the TIME_WAIT socket's `rcv_nxt` is a new
//!   connection (`TCP_TW_SYN`): the TIME_WAIT socket goes away and the listener, if
//!   any, takes the SYN (none: the usual RST);
//! - any other SYN may be an old duplicate: the TIME_WAIT socket answers with an ACK
//!   of what it last saw (`TCP_TW_ACK`, `tcp_v4_timewait_ack`). A client in SYN_SENT
//!   answers that ACK with a RST, the RST ends the TIME_WAIT socket
//!   (`net.ipv4.tcp_rfc1337` = 0), and the client's retransmitted SYN reaches the
//!   listener.
//!
//! Both leave a hop saying which rule applied. Linux can also decide on timestamps
//! (PAWS); our segments carry none (docs/fidelity.md).

use std::net::SocketAddrV4;

use smoltcp::socket::tcp::State;

use crate::hop::{DropReason, Step};
use crate::netns::NsId;
use crate::network::Network;
use crate::packet::{L4, TcpFlags, TcpSegment};
use crate::path::Skb;

/// `after(a, b)` of the kernel: `a` is later than `b` in sequence space.
pub(crate) fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The sequence number right after `seg` (its data, SYN and FIN each count).
pub(crate) fn seq_end(seg: &TcpSegment) -> u32 {
    let f = seg.flags;
    let len = seg.payload.len() as u32 + u32::from(f.has(TcpFlags::SYN)) + u32::from(f.has(TcpFlags::FIN));
    seg.seq.wrapping_add(len)
}

/// Raises a tracked `*_nxt` to `end` when `end` is later.
pub(crate) fn advance(nxt: &mut Option<u32>, end: u32) {
    if nxt.is_none_or(|n| seq_after(end, n)) {
        *nxt = Some(end);
    }
}

/// What happened to a SYN that met a TIME_WAIT socket.
pub(crate) enum TwVerdict {
    /// The TIME_WAIT socket is gone; look for a listener.
    Reopen,
    /// Answered with an ACK; the SYN goes no further.
    Acked,
}

impl Network {
    /// `seg` is a SYN (no ACK, no RST) for socket `n`'s 4-tuple and `n` is in TIME_WAIT.
    pub(crate) fn timewait_syn(&mut self, ns: NsId, skb: &Skb, seg: &TcpSegment, n: u32) -> TwVerdict {
        let Some(t) = self.ns_mut(ns).stack.transport.as_deref_mut() else { return TwVerdict::Reopen };
        let e = &t.entries[&n];
        debug_assert_eq!(e.state, State::TimeWait);
        let (rcv_nxt, snd_nxt) = (e.rcv_nxt.unwrap_or(0), e.snd_nxt.unwrap_or(0));
        let window = t.config.tcp_rx.min(usize::from(u16::MAX)) as u16;
        let local = SocketAddrV4::new(skb.pkt.dst, seg.dport);
        let remote = SocketAddrV4::new(skb.pkt.src, seg.sport);
        let seq = seg.seq;
        if seq_after(seq, rcv_nxt) {
            t.remove(n);
            self.trace(
                ns,
                skb.in_dev,
                skb.tag,
                Step::Deliver,
                |_| {
                    format!(
                        "{local} ⇄ {remote} was in TIME_WAIT: SYN seq {seq} is after rcv_nxt {rcv_nxt}, \
                         a new connection (TCP_TW_SYN)"
                    )
                },
                String::new,
            );
            return TwVerdict::Reopen;
        }
        self.trace(
            ns,
            skb.in_dev,
            skb.tag,
            Step::Drop { reason: DropReason::TimeWait },
            |_| {
                format!(
                    "{local} ⇄ {remote} is in TIME_WAIT and SYN seq {seq} is not after rcv_nxt \
                     {rcv_nxt}: answered with an ACK (TCP_TW_ACK)"
                )
            },
            String::new,
        );
        let ack = TcpSegment {
            sport: seg.dport,
            dport: seg.sport,
            seq: snd_nxt,
            ack: rcv_nxt,
            flags: TcpFlags::ACK,
            window,
            ..TcpSegment::default()
        };
        self.reply(ns, skb, L4::Tcp(ack));
        TwVerdict::Acked
    }
}
