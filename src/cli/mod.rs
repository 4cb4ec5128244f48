//! One module per command. Commands return the process exit code:
//! 0 ok, 1 an expectation failed, 2 bad input.

pub mod iptables;
pub mod run;
pub mod show;
pub mod trace;
pub mod validate;

use std::path::Path;

use sim_k8s::scenario::{self, Scenario};

pub const EXIT_OK: u8 = 0;
pub const EXIT_UNMET: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

/// Loads a scenario, printing its errors (FILE:LINE:COL: ...) on failure and, like
/// kubectl, its `Warning:` lines (deprecated API versions) on stderr.
pub fn load(path: &Path) -> Result<Scenario, u8> {
    let s = load_quiet(path)?;
    for w in s.warnings() {
        eprintln!("Warning: {w}");
    }
    Ok(s)
}

/// [`load`] without the warnings (for `run`, whose report prints them).
pub fn load_quiet(path: &Path) -> Result<Scenario, u8> {
    scenario::load(path).map_err(|e| {
        eprintln!("{e}");
        EXIT_BAD_INPUT
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}
