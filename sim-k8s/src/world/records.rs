//! What a run records, for the renderers, the CLI and the kernel twin: probes and their
//! outcomes, the dataplane commands with their component, the listeners the twin
//! starts, the connections a proxy carried on, control-plane timeline lines, watch
//! deliveries, and the journal that keeps their order. Plain data.

use std::net::Ipv4Addr;

use sim_core::SimTime;
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;
use sim_net::stack::ProbeOutcome;

use super::ProbePlan;
use crate::apps;

/// What happened to one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRecord {
    pub tag: u32,
    pub plan: ProbePlan,
    pub started: SimTime,
    pub finished: Option<SimTime>,
    pub src_netns: Option<String>,
    pub dst: Option<Ipv4Addr>,
    pub outcome: Option<ProbeOutcome>,
    /// Set when the probe could not start (e.g. the pod has no IP yet).
    pub error: Option<String>,
    pub detail: String,
    /// `pod/NAME` or `node/NAME` that answered.
    pub responder: Option<String>,
    pub seen_src: Option<Ipv4Addr>,
    /// The body of an HTTP answer.
    pub answer: Option<String>,
    /// The status code of an HTTP answer.
    pub status: Option<u16>,
    /// For a name target: the lookup (its queries and their answers).
    pub lookup: Option<apps::resolver::Resolver>,
    /// For a name target that did not resolve: getaddrinfo's complaint.
    pub unresolved: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    pub time: SimTime,
    pub component: String,
    pub op: NetOp,
    pub error: Option<String>,
}

/// A listener an application opened (`Action::Listen`) and the number of `commands`
/// issued before it: the kernel twin starts its server at that point of the op stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerRecord {
    pub netns: String,
    pub proto: IpProto,
    pub port: u16,
    pub after_op: usize,
    /// The number of `commands` issued before the server stopped, if it did, and when.
    pub until_op: Option<usize>,
    pub until: Option<SimTime>,
    /// The built-in application behind it (`None`: kube-proxy's health server), so the
    /// twin's server can play the same one.
    pub app: Option<crate::apps::ServerApp>,
}

/// A probe's connection that a proxy (the ingress controller) carried on with a second
/// connection of its own: what the kernel twin replays as two connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedRecord {
    /// Index in `probes`.
    pub probe: usize,
    /// The proxy's namespace, and the client address it saw.
    pub proxy_netns: String,
    pub proxy_saw: Ipv4Addr,
    /// Where the proxy connected.
    pub upstream: std::net::SocketAddrV4,
}

/// A watch event handed to a controller (informer delivery), for `--control-plane full`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub time: SimTime,
    pub controller: String,
    /// Index of the event in the store's watch log.
    pub watch: usize,
}

/// One control-plane record, in the order things happened (ties in time included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalRef {
    Timeline(usize),
    Command(usize),
    Delivery(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub time: SimTime,
    pub component: String,
    pub text: String,
}
