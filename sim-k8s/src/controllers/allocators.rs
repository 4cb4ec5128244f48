//! The apiserver's ClusterIP and NodePort allocators (pkg/registry/core/service/
//! {ipallocator,portallocator,allocator/bitmap.go} and storage/alloc.go), with their
//! error messages.
//!
//! Both are bitmaps with a "static" lower band reserved for explicit requests
//! (KEP-3070 for IPs, KEP-3668 for ports): dynamic allocation starts at a uniformly random
//! offset in the upper band and scans upward with wrap-around; only when the upper band
//! is full does it scan the lower band the same way (`randomScanStrategyWithOffset`).
//! Explicit requests may be anywhere in the range. Deviation: the random source is a
//! named, seeded [`SimRng`] instead of Go's time-seeded `math/rand`, so the values differ
//! from a real cluster's but repeat run after run.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sim_core::SimRng;

use crate::model::service::Service;
use crate::model::{FieldError, FieldErrorKind, FieldPath};

/// A bitmap of `size` slots whose first `offset` slots form the static band.
#[derive(Clone, Debug)]
struct Bitmap {
    size: u64,
    offset: u64,
    used: BTreeSet<u64>,
}

impl Bitmap {
    fn new(size: u64, offset: u64) -> Self {
        Bitmap { size, offset: offset.min(size), used: BTreeSet::new() }
    }

    /// Takes slot `i`; false if already taken.
    fn allocate(&mut self, i: u64) -> bool {
        self.used.insert(i)
    }

    /// `randomScanStrategyWithOffset.AllocateBit`.
    fn allocate_next(&mut self, rng: &mut SimRng) -> Option<u64> {
        let upper = self.size - self.offset;
        let slot = self.scan(rng, self.offset, upper).or_else(|| self.scan(rng, 0, self.offset))?;
        self.used.insert(slot);
        Some(slot)
    }

    /// First free slot of `[first, first + len)` from a random start, with wrap-around.
    fn scan(&self, rng: &mut SimRng, first: u64, len: u64) -> Option<u64> {
        if len == 0 {
            return None;
        }
        let start = sim_core::below(rng, len);
        (0..len).map(|i| first + (start + i) % len).find(|at| !self.used.contains(at))
    }

    fn release(&mut self, i: u64) {
        self.used.remove(&i);
    }
}

/// `calculateRangeOffset`: `min(max(lo, size / step), hi)`, or 0 when `size < lo`.
fn range_offset(size: u64, lo: u64, hi: u64, step: u64) -> u64 {
    if size < lo { 0 } else { (size / step).clamp(lo, hi) }
}

/// Why a ClusterIP could not be allocated (`ipallocator` errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterIpError {
    #[error("failed to allocate IP {ip}: provided IP is already allocated")]
    AlreadyAllocated { ip: Ipv4Addr },
    #[error(
        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
    )]
    NotInRange { ip: Ipv4Addr, cidr: Ipv4Net },
    #[error("failed to allocate a serviceIP: range is full")]
    RangeFull,
}

/// The service CIDR's allocator (`--service-cluster-ip-range`).
#[derive(Clone, Debug)]
pub struct ClusterIpAllocator {
    cidr: Ipv4Net,
    base: u32,
    bitmap: Bitmap,
}

impl ClusterIpAllocator {
    /// The allocator for `cidr` with network+1 taken by `default/kubernetes`, as the
    /// apiserver's bootstrap controller does. The network and broadcast addresses are
    /// never allocated.
    pub fn new(cidr: Ipv4Net) -> Self {
        let cidr = cidr.trunc();
        let size = 1u64 << (32 - u32::from(cidr.prefix_len()));
        let usable = size.saturating_sub(2);
        let offset = range_offset(size, 16, 256, 16);
        let base = u32::from(cidr.network()).wrapping_add(1);
        let mut a = ClusterIpAllocator { cidr, base, bitmap: Bitmap::new(usable, offset) };
        let kube = a.kubernetes_ip();
        a.allocate(kube).expect("network+1 of a fresh range is free");
        a
    }

