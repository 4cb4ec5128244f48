//! `iptables-restore` input: `*table` ... `COMMIT` blocks with `:CHAIN POLICY [p:b]`
//! declarations, commands (`-A -I -D -R -N -X -F -Z -P -E`), `#` comments and
//! iptables' double-quote rules (inside quotes a backslash escapes the next character).
//!
//! Semantics, as iptables-nft-restore 1.8.9 does them (verified in a namespace):
//! - without `--noflush`, every table named by a `*table` line is emptied first (all
//!   rules and user chains gone, built-in policies back to ACCEPT); with `--noflush`
//!   only `:CHAIN` lines of user chains flush that chain;
//! - each table is committed at its `COMMIT`: an error discards the table being
//!   parsed and everything after it, while tables committed earlier in the same input
//!   stay committed (exactly what the kernel shows after a failed restore).
//!
//! Every error names line, column, the token and what was expected; nothing is skipped
//! silently and no input panics. Deviation: jump loops and hook restrictions (DNAT
//! outside PREROUTING/OUTPUT, ...) are reported at the `COMMIT` line, where iptables
//! names the line of the offending rule.

use std::collections::BTreeMap;

use super::apply::Tx;
use super::rule::{Policy, Table, TableName};
use super::spec::{SpecError, Tok};

/// Why a restore failed, and which tables were committed before the failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}:{col}: {msg}{}", token_note(.token))]
pub struct RestoreError {
    pub line: usize,
    pub col: usize,
    pub token: String,
    pub msg: String,
    /// Tables whose `COMMIT` had been processed before the error; they stay changed.
    pub committed: Vec<TableName>,
}

fn token_note(tok: &str) -> String {
    if tok.is_empty() { String::new() } else { format!(" (at `{tok}')") }
}

/// What a successful restore changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Tables committed, in input order.
    pub tables: Vec<TableName>,
}

/// An error before line/committed information is attached.
#[derive(Debug)]
pub struct LineError {
    pub col: usize,
    pub token: String,
    pub msg: String,
}

impl From<SpecError> for LineError {
    fn from(e: SpecError) -> Self {
        LineError { col: e.col, token: e.token, msg: e.msg }
    }
}

impl LineError {
    pub fn new(col: usize, token: &str, msg: impl Into<String>) -> Self {
        LineError { col, token: token.to_string(), msg: msg.into() }
    }
    pub fn at(tok: &Tok, msg: impl Into<String>) -> Self {
        LineError::new(tok.col, &tok.text, msg)
    }
}

/// Runs `input` against `tables` (the namespace's tables; a table appears there once
/// a restore mentions it). `nfacct` says whether the kernel has xt_nfacct.
pub fn restore(
    input: &str,
    noflush: bool,
    nfacct: bool,
    tables: &mut BTreeMap<TableName, Table>,
) -> Result<RestoreSummary, RestoreError> {
    let mut summary = RestoreSummary::default();
    let mut cur: Option<Tx> = None;
    let fail = |line: usize, e: LineError, s: &RestoreSummary| RestoreError {
        line,
        col: e.col,
        token: e.token,
        msg: e.msg,
        committed: s.tables.clone(),
    };
    let mut last_line = 0;
    for (idx, raw) in input.lines().enumerate() {
        let line = idx + 1;
        last_line = line;
        let text = raw.trim_end_matches('\r');
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let lead = text.len() - trimmed.len() + 1;
        match (&mut cur, trimmed.trim_end()) {
            (None, t) if t.starts_with('*') => {
                let table = TableName::parse(t[1..].trim()).ok_or_else(|| {
                    fail(
                        line,
                        LineError::new(lead, t, "unknown table (supported: raw, mangle, nat, filter)"),
                        &summary,
                    )
                })?;
                cur = Some(Tx::begin(tables.get(&table), table, noflush, nfacct));
            }
            (None, t) => {
                let tok = t.split_whitespace().next().unwrap_or(t);
                return Err(fail(
                    line,
                    LineError::new(lead, tok, "expected `*table' before rules"),
                    &summary,
                ));
            }
            (Some(_), "COMMIT") => {
                let tx = cur.take().expect("matched Some above");
                let table =
                    tx.commit().map_err(|m| fail(line, LineError::new(lead, "COMMIT", m), &summary))?;
                summary.tables.push(table.name);
                tables.insert(table.name, table);
            }
            (Some(_), t) if t.starts_with('*') => {
                return Err(fail(
                    line,
                    LineError::new(lead, t, "COMMIT expected before a new table"),
                    &summary,
                ));
            }
            (Some(tx), t) if t.starts_with(':') => {
                chain_line(tx, t, lead).map_err(|e| fail(line, e, &summary))?;
            }
            (Some(tx), _) => {
                let toks = tokenize(text).map_err(|e| fail(line, e, &summary))?;
                tx.command(&toks).map_err(|e| fail(line, e, &summary))?;
            }
        }
    }
    if cur.is_some() {
        let e = LineError::new(1, "", "COMMIT expected (input ended inside a table)");
        return Err(fail(last_line + 1, e, &summary));
    }
    Ok(summary)
}

