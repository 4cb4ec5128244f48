//! One rule specification (`-s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j KUBE-SVC-x`)
//! from tokens to a [`Rule`], with iptables' option dispatch: an option belongs to the
//! target if it knows it, else to the most recently loaded match that knows it, else a
//! `tcp`/`udp`/`sctp`/`icmp` match is loaded implicitly when `-p` names that protocol
//! (this is why `-p tcp --dport 80 -m comment ...` saves as `-p tcp -m tcp --dport 80
//! -m comment ...`). Checks that need the whole rule (e.g. "TCP match requires '-p
//! tcp'") run at the end, because kube-proxy writes `-m tcp -p tcp`.
//!
//! Deviations: `-f`, multiple comma-separated addresses in `-s`/`-d`, and the
//! deprecated intrapositioned negation (`--dport ! 80`) are rejected with an error.

use super::matches::{MATCH_NAMES, Match};
use super::rule::{IfaceMatch, Neg, Proto, Rule, TARGET_NAMES};
use super::spec_match::{PendingMatch, match_option};
use super::spec_target::{PendingTarget, target_option};
use super::values;

/// A token of a restore line and the 1-based column where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    pub text: String,
    pub col: usize,
}

/// A problem with one token of a rule specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub col: usize,
    pub token: String,
    pub msg: String,
}

impl SpecError {
    pub fn at(tok: &Tok, msg: impl Into<String>) -> Self {
        SpecError { col: tok.col, token: tok.text.clone(), msg: msg.into() }
    }
}

/// A cursor over the tokens of one rule.
pub struct Args<'a> {
    toks: &'a [Tok],
    pos: usize,
}

impl<'a> Args<'a> {
    pub fn new(toks: &'a [Tok]) -> Self {
        Args { toks, pos: 0 }
    }
    pub fn next_tok(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.pos)?;
        self.pos += 1;
        Some(t)
    }
    pub fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }
    /// The value of option `opt`; a missing value or a `!` in its place is an error.
    pub fn value(&mut self, opt: &Tok) -> Result<&'a Tok, SpecError> {
        match self.next_tok() {
            Some(t) if t.text == "!" => Err(SpecError::at(
                t,
                format!(
                    "intrapositioned negation (`{} ! value`) is not supported: write `! {} value`",
                    opt.text, opt.text
                ),
            )),
            Some(t) => Ok(t),
            None => Err(SpecError::at(opt, format!("option \"{}\" requires an argument", opt.text))),
        }
    }
}

/// How a rule's target was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JumpKind {
    Jump,
    Goto,
}

/// A parsed rule whose jump target (if a chain) still has to be resolved by the caller.
pub struct ParsedRule {
    pub rule: Rule,
    /// Token of the `-j`/`-g` value, for "Chain 'X' does not exist" errors.
    pub target_tok: Option<Tok>,
}

/// Parses the tokens after `-A CHAIN` (or `-I CHAIN n`, ...). A target name that is
/// not an extension becomes a jump/goto; the caller checks that the chain exists.
pub fn parse_rule(toks: &[Tok]) -> Result<ParsedRule, SpecError> {
    let mut b = RuleBuilder::default();
    let mut args = Args::new(toks);
    while let Some(tok) = args.next_tok() {
        let neg = tok.text == "!";
        let opt = if neg { next_after_bang(&mut args, tok)? } else { tok };
        b.option(opt, neg, &mut args)?;
    }
    b.finish()
}

fn next_after_bang<'a>(args: &mut Args<'a>, bang: &Tok) -> Result<&'a Tok, SpecError> {
    match args.next_tok() {
        Some(t) if t.text == "!" => Err(SpecError::at(t, "multiple `!' flags not allowed")),
        Some(t) => Ok(t),
        None => Err(SpecError::at(bang, "`!' must be followed by an option")),
    }
}

#[derive(Default)]
struct RuleBuilder {
    rule: Rule,
    matches: Vec<PendingMatch>,
    target: Option<PendingTarget>,
    target_tok: Option<Tok>,
}

