//! Option parsers of the individual match extensions: ports, TCP flags, ICMP types,
//! conntrack states and tuples, addrtype, statistic, recent and physdev.

use super::matches::*;
use super::rule::{IfaceMatch, Neg};
use super::spec::{Args, SpecError, Tok};
use super::spec_match::StatScratch;
use super::values;

pub(super) fn port_val(v: &Tok, neg: bool) -> Result<Neg<super::rule::PortRange>, SpecError> {
    values::port_range(&v.text, ':').map(|p| Neg::new(neg, p)).map_err(|e| SpecError::at(v, e))
}

pub(super) fn tcp_flags(mask: &Tok, comp: &Tok) -> Result<(u8, u8), SpecError> {
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

pub(super) fn icmp_type(v: &Tok) -> Result<IcmpType, SpecError> {
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
    // Type 255 with every code is libxt_icmp's `any` (saved as such).
    if (typ, code_lo, code_hi) == (255, 0, 255) {
        return Ok(IcmpType::Any);
    }
    Ok(IcmpType::Type { typ, code_lo, code_hi })
}

pub(super) fn ct_states(v: &Tok, conntrack: bool) -> Result<CtStateSet, SpecError> {
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

pub(super) fn conntrack_option(c: &mut ConntrackMatch, k: &str, neg: bool, v: &Tok) -> Result<(), SpecError> {
    let net =
        || values::cidr_keep_host(&v.text).map(|n| Some(Neg::new(neg, n))).map_err(|e| SpecError::at(v, e));
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

pub(super) fn addrtype_option(
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

pub(super) fn statistic_option(
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

pub(super) fn recent_option(
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

pub(super) fn physdev_option(
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
