//! Simulated hops per second on the cross-node pod-to-pod path: the pod-to-pod
//! scenario's cluster, 200 ICMP probes from pod/a (node-1) to pod/c (node-2), with the
//! trace on (as `kube-netsim run` does). `cargo bench --bench cross_node`.

use std::path::Path;

use divan::counter::ItemsCount;
use sim_core::{SimDuration, SimTime};
use sim_k8s::plan::plan;
use sim_k8s::run::{self, RunInput, StepPlan};
use sim_k8s::world::{Origin, ProbePlan, Target};
use sim_net::packet::IpProto;

fn main() {
    divan::main();
}

fn input(probes: u64) -> RunInput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pod-to-pod.yaml");
    let s = sim_k8s::scenario::load(&path).expect("scenario loads");
    let mut input = plan(&s, true);
    input.steps = (0..probes)
        .map(|i| StepPlan {
            probe: ProbePlan {
                at: SimTime::from_nanos(1_000_000_000 + i * 1_000_000),
                from: Origin::Pod { namespace: "default".into(), name: "a".into() },
                to: Target::Pod { namespace: "default".into(), name: "c".into() },
                port: 80,
                proto: IpProto::Tcp,
                http: false,
                request: Default::default(),
                timeout: SimDuration::from_secs(3),
                sport: None,
                size: None,
            },
            expect: None,
            label: String::new(),
            repeat: None,
        })
        .collect();
    input
}

#[divan::bench(sample_count = 10)]
fn cross_node_tcp_probes(bencher: divan::Bencher) {
    let hops = run::run(input(200)).world.hops.len() as u64;
    bencher
        .counter(ItemsCount::new(hops))
        .with_inputs(|| input(200))
        .bench_values(|i| run::run(i).world.hops.len());
}
