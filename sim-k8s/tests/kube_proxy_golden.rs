//! Golden tests of kube-proxy's iptables output against the reference worked example
//! (linux-k8s-dataplane.md §1.10): the restore payload must equal the reference text,
//! and loading kubelet's rules, kube-proxy's jumps and the payload into the netfilter
//! engine must make `iptables-save -t nat` print the reference text.

use std::net::Ipv4Addr;

#[path = "kube_proxy_support.rs"]
mod support;

use sim_k8s::controllers::kube_proxy::{self, ProxierConfig, ServicePortInfo, endpoints_map, jumps};
use sim_k8s::model::service::Service;
use sim_net::netfilter::TableName;
use support::{check_fixture, fixture, load, node_after_sync, strip_comments};

const WORKED_EXAMPLE: &str = include_str!("fixtures/kube-proxy/worked-example.yaml");

fn worked_example_config() -> ProxierConfig {
    ProxierConfig::new("node-1", Ipv4Addr::new(192, 168, 56, 11), Some("10.244.0.0/16".parse().unwrap()))
}

/// The payload with services in the reference's order (web, then echo).
fn worked_example_payload() -> String {
    let (services, slices) = load(WORKED_EXAMPLE);
    let cfg = worked_example_config();
    let ports: Vec<ServicePortInfo> = services.iter().flat_map(ServicePortInfo::from_service).collect();
    kube_proxy::sync_payload(&cfg, &ports, &endpoints_map(&slices, "node-1"), &[])
}

fn nat_section(payload: &str) -> &str {
    &payload[payload.find("*nat\n").expect("payload has a nat table")..]
}

#[test]
fn worked_example_nat_payload_equals_the_reference_exactly() {
    let payload = worked_example_payload();
    assert_eq!(nat_section(&payload), fixture("worked-example-restore-nat.txt"));
}

#[test]
fn worked_example_filter_payload_has_the_fixed_chains_and_rules() {
    let payload = worked_example_payload();
    let filter = &payload[..payload.find("*nat\n").unwrap()];
    check_fixture("worked-example-restore-filter.txt", filter);
}

