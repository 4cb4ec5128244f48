//! `kube-netsim show FILE WHAT`: the cluster's state after the timeline, printed the
//! way the real tools print it (`ip route`, `ip neigh`, `bridge fdb`, `kubectl get`),
//! and `commands`: every `NetOp` as the shell command, grouped by component.

use super::out;
use std::fmt::Write;
use std::path::PathBuf;

use sim_k8s::plan::plan;
use sim_k8s::run;
use sim_net::show::{self as ipshow, Render};

use super::{EXIT_BAD_INPUT, EXIT_OK, load};
use crate::render::kubectl::{self, table};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// `ip route` of a node or pod.
    Routes,
    /// `ip -br addr`.
    Addrs,
    /// `ip link`.
    Links,
    /// `ip neigh`.
    Neigh,
    /// `bridge fdb show`.
    Fdb,
    /// `iptables-save` of a node or pod.
    Iptables,
    /// `conntrack -L` of a node or pod.
    Conntrack,
    /// `kubectl get nodes -o wide` (AGE in simulated time).
    Nodes,
    /// `kubectl get pods -A -o wide` (AGE in simulated time); `--node N` keeps the pods
    /// scheduled on N (`--field-selector spec.nodeName=N`).
    Pods,
    /// Every dataplane command, grouped by the component that issued it.
    Commands,
    /// `kubectl get svc -o wide`.
    Svc,
    /// `kubectl get endpointslices`.
    Endpointslices,
    /// `kubectl get ingress -A` (ADDRESS: the nodes running the controller, as
    /// ingress-nginx publishes them when exposed by a NodePort).
    Ingress,
    /// `kubectl describe svc/NAME` (give the object after it).
    Describe,
    /// `cat /etc/resolv.conf` in a pod (`--pod`) or on a node (`--node`).
    Resolv,
    /// The service environment variables of a pod's containers (`env | sort`; `--pod`).
    Env,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    pub file: PathBuf,
    #[arg(value_enum)]
    pub what: What,
    /// For `describe`: the object, `svc/NAME` or `svc/NAMESPACE/NAME`.
    pub object: Option<String>,
    /// The node whose namespace to show (default: every node).
    #[arg(long, conflicts_with = "pod")]
    pub node: Option<String>,
    /// The pod whose namespace to show (`NAME` in default, or `NAMESPACE/NAME`).
    #[arg(long)]
    pub pod: Option<String>,
    /// Show the cloud load balancer's namespace (`lb`) instead.
    #[arg(long, conflicts_with_all = ["node", "pod"])]
    pub lb: bool,
    /// Show the state at this instant of the timeline ("8s", "2.5s") instead of after it.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<sim_core::SimTime>,
}

fn parse_time(s: &str) -> Result<sim_core::SimTime, String> {
    s.parse::<sim_core::SimTime>().map_err(|e| e.to_string())
}

