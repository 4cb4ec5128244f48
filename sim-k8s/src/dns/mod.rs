//! Service discovery by name: the resolver configuration a pod gets
//! (`/etc/resolv.conf`, as the kubelet and the container runtime write it), the order
//! in which a stub resolver tries names (glibc `res_nsearch` with `ndots`), the
//! CoreDNS-like server's answers (`zone`) and the cluster add-on's objects (`addon`).

pub mod addon;
pub mod zone;

use std::fmt;
use std::net::Ipv4Addr;

use crate::model::{DnsPolicy, Pod};

/// The cluster domain (kubelet `--cluster-domain`, CoreDNS's `kubernetes` zone).
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// A resolver configuration (`/etc/resolv.conf`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    /// Empty means the resolver's built-in default, 127.0.0.1 (glibc `res_init`).
    pub nameservers: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    /// `options ndots:N`; glibc's default is 1.
    pub ndots: usize,
}

impl ResolvConf {
    /// What the kubelet writes for a ClusterFirst pod of `namespace`:
    /// nameserver = the cluster DNS service (kubelet `--cluster-dns`), search list
    /// `NS.svc.cluster.local svc.cluster.local cluster.local`, `ndots:5`.
    pub fn cluster_first(namespace: &str, dns_ip: Ipv4Addr) -> Self {
        ResolvConf {
            nameservers: vec![dns_ip],
            search: vec![
                format!("{namespace}.svc.{CLUSTER_DOMAIN}"),
                format!("svc.{CLUSTER_DOMAIN}"),
                CLUSTER_DOMAIN.to_string(),
            ],
            ndots: 5,
        }
    }

    /// A node's (and an outside client's) own configuration: the simulated machines are
    /// set up with no nameserver and no search domain, so glibc falls back to
    /// 127.0.0.1 and `ndots:1`. Nodes do not use the cluster DNS.
    pub fn host() -> Self {
        ResolvConf { nameservers: vec![], search: vec![], ndots: 1 }
    }

    /// The resolver configuration of a pod, by its `dnsPolicy` (pkg/kubelet/network/dns).
    pub fn for_pod(pod: &Pod, dns_ip: Ipv4Addr) -> Self {
        match (pod.dns_policy, pod.host_network) {
            (DnsPolicy::ClusterFirst, false) | (DnsPolicy::ClusterFirstWithHostNet, _) => {
                Self::cluster_first(&pod.namespace, dns_ip)
            }
            (DnsPolicy::ClusterFirst, true) | (DnsPolicy::Default, _) => Self::host(),
        }
    }

    /// The server queries go to.
    pub fn server(&self) -> Ipv4Addr {
        self.nameservers.first().copied().unwrap_or(Ipv4Addr::LOCALHOST)
    }

    /// The names a lookup of `name` tries, in order (glibc `__res_context_search`):
    /// a name ending in a dot is tried alone; a name with at least `ndots` dots is
    /// tried as is first, then with each search domain; a name with fewer dots is tried
    /// with each search domain first, then as is. All returned names are absolute.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        let name = name.to_ascii_lowercase();
        if name.ends_with('.') {
            return vec![name];
        }
        let dots = name.matches('.').count();
        let searched = self.search.iter().map(|d| format!("{name}.{d}."));
        let as_is = format!("{name}.");
        if dots >= self.ndots {
            std::iter::once(as_is).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(as_is)).collect()
        }
    }
}

/// The file as containerd writes it from the kubelet's DNS config: `search`, then
/// `nameserver`, then `options` (only the lines that have values).
impl fmt::Display for ResolvConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.search.is_empty() {
            writeln!(f, "search {}", self.search.join(" "))?;
        }
        for n in &self.nameservers {
            writeln!(f, "nameserver {n}")?;
        }
        if self.ndots != 1 {
            writeln!(f, "options ndots:{}", self.ndots)?;
        }
        Ok(())
    }
}

/// The `n`-th address of a network (`10.96.0.0/12`, 10 → `10.96.0.10`): kubeadm puts
/// the DNS service at the tenth.
pub fn nth_address(net: ipnet::Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndots_5_tries_the_search_list_first() {
        let rc = ResolvConf::cluster_first("default", Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(
            rc.candidates("web"),
            ["web.default.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."]
        );
        // Four dots are still fewer than five: the FQDN goes through the list first.
        let c = rc.candidates("web.default.svc.cluster.local");
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], "web.default.svc.cluster.local.default.svc.cluster.local.");
        assert_eq!(c[3], "web.default.svc.cluster.local.");
        assert_eq!(rc.candidates("web.default.svc.cluster.local."), ["web.default.svc.cluster.local."]);
        assert_eq!(rc.candidates("a.b.c.d.e.f")[0], "a.b.c.d.e.f.");
    }

    #[test]
    fn resolv_conf_renders_like_containerd() {
        let rc = ResolvConf::cluster_first("shop", Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(
            rc.to_string(),
            "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
        assert_eq!(ResolvConf::host().candidates("web"), ["web."]);
        assert_eq!(ResolvConf::host().server(), Ipv4Addr::LOCALHOST);
        assert_eq!(nth_address("10.96.0.0/12".parse().unwrap(), 10), Ipv4Addr::new(10, 96, 0, 10));
    }
}