impl RuleBuilder {
    fn option(&mut self, opt: &Tok, neg: bool, args: &mut Args) -> Result<(), SpecError> {
        match opt.text.as_str() {
            "-s" | "--source" | "--src" => {
                let v = args.value(opt)?;
                let net = values::cidr(&v.text).map_err(|m| SpecError::at(v, m))?;
                if neg && net.is_any() {
                    // The kernel refuses a rule that can never match.
                    return Err(SpecError::at(
                        v,
                        "RULE_APPEND failed (Invalid argument): `!' before a /0 address matches nothing",
                    ));
                }
                set_once(&mut self.rule.src, opt, Neg::new(neg, net))?;
                // `-s 0.0.0.0/0` is no condition at all (iptables stores nothing).
                if !neg && net.is_any() {
                    self.rule.src = None;
                }
                Ok(())
            }
            "-d" | "--destination" | "--dst" => {
                let v = args.value(opt)?;
                let net = values::cidr(&v.text).map_err(|m| SpecError::at(v, m))?;
                if neg && net.is_any() {
                    // The kernel refuses a rule that can never match.
                    return Err(SpecError::at(
                        v,
                        "RULE_APPEND failed (Invalid argument): `!' before a /0 address matches nothing",
                    ));
                }
                set_once(&mut self.rule.dst, opt, Neg::new(neg, net))?;
                // `-d 0.0.0.0/0` is no condition at all (iptables stores nothing).
                if !neg && net.is_any() {
                    self.rule.dst = None;
                }
                Ok(())
            }
            "-i" | "--in-interface" => {
                let v = args.value(opt)?;
                let name = values::iface(&v.text).map_err(|m| SpecError::at(v, m))?;
                set_once(&mut self.rule.in_iface, opt, Neg::new(neg, IfaceMatch(name)))
            }
            "-o" | "--out-interface" => {
                let v = args.value(opt)?;
                let name = values::iface(&v.text).map_err(|m| SpecError::at(v, m))?;
                set_once(&mut self.rule.out_iface, opt, Neg::new(neg, IfaceMatch(name)))
            }
            "-p" | "--protocol" => self.proto(opt, neg, args),
            "-m" | "--match" => self.load_match(opt, neg, args),
            "-j" | "--jump" => self.set_target(opt, neg, args, JumpKind::Jump),
            "-g" | "--goto" => self.set_target(opt, neg, args, JumpKind::Goto),
            "-c" | "--set-counters" => skip_counters(opt, args),
            // This is the IPv4 tool: `-4` anywhere in the line changes nothing.
            "-4" | "--ipv4" if !neg => Ok(()),
            s if s.starts_with("--") => self.extension_option(opt, neg, args),
            _ => Err(SpecError::at(opt, unexpected_msg(&opt.text))),
        }
    }

    fn proto(&mut self, opt: &Tok, neg: bool, args: &mut Args) -> Result<(), SpecError> {
        let v = args.value(opt)?;
        let p = match v.text.to_ascii_lowercase().as_str() {
            "all" | "0" => None,
            "tcp" | "6" => Some(Proto::Tcp),
            "udp" | "17" => Some(Proto::Udp),
            "icmp" | "1" => Some(Proto::Icmp),
            "sctp" | "132" => Some(Proto::Sctp),
            _ => return Err(SpecError::at(v, "unsupported protocol (supported: tcp, udp, icmp, sctp, all)")),
        };
        match p {
            Some(p) => set_once(&mut self.rule.proto, opt, Neg::new(neg, p)),
            None if neg => Err(SpecError::at(v, "rule would never match protocol (`! -p all')")),
            None => Ok(()),
        }
    }

    fn load_match(&mut self, opt: &Tok, neg: bool, args: &mut Args) -> Result<(), SpecError> {
        if neg {
            return Err(SpecError::at(opt, "unexpected `!' before -m"));
        }
        let v = args.value(opt)?;
        let m = PendingMatch::new(&v.text, v).ok_or_else(|| {
            SpecError::at(
                v,
                format!("unsupported match `{}' (supported: {})", v.text, MATCH_NAMES.join(", ")),
            )
        })?;
        self.matches.push(m);
        Ok(())
    }

    fn set_target(&mut self, opt: &Tok, neg: bool, args: &mut Args, kind: JumpKind) -> Result<(), SpecError> {
        if neg {
            return Err(SpecError::at(opt, "cannot have `!' before -j/-g"));
        }
        let v = args.value(opt)?;
        if self.target.is_some() {
            return Err(SpecError::at(opt, "multiple -j/-g flags not allowed"));
        }
        if kind == JumpKind::Goto && TARGET_NAMES.contains(&v.text.as_str()) {
            return Err(SpecError::at(v, "goto (-g) needs a user chain, not a target"));
        }
        self.target = Some(PendingTarget::new(&v.text, kind));
        self.target_tok = Some(v.clone());
        Ok(())
    }

