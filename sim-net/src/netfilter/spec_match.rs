//! Options of the match extensions (what each libxt_*.so parses) and their final
//! checks, with iptables' error wording where it is known (verified on iptables-nft
//! 1.8.9: "TCP match requires '-p tcp'", "statistic: option \"--every\" also requires
//! \"--packet\"", ...).

use super::matches::*;
use super::rule::{Neg, Proto, Rule};
use super::spec::{Args, SpecError, Tok};
use super::spec_match_opts::*;
use super::values;

/// A match being parsed: the value so far, the options seen, and scratch space for
/// statistic options that may come in any order.
#[derive(Clone, Debug)]
pub struct PendingMatch {
    m: Match,
    seen: Vec<&'static str>,
    tok: Tok,
    stat: StatScratch,
}

/// Statistic options, which may come in any order and are checked together.
#[derive(Clone, Debug, Default)]
pub(super) struct StatScratch {
    pub nth: Option<bool>,
    pub neg: bool,
    pub prob: Option<u32>,
    pub every: Option<u32>,
    pub packet: Option<u32>,
}

impl PendingMatch {
    pub fn new(name: &str, tok: &Tok) -> Option<Self> {
        let m = match name {
            "tcp" => Match::Tcp(TcpMatch::default()),
            "udp" => Match::Udp(PortsMatch::default()),
            "sctp" => Match::Sctp(PortsMatch::default()),
            "icmp" => Match::Icmp(Neg::new(false, IcmpType::Any)),
            "multiport" => Match::Multiport(MultiportMatch {
                kind: MultiportKind::Ports,
                ports: Neg::new(false, vec![]),
            }),
            "comment" => Match::Comment(String::new()),
            "mark" => Match::Mark(Neg::new(false, MarkMask { value: 0, mask: u32::MAX })),
            "connmark" => Match::Connmark(Neg::new(false, MarkMask { value: 0, mask: u32::MAX })),
            "conntrack" => Match::Conntrack(ConntrackMatch::default()),
            "state" => Match::State(Neg::new(false, CtStateSet(0))),
            "addrtype" => Match::Addrtype(AddrtypeMatch::default()),
            "statistic" => Match::Statistic(StatisticMatch::Random { neg: false, prob_u31: 0 }),
            "recent" => Match::Recent(RecentMatch {
                neg: false,
                cmd: RecentCmd::Set,
                seconds: 0,
                reap: false,
                hitcount: 0,
                rttl: false,
                name: "DEFAULT".into(),
                mask: std::net::Ipv4Addr::BROADCAST,
                dest: false,
            }),
            "physdev" => Match::Physdev(PhysdevMatch::default()),
            "nfacct" => Match::Nfacct(String::new()),
            _ => return None,
        };
        Some(PendingMatch { m, seen: vec![], tok: tok.clone(), stat: StatScratch::default() })
    }

    fn mark_seen(&mut self, key: &'static str, opt: &Tok) -> Result<(), SpecError> {
        if self.seen.contains(&key) {
            return Err(SpecError::at(
                opt,
                format!("{}: option \"{}\" can only be used once", self.m.name(), opt.text),
            ));
        }
        self.seen.push(key);
        Ok(())
    }

