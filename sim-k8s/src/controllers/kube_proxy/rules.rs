//! The rules of one service port, in proxier.go `syncProxyRules` order: KUBE-SERVICES
//! captures (cluster IP, external IPs, LB IPs), KUBE-NODEPORTS, the health-check ACCEPT,
//! the internal-chain masquerade rule, KUBE-EXT, KUBE-FW, KUBE-SVC / KUBE-SVL dispatch,
//! then one KUBE-SEP chain per reachable endpoint. Filter rules (REJECT/DROP for missing
//! endpoints, KUBE-PROXY-FIREWALL) are written alongside, into the filter buffers.
//!
//! Lines are written exactly as kube-proxy writes them, quoting included: a comment with
//! spaces is passed as `"..."`, a single-word comment (`default/web:http`) unquoted.

use std::collections::BTreeSet;

use super::ProxierConfig;
use super::endpoints::{Categorized, EndpointInfo, ServicePortInfo};
use super::hash::{ServiceChains, endpoint_chain};

pub(super) const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub(super) const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub(super) const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub(super) const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub(super) const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
pub(super) const KUBE_FORWARD: &str = "KUBE-FORWARD";
pub(super) const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
pub(super) const KUBE_FIREWALL: &str = "KUBE-FIREWALL";

/// The four line buffers of one sync (`filterChains`, `filterRules`, `natChains`,
/// `natRules`) plus the nat chains in use.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    pub filter_chains: Vec<String>,
    pub filter_rules: Vec<String>,
    pub nat_chains: Vec<String>,
    pub nat_rules: Vec<String>,
    pub active_nat_chains: BTreeSet<String>,
}

impl Buffers {
    fn nat_chain(&mut self, name: &str) {
        self.nat_chains.push(chain_line(name));
        self.active_nat_chains.insert(name.to_string());
    }
}

/// `utiliptables.MakeChainLine`.
pub(super) fn chain_line(name: &str) -> String {
    format!(":{name} - [0:0]")
}

/// `"text"` as kube-proxy passes multi-word comments.
fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// Go `%0.10f` of 1/n.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// Everything derived for one service port before writing its rules.
pub(super) struct PortRules<'a> {
    cfg: &'a ProxierConfig,
    svc: &'a ServicePortInfo,
    cat: Categorized,
    /// `svcPortNameString`.
    name: String,
    proto: &'static str,
    chains: ServiceChains,
    has_internal: bool,
    has_external: bool,
    uses_external_chain: bool,
    uses_fw: bool,
    large_cluster: bool,
}

impl<'a> PortRules<'a> {
    pub fn new(
        cfg: &'a ProxierConfig,
        svc: &'a ServicePortInfo,
        eps: &[EndpointInfo],
        large_cluster: bool,
    ) -> Self {
        let cat = super::endpoints::categorize(eps, svc);
        let name = svc.name.to_string();
        let proto = svc.name.proto();
        let has_internal = cat.has_any && (!svc.internal_policy_local || !cat.local.is_empty());
        let has_external = cat.has_any && (!svc.external_policy_local || !cat.local.is_empty());
        let uses_external_chain = cat.has_any && svc.externally_accessible();
        let uses_fw =
            cat.has_any && !svc.load_balancer_vips.is_empty() && !svc.load_balancer_source_ranges.is_empty();
        let chains = ServiceChains::new(&name, proto);
        PortRules {
            cfg,
            svc,
            cat,
            name,
            proto,
            chains,
            has_internal,
            has_external,
            uses_external_chain,
            uses_fw,
            large_cluster,
        }
    }

    /// Writes every line of this service port, in kube-proxy's order.
    pub fn write(&self, b: &mut Buffers) {
        self.write_shared(b);
        self.write_own_chains(b);
    }

    /// A partial sync of an unchanged service port: its rules in the shared chains
    /// (KUBE-SERVICES, KUBE-NODEPORTS, the filter chains) are written, its own
    /// SVC/SVL/EXT/FW/SEP chains are not, but they stay active so nothing deletes them.
    pub fn write_unchanged(&self, b: &mut Buffers) {
        self.write_shared(b);
        let mut skipped = Buffers::default();
        self.write_own_chains(&mut skipped);
        b.active_nat_chains.extend(skipped.active_nat_chains);
    }

    fn write_shared(&self, b: &mut Buffers) {
        self.capture_cluster_ip(b);
        self.capture_external_ips(b);
        self.capture_load_balancer(b);
        self.capture_node_port(b);
        self.health_check_node_port(b);
    }

    fn write_own_chains(&self, b: &mut Buffers) {
        self.internal_masquerade(b);
        self.external_chain(b);
        self.firewall_chain(b);
        self.policy_chains(b);
        self.endpoint_chains(b);
    }

    fn internal_chain(&self) -> &str {
        if self.svc.internal_policy_local { &self.chains.local } else { &self.chains.cluster }
    }
    fn external_policy_chain(&self) -> &str {
        if self.svc.external_policy_local { &self.chains.local } else { &self.chains.cluster }
    }

