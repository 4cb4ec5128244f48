//! Rules outside the restore payload: the jumps kube-proxy ensures in the built-in
//! chains on every full sync (`iptablesJumpChains` + `iptablesKubeletJumpChains`, each
//! `EnsureChain` then `EnsureRule(Prepend)`), its canary chains, and kubelet's
//! `syncIPTablesRules` (kubelet_network_linux.go: KUBE-IPTABLES-HINT, KUBE-FIREWALL
//! with its jumps and martian-packet rule, KUBE-KUBELET-CANARY).
//!
//! "Ensure" means: create the chain / add the rule only if it is missing, comparing
//! rules the way `iptables -C` does (on the parsed rule, here on its iptables-save
//! text). [`ensure_payload`] turns a list of [`Ensure`]s into one restore input against
//! the node's current tables: `-N CHAIN` for missing chains, `-I CHAIN 1 ...` (prepend)
//! or `-A CHAIN ...` for missing rules, in list order, so the result equals running the
//! `iptables` commands one by one.

use sim_net::netfilter::{Netfilter, TableName, save};

/// kubelet's (and kube-proxy's duplicate) martian-packet rule.
pub const KUBE_FIREWALL_RULE: &str = "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP";

/// One `EnsureChain` or `EnsureRule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ensure {
    Chain {
        table: TableName,
        chain: String,
    },
    /// `spec` is everything after the chain name, `-j` included.
    Rule {
        table: TableName,
        chain: String,
        spec: String,
        prepend: bool,
    },
}

fn chain(table: TableName, chain: &str) -> Ensure {
    Ensure::Chain { table, chain: chain.to_string() }
}

fn rule(table: TableName, chain: &str, spec: String, prepend: bool) -> Ensure {
    Ensure::Rule { table, chain: chain.to_string(), spec, prepend }
}

/// kubelet's `syncIPTablesRules` (IPv4), then its canary chains.
pub fn kubelet_ensures() -> Vec<Ensure> {
    let body = KUBE_FIREWALL_RULE.trim_start_matches("-A KUBE-FIREWALL ").to_string();
    vec![
        chain(TableName::Mangle, "KUBE-IPTABLES-HINT"),
        chain(TableName::Filter, "KUBE-FIREWALL"),
        rule(TableName::Filter, "OUTPUT", "-j KUBE-FIREWALL".into(), true),
        rule(TableName::Filter, "INPUT", "-j KUBE-FIREWALL".into(), true),
        rule(TableName::Filter, "KUBE-FIREWALL", body, false),
        chain(TableName::Mangle, "KUBE-KUBELET-CANARY"),
        chain(TableName::Nat, "KUBE-KUBELET-CANARY"),
        chain(TableName::Filter, "KUBE-KUBELET-CANARY"),
    ]
}

/// kube-proxy's canary chains (created by its iptables monitor at startup).
pub fn kube_proxy_canary_ensures() -> Vec<Ensure> {
    [TableName::Mangle, TableName::Nat, TableName::Filter]
        .into_iter()
        .map(|t| chain(t, "KUBE-PROXY-CANARY"))
        .collect()
}

/// The jumps of a full sync, in kube-proxy's order (reference §1.2).
pub fn kube_proxy_jump_ensures() -> Vec<Ensure> {
    use TableName::{Filter, Nat};
    let new = "-m conntrack --ctstate NEW ";
    let jumps: [(TableName, &str, &str, &str, &str); 14] = [
        (Filter, "INPUT", "KUBE-EXTERNAL-SERVICES", new, "kubernetes externally-visible service portals"),
        (Filter, "FORWARD", "KUBE-EXTERNAL-SERVICES", new, "kubernetes externally-visible service portals"),
        (Filter, "INPUT", "KUBE-NODEPORTS", "", "kubernetes health check service ports"),
        (Filter, "FORWARD", "KUBE-SERVICES", new, "kubernetes service portals"),
        (Filter, "OUTPUT", "KUBE-SERVICES", new, "kubernetes service portals"),
        (Filter, "FORWARD", "KUBE-FORWARD", "", "kubernetes forwarding rules"),
        (Filter, "INPUT", "KUBE-PROXY-FIREWALL", new, "kubernetes load balancer firewall"),
        (Filter, "OUTPUT", "KUBE-PROXY-FIREWALL", new, "kubernetes load balancer firewall"),
        (Filter, "FORWARD", "KUBE-PROXY-FIREWALL", new, "kubernetes load balancer firewall"),
        (Nat, "OUTPUT", "KUBE-SERVICES", "", "kubernetes service portals"),
        (Nat, "PREROUTING", "KUBE-SERVICES", "", "kubernetes service portals"),
        (Nat, "POSTROUTING", "KUBE-POSTROUTING", "", "kubernetes postrouting rules"),
        (Filter, "INPUT", "KUBE-FIREWALL", "", ""),
        (Filter, "OUTPUT", "KUBE-FIREWALL", "", ""),
    ];
    let mut out = Vec::new();
    for (table, src, dst, extra, comment) in jumps {
        out.push(chain(table, dst));
        let comment =
            if comment.is_empty() { String::new() } else { format!("-m comment --comment \"{comment}\" ") };
        out.push(rule(table, src, format!("{extra}{comment}-j {dst}"), true));
    }
    out
}

