//! `Debug` for generated cases. `{:#?}` (what a failing test prints) is a scenario
//! file in the v1 format (docs/scenario-format.md): the cluster, every pod as an inline
//! manifest, and the probes as steps with their expectations. Save it and run
//! `kube-netsim run FILE` to see the trace. `{:?}` (what proptest writes next to a seed
//! in the regressions file) is a one-line summary.

use std::fmt::{self, Write as _};

use sim_k8s::model::DEFAULT_NAMESPACE;
use sim_k8s::world::Target;

use super::cluster::{GenCluster, GenPod, GenService, GenServiceType, GenTarget};
use super::probes::{Case, PlannedProbe, SET_READY_MS};

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() { f.write_str(&self.yaml()) } else { f.write_str(&self.summary()) }
    }
}

impl fmt::Debug for GenCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let case = Case { cluster: self.clone(), probes: Vec::new() };
        fmt::Debug::fmt(&case, f)
    }
}

/// A YAML double-quoted scalar (names, labels and references never need escapes, but
/// quoting keeps `123`, `1e3` or `true` strings).
fn q(s: &str) -> String {
    format!("{s:?}")
}

impl Case {
    pub fn yaml(&self) -> String {
        let c = &self.cluster;
        let mut y = String::new();
        y.push_str("# kube-netsim invariants counterexample: save as a file, run `kube-netsim run FILE`\n");
        y.push_str("name: invariants-counterexample\n");
        let _ = writeln!(y, "seed: {}", c.seed);
        y.push_str(&c.cluster_yaml());
        if c.pod_count() + c.services.len() > 0 {
            y.push_str("manifests:\n");
        }
        for (node, pod) in c.pods() {
            pod_yaml(&mut y, pod, node);
        }
        for svc in &c.services {
            service_yaml(&mut y, svc);
        }
        let not_ready: Vec<&GenPod> = c.pods().map(|(_, p)| p).filter(|p| p.not_ready).collect();
        if !self.probes.is_empty() || !not_ready.is_empty() {
            y.push_str("steps:\n");
        }
        for pod in not_ready {
            let _ = writeln!(y, "  - at: {SET_READY_MS}ms");
            let _ = writeln!(y, "    setReady: {{pod: {}, ready: false}}", q(&pod.label()));
        }
        for (i, p) in self.probes.iter().enumerate() {
            self.step_yaml(&mut y, i, p);
        }
        y
    }

    fn step_yaml(&self, y: &mut String, i: usize, p: &PlannedProbe) {
        let ms = Case::at(i).as_nanos() / 1_000_000;
        let _ = writeln!(y, "  - at: {ms}ms");
        let (from, to, proto) = (self.end_label(p.from), self.target_ref(p), Case::proto_word(p));
        let _ = writeln!(y, "    probe: {{from: {}, to: {}, proto: {proto}}}", q(&from), q(&to));
        let e = self.expect(p);
        let mut parts: Vec<String> = p.expect.iter().map(|r| format!("result: {}", r.word())).collect();
        if let Some(at) = &e.at {
            parts.push(format!("at: {}", q(at)));
        }
        match &e.source {
            Some(Target::Ip(ip)) => parts.push(format!("source: {ip}")),
            Some(_) => parts.push(format!("source: {}", q(&from))),
            None => {}
        }
        if parts.is_empty() {
            y.push_str("    # the answer depends on the endpoint kube-proxy picks or the pod's node\n");
        } else {
            let _ = writeln!(y, "    expect: {{{}}}", parts.join(", "));
        }
    }

