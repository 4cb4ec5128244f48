//! Stage 2, the cluster: networks checked against each other, nodes named, addressed and
//! given their pod CIDRs, Node manifests merged in.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::super::schema::{self, ClusterDoc, NodesDoc};
use super::super::*;
use super::{Builder, list_names};
use crate::model::{self, FieldError, FieldPath, names};

impl Builder<'_> {
    pub(super) fn cluster(
        &mut self,
        doc: &ClusterDoc,
        manifest_nodes: Vec<Sourced<model::Node>>,
    ) -> ClusterConfig {
        let net = |v: &Option<schema::Parsed<Cidr>>, default: &str| {
            v.as_ref().map_or_else(|| default.parse().expect("default CIDRs are valid"), |c| c.0.0)
        };
        let node_network = net(&doc.node_network, DEFAULT_NODE_NETWORK);
        let pod_network = net(&doc.pod_network, DEFAULT_POD_NETWORK);
        let service_network = net(&doc.service_network, DEFAULT_SERVICE_NETWORK);
        let nets =
            [("nodeNetwork", node_network), ("podNetwork", pod_network), ("serviceNetwork", service_network)];
        self.check_overlaps(&nets);
        let router_ip = first_host(node_network);
        let mut config = ClusterConfig {
            nodes: Vec::new(),
            node_network,
            router_ip,
            pod_network,
            service_network,
            network: doc.network.as_ref().map_or(NetworkBackend::FlannelVxlan, |n| n.0),
            clients: Vec::new(),
            load_balancer: self.load_balancer(doc, node_network, &nets),
            dns: false,
            timers: self.timers(doc.timers.as_ref()),
        };
        let specs = self.node_specs(doc, &manifest_nodes);
        config.nodes = self.place_nodes(&config, specs);
        self.merge_node_manifests(&mut config, doc.nodes.is_some(), manifest_nodes);
        config
    }

    fn check_overlaps(&mut self, nets: &[(&str, Ipv4Net); 3]) {
        for (i, (a_name, a)) in nets.iter().enumerate() {
            for (b_name, b) in &nets[i + 1..] {
                if a.contains(&b.network()) || b.contains(&a.network()) {
                    // Point at whichever of the two the file spells out (the later one if both).
                    let cluster = FieldPath::root().key("cluster");
                    let written =
                        [b_name, a_name].into_iter().find(|n| self.doc.get(&cluster.key(n)).is_some());
                    let (here, there, here_net, there_net) =
                        if written == Some(a_name) { (a_name, b_name, a, b) } else { (b_name, a_name, b, a) };
                    let msg = format!(
                        "{here_net} overlaps cluster.{there} {there_net}: the networks must not overlap"
                    );
                    self.invalid(&cluster.key(here), msg);
                }
            }
        }
    }

    /// (name, explicit ip, path of the entry) for each node, before addresses are placed.
    fn node_specs(&mut self, doc: &ClusterDoc, manifest_nodes: &[Sourced<model::Node>]) -> Vec<NodeSpec> {
        let path = FieldPath::root().key("cluster").key("nodes");
        match &doc.nodes {
            Some(NodesDoc::Count(n)) => {
                if !(1..=MAX_NODES as i64).contains(n) {
                    self.invalid(&path, format!("must be between 1 and {MAX_NODES} nodes, found {n}"));
                }
                let n = usize::try_from(*n).unwrap_or(0).min(MAX_NODES);
                (0..n)
                    .map(|i| NodeSpec { name: format!("node-{}", i + 1), ip: None, path: path.clone() })
                    .collect()
            }
            Some(NodesDoc::List(list)) => self.listed_nodes(&path, list),
            None if !manifest_nodes.is_empty() => manifest_nodes
                .iter()
                .take(MAX_NODES)
                .map(|n| NodeSpec { name: n.name.clone(), ip: n.ip, path: path.clone() })
                .collect(),
            None => (0..DEFAULT_NODE_COUNT)
                .map(|i| NodeSpec { name: format!("node-{}", i + 1), ip: None, path: path.clone() })
                .collect(),
        }
    }

    fn listed_nodes(&mut self, path: &FieldPath, list: &[schema::NodeDoc]) -> Vec<NodeSpec> {
        if list.is_empty() || list.len() > MAX_NODES {
            self.invalid(path, format!("must be between 1 and {MAX_NODES} nodes, found {}", list.len()));
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for (i, n) in list.iter().enumerate().take(MAX_NODES) {
            let npath = path.index(i);
            let mut errs = Vec::new();
            names::check_dns1123_subdomain(&npath.key("name"), &n.name, &mut errs);
            if seen.contains(&n.name.as_str()) {
                errs.push(FieldError::duplicate_str(npath.key("name"), &n.name));
            }
            seen.push(&n.name);
            errs.into_iter().for_each(|e| self.field_error(e));
            out.push(NodeSpec { name: n.name.clone(), ip: n.ip.as_ref().map(|p| p.0), path: npath });
        }
        out
    }

    /// Gives every node its IP (explicit, or `.11 + i`) and the i-th /24 of the pod network.
    fn place_nodes(&mut self, config: &ClusterConfig, specs: Vec<NodeSpec>) -> Vec<ClusterNode> {
        let pod_net_path = FieldPath::root().key("cluster").key("podNetwork");
        let node_net = config.node_network;
        let pod_cidrs: Vec<Ipv4Net> = config
            .pod_network
            .subnets(NODE_POD_CIDR_PREFIX)
            .into_iter()
            .flatten()
            .take(specs.len())
            .collect();
        if pod_cidrs.len() < specs.len() {
            let msg = format!(
                "{} holds {} node /{NODE_POD_CIDR_PREFIX} subnet(s), but the cluster has {} nodes",
                config.pod_network,
                pod_cidrs.len(),
                specs.len()
            );
            self.invalid(&pod_net_path, msg);
        }
        let mut nodes: Vec<ClusterNode> = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let ip = match spec.ip {
                Some(ip) => self.check_node_ip(&spec.path.key("ip"), ip, config),
                None => self.default_node_ip(&spec, i, node_net),
            };
            let ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Some(other) = nodes.iter().find(|n| n.ip == ip && ip != Ipv4Addr::UNSPECIFIED) {
                let msg = format!("{ip} is already the address of {}", other.name);
                self.invalid(&spec.path.key("ip"), msg);
            }
            let pod_cidr = pod_cidrs.get(i).copied().unwrap_or(config.pod_network);
            nodes.push(ClusterNode { name: spec.name, ip, pod_cidr, labels: BTreeMap::new() });
        }
        nodes
    }

    fn check_node_ip(&mut self, path: &FieldPath, ip: Ipv4Addr, config: &ClusterConfig) -> Option<Ipv4Addr> {
        let net = config.node_network;
        let problem = if !net.contains(&ip) {
            format!("{ip} is outside cluster.nodeNetwork {net}")
        } else if ip == net.network() && net.prefix_len() < 31 {
            format!("{ip} is the network address of {net}")
        } else if ip == net.broadcast() && net.prefix_len() < 31 {
            format!("{ip} is the broadcast address of {net}")
        } else if ip == config.router_ip {
            format!("{ip} is the router's address (the first host of cluster.nodeNetwork)")
        } else if ip == config.load_balancer.ip {
            format!("{ip} is the load balancer's address (host .{LB_HOST} of cluster.nodeNetwork)")
        } else {
            return Some(ip);
        };
        self.invalid(path, problem);
        None
    }

    fn default_node_ip(&mut self, spec: &NodeSpec, i: usize, net: Ipv4Net) -> Option<Ipv4Addr> {
        let host = u32::from(net.network()).checked_add(FIRST_NODE_HOST + i as u32)?;
        let ip = Ipv4Addr::from(host);
        if net.contains(&ip) && ip != net.broadcast() {
            return Some(ip);
        }
        let msg = format!(
            "cluster.nodeNetwork {net} has no room for {}'s default address {ip} (node i gets .{}+i): give the nodes ips or use a larger network",
            spec.name, FIRST_NODE_HOST
        );
        self.invalid(&spec.path, msg);
        None
    }

    /// Node manifests add labels to the cluster's nodes; with explicit `cluster.nodes`
    /// they must name one, and an InternalIP must agree with the node's address.
    fn merge_node_manifests(
        &mut self,
        config: &mut ClusterConfig,
        explicit: bool,
        manifest_nodes: Vec<Sourced<model::Node>>,
    ) {
        for m in manifest_nodes {
            let Some(node) = config.nodes.iter_mut().find(|n| n.name == m.name) else {
                if explicit {
                    let names = list_names(config.nodes.iter().map(|n| n.name.clone()), "nodes");
                    let e = FieldError::invalid_str(
                        FieldPath::parse("metadata.name"),
                        &m.name,
                        format!("node {:?} is not in cluster.nodes ({names})", m.name),
                    );
                    self.manifest_error(&m.source, e);
                }
                continue;
            };
            if let Some(ip) = m.ip.filter(|ip| *ip != node.ip) {
                let detail = format!("the cluster gives node {:?} the address {}", node.name, node.ip);
                let e =
                    FieldError::invalid_str(FieldPath::parse("status.addresses"), &ip.to_string(), detail);
                self.manifest_error(&m.source, e);
            }
            node.labels.extend(m.value.labels);
        }
    }
}

