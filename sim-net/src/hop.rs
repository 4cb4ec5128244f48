//! The trace record. Every step a packet takes through the Linux path appends one
//! [`Hop`], whose `step` is a variant of a closed vocabulary ([`Step`]) and whose drop
//! reasons are a closed enum ([`DropReason`]). Recording costs nothing when tracing is
//! off: hops are built only through [`Tracer::record`], which checks the flag first.

use std::fmt;

use serde::Serialize;
use sim_core::SimTime;

/// Why a packet died, in the words a learner would look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// No route matched the destination (ENETUNREACH locally, ICMP net unreachable when forwarding).
    NoRoute,
    /// A `blackhole` route matched.
    Blackhole,
    /// An `unreachable`/`prohibit` route matched.
    UnreachableRoute,
    /// The device (or its veth peer) is down.
    LinkDown,
    /// Ethernet destination is another host's MAC (PACKET_OTHERHOST).
    NotForThisHost,
    /// Not addressed to this namespace and `ip_forward` is 0 on the input device.
    ForwardingDisabled,
    /// TTL reached zero while forwarding (ICMP time exceeded is sent).
    TtlExceeded,
    /// Bigger than the egress MTU with DF set (ICMP fragmentation needed is sent).
    FragNeeded,
    /// An iptables rule's DROP (or a chain policy DROP).
    RuleDrop,
    /// An iptables REJECT (an ICMP error or TCP RST is sent).
    RuleReject,
    /// Reverse-path filter: the source is not routed back through the input device.
    RpFilter,
    /// Source or destination in 127.0.0.0/8 on a non-loopback path without route_localnet.
    Martian,
    /// ARP for the next hop got no answer (ICMP host unreachable is sent).
    NeighFailed,
    /// The bridge would have to send the frame back out of the port it came in on and
    /// `hairpin_mode` is off on that port.
    HairpinOff,
    /// Nothing in this namespace wanted the packet (no socket, no protocol handler).
    NoSocket,
    /// A reply or segment that matches no connection of the client.
    Unexpected,
    /// NAT could not find a free tuple.
    NatFailed,
    /// A SYN for a connection in TIME_WAIT that may be an old duplicate (answered
    /// with an ACK instead).
    TimeWait,
}

impl DropReason {
    pub fn words(self) -> &'static str {
        match self {
            DropReason::NoRoute => "no route to destination",
            DropReason::Blackhole => "blackhole route",
            DropReason::UnreachableRoute => "unreachable route",
            DropReason::LinkDown => "link is down",
            DropReason::NotForThisHost => "frame is for another host's MAC",
            DropReason::ForwardingDisabled => "not for this host and net.ipv4.ip_forward=0",
            DropReason::TtlExceeded => "TTL exceeded",
            DropReason::FragNeeded => "larger than the MTU and DF set",
            DropReason::RuleDrop => "dropped by an iptables rule",
            DropReason::RuleReject => "rejected by an iptables rule",
            DropReason::RpFilter => "reverse path filter (rp_filter)",
            DropReason::Martian => "martian address (127.0.0.0/8 off loopback)",
            DropReason::NeighFailed => "next hop does not answer ARP",
            DropReason::HairpinOff => "would go back out of its ingress port and hairpin_mode is off",
            DropReason::NoSocket => "no socket and no handler",
            DropReason::Unexpected => "matches no connection",
            DropReason::NatFailed => "no free NAT tuple",
            DropReason::TimeWait => "SYN for a connection in TIME_WAIT",
        }
    }
}

