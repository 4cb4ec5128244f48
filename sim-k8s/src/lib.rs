//! Kubernetes semantics on top of sim-net: objects from real manifests, the scenario
//! format, an in-process API store, and controllers (scheduler, kubelet + CNI, the pod
//! network) that act on the dataplane only through `sim_net::ops::NetOp`.

pub mod apps;
pub mod cluster;
pub mod controllers;
pub mod dns;
pub mod envvars;
pub mod lb;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod run;
pub mod scenario;
pub mod store;
pub mod world;
