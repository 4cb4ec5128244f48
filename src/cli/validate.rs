//! `kube-netsim validate FILE`: load and check, run nothing.

use super::outln;
use std::path::PathBuf;

use super::{EXIT_OK, load};

#[derive(clap::Args)]
pub struct ValidateArgs {
    pub file: PathBuf,
}

pub fn run(a: ValidateArgs) -> u8 {
    match load(&a.file) {
        Ok(s) => {
            outln!(
                "{}: ok ({} nodes, {} pods, {} steps)",
                a.file.display(),
                s.cluster.nodes.len(),
                s.pods.len(),
                s.steps.len()
            );
            EXIT_OK
        }
        Err(code) => code,
    }
}