    /// The first usable address (10.96.0.1 for 10.96.0.0/12): the `kubernetes` service.
    pub fn kubernetes_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    fn index(&self, ip: Ipv4Addr) -> Option<u64> {
        let i = u64::from(u32::from(ip)).checked_sub(u64::from(self.base))?;
        (self.cidr.contains(&ip) && i < self.bitmap.size).then_some(i)
    }

    /// An explicitly requested `clusterIP`.
    pub fn allocate(&mut self, ip: Ipv4Addr) -> Result<(), ClusterIpError> {
        let i = self.index(ip).ok_or(ClusterIpError::NotInRange { ip, cidr: self.cidr })?;
        if self.bitmap.allocate(i) { Ok(()) } else { Err(ClusterIpError::AlreadyAllocated { ip }) }
    }

    /// A free address, upper band first.
    pub fn allocate_next(&mut self, rng: &mut SimRng) -> Result<Ipv4Addr, ClusterIpError> {
        let i = self.bitmap.allocate_next(rng).ok_or(ClusterIpError::RangeFull)?;
        Ok(Ipv4Addr::from(self.base + i as u32))
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(i) = self.index(ip) {
            self.bitmap.release(i);
        }
    }
}

/// An inclusive port range (`--service-node-port-range`), printed `30000-32767`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// The apiserver's default `--service-node-port-range`.
pub const DEFAULT_NODE_PORT_RANGE: PortRange = PortRange { first: 30000, last: 32767 };

/// Why a node port could not be allocated (`portallocator` errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodePortError {
    #[error("provided port is already allocated")]
    AlreadyAllocated,
    #[error("provided port is not in the valid range. The range of valid ports is {range}")]
    NotInRange { range: PortRange },
    #[error("range is full")]
    RangeFull,
}

/// The NodePort allocator: 30000-32767 by default, static band 30000-30085.
#[derive(Clone, Debug)]
pub struct NodePortAllocator {
    range: PortRange,
    bitmap: Bitmap,
}

impl Default for NodePortAllocator {
    fn default() -> Self {
        Self::new(DEFAULT_NODE_PORT_RANGE)
    }
}

impl NodePortAllocator {
    pub fn new(range: PortRange) -> Self {
        let size = u64::from(range.last - range.first) + 1;
        NodePortAllocator { range, bitmap: Bitmap::new(size, range_offset(size, 16, 128, 32)) }
    }

    pub fn range(&self) -> PortRange {
        self.range
    }

    /// The first port of the upper (dynamic) band: 30086 by default.
    pub fn dynamic_band_start(&self) -> u16 {
        self.range.first + self.bitmap.offset as u16
    }

    /// An explicitly requested `nodePort`.
    pub fn allocate(&mut self, port: u16) -> Result<(), NodePortError> {
        if port < self.range.first || port > self.range.last {
            return Err(NodePortError::NotInRange { range: self.range });
        }
        let ok = self.bitmap.allocate(u64::from(port - self.range.first));
        if ok { Ok(()) } else { Err(NodePortError::AlreadyAllocated) }
    }

    /// A free port, upper band first.
    pub fn allocate_next(&mut self, rng: &mut SimRng) -> Result<u16, NodePortError> {
        let i = self.bitmap.allocate_next(rng).ok_or(NodePortError::RangeFull)?;
        Ok(self.range.first + i as u16)
    }

    pub fn release(&mut self, port: u16) {
        if let Some(i) = port.checked_sub(self.range.first) {
            self.bitmap.release(u64::from(i));
        }
    }
}

/// A rejected Service create, as kubectl prints it after `The Service "x" is invalid: `
/// (field errors) or `Error from server (InternalError): ` (range exhaustion).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("{0}")]
    Field(FieldError),
    #[error("Internal error occurred: {0}")]
    Internal(String),
}

