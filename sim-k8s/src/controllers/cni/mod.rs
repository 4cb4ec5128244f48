//! CNI plugins as the kubelet runs them for a pod sandbox: `bridge` with `host-local`
//! IPAM (containernetworking/plugins), producing the same device names, addresses and
//! routes as the real plugins.

pub mod bridge;
pub mod host_local;
pub mod portmap;
