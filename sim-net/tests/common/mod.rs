//! A tiny driver for sim-net tests: a Network plus an event queue, stepped on sim
//! time with a bounded number of events (fails instead of hanging).

#![allow(dead_code)]

pub mod lab;

use sim_core::{EventQueue, RngStreams, SimDuration, SimTime};
use sim_net::network::{NetConfig, NetEvent, Network};
use sim_net::ops::{NetOp, RouteSpec};
use sim_net::path::ProbeSpec;
use sim_net::stack::{ProbeOutcome, SocketEvent, SocketEventKind};

pub struct Harness {
    pub net: Network,
    pub queue: EventQueue<NetEvent>,
    pub events: Vec<SocketEvent>,
    next_tag: u32,
}

impl Harness {
    pub fn new() -> Self {
        let mut net = Network::new(NetConfig::default(), RngStreams::new(1));
        net.tracer.enabled = true;
        Harness { net, queue: EventQueue::new(), events: Vec::new(), next_tag: 1 }
    }

    pub fn now(&self) -> SimTime {
        self.queue.now()
    }

    /// Applies shell-like ops, panicking with the op on failure.
    pub fn apply(&mut self, ops: &[NetOp]) {
        for op in ops {
            let now = self.now();
            self.net.apply(op, now).unwrap_or_else(|e| panic!("{op}: {e}"));
            self.pump();
        }
    }

    fn pump(&mut self) {
        for (t, ev) in self.net.poll_scheduled() {
            self.queue.push(t, ev);
        }
        self.events.extend(self.net.poll_socket_events());
    }

    /// Moves scheduled events in, then runs until idle.
    pub fn pump_and_run(&mut self) {
        for (t, ev) in self.net.poll_scheduled() {
            self.queue.push(t, ev);
        }
        self.run();
    }

    /// Runs until idle; panics after 100k events.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            let Some((t, ev)) = self.queue.pop() else { return };
            self.net.handle(t, ev);
            self.pump();
        }
        panic!("event budget exhausted: the network is looping");
    }

    /// Moves scheduled events in, then runs every event due by `until` (later timers,
    /// such as TIME_WAIT's, stay queued).
    pub fn run_until(&mut self, until: SimTime) {
        self.pump();
        for _ in 0..100_000 {
            if self.queue.peek_time().is_none_or(|t| t > until) {
                return;
            }
            let (t, ev) = self.queue.pop().expect("peeked");
            self.net.handle(t, ev);
            self.pump();
        }
        panic!("event budget exhausted: the network is looping");
    }

    /// Sends a probe and runs to completion; returns (outcome, detail, responder-seen source).
    pub fn probe(
        &mut self,
        from: &str,
        proto: sim_net::packet::IpProto,
        dst: &str,
        dport: u16,
    ) -> (ProbeOutcome, String, Option<std::net::Ipv4Addr>) {
        self.probe_with_timeout(from, proto, dst, dport, SimDuration::from_secs(3))
    }

    pub fn probe_with_timeout(
        &mut self,
        from: &str,
        proto: sim_net::packet::IpProto,
        dst: &str,
        dport: u16,
        timeout: SimDuration,
    ) -> (ProbeOutcome, String, Option<std::net::Ipv4Addr>) {
        let tag = self.next_tag;
        self.next_tag += 1;
        let spec =
            ProbeSpec { tag, proto, dst: dst.parse().unwrap(), dport, timeout, payload: b"hello".to_vec() };
        let now = self.now();
        self.net.send_probe(from, spec, now).unwrap();
        self.pump();
        self.run();
        let mut seen = None;
        for e in self.events.iter().filter(|e| e.tag == tag) {
            match &e.kind {
                SocketEventKind::Answered { seen_src, .. } => seen = Some(*seen_src),
                SocketEventKind::Finished { outcome, detail } => return (*outcome, detail.clone(), seen),
            }
        }
        panic!("probe {tag} never finished");
    }

    pub fn hop_lines(&mut self) -> Vec<String> {
        self.net.tracer.take().iter().map(|h| h.line()).collect()
    }
}

pub fn mac(last: u8) -> sim_net::packet::Mac {
    sim_net::packet::Mac([0x02, 0, 0, 0, 0, last])
}

pub fn s(x: &str) -> String {
    x.to_string()
}

// NetOp builders, named after the `ip` subcommand they stand for.
pub fn netns(name: &str) -> NetOp {
    NetOp::AddNetns { name: s(name) }
}
pub fn up(ns: &str, dev: &str) -> NetOp {
    NetOp::SetLinkUp { netns: s(ns), dev: s(dev), up: true }
}
pub fn addr(ns: &str, dev: &str, a: &str) -> NetOp {
    NetOp::AddAddr { netns: s(ns), dev: s(dev), addr: a.parse().unwrap() }
}
pub fn veth(a: &str, an: &str, b: &str, bn: &str, m: u8) -> NetOp {
    NetOp::AddVeth {
        netns: s(a),
        name: s(an),
        mac: mac(m),
        peer_netns: s(b),
        peer_name: s(bn),
        peer_mac: mac(m + 1),
    }
}
pub fn route(ns: &str, spec: RouteSpec) -> NetOp {
    NetOp::AddRoute { netns: s(ns), route: spec }
}
