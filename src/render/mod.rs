//! Renderers of a run: text for people (and snapshots), JSON Lines for machines
//! (schema in docs/trace-format.md), pcap files for Wireshark/tshark.

pub mod control;
pub mod health;
pub mod json;
pub mod kubectl;
pub mod pcap;
pub mod text;

/// How much of the trace the text output shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Detail {
    /// One line per probe with its result and checks.
    Summary,
    /// One line per packet where it leaves a socket or a stack (client and server
    /// ends, both directions), plus every drop.
    Packets,
    /// Every hop of every packet (default).
    Hops,
}

/// How much of the control plane the output shows (`--control-plane`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ControlPlane {
    /// Nothing: packets, outcomes and checks only.
    None,
    /// What each component reports: syncs, CNI ADD/DEL, endpoint and kubectl changes
    /// (default).
    #[default]
    Summary,
    /// Also every dataplane command as it would be typed (`ip ...`, `iptables-restore`
    /// input, `conntrack -D ...`) and every watch event delivered to a controller.
    Full,
}
