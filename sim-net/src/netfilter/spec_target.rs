//! Options of the targets (libxt_REJECT, libipt_DNAT/SNAT/MASQUERADE/REDIRECT,
//! libxt_MARK, libxt_CONNMARK, libxt_LOG, libxt_CT/NOTRACK) and their final checks.
//! Every MARK/CONNMARK spelling is stored the way the kernel receives it (an xmark
//! value/mask pair), which is why iptables-save prints `--or-mark 0x4000` as
//! `--set-xmark 0x4000/0x4000`.
//!
//! Deviations: LOG options other than `--log-prefix`/`--log-level`, CT options other
//! than `--notrack`, and DNAT/SNAT with several `--to-*` are rejected.

use super::rule::{ConnmarkOp, NatAction, NatFlags, NatRange, PortRange, Proto, RejectWith, Rule, Target};
use super::spec::{Args, JumpKind, SpecError, Tok};
use super::values;

#[derive(Clone, Debug)]
enum Kind {
    Simple(Target),
    Chain(String, JumpKind),
    Reject,
    Dnat,
    Snat,
    Masquerade,
    Redirect,
    Mark,
    Connmark,
    Log,
    Ct,
}

/// A target being parsed.
#[derive(Clone, Debug)]
pub struct PendingTarget {
    name: String,
    kind: Kind,
    seen: Vec<&'static str>,
    reject: Option<RejectWith>,
    range: Option<NatRange>,
    ports: Option<PortRange>,
    flags: NatFlags,
    xmark: Option<(u32, u32)>,
    connmark: Option<ConnmarkOp>,
    nfmask: Option<u32>,
    ctmask: Option<u32>,
    log_prefix: Option<String>,
    log_level: u8,
    notrack: bool,
}

impl PendingTarget {
    pub fn new(name: &str, jump: JumpKind) -> Self {
        let kind = match name {
            "ACCEPT" => Kind::Simple(Target::Accept),
            "DROP" => Kind::Simple(Target::Drop),
            "RETURN" => Kind::Simple(Target::Return),
            "NOTRACK" => Kind::Simple(Target::Notrack),
            "REJECT" => Kind::Reject,
            "DNAT" => Kind::Dnat,
            "SNAT" => Kind::Snat,
            "MASQUERADE" => Kind::Masquerade,
            "REDIRECT" => Kind::Redirect,
            "MARK" => Kind::Mark,
            "CONNMARK" => Kind::Connmark,
            "LOG" => Kind::Log,
            "CT" => Kind::Ct,
            chain => Kind::Chain(chain.to_string(), jump),
        };
        PendingTarget {
            name: name.to_string(),
            kind,
            seen: vec![],
            reject: None,
            range: None,
            ports: None,
            flags: NatFlags::default(),
            xmark: None,
            connmark: None,
            nfmask: None,
            ctmask: None,
            log_prefix: None,
            log_level: 4,
            notrack: false,
        }
    }