/// What the registry does on `Service` create (storage/alloc.go `allocateCreate`):
/// the ClusterIP (unless headless or ExternalName), then node ports (a port number used
/// with two protocols shares one nodePort), then the healthCheckNodePort. On error
/// nothing stays allocated.
pub fn allocate_service(
    svc: &mut Service,
    ips: &mut ClusterIpAllocator,
    ports: &mut NodePortAllocator,
    rng: &mut SimRng,
) -> Result<(), AllocError> {
    use crate::model::service::{ClusterIp, ServiceType};
    let mut taken_ip = None;
    if svc.type_ != ServiceType::ExternalName {
        let ip = match svc.cluster_ip {
            ClusterIp::Headless => None,
            ClusterIp::Ip(ip) => Some(ips.allocate(ip).map(|_| ip).map_err(|e| cluster_ip_error(ip, e))?),
            ClusterIp::Unset => {
                Some(ips.allocate_next(rng).map_err(|e| AllocError::Internal(e.to_string()))?)
            }
        };
        if let Some(ip) = ip {
            svc.cluster_ip = ClusterIp::Ip(ip);
            taken_ip = Some(ip);
        }
    }
    let mut taken_ports = Vec::new();
    let result = node_ports(svc, ports, rng, &mut taken_ports)
        .and_then(|_| health_check(svc, ports, rng, &mut taken_ports));
    if result.is_err() {
        taken_ports.iter().for_each(|p| ports.release(*p));
        if let Some(ip) = taken_ip {
            ips.release(ip);
        }
    }
    result
}

fn cluster_ip_error(ip: Ipv4Addr, e: ClusterIpError) -> AllocError {
    let kind = FieldErrorKind::Invalid { value: format!("[]string{{\"{ip}\"}}"), detail: e.to_string() };
    AllocError::Field(FieldError { path: FieldPath::parse("spec.clusterIPs"), kind })
}

fn node_port_error(i: usize, requested: u16, e: NodePortError) -> AllocError {
    let path = FieldPath::parse("spec.ports").index(i).key("nodePort");
    AllocError::Field(FieldError::invalid_num(path, requested.into(), e.to_string()))
}

/// `initNodePorts`: explicit ports are honoured; a port number seen earlier (another
/// protocol) reuses its nodePort.
fn node_ports(
    svc: &mut Service,
    alloc: &mut NodePortAllocator,
    rng: &mut SimRng,
    taken: &mut Vec<u16>,
) -> Result<(), AllocError> {
    let wants = svc.wants_node_ports();
    let mut by_port: Vec<(u16, u16)> = Vec::new();
    for i in 0..svc.ports.len() {
        let (port, requested) = (svc.ports[i].port, svc.ports[i].node_port);
        if requested.is_none() && !wants {
            continue;
        }
        let shared = by_port.iter().find(|(p, _)| *p == port).map(|(_, np)| *np);
        let np = match (shared, requested) {
            (Some(np), None) => np,
            (Some(np), Some(r)) if r == np => np,
            (_, Some(r)) => {
                alloc.allocate(r).map_err(|e| node_port_error(i, r, e))?;
                taken.push(r);
                r
            }
            (None, None) => {
                let sibling = svc
                    .ports
                    .iter()
                    .find(|p| p.port == port && p.node_port.is_some())
                    .and_then(|p| p.node_port);
                let np = match sibling {
                    Some(r) => alloc.allocate(r).map(|_| r).map_err(|e| node_port_error(i, r, e))?,
                    None => alloc
                        .allocate_next(rng)
                        .map_err(|e| AllocError::Internal(format!("failed to allocate a nodePort: {e}")))?,
                };
                taken.push(np);
                np
            }
        };
        if shared.is_none() {
            by_port.push((port, np));
        }
        svc.ports[i].node_port = Some(np);
    }
    Ok(())
}

/// `allocHealthCheckNodePort` for LoadBalancer services with eTP Local.
fn health_check(
    svc: &mut Service,
    alloc: &mut NodePortAllocator,
    rng: &mut SimRng,
    taken: &mut Vec<u16>,
) -> Result<(), AllocError> {
    if !svc.needs_health_check() {
        return Ok(());
    }
    let port = match svc.health_check_node_port {
        Some(hc) => {
            alloc.allocate(hc).map_err(|e| {
                let detail = format!("failed to allocate requested HealthCheck NodePort {hc}: {e}");
                AllocError::Field(FieldError::invalid_num(
                    FieldPath::parse("spec.healthCheckNodePort"),
                    hc.into(),
                    detail,
                ))
            })?;
            hc
        }
        None => alloc
            .allocate_next(rng)
            .map_err(|e| AllocError::Internal(format!("failed to allocate a HealthCheck NodePort 0: {e}")))?,
    };
    taken.push(port);
    svc.health_check_node_port = Some(port);
    Ok(())
}
