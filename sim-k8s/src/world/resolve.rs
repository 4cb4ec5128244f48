//! Where a probe starts and where it goes, resolved when it starts: the origin's
//! network namespace (refused on a failed node: nothing runs there) and the target's
//! address (a pod's IP once it has one, a Service's ClusterIP, ...; a DNS name is
//! resolved by the prober's lookup instead).

use std::net::Ipv4Addr;

use sim_core::{EventQueue, SimTime};

use super::{Event, KubeWorld, Origin, Target};
use crate::cluster::pod_netns;
use crate::store::PodPhase;

impl KubeWorld {
    pub(super) fn origin_netns(&self, o: &Origin) -> Result<String, String> {
        let node = match o {
            Origin::Node(n) => Some(n.as_str()),
            Origin::Pod { namespace, name } => {
                self.store.pod(namespace, name).and_then(|(p, _)| p.node_name.as_deref())
            }
            Origin::Client(_) => None,
        };
        if let Some(n) = node
            && self.down.get(n).is_some_and(|d| d.failed)
        {
            return Err(format!("node {n} has failed: nothing runs there"));
        }
        match o {
            Origin::Node(n) => Ok(n.clone()),
            Origin::Client(c) => Ok(crate::cluster::client_netns(c)),
            Origin::Pod { namespace, name } => {
                let (pod, st) =
                    self.store.pod(namespace, name).ok_or_else(|| format!("pod {name} does not exist"))?;
                if st.phase != PodPhase::Running {
                    return Err(format!("pod {} is not running yet", pod.name));
                }
                Ok(st.netns.clone().unwrap_or_else(|| pod_netns(namespace, name)))
            }
        }
    }

    pub(super) fn target_ip(&self, t: &Target) -> Result<Ipv4Addr, String> {
        match t {
            Target::Ip(ip) => Ok(*ip),
            Target::Service { namespace, name } => {
                match self.store.service(namespace, name).map(|s| &s.cluster_ip) {
                    Some(crate::model::service::ClusterIp::Ip(ip)) => Ok(*ip),
                    Some(_) => Err(format!("service {name} has no ClusterIP (headless)")),
                    None => Err(format!("service {name} does not exist")),
                }
            }
            Target::LoadBalancer { namespace, name } => match self.store.service(namespace, name) {
                Some(s) => s.load_balancer_ingress.first().map(|i| i.ip).ok_or_else(|| {
                    format!("service {name} has no load-balancer address yet (EXTERNAL-IP <pending>)")
                }),
                None => Err(format!("service {name} does not exist")),
            },
            Target::Client(c) => self
                .cluster
                .clients
                .iter()
                .find(|x| &x.name == c)
                .map(|x| x.ip)
                .ok_or_else(|| format!("client {c} does not exist")),
            Target::Node(n) => crate::cluster::node(&self.cluster, n)
                .map(|n| n.ip)
                .ok_or_else(|| format!("node {n} does not exist")),
            Target::Pod { namespace, name } => {
                let (_, st) =
                    self.store.pod(namespace, name).ok_or_else(|| format!("pod {name} does not exist"))?;
                st.pod_ip.ok_or_else(|| format!("pod {name} has no IP yet (not running)"))
            }
            Target::Name(n) => Err(format!("{n} is a name: it is resolved first")),
        }
    }

    /// A probe to a DNS name starts with its lookup, through the resolver configuration
    /// of its origin; the connection follows once the name has an address.
    pub(super) fn start_name_probe(
        &mut self,
        idx: usize,
        name: &str,
        now: SimTime,
        q: &mut EventQueue<Event>,
    ) {
        let plan = self.probes[idx].plan.clone();
        match self.origin_netns(&plan.from) {
            Ok(netns) => {
                self.probes[idx].src_netns = Some(netns);
                q.push(now + plan.timeout, Event::ProbeTimeout(idx));
                let rc = self.resolv_conf(&plan.from);
                self.start_lookup(idx, name, &rc, now);
            }
            Err(e) => {
                self.probes[idx].error = Some(e);
                self.probes[idx].finished = Some(now);
            }
        }
        self.pump(q);
    }
}
