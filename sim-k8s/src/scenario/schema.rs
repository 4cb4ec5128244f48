//! Stage 1: the shape of a scenario file, read by serde with `deny_unknown_fields`.
//!
//! Scalars with a syntax of their own (durations, CIDRs, IPs, references, enums) are
//! parsed here by [`Parsed`], so their errors carry the value's line:col from
//! serde_norway. Nothing here knows about other parts of the file: that a referenced pod
//! exists, that CIDRs do not overlap, ... is stage 2 (`build.rs`). Manifests are only
//! checked to be a list here; `build.rs` reads each entry from the position index.

use std::fmt;
use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use sim_core::{SimDuration, SimTime};

use super::refs::{Glob, Ref};
use super::{Cidr, ExpectedResult, NetworkBackend, ProbeProto};

/// The top level of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioDoc {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub cluster: Option<ClusterDoc>,
    /// Hosts outside the cluster, behind the router. Default: one, `client`.
    pub clients: Option<Vec<ClientDoc>>,
    /// Shape only: each entry is read again from the position index by `build.rs`.
    #[serde(default)]
    pub manifests: Vec<de::IgnoredAny>,
    #[serde(default)]
    pub steps: Vec<StepDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterDoc {
    pub nodes: Option<NodesDoc>,
    pub node_network: Option<Parsed<Cidr>>,
    pub pod_network: Option<Parsed<Cidr>>,
    pub service_network: Option<Parsed<Cidr>>,
    pub network: Option<Parsed<NetworkBackend>>,
    /// Where LoadBalancer Services get their external IPs (default 198.51.100.0/24).
    pub load_balancer_pool: Option<Parsed<Cidr>>,
    pub load_balancer: Option<LoadBalancerDoc>,
    /// `ingressController: {expose: NodePort}`: how the ingress-nginx add-on is reached.
    pub ingress_controller: Option<IngressControllerDoc>,
    /// The cluster DNS add-on (CoreDNS + the kube-dns Service).
    pub dns: Option<DnsDoc>,
    /// `timers:` the control plane's node-failure timers (shortened defaults).
    pub timers: Option<TimersDoc>,
}

/// `cluster.loadBalancer: {mode, healthCheck}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancerDoc {
    pub mode: Option<Parsed<super::LbMode>>,
    pub health_check: Option<HealthCheckDoc>,
}

/// `cluster.loadBalancer.healthCheck: {interval, timeout, healthyThreshold, unhealthyThreshold}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheckDoc {
    pub interval: Option<Parsed<SimDuration>>,
    pub timeout: Option<Parsed<SimDuration>>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressControllerDoc {
    pub expose: Option<String>,
}

/// `cluster.dns: {enabled: true}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsDoc {
    /// Default: on when a probe targets a DNS name, off otherwise.
    pub enabled: Option<bool>,
}

/// `cluster.timers`: every key optional, each a duration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimersDoc {
    pub node_lease_renew_interval: Option<Parsed<SimDuration>>,
    pub node_monitor_period: Option<Parsed<SimDuration>>,
    pub node_monitor_grace_period: Option<Parsed<SimDuration>>,
    pub unreachable_toleration: Option<Parsed<SimDuration>>,
}