    /// The finished target, after the checks that need the whole rule.
    pub fn finish(self, rule: &Rule, tok: &Tok) -> Result<Target, SpecError> {
        let err = |m: &str| Err(SpecError::at(tok, m.to_string()));
        let proto = rule.proto.as_ref().filter(|p| !p.neg).map(|p| p.v);
        let has_ports = self.ports.is_some() || self.range.as_ref().is_some_and(|r| r.ports.is_some());
        if has_ports && !matches!(proto, Some(Proto::Tcp | Proto::Udp | Proto::Sctp)) {
            return err("Need TCP, UDP or SCTP with port specification");
        }
        let flags = self.flags;
        Ok(match self.kind {
            Kind::Simple(t) => t,
            Kind::Chain(c, JumpKind::Jump) => Target::Jump(c),
            Kind::Chain(c, JumpKind::Goto) => Target::Goto(c),
            Kind::Reject => {
                let with = self.reject.unwrap_or(RejectWith::IcmpPortUnreachable);
                if with == RejectWith::TcpReset && proto != Some(Proto::Tcp) {
                    return err("REJECT --reject-with tcp-reset requires -p tcp (kernel: Invalid argument)");
                }
                Target::Reject(with)
            }
            Kind::Dnat => match self.range {
                Some(range) => Target::Nat(NatAction::Dnat { range, flags }),
                None => return err("DNAT: option \"--to-destination\" must be specified"),
            },
            Kind::Snat => match self.range {
                Some(range) => Target::Nat(NatAction::Snat { range, flags }),
                None => return err("SNAT: option \"--to-source\" must be specified"),
            },
            Kind::Masquerade => Target::Nat(NatAction::Masquerade { ports: self.ports, flags }),
            Kind::Redirect => Target::Nat(NatAction::Redirect { ports: self.ports, flags }),
            Kind::Mark => match self.xmark {
                Some((value, mask)) => Target::Mark { value, mask },
                None => return err("MARK target: Parameter --set/and/or/xor-mark is required"),
            },
            Kind::Connmark => match self.connmark {
                Some(op) => Target::Connmark(fill_masks(op, self.nfmask, self.ctmask)),
                None => return err("CONNMARK target: No operation specified"),
            },
            Kind::Log => Target::Log { prefix: self.log_prefix, level: self.log_level },
            Kind::Ct if self.notrack => Target::CtNotrack,
            Kind::Ct => return err("CT: only `-j CT --notrack' is supported"),
        })
    }

    fn mark_seen(&mut self, key: &'static str, opt: &Tok) -> Result<(), SpecError> {
        if self.seen.contains(&key) {
            return Err(SpecError::at(opt, format!("option \"{}\" can only be used once", opt.text)));
        }
        self.seen.push(key);
        Ok(())
    }
}

fn tv<T>(v: Option<&Tok>, r: Result<T, String>) -> Result<T, SpecError> {
    r.map_err(|e| SpecError::at(v.expect("only valued options parse values"), e))
}

fn fill_masks(op: ConnmarkOp, nf: Option<u32>, ct: Option<u32>) -> ConnmarkOp {
    match op {
        ConnmarkOp::Save { .. } => {
            ConnmarkOp::Save { nfmask: nf.unwrap_or(u32::MAX), ctmask: ct.unwrap_or(u32::MAX) }
        }
        ConnmarkOp::Restore { .. } => {
            ConnmarkOp::Restore { nfmask: nf.unwrap_or(u32::MAX), ctmask: ct.unwrap_or(u32::MAX) }
        }
        other => other,
    }
}

/// Parses `opt` if target `t` takes it; `Ok(false)` otherwise.
pub fn target_option(
    t: &mut PendingTarget,
    opt: &Tok,
    neg: bool,
    args: &mut Args,
) -> Result<bool, SpecError> {
    let Some(key) = option_key(&t.kind, &opt.text) else { return Ok(false) };
    if neg {
        return Err(SpecError::at(opt, format!("option \"{}\" cannot be inverted", opt.text)));
    }
    // One operation per MARK/CONNMARK target, like the kernel's single info struct.
    let seen_key = if key.ends_with("mark") { "op" } else { key };
    t.mark_seen(seen_key, opt)?;
    let flag =
        matches!(key, "random" | "random-fully" | "persistent" | "notrack" | "save-mark" | "restore-mark");
    let v = if flag { None } else { Some(args.value(opt)?) };
    let text = v.map(|v| v.text.as_str()).unwrap_or("");
    match key {
        "reject-with" => {
            let r = RejectWith::parse(text);
            t.reject = Some(tv(v, r.ok_or_else(|| format!("unknown reject type \"{text}\"")))?);
        }
        "to" => t.range = Some(tv(v, values::nat_range(text))?),
        "to-ports" => t.ports = Some(tv(v, values::port_range(text, '-'))?),
        "random" => t.flags.random = true,
        "random-fully" => t.flags.random_fully = true,
        "persistent" => t.flags.persistent = true,
        "notrack" => t.notrack = true,
        "log-prefix" if text.len() > 29 => {
            return Err(SpecError::at(v.expect("valued"), "Maximum prefix length 29 for --log-prefix"));
        }
        "log-prefix" => t.log_prefix = Some(text.to_string()),
        "log-level" => t.log_level = tv(v, values::log_level(text))?,
        "nfmask" => t.nfmask = Some(tv(v, values::number_u32(text))?),
        "ctmask" => t.ctmask = Some(tv(v, values::number_u32(text))?),
        "mask" => {
            let m = tv(v, values::number_u32(text))?;
            (t.nfmask, t.ctmask) = (Some(m), Some(m));
        }
        "save-mark" => t.connmark = Some(ConnmarkOp::Save { nfmask: 0, ctmask: 0 }),
        "restore-mark" => t.connmark = Some(ConnmarkOp::Restore { nfmask: 0, ctmask: 0 }),
        mark_op => {
            let (value, mask) = xmark(mark_op, tv(v, values::mark_mask(text))?, text.contains('/'));
            match t.kind {
                Kind::Connmark => t.connmark = Some(ConnmarkOp::SetXmark { value, mask }),
                _ => t.xmark = Some((value, mask)),
            }
        }
    }
    Ok(true)
}

