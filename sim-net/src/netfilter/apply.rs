//! One table's restore transaction: the commands of a `*table` ... `COMMIT` block
//! applied to a copy of the table, committed only if the whole block is valid.
//! Error texts follow iptables-nft-restore 1.8.9 ("No chain/target/match by that
//! name", "Index of insertion too big", "Chain 'X' does not exist", "Device or
//! resource busy", ...).

use super::matches::Match;
use super::parse::LineError;
use super::rule::{Chain, Hook, Policy, Rule, TARGET_NAMES, Table, TableName, Target};
use super::spec::{ParsedRule, Tok, parse_rule};
use super::validate;

/// A table being rebuilt by one restore block.
pub struct Tx {
    table: Table,
    nfacct: bool,
}

impl Tx {
    /// Without `--noflush` the table starts empty, as the kernel creates it.
    pub fn begin(existing: Option<&Table>, name: TableName, noflush: bool, nfacct: bool) -> Tx {
        let table = match existing {
            Some(t) if noflush => t.clone(),
            _ => Table::new(name),
        };
        Tx { table, nfacct }
    }

    /// Checks the whole table (loops, hook restrictions) and hands it back.
    pub fn commit(self) -> Result<Table, String> {
        validate::table(&self.table)?;
        Ok(self.table)
    }

    /// `:NAME POLICY`: set a built-in's policy, or create (or, with --noflush, flush)
    /// a user chain.
    pub fn declare_chain(&mut self, name: &Tok, policy: Option<Policy>) -> Result<(), LineError> {
        if self.table.is_builtin(&name.text) {
            if let (Some(p), Some(c)) = (policy, self.table.chains.get_mut(&name.text)) {
                c.policy = Some(p);
            }
            return Ok(());
        }
        // iptables-nft accepts and ignores a policy on a user chain.
        match self.table.chains.get_mut(&name.text) {
            Some(c) => c.rules.clear(),
            None => self.new_chain(name)?,
        }
        Ok(())
    }

    /// One command line (`-A CHAIN rule`, `-N CHAIN`, ...), optionally prefixed as
    /// iptables-restore allows: `[PKTS:BYTES]` (iptables-save -c; the model keeps no
    /// counters, so they are read and dropped, as iptables-restore without -c does),
    /// `-4` (this is IPv4: ignored) or `-6` (an ip6tables line: the whole line is
    /// skipped, as iptables-restore does).
    pub fn command(&mut self, toks: &[Tok]) -> Result<(), LineError> {
        let line = toks;
        let mut toks = toks;
        if let Some(first) = toks.first().filter(|t| t.text.starts_with('[')) {
            counters(first)?;
            toks = &toks[1..];
        }
        match toks.first().map(|t| t.text.as_str()) {
            Some("-6" | "--ipv6") => return Ok(()),
            Some("-4" | "--ipv4") => toks = &toks[1..],
            _ => {}
        }
        let Some((cmd, rest)) = toks.split_first() else {
            let last = line.last().expect("a non-empty line has a token");
            return Err(LineError::at(
                last,
                "expected a command after the prefix (-A, -I, -D, -R, -N, -X, -F, -Z, -P or -E)",
            ));
        };
        let chain = |i: usize| rest.get(i);
        match cmd.text.as_str() {
            "-A" | "--append" => {
                let c = self.existing_chain(cmd, chain(0))?;
                let r = self.rule(&c, &rest[1..])?;
                self.chain_mut(&c).rules.push(r);
            }
            "-I" | "--insert" => {
                let c = self.existing_chain(cmd, chain(0))?;
                let (pos, spec) = match rest.get(1).and_then(|t| t.text.parse::<usize>().ok()) {
                    Some(n) => (n, &rest[2..]),
                    None => (1, &rest[1..]),
                };
                let r = self.rule(&c, spec)?;
                let rules = &mut self.chain_mut(&c).rules;
                if pos == 0 || pos > rules.len() + 1 {
                    return Err(LineError::at(&rest[1], "Index of insertion too big."));
                }
                rules.insert(pos - 1, r);
            }
            "-D" | "--delete" => self.delete(cmd, rest)?,
            "-R" | "--replace" => {
                let c = self.existing_chain(cmd, chain(0))?;
                let num = rule_num(cmd, rest.get(1))?;
                let r = self.rule(&c, &rest[2..])?;
                let rules = &mut self.chain_mut(&c).rules;
                match rules.get_mut(num - 1) {
                    Some(slot) => *slot = r,
                    None => return Err(LineError::at(&rest[1], "Index of replacement too big.")),
                }
            }
            "-N" | "--new-chain" => {
                let name = chain(0).ok_or_else(|| LineError::at(cmd, "-N requires a chain name"))?;
                if self.table.chains.contains_key(&name.text) {
                    return Err(LineError::at(name, "Chain already exists."));
                }
                self.new_chain(name)?;
                no_extra(rest.get(1))?;
            }
            "-X" | "--delete-chain" => self.delete_chain(cmd, chain(0))?,
            "-F" | "--flush" => match chain(0) {
                Some(_) => {
                    let c = self.existing_chain(cmd, chain(0))?;
                    self.chain_mut(&c).rules.clear();
                }
                None => self.table.chains.values_mut().for_each(|c| c.rules.clear()),
            },
            "-Z" | "--zero" => {
                if chain(0).is_some() {
                    self.existing_chain(cmd, chain(0))?;
                }
            }
            "-P" | "--policy" => self.policy(cmd, chain(0), chain(1))?,
            "-E" | "--rename-chain" => self.rename(cmd, chain(0), chain(1))?,
            _ => {
                let msg = "expected a command first (-A, -I, -D, -R, -N, -X, -F, -Z, -P or -E)";
                return Err(LineError::at(cmd, msg));
            }
        }
        Ok(())
    }

