//! Conntrack sysctls (`net.netfilter.nf_conntrack_*`) with the Linux defaults, checked on
//! a 6.18 kernel (`sysctl net.netfilter` in a fresh network namespace).

use sim_core::SimDuration;

/// Per-namespace conntrack knobs. Each field names its sysctl and Linux default.
///
/// kube-proxy changes some of these on nodes (`nf_conntrack_tcp_timeout_established`
/// 86400, `nf_conntrack_tcp_timeout_close_wait` 3600 by default in its
/// `conntrack:` config); the defaults here are the kernel's, so a node model that wants
/// kube-proxy's values sets them explicitly, as kube-proxy does with `sysctl -w`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConntrackConfig {
    /// `nf_conntrack_tcp_timeout_syn_sent`, default 120 s.
    pub tcp_syn_sent: SimDuration,
    /// `nf_conntrack_tcp_timeout_syn_recv`, default 60 s.
    pub tcp_syn_recv: SimDuration,
    /// `nf_conntrack_tcp_timeout_established`, default 432000 s (5 days).
    pub tcp_established: SimDuration,
    /// `nf_conntrack_tcp_timeout_fin_wait`, default 120 s.
    pub tcp_fin_wait: SimDuration,
    /// `nf_conntrack_tcp_timeout_close_wait`, default 60 s.
    pub tcp_close_wait: SimDuration,
    /// `nf_conntrack_tcp_timeout_last_ack`, default 30 s.
    pub tcp_last_ack: SimDuration,
    /// `nf_conntrack_tcp_timeout_time_wait`, default 120 s.
    pub tcp_time_wait: SimDuration,
    /// `nf_conntrack_tcp_timeout_close`, default 10 s.
    pub tcp_close: SimDuration,
    /// `nf_conntrack_tcp_timeout_unacknowledged`, default 300 s. Caps the timeout of a
    /// connection picked up mid-stream until a reply is seen.
    pub tcp_unacknowledged: SimDuration,
    /// `nf_conntrack_udp_timeout`, default 30 s (no reply yet, or replied within 2 s).
    pub udp: SimDuration,
    /// `nf_conntrack_udp_timeout_stream`, default 120 s: used once traffic was seen in
    /// both directions and the flow is older than 2 s (the entry is then ASSURED).
    pub udp_stream: SimDuration,
    /// `nf_conntrack_icmp_timeout`, default 30 s.
    pub icmp: SimDuration,
    /// `nf_conntrack_tcp_loose`, default 1: a TCP packet other than SYN (a bare ACK) may
    /// create an entry (mid-stream pickup, state ESTABLISHED).
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal`, default 0. Kept for `sysctl` fidelity only: this
    /// model does no TCP window tracking, so it behaves as if this were 1 for
    /// out-of-window segments (see the module doc).
    pub tcp_be_liberal: bool,
}

impl Default for ConntrackConfig {
    fn default() -> Self {
        ConntrackConfig {
            tcp_syn_sent: SimDuration::from_secs(120),
            tcp_syn_recv: SimDuration::from_secs(60),
            tcp_established: SimDuration::from_secs(432_000),
            tcp_fin_wait: SimDuration::from_secs(120),
            tcp_close_wait: SimDuration::from_secs(60),
            tcp_last_ack: SimDuration::from_secs(30),
            tcp_time_wait: SimDuration::from_secs(120),
            tcp_close: SimDuration::from_secs(10),
            tcp_unacknowledged: SimDuration::from_secs(300),
            udp: SimDuration::from_secs(30),
            udp_stream: SimDuration::from_secs(120),
            icmp: SimDuration::from_secs(30),
            tcp_loose: true,
            tcp_be_liberal: false,
        }
    }
}

impl ConntrackConfig {
    /// Sets `nf_conntrack_tcp_timeout_established` (kube-proxy: 86400 s).
    pub fn with_tcp_established(mut self, d: SimDuration) -> Self {
        self.tcp_established = d;
        self
    }
    /// Sets `nf_conntrack_tcp_timeout_close_wait` (kube-proxy: 3600 s).
    pub fn with_tcp_close_wait(mut self, d: SimDuration) -> Self {
        self.tcp_close_wait = d;
        self
    }
    /// Sets `nf_conntrack_tcp_loose`.
    pub fn with_tcp_loose(mut self, loose: bool) -> Self {
        self.tcp_loose = loose;
        self
    }
    /// Sets `nf_conntrack_udp_timeout` and `nf_conntrack_udp_timeout_stream`.
    pub fn with_udp(mut self, udp: SimDuration, stream: SimDuration) -> Self {
        self.udp = udp;
        self.udp_stream = stream;
        self
    }
}
