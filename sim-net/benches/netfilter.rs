//! Per-packet cost of the nat PREROUTING traversal for a kube-proxy-shaped table with
//! 10 and with 10,000 services (each with a ClusterIP, a NodePort and two endpoints).
//! The chain index must keep the two within a factor of 1.5.
//!
//! Run: `cargo bench -p sim-net --bench netfilter`.

mod common;

use common::{NODE_IP, addr_type, cluster_ip, kube_proxy_nat, syn_to};
use sim_core::{RngStreams, SimTime};
use sim_net::netfilter::{EvalContext, Hook, Netfilter, PacketInfo, RngDecider, TableName};

fn main() {
    divan::main();
}

fn loaded(n: u32) -> Netfilter {
    let mut nf = Netfilter::new();
    nf.restore(&kube_proxy_nat(n), false).expect("benchmark rules load");
    nf
}

/// A pod connecting to the ClusterIP of the last service.
#[divan::bench(args = [10, 10_000], sample_count = 500, sample_size = 200)]
fn nat_prerouting_clusterip(bencher: divan::Bencher, n: u32) {
    let mut nf = loaded(n);
    let ip = syn_to(cluster_ip(n - 1), 80);
    let mut d = RngDecider::new(RngStreams::new(1).stream("bench"));
    bencher.bench_local(|| {
        let p = PacketInfo::new(&ip);
        let mut cx = EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &addr_type };
        nf.evaluate(TableName::Nat, Hook::Prerouting, &p, &mut cx)
    });
}

/// An outside client connecting to the NodePort of the last service.
#[divan::bench(args = [10, 10_000], sample_count = 500, sample_size = 200)]
fn nat_prerouting_nodeport(bencher: divan::Bencher, n: u32) {
    let mut nf = loaded(n);
    let ip = syn_to(NODE_IP, (30000 + (n - 1) % 2768) as u16);
    let mut d = RngDecider::new(RngStreams::new(1).stream("bench"));
    bencher.bench_local(|| {
        let p = PacketInfo::new(&ip);
        let mut cx = EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &addr_type };
        nf.evaluate(TableName::Nat, Hook::Prerouting, &p, &mut cx)
    });
}
