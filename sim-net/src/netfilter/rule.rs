//! Rules as data: the tables, their built-in chains and policies, user chains, and one
//! rule's addresses, interfaces, protocol, matches and target, as iptables stores them
//! (what `iptables-restore` hands the kernel), not as text. [`super::spec`] builds a
//! [`Rule`] from arguments and [`super::save`] prints it the way `iptables-save` does.
//!
//! Deviations: only the tables raw, mangle, nat and filter exist (no `security`), and
//! only IPv4. Values are normalised on the way in exactly as iptables does
//! (`-s 10.244.1.5/24` is stored as 10.244.1.0/24, `--or-mark 0x4000` as the xmark
//! pair 0x4000/0x4000, probabilities as 31-bit fixed point).

use indexmap::IndexMap;
use std::fmt;
use std::net::Ipv4Addr;

use super::matches::Match;
pub use super::target::{ConnmarkOp, NatAction, NatFlags, NatRange, RejectWith, TARGET_NAMES, Target};

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
    pub src: Option<Neg<AddrMask>>,
    pub dst: Option<Neg<AddrMask>>,
    pub in_iface: Option<Neg<IfaceMatch>>,
    pub out_iface: Option<Neg<IfaceMatch>>,
    pub proto: Option<Neg<Proto>>,
    pub matches: Vec<Match>,
    pub target: Option<Target>,
}

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

/// An address and mask as iptables stores `-s`/`-d` (and conntrack's
/// `--ctorigsrc`...): the address already masked, the mask possibly non-contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrMask {
    pub addr: Ipv4Addr,
    pub mask: u32,
}

impl AddrMask {
    pub fn new(addr: Ipv4Addr, mask: u32) -> AddrMask {
        AddrMask { addr: Ipv4Addr::from(u32::from(addr) & mask), mask }
    }
    /// Keeps the host bits, as libxt_conntrack stores `--ctorigsrc 10.1.2.3/24`.
    pub fn unmasked(addr: Ipv4Addr, mask: u32) -> AddrMask {
        AddrMask { addr, mask }
    }
    pub fn contains(&self, a: &Ipv4Addr) -> bool {
        (u32::from(*a) ^ u32::from(self.addr)) & self.mask == 0
    }
    pub fn is_prefix(&self) -> bool {
        self.mask.leading_ones() + self.mask.trailing_zeros() == 32
    }
    /// `/0`: matches every address.
    pub fn is_any(&self) -> bool {
        self.mask == 0
    }
    /// `/32`: one address.
    pub fn is_host(&self) -> bool {
        self.mask == u32::MAX
    }
}

/// iptables-save's form: `10.0.0.0/8`, or `10.0.2.0/255.0.255.0` when the mask is not
/// a prefix.
impl std::fmt::Display for AddrMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_prefix() {
            write!(f, "{}/{}", self.addr, self.mask.leading_ones())
        } else {
            write!(f, "{}/{}", self.addr, Ipv4Addr::from(self.mask))
        }
    }
}