impl Builder<'_> {
    /// `cluster.loadBalancerPool` and `cluster.loadBalancer`, defaults resolved: the pool
    /// must not overlap the cluster's networks; thresholds are at least 1 and the timeout
    /// at most the interval (GCE and AWS refuse both).
    fn load_balancer(
        &mut self,
        doc: &ClusterDoc,
        node_network: Ipv4Net,
        nets: &[(&str, Ipv4Net); 3],
    ) -> LoadBalancerConfig {
        let cluster = FieldPath::root().key("cluster");
        let pool = doc
            .load_balancer_pool
            .as_ref()
            .map_or_else(|| DEFAULT_LB_POOL.parse().expect("the default pool is valid"), |c| c.0.0);
        for (name, net) in nets {
            if pool.contains(&net.network()) || net.contains(&pool.network()) {
                let msg = format!("{pool} overlaps cluster.{name} {net}: the networks must not overlap");
                self.invalid(&cluster.key("loadBalancerPool"), msg);
            }
        }
        let lb = doc.load_balancer.as_ref();
        let hc_doc = lb.and_then(|l| l.health_check.as_ref());
        let d = HealthCheckConfig::default();
        let hc = HealthCheckConfig {
            interval: hc_doc.and_then(|h| h.interval.as_ref()).map_or(d.interval, |v| v.0),
            timeout: hc_doc.and_then(|h| h.timeout.as_ref()).map_or(d.timeout, |v| v.0),
            healthy_threshold: hc_doc.and_then(|h| h.healthy_threshold).unwrap_or(d.healthy_threshold),
            unhealthy_threshold: hc_doc.and_then(|h| h.unhealthy_threshold).unwrap_or(d.unhealthy_threshold),
        };
        let hc_path = cluster.key("loadBalancer").key("healthCheck");
        for (key, v) in
            [("healthyThreshold", hc.healthy_threshold), ("unhealthyThreshold", hc.unhealthy_threshold)]
        {
            if !(1..=10).contains(&v) {
                self.invalid(&hc_path.key(key), format!("must be between 1 and 10, found {v}"));
            }
        }
        if hc.interval.as_nanos() == 0 {
            self.invalid(&hc_path.key("interval"), "must be greater than 0");
        }
        if hc.timeout.as_nanos() == 0 || hc.timeout > hc.interval {
            let msg = format!("must be greater than 0 and at most the interval ({})", hc.interval);
            self.invalid(&hc_path.key("timeout"), msg);
        }
        let ip = Ipv4Addr::from(u32::from(node_network.network()).saturating_add(LB_HOST));
        LoadBalancerConfig {
            pool,
            mode: lb.and_then(|l| l.mode.as_ref()).map_or(LbMode::NodePort, |m| m.0),
            health_check: hc,
            ip,
        }
    }
}