    fn chain_mut(&mut self, name: &str) -> &mut Chain {
        self.table.chains.get_mut(name).expect("existing_chain checked the chain exists")
    }

    fn existing_chain(&self, cmd: &Tok, name: Option<&Tok>) -> Result<String, LineError> {
        let name = name.ok_or_else(|| LineError::at(cmd, format!("{} requires a chain name", cmd.text)))?;
        if !self.table.chains.contains_key(&name.text) {
            return Err(LineError::at(name, "No chain/target/match by that name."));
        }
        Ok(name.text.clone())
    }

    fn new_chain(&mut self, name: &Tok) -> Result<(), LineError> {
        let n = &name.text;
        if n.len() > 28 {
            return Err(LineError::at(name, format!("chain name `{n}' too long (must be under 29 chars)")));
        }
        if n.starts_with('-') || n.starts_with('!') || n.is_empty() {
            return Err(LineError::at(name, "chain name not allowed to start with `-' or `!'"));
        }
        if TARGET_NAMES.contains(&n.as_str()) || Hook::from_chain_name(n).is_some() {
            return Err(LineError::at(
                name,
                format!("chain name `{n}' clashes with a target or built-in chain name"),
            ));
        }
        self.table.chains.insert(n.clone(), Chain { policy: None, rules: Vec::new() });
        Ok(())
    }

    /// Parses a rule for `chain` and applies the checks iptables and the kernel make
    /// when the rule is added.
    fn rule(&self, chain: &str, spec: &[Tok]) -> Result<Rule, LineError> {
        let ParsedRule { rule, target_tok } = parse_rule(spec)?;
        if let (Some(Target::Jump(c) | Target::Goto(c)), Some(tok)) = (&rule.target, &target_tok)
            && !self.table.chains.contains_key(c)
        {
            let known = TARGET_NAMES.join(", ");
            return Err(LineError::at(
                tok,
                format!("Chain '{c}' does not exist (targets supported: {known})"),
            ));
        }
        let anchor = spec.first().cloned().unwrap_or(Tok { text: String::new(), col: 1 });
        if rule.matches.iter().any(|m| matches!(m, Match::Nfacct(_))) && !self.nfacct {
            let msg = "RULE_APPEND failed (No such file or directory): the kernel has no xt_nfacct module";
            return Err(LineError::at(&anchor, msg));
        }
        validate::builtin_chain_rule(&self.table, chain, &rule).map_err(|m| LineError::at(&anchor, m))?;
        Ok(rule)
    }

    fn delete(&mut self, cmd: &Tok, rest: &[Tok]) -> Result<(), LineError> {
        let c = self.existing_chain(cmd, rest.first())?;
        let numeric = rest.get(1).filter(|t| t.text.parse::<usize>().is_ok());
        if let Some(n) = numeric {
            let num = rule_num(cmd, Some(n))?;
            let rules = &mut self.chain_mut(&c).rules;
            if num > rules.len() {
                return Err(LineError::at(n, "Index of deletion too big."));
            }
            rules.remove(num - 1);
            return Ok(());
        }
        let r = self.rule(&c, &rest[1..])?;
        let rules = &mut self.chain_mut(&c).rules;
        match rules.iter().position(|x| *x == r) {
            Some(i) => {
                rules.remove(i);
                Ok(())
            }
            None => Err(LineError::at(cmd, "Bad rule (does a matching rule exist in that chain?).")),
        }
    }

