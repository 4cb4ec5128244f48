//! The checks the kernel makes when a table is loaded: no jump loop reachable from a
//! built-in chain (nf_tables: "Too many links"; loops among unreachable user chains
//! are accepted, as on the kernel), targets and matches used only from hooks where
//! they are valid (DNAT/REDIRECT: PREROUTING, OUTPUT; SNAT: POSTROUTING, INPUT;
//! MASQUERADE: POSTROUTING; REJECT: INPUT, FORWARD, OUTPUT; addrtype
//! --limit-iface-in/out), and the per-rule checks iptables makes (NAT targets only in
//! nat, NOTRACK/CT only in raw, no `-o` in INPUT/PREROUTING, no `-i` in
//! OUTPUT/POSTROUTING). Because loops are rejected here, evaluation can never recurse
//! forever, and nesting deeper than [`MAX_JUMP_DEPTH`] is rejected as nf_tables does.

use indexmap::IndexMap;

use super::matches::Match;
use super::rule::{Hook, NatAction, Rule, Table, TableName, Target};

/// Checks made when a rule is added to `chain` (iptables userspace and table checks).
pub fn builtin_chain_rule(t: &Table, chain: &str, r: &Rule) -> Result<(), String> {
    let invalid = |what: &str| Err(format!("RULE_APPEND failed (Invalid argument): {what}"));
    match &r.target {
        Some(Target::Nat(_)) if t.name != TableName::Nat => {
            return invalid(&format!("{} is only valid in the nat table", target_name(r)));
        }
        Some(Target::Notrack | Target::CtNotrack) if t.name != TableName::Raw => {
            return invalid(&format!("{} is only valid in the raw table", target_name(r)));
        }
        _ => {}
    }
    if !t.is_builtin(chain) {
        return Ok(());
    }
    let hook = Hook::from_chain_name(chain).expect("built-in chains are hook names");
    if r.out_iface.is_some() && matches!(hook, Hook::Prerouting | Hook::Input) {
        return Err(format!("Can't use -o with {chain}"));
    }
    if r.in_iface.is_some() && matches!(hook, Hook::Output | Hook::Postrouting) {
        return Err(format!("Can't use -i with {chain}"));
    }
    // xt_physdev's checkentry: the output port is not known for locally sent packets
    // unless they are bridged. (With iptables-nft the check sees only the built-in
    // chain: the same rule in a user chain reached from OUTPUT loads.)
    let physdev_out_unbridged = r.matches.iter().any(|m| {
        matches!(m, Match::Physdev(p) if (p.phys_out.is_some() || p.is_out.is_some()) && p.is_bridged != Some(false))
    });
    if hook == Hook::Output && physdev_out_unbridged {
        return Err(format!(
            "RULE_APPEND failed (Invalid argument): rule in chain {chain} (--physdev-out and --physdev-is-out \
             only supported in the FORWARD and POSTROUTING chains with bridged traffic)"
        ));
    }
    Ok(())
}

fn target_name(r: &Rule) -> &str {
    r.target.as_ref().map_or("", |t| t.name())
}

/// Whole-table checks at COMMIT.
pub fn table(t: &Table) -> Result<(), String> {
    let masks = hook_masks(t)?;
    for (name, chain) in &t.chains {
        let mask = masks.get(name.as_str()).copied().unwrap_or(0);
        for (i, r) in chain.rules.iter().enumerate() {
            rule_hooks(r, mask).map_err(|m| {
                format!("RULE_APPEND failed (Invalid argument): rule {} in chain {name}: {m}", i + 1)
            })?;
        }
    }
    Ok(())
}

fn allowed(mask: u8, hooks: &[Hook]) -> bool {
    let ok: u8 = hooks.iter().map(|h| h.bit()).fold(0, |a, b| a | b);
    mask & !ok == 0
}

fn rule_hooks(r: &Rule, mask: u8) -> Result<(), String> {
    use Hook::*;
    let need = |hooks: &[Hook], what: &str| {
        if allowed(mask, hooks) {
            Ok(())
        } else {
            Err(format!("{what} is reached from a hook where it is not valid"))
        }
    };
    match &r.target {
        Some(Target::Nat(NatAction::Dnat { .. })) => need(&[Prerouting, Output], "DNAT")?,
        Some(Target::Nat(NatAction::Redirect { .. })) => need(&[Prerouting, Output], "REDIRECT")?,
        Some(Target::Nat(NatAction::Snat { .. })) => need(&[Postrouting, Input], "SNAT")?,
        Some(Target::Nat(NatAction::Masquerade { .. })) => need(&[Postrouting], "MASQUERADE")?,
        Some(Target::Reject(_)) => need(&[Input, Forward, Output], "REJECT")?,
        _ => {}
    }
    for m in &r.matches {
        if let Match::Addrtype(a) = m {
            if a.limit_iface_in {
                need(&[Prerouting, Input, Forward], "addrtype --limit-iface-in")?;
            }
            if a.limit_iface_out {
                need(&[Postrouting, Output, Forward], "addrtype --limit-iface-out")?;
            }
        }
    }
    Ok(())
}

/// nf_tables' jump stack (NFT_JUMP_STACK_SIZE 16): a chain may sit at most 15 jumps
/// or gotos below a built-in chain (verified: 15 loads, 16 fails with EMLINK).
pub const MAX_JUMP_DEPTH: usize = 15;

/// For every chain reachable from a built-in chain, the set of hooks that reach it.
/// A jump loop on a reachable path is an error.
fn hook_masks(t: &Table) -> Result<IndexMap<&str, u8>, String> {
    let mut masks: IndexMap<&str, u8> = IndexMap::new();
    for h in t.name.hooks() {
        let mut path = Vec::new();
        visit(t, h.chain_name(), h.bit(), &mut path, &mut masks)?;
    }
    Ok(masks)
}

fn visit<'a>(
    t: &'a Table,
    chain: &'a str,
    bit: u8,
    path: &mut Vec<&'a str>,
    masks: &mut IndexMap<&'a str, u8>,
) -> Result<(), String> {
    if let Some(pos) = path.iter().position(|c| *c == chain) {
        let cycle: Vec<&str> = path[pos..].iter().copied().chain([chain]).collect();
        return Err(format!(
            "RULE_APPEND failed (Too many links): jump loop {} reachable from built-in chain {}",
            cycle.join(" -> "),
            path[0]
        ));
    }
    if path.len() > MAX_JUMP_DEPTH {
        return Err(format!(
            "RULE_APPEND failed (Too many links): chain {chain} is more than {MAX_JUMP_DEPTH} jumps below built-in chain {}",
            path[0]
        ));
    }
    let seen = masks.entry(chain).or_insert(0);
    if *seen & bit != 0 {
        return Ok(());
    }
    *seen |= bit;
    path.push(chain);
    let c = &t.chains[chain];
    for r in &c.rules {
        if let Some(next) = r.target.as_ref().and_then(Target::chain) {
            let (next, _) = t.chains.get_key_value(next).expect("jump targets exist");
            visit(t, next, bit, path, masks)?;
        }
    }
    path.pop();
    Ok(())
}