/// The closed vocabulary of checkpoints on the Linux path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// A socket or the stack itself emitted the packet.
    Send,
    /// The device received a frame.
    DevRx,
    /// The device transmitted a frame.
    DevTx,
    /// Bridge forwarding decision (`detail` says FDB hit, flood, or local).
    Bridge,
    /// ARP request or reply sent or answered.
    Arp,
    /// Next-hop MAC resolved from the neighbour table.
    Neigh,
    /// A netfilter hook was traversed; `detail` names hook/table and verdict.
    Netfilter,
    /// An iptables rule matched (the rule text is in `detail`).
    Rule,
    /// Conntrack state or NAT applied (addresses before/after in `before`/packet).
    Nat,
    /// Routing decision.
    Route,
    /// Forwarded to another interface (TTL decremented).
    Forward,
    /// Delivered to the local stack (INPUT done).
    Deliver,
    /// The namespace's stack answered (echo reply, SYN-ACK, RST, ICMP error).
    Reply,
    /// VXLAN encapsulation or decapsulation.
    Vxlan,
    /// The application/probe client received the packet.
    Receive,
    /// A program's own decision about the bytes it got (an L7 proxy choosing a route,
    /// a TLS handshake step); `detail` says what, there is no packet.
    App,
    /// The packet was dropped.
    Drop { reason: DropReason },
}

impl Step {
    fn label(&self) -> &'static str {
        match self {
            Step::Send => "send",
            Step::DevRx => "rx",
            Step::DevTx => "tx",
            Step::Bridge => "bridge",
            Step::Arp => "arp",
            Step::Neigh => "neigh",
            Step::Netfilter => "netfilter",
            Step::Rule => "rule",
            Step::Nat => "nat",
            Step::Route => "route",
            Step::Forward => "forward",
            Step::Deliver => "deliver",
            Step::Reply => "reply",
            Step::Vxlan => "vxlan",
            Step::Receive => "receive",
            Step::App => "app",
            Step::Drop { .. } => "DROP",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One checkpoint of one packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hop {
    #[serde(serialize_with = "ser_time")]
    pub time: SimTime,
    /// Which probe (flow) this packet belongs to; 0 for background traffic.
    pub tag: u32,
    pub netns: String,
    pub dev: Option<String>,
    pub step: Step,
    /// What happened, in words ("FDB hit 0a:58:.. -> port veth3f2a").
    pub detail: String,
    /// The packet at this point, tcpdump style.
    pub packet: String,
    /// The packet before this step changed it (NAT), if it did.
    pub before: Option<String>,
}

fn ser_time<S: serde::Serializer>(t: &SimTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.as_nanos())
}

impl Hop {
    /// The text one-liner: `  2.000015s node-1       cni0          bridge   FDB hit .. | packet`.
    /// The packet is shown where it enters or leaves a stack or changes; a veth `tx`
    /// line omits it because the next `rx` shows the same frame.
    pub fn line(&self) -> String {
        let dev = self.dev.as_deref().unwrap_or("-");
        let mut s = format!(
            "{:>10} {:<12} {:<13} {:<9} {}",
            self.time.to_string(),
            self.netns,
            dev,
            self.step.to_string(),
            self.detail
        );
        if let Step::Drop { reason } = &self.step {
            if !self.detail.is_empty() {
                s.push_str(": ");
            }
            s.push_str(reason.words());
        }
        if let Some(b) = &self.before {
            s.push_str(&format!(" | was: {b}"));
        }
        let show_packet = !matches!(
            self.step,
            Step::DevTx | Step::Route | Step::Forward | Step::Neigh | Step::Bridge | Step::Vxlan
        );
        if show_packet && !self.packet.is_empty() {
            if !s.ends_with(' ') {
                s.push_str(" | ");
            } else {
                s.push_str("| ");
            }
            s.push_str(&self.packet);
        }
        s.trim_end().to_string()
    }
}

/// Collects hops when enabled; otherwise drops them without formatting anything.
#[derive(Debug, Default)]
pub struct Tracer {
    pub enabled: bool,
    pub hops: Vec<Hop>,
}

impl Tracer {
    pub fn on() -> Self {
        Tracer { enabled: true, hops: Vec::new() }
    }
    /// Records a hop built by `f` only when tracing is on.
    #[inline]
    pub fn record(&mut self, f: impl FnOnce() -> Hop) {
        if self.enabled {
            self.hops.push(f());
        }
    }
    pub fn take(&mut self) -> Vec<Hop> {
        std::mem::take(&mut self.hops)
    }
}
