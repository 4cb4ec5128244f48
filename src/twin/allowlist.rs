//! The allowlist: differences the project (or a user) accepts, each with a reason and a
//! section of docs/fidelity.md. The project's own list, tests/twin-allowlist.txt, is
//! compiled in ([`Allowlist::builtin`]) and always applies, reported as "known
//! deviation".

use std::path::Path;

use super::compare::{Item, Status};

/// Accepted differences: `ITEM-PATTERN | reason | docs/fidelity.md#anchor` per line,
/// `*` matches any text, `#` starts a comment. A pattern matches an item's key
/// (`probe step-3-udp outcome`), or the key with the first word of each side,
/// `KEY: SIM -> KERNEL` (`probe *-udp outcome: unreachable -> refused`), so that an
/// entry can accept one particular difference of outcome classes and nothing else.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    entries: Vec<(String, String, String)>,
}

impl Allowlist {
    pub fn parse(text: &str) -> Result<Allowlist, String> {
        let mut entries = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = l.split('|').map(str::trim).collect();
            match parts.as_slice() {
                [pat, reason, doc]
                    if !pat.is_empty() && !reason.is_empty() && doc.starts_with("docs/fidelity.md") =>
                {
                    entries.push((pat.to_string(), reason.to_string(), doc.to_string()))
                }
                _ => {
                    return Err(format!(
                        "line {}: want `ITEM | reason | docs/fidelity.md#anchor`, found {raw:?}",
                        n + 1
                    ));
                }
            }
        }
        Ok(Allowlist { entries })
    }

    /// The project's own list (tests/twin-allowlist.txt, compiled in): differences known
    /// project-wide, each explained in docs/fidelity.md. Its reasons read
    /// `known deviation: ...`.
    pub fn builtin() -> Allowlist {
        let mut l =
            Allowlist::parse(BUILTIN).expect("tests/twin-allowlist.txt parses (tests/twin.rs checks it)");
        for e in &mut l.entries {
            e.1 = format!("known deviation: {}", e.1);
        }
        l
    }

    /// `self`, then the entries of `other` it does not have.
    pub fn and(mut self, other: Allowlist) -> Allowlist {
        for e in other.entries {
            if !self.entries.iter().any(|x| x.0 == e.0) {
                self.entries.push(e);
            }
        }
        self
    }

    pub fn load(path: &Path) -> Result<Allowlist, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Allowlist::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The entry accepting `it`, as an `Allowed` status.
    pub fn find(&self, it: &Item) -> Option<Status> {
        let word = |t: &str| t.split_whitespace().next().unwrap_or("(empty)").to_string();
        let long = format!("{}: {} -> {}", it.key, word(&it.sim), word(&it.kernel));
        self.entries
            .iter()
            .find(|(p, _, _)| glob(p, &it.key) || glob(p, &long))
            .map(|(_, r, d)| Status::Allowed { reason: r.clone(), doc: d.clone() })
    }

    /// `(pattern, reason, docs/fidelity.md#anchor)` of every entry.
    pub fn entries(&self) -> &[(String, String, String)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// tests/twin-allowlist.txt, as compiled in.
const BUILTIN: &str = include_str!("../../tests/twin-allowlist.txt");

pub(crate) fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len())
                    .any(|i| s.is_char_boundary(head.len() + i) && glob(rest, &s[head.len() + i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_lines_need_a_pattern_a_reason_and_a_fidelity_anchor() {
        let l =
            Allowlist::parse("# comment\n\nprobe *-udp outcome | a reason | docs/fidelity.md#x\n").unwrap();
        assert_eq!(l.entries().len(), 1);
        for bad in [
            "probe x | reason",
            "probe x | reason | docs/other.md#x",
            " | reason | docs/fidelity.md#x",
            "probe x |  | docs/fidelity.md#x",
        ] {
            let e = Allowlist::parse(&format!("# ok\n{bad}\n")).unwrap_err();
            assert!(e.starts_with("line 2: want `ITEM | reason | docs/fidelity.md#anchor`"), "{e}");
        }
        assert!(Allowlist::builtin().entries().iter().all(|e| e.1.starts_with("known deviation: ")));
    }

    #[test]
    fn glob_stars_match_any_text_and_nothing_else_is_special() {
        assert!(glob("probe *-udp outcome", "probe step-3#2-udp outcome"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a-b-b-c"));
        assert!(!glob("a*b*c", "a-c-b"));
        assert!(!glob("probe *-udp outcome", "probe step-3-tcp outcome"));
        assert!(glob("probe ?", "probe ?") && !glob("probe ?", "probe x"));
        assert!(glob("é*", "éé"), "multi-byte text");
    }
}
