//! From a loaded [`Scenario`] to a [`RunInput`]: references become probe origins and
//! targets, the scenario's expectations become checks.

use sim_net::packet::IpProto;

use crate::run::{Expect, ExpectedResult, RunInput, StepPlan};
use crate::scenario::{self, ProbeProto, Ref, Scenario, StepAction};
use crate::world::{Origin, ProbePlan, Target};

fn target(r: &Ref) -> Target {
    match r {
        Ref::Pod { namespace, name, .. } => Target::Pod { namespace: namespace.clone(), name: name.clone() },
        Ref::Node { name, .. } => Target::Node(name.clone()),
        Ref::Client { name, .. } => Target::Client(name.clone()),
        Ref::Service { namespace, name, .. } => {
            Target::Service { namespace: namespace.clone(), name: name.clone() }
        }
        Ref::LoadBalancer { namespace, name, .. } => {
            Target::LoadBalancer { namespace: namespace.clone(), name: name.clone() }
        }
        Ref::Ip { addr, .. } => Target::Ip(*addr),
        Ref::Name { name, .. } => Target::Name(name.clone()),
    }
}

fn origin(r: &Ref) -> Option<Origin> {
    match r {
        Ref::Pod { namespace, name, .. } => {
            Some(Origin::Pod { namespace: namespace.clone(), name: name.clone() })
        }
        Ref::Node { name, .. } => Some(Origin::Node(name.clone())),
        Ref::Client { name, .. } => Some(Origin::Client(name.clone())),
        Ref::Ip { .. } | Ref::Service { .. } | Ref::LoadBalancer { .. } | Ref::Name { .. } => None,
    }
}

fn proto(p: ProbeProto) -> IpProto {
    match p {
        ProbeProto::Icmp => IpProto::Icmp,
        ProbeProto::Tcp | ProbeProto::Http => IpProto::Tcp,
        ProbeProto::Udp => IpProto::Udp,
    }
}

fn result(r: scenario::ExpectedResult) -> ExpectedResult {
    match r {
        scenario::ExpectedResult::Reached => ExpectedResult::Reached,
        scenario::ExpectedResult::Refused => ExpectedResult::Refused,
        scenario::ExpectedResult::Unreachable => ExpectedResult::Unreachable,
        scenario::ExpectedResult::Dropped => ExpectedResult::Dropped,
        scenario::ExpectedResult::Timeout => ExpectedResult::Timeout,
        scenario::ExpectedResult::Unresolved => ExpectedResult::Unresolved,
    }
}

fn expect(e: &scenario::Expect) -> Expect {
    Expect {
        result: e.result.map(result),
        at: e.receiver.as_ref().map(|g| g.as_str().to_string()),
        source: e.source.as_ref().map(target),
        via: e.via.clone(),
        status: e.status,
    }
}

/// The runnable plan of a scenario. Validation already guaranteed that probe origins
/// are pods or nodes.
pub fn plan(s: &Scenario, trace: bool) -> RunInput {
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    for step in &s.steps {
        let p = match &step.action {
            StepAction::Probe(p) => p,
            StepAction::Act(a) => {
                actions.push((step.at, a.clone()));
                continue;
            }
        };
        let Some(from) = origin(&p.from) else { continue };
        let mut label = format!("{} -> {} ({})", p.from, p.to, p.proto.as_str());
        if let Some(c) = &p.container {
            label = format!("{} [container {c}] -> {} ({})", p.from, p.to, p.proto.as_str());
        }
        // Only probes that ask for more than `GET /` say what they ask.
        if p.proto == ProbeProto::Http && p.http != crate::apps::client::HttpOpts::default() {
            let scheme = if p.http.tls { "https" } else { "http" };
            let host = p.http.host.as_deref().map(|h| format!(" Host: {h}")).unwrap_or_default();
            label = format!("{label}: {scheme} GET {}{host}", p.http.path);
        }
        let probe = ProbePlan {
            at: step.at,
            from,
            to: target(&p.to),
            port: p.to.port().unwrap_or(if p.proto == ProbeProto::Http { 80 } else { 0 }),
            proto: proto(p.proto),
            http: p.proto == ProbeProto::Http,
            request: p.http.clone(),
            timeout: p.timeout,
            sport: p.source_port,
            size: p.size,
        };
        let n = p.repeat.max(1);
        for k in 0..n {
            let at = probe.at + p.interval.checked_mul(u64::from(k)).expect("repeat is at most 1000");
            let repeat = (n > 1).then_some((k + 1, n));
            let probe = ProbePlan { at, ..probe.clone() };
            steps.push(StepPlan {
                probe,
                expect: step.expect.as_ref().map(expect),
                label: label.clone(),
                repeat,
            });
        }
    }
    RunInput {
        name: s.name.clone(),
        description: s.description.clone(),
        seed: s.seed,
        cluster: s.cluster.clone(),
        pods: s.pods.iter().map(|p| p.value.clone()).collect(),
        objects: objects(s),
        actions,
        capture: false,
        warnings: s.warnings(),
        until: None,
        max_events: crate::run::EVENT_BUDGET,
        steps,
        trace,
    }
}

/// The objects other than pods a scenario creates at t = 0, in the order an apiserver
/// would see them: services (with `default/kubernetes` and its slice), hand-written
/// slices, ReplicaSets, Deployments.
fn objects(s: &Scenario) -> Vec<crate::store::Object> {
    use crate::store::Object;
    let w = &s.workloads;
    let mut out: Vec<Object> = w.services.iter().cloned().map(Object::Service).collect();
    out.extend(crate::scenario::kubernetes_slice(&s.cluster).map(Object::EndpointSlice));
    out.extend(w.endpoint_slices.iter().map(|e| Object::EndpointSlice(e.value.clone())));
    out.extend(w.replica_sets.iter().map(|r| Object::ReplicaSet(r.value.clone())));
    out.extend(w.deployments.iter().map(|d| Object::Deployment(d.value.clone())));
    out.extend(w.ingress.classes.iter().cloned().map(Object::IngressClass));
    out.extend(w.ingress.tls_secrets.iter().cloned().map(Object::TlsSecret));
    out.extend(w.ingress.ingresses.iter().cloned().map(Object::Ingress));
    out
}
