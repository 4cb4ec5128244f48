//! Helpers shared by the kube-proxy golden tests (included with `#[path]`; as a test
//! target of its own it has no tests).
#![allow(dead_code)]

use sim_k8s::controllers::kube_proxy::jumps;
use sim_k8s::manifest::{self, Object};
use sim_k8s::model::endpointslice::EndpointSlice;
use sim_k8s::model::service::Service;
use sim_net::netfilter::Netfilter;

/// Services and slices of a manifest stream, validated.
pub fn load(yaml: &str) -> (Vec<Service>, Vec<EndpointSlice>) {
    let objects = manifest::parse_str("test.yaml", yaml).expect("manifests parse");
    let (mut services, mut slices) = (Vec::new(), Vec::new());
    for o in objects {
        match o.object {
            Object::Service(s) => services.push(Service::from_k8s(&s).expect("valid service")),
            Object::EndpointSlice(s) => slices.push(EndpointSlice::from_k8s(&s).expect("valid slice")),
            _ => {}
        }
    }
    (services, slices)
}

/// A node as kubelet and kube-proxy leave it: kubelet's rules, kube-proxy's jumps,
/// then the sync payload, each with `iptables-restore --noflush`.
pub fn node_after_sync(payload: &str) -> Netfilter {
    let mut nf = Netfilter::new();
    let kubelet = jumps::kubelet_payload(&nf);
    nf.restore(&kubelet, true).expect("kubelet rules load");
    let jumps = jumps::kube_proxy_jumps_payload(&nf);
    nf.restore(&jumps, true).expect("kube-proxy jumps load");
    nf.restore(payload, true).expect("sync payload loads");
    nf
}

/// iptables-save output without the `# Generated`/`# Completed` lines.
pub fn strip_comments(save: &str) -> String {
    save.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect()
}

pub fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/kube-proxy/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Compares with the fixture, or writes it when `KNS_WRITE_FIXTURES` is set.
pub fn check_fixture(name: &str, got: &str) {
    let path = fixture_path(name);
    if std::env::var_os("KNS_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, got).expect("fixture written");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(got, want, "{name} differs from its fixture");
}