    fn summary(&self) -> String {
        let c = &self.cluster;
        let pods: Vec<String> = c
            .pods()
            .map(|(n, p)| {
                let ports: Vec<String> = p
                    .containers
                    .iter()
                    .flat_map(|c| c.ports.iter())
                    .map(|p| match &p.name {
                        Some(n) => format!("{}/{}({n})", p.port, p.protocol.as_str()),
                        None => format!("{}/{}", p.port, p.protocol.as_str()),
                    })
                    .collect();
                let at = if p.pinned { format!("@{}", GenCluster::node_name(n)) } else { String::new() };
                let ready = if p.not_ready { "(not ready)" } else { "" };
                format!("{}{at}[{}]{ready}", p.label(), ports.join(","))
            })
            .collect();
        let probes: Vec<String> = self.probes.iter().map(|p| self.label(p)).collect();
        let services: Vec<String> = c
            .services
            .iter()
            .map(|s| {
                let sel: Vec<String> = s.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let ports: Vec<String> = s
                    .ports
                    .iter()
                    .map(|p| {
                        let t = match &p.target {
                            GenTarget::Number(n) => n.to_string(),
                            GenTarget::Name(n) => n.clone(),
                        };
                        format!("{}/{}->{t}", p.port, p.protocol.as_str())
                    })
                    .collect();
                let mut kind = String::new();
                if s.type_ != GenServiceType::ClusterIp {
                    kind = format!(" {}", s.type_.as_str());
                }
                if s.local {
                    kind.push_str(" eTP=Local");
                }
                if s.internal_local {
                    kind.push_str(" iTP=Local");
                }
                if s.client_ip_affinity {
                    kind.push_str(" ClientIP");
                }
                format!("{}{{{}}}[{}]{kind}", s.label(), sel.join(","), ports.join(","))
            })
            .collect();
        format!(
            "seed {} {} lb={} nodes={} pods=[{}] services=[{}] probes=[{}]",
            c.seed,
            c.backend.as_str(),
            c.lb_mode.as_str(),
            c.nodes.len(),
            pods.join(" "),
            services.join(" "),
            probes.join("; ")
        )
    }
}

fn pod_yaml(y: &mut String, pod: &GenPod, node: usize) {
    y.push_str("  - apiVersion: v1\n    kind: Pod\n    metadata:\n");
    let _ = writeln!(y, "      name: {}", q(&pod.name));
    if pod.namespace != DEFAULT_NAMESPACE {
        let _ = writeln!(y, "      namespace: {}", q(&pod.namespace));
    }
    if !pod.labels.is_empty() {
        let labels: Vec<String> = pod.labels.iter().map(|(k, v)| format!("{}: {}", q(k), q(v))).collect();
        let _ = writeln!(y, "      labels: {{{}}}", labels.join(", "));
    }
    y.push_str("    spec:\n");
    if pod.pinned {
        let _ = writeln!(y, "      nodeName: {}", GenCluster::node_name(node));
    }
    y.push_str("      containers:\n");
    for c in &pod.containers {
        let _ = writeln!(y, "      - name: {}", q(&c.name));
        y.push_str("        image: busybox\n        ports:\n");
        for p in &c.ports {
            let name = p.name.as_ref().map(|n| format!("name: {}, ", q(n))).unwrap_or_default();
            let _ = writeln!(
                y,
                "        - {{{name}containerPort: {}, protocol: {}}}",
                p.port,
                p.protocol.as_str()
            );
        }
    }
}

/// A Service manifest; ClusterIP and nodePorts are left to the apiserver, the external
/// IP of a LoadBalancer to the service controller.
pub fn service_yaml(y: &mut String, svc: &GenService) {
    y.push_str("  - apiVersion: v1\n    kind: Service\n    metadata:\n");
    let _ = writeln!(y, "      name: {}", q(&svc.name));
    if svc.namespace != DEFAULT_NAMESPACE {
        let _ = writeln!(y, "      namespace: {}", q(&svc.namespace));
    }
    y.push_str("    spec:\n");
    if svc.type_ != GenServiceType::ClusterIp {
        let _ = writeln!(y, "      type: {}", svc.type_.as_str());
    }
    if svc.local {
        y.push_str("      externalTrafficPolicy: Local\n");
    }
    if svc.internal_local {
        y.push_str("      internalTrafficPolicy: Local\n");
    }
    if svc.client_ip_affinity {
        y.push_str("      sessionAffinity: ClientIP\n");
    }
    let sel: Vec<String> = svc.selector.iter().map(|(k, v)| format!("{}: {}", q(k), q(v))).collect();
    let _ = writeln!(y, "      selector: {{{}}}", sel.join(", "));
    y.push_str("      ports:\n");
    for p in &svc.ports {
        let name = if p.name.is_empty() { String::new() } else { format!("name: {}, ", q(&p.name)) };
        let target = match &p.target {
            GenTarget::Number(n) => n.to_string(),
            GenTarget::Name(n) => q(n),
        };
        let _ = writeln!(
            y,
            "      - {{{name}port: {}, targetPort: {target}, protocol: {}}}",
            p.port,
            p.protocol.as_str()
        );
    }
}