/// `nodes: 3` or `nodes: [{name: a, ip: 192.168.1.20}, ...]`.
#[derive(Debug)]
pub enum NodesDoc {
    Count(i64),
    List(Vec<NodeDoc>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDoc {
    pub name: String,
    pub ip: Option<Parsed<Ipv4Addr>>,
}

/// `clients: [{name: laptop, ip: 203.0.113.10}]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDoc {
    pub name: String,
    pub ip: Parsed<Ipv4Addr>,
    /// Static routes for this client's traffic (`{to: CIDR, via: node/NAME}`).
    pub routes: Option<Vec<ClientRouteDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRouteDoc {
    pub to: Parsed<Cidr>,
    pub via: Parsed<Ref>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct StepDoc {
    pub at: Parsed<SimTime>,
    pub probe: Option<ProbeDoc>,
    /// `delete: pod/NAME` (the pod terminates) or `delete: node/NAME` (the Node object
    /// goes), as kubectl delete.
    pub delete: Option<Parsed<Ref>>,
    /// `fail: node/NAME`: the machine dies.
    pub fail: Option<Parsed<Ref>>,
    /// `restore: node/NAME`: a failed machine comes back.
    pub restore: Option<Parsed<Ref>>,
    /// `cut: {link: node/NAME}`: the node's uplink is unplugged.
    pub cut: Option<LinkDoc>,
    /// `heal: {link: node/NAME}`: plugged back in.
    pub heal: Option<LinkDoc>,
    /// `setReady: {pod: NAME, ready: false}`: the pod's readiness probe result changes.
    pub set_ready: Option<SetReadyDoc>,
    /// `scale: {deployment: NAME, replicas: N}` (kubectl scale).
    pub scale: Option<ScaleDoc>,
    /// `apply: {manifest: OBJECT-OR-LIST}` or `apply: {file: PATH}` (kubectl apply).
    /// Shape only: `build/apply.rs` reads it again from the position index.
    pub apply: Option<de::IgnoredAny>,
    pub expect: Option<ExpectDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDoc {
    pub link: Parsed<Ref>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetReadyDoc {
    pub pod: Parsed<Ref>,
    pub ready: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleDoc {
    pub deployment: String,
    pub replicas: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDoc {
    pub from: Parsed<Ref>,
    pub to: Parsed<Ref>,
    pub proto: Parsed<ProbeProto>,
    pub container: Option<String>,
    pub timeout: Option<Parsed<SimDuration>>,
    /// Send the probe this many times (default 1), `interval` apart (default 10ms).
    pub repeat: Option<u32>,
    pub interval: Option<Parsed<SimDuration>>,
    /// `http` only: the Host header (and SNI), like `curl -H 'Host: ...'`/`--resolve`.
    pub host: Option<String>,
    /// `http` only: the request path, default `/`.
    pub path: Option<String>,
    /// `http` only: speak HTTPS (a TLS handshake first).
    pub tls: Option<bool>,
    /// udp only: the client binds this source port (`nc -u -p PORT`), so repeated
    /// probes are one flow for conntrack.
    #[serde(rename = "sourcePort")]
    pub source_port: Option<u16>,
    /// icmp and udp: payload bytes (`ping -M do -s SIZE`); the packet carries DF.
    pub size: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDoc {
    pub result: Option<Parsed<ExpectedResult>>,
    pub at: Option<Parsed<Glob>>,
    pub source: Option<Parsed<Ref>>,
    pub via: Option<Vec<String>>,
    /// The HTTP status code of the answer.
    pub status: Option<u16>,
}

/// What a scalar is expected to be, for serde's "invalid type: ..., expected X".
pub trait Expecting {
    const EXPECTING: &'static str;
}

impl Expecting for SimTime {
    const EXPECTING: &'static str = "a time since the start, like \"150ms\" or \"1.5s\"";
}
impl Expecting for SimDuration {
    const EXPECTING: &'static str = "a duration like \"150ms\" or \"1.5s\"";
}
impl Expecting for Ipv4Addr {
    const EXPECTING: &'static str = "an IPv4 address like 192.168.1.20";
}

/// A scalar parsed with `FromStr` while serde still knows where it is. Numbers and
/// booleans are read as their text, so `at: 1` gets the duration message ("needs a
/// unit"), not a type error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<T>(pub T);

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: FromStr + Expecting,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParsedVisitor(PhantomData))
    }
}

struct ParsedVisitor<T>(PhantomData<T>);

impl<T> ParsedVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn parse<E: de::Error>(s: &str) -> Result<Parsed<T>, E> {
        s.parse().map(Parsed).map_err(E::custom)
    }
}

impl<'de, T> Visitor<'de> for ParsedVisitor<T>
where
    T: FromStr + Expecting,
    T::Err: fmt::Display,
{
    type Value = Parsed<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Self::parse(s)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::parse(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::parse(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::parse(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Self::parse(&v.to_string())
    }
}

impl<'de> Deserialize<'de> for NodesDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodesVisitor)
    }
}

struct NodesVisitor;

impl<'de> Visitor<'de> for NodesVisitor {
    type Value = NodesDoc;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node count (1 to 64) or a list of nodes ({name, ip})")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodesDoc, E> {
        Ok(NodesDoc::Count(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodesDoc, E> {
        Ok(NodesDoc::Count(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodesDoc, A::Error> {
        let mut nodes = Vec::new();
        while let Some(n) = seq.next_element()? {
            nodes.push(n);
        }
        Ok(NodesDoc::List(nodes))
    }
}