/// libxt_MARK's conversion of every spelling into (value, mask) for xmark.
fn xmark(op: &str, (v, m): (u32, u32), has_mask: bool) -> (u32, u32) {
    match op {
        "set-xmark" => (v, m),
        "set-mark" => (v, if has_mask { v | m } else { u32::MAX }),
        "and-mark" => (0, !v),
        "or-mark" => (v, v),
        _ => (v, 0),
    }
}

fn option_key(kind: &Kind, opt: &str) -> Option<&'static str> {
    let o = opt.strip_prefix("--")?;
    let keys: &[&'static str] = match kind {
        Kind::Reject => &["reject-with"],
        Kind::Dnat if o == "to-destination" => return Some("to"),
        Kind::Dnat => &["random", "persistent"],
        Kind::Snat if o == "to-source" => return Some("to"),
        Kind::Snat => &["random", "random-fully", "persistent"],
        Kind::Masquerade => &["to-ports", "random", "random-fully"],
        Kind::Redirect => &["to-ports", "random"],
        Kind::Mark => &["set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark"],
        Kind::Connmark => &[
            "set-xmark",
            "set-mark",
            "and-mark",
            "or-mark",
            "xor-mark",
            "save-mark",
            "restore-mark",
            "nfmask",
            "ctmask",
            "mask",
        ],
        Kind::Log => &["log-prefix", "log-level"],
        Kind::Ct => &["notrack"],
        Kind::Simple(_) | Kind::Chain(..) => &[],
    };
    keys.iter().find(|k| **k == o).copied()
}

/// Every option some target takes (the spellings of [`option_key`]).
const TARGET_OPTIONS: &[&str] = &[
    "--reject-with",
    "--to-destination",
    "--to-source",
    "--to-ports",
    "--random",
    "--random-fully",
    "--persistent",
    "--set-xmark",
    "--set-mark",
    "--and-mark",
    "--or-mark",
    "--xor-mark",
    "--save-mark",
    "--restore-mark",
    "--nfmask",
    "--ctmask",
    "--mask",
    "--log-prefix",
    "--log-level",
    "--notrack",
];

impl PendingTarget {
    /// The long options this target takes.
    pub fn options(&self) -> Vec<&'static str> {
        TARGET_OPTIONS.iter().copied().filter(|o| option_key(&self.kind, o).is_some()).collect()
    }

    /// `-j DNAT: --to-destination, --random, --persistent`, for the error about an
    /// option neither the target nor a match of the rule takes.
    pub fn describe_options(&self) -> String {
        format!("-j {}: {}", self.name, super::spec_match::option_list(&self.options()))
    }
}
