//! One module per command. Commands return the process exit code:
//! 0 ok, 1 an expectation failed, 2 bad input.

pub mod iptables;
pub mod report;
pub mod run;
pub mod show;
pub mod trace;
pub mod validate;

/// `print!` that stops quietly when the reader goes away (`kube-netsim run F | head`):
/// std's `print!` panics on a closed pipe, and Rust ignores SIGPIPE, so without this a
/// truncated pager would end in a panic message.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::emit(format_args!($($arg)*)) };
}
/// `println!` with [`out!`]'s behaviour on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::emit(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use {out, outln};

/// Writes to stdout; a reader that has gone away ends the output silently. Other write
/// errors (a full disk behind a redirect) are reported on stderr.
pub fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("kube-netsim: cannot write the output: {e}");
    }
}

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
