//! Targets (`-j`/`-g`) as data: verdicts, jumps, REJECT, the NAT targets (reported to
//! the caller as a [`NatAction`]), MARK/CONNMARK in the kernel's xmark form, LOG and
//! NOTRACK/CT. Parsing is in `spec_target`, printing in [`super::save`].

use std::fmt;
use std::net::Ipv4Addr;

use super::rule::PortRange;

/// `--reject-with` types; the default is `icmp-port-unreachable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectWith {
    IcmpNetUnreachable,
    IcmpHostUnreachable,
    IcmpProtoUnreachable,
    IcmpPortUnreachable,
    IcmpNetProhibited,
    IcmpHostProhibited,
    IcmpAdminProhibited,
    TcpReset,
}

impl RejectWith {
    pub const ALL: [RejectWith; 8] = [
        RejectWith::IcmpNetUnreachable,
        RejectWith::IcmpHostUnreachable,
        RejectWith::IcmpProtoUnreachable,
        RejectWith::IcmpPortUnreachable,
        RejectWith::IcmpNetProhibited,
        RejectWith::IcmpHostProhibited,
        RejectWith::IcmpAdminProhibited,
        RejectWith::TcpReset,
    ];
    pub fn name(self) -> &'static str {
        match self {
            RejectWith::IcmpNetUnreachable => "icmp-net-unreachable",
            RejectWith::IcmpHostUnreachable => "icmp-host-unreachable",
            RejectWith::IcmpProtoUnreachable => "icmp-proto-unreachable",
            RejectWith::IcmpPortUnreachable => "icmp-port-unreachable",
            RejectWith::IcmpNetProhibited => "icmp-net-prohibited",
            RejectWith::IcmpHostProhibited => "icmp-host-prohibited",
            RejectWith::IcmpAdminProhibited => "icmp-admin-prohibited",
            RejectWith::TcpReset => "tcp-reset",
        }
    }
    /// Accepts the names iptables accepts, including its short aliases.
    pub fn parse(s: &str) -> Option<RejectWith> {
        let alias = match s {
            "net-unreach" => "icmp-net-unreachable",
            "host-unreach" => "icmp-host-unreachable",
            "proto-unreach" => "icmp-proto-unreachable",
            "port-unreach" => "icmp-port-unreachable",
            "net-prohib" => "icmp-net-prohibited",
            "host-prohib" => "icmp-host-prohibited",
            "admin-prohib" => "icmp-admin-prohibited",
            "tcp-rst" => "tcp-reset",
            other => other,
        };
        RejectWith::ALL.into_iter().find(|r| r.name() == alias)
    }
}

/// `--to-destination`/`--to-source`: `ip[-ip][:port[-port]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatRange {
    pub min_ip: Ipv4Addr,
    pub max_ip: Ipv4Addr,
    pub ports: Option<PortRange>,
}

impl fmt::Display for NatRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.min_ip)?;
        if self.max_ip != self.min_ip {
            write!(f, "-{}", self.max_ip)?;
        }
        if let Some(p) = self.ports {
            write!(f, ":{}", p.fmt_with('-'))?;
        }
        Ok(())
    }
}

/// Port-selection flags of the NAT targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatFlags {
    pub random: bool,
    pub random_fully: bool,
    pub persistent: bool,
}

/// What a NAT target asks conntrack to set up for this connection. The engine only
/// reports it; the packet path and conntrack pick the concrete address/port and apply it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatAction {
    Dnat {
        range: NatRange,
        flags: NatFlags,
    },
    Snat {
        range: NatRange,
        flags: NatFlags,
    },
    /// Source := primary address of the egress device (chosen by the caller).
    Masquerade {
        ports: Option<PortRange>,
        flags: NatFlags,
    },
    /// Destination := primary address of the incoming device (127.0.0.1 in OUTPUT).
    Redirect {
        ports: Option<PortRange>,
        flags: NatFlags,
    },
}

/// `CONNMARK` operations in their stored form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnmarkOp {
    /// ctmark = (ctmark & !mask) ^ value
    SetXmark { value: u32, mask: u32 },
    /// ctmark = (ctmark & !ctmask) ^ (mark & nfmask)
    Save { nfmask: u32, ctmask: u32 },
    /// mark = (mark & !nfmask) ^ (ctmark & ctmask)
    Restore { nfmask: u32, ctmask: u32 },
}

/// `-j`/`-g` targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
    Reject(RejectWith),
    Nat(NatAction),
    /// `MARK`: mark = (mark & !mask) ^ value (every MARK option is stored this way).
    Mark {
        value: u32,
        mask: u32,
    },
    Connmark(ConnmarkOp),
    /// `LOG`; `level` is the syslog level (default 4, not printed by iptables-save).
    Log {
        prefix: Option<String>,
        level: u8,
    },
    /// `-j NOTRACK` (kept as written: iptables-nft saves it back as NOTRACK).
    Notrack,
    /// `-j CT --notrack`.
    CtNotrack,
}

impl Target {
    /// Name as written after `-j` (the chain name for jumps and gotos).
    pub fn name(&self) -> &str {
        match self {
            Target::Accept => "ACCEPT",
            Target::Drop => "DROP",
            Target::Return => "RETURN",
            Target::Jump(c) | Target::Goto(c) => c,
            Target::Reject(_) => "REJECT",
            Target::Nat(NatAction::Dnat { .. }) => "DNAT",
            Target::Nat(NatAction::Snat { .. }) => "SNAT",
            Target::Nat(NatAction::Masquerade { .. }) => "MASQUERADE",
            Target::Nat(NatAction::Redirect { .. }) => "REDIRECT",
            Target::Mark { .. } => "MARK",
            Target::Connmark(_) => "CONNMARK",
            Target::Log { .. } => "LOG",
            Target::Notrack => "NOTRACK",
            Target::CtNotrack => "CT",
        }
    }
    /// The user chain this target enters, if any.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Target::Jump(c) | Target::Goto(c) => Some(c),
            _ => None,
        }
    }
}

/// Target names that are extensions or verdicts, never user chains.
pub const TARGET_NAMES: &[&str] = &[
    "ACCEPT",
    "DROP",
    "RETURN",
    "REJECT",
    "DNAT",
    "SNAT",
    "MASQUERADE",
    "REDIRECT",
    "MARK",
    "CONNMARK",
    "LOG",
    "NOTRACK",
    "CT",
];
