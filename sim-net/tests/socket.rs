//! The socket layer (smoltcp) as Linux answers: RST for a SYN to a closed port in the
//! kernel's exact form, ICMP port unreachable for UDP, SYN retransmits on simulated
//! time, several concurrent connections to one port, and the interface created only
//! when a socket needs it.

mod common;

use std::net::SocketAddrV4;

use common::{Harness, addr, netns, s, up, veth};
use sim_core::SimDuration;
use sim_net::ops::{NetOp, RouteSpec, RouteType};
use sim_net::packet::IpProto;
use sim_net::socket::{SockError, SockEventKind};
use sim_net::stack::ProbeOutcome;

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
        up("a", "lo"),
        up("b", "lo"),
    ]);
    h
}

fn has_transport(h: &Harness, ns: &str) -> bool {
    h.net.netns(ns).unwrap().stack.transport.is_some()
}

#[test]
fn a_syn_to_a_closed_port_gets_linuxs_rst_and_no_interface_is_created() {
    let mut h = two_hosts();
    let (o, _, _) = h.probe("a", IpProto::Tcp, "10.0.0.2", 81);
    assert_eq!(o, ProbeOutcome::Refused);
    let lines = h.hop_lines().join("\n");
    // tcp_v4_send_reset: seq 0, ack = ISN + 1, [R.], window 0.
    let syn = lines.lines().find(|l| l.contains("Flags [S], seq ")).expect(&lines);
    let isn: u32 = syn.split("seq ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    let rst = format!("Flags [R.], seq 0, ack {}, win 0", isn.wrapping_add(1));
    assert!(lines.contains(&rst), "{rst} not in\n{lines}");
    assert!(has_transport(&h, "a"), "the client's socket needs an interface");
    assert!(!has_transport(&h, "b"), "b has no socket: its kernel answered alone");
}

#[test]
fn udp_to_a_closed_port_gets_icmp_port_unreachable_quoting_the_datagram() {
    let mut h = two_hosts();
    let (o, detail, _) = h.probe("a", IpProto::Udp, "10.0.0.2", 5353);
    assert_eq!(o, ProbeOutcome::Unreachable);
    assert!(detail.contains("udp port 5353 unreachable"), "{detail}");
}

#[test]
fn an_unanswered_syn_is_retransmitted_after_1s_and_3s_then_the_probe_times_out() {
    let mut h = two_hosts();
    // b cannot answer: `ip route add blackhole 10.0.0.1/32` swallows its RSTs.
    let now = h.now();
    let spec = RouteSpec::new("10.0.0.1/32".parse().unwrap()).kind(RouteType::Blackhole);
    h.net.apply(&NetOp::AddRoute { netns: s("b"), route: spec }, now).unwrap();
    let (o, _, _) = h.probe_with_timeout("a", IpProto::Tcp, "10.0.0.2", 80, SimDuration::from_millis(3500));
    assert_eq!(o, ProbeOutcome::Timeout);
    let lines = h.hop_lines();
    let syns: Vec<&String> =
        lines.iter().filter(|l| l.contains(" send ") && l.contains("Flags [S]")).collect();
    let times: Vec<&str> = syns.iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(times, ["0.000s", "1.000s", "3.000s"], "{lines:#?}");
}

#[test]
fn a_listener_accepts_several_concurrent_connections_and_echoes_nothing_back() {
    let mut h = two_hosts();
    let now = h.now();
    h.net.listen("b", IpProto::Tcp, 80, "web", now).unwrap();
    let dst: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let socks: Vec<_> = (0..3).map(|i| h.net.connect("a", IpProto::Tcp, dst, 10 + i, now).unwrap()).collect();
    h.pump_and_run();
    let evs = h.net.poll_sock_events();
    let accepted = evs.iter().filter(|e| matches!(e.kind, SockEventKind::Accepted { .. })).count();
    let connected: Vec<_> =
        evs.iter().filter(|e| matches!(e.kind, SockEventKind::Connected)).map(|e| e.sock).collect();
    assert_eq!(accepted, 3);
    assert_eq!(connected, socks);
}

#[test]
fn connect_to_a_port_without_listener_reports_econnrefused() {
    let mut h = two_hosts();
    let now = h.now();
    let dst: SocketAddrV4 = "10.0.0.2:81".parse().unwrap();
    let sock = h.net.connect("a", IpProto::Tcp, dst, 1, now).unwrap();
    h.pump_and_run();
    let evs = h.net.poll_sock_events();
    assert!(
        evs.iter().any(|e| e.sock == sock && e.kind == SockEventKind::Error(SockError::Refused)),
        "{evs:?}"
    );
}

#[test]
fn two_runs_give_the_same_isns_and_ports() {
    let run = || {
        let mut h = two_hosts();
        h.probe("a", IpProto::Tcp, "10.0.0.2", 81);
        h.hop_lines()
    };
    assert_eq!(run(), run());
}