    fn delete_chain(&mut self, cmd: &Tok, name: Option<&Tok>) -> Result<(), LineError> {
        let targets: Vec<String> = match name {
            Some(n) => {
                let c = self.existing_chain(cmd, Some(n))?;
                if self.table.is_builtin(&c) {
                    return Err(LineError::at(n, "Can't delete built-in chain"));
                }
                vec![c]
            }
            None => self.table.chains.keys().filter(|c| !self.table.is_builtin(c)).cloned().collect(),
        };
        let busy =
            |c: &String| {
                !self.table.chains[c].rules.is_empty()
                    || self.table.chains.values().any(|ch| {
                        ch.rules.iter().any(|r| r.target.as_ref().and_then(Target::chain) == Some(c))
                    })
            };
        if let Some(c) = targets.iter().find(|c| busy(c)) {
            let tok = name.unwrap_or(cmd);
            return Err(LineError::at(tok, format!("CHAIN_DEL failed (Device or resource busy): chain {c}")));
        }
        for c in targets {
            self.table.chains.shift_remove(&c);
        }
        Ok(())
    }

    fn policy(&mut self, cmd: &Tok, name: Option<&Tok>, pol: Option<&Tok>) -> Result<(), LineError> {
        let c = self.existing_chain(cmd, name)?;
        let pol = pol.ok_or_else(|| LineError::at(cmd, "-P requires a chain and a policy"))?;
        let p = match pol.text.as_str() {
            "ACCEPT" => Policy::Accept,
            "DROP" => Policy::Drop,
            _ => return Err(LineError::at(pol, "bad policy (expected ACCEPT or DROP)")),
        };
        if !self.table.is_builtin(&c) {
            return Err(LineError::at(pol, "Bad built-in chain name"));
        }
        self.chain_mut(&c).policy = Some(p);
        Ok(())
    }

    fn rename(&mut self, cmd: &Tok, old: Option<&Tok>, new: Option<&Tok>) -> Result<(), LineError> {
        let o = self.existing_chain(cmd, old)?;
        let new = new.ok_or_else(|| LineError::at(cmd, "-E requires the old and the new chain name"))?;
        if self.table.is_builtin(&o) {
            return Err(LineError::at(cmd, "Can't rename a built-in chain"));
        }
        if self.table.chains.contains_key(&new.text) {
            return Err(LineError::at(new, "File exists"));
        }
        let idx = self.table.chains.get_index_of(&o).expect("exists");
        self.new_chain(new)?;
        let chain = self.table.chains.shift_remove(&o).expect("exists");
        let last = self.table.chains.len() - 1;
        self.table.chains[last] = chain;
        self.table.chains.move_index(last, idx);
        for ch in self.table.chains.values_mut() {
            for r in &mut ch.rules {
                if let Some(Target::Jump(c) | Target::Goto(c)) = &mut r.target
                    && *c == o
                {
                    c.clone_from(&new.text);
                }
            }
        }
        Ok(())
    }
}

fn rule_num(cmd: &Tok, t: Option<&Tok>) -> Result<usize, LineError> {
    let t = t.ok_or_else(|| LineError::at(cmd, format!("{} requires a rule number", cmd.text)))?;
    match t.text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(LineError::at(t, "Invalid rule number (expected 1 or more)")),
    }
}

fn no_extra(t: Option<&Tok>) -> Result<(), LineError> {
    match t {
        Some(t) => Err(LineError::at(t, "unexpected argument")),
        None => Ok(()),
    }
}

/// `[PKTS:BYTES]`, both decimal: iptables-restore's counter prefix.
fn counters(t: &Tok) -> Result<(), LineError> {
    let inner = t.text.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    let ok = inner.and_then(|s| s.split_once(':')).is_some_and(|(p, b)| {
        let num = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        num(p) && num(b)
    });
    if ok { Ok(()) } else { Err(LineError::at(t, "bad counters: expected [PACKETS:BYTES]")) }
}