/// `:NAME POLICY [packets:bytes]`.
fn chain_line(tx: &mut Tx, t: &str, lead: usize) -> Result<(), LineError> {
    let toks = tokenize(&t[1..]).map_err(|e| LineError { col: e.col + lead, ..e })?;
    let shift = |tok: &Tok| Tok { text: tok.text.clone(), col: tok.col + lead };
    let name =
        toks.first().map(shift).ok_or_else(|| LineError::new(lead, ":", "chain name expected after `:'"))?;
    let policy_tok = toks
        .get(1)
        .map(shift)
        .ok_or_else(|| LineError::at(&name, "Can't parse policy: expected ACCEPT, DROP or -"))?;
    let policy = match policy_tok.text.as_str() {
        "-" => None,
        "ACCEPT" => Some(Policy::Accept),
        "DROP" => Some(Policy::Drop),
        _ => return Err(LineError::at(&policy_tok, "bad policy (expected ACCEPT, DROP or -)")),
    };
    if let Some(c) = toks.get(2).map(shift)
        && !is_counters(&c.text)
    {
        return Err(LineError::at(&c, "bad counters (expected [packets:bytes])"));
    }
    if let Some(extra) = toks.get(3).map(shift) {
        return Err(LineError::at(&extra, "unexpected text after the chain's counters"));
    }
    tx.declare_chain(&name, policy)
}

fn is_counters(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else { return false };
    let Some((p, b)) = inner.split_once(':') else { return false };
    p.parse::<u64>().is_ok() && b.parse::<u64>().is_ok()
}

/// Splits a line into arguments the way iptables-restore does: whitespace separates,
/// `"..."` groups (quotes removed), and inside quotes `\x` stands for `x`.
pub fn tokenize(line: &str) -> Result<Vec<Tok>, LineError> {
    let mut toks = Vec::new();
    let mut cur: Option<Tok> = None;
    let mut quote_start: Option<usize> = None;
    let mut escaped = false;
    for (i, c) in line.chars().enumerate() {
        let col = i + 1;
        if quote_start.is_some() {
            let t = cur.get_or_insert_with(|| Tok { text: String::new(), col });
            match c {
                _ if escaped => {
                    t.text.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                '"' => quote_start = None,
                _ => t.text.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                quote_start = Some(col);
                cur.get_or_insert_with(|| Tok { text: String::new(), col });
            }
            c if c.is_whitespace() => toks.extend(cur.take()),
            _ => cur.get_or_insert_with(|| Tok { text: String::new(), col }).text.push(c),
        }
    }
    if let Some(q) = quote_start {
        return Err(LineError::new(q, "\"", "unterminated quote"));
    }
    toks.extend(cur.take());
    Ok(toks)
}
