//! Heap memory per pod: a counting allocator measures the live bytes a converged cluster
//! holds with N idle pods (no declared ports, so no sockets and no smoltcp interface),
//! with N pods each listening on one TCP port, and with N pods listening on two ports.
//! The differences give the cost of an idle pod and of one listening socket.
//! `cargo bench --bench memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const NODES: usize = 4;
const PODS_PER_NODE: usize = 50;

/// A scenario with `NODES` nodes and `PODS_PER_NODE` pods on each, every pod declaring
/// `ports` TCP container ports (each one gets an http-echo listener from the kubelet).
fn scenario(ports: usize) -> String {
    let mut s = format!("name: memory\ncluster:\n  nodes: {NODES}\nmanifests:\n");
    for n in 1..=NODES {
        for p in 0..PODS_PER_NODE {
            let list: Vec<String> = (0..ports).map(|i| format!("{{containerPort: {}}}", 8080 + i)).collect();
            s += &format!(
                "  - {{apiVersion: v1, kind: Pod, metadata: {{name: p{n}-{p}}}, spec: \
                 {{nodeName: node-{n}, containers: [{{name: c, image: x, ports: [{}]}}]}}}}\n",
                list.join(", ")
            );
        }
    }
    s
}

/// Live heap bytes held by the converged world of `scenario(ports)`.
fn live_bytes(ports: usize) -> isize {
    let text = scenario(ports);
    let s = sim_k8s::scenario::load_str("memory.yaml", &text, Path::new(".")).expect("loads");
    let input = sim_k8s::plan::plan(&s, false);
    drop(s);
    let before = LIVE.load(Ordering::Relaxed);
    let report = sim_k8s::run::run(input);
    let after = LIVE.load(Ordering::Relaxed);
    drop(report);
    after - before
}

fn main() {
    let pods = (NODES * PODS_PER_NODE) as isize;
    let empty = {
        let s = sim_k8s::scenario::load_str(
            "memory.yaml",
            &format!("name: memory\ncluster:\n  nodes: {NODES}\n"),
            Path::new("."),
        )
        .expect("loads");
        let input = sim_k8s::plan::plan(&s, false);
        let before = LIVE.load(Ordering::Relaxed);
        let report = sim_k8s::run::run(input);
        let after = LIVE.load(Ordering::Relaxed);
        drop(report);
        after - before
    };
    let idle = live_bytes(0);
    let one = live_bytes(1);
    let two = live_bytes(2);
    println!("cluster of {NODES} nodes, no pods: {} KiB", empty / 1024);
    println!("per idle pod (no sockets):         {} bytes", (idle - empty) / pods);
    println!("per pod with one listening port:   {} bytes", (one - empty) / pods);
    println!("per listening socket (2nd port):   {} bytes", (two - one) / pods);
}
