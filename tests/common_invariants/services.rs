//! Checks of Service probes, property 4 (pod or node → ClusterIP:port, the outside
//! client → nodeIP:nodePort and → the load balancer's external IP:port). The truth they compare against is computed here from the run's
//! store, independently of the EndpointSlice controller and kube-proxy: a service port's
//! endpoints are the Running, Ready, not terminating pods of the service's namespace
//! that carry every selector label, have an IP and a node, and whose targetPort
//! resolves (a number as-is, a name to the pod's first container port with that name
//! *and* the service port's protocol). The generator makes some pods not Ready with a
//! `setReady` step before the first probe; the checks first make sure the store shows
//! exactly those pods not Ready (so a not-Ready pod that still receives service traffic
//! is the dataplane's fault, not a readiness change that never happened).
//!
//! Where the request landed is read from the trace: the first `deliver` of a TCP/UDP
//! packet is the request (DNATed) arriving in the endpoint's stack; nothing else of the
//! flow can be delivered before it.
//!
//! The expected behaviour (reference linux-k8s-dataplane.md §1.4, §1.8, §6.5):
//! - no endpoints: the filter table REJECTs (`icmp-port-unreachable`), TCP reports
//!   `refused`, UDP `unreachable`, and the request reaches no pod;
//! - a Local policy (`externalTrafficPolicy` for nodePort and load-balancer traffic,
//!   `internalTrafficPolicy` for ClusterIP traffic) on a node without a local endpoint:
//!   DROP (timeout), the trace shows the drop on that node (kube-proxy's filter rule
//!   "has no local endpoints"; proxier.go writes it when the service has endpoints but
//!   none usable on this node);
//! - otherwise the request lands on one of the candidates (every endpoint; under a
//!   Local policy those on the node the request entered: the probed node, the client's
//!   node, or the node the load balancer chose), on that pod's resolved target port;
//!   the answer is that pod's: reached if something listens there, refused/unreachable
//!   if not;
//! - through the load balancer under eTP Local, the health checks (kube-proxy's
//!   healthCheckNodePort answers 503 without a local ready endpoint) take the nodes
//!   without a local endpoint out: when some node has one, the request enters such a
//!   node (when none has one, the load balancer fails open and the node drops it);
//! - `sessionAffinity: ClientIP`: once a client's request landed on an endpoint of a
//!   service port, its later requests to that port (through the same node, for a
//!   nodePort: each node's kube-proxy keeps its own `recent` lists) land on that one.

use std::net::Ipv4Addr;

use sim_k8s::model::Protocol;
use sim_k8s::model::service::{Service, ServicePort, SessionAffinity, TargetPort, TrafficPolicy};
use sim_k8s::run::ExpectedResult;
use sim_k8s::store::PodPhase;
use sim_net::hop::{Hop, Step};
use sim_net::packet::IpProto;
use sim_net::stack::ProbeOutcome;

use super::Probe;
use super::cluster::GenCluster;
use super::probes::{End, Path, SET_READY_MS, closed};
use super::trace::{self, Addrs};
use sim_k8s::scenario::LbMode;

/// An endpoint of a service port, as the run's store says it must be.
#[derive(Debug)]
pub struct Endpoint {
    pub label: String,
    pub netns: String,
    pub ip: Ipv4Addr,
    pub node: String,
    /// The pod's resolved target port.
    pub port: u16,
    /// Something listens on that port (and protocol) in the pod.
    pub listens: bool,
}

fn ip_proto(p: Protocol) -> IpProto {
    if p == Protocol::Udp { IpProto::Udp } else { IpProto::Tcp }
}

fn outcome_of(r: ExpectedResult) -> ProbeOutcome {
    match r {
        ExpectedResult::Reached => ProbeOutcome::Reached,
        ExpectedResult::Refused => ProbeOutcome::Refused,
        ExpectedResult::Unreachable => ProbeOutcome::Unreachable,
        ExpectedResult::Dropped | ExpectedResult::Timeout => ProbeOutcome::Timeout,
        ExpectedResult::Unresolved => unreachable!("generated probes target addresses, not names"),
    }
}

