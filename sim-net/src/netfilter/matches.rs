//! Match extensions (`-m NAME ...` and the implicit `-p tcp --dport` ones) as data, in
//! the form the kernel module receives them (xt_tcpudp, xt_multiport, xt_comment,
//! xt_mark, xt_connmark, xt_conntrack, xt_state, xt_addrtype, xt_statistic, xt_recent,
//! xt_physdev, xt_nfacct). Evaluation lives in [`super::matching`].
//!
//! Deviation: `-m nfacct` is parsed and saved, but like on the reference lab kernel
//! (no `xt_nfacct`), a restore containing it fails with "No such file or directory"
//! unless [`super::Netfilter::set_nfacct_available`] says the module exists.

use std::net::Ipv4Addr;

use super::rule::{AddrMask, IfaceMatch, Neg, PortRange};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Tcp(TcpMatch),
    Udp(PortsMatch),
    Sctp(PortsMatch),
    Icmp(Neg<IcmpType>),
    Multiport(MultiportMatch),
    Comment(String),
    Mark(Neg<MarkMask>),
    Connmark(Neg<MarkMask>),
    Conntrack(ConntrackMatch),
    State(Neg<CtStateSet>),
    Addrtype(AddrtypeMatch),
    Statistic(StatisticMatch),
    Recent(RecentMatch),
    Physdev(PhysdevMatch),
    Nfacct(String),
}

impl Match {
    /// The `-m` name iptables-save prints.
    pub fn name(&self) -> &'static str {
        match self {
            Match::Tcp(_) => "tcp",
            Match::Udp(_) => "udp",
            Match::Sctp(_) => "sctp",
            Match::Icmp(_) => "icmp",
            Match::Multiport(_) => "multiport",
            Match::Comment(_) => "comment",
            Match::Mark(_) => "mark",
            Match::Connmark(_) => "connmark",
            Match::Conntrack(_) => "conntrack",
            Match::State(_) => "state",
            Match::Addrtype(_) => "addrtype",
            Match::Statistic(_) => "statistic",
            Match::Recent(_) => "recent",
            Match::Physdev(_) => "physdev",
            Match::Nfacct(_) => "nfacct",
        }
    }
    /// True if evaluating this match changes state (a random draw, a counter, a
    /// recent list). The index must never skip such a match that linear evaluation
    /// would have evaluated.
    pub fn is_stateful(&self) -> bool {
        matches!(self, Match::Statistic(_) | Match::Recent(_))
    }
}

/// Names accepted after `-m`.
pub const MATCH_NAMES: &[&str] = &[
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "multiport",
    "comment",
    "mark",
    "connmark",
    "conntrack",
    "state",
    "addrtype",
    "statistic",
    "recent",
    "physdev",
    "nfacct",
];

/// `--sport`/`--dport` of `-m udp` and `-m sctp`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortsMatch {
    pub sport: Option<Neg<PortRange>>,
    pub dport: Option<Neg<PortRange>>,
}

/// `-m tcp`: ports plus `--tcp-flags MASK COMP` (`--syn` = `FIN,SYN,RST,ACK SYN`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TcpMatch {
    pub ports: PortsMatch,
    pub flags: Option<Neg<(u8, u8)>>,
}