    /// (target, comment) of the filter rule for traffic with no (local) endpoints.
    fn no_endpoint_filter(&self, has: bool) -> Option<(&'static str, String)> {
        if !self.cat.has_any {
            Some(("REJECT", quoted(&format!("{} has no endpoints", self.name))))
        } else if !has {
            Some(("DROP", quoted(&format!("{} has no local endpoints", self.name))))
        } else {
            None
        }
    }

    /// `-m tcp -p tcp -d IP --dport PORT`
    fn dst(&self, ip: impl std::fmt::Display, port: u16) -> String {
        format!("-m {p} -p {p} -d {ip} --dport {port}", p = self.proto)
    }

    fn capture_cluster_ip(&self, b: &mut Buffers) {
        let dst = self.dst(self.svc.cluster_ip, self.svc.port);
        if self.has_internal {
            let c = quoted(&format!("{} cluster IP", self.name));
            b.nat_rules.push(format!(
                "-A {KUBE_SERVICES} -m comment --comment {c} {dst} -j {}",
                self.internal_chain()
            ));
        } else if let Some((target, c)) = self.no_endpoint_filter(self.has_internal) {
            b.filter_rules.push(format!("-A {KUBE_SERVICES} -m comment --comment {c} {dst} -j {target}"));
        }
    }

    fn capture_external_ips(&self, b: &mut Buffers) {
        for ip in &self.svc.external_ips {
            let dst = self.dst(ip, self.svc.port);
            if self.cat.has_any {
                let c = quoted(&format!("{} external IP", self.name));
                b.nat_rules.push(format!(
                    "-A {KUBE_SERVICES} -m comment --comment {c} {dst} -j {}",
                    self.chains.external
                ));
            }
            if let Some((target, c)) = self.no_endpoint_filter(self.has_external) {
                b.filter_rules
                    .push(format!("-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {c} {dst} -j {target}"));
            }
        }
    }

    fn capture_load_balancer(&self, b: &mut Buffers) {
        let lb_chain = if self.uses_fw { &self.chains.firewall } else { &self.chains.external };
        for ip in &self.svc.load_balancer_vips {
            let dst = self.dst(ip, self.svc.port);
            if self.cat.has_any {
                let c = quoted(&format!("{} loadbalancer IP", self.name));
                b.nat_rules.push(format!("-A {KUBE_SERVICES} -m comment --comment {c} {dst} -j {lb_chain}"));
            }
            if self.uses_fw {
                let c = quoted(&format!("{} traffic not accepted by {}", self.name, self.chains.firewall));
                b.filter_rules
                    .push(format!("-A {KUBE_PROXY_FIREWALL} -m comment --comment {c} {dst} -j DROP"));
            }
        }
        if let Some((target, c)) = self.no_endpoint_filter(self.has_external) {
            for ip in &self.svc.load_balancer_vips {
                let dst = self.dst(ip, self.svc.port);
                b.filter_rules
                    .push(format!("-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {c} {dst} -j {target}"));
            }
        }
    }

