//! Options of the match extensions (what each libxt_*.so parses) and their final
//! checks, with iptables' error wording where it is known (verified on iptables-nft
//! 1.8.9: "TCP match requires '-p tcp'", "statistic: option \"--every\" also requires
//! \"--packet\"", ...).

use super::matches::*;
use super::rule::{IfaceMatch, Neg, Proto, Rule};
use super::spec::{Args, SpecError, Tok};
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

#[derive(Clone, Debug, Default)]
struct StatScratch {
    nth: Option<bool>,
    neg: bool,
    prob: Option<u32>,
    every: Option<u32>,
    packet: Option<u32>,
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

fn port_val(v: &Tok, neg: bool) -> Result<Neg<super::rule::PortRange>, SpecError> {
    values::port_range(&v.text, ':').map(|p| Neg::new(neg, p)).map_err(|e| SpecError::at(v, e))
}

fn tcp_flags(mask: &Tok, comp: &Tok) -> Result<(u8, u8), SpecError> {
    let parse = |t: &Tok| -> Result<u8, SpecError> {
        let mut bits = 0u8;
        for f in t.text.split(',') {
            bits |= match f {
                "FIN" => 0x01,
                "SYN" => 0x02,
                "RST" => 0x04,
                "PSH" => 0x08,
                "ACK" => 0x10,
                "URG" => 0x20,
                "ALL" => 0x3f,
                "NONE" => 0,
                _ => {
                    return Err(SpecError::at(
                        t,
                        format!("unknown TCP flag `{f}' (FIN SYN RST PSH ACK URG ALL NONE)"),
                    ));
                }
            };
        }
        Ok(bits)
    };
    Ok((parse(mask)?, parse(comp)?))
}

fn icmp_type(v: &Tok) -> Result<IcmpType, SpecError> {
    if v.text == "any" {
        return Ok(IcmpType::Any);
    }
    if let Some((_, typ, code)) = ICMP_NAMES.iter().find(|(n, _, _)| *n == v.text) {
        let (code_lo, code_hi) = code.map_or((0, 255), |c| (c, c));
        return Ok(IcmpType::Type { typ: *typ, code_lo, code_hi });
    }
    let bad =
        || SpecError::at(v, "invalid ICMP type (a name such as echo-request, `any', TYPE or TYPE/CODE)");
    let (t, c) = match v.text.split_once('/') {
        Some((t, c)) => (t, Some(c)),
        None => (v.text.as_str(), None),
    };
    let typ = t.parse::<u8>().map_err(|_| bad())?;
    let (code_lo, code_hi) = match c {
        None => (0, 255),
        Some(c) => c.parse::<u8>().map(|c| (c, c)).map_err(|_| bad())?,
    };
    Ok(IcmpType::Type { typ, code_lo, code_hi })
}

fn ct_states(v: &Tok, conntrack: bool) -> Result<CtStateSet, SpecError> {
    let mut bits = 0;
    for s in v.text.split(',') {
        let found = CtStateSet::NAMES.iter().find(|(n, b)| *n == s && (conntrack || *b < CtStateSet::SNAT));
        match found {
            Some((_, b)) => bits |= b,
            None => {
                return Err(SpecError::at(
                    v,
                    format!("bad ctstate \"{s}\" (INVALID NEW RELATED ESTABLISHED UNTRACKED SNAT DNAT)"),
                ));
            }
        }
    }
    Ok(CtStateSet(bits))
}

fn conntrack_option(c: &mut ConntrackMatch, k: &str, neg: bool, v: &Tok) -> Result<(), SpecError> {
    let net = || values::cidr(&v.text).map(|n| Some(Neg::new(neg, n))).map_err(|e| SpecError::at(v, e));
    let port = || port_val(v, neg).map(Some);
    match k {
        "ctstate" => c.state = Some(Neg::new(neg, ct_states(v, true)?)),
        "ctproto" => {
            let p = match v.text.as_str() {
                "tcp" | "6" => 6,
                "udp" | "17" => 17,
                "icmp" | "1" => 1,
                "sctp" | "132" => 132,
                _ => return Err(SpecError::at(v, "unsupported --ctproto (tcp, udp, icmp, sctp)")),
            };
            c.proto = Some(Neg::new(neg, p));
        }
        "ctorigsrc" => c.orig_src = net()?,
        "ctorigdst" => c.orig_dst = net()?,
        "ctreplsrc" => c.repl_src = net()?,
        "ctrepldst" => c.repl_dst = net()?,
        "ctorigsrcport" => c.orig_src_port = port()?,
        "ctorigdstport" => c.orig_dst_port = port()?,
        "ctreplsrcport" => c.repl_src_port = port()?,
        "ctrepldstport" => c.repl_dst_port = port()?,
        _ => {
            let mut bits = 0;
            for s in v.text.split(',') {
                match CT_STATUS_NAMES.iter().find(|(n, _)| *n == s) {
                    Some((_, b)) => bits |= b,
                    None => {
                        return Err(SpecError::at(
                            v,
                            "bad ctstatus (NONE EXPECTED SEEN_REPLY ASSURED CONFIRMED)",
                        ));
                    }
                }
            }
            c.status = Some(Neg::new(neg, bits));
        }
    }
    Ok(())
}

fn addrtype_option(
    a: &mut AddrtypeMatch,
    k: &str,
    neg: bool,
    opt: &Tok,
    args: &mut Args,
) -> Result<(), SpecError> {
    let types = |v: &Tok| -> Result<AddrTypeSet, SpecError> {
        let mut bits = 0;
        for s in v.text.split(',') {
            match AddrTypeSet::NAMES.iter().find(|(n, _)| *n == s) {
                Some((_, b)) => bits |= b,
                None => return Err(SpecError::at(v, format!("addrtype: bad type \"{s}\""))),
            }
        }
        Ok(AddrTypeSet(bits))
    };
    match k {
        "src" => a.src = Some(Neg::new(neg, types(args.value(opt)?)?)),
        "dst" => a.dst = Some(Neg::new(neg, types(args.value(opt)?)?)),
        _ if neg => return Err(SpecError::at(opt, "addrtype: this option cannot be inverted")),
        "in" => a.limit_iface_in = true,
        _ => a.limit_iface_out = true,
    }
    Ok(())
}

fn statistic_option(
    s: &mut StatScratch,
    k: &str,
    neg: bool,
    opt: &Tok,
    args: &mut Args,
) -> Result<(), SpecError> {
    let v = args.value(opt)?;
    if neg && k == "mode" {
        return Err(SpecError::at(opt, "statistic: option \"--mode\" cannot be inverted."));
    }
    s.neg |= neg;
    match k {
        "mode" => {
            s.nth = Some(match v.text.as_str() {
                "random" => false,
                "nth" => true,
                _ => return Err(SpecError::at(v, "statistic: bad mode (random or nth)")),
            })
        }
        "probability" => {
            let p = values::probability(&v.text).map_err(|e| SpecError::at(v, format!("statistic: {e}")))?;
            s.prob = Some(StatisticMatch::prob_from_f64(p));
        }
        "every" => match values::bounded(&v.text, u32::MAX) {
            Ok(n) if n > 0 => s.every = Some(n),
            _ => return Err(SpecError::at(v, "statistic: --every must be a number >= 1")),
        },
        _ => s.packet = Some(values::bounded(&v.text, u32::MAX).map_err(|e| SpecError::at(v, e))?),
    }
    Ok(())
}

fn recent_option(
    r: &mut RecentMatch,
    k: &str,
    neg: bool,
    opt: &Tok,
    args: &mut Args,
) -> Result<(), SpecError> {
    if neg && k != "cmd" {
        return Err(SpecError::at(opt, format!("recent: option \"{}\" cannot be inverted", opt.text)));
    }
    let num = |args: &mut Args| -> Result<u32, SpecError> {
        let v = args.value(opt)?;
        values::bounded(&v.text, u32::MAX).map_err(|e| SpecError::at(v, e))
    };
    match k {
        "cmd" => {
            r.neg = neg;
            r.cmd = match opt.text.as_str() {
                "--set" => RecentCmd::Set,
                "--rcheck" => RecentCmd::Rcheck,
                "--update" => RecentCmd::Update,
                _ => RecentCmd::Remove,
            };
        }
        "seconds" => r.seconds = num(args)?,
        "hitcount" => r.hitcount = num(args)?,
        "reap" => r.reap = true,
        "rttl" => r.rttl = true,
        "name" => {
            let v = args.value(opt)?;
            if v.text.is_empty() || v.text.len() > 200 || !v.text.chars().all(|c| c.is_ascii_graphic()) {
                return Err(SpecError::at(v, "recent: --name must be 1-200 printable characters"));
            }
            r.name = v.text.clone();
        }
        "mask" => {
            let v = args.value(opt)?;
            r.mask = values::ipv4(&v.text).map_err(|e| SpecError::at(v, e))?;
        }
        _ => r.dest = opt.text == "--rdest",
    }
    Ok(())
}

fn physdev_option(
    p: &mut PhysdevMatch,
    k: &str,
    neg: bool,
    args: &mut Args,
    opt: &Tok,
) -> Result<(), SpecError> {
    let name = |args: &mut Args| -> Result<Neg<IfaceMatch>, SpecError> {
        let v = args.value(opt)?;
        values::iface(&v.text).map(|n| Neg::new(neg, IfaceMatch(n))).map_err(|e| SpecError::at(v, e))
    };
    match k {
        "in" => p.phys_in = Some(name(args)?),
        "out" => p.phys_out = Some(name(args)?),
        "is-in" => p.is_in = Some(neg),
        "is-out" => p.is_out = Some(neg),
        _ => p.is_bridged = Some(neg),
    }
    Ok(())
}