/// kubelet's rules as a restore input for a node whose tables are `nf` (empty if all
/// is already there).
pub fn kubelet_payload(nf: &Netfilter) -> String {
    ensure_payload(nf, &kubelet_ensures())
}

/// kube-proxy's canary chains and jump rules as one restore input against `nf`.
pub fn kube_proxy_jumps_payload(nf: &Netfilter) -> String {
    let mut all = kube_proxy_canary_ensures();
    all.extend(kube_proxy_jump_ensures());
    ensure_payload(nf, &all)
}

/// The restore input (`--noflush`) that performs `ensures` on a node whose tables are
/// `nf`; empty when nothing is missing.
pub fn ensure_payload(nf: &Netfilter, ensures: &[Ensure]) -> String {
    let mut blocks: Vec<(TableName, Vec<String>)> = Vec::new();
    let mut chains_added: Vec<(TableName, String)> = Vec::new();
    let mut rules_added: Vec<(TableName, String, String)> = Vec::new();
    for e in ensures {
        let (table, line) = match e {
            Ensure::Chain { table, chain } => {
                if chain_exists(nf, *table, chain) || chains_added.contains(&(*table, chain.clone())) {
                    continue;
                }
                chains_added.push((*table, chain.clone()));
                (*table, format!("-N {chain}"))
            }
            Ensure::Rule { table, chain, spec, prepend } => {
                let text = normalized(*table, chain, spec);
                let key = (*table, chain.clone(), text.clone());
                if rule_exists(nf, *table, chain, &text) || rules_added.contains(&key) {
                    continue;
                }
                rules_added.push(key);
                let cmd =
                    if *prepend { format!("-I {chain} 1 {spec}") } else { format!("-A {chain} {spec}") };
                (*table, cmd)
            }
        };
        match blocks.iter_mut().find(|(t, _)| *t == table) {
            Some((_, lines)) => lines.push(line),
            None => blocks.push((table, vec![line])),
        }
    }
    let mut out = String::new();
    for (table, lines) in blocks {
        out.push_str(&format!("*{table}\n"));
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}

fn chain_exists(nf: &Netfilter, table: TableName, chain: &str) -> bool {
    nf.table(table).is_some_and(|t| t.chains.contains_key(chain))
}

fn rule_exists(nf: &Netfilter, table: TableName, chain: &str, text: &str) -> bool {
    let Some(c) = nf.table(table).and_then(|t| t.chains.get(chain)) else { return false };
    c.rules.iter().any(|r| save::rule_spec(r) == text)
}

/// The iptables-save form of `-A chain spec` (what `iptables -C` compares), obtained by
/// loading the rule into a scratch table.
fn normalized(table: TableName, chain: &str, spec: &str) -> String {
    let mut scratch = Netfilter::new();
    let mut input = format!("*{table}\n");
    let builtin = sim_net::netfilter::Hook::from_chain_name(chain).is_some();
    if !builtin {
        input.push_str(&format!(":{chain} - [0:0]\n"));
    }
    if let Some(target) = spec.rsplit("-j ").next().filter(|t| t.starts_with("KUBE-")) {
        input.push_str(&format!(":{} - [0:0]\n", target.trim()));
    }
    input.push_str(&format!("-A {chain} {spec}\nCOMMIT\n"));
    scratch.restore(&input, false).expect("kube-netsim's own ensure rules are valid iptables");
    let rules = &scratch.table(table).expect("the table was just restored").chains[chain].rules;
    save::rule_spec(&rules[0])
}