    fn capture_node_port(&self, b: &mut Buffers) {
        let Some(np) = self.svc.node_port else { return };
        let (p, ext) = (self.proto, &self.chains.external);
        if self.cat.has_any {
            if self.cfg.localhost_nodeports && self.cfg.nfacct_available {
                b.nat_rules.push(format!(
                    "-A {KUBE_NODEPORTS} -m comment --comment {} -m {p} -p {p} -d 127.0.0.0/8 --dport {np} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j {ext}",
                    self.name
                ));
            }
            b.nat_rules.push(format!(
                "-A {KUBE_NODEPORTS} -m comment --comment {} -m {p} -p {p} --dport {np} -j {ext}",
                self.name
            ));
        }
        if let Some((target, c)) = self.no_endpoint_filter(self.has_external) {
            b.filter_rules.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {c} -m addrtype --dst-type LOCAL -m {p} -p {p} --dport {np} -j {target}"
            ));
        }
    }

    fn health_check_node_port(&self, b: &mut Buffers) {
        let Some(hc) = self.svc.health_check_node_port else { return };
        let c = quoted(&format!("{} health check node port", self.name));
        b.filter_rules.push(format!(
            "-A {KUBE_NODEPORTS} -m comment --comment {c} -m tcp -p tcp --dport {hc} -j ACCEPT"
        ));
    }

    fn internal_masquerade(&self, b: &mut Buffers) {
        if !self.has_internal {
            return;
        }
        let c = quoted(&format!("{} cluster IP", self.name));
        let args = format!(
            "-A {} -m comment --comment {c} {}",
            self.internal_chain(),
            self.dst(self.svc.cluster_ip, self.svc.port)
        );
        if self.cfg.masquerade_all {
            b.nat_rules.push(format!("{args} -j {KUBE_MARK_MASQ}"));
        } else if let Some(cidr) = self.cfg.cluster_cidr {
            b.nat_rules.push(format!("{args} ! -s {cidr} -j {KUBE_MARK_MASQ}"));
        }
    }

    fn external_chain(&self, b: &mut Buffers) {
        if !self.uses_external_chain {
            return;
        }
        let ext = &self.chains.external;
        b.nat_chain(ext);
        if !self.svc.external_policy_local {
            let c = quoted(&format!("masquerade traffic for {} external destinations", self.name));
            b.nat_rules.push(format!("-A {ext} -m comment --comment {c} -j {KUBE_MARK_MASQ}"));
        } else {
            let cluster = &self.chains.cluster;
            if let Some(cidr) = self.cfg.cluster_cidr {
                let c = quoted(&format!("pod traffic for {} external destinations", self.name));
                b.nat_rules.push(format!("-A {ext} -m comment --comment {c} -s {cidr} -j {cluster}"));
            }
            let c = quoted(&format!("masquerade LOCAL traffic for {} external destinations", self.name));
            b.nat_rules.push(format!(
                "-A {ext} -m comment --comment {c} -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}"
            ));
            let c = quoted(&format!("route LOCAL traffic for {} external destinations", self.name));
            b.nat_rules
                .push(format!("-A {ext} -m comment --comment {c} -m addrtype --src-type LOCAL -j {cluster}"));
        }
        if self.has_external {
            b.nat_rules.push(format!("-A {ext} -j {}", self.external_policy_chain()));
        }
    }

    fn firewall_chain(&self, b: &mut Buffers) {
        if !self.uses_fw {
            return;
        }
        let (fw, ext) = (&self.chains.firewall, &self.chains.external);
        b.nat_chain(fw);
        let args =
            format!("-A {fw} -m comment --comment {}", quoted(&format!("{} loadbalancer IP", self.name)));
        let mut allow_from_node = false;
        for cidr in &self.svc.load_balancer_source_ranges {
            b.nat_rules.push(format!("{args} -s {cidr} -j {ext}"));
            allow_from_node |= cidr.contains(&self.cfg.node_ip);
        }
        if allow_from_node {
            for ip in &self.svc.load_balancer_vips {
                b.nat_rules.push(format!("{args} -s {ip} -j {ext}"));
            }
        }
        let c = quoted(&format!("other traffic to {} will be dropped by KUBE-PROXY-FIREWALL", self.name));
        b.nat_rules.push(format!("-A {fw} -m comment --comment {c}"));
    }

    fn policy_chains(&self, b: &mut Buffers) {
        if !self.cat.cluster.is_empty() && self.svc.uses_cluster_endpoints() {
            b.nat_chain(&self.chains.cluster);
            self.service_to_endpoints(b, &self.chains.cluster, &self.cat.cluster);
        }
        if !self.cat.local.is_empty() && self.svc.uses_local_endpoints() {
            b.nat_chain(&self.chains.local);
            self.service_to_endpoints(b, &self.chains.local, &self.cat.local);
        }
    }

    /// `-m comment --comment C ` unless in large-cluster mode.
    fn comment(&self, c: &str) -> String {
        if self.large_cluster { String::new() } else { format!(" -m comment --comment {c}") }
    }

    /// `writeServiceToEndpointRules`: affinity checks first, then the random spread.
    fn service_to_endpoints(&self, b: &mut Buffers, chain: &str, eps: &[EndpointInfo]) {
        let sep = |e: &EndpointInfo| endpoint_chain(&self.name, self.proto, &e.ip_port());
        let comment = |e: &EndpointInfo| self.comment(&quoted(&format!("{} -> {}", self.name, e.ip_port())));
        if let Some(t) = self.svc.affinity_timeout_seconds {
            for e in eps {
                let s = sep(e);
                b.nat_rules.push(format!(
                    "-A {chain}{} -m recent --name {s} --rcheck --seconds {t} --reap -j {s}",
                    comment(e)
                ));
            }
        }
        let n = eps.len();
        for (i, e) in eps.iter().enumerate() {
            let stat = if i + 1 < n {
                format!(" -m statistic --mode random --probability {}", probability(n - i))
            } else {
                String::new()
            };
            b.nat_rules.push(format!("-A {chain}{}{stat} -j {}", comment(e), sep(e)));
        }
    }

    fn endpoint_chains(&self, b: &mut Buffers) {
        for e in &self.cat.all_reachable {
            let sep = endpoint_chain(&self.name, self.proto, &e.ip_port());
            b.nat_chain(&sep);
            let args = format!("-A {sep}{}", self.comment(&self.name));
            b.nat_rules.push(format!("{args} -s {} -j {KUBE_MARK_MASQ}", e.ip));
            let recent = match self.svc.affinity_timeout_seconds {
                Some(_) => format!(" -m recent --name {sep} --set"),
                None => String::new(),
            };
            let p = self.proto;
            b.nat_rules
                .push(format!("{args}{recent} -m {p} -p {p} -j DNAT --to-destination {}", e.ip_port()));
        }
    }
}
