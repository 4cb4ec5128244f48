//! What the world records for the renderers and the kernel twin: dataplane commands,
//! listeners, control-plane timeline lines, watch deliveries, and the journal that
//! keeps their order.

use sim_core::SimTime;
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;

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
