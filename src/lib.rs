//! The `kube-netsim` command-line tool as a library: commands (`cli`) and the
//! renderers of a run (`render`), so tests can drive them without a process.

pub mod cli;
pub mod render;
pub mod twin;