fn word(o: Option<ProbeOutcome>) -> &'static str {
    o.map_or("nothing", ProbeOutcome::word)
}

impl Probe<'_> {
    /// The admitted service and port this probe is aimed at.
    fn service(&self) -> Result<(&Service, &ServicePort), String> {
        let (s, k) = self.plan.service.ok_or("not a service probe")?;
        let g = &self.case.cluster.services[s];
        let svc = self
            .report
            .world
            .store
            .service(&g.namespace, &g.name)
            .ok_or(format!("{} is not in the store", g.label()))?;
        let sp = svc.ports.get(k).ok_or(format!("{} has no port #{k}", g.label()))?;
        if (sp.port, sp.protocol) != (g.ports[k].port, g.ports[k].protocol) {
            return Err(format!("{} port #{k} was admitted as {sp:?}", g.label()));
        }
        Ok((svc, sp))
    }

    /// How the probe reaches its service.
    fn path(&self) -> Path {
        self.case.path(self.plan)
    }

    /// The node an external probe enters the cluster at: the probed node for a nodePort,
    /// the first node on the trace for the load balancer (`None` for ClusterIP probes).
    fn entry_node(&self) -> Option<String> {
        match self.path() {
            Path::NodePort(n) => Some(GenCluster::node_name(n)),
            Path::Lb => {
                let nodes = self.case.cluster.nodes.len();
                let is_node = |ns: &str| (0..nodes).any(|i| GenCluster::node_name(i) == ns);
                // The first TCP/UDP packet a node sees (ARP requests are flooded to all).
                let carries_the_flow =
                    |h: &&Hop| matches!(trace::parse_packet(&h.packet), Ok(Some(a)) if a.dport.is_some());
                let hop = self.step.hops.iter().filter(|h| is_node(&h.netns)).find(carries_the_flow);
                hop.map(|h| h.netns.clone())
            }
            Path::ClusterIp(_) => None,
        }
    }

    /// The node whose endpoints a Local policy restricts this probe to, if one applies.
    fn local_policy_node(&self, svc: &Service) -> Option<Option<String>> {
        let ext = svc.external_traffic_policy == Some(TrafficPolicy::Local);
        match self.path() {
            Path::ClusterIp(_) if svc.internal_traffic_policy == TrafficPolicy::Local => {
                Some(self.client_node())
            }
            Path::NodePort(_) | Path::Lb if ext => Some(self.entry_node()),
            _ => None,
        }
    }

    /// The service port's endpoints (see the module doc).
    pub fn endpoints(&self, svc: &Service, sp: &ServicePort) -> Vec<Endpoint> {
        let Some(selector) = &svc.selector else { return Vec::new() };
        let world = &self.report.world;
        let mut out = Vec::new();
        for (pod, st) in world.store.pods() {
            let selected =
                pod.namespace == svc.namespace && selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v));
            let (Some(ip), Some(node), Some(netns)) = (st.pod_ip, &pod.node_name, &st.netns) else {
                continue;
            };
            if !selected || st.phase != PodPhase::Running || !st.ready || st.terminating {
                continue;
            }
            let port = match &sp.target_port {
                TargetPort::Number(n) => Some(*n),
                TargetPort::Name(name) => pod
                    .containers
                    .iter()
                    .flat_map(|c| &c.ports)
                    .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol == sp.protocol)
                    .map(|p| p.container_port),
            };
            let Some(port) = port else { continue };
            let listens = world
                .listeners
                .iter()
                .any(|l| l.netns == *netns && l.proto == ip_proto(sp.protocol) && l.port == port);
            let label = sim_k8s::run::pod_label(&pod.namespace, &pod.name);
            out.push(Endpoint { label, netns: netns.clone(), ip, node: node.clone(), port, listens });
        }
        out
    }

    /// The request's arrival in a stack: the first `deliver` of a TCP/UDP packet that is
    /// not encapsulated.
    fn landing(&self) -> Result<Option<(usize, &Hop, Addrs)>, String> {
        for (i, h) in self.step.hops.iter().enumerate() {
            // A VXLAN packet delivered to a node's VTEP is the tunnel, not the request.
            if h.step != Step::Deliver || h.packet.contains(" | ") {
                continue;
            }
            if let Some(a) = trace::parse_packet(&h.packet)?
                && a.dport.is_some()
            {
                return Ok(Some((i, h, a)));
            }
        }
        Ok(None)
    }

    fn sent(&self) -> Result<Addrs, String> {
        let first = self.step.hops.first().ok_or("the probe left no trace")?;
        if first.step != Step::Send {
            return Err(format!("the trace does not start with a send: {}", first.line()));
        }
        trace::parse_packet(&first.packet)?.ok_or_else(|| format!("send without IPv4: {}", first.line()))
    }

    /// The node the probe's client runs on (pod clients: the node it is bound to).
    fn client_node(&self) -> Option<String> {
        match self.plan.from {
            End::Node(i) => Some(GenCluster::node_name(i)),
            End::Pod(i) => {
                let (_, pod) = self.case.cluster.pod(i);
                self.report.world.store.pod(&pod.namespace, &pod.name).and_then(|(p, _)| p.node_name.clone())
            }
            End::Client | End::Service(_) | End::Lb(_) => None,
        }
    }

    fn is_local_to(&self, node: &str, ip: Ipv4Addr) -> bool {
        self.report.world.net.netns(node).is_some_and(|n| n.is_local(ip))
    }
}

