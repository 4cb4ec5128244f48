//! The cost of one HTTP exchange across nodes (pod/a on node-1 → http-echo on pod/c on
//! node-2: handshake, GET, answer, both FINs), with the trace on as `kube-netsim run`
//! does. Prints events per exchange, then divan times 100 exchanges per run.
//! `cargo bench --bench http_exchange`.

use std::path::Path;

use divan::counter::ItemsCount;
use sim_core::{Limits, SimDuration, SimTime};
use sim_k8s::plan::plan;
use sim_k8s::run::{RunInput, StepPlan};
use sim_k8s::world::{KubeWorld, Origin, ProbePlan, Target};
use sim_net::packet::IpProto;

const EXCHANGES: u64 = 100;

fn main() {
    let base = events(0);
    let with = events(EXCHANGES);
    println!("events per HTTP exchange: {:.1}", (with - base) as f64 / EXCHANGES as f64);
    divan::main();
}

fn input(n: u64) -> RunInput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/http-pod-to-pod.yaml");
    let s = sim_k8s::scenario::load(&path).expect("scenario loads");
    let mut input = plan(&s, true);
    input.steps = (0..n)
        .map(|i| StepPlan {
            probe: ProbePlan {
                at: SimTime::from_nanos(1_000_000_000 + i * 1_000_000),
                from: Origin::Pod { namespace: "default".into(), name: "a".into() },
                to: Target::Pod { namespace: "default".into(), name: "c".into() },
                port: 80,
                proto: IpProto::Tcp,
                http: true,
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

/// Events handled up to 2 s after the last exchange started (TIME_WAIT not included).
fn events(n: u64) -> u64 {
    let i = input(n);
    let (mut world, mut q) = KubeWorld::new(i.cluster.clone(), i.seed, true);
    for pod in i.pods {
        world.create_pod(pod, SimTime::ZERO, &mut q);
    }
    for s in &i.steps {
        world.add_probe(s.probe.clone(), &mut q);
    }
    let mut sim = sim_core::Simulation::new(world);
    sim.queue = q;
    sim.run(Limits { until: SimTime::from_nanos(3_000_000_000), max_events: 10_000_000 });
    sim.events_handled()
}

#[divan::bench(sample_count = 10)]
fn http_exchanges_across_nodes(bencher: divan::Bencher) {
    bencher
        .counter(ItemsCount::new(EXCHANGES))
        .with_inputs(|| input(EXCHANGES))
        .bench_values(|i| sim_k8s::run::run(i).world.hops.len());
}