/// `--icmp-type`: `any`, or a type with a code range (0..=255 when only the type is given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpType {
    Any,
    Type { typ: u8, code_lo: u8, code_hi: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiportKind {
    Sports,
    Dports,
    Ports,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiportMatch {
    pub kind: MultiportKind,
    pub ports: Neg<Vec<PortRange>>,
}

/// `--mark value[/mask]` (mask 0xffffffff when not given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkMask {
    pub value: u32,
    pub mask: u32,
}

/// Conntrack states as xt_conntrack's bits, in the order iptables-save prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CtStateSet(pub u8);

impl CtStateSet {
    pub const INVALID: u8 = 1;
    pub const NEW: u8 = 2;
    pub const RELATED: u8 = 4;
    pub const ESTABLISHED: u8 = 8;
    pub const UNTRACKED: u8 = 16;
    pub const SNAT: u8 = 32;
    pub const DNAT: u8 = 64;
    pub const NAMES: [(&'static str, u8); 7] = [
        ("INVALID", Self::INVALID),
        ("NEW", Self::NEW),
        ("RELATED", Self::RELATED),
        ("ESTABLISHED", Self::ESTABLISHED),
        ("UNTRACKED", Self::UNTRACKED),
        ("SNAT", Self::SNAT),
        ("DNAT", Self::DNAT),
    ];
}

/// `--ctstatus` bits, in print order.
pub const CT_STATUS_NAMES: [(&str, u8); 5] =
    [("NONE", 0), ("EXPECTED", 1), ("SEEN_REPLY", 2), ("ASSURED", 4), ("CONFIRMED", 8)];

/// `-m conntrack` options this model supports.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConntrackMatch {
    pub state: Option<Neg<CtStateSet>>,
    pub proto: Option<Neg<u8>>,
    pub orig_src: Option<Neg<AddrMask>>,
    pub orig_dst: Option<Neg<AddrMask>>,
    pub repl_src: Option<Neg<AddrMask>>,
    pub repl_dst: Option<Neg<AddrMask>>,
    pub orig_src_port: Option<Neg<PortRange>>,
    pub orig_dst_port: Option<Neg<PortRange>>,
    pub repl_src_port: Option<Neg<PortRange>>,
    pub repl_dst_port: Option<Neg<PortRange>>,
    /// `--ctstatus` bits (EXPECTED 1, SEEN_REPLY 2, ASSURED 4, CONFIRMED 8).
    pub status: Option<Neg<u8>>,
}

/// Route types (`RTN_*`) as `-m addrtype` bits, in the order iptables-save prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct AddrTypeSet(pub u16);

impl AddrTypeSet {
    pub const UNSPEC: u16 = 1 << 0;
    pub const UNICAST: u16 = 1 << 1;
    pub const LOCAL: u16 = 1 << 2;
    pub const BROADCAST: u16 = 1 << 3;
    pub const ANYCAST: u16 = 1 << 4;
    pub const MULTICAST: u16 = 1 << 5;
    pub const BLACKHOLE: u16 = 1 << 6;
    pub const UNREACHABLE: u16 = 1 << 7;
    pub const PROHIBIT: u16 = 1 << 8;
    pub const THROW: u16 = 1 << 9;
    pub const NAT: u16 = 1 << 10;
    pub const XRESOLVE: u16 = 1 << 11;
    pub const NAMES: [(&'static str, u16); 12] = [
        ("UNSPEC", Self::UNSPEC),
        ("UNICAST", Self::UNICAST),
        ("LOCAL", Self::LOCAL),
        ("BROADCAST", Self::BROADCAST),
        ("ANYCAST", Self::ANYCAST),
        ("MULTICAST", Self::MULTICAST),
        ("BLACKHOLE", Self::BLACKHOLE),
        ("UNREACHABLE", Self::UNREACHABLE),
        ("PROHIBIT", Self::PROHIBIT),
        ("THROW", Self::THROW),
        ("NAT", Self::NAT),
        ("XRESOLVE", Self::XRESOLVE),
    ];
    pub fn contains_any(self, other: AddrTypeSet) -> bool {
        self.0 & other.0 != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AddrtypeMatch {
    pub src: Option<Neg<AddrTypeSet>>,
    pub dst: Option<Neg<AddrTypeSet>>,
    pub limit_iface_in: bool,
    pub limit_iface_out: bool,
}

/// `-m statistic`. The random probability is the kernel's 31-bit fixed point
/// `lround(p * 2^31)`; a packet matches when `(random_u32 & 0x7FFFFFFF) < prob_u31`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatisticMatch {
    Random {
        neg: bool,
        prob_u31: u32,
    },
    /// `--every n --packet p`: the kernel keeps one counter per rule, starting at
    /// `n - 1 - p`, and matches when the incremented counter (mod n) equals `p`.
    Nth {
        neg: bool,
        every: u32,
        packet: u32,
    },
}

impl StatisticMatch {
    /// `lround(p * 2^31)` as libxt_statistic computes it.
    pub fn prob_from_f64(p: f64) -> u32 {
        (p * 2_147_483_648.0).round() as u32
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecentCmd {
    Set,
    Rcheck,
    Update,
    Remove,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentMatch {
    pub neg: bool,
    pub cmd: RecentCmd,
    pub seconds: u32,
    pub reap: bool,
    pub hitcount: u32,
    pub rttl: bool,
    pub name: String,
    pub mask: Ipv4Addr,
    /// `--rdest` (else `--rsource`).
    pub dest: bool,
}

/// `-m physdev`; each `Option<bool>` flag holds its negation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PhysdevMatch {
    pub is_in: Option<bool>,
    pub phys_in: Option<Neg<IfaceMatch>>,
    pub is_out: Option<bool>,
    pub phys_out: Option<Neg<IfaceMatch>>,
    pub is_bridged: Option<bool>,
}

/// ICMP type names iptables accepts (`iptables -p icmp -h`), with their (type, code).
/// A code of `None` means every code of that type.
pub const ICMP_NAMES: &[(&str, u8, Option<u8>)] = &[
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("TOS-network-unreachable", 3, Some(11)),
    ("TOS-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("TOS-network-redirect", 5, Some(2)),
    ("TOS-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// Service names iptables resolves through /etc/services, for the ports that matter
/// in a cluster. Other names are rejected (the model has no /etc/services).
pub const SERVICE_PORTS: &[(&str, u16)] = &[
    ("ssh", 22),
    ("domain", 53),
    ("http", 80),
    ("https", 443),
    ("bootps", 67),
    ("bootpc", 68),
    ("ntp", 123),
    ("bgp", 179),
    ("http-alt", 8080),
];
