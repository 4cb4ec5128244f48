//! A model of the Linux network stack, configured exactly like a Linux node: only
//! through [`ops::NetOp`], each of which renders as the `ip`/`bridge`/`sysctl`/
//! `iptables-restore` command that does the same on Linux. No Kubernetes words here.

pub mod capture;
pub mod carrier;
pub mod conntrack;
pub mod device;
pub mod hooks;
pub mod hop;
pub mod neigh;
pub mod netfilter;
pub mod netns;
pub mod network;
pub mod ops;
pub mod packet;
pub mod path;
pub mod route;
pub mod show;
pub mod socket;
pub mod stack;
pub mod sysctl;
pub mod wire;