/// Through the load balancer under eTP Local: when some node has a local ready endpoint
/// of the service (any port: kube-proxy's health server counts the service's), only
/// such nodes pass the health checks, so the request must enter one of them.
fn lb_enters_a_node_with_a_local_endpoint(p: &Probe<'_>, svc: &Service) -> Result<(), String> {
    let mut serving: Vec<String> =
        svc.ports.iter().flat_map(|sp| p.endpoints(svc, sp)).map(|e| e.node).collect();
    serving.sort();
    serving.dedup();
    let entered = p.entry_node();
    match entered {
        Some(n) if serving.is_empty() || serving.contains(&n) => Ok(()),
        Some(n) => Err(format!(
            "eTP Local: the load balancer sent the request to {n}, which has no local endpoint of {}; \
             only {serving:?} pass kube-proxy's health check",
            svc.key()
        )),
        None if serving.is_empty() => Ok(()),
        None => Err(format!(
            "the load balancer sent the request to no node; {serving:?} pass their health checks"
        )),
    }
}

fn list(eps: &[&Endpoint]) -> String {
    let v: Vec<String> = eps
        .iter()
        .map(|e| {
            format!("{} {}:{}{}", e.label, e.ip, e.port, if e.listens { "" } else { " (nothing listens)" })
        })
        .collect();
    format!("[{}]", v.join(", "))
}

