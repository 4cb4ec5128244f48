//! The `portmap` CNI plugin (containernetworking/plugins plugins/meta/portmap, iptables
//! backend), chained after the bridge plugin as in flannel's `cbr0` conflist
//! (`{"type": "portmap", "capabilities": {"portMappings": true}}`): a container port
//! with a `hostPort` is DNATed from every local address of the pod's node, and only
//! that node. No kube-proxy, no Service: just these nat chains.
//!
//! On ADD, with the plugin's defaults (`snat: true`, mark bit 13):
//! - `CNI-HOSTPORT-SETMARK` (sets mark 0x2000) and `CNI-HOSTPORT-MASQ` (masquerades
//!   marked packets), with `-I POSTROUTING 1 ... -j CNI-HOSTPORT-MASQ`;
//! - `CNI-HOSTPORT-DNAT`, jumped to from the end of PREROUTING and OUTPUT with
//!   `-m addrtype --dst-type LOCAL`;
//! - the container's own chain `CNI-DN-` + the first 21 hex digits of
//!   sha512(network name + container ID), holding per mapping: mark hairpin traffic
//!   (from the pod's subnet), mark traffic from 127.0.0.1, DNAT to podIP:containerPort;
//!   and, inserted at the top of CNI-HOSTPORT-DNAT (the latest container wins a port),
//!   one `-m multiport --dports` jump per protocol (15 ports per rule at most).
//!
//! On DEL the container's chain and its jumps go; the shared chains stay. The plugin
//! runs individual `iptables` commands; here they are one `iptables-restore --noflush`
//! with the same resulting tables. `hostIP` is not modelled (the pod model has no such
//! field): mappings listen on every local address.

use std::fmt::Write as _;

use ipnet::Ipv4Net;
use sha2::{Digest, Sha512};

use crate::model::{Pod, Protocol};

/// The CNI network name of the cluster's conflist (kube-flannel's `cbr0`).
pub const NETWORK_NAME: &str = "cbr0";
pub const TOP_LEVEL_DNAT_CHAIN: &str = "CNI-HOSTPORT-DNAT";
pub const SET_MARK_CHAIN: &str = "CNI-HOSTPORT-SETMARK";
pub const MARK_MASQ_CHAIN: &str = "CNI-HOSTPORT-MASQ";
/// `DefaultMarkBit`: Kubernetes uses bits 14 and 15.
pub const MARK_BIT: u32 = 13;
/// multiport takes at most 15 ports per rule.
const MULTIPORT_MAX: usize = 15;

/// One entry of the runtime's `portMappings` (CNI CONVENTIONS.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// Lower case, as the runtime passes it (`tcp`).
    pub protocol: &'static str,
}

/// The mappings the runtime passes for a pod: every container port with a hostPort, in
/// spec order.
pub fn mappings(pod: &Pod) -> Vec<PortMapping> {
    if pod.host_network {
        return Vec::new();
    }
    pod.containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter_map(|p| {
            let protocol = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            p.host_port.map(|h| PortMapping { host_port: h, container_port: p.container_port, protocol })
        })
        .collect()
}

/// `utils.MustFormatChainNameWithPrefix(name, id, "DN-")`: 28 characters.
pub fn dnat_chain_name(network: &str, container_id: &str) -> String {
    let digest = Sha512::digest(format!("{network}{container_id}").as_bytes());
    let mut s = String::from("CNI-DN-");
    for b in digest.iter() {
        let _ = write!(s, "{b:02x}");
    }
    s.truncate(28);
    s
}

fn mark() -> String {
    let v = 1u32 << MARK_BIT;
    format!("0x{v:x}/0x{v:x}")
}

/// An iptables-save string argument: quoted, with `"` and `\` escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The jumps from CNI-HOSTPORT-DNAT to the container's chain, as iptables-save prints
/// them (without the `-A CHAIN` head), protocols sorted, ports in mapping order.
fn entry_rules(network: &str, container_id: &str, maps: &[PortMapping]) -> Vec<String> {
    let chain = dnat_chain_name(network, container_id);
    let comment = quoted(&format!("dnat name: {} id: {}", quoted(network), quoted(container_id)));
    let mut protos: Vec<&str> = maps.iter().map(|m| m.protocol).collect();
    protos.sort_unstable();
    protos.dedup();
    let mut out = Vec::new();
    for proto in protos {
        let ports: Vec<String> =
            maps.iter().filter(|m| m.protocol == proto).map(|m| m.host_port.to_string()).collect();
        for chunk in ports.chunks(MULTIPORT_MAX) {
            out.push(format!(
                "-p {proto} -m comment --comment {comment} -m multiport --dports {} -j {chain}",
                chunk.join(",")
            ));
        }
    }
    out
}