    fn extension_option(&mut self, opt: &Tok, neg: bool, args: &mut Args) -> Result<(), SpecError> {
        if let Some(t) = self.target.as_mut()
            && target_option(t, opt, neg, args)?
        {
            return Ok(());
        }
        for m in self.matches.iter_mut().rev() {
            if match_option(m, opt, neg, args)? {
                return Ok(());
            }
        }
        self.implicit_match(opt, neg, args)
    }

    /// `-p tcp --dport 80` without `-m tcp`: load the protocol's match right here.
    fn implicit_match(&mut self, opt: &Tok, neg: bool, args: &mut Args) -> Result<(), SpecError> {
        let proto = self.rule.proto.as_ref().filter(|p| !p.neg).map(|p| p.v);
        let mut m = proto.and_then(|p| PendingMatch::new(p.name(), opt));
        if let Some(m) = m.as_mut()
            && match_option(m, opt, neg, args)?
        {
            self.matches.push(m.clone());
            return Ok(());
        }
        // getopt_long takes an unambiguous prefix of a long option (`--to` for DNAT's
        // `--to-destination`, `--dpo` for `--dport`).
        let mut options: Vec<&'static str> = self.matches.iter().flat_map(|m| m.options()).collect();
        options.extend(m.iter().flat_map(|m| m.options()));
        options.extend(self.target.iter().flat_map(|t| t.options()));
        options.sort_unstable();
        options.dedup();
        let prefixed: Vec<&str> =
            options.iter().copied().filter(|o| o.starts_with(opt.text.as_str())).collect();
        if let [full] = prefixed.as_slice() {
            let full = Tok { text: (*full).to_string(), col: opt.col };
            return self.extension_option(&full, neg, args);
        }
        if prefixed.len() > 1 {
            let msg = format!("option \"{}\" is ambiguous (could be {})", opt.text, prefixed.join(", "));
            return Err(SpecError::at(opt, msg));
        }
        // Name what the rule's matches and target do take.
        let mut supported: Vec<String> = self.matches.iter().map(|m| m.describe_options()).collect();
        // The implicit match of `-p tcp` without `-m tcp`.
        if let Some(d) = m.map(|m| m.describe_options()).filter(|d| !supported.contains(d)) {
            supported.push(d);
        }
        if let Some(t) = &self.target {
            supported.push(t.describe_options());
        }
        let supported = if supported.is_empty() {
            "the rule has no match (-m) or target (-j) that takes options".to_string()
        } else {
            format!("supported here: {}", supported.join("; "))
        };
        Err(SpecError::at(opt, format!("unknown option \"{}\" ({supported})", opt.text)))
    }

    fn finish(self) -> Result<ParsedRule, SpecError> {
        let RuleBuilder { mut rule, matches, target, target_tok } = self;
        for m in matches {
            let done: Match = m.finish(&rule)?;
            rule.matches.push(done);
        }
        if let (Some(t), Some(tok)) = (target, target_tok.as_ref()) {
            rule.target = Some(t.finish(&rule, tok)?);
        }
        Ok(ParsedRule { rule, target_tok })
    }
}

fn set_once<T>(slot: &mut Option<T>, opt: &Tok, v: T) -> Result<(), SpecError> {
    if slot.is_some() {
        return Err(SpecError::at(opt, format!("multiple {} flags not allowed", opt.text)));
    }
    *slot = Some(v);
    Ok(())
}

fn skip_counters(opt: &Tok, args: &mut Args) -> Result<(), SpecError> {
    for _ in 0..2 {
        let v = args.value(opt)?;
        if v.text.parse::<u64>().is_err() {
            return Err(SpecError::at(v, "-c packet counter value is not a number"));
        }
    }
    Ok(())
}

fn unexpected_msg(text: &str) -> String {
    match text {
        "-f" | "--fragment" => "fragments are not modelled (-f is not supported)".into(),
        "-t" | "--table" => "the -t option cannot be used in iptables-restore".into(),
        "-A" | "-I" | "-D" | "-R" | "-N" | "-X" | "-F" | "-Z" | "-P" | "-E" => {
            format!("only one command ({text}) allowed per line")
        }
        _ => format!("bad argument `{text}' (expected an option such as -s, -d, -p, -m, -j)"),
    }
}