/// Property 4a/4b: the probe lands on a candidate endpoint of the service port, on that pod's
/// resolved targetPort, and gets that pod's answer; with no endpoints it is rejected
/// (refused/unreachable) and reaches no pod; under a Local policy on a node without a
/// local endpoint it is dropped on that node; through the load balancer under eTP
/// Local it enters a node with a local endpoint when there is one. The step's own
/// expectations (result, who answers, the source it sees, where the spec decides
/// them) hold too.
pub fn service_reaches_an_endpoint(p: &Probe<'_>) -> Result<(), String> {
    readiness_took_effect(p)?;
    let (svc, sp) = p.service()?;
    let eps = p.endpoints(svc, sp);
    let local = p.local_policy_node(svc);
    if local.is_some() && p.path() == Path::Lb && !eps.is_empty() {
        lb_enters_a_node_with_a_local_endpoint(p, svc)?;
    }
    let node = match &local {
        Some(Some(n)) => Some(n.clone()),
        Some(None) if !eps.is_empty() => {
            return Err(format!(
                "a Local policy applies but the request entered no node (outcome {})",
                word(p.step.probe.outcome)
            ));
        }
        _ => None,
    };
    let candidates: Vec<&Endpoint> =
        eps.iter().filter(|e| local.is_none() || Some(&e.node) == node.as_ref()).collect();
    let got = p.step.probe.outcome;
    let landing = p.landing()?;
    let reject = outcome_of(closed(sp.protocol));
    if eps.is_empty() {
        if let Some((_, h, a)) = landing {
            return Err(format!(
                "{} has no endpoints, yet the request was delivered as {a}:\n{}",
                svc.key(),
                h.line()
            ));
        }
        if got != Some(reject) {
            return Err(format!(
                "{} has no endpoints: expected {} (REJECT), got {}",
                svc.key(),
                reject.word(),
                word(got)
            ));
        }
    } else if candidates.is_empty() {
        let node = node.expect("only a Local policy narrows the candidates");
        if let Some((_, h, a)) = landing {
            return Err(format!(
                "a Local policy and no endpoint on {node} (endpoints {}), yet the request was delivered as {a}:\n{}",
                list(&eps.iter().collect::<Vec<_>>()),
                h.line()
            ));
        }
        let dropped = p.step.hops.iter().any(|h| matches!(h.step, Step::Drop { .. }) && h.netns == node);
        if got != Some(ProbeOutcome::Timeout) || !dropped {
            return Err(format!(
                "a Local policy and no endpoint on {node}: expected a timeout with a DROP on {node}, got {}{}",
                word(got),
                if dropped { "" } else { " and no drop there" }
            ));
        }
    } else {
        let Some((_, hop, addrs)) = landing else {
            return Err(format!(
                "{} has endpoints {} but the request reached none; outcome {}",
                svc.key(),
                list(&candidates),
                word(got)
            ));
        };
        let owner = p.report.world.owner_of(&hop.netns).unwrap_or(&hop.netns).to_string();
        let Some(e) = candidates.iter().find(|e| e.netns == hop.netns) else {
            return Err(format!(
                "the request landed in {owner}, which is not one of the endpoints {} of {}:\n{}",
                list(&candidates),
                svc.key(),
                hop.line()
            ));
        };
        if addrs.dst != e.ip || addrs.dport != Some(e.port) {
            return Err(format!(
                "the request reached {} as {addrs}, but its target port resolves to {}:{}:\n{}",
                e.label,
                e.ip,
                e.port,
                hop.line()
            ));
        }
        let want = if e.listens { ProbeOutcome::Reached } else { reject };
        if got != Some(want) {
            return Err(format!(
                "the request reached {} on port {}: expected {}, got {}",
                e.label,
                e.port,
                want.word(),
                word(got)
            ));
        }
        if want == ProbeOutcome::Reached && p.step.probe.responder.as_deref() != Some(e.label.as_str()) {
            return Err(format!("{} was reached but {:?} answered", e.label, p.step.probe.responder));
        }
    }
    match p.step.checks.iter().find(|c| !c.ok) {
        Some(c) => Err(format!("expect {}: expected {}, got {}", c.what, c.expected, c.got)),
        None => Ok(()),
    }
}

