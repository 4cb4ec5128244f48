//! Kubernetes semantics on top of sim-net: objects from real manifests, the scenario
//! format, and controllers (scheduler, kubelet + CNI, ...) that act on the dataplane only
//! through `sim_net::ops::NetOp`.

pub mod manifest;
pub mod model;
pub mod scenario;
