//! `conntrack -L` output and `conntrack -D` filters, byte for byte as conntrack-tools
//! 1.4.7 prints them (checked against a 6.18 kernel, see the module doc of `conntrack`).
//!
//! One line per entry: protocol name padded to 8, protocol number, seconds left, the TCP
//! state, the original tuple, `[UNREPLIED]` while no reply was seen, the reply tuple,
//! `[ASSURED]`, `mark=`, `use=1`. Linux lists entries in hash-bucket order; this lists
//! them by entry id (creation order). The "N flow entries have been shown." summary goes
//! to stderr in the real tool and is not part of this output.

use std::fmt;
use std::net::Ipv4Addr;

use sim_core::SimTime;

use super::entry::ConntrackEntry;
use crate::packet::IpProto;

/// One `conntrack -L` line (without the newline).
pub fn render_entry(e: &ConntrackEntry, now: SimTime) -> String {
    let p = e.orig().proto;
    let mut s = format!("{:<8} {} {} ", p.name(), p.number(), e.remaining_secs(now));
    if let Some(state) = e.tcp_state() {
        s.push_str(state.name());
        s.push(' ');
    }
    s.push_str(&e.orig().to_string());
    if !e.status().seen_reply {
        s.push_str(" [UNREPLIED]");
    }
    s.push(' ');
    s.push_str(&e.reply().to_string());
    if e.status().assured {
        s.push_str(" [ASSURED]");
    }
    s.push_str(&format!(" mark={} use=1", e.mark()));
    s
}

/// The selection of `conntrack -D` (and `-L` with filters): every given field must
/// match. kube-proxy's stale-UDP cleanup is `CtFilter::proto(Udp).orig_dst(svc_ip)` or
/// `.orig_dst(svc_ip).reply_src(endpoint_ip)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtFilter {
    pub proto: Option<IpProto>,
    /// `--orig-src`
    pub orig_src: Option<Ipv4Addr>,
    /// `--orig-dst`
    pub orig_dst: Option<Ipv4Addr>,
    /// `--reply-src`
    pub reply_src: Option<Ipv4Addr>,
    /// `--reply-dst`
    pub reply_dst: Option<Ipv4Addr>,
    /// `--dport` (`--orig-port-dst`)
    pub orig_dport: Option<u16>,
    /// `--mark`
    pub mark: Option<u32>,
}

impl CtFilter {
    pub fn proto(p: IpProto) -> CtFilter {
        CtFilter { proto: Some(p), ..CtFilter::default() }
    }
    pub fn orig_src(self, a: Ipv4Addr) -> CtFilter {
        CtFilter { orig_src: Some(a), ..self }
    }
    pub fn orig_dst(self, a: Ipv4Addr) -> CtFilter {
        CtFilter { orig_dst: Some(a), ..self }
    }
    pub fn reply_src(self, a: Ipv4Addr) -> CtFilter {
        CtFilter { reply_src: Some(a), ..self }
    }
    pub fn reply_dst(self, a: Ipv4Addr) -> CtFilter {
        CtFilter { reply_dst: Some(a), ..self }
    }
    pub fn orig_dport(self, p: u16) -> CtFilter {
        CtFilter { orig_dport: Some(p), ..self }
    }
    pub fn mark(self, m: u32) -> CtFilter {
        CtFilter { mark: Some(m), ..self }
    }

    pub fn matches(&self, e: &ConntrackEntry) -> bool {
        let (o, r) = (e.orig(), e.reply());
        let ok = |want: Option<Ipv4Addr>, have: Ipv4Addr| want.is_none_or(|w| w == have);
        self.proto.is_none_or(|p| p == o.proto)
            && ok(self.orig_src, o.src)
            && ok(self.orig_dst, o.dst)
            && ok(self.reply_src, r.src)
            && ok(self.reply_dst, r.dst)
            && self.orig_dport.is_none_or(|p| o.proto != IpProto::Icmp && p == o.dport)
            && self.mark.is_none_or(|m| m == e.mark())
    }
}

/// The equivalent command: `conntrack -D -p udp --orig-dst 10.96.0.10`.
impl fmt::Display for CtFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("conntrack -D")?;
        if let Some(p) = self.proto {
            write!(f, " -p {p}")?;
        }
        let addrs = [
            ("--orig-src", self.orig_src),
            ("--orig-dst", self.orig_dst),
            ("--reply-src", self.reply_src),
            ("--reply-dst", self.reply_dst),
        ];
        for (flag, a) in addrs {
            if let Some(a) = a {
                write!(f, " {flag} {a}")?;
            }
        }
        if let Some(p) = self.orig_dport {
            write!(f, " --dport {p}")?;
        }
        if let Some(m) = self.mark {
            write!(f, " --mark {m}")?;
        }
        Ok(())
    }
}