#[test]
fn sorted_payload_holds_the_same_lines_as_the_reference() {
    let (services, slices) = load(WORKED_EXAMPLE);
    let payload = kube_proxy::full_sync_payload(&worked_example_config(), &services, &slices, &[]);
    let mut got: Vec<&str> = nat_section(&payload).lines().collect();
    let reference = fixture("worked-example-restore-nat.txt");
    let mut want: Vec<&str> = reference.lines().collect();
    assert!(
        got.iter().position(|l| l.contains("default/echo cluster IP"))
            < got.iter().position(|l| l.contains("default/web:http cluster IP"))
    );
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn worked_example_iptables_save_equals_the_reference_exactly() {
    let nf = node_after_sync(&worked_example_payload());
    assert_eq!(strip_comments(&nf.save_table(TableName::Nat)), fixture("worked-example-save-nat.txt"));
}

#[test]
fn worked_example_filter_table_has_the_reference_jump_order() {
    let nf = node_after_sync(&worked_example_payload());
    let filter = strip_comments(&nf.save_table(TableName::Filter));
    let builtins: Vec<&str> = filter
        .lines()
        .filter(|l| l.starts_with("-A INPUT") || l.starts_with("-A FORWARD") || l.starts_with("-A OUTPUT"))
        .collect();
    let want = [
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
        "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS",
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
        "-A INPUT -j KUBE-FIREWALL",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -j KUBE-FIREWALL",
    ];
    assert_eq!(builtins, want);
}

#[test]
fn ensuring_jumps_twice_adds_nothing() {
    let nf = node_after_sync(&worked_example_payload());
    assert_eq!(jumps::kubelet_payload(&nf), "");
    assert_eq!(jumps::kube_proxy_jumps_payload(&nf), "");
}

#[test]
fn a_second_sync_without_a_service_deletes_its_chains() {
    let (services, slices) = load(WORKED_EXAMPLE);
    let cfg = worked_example_config();
    let mut nf = node_after_sync(&kube_proxy::full_sync_payload(&cfg, &services, &slices, &[]));
    let existing: Vec<String> = nf.table(TableName::Nat).unwrap().chains.keys().cloned().collect();
    let web_only: Vec<Service> = services.into_iter().filter(|s| s.name == "web").collect();
    let payload = kube_proxy::full_sync_payload(&cfg, &web_only, &slices, &existing);
    assert!(payload.contains(":KUBE-SVC-HV6DMF63W6MGLRDE - [0:0]\n"), "{payload}");
    assert!(payload.contains("-X KUBE-SVC-HV6DMF63W6MGLRDE\n"), "{payload}");
    nf.restore(&payload, true).expect("second sync loads");
    let nat = nf.save_table(TableName::Nat);
    assert!(!nat.contains("HV6DMF63W6MGLRDE") && !nat.contains("BOBT7SRQTLE4WLOZ"), "{nat}");
    assert!(nat.contains("KUBE-SVC-CDGGSHYLG3RE2FKL"));
}

/// A partial sync (kube-proxy 1.27+ `MinimizeIPTablesRestore`) when only `echo`
/// changed: the shared chains are rewritten whole, echo's own chains are written, web's
/// are neither written nor deleted; the node ends up with exactly what a full sync
/// would have left.
#[test]
fn a_partial_sync_writes_only_the_changed_services_chains() {
    let (services, slices) = load(WORKED_EXAMPLE);
    let cfg = worked_example_config();
    let full = kube_proxy::full_sync_payload(&cfg, &services, &slices, &[]);
    let mut nf = node_after_sync(&full);
    let existing: Vec<String> = nf.table(TableName::Nat).unwrap().chains.keys().cloned().collect();
    let changed = std::collections::BTreeSet::from(["default/echo".to_string()]);
    let partial = kube_proxy::partial_sync_payload(&cfg, &services, &slices, &existing, Some(&changed));
    let nat = nat_section(&partial);
    // Shared chains: declared (flushed) and rewritten, with both services' entries.
    for c in ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"] {
        assert!(nat.contains(&format!(":{c} - [0:0]\n")), "{nat}");
    }
    assert!(nat.contains("\"default/web:http cluster IP\""), "{nat}");
    assert!(nat.contains("\"default/echo cluster IP\""), "{nat}");
    // echo's chains are written; web's (KUBE-SVC-CDGGSHYLG3RE2FKL and its SEPs) are not.
    assert!(nat.contains(":KUBE-SVC-HV6DMF63W6MGLRDE - [0:0]\n"), "{nat}");
    assert!(nat.contains("-A KUBE-SVC-HV6DMF63W6MGLRDE "), "{nat}");
    assert!(!nat.contains(":KUBE-SVC-CDGGSHYLG3RE2FKL"), "{nat}");
    assert!(!nat.contains("-A KUBE-SVC-CDGGSHYLG3RE2FKL"), "{nat}");
    assert!(!nat.lines().any(|l| l.starts_with("-X ")), "nothing is stale: {nat}");
    // The filter table is always written whole.
    assert_eq!(&partial[..partial.find("*nat\n").unwrap()], &full[..full.find("*nat\n").unwrap()]);
    nf.restore(&partial, true).expect("the partial sync loads");
    let after_full = node_after_sync(&full);
    assert_eq!(nf.save_table(TableName::Nat), after_full.save_table(TableName::Nat));
    // Fewer rules to load than a full sync.
    let count = |p: &str| p.lines().filter(|l| l.starts_with("-A ")).count();
    assert!(count(&partial) < count(&full), "{} vs {}", count(&partial), count(&full));
}

/// A partial sync still deletes the chains of a service that went away.
#[test]
fn a_partial_sync_deletes_the_chains_of_a_removed_service() {
    let (services, slices) = load(WORKED_EXAMPLE);
    let cfg = worked_example_config();
    let nf = node_after_sync(&kube_proxy::full_sync_payload(&cfg, &services, &slices, &[]));
    let existing: Vec<String> = nf.table(TableName::Nat).unwrap().chains.keys().cloned().collect();
    let web_only: Vec<Service> = services.into_iter().filter(|s| s.name == "web").collect();
    let changed = std::collections::BTreeSet::from(["default/echo".to_string()]);
    let partial = kube_proxy::partial_sync_payload(&cfg, &web_only, &slices, &existing, Some(&changed));
    assert!(partial.contains("-X KUBE-SVC-HV6DMF63W6MGLRDE\n"), "{partial}");
    assert!(!partial.contains("-X KUBE-SVC-CDGGSHYLG3RE2FKL"), "{partial}");
    assert!(!partial.contains("-A KUBE-SVC-CDGGSHYLG3RE2FKL"), "{partial}");
}