    /// Whole-rule checks, then the finished match.
    pub fn finish(mut self, rule: &Rule) -> Result<Match, SpecError> {
        let err = |m: &str| SpecError::at(&self.tok, m.to_string());
        let proto = rule.proto.as_ref().filter(|p| !p.neg).map(|p| p.v);
        let need = |p: Proto, what: &str| if proto == Some(p) { Ok(()) } else { Err(err(what)) };
        let none_seen = self.seen.is_empty();
        match &self.m {
            Match::Tcp(_) => need(Proto::Tcp, "TCP match requires '-p tcp'")?,
            Match::Udp(_) => need(Proto::Udp, "UDP match requires '-p udp'")?,
            Match::Sctp(_) => need(Proto::Sctp, "SCTP match requires '-p sctp'")?,
            Match::Icmp(_) => need(Proto::Icmp, "ICMP match requires '-p icmp'")?,
            Match::Multiport(_) if !matches!(proto, Some(Proto::Tcp | Proto::Udp | Proto::Sctp)) => {
                return Err(err("multiport needs `-p tcp', `-p udp' or `-p sctp'"));
            }
            Match::Multiport(_) if none_seen => return Err(err("multiport: no ports specified")),
            Match::Comment(_) if none_seen => {
                return Err(err("comment: option \"--comment\" must be specified"));
            }
            Match::Mark(_) | Match::Connmark(_) if none_seen => {
                return Err(err("mark: option \"--mark\" must be specified"));
            }
            Match::State(_) if none_seen => return Err(err("state: option \"--state\" must be specified")),
            Match::Conntrack(_) if none_seen => {
                return Err(err("conntrack: At least one option is required"));
            }
            Match::Physdev(_) if none_seen => return Err(err("PHYSDEV: no physdev option specified")),
            Match::Nfacct(_) if none_seen => {
                return Err(err("nfacct: option \"--nfacct-name\" must be specified"));
            }
            Match::Addrtype(a) => check_addrtype(a).map_err(|m| err(&m))?,
            Match::Recent(r) => check_recent(r, &self.seen).map_err(|m| err(&m))?,
            Match::Statistic(_) => {
                self.m = Match::Statistic(finish_statistic(&self.stat).map_err(|m| err(&m))?)
            }
            _ => {}
        }
        Ok(self.m)
    }
}

fn check_addrtype(a: &AddrtypeMatch) -> Result<(), String> {
    if a.limit_iface_in && a.limit_iface_out {
        return Err("addrtype: you can't specify both --limit-iface-in and --limit-iface-out".into());
    }
    if a.src.is_none() && a.dst.is_none() {
        return Err("addrtype: you must specify --src-type or --dst-type".into());
    }
    Ok(())
}

fn check_recent(r: &RecentMatch, seen: &[&str]) -> Result<(), String> {
    if !seen.contains(&"cmd") {
        return Err("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'".into());
    }
    let checks = matches!(r.cmd, RecentCmd::Rcheck | RecentCmd::Update);
    if (r.seconds != 0 || r.hitcount != 0) && !checks {
        return Err("recent: --seconds and --hitcount can only be used with --rcheck or --update".into());
    }
    if r.reap && r.seconds == 0 {
        return Err("recent: --reap is only valid in conjunction with --seconds".into());
    }
    if r.hitcount > 20 {
        return Err("recent: --hitcount may not exceed ip_pkt_list_tot (20)".into());
    }
    Ok(())
}

fn finish_statistic(s: &StatScratch) -> Result<StatisticMatch, String> {
    match s.nth {
        None => Err("statistic: option \"--mode\" must be specified".into()),
        Some(false) => match (s.prob, s.every.or(s.packet)) {
            (_, Some(_)) => Err("statistic: --every and --packet can only be used in nth mode".into()),
            (None, _) => Err("statistic: --probability must be specified when using random mode".into()),
            (Some(p), None) => Ok(StatisticMatch::Random { neg: s.neg, prob_u31: p }),
        },
        Some(true) => match (s.prob, s.every, s.packet) {
            (Some(_), _, _) => Err("statistic: --probability can only be used in random mode".into()),
            (None, Some(every), Some(packet)) if packet < every => {
                Ok(StatisticMatch::Nth { neg: s.neg, every, packet })
            }
            (None, Some(_), Some(_)) => Err("statistic: the --packet p must be 0 <= p <= n-1".into()),
            (None, Some(_), None) => Err("statistic: option \"--every\" also requires \"--packet\".".into()),
            (None, None, _) => Err("statistic: option \"--packet\" also requires \"--every\".".into()),
        },
    }
}

