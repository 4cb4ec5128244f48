//! Netfilter of one network namespace, as iptables (nf_tables backend, 1.8.9) and the
//! kernel have it: the raw, mangle, nat and filter tables loaded with
//! `iptables-restore`, printed with `iptables-save`, and traversed hook by hook.
//!
//! Call order for the packet path: [`Netfilter::restore`] whenever a component runs
//! `iptables-restore`; for each packet at each hook, in kernel priority order (raw,
//! [conntrack], mangle, nat, filter), [`Netfilter::evaluate`] with the packet's
//! conntrack view; apply the returned mark, NAT action and verdict. The nat table
//! must only be evaluated for a connection's first packet (conntrack keeps the
//! binding). [`trace`] runs a whole hook walk for one new connection and lists every
//! possible outcome of random choices.
//!
//! Modules: [`rule`], [`target`], [`matches`] (data); [`spec`] with `spec_match`,
//! `spec_match_opts`, `spec_target`, `values` (argument parsing); [`parse`] with
//! `apply`, `validate` (restore); [`save`]; [`eval`] with `matching`, [`recent`],
//! [`decider`]; [`index`]; [`trace`] with `trace_text`.
//! Differences from Linux are listed in each module's doc and in
//! `docs/concepts/netfilter.md`.

mod apply;
pub mod decider;
pub mod eval;
pub mod index;
mod log;
pub mod matches;
mod matching;
pub mod parse;
pub mod recent;
pub mod rule;
pub mod save;
pub mod spec;
mod spec_match;
mod spec_match_opts;
mod spec_target;
pub mod target;
pub mod trace;
mod trace_text;
mod validate;
mod values;

use std::collections::BTreeMap;

pub use decider::{Decider, RngDecider, ScriptedDecider};
pub use eval::{CtInfo, CtState, EvalContext, Evaluation, MatchState, PacketInfo, RuleHit, Verdict};
pub use matches::AddrTypeSet;
pub use parse::{RestoreError, RestoreSummary};
pub use rule::{AddrMask, Hook, NatAction, NatRange, Policy, RejectWith, Rule, Table, TableName, Target};
pub use validate::MAX_JUMP_DEPTH;

use eval::ChainCache;

/// All iptables tables of one namespace plus the state matches keep between packets.
#[derive(Clone, Debug)]
pub struct Netfilter {
    /// Only tables some restore has mentioned exist (as with iptables-nft).
    tables: BTreeMap<TableName, Table>,
    caches: BTreeMap<TableName, Vec<ChainCache>>,
    state: MatchState,
    nfacct_available: bool,
    index_enabled: bool,
}

impl Default for Netfilter {
    fn default() -> Self {
        Self::new()
    }
}

impl Netfilter {
    /// A namespace with no iptables tables yet (every hook accepts).
    pub fn new() -> Self {
        Netfilter {
            tables: BTreeMap::new(),
            caches: BTreeMap::new(),
            state: MatchState::default(),
            nfacct_available: false,
            index_enabled: true,
        }
    }

    /// Whether the kernel has `xt_nfacct` (default false, like the reference lab
    /// kernel): without it a restore with `-m nfacct` fails.
    pub fn set_nfacct_available(&mut self, yes: bool) {
        self.nfacct_available = yes;
    }

    /// Turns the chain index off (for comparing with plain linear evaluation).
    pub fn set_index_enabled(&mut self, yes: bool) {
        self.index_enabled = yes;
    }

    /// `iptables-restore [--noflush] < input`. Tables committed before an error stay
    /// committed (see [`parse`]); the error lists them.
    pub fn restore(&mut self, input: &str, noflush: bool) -> Result<RestoreSummary, RestoreError> {
        let result = parse::restore(input, noflush, self.nfacct_available, &mut self.tables);
        let touched = match &result {
            Ok(s) => s.tables.clone(),
            Err(e) => e.committed.clone(),
        };
        for t in touched {
            self.rebuild(t);
        }
        result
    }

    fn rebuild(&mut self, t: TableName) {
        let table = &self.tables[&t];
        let caches = table
            .chains
            .iter()
            .map(|(name, c)| ChainCache {
                texts: c.rules.iter().map(|r| format!("-A {name}{}", save::rule_spec(r))).collect(),
                targets: c
                    .rules
                    .iter()
                    .map(|r| r.target.as_ref().map(save::target_text).unwrap_or_default())
                    .collect(),
                index: index::ChainIndex::build(&c.rules),
            })
            .collect();
        self.caches.insert(t, caches);
        self.state.nth.retain(|(table, _, _), _| *table != t);
        let used: Vec<String> = self
            .tables
            .values()
            .flat_map(|t| t.chains.values())
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.matches)
            .filter_map(|m| match m {
                matches::Match::Recent(r) => Some(r.name.clone()),
                _ => None,
            })
            .collect();
        self.state.recent.retain_names(&used);
    }

    /// `iptables-save`: every existing table in iptables-nft's order (mangle, raw,
    /// filter, nat), each between header and footer comment lines.
    pub fn save(&self) -> String {
        TableName::ALL
            .into_iter()
            .filter(|t| self.tables.contains_key(t))
            .map(|t| self.save_table(t))
            .collect()
    }

    /// `iptables-save -t TABLE` (empty if the table does not exist).
    pub fn save_table(&self, t: TableName) -> String {
        match self.tables.get(&t) {
            Some(table) => format!("{}\n{}{}\n", save::HEADER, save::table(table), save::FOOTER),
            None => String::new(),
        }
    }

    /// The table, if some restore created it.
    pub fn table(&self, t: TableName) -> Option<&Table> {
        self.tables.get(&t)
    }

    /// Number of rules in all tables.
    pub fn rule_count(&self) -> usize {
        self.tables.values().map(Table::rule_count).sum()
    }

    /// State of recent lists and nth counters.
    pub fn match_state(&self) -> &MatchState {
        &self.state
    }

    /// Traverses `table` at `hook` for one packet (see [`eval`]). Updates recent lists
    /// and nth counters.
    pub fn evaluate(
        &mut self,
        table: TableName,
        hook: Hook,
        pkt: &PacketInfo,
        ctx: &mut EvalContext,
    ) -> Evaluation {
        let mut state = std::mem::take(&mut self.state);
        let ev = self.evaluate_with_state(table, hook, pkt, ctx, &mut state);
        self.state = state;
        ev
    }

    /// Like [`Netfilter::evaluate`] but with match state held by the caller (the
    /// tracer uses a copy so that enumerating outcomes changes nothing).
    pub fn evaluate_with_state(
        &self,
        table: TableName,
        hook: Hook,
        pkt: &PacketInfo,
        ctx: &mut EvalContext,
        state: &mut MatchState,
    ) -> Evaluation {
        match (self.tables.get(&table), self.caches.get(&table)) {
            (Some(t), Some(c)) => eval::traverse(t, c, self.index_enabled, hook, pkt, ctx, state),
            _ => Evaluation {
                verdict: Verdict::Accept,
                mark: pkt.mark,
                ctmark: None,
                nat: None,
                notrack: false,
                hits: vec![],
                logs: vec![],
                by_policy: true,
                rules_tested: 0,
            },
        }
    }

    /// Replaces the match state (e.g. with one a tracer run produced).
    pub fn set_match_state(&mut self, state: MatchState) {
        self.state = state;
    }
}
