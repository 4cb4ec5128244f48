//! Rules as data: the tables, their built-in chains and policies, user chains, and one
//! rule's addresses, interfaces, protocol, matches and target, as iptables stores them
//! (what `iptables-restore` hands the kernel), not as text. [`super::spec`] builds a
//! [`Rule`] from arguments and [`super::save`] prints it the way `iptables-save` does.
//!
//! Deviations: only the tables raw, mangle, nat and filter exist (no `security`), and
//! only IPv4. Values are normalised on the way in exactly as iptables does
//! (`-s 10.244.1.5/24` is stored as 10.244.1.0/24, `--or-mark 0x4000` as the xmark
//! pair 0x4000/0x4000, probabilities as 31-bit fixed point).

use std::fmt;
use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::matches::Match;

/// The iptables tables, in the order `iptables-nft-save` prints them
/// (verified on iptables-nft 1.8.9: mangle, raw, filter, nat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableName {
    Mangle,
    Raw,
    Filter,
    Nat,
}

impl TableName {
    pub const ALL: [TableName; 4] = [TableName::Mangle, TableName::Raw, TableName::Filter, TableName::Nat];

    pub fn name(self) -> &'static str {
        match self {
            TableName::Raw => "raw",
            TableName::Mangle => "mangle",
            TableName::Nat => "nat",
            TableName::Filter => "filter",
        }
    }
    pub fn parse(s: &str) -> Option<TableName> {
        TableName::ALL.into_iter().find(|t| t.name() == s)
    }
    /// Built-in chains in kernel hook order (the order iptables-save lists them).
    pub fn hooks(self) -> &'static [Hook] {
        use Hook::*;
        match self {
            TableName::Raw => &[Prerouting, Output],
            TableName::Mangle => &[Prerouting, Input, Forward, Output, Postrouting],
            TableName::Nat => &[Prerouting, Input, Output, Postrouting],
            TableName::Filter => &[Input, Forward, Output],
        }
    }
    pub fn has_hook(self, hook: Hook) -> bool {
        self.hooks().contains(&hook)
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The five IPv4 netfilter hooks; each is also the name of a built-in chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub const ALL: [Hook; 5] =
        [Hook::Prerouting, Hook::Input, Hook::Forward, Hook::Output, Hook::Postrouting];

    pub fn chain_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
    pub fn from_chain_name(s: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.chain_name() == s)
    }
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.chain_name())
    }
}

/// Policy of a built-in chain: what happens to a packet that falls off its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        }
    }
}

/// A value with iptables' `!` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neg<T> {
    pub neg: bool,
    pub v: T,
}

impl<T> Neg<T> {
    pub fn new(neg: bool, v: T) -> Self {
        Neg { neg, v }
    }
    /// `cond` xor the negation: the result of a match that tested `cond`.
    pub fn apply(&self, cond: bool) -> bool {
        cond != self.neg
    }
}

/// `-p`: the protocols the model knows (`all` is stored as no `-p` at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Icmp,
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Icmp => "icmp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
    pub fn number(self) -> u8 {
        match self {
            Proto::Icmp => 1,
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }
}

/// `-i`/`-o`/`--physdev-in` name; a trailing `+` matches every name with that prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceMatch(pub String);

impl IfaceMatch {
    pub fn matches(&self, dev: &str) -> bool {
        match self.0.strip_suffix('+') {
            Some(prefix) => dev.starts_with(prefix),
            None => dev == self.0,
        }
    }
}

/// An inclusive port range (`80`, `1000:2000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn single(p: u16) -> Self {
        PortRange { lo: p, hi: p }
    }
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
    /// Printed with `sep` between the ends (`:` for matches, `-` for NAT targets).
    pub fn fmt_with(&self, sep: char) -> String {
        if self.lo == self.hi { self.lo.to_string() } else { format!("{}{sep}{}", self.lo, self.hi) }
    }
}

/// One rule: the IP header part (`-s -d -i -o -p`), the matches in the order given, and
/// an optional target (a rule without `-j` only counts packets).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Rule {
    pub src: Option<Neg<Ipv4Net>>,
    pub dst: Option<Neg<Ipv4Net>>,
    pub in_iface: Option<Neg<IfaceMatch>>,
    pub out_iface: Option<Neg<IfaceMatch>>,
    pub proto: Option<Neg<Proto>>,
    pub matches: Vec<Match>,
    pub target: Option<Target>,
}

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

/// A chain: built-ins carry a policy, user chains do not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub policy: Option<Policy>,
    pub rules: Vec<Rule>,
}

/// One table of one namespace: built-in chains first (hook order), then user chains in
/// creation order (save sorts them by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: TableName,
    pub chains: IndexMap<String, Chain>,
}

impl Table {
    /// A table as the kernel creates it: built-in chains, policy ACCEPT, no rules.
    pub fn new(name: TableName) -> Self {
        let chains = name
            .hooks()
            .iter()
            .map(|h| (h.chain_name().to_string(), Chain { policy: Some(Policy::Accept), rules: Vec::new() }))
            .collect();
        Table { name, chains }
    }
    pub fn is_builtin(&self, chain: &str) -> bool {
        Hook::from_chain_name(chain).is_some_and(|h| self.name.has_hook(h))
    }
    pub fn rule_count(&self) -> usize {
        self.chains.values().map(|c| c.rules.len()).sum()
    }
    /// True if this table is exactly as the kernel creates it.
    pub fn is_pristine(&self) -> bool {
        *self == Table::new(self.name)
    }
}
