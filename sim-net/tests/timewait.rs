//! Port reuse against TIME_WAIT: a client that connects again from the same port while
//! the server still holds the old connection in TIME_WAIT gets through, as on Linux
//! (`tcp_timewait_state_process`): at once when its SYN's sequence number is after the
//! old connection's, else after the TIME_WAIT ACK, the client's RST and the SYN
//! retransmit. Never a silent drop.

mod common;

use std::net::SocketAddrV4;

use common::{Harness, addr, netns, up, veth};
use sim_core::SimDuration;
use sim_net::packet::IpProto;
use sim_net::socket::SockEventKind;

fn two_hosts() -> Harness {
    let mut h = Harness::new();
    h.apply(&[
        netns("a"),
        netns("b"),
        veth("a", "eth0", "b", "eth0", 1),
        addr("a", "eth0", "10.0.0.1/24"),
        addr("b", "eth0", "10.0.0.2/24"),
        up("a", "eth0"),
        up("b", "eth0"),
    ]);
    h
}

/// One connection from `a:sport` that the server closes first (so b keeps TIME_WAIT);
/// returns whether `a` saw it established.
fn server_closes_first(h: &mut Harness, sport: u16, tag: u32) -> bool {
    let dst: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let now = h.now();
    let sock = h.net.connect_from("a", IpProto::Tcp, Some(sport), dst, tag, now).unwrap();
    h.run_until(now + SimDuration::from_millis(1500));
    let evs = h.net.poll_sock_events();
    let connected = evs.iter().any(|e| e.sock == sock && e.kind == SockEventKind::Connected);
    for e in &evs {
        if matches!(e.kind, SockEventKind::Accepted { .. }) {
            let now = h.now();
            h.net.close(e.sock, now).unwrap();
        }
    }
    h.run_until(h.now() + SimDuration::from_millis(10));
    if h.net.poll_sock_events().iter().any(|e| e.sock == sock && e.kind == SockEventKind::PeerClosed) {
        let now = h.now();
        h.net.close(sock, now).unwrap();
    }
    h.run_until(h.now() + SimDuration::from_millis(10));
    connected
}

#[test]
fn a_syn_reusing_a_time_wait_tuple_connects_and_says_which_rule_applied() {
    let mut h = two_hosts();
    let now = h.now();
    h.net.listen("b", IpProto::Tcp, 80, "web", now).unwrap();
    let (mut reopened, mut acked) = (0, 0);
    for i in 0..12u16 {
        let sport = 40000 + i;
        assert!(server_closes_first(&mut h, sport, 1), "first connection from {sport}");
        h.net.tracer.take();
        assert!(server_closes_first(&mut h, sport, 2), "second connection from {sport} (TIME_WAIT)");
        let lines = h.hop_lines().join("\n");
        if lines.contains("TCP_TW_SYN") {
            reopened += 1;
        } else {
            // The SYN was not after rcv_nxt: TIME_WAIT ACKs, a RSTs, the retransmit gets in.
            assert!(lines.contains("TCP_TW_ACK"), "{lines}");
            assert!(lines.contains("DROP"), "{lines}");
            assert!(lines.contains("Flags [R]"), "{lines}");
            acked += 1;
        }
    }
    // smoltcp's ISNs are random: both rules show up over a dozen reuses.
    assert!(reopened > 0 && acked > 0, "reopened {reopened}, acked {acked}");
}