struct NodeSpec {
    name: String,
    ip: Option<Ipv4Addr>,
    path: FieldPath,
}

/// The /24 a client sits in (the router holds its `.1`).
fn client_net(ip: Ipv4Addr) -> Option<Ipv4Net> {
    Ipv4Net::new(ip, 24).ok().map(|n| n.trunc())
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn first_host(net: Ipv4Net) -> Ipv4Addr {
    let n = u32::from(net.network());
    if net.prefix_len() >= 31 { net.network() } else { Ipv4Addr::from(n.saturating_add(1)) }
}

impl Builder<'_> {
    /// `clients:`: names unique DNS labels, addresses outside every cluster network and
    /// unique; the default is one client, `client` at 203.0.113.10.
    pub(super) fn clients(
        &mut self,
        doc: Option<&[schema::ClientDoc]>,
        c: &ClusterConfig,
    ) -> Vec<ClientNode> {
        let Some(list) = doc else {
            return vec![ClientNode {
                name: DEFAULT_CLIENT.0.to_string(),
                ip: DEFAULT_CLIENT.1,
                routes: vec![],
            }];
        };
        let path = FieldPath::root().key("clients");
        let mut out: Vec<ClientNode> = Vec::new();
        for (i, cd) in list.iter().enumerate() {
            let p = path.index(i);
            if !names::is_dns1123_label(&cd.name) || cd.name.len() > 40 {
                self.invalid(
                    &p.key("name"),
                    format!(
                        "{:?}: a client name must be a lowercase RFC 1123 label of at most 40 characters",
                        cd.name
                    ),
                );
            } else if out.iter().any(|o| o.name == cd.name) {
                self.invalid(&p.key("name"), format!("duplicate client name {:?}", cd.name));
            }
            let ip = cd.ip.0;
            let inside = [
                ("nodeNetwork", c.node_network),
                ("podNetwork", c.pod_network),
                ("serviceNetwork", c.service_network),
            ]
            .into_iter()
            .find(|(_, n)| n.contains(&ip));
            if let Some((what, net)) = inside {
                self.invalid(
                    &p.key("ip"),
                    format!("{ip} is inside cluster.{what} {net}: a client lives outside the cluster"),
                );
            } else if let Some(net) = client_net(ip).filter(|n| overlaps(*n, c.load_balancer.pool)) {
                let pool = c.load_balancer.pool;
                self.invalid(
                    &p.key("ip"),
                    format!("the client's network {net} overlaps cluster.loadBalancerPool {pool}: the router routes the pool to the load balancer"),
                );
            } else if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
                self.invalid(&p.key("ip"), format!("{ip} cannot be a host address"));
            } else if out.iter().any(|o| o.ip == ip) {
                self.invalid(&p.key("ip"), format!("{ip} is already used by another client"));
            }
            let routes = self.client_routes(&p.key("routes"), cd.routes.as_deref().unwrap_or_default(), c);
            out.push(ClientNode { name: cd.name.clone(), ip, routes });
        }
        out
    }

    /// `clients[i].routes`: each `via` must name a node of the cluster.
    fn client_routes(
        &mut self,
        path: &FieldPath,
        list: &[schema::ClientRouteDoc],
        c: &ClusterConfig,
    ) -> Vec<ClientRoute> {
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let p = path.index(i).key("via");
            let node = match &r.via.0 {
                Ref::Node { name, port: None } => c.nodes.iter().find(|n| &n.name == name),
                other => {
                    self.invalid(&p, format!("expected node/NAME, found {other}"));
                    continue;
                }
            };
            let Some(node) = node else {
                let names = list_names(c.nodes.iter().map(|n| n.name.clone()), "nodes");
                self.invalid(&p, format!("{} not found ({names})", r.via.0));
                continue;
            };
            out.push(ClientRoute { to: r.to.0.0, via_node: node.name.clone(), via: node.ip });
        }
        out
    }

    /// `cluster.timers`: durations, each at least 1 ms; the grace period must exceed
    /// the lease renew interval or every node would flap NotReady between renewals.
    fn timers(&mut self, doc: Option<&schema::TimersDoc>) -> ClusterTimers {
        let mut t = ClusterTimers::default();
        let Some(doc) = doc else { return t };
        let path = FieldPath::root().key("cluster").key("timers");
        let fields = [
            ("nodeLeaseRenewInterval", &doc.node_lease_renew_interval, &mut t.node_lease_renew_interval),
            ("nodeMonitorPeriod", &doc.node_monitor_period, &mut t.node_monitor_period),
            ("nodeMonitorGracePeriod", &doc.node_monitor_grace_period, &mut t.node_monitor_grace_period),
            ("unreachableToleration", &doc.unreachable_toleration, &mut t.unreachable_toleration),
        ];
        for (key, given, slot) in fields {
            let Some(v) = given else { continue };
            if v.0 < sim_core::SimDuration::from_millis(1) {
                self.invalid(&path.key(key), format!("{key} must be at least 1ms, found {}", v.0));
            } else {
                *slot = v.0;
            }
        }
        if t.node_monitor_grace_period <= t.node_lease_renew_interval {
            self.invalid(
                &path.key("nodeMonitorGracePeriod"),
                format!(
                    "nodeMonitorGracePeriod {} must be longer than nodeLeaseRenewInterval {}",
                    t.node_monitor_grace_period, t.node_lease_renew_interval
                ),
            );
        }
        t
    }
}