pub fn run(a: ShowArgs) -> u8 {
    let s = match load(&a.file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = run::run(run::RunInput { until: a.at, ..plan(&s, false) });
    let w = &report.world;
    let now = a.at.unwrap_or_else(|| {
        w.net
            .tracer
            .hops
            .last()
            .map(|h| h.time)
            .unwrap_or_else(|| w.probes.iter().filter_map(|p| p.finished).max().unwrap_or_default())
    });
    let render = match a.what {
        What::Routes => Some(Render::IpRoute),
        What::Addrs => Some(Render::IpAddrBrief),
        What::Links => Some(Render::IpLink),
        What::Neigh => Some(Render::IpNeigh),
        What::Fdb => Some(Render::BridgeFdb),
        What::Iptables | What::Conntrack => Some(Render::IptablesSave),
        _ => None,
    };
    if let Some(r) = render {
        let lb_ns = sim_k8s::lb::LB_NETNS;
        if a.lb && w.net.netns(lb_ns).is_none() {
            eprintln!(
                "error: no load balancer (yet): the cloud builds it 1 s after a LoadBalancer Service gets an external IP"
            );
            return EXIT_BAD_INPUT;
        }
        let targets: Vec<(String, String)> = match (&a.node, &a.pod) {
            _ if a.lb => vec![("lb".to_string(), lb_ns.to_string())],
            (Some(n), _) => {
                if sim_k8s::cluster::node(&w.cluster, n).is_none() {
                    eprintln!(
                        "error: no node {n:?} (nodes: {})",
                        w.cluster.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
                    );
                    return EXIT_BAD_INPUT;
                }
                vec![(format!("node/{n}"), n.clone())]
            }
            (None, Some(p)) => {
                match w.store.pod(sim_k8s::model::DEFAULT_NAMESPACE, p).and_then(|(_, st)| st.netns.clone()) {
                    Some(ns) => vec![(format!("pod/{p}"), ns)],
                    None => {
                        eprintln!("error: no running pod {p:?}");
                        return EXIT_BAD_INPUT;
                    }
                }
            }
            (None, None) => {
                w.cluster.nodes.iter().map(|n| (format!("node/{}", n.name), n.name.clone())).collect()
            }
        };
        let mut out = String::new();
        for (label, ns) in targets {
            let text = match (a.what, w.net.netns(&ns)) {
                (What::Iptables, Some(n)) => n.nf.tables.save(),
                (What::Conntrack, Some(n)) => n.nf.conntrack.render_list(now),
                _ => ipshow::render(&w.net, &ns, r, now).unwrap_or_default(),
            };
            let command = match a.what {
                What::Iptables => "iptables-save",
                What::Conntrack => "conntrack -L",
                _ => r.command(),
            };
            let _ = writeln!(out, "# {label}: {command}");
            out.push_str(&text);
        }
        out!("{out}");
        return EXIT_OK;
    }
    if matches!(a.what, What::Resolv | What::Env) {
        return match pod_files(&report, a.what, a.node.as_deref(), a.pod.as_deref()) {
            Ok(text) => {
                out!("{text}");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_BAD_INPUT
            }
        };
    }
    match a.what {
        What::Nodes => out!("{}", kubectl::nodes(&w.store, now)),
        What::Pods => {
            if let Some(n) = a.node.as_deref().filter(|n| sim_k8s::cluster::node(&w.cluster, n).is_none()) {
                let names: Vec<&str> = w.cluster.nodes.iter().map(|n| n.name.as_str()).collect();
                eprintln!("error: no node {n:?} (nodes: {})", names.join(", "));
                return EXIT_BAD_INPUT;
            }
            out!("{}", kubectl::pods(&w.store, now, a.node.as_deref()))
        }
        What::Commands => out!("{}", commands(&report)),
        What::Svc => out!("{}", services(&report)),
        What::Endpointslices => out!("{}", endpoint_slices(&report)),
        What::Ingress => out!("{}", ingresses(&report)),
        What::Describe => {
            let Some(obj) = a.object.as_deref() else {
                eprintln!("error: describe needs an object: svc/NAME");
                return EXIT_BAD_INPUT;
            };
            match describe_service(&report, obj) {
                Ok(text) => out!("{text}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_BAD_INPUT;
                }
            }
        }
        _ => unreachable!("renderable views were handled above"),
    }
    EXIT_OK
}

/// `resolv` and `env`: files and variables the kubelet gives a pod (or a node's own
/// `/etc/resolv.conf`).
fn pod_files(
    r: &run::RunReport,
    what: What,
    node: Option<&str>,
    pod: Option<&str>,
) -> Result<String, String> {
    use sim_k8s::world::Origin;
    let w = &r.world;
    let mut out = String::new();
    if let Some(n) = node {
        if what == What::Env {
            return Err("env is a pod's: give --pod NAME".into());
        }
        if sim_k8s::cluster::node(&w.cluster, n).is_none() {
            return Err(format!("no node {n:?}"));
        }
        let _ = writeln!(out, "# node/{n}: cat /etc/resolv.conf (no nameserver: glibc uses 127.0.0.1)");
        out.push_str(&w.resolv_conf(&Origin::Node(n.to_string())).to_string());
        return Ok(out);
    }
    let Some(p) = pod else { return Err(format!("{what:?} needs --pod NAME").to_lowercase()) };
    let (namespace, name) = p.split_once('/').unwrap_or((sim_k8s::model::DEFAULT_NAMESPACE, p));
    if w.store.pod(namespace, name).is_none_or(|(_, st)| st.phase != sim_k8s::store::PodPhase::Running) {
        return Err(format!("no running pod {p:?}"));
    }
    let label = sim_k8s::run::pod_label(namespace, name);
    if what == What::Resolv {
        let _ = writeln!(out, "# {label}: cat /etc/resolv.conf");
        let origin = Origin::Pod { namespace: namespace.into(), name: name.into() };
        out.push_str(&w.resolv_conf(&origin).to_string());
    } else {
        let _ =
            writeln!(out, "# {label}: env | sort (the service variables the kubelet set at container start)");
        for (k, v) in w.pod_env.get(&(namespace.to_string(), name.to_string())).into_iter().flatten() {
            let _ = writeln!(out, "{k}={v}");
        }
    }
    Ok(out)
}

fn commands(r: &run::RunReport) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for c in &r.world.commands {
        let line = match &c.error {
            None => format!("{}", c.op),
            Some(e) => format!("{}    # failed: {e}", c.op),
        };
        match groups.iter_mut().find(|(g, _)| *g == c.component) {
            Some((_, v)) => v.push(line),
            None => groups.push((c.component.clone(), vec![line])),
        }
    }
    let mut out = String::new();
    for (g, lines) in groups {
        let _ = writeln!(out, "# {g}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        out.push('\n');
    }
    out
}

/// `kubectl get ingress -A`: NAMESPACE NAME CLASS HOSTS ADDRESS PORTS.
fn ingresses(r: &run::RunReport) -> String {
    let store = &r.world.store;
    let mut rows =
        vec![["NAMESPACE", "NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS"].map(String::from).to_vec()];
    // ingress-nginx without --publish-service reports the IPs of the nodes its pods run on.
    let mut nodes: Vec<String> = store
        .pods()
        .filter(|(p, _)| p.namespace == "ingress-nginx")
        .filter_map(|(_, st)| st.host_ip.map(|i| i.to_string()))
        .collect();
    nodes.dedup();
    for i in store.ingresses() {
        let handled = sim_k8s::apps::nginx::config::handles(store, i);
        let hosts: Vec<String> =
            i.rules.iter().map(|r| r.host.clone().unwrap_or_else(|| "*".into())).collect();
        let hosts = if hosts.is_empty() { "*".to_string() } else { hosts.join(",") };
        let ports = if i.tls.is_empty() { "80" } else { "80, 443" };
        rows.push(vec![
            i.namespace.clone(),
            i.name.clone(),
            i.class().unwrap_or("<none>").to_string(),
            hosts,
            if handled { nodes.join(",") } else { String::new() },
            ports.into(),
        ]);
    }
    table(rows)
}

/// `kubectl get svc -o wide`: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) SELECTOR.
fn services(r: &run::RunReport) -> String {
    use sim_k8s::model::service::{ClusterIp, ServiceType};
    let mut rows = vec![
        ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "SELECTOR"]
            .map(String::from)
            .to_vec(),
    ];
    for s in r.world.store.services() {
        let cluster_ip = match s.cluster_ip {
            ClusterIp::Ip(ip) => ip.to_string(),
            ClusterIp::Headless => "None".into(),
            ClusterIp::Unset => "<none>".into(),
        };
        let external = match (s.type_, s.load_balancer_ingress.first(), s.external_ips.is_empty()) {
            (ServiceType::LoadBalancer, Some(i), _) => i.ip.to_string(),
            (ServiceType::LoadBalancer, None, _) => "<pending>".into(),
            (_, _, false) => s.external_ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
            _ => "<none>".into(),
        };
        let ports: Vec<String> = s
            .ports
            .iter()
            .map(|p| match p.node_port {
                Some(np) => format!("{}:{np}/{}", p.port, p.protocol.as_str()),
                None => format!("{}/{}", p.port, p.protocol.as_str()),
            })
            .collect();
        let selector = s
            .selector
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
            .unwrap_or_else(|| "<none>".into());
        rows.push(vec![
            s.namespace.clone(),
            s.name.clone(),
            s.type_.as_str().to_string(),
            cluster_ip,
            external,
            ports.join(","),
            selector,
        ]);
    }
    table(rows)
}