/// Parses `opt` if match `pm` knows it; `Ok(false)` if it does not.
pub fn match_option(pm: &mut PendingMatch, opt: &Tok, neg: bool, args: &mut Args) -> Result<bool, SpecError> {
    let Some(key) = option_key(&pm.m, &opt.text) else { return Ok(false) };
    // multiport takes exactly one of --sports/--dports/--ports.
    pm.mark_seen(if matches!(pm.m, Match::Multiport(_)) { "ports" } else { key }, opt)?;
    let nonneg = |what: &str| -> Result<(), SpecError> {
        if neg {
            Err(SpecError::at(opt, format!("{what}: option \"{}\" cannot be inverted.", opt.text)))
        } else {
            Ok(())
        }
    };
    let bad = |t: &Tok, m: String| SpecError::at(t, m);
    match (&mut pm.m, key) {
        (Match::Tcp(t), "sport") => t.ports.sport = Some(port_val(args.value(opt)?, neg)?),
        (Match::Tcp(t), "dport") => t.ports.dport = Some(port_val(args.value(opt)?, neg)?),
        (Match::Tcp(t), "flags") => {
            t.flags = Some(Neg::new(neg, tcp_flags(args.value(opt)?, args.value(opt)?)?))
        }
        (Match::Tcp(t), "syn") => t.flags = Some(Neg::new(neg, (0x17, 0x02))),
        (Match::Udp(p) | Match::Sctp(p), "sport") => p.sport = Some(port_val(args.value(opt)?, neg)?),
        (Match::Udp(p) | Match::Sctp(p), "dport") => p.dport = Some(port_val(args.value(opt)?, neg)?),
        (Match::Icmp(i), "type") => *i = Neg::new(neg, icmp_type(args.value(opt)?)?),
        (Match::Multiport(m), k) => {
            let v = args.value(opt)?;
            let ports = values::port_list(&v.text).map_err(|e| bad(v, e))?;
            let kind = match k {
                "sports" => MultiportKind::Sports,
                "dports" => MultiportKind::Dports,
                _ => MultiportKind::Ports,
            };
            *m = MultiportMatch { kind, ports: Neg::new(neg, ports) };
        }
        (Match::Comment(c), _) => {
            nonneg("comment")?;
            let v = args.value(opt)?;
            if v.text.len() > 255 {
                return Err(bad(v, "comment may not exceed 255 characters".into()));
            }
            *c = v.text.clone();
        }
        (Match::Mark(m) | Match::Connmark(m), _) => {
            let v = args.value(opt)?;
            let (value, mask) = values::mark_mask(&v.text).map_err(|e| bad(v, e))?;
            *m = Neg::new(neg, MarkMask { value, mask });
        }
        (Match::State(s), _) => *s = Neg::new(neg, ct_states(args.value(opt)?, false)?),
        (Match::Conntrack(c), k) => conntrack_option(c, k, neg, args.value(opt)?)?,
        (Match::Addrtype(a), k) => addrtype_option(a, k, neg, opt, args)?,
        (Match::Statistic(_), k) => statistic_option(&mut pm.stat, k, neg, opt, args)?,
        (Match::Recent(r), k) => recent_option(r, k, neg, opt, args)?,
        (Match::Physdev(p), k) => physdev_option(p, k, neg, args, opt)?,
        (Match::Nfacct(n), _) => {
            nonneg("nfacct")?;
            *n = args.value(opt)?.text.clone();
        }
        _ => unreachable!("option_key only returns keys its match handles"),
    }
    Ok(true)
}