/// The restore input of CNI ADD. `shared_exists`: an earlier ADD on this node already
/// created the shared chains and their jumps (the plugin's setup is idempotent).
pub fn add_payload(
    container_id: &str,
    pod_net: Ipv4Net,
    maps: &[PortMapping],
    shared_exists: bool,
) -> String {
    let chain = dnat_chain_name(NETWORK_NAME, container_id);
    let mut s = String::from("*nat\n");
    if !shared_exists {
        for c in [SET_MARK_CHAIN, MARK_MASQ_CHAIN, TOP_LEVEL_DNAT_CHAIN] {
            let _ = writeln!(s, ":{c} - [0:0]");
        }
    }
    let _ = writeln!(s, ":{chain} - [0:0]");
    if !shared_exists {
        let m = mark();
        let _ = writeln!(
            s,
            "-A {SET_MARK_CHAIN} -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark {m}"
        );
        let _ = writeln!(s, "-A {MARK_MASQ_CHAIN} -m mark --mark {m} -j MASQUERADE");
        let _ = writeln!(
            s,
            "-I POSTROUTING 1 -m comment --comment \"CNI portfwd requiring masquerade\" -j {MARK_MASQ_CHAIN}"
        );
        for entry in ["PREROUTING", "OUTPUT"] {
            let _ = writeln!(s, "-A {entry} -m addrtype --dst-type LOCAL -j {TOP_LEVEL_DNAT_CHAIN}");
        }
    }
    let subnet = pod_net.trunc();
    for m in maps {
        let base = format!("-p {p} -m {p} --dport {h}", p = m.protocol, h = m.host_port);
        let _ = writeln!(s, "-A {chain} -s {subnet} {base} -j {SET_MARK_CHAIN}");
        let _ = writeln!(s, "-A {chain} -s 127.0.0.1/32 {base} -j {SET_MARK_CHAIN}");
        let _ =
            writeln!(s, "-A {chain} {base} -j DNAT --to-destination {}:{}", pod_net.addr(), m.container_port);
    }
    // Each entry rule is prepended, so the last one written ends up first.
    for r in entry_rules(NETWORK_NAME, container_id, maps) {
        let _ = writeln!(s, "-I {TOP_LEVEL_DNAT_CHAIN} 1 {r}");
    }
    s.push_str("COMMIT\n");
    s
}

/// The restore input of CNI DEL: the container's jumps, rules and chain go.
pub fn del_payload(container_id: &str, maps: &[PortMapping]) -> String {
    let chain = dnat_chain_name(NETWORK_NAME, container_id);
    let mut s = String::from("*nat\n");
    for r in entry_rules(NETWORK_NAME, container_id, maps) {
        let _ = writeln!(s, "-D {TOP_LEVEL_DNAT_CHAIN} {r}");
    }
    let _ = writeln!(s, "-F {chain}");
    let _ = writeln!(s, "-X {chain}");
    s.push_str("COMMIT\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The container ID of the plugin's own tests (portmap_iptables_test.go).
    const ID: &str = "icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y";

    #[test]
    fn chain_names_match_the_plugins_test_vectors() {
        assert_eq!(dnat_chain_name("testNetName", ID), "CNI-DN-bfd599665540dd91d5d28");
        assert_eq!(dnat_chain_name("test", ID), "CNI-DN-67e92b96e692a494b6b85");
    }

    #[test]
    fn entry_rules_group_ports_per_protocol_like_the_plugin() {
        let m = |h, c, p| PortMapping { host_port: h, container_port: c, protocol: p };
        let maps = [m(8080, 80, "tcp"), m(8081, 80, "tcp"), m(8080, 81, "udp"), m(8082, 82, "udp")];
        let rules = entry_rules("test", "c1", &maps);
        assert_eq!(
            rules,
            vec![
                "-p tcp -m comment --comment \"dnat name: \\\"test\\\" id: \\\"c1\\\"\" -m multiport --dports 8080,8081 -j CNI-DN-917f9005c929d67b6ac60".to_string(),
                "-p udp -m comment --comment \"dnat name: \\\"test\\\" id: \\\"c1\\\"\" -m multiport --dports 8080,8082 -j CNI-DN-917f9005c929d67b6ac60".to_string(),
            ]
        );
    }
}