/// `kubectl get endpointslices`: NAME ADDRESSTYPE PORTS ENDPOINTS.
fn endpoint_slices(r: &run::RunReport) -> String {
    let mut rows =
        vec![["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS"].map(String::from).to_vec()];
    for s in r.world.store.endpoint_slices() {
        let ports: Vec<String> = s.ports.iter().filter_map(|p| p.port.map(|n| n.to_string())).collect();
        let eps: Vec<String> = s.endpoints.iter().map(|e| e.address.to_string()).collect();
        let ports = if ports.is_empty() { "<unset>".to_string() } else { ports.join(",") };
        let eps = if eps.is_empty() { "<unset>".to_string() } else { eps.join(",") };
        rows.push(vec![s.namespace.clone(), s.name.clone(), "IPv4".into(), ports, eps]);
    }
    table(rows)
}

/// `kubectl describe svc NAME`, with the Endpoints line from the EndpointSlices.
fn describe_service(r: &run::RunReport, obj: &str) -> Result<String, String> {
    use sim_k8s::model::service::{ClusterIp, SessionAffinity, TargetPort, TrafficPolicy};
    let rest = obj.strip_prefix("svc/").ok_or_else(|| format!("{obj:?}: expected svc/NAME"))?;
    let (ns, name) = rest.split_once('/').unwrap_or((sim_k8s::model::DEFAULT_NAMESPACE, rest));
    let s = r.world.store.service(ns, name).ok_or_else(|| format!("services {name:?} not found"))?;
    let map = |m: &std::collections::BTreeMap<String, String>| {
        if m.is_empty() {
            "<none>".to_string()
        } else {
            m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        }
    };
    // kubectl writes `Key:\tvalue` lines through a tabwriter (padding 2): every value
    // starts two columns after the longest key.
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut line = |k: &str, v: String| lines.push((format!("{k}:"), v));
    line("Name", s.name.clone());
    line("Namespace", s.namespace.clone());
    line("Labels", map(&s.labels));
    line("Annotations", "<none>".into());
    line("Selector", s.selector.as_ref().map(map).unwrap_or_else(|| "<none>".into()));
    line("Type", s.type_.as_str().into());
    let ip = match s.cluster_ip {
        ClusterIp::Ip(ip) => ip.to_string(),
        ClusterIp::Headless => "None".into(),
        ClusterIp::Unset => "<none>".into(),
    };
    line("IP Family Policy", "SingleStack".into());
    line("IP Families", "IPv4".into());
    line("IP", ip.clone());
    line("IPs", ip);
    if !s.load_balancer_ingress.is_empty() {
        use sim_k8s::model::service::IpMode;
        let ingress: Vec<String> = s
            .load_balancer_ingress
            .iter()
            .map(|i| format!("{} ({})", i.ip, if i.ip_mode == IpMode::Vip { "VIP" } else { "Proxy" }))
            .collect();
        line("LoadBalancer Ingress", ingress.join(", "));
    }
    let slices: Vec<_> = r
        .world
        .store
        .endpoint_slices()
        .filter(|e| e.namespace == s.namespace && e.service_name() == Some(s.name.as_str()))
        .collect();
    for p in &s.ports {
        let pname = if p.name.is_empty() { "<unset>".to_string() } else { p.name.clone() };
        line("Port", format!("{pname}  {}/{}", p.port, p.protocol.as_str()));
        let tp = match &p.target_port {
            TargetPort::Number(n) => format!("{n}/{}", p.protocol.as_str()),
            TargetPort::Name(n) => format!("{n}/{}", p.protocol.as_str()),
        };
        line("TargetPort", tp);
        if let Some(np) = p.node_port {
            line("NodePort", format!("{pname}  {np}/{}", p.protocol.as_str()));
        }
        let eps: Vec<String> = slices
            .iter()
            .flat_map(|e| {
                let port = e.ports.iter().find(|ep| ep.name == p.name).and_then(|ep| ep.port);
                e.endpoints
                    .iter()
                    .filter(|ep| ep.conditions.is_ready())
                    .filter_map(move |ep| port.map(|n| format!("{}:{n}", ep.address)))
            })
            .collect();
        line("Endpoints", if eps.is_empty() { "<none>".into() } else { eps.join(",") });
    }
    let affinity = match s.session_affinity {
        SessionAffinity::None => "None".to_string(),
        SessionAffinity::ClientIp { .. } => "ClientIP".to_string(),
    };
    line("Session Affinity", affinity);
    if let Some(p) = s.external_traffic_policy {
        line(
            "External Traffic Policy",
            if p == TrafficPolicy::Local { "Local".into() } else { "Cluster".into() },
        );
    }
    line(
        "Internal Traffic Policy",
        if s.internal_traffic_policy == TrafficPolicy::Local { "Local".into() } else { "Cluster".into() },
    );
    if let Some(hc) = s.health_check_node_port {
        line("HealthCheck NodePort", hc.to_string());
    }
    if !s.load_balancer_source_ranges.is_empty() {
        let ranges: Vec<String> = s.load_balancer_source_ranges.iter().map(|r| r.to_string()).collect();
        line("LoadBalancer Source Ranges", ranges.join(","));
    }
    line("Events", "<none>".into());
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (key, v) in lines {
        let _ = writeln!(out, "{key:<width$}{v}");
    }
    Ok(out)
}