/// The source the endpoint sees: a pod's own IP (no NAT inside the cluster CIDR) unless
/// it reached itself (hairpin: masqueraded to its node's address); a node's address for
/// a node; from outside (nodePort, load balancer) under eTP Cluster an address of the
/// node the request entered (KUBE-EXT masquerades), under eTP Local the source that
/// reached the node: the client's own address, or behind the `nodeport`-mode load
/// balancer (a proxy that masquerades) the load balancer's address.
pub fn service_source_is_expected(p: &Probe<'_>) -> Result<(), String> {
    if p.step.probe.outcome != Some(ProbeOutcome::Reached) {
        return Ok(());
    }
    let (svc, _) = p.service()?;
    let seen = p.step.probe.seen_src.ok_or("the endpoint saw no source")?;
    let responder = p.step.probe.responder.clone().unwrap_or_default();
    match (p.plan.from, p.entry_node()) {
        (End::Client, Some(_)) if svc.external_traffic_policy == Some(TrafficPolicy::Local) => {
            let world = &p.report.world;
            let (what, ip) = match (p.path(), world.cluster.load_balancer.mode) {
                (Path::Lb, LbMode::NodePort) => ("the load balancer's", world.cluster.load_balancer.ip),
                _ => {
                    let client = world.cluster.clients.iter().find(|c| c.name == super::probes::CLIENT);
                    ("the client's", client.ok_or("no client/client in the cluster")?.ip)
                }
            };
            (seen == ip).then_some(()).ok_or(format!("eTP Local: {responder} must see {what} {ip}, saw {seen}"))
        }
        (End::Client, Some(node)) => (p.is_local_to(&node, seen)).then_some(()).ok_or(format!(
            "eTP Cluster: {responder} must see an address of {node}, where the request entered (masquerade), saw {seen}"
        )),
        (End::Pod(i), _) => {
            let own = p.pod_ip(i).ok_or("the client pod has no IP")?;
            let hairpin = p.case.end_label(End::Pod(i)) == responder;
            let node = p.client_node().unwrap_or_default();
            if hairpin {
                (p.is_local_to(&node, seen)).then_some(()).ok_or(format!(
                    "hairpin: {responder} reached itself and must see an address of {node}, saw {seen}"
                ))
            } else {
                (seen == own)
                    .then_some(())
                    .ok_or(format!("{responder} must see the client pod's {own}, saw {seen}"))
            }
        }
        (End::Node(_), _) => {
            let node = p.client_node().unwrap_or_default();
            (p.is_local_to(&node, seen))
                .then_some(())
                .ok_or(format!("{responder} must see an address of {node}, saw {seen}"))
        }
        _ => Err("unexpected service probe ends".to_string()),
    }
}

/// Property 5 for services. The answer the client's stack gets comes from the address
/// and port it sent to (ClusterIP:port, nodeIP:nodePort or the external IP:port), to the
/// address and port it sent from, although the request was DNATed: conntrack un-NATs
/// the reply (and an endpoint's ICMP error, whose source becomes the probed address).
/// A REJECT of a nodePort comes from the node's own address, the one probed; behind the
/// `nodeport`-mode load balancer its conntrack un-NATs the error to the external IP. A
/// REJECT of a packet that was not for a local address is the exception Linux makes:
/// the rejecting node sends the ICMP error from its own address (`icmp_send` picks it
/// by route), so for a ClusterIP the source must be an address of the client's node,
/// and for an external IP the `vip`-mode load balancer routed to a node (kube-proxy's
/// iptables mode does not make the VIP a local address) an address of that node.
pub fn service_answer_comes_from_the_probed_address(p: &Probe<'_>) -> Result<(), String> {
    let got = p.step.probe.outcome;
    if got.is_none() || got == Some(ProbeOutcome::Timeout) {
        return Ok(());
    }
    let req = p.sent()?;
    let dst = p.step.probe.dst.ok_or("the probe has no resolved destination")?;
    let client = p.client_netns();
    let landing = p.landing()?;
    let from = landing.map_or(0, |(i, _, _)| i + 1);
    let answer = p.step.hops[from..]
        .iter()
        .find(|h| h.step == Step::Deliver && h.netns == client && !h.packet.contains(" | "))
        .ok_or(format!("outcome {} but no answer was delivered in {client}", word(got)))?;
    let a = trace::parse_packet(&answer.packet)?.ok_or("the client got a packet without IPv4")?;
    let sent_to = Addrs { dst, dport: Some(p.plan.port), ..req };
    let rejecting_node = match (landing, p.path()) {
        (None, Path::ClusterIp(_)) => p.client_node(),
        (None, Path::Lb) if p.report.world.cluster.load_balancer.mode == LbMode::Vip => p.entry_node(),
        _ => None,
    };
    if let Some(node) = rejecting_node {
        if !p.is_local_to(&node, a.src) || a.dst != req.src || a.dport.is_some() {
            return Err(format!(
                "{sent_to} was rejected, but the ICMP error came as {a}, not from an address of {node}:\n{}",
                answer.line()
            ));
        }
        return Ok(());
    }
    let with_ports = a.sport.is_some();
    if got == Some(ProbeOutcome::Reached) && !with_ports {
        return Err(format!("reached, but the client's first answer is {a}:\n{}", answer.line()));
    }
    let ok_src = a.src == dst && (!with_ports || a.sport == Some(p.plan.port));
    let ok_dst = a.dst == req.src && (!with_ports || a.dport == req.sport);
    if !ok_src || !ok_dst {
        return Err(format!("the client sent {sent_to} but its answer came as {a}:\n{}", answer.line()));
    }
    Ok(())
}

