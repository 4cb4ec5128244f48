//! The cost of one HTTP exchange across nodes (pod/a on node-1 → http-echo on pod/c on
//! node-2: handshake, GET, answer, both FINs), with the trace on as `kube-netsim run`
//! does. Only the probe phase is timed: building the cluster and letting it converge
//! (everything before the first probe at 1 s) happens in the untimed setup, so the time
//! per exchange is the exchanges' own. Prints events and µs per exchange, then divan
//! times 100 exchanges per run. `cargo bench --bench http_exchange`.

use std::path::Path;

use divan::counter::ItemsCount;
use sim_core::{Limits, SimDuration, SimTime, Simulation};
use sim_k8s::plan::plan;
use sim_k8s::run::{RunInput, StepPlan};
use sim_k8s::world::{KubeWorld, Origin, ProbePlan, Target};
use sim_net::packet::IpProto;

const EXCHANGES: u64 = 100;
/// The first probe starts here; the cluster has converged well before.
const FIRST_PROBE_NS: u64 = 1_000_000_000;
/// 2 s after the last exchange started (TIME_WAIT's end not included).
const END_NS: u64 = 3_000_000_000;

fn main() {
    let base = events(0);
    let with = events(EXCHANGES);
    println!("events per HTTP exchange: {:.1}", (with - base) as f64 / EXCHANGES as f64);
    println!("µs per HTTP exchange (probe phase only, median of 9 runs): {:.1}", micros_per_exchange());
    divan::main();
}

fn input(n: u64) -> RunInput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/http-pod-to-pod.yaml");
    let s = sim_k8s::scenario::load(&path).expect("scenario loads");
    let mut input = plan(&s, true);
    input.steps = (0..n)
        .map(|i| StepPlan {
            probe: ProbePlan {
                at: SimTime::from_nanos(FIRST_PROBE_NS + i * 1_000_000),
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

/// The cluster with `n` exchanges queued, run (converged) up to just before the first.
fn converged(n: u64) -> Simulation<KubeWorld> {
    let i = input(n);
    let (mut world, mut q) = KubeWorld::new(i.cluster.clone(), i.seed, true);
    for pod in i.pods {
        world.create_pod(pod, SimTime::ZERO, &mut q);
    }
    for s in &i.steps {
        world.add_probe(s.probe.clone(), &mut q);
    }
    let mut sim = Simulation::new(world);
    sim.queue = q;
    sim.run(Limits { until: SimTime::from_nanos(FIRST_PROBE_NS - 1), max_events: 10_000_000 });
    sim
}

/// The timed part: the exchanges themselves.
fn probe_phase(sim: &mut Simulation<KubeWorld>) {
    sim.run(Limits { until: SimTime::from_nanos(END_NS), max_events: 10_000_000 });
}

/// Events handled up to [`END_NS`].
fn events(n: u64) -> u64 {
    let mut sim = converged(n);
    probe_phase(&mut sim);
    sim.events_handled()
}

/// Wall-clock time of the probe phase, per exchange. A benchmark measures real time;
/// nothing of it reaches the simulation.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn micros_per_exchange() -> f64 {
    let mut runs: Vec<f64> = (0..9)
        .map(|_| {
            let mut sim = converged(EXCHANGES);
            let t = std::time::Instant::now();
            probe_phase(&mut sim);
            let us = t.elapsed().as_secs_f64() * 1e6;
            assert!(sim.world.hops.len() > 1000, "the exchanges ran");
            us / EXCHANGES as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

#[divan::bench(sample_count = 10)]
fn http_exchanges_across_nodes(bencher: divan::Bencher) {
    bencher.counter(ItemsCount::new(EXCHANGES)).with_inputs(|| converged(EXCHANGES)).bench_values(
        |mut sim| {
            probe_phase(&mut sim);
            sim.world.hops.len()
        },
    );
}