/// The option's canonical key for match `m`, or None if `m` does not take it.
fn option_key(m: &Match, opt: &str) -> Option<&'static str> {
    Some(match (m, opt) {
        (Match::Tcp(_) | Match::Udp(_) | Match::Sctp(_), "--sport" | "--source-port") => "sport",
        (Match::Tcp(_) | Match::Udp(_) | Match::Sctp(_), "--dport" | "--destination-port") => "dport",
        (Match::Tcp(_), "--tcp-flags") => "flags",
        (Match::Tcp(_), "--syn") => "syn",
        (Match::Icmp(_), "--icmp-type") => "type",
        (Match::Multiport(_), "--sports" | "--source-ports") => "sports",
        (Match::Multiport(_), "--dports" | "--destination-ports") => "dports",
        (Match::Multiport(_), "--ports") => "ports",
        (Match::Comment(_), "--comment") => "comment",
        (Match::Mark(_) | Match::Connmark(_), "--mark") => "mark",
        (Match::State(_), "--state") => "state",
        (Match::Conntrack(_), o) => {
            return CONNTRACK_OPTS.iter().find(|k| o.strip_prefix("--") == Some(**k)).copied();
        }
        (Match::Addrtype(_), "--src-type") => "src",
        (Match::Addrtype(_), "--dst-type") => "dst",
        (Match::Addrtype(_), "--limit-iface-in") => "in",
        (Match::Addrtype(_), "--limit-iface-out") => "out",
        (Match::Statistic(_), "--mode") => "mode",
        (Match::Statistic(_), "--probability") => "probability",
        (Match::Statistic(_), "--every") => "every",
        (Match::Statistic(_), "--packet") => "packet",
        (Match::Recent(_), "--set" | "--rcheck" | "--update" | "--remove") => "cmd",
        (Match::Recent(_), "--seconds") => "seconds",
        (Match::Recent(_), "--reap") => "reap",
        (Match::Recent(_), "--hitcount") => "hitcount",
        (Match::Recent(_), "--rttl") => "rttl",
        (Match::Recent(_), "--name") => "name",
        (Match::Recent(_), "--mask") => "mask",
        (Match::Recent(_), "--rsource" | "--rdest") => "side",
        (Match::Physdev(_), "--physdev-in") => "in",
        (Match::Physdev(_), "--physdev-out") => "out",
        (Match::Physdev(_), "--physdev-is-in") => "is-in",
        (Match::Physdev(_), "--physdev-is-out") => "is-out",
        (Match::Physdev(_), "--physdev-is-bridged") => "is-bridged",
        (Match::Nfacct(_), "--nfacct-name") => "name",
        _ => return None,
    })
}

const CONNTRACK_OPTS: [&str; 11] = [
    "ctstate",
    "ctproto",
    "ctorigsrc",
    "ctorigdst",
    "ctreplsrc",
    "ctrepldst",
    "ctorigsrcport",
    "ctorigdstport",
    "ctreplsrcport",
    "ctrepldstport",
    "ctstatus",
];

/// Every option some match takes (the spellings of [`option_key`]).
const MATCH_OPTIONS: &[&str] = &[
    "--sport",
    "--source-port",
    "--dport",
    "--destination-port",
    "--tcp-flags",
    "--syn",
    "--icmp-type",
    "--sports",
    "--source-ports",
    "--dports",
    "--destination-ports",
    "--ports",
    "--comment",
    "--mark",
    "--state",
    "--ctstate",
    "--ctproto",
    "--ctorigsrc",
    "--ctorigdst",
    "--ctreplsrc",
    "--ctrepldst",
    "--ctorigsrcport",
    "--ctorigdstport",
    "--ctreplsrcport",
    "--ctrepldstport",
    "--ctstatus",
    "--src-type",
    "--dst-type",
    "--limit-iface-in",
    "--limit-iface-out",
    "--mode",
    "--probability",
    "--every",
    "--packet",
    "--set",
    "--rcheck",
    "--update",
    "--remove",
    "--seconds",
    "--reap",
    "--hitcount",
    "--rttl",
    "--name",
    "--mask",
    "--rsource",
    "--rdest",
    "--physdev-in",
    "--physdev-out",
    "--physdev-is-in",
    "--physdev-is-out",
    "--physdev-is-bridged",
    "--nfacct-name",
];

impl PendingMatch {
    /// The long options this match takes.
    pub fn options(&self) -> Vec<&'static str> {
        MATCH_OPTIONS.iter().copied().filter(|o| option_key(&self.m, o).is_some()).collect()
    }

    /// `-m tcp: --sport, --source-port, ...`, for the error about an option no match
    /// of the rule takes.
    pub fn describe_options(&self) -> String {
        format!("-m {}: {}", self.m.name(), option_list(&self.options()))
    }
}

/// `--a, --b` or `no options`, for the unknown-option errors of matches and targets.
pub(super) fn option_list(opts: &[&str]) -> String {
    if opts.is_empty() { "no options".to_string() } else { opts.join(", ") }
}