/// The generated readiness is the store's: every pod marked not Ready by a `setReady`
/// step is not Ready at the end of the run, every other pod is (nothing else in a
/// generated run changes readiness).
fn readiness_took_effect(p: &Probe<'_>) -> Result<(), String> {
    for (_, pod) in p.case.cluster.pods() {
        let (_, st) = p
            .report
            .world
            .store
            .pod(&pod.namespace, &pod.name)
            .ok_or(format!("{} is not in the store", pod.label()))?;
        if st.ready == pod.not_ready {
            return Err(format!(
                "{} was generated {}, but its status says ready: {} (phase {:?})",
                pod.label(),
                if pod.not_ready {
                    format!("not Ready (setReady at {SET_READY_MS}ms)")
                } else {
                    "Ready".into()
                },
                st.ready,
                st.phase
            ));
        }
    }
    Ok(())
}

/// Property 4c: under `sessionAffinity: ClientIP`, when the first probe from a client to a service port
/// (through the same node, for a nodePort or the load balancer: each node's kube-proxy
/// keeps its own `recent` lists) landed on an endpoint, every later probe from that
/// client to that port the same way lands on the same endpoint.
pub fn service_affinity_holds(p: &Probe<'_>) -> Result<(), String> {
    let (svc, _) = p.service()?;
    if svc.session_affinity == SessionAffinity::None {
        return Ok(());
    }
    let me =
        p.case.probes.iter().position(|q| std::ptr::eq(q, p.plan)).ok_or("the probe is not in its case")?;
    let probe = |j: usize| Probe {
        case: p.case,
        report: p.report,
        plan: &p.case.probes[j],
        step: &p.report.steps[j],
    };
    let same = |q: &Probe<'_>| {
        (q.plan.from, q.plan.to, q.plan.service) == (p.plan.from, p.plan.to, p.plan.service)
            && q.entry_node() == p.entry_node()
    };
    let Some(first) = (0..me).find(|&j| same(&probe(j))) else { return Ok(()) };
    let earlier = probe(first);
    let Some((_, first_hop, _)) = earlier.landing()? else { return Ok(()) };
    let owner = |netns: &str| p.report.world.owner_of(netns).unwrap_or(netns).to_string();
    match p.landing()? {
        Some((_, hop, _)) if hop.netns == first_hop.netns => Ok(()),
        Some((_, hop, a)) => Err(format!(
            "{} has sessionAffinity ClientIP: step {} from the same client landed on {}, but this request landed on {} as {a}:\n{}",
            svc.key(),
            earlier.step.index,
            owner(&first_hop.netns),
            owner(&hop.netns),
            hop.line()
        )),
        None => Err(format!(
            "{} has sessionAffinity ClientIP: step {} from the same client landed on {}, but this request reached no endpoint (outcome {})",
            svc.key(),
            earlier.step.index,
            owner(&first_hop.netns),
            word(p.step.probe.outcome)
        )),
    }
}
