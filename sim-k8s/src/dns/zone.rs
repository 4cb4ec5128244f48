//! The answers of the cluster DNS server, as CoreDNS with kubeadm's Corefile gives them
//! (plugin/kubernetes with `pods insecure` and `ttl 30`, then `loadbalance`), read from
//! the API objects at the moment of the query:
//!
//! - `SVC.NS.svc.cluster.local` A: the ClusterIP; for a headless service the addresses
//!   of its ready endpoints (in random order: `loadbalance` shuffles A records), or
//!   NXDOMAIN when it has none;
//! - `A-B-C-D.SVC.NS.svc.cluster.local` A: that endpoint of a headless service;
//! - `A-B-C-D.NS.pod.cluster.local` A: `A.B.C.D`, unchecked (`pods insecure`);
//! - a name that exists with no record of the asked type (`svc.cluster.local`, a
//!   namespace, AAAA of a service): NOERROR with no answer (NODATA);
//! - any other name under `cluster.local`: NXDOMAIN.
//!
//! Negative answers carry the zone's SOA in the authority section, as CoreDNS's do.
//! Names outside the zone would go to the `forward` plugin; the simulated cluster has no
//! upstream resolver, so the server answers SERVFAIL, as CoreDNS does when the
//! plugin chain ends without an answer (docs/fidelity.md).

use std::net::Ipv4Addr;

use rand_core::Rng;
use sim_core::{SimRng, SimTime};
use sim_net::packet::dns::{self, Message, RData, Record};

use super::CLUSTER_DOMAIN;
use crate::model::endpointslice::SERVICE_NAME_LABEL;
use crate::model::service::ClusterIp;
use crate::store::Store;

/// kubeadm's Corefile: `ttl 30` in the kubernetes block.
pub const TTL: u32 = 30;

/// The records a name has, or why it has none.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    Found(Vec<Ipv4Addr>),
    NoData,
    NxDomain,
    OutOfZone,
}

/// The reply to a query (bytes in, bytes out); `None` for bytes that are not a query
/// (CoreDNS drops them).
pub fn answer(store: &Store, query: &[u8], now: SimTime, rng: &mut SimRng) -> Option<Vec<u8>> {
    let q = Message::decode(query).ok()?;
    if q.flags.response {
        return None;
    }
    let mut r = Message {
        id: q.id,
        flags: dns::Flags {
            response: true,
            opcode: q.flags.opcode,
            authoritative: true,
            recursion_desired: q.flags.recursion_desired,
            ..Default::default()
        },
        questions: q.questions.clone(),
        ..Default::default()
    };
    let Some(question) = q.questions.first() else {
        r.flags.rcode = 1; // FORMERR
        r.flags.authoritative = false;
        return Some(r.encode());
    };
    let found = match lookup(store, &question.name) {
        Lookup::Found(ips) if question.qtype == dns::TYPE_A => Lookup::Found(ips),
        Lookup::Found(_) => Lookup::NoData,
        other => other,
    };
    match found {
        Lookup::Found(mut ips) => {
            shuffle(&mut ips, rng);
            r.answers = ips
                .into_iter()
                .map(|ip| Record {
                    name: question.name.clone(),
                    rtype: dns::TYPE_A,
                    class: dns::CLASS_IN,
                    ttl: TTL,
                    data: RData::A(ip),
                })
                .collect();
        }
        Lookup::NoData => r.authority.push(soa(now)),
        Lookup::NxDomain => {
            r.flags.rcode = dns::RCODE_NXDOMAIN;
            r.authority.push(soa(now));
        }
        Lookup::OutOfZone => {
            r.flags.rcode = dns::RCODE_SERVFAIL;
            r.flags.authoritative = false;
        }
    }
    Some(r.encode())
}

/// `cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200
/// 1800 86400 30`. CoreDNS's serial is the Unix time of the last API change; the
/// simulator has no wall clock and uses the simulated second instead.
fn soa(now: SimTime) -> Record {
    Record {
        name: format!("{CLUSTER_DOMAIN}."),
        rtype: dns::TYPE_SOA,
        class: dns::CLASS_IN,
        ttl: TTL,
        data: RData::Soa {
            mname: format!("ns.dns.{CLUSTER_DOMAIN}."),
            rname: format!("hostmaster.{CLUSTER_DOMAIN}."),
            serial: (now.as_nanos() / 1_000_000_000) as u32,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: TTL,
        },
    }
}

/// The `loadbalance` plugin: A records in random order.
fn shuffle(ips: &mut [Ipv4Addr], rng: &mut SimRng) {
    for i in (1..ips.len()).rev() {
        let j = (rng.next_u32() as usize) % (i + 1);
        ips.swap(i, j);
    }
}

fn lookup(store: &Store, qname: &str) -> Lookup {
    let name = qname.trim_end_matches('.').to_ascii_lowercase();
    let Some(rel) = name.strip_suffix(CLUSTER_DOMAIN) else { return Lookup::OutOfZone };
    let rel = rel.strip_suffix('.').unwrap_or(rel);
    if !rel.is_empty() && !name.ends_with(&format!(".{CLUSTER_DOMAIN}")) {
        return Lookup::OutOfZone; // `xcluster.local`
    }
    let labels: Vec<&str> = if rel.is_empty() { vec![] } else { rel.split('.').collect() };
    match labels[..] {
        [] | ["svc"] | ["pod"] => Lookup::NoData,
        [ns, "svc"] | [ns, "pod"] if namespace_exists(store, ns) => Lookup::NoData,
        [svc, ns, "svc"] => service_records(store, ns, svc),
        [ep, svc, ns, "svc"] => endpoint_record(store, ns, svc, ep),
        [ip, _ns, "pod"] => dashed_ip(ip).map_or(Lookup::NxDomain, |a| Lookup::Found(vec![a])),
        _ => Lookup::NxDomain,
    }
}

fn namespace_exists(store: &Store, ns: &str) -> bool {
    store.services().any(|s| s.namespace == ns) || store.pods().any(|(p, _)| p.namespace == ns)
}

/// Ready endpoint addresses of a service, from its EndpointSlices.
fn ready_endpoints(store: &Store, ns: &str, svc: &str) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = store
        .endpoint_slices()
        .filter(|s| s.namespace == ns && s.labels.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(svc))
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.is_ready())
        .map(|e| e.address)
        .collect();
    out.dedup();
    out
}

fn service_records(store: &Store, ns: &str, name: &str) -> Lookup {
    let Some(svc) = store.service(ns, name) else { return Lookup::NxDomain };
    match svc.cluster_ip {
        ClusterIp::Ip(ip) => Lookup::Found(vec![ip]),
        ClusterIp::Headless | ClusterIp::Unset => {
            let eps = ready_endpoints(store, ns, name);
            if eps.is_empty() { Lookup::NxDomain } else { Lookup::Found(eps) }
        }
    }
}

fn endpoint_record(store: &Store, ns: &str, svc: &str, ep: &str) -> Lookup {
    let headless = store.service(ns, svc).is_some_and(|s| !matches!(s.cluster_ip, ClusterIp::Ip(_)));
    match dashed_ip(ep) {
        Some(ip) if headless && ready_endpoints(store, ns, svc).contains(&ip) => Lookup::Found(vec![ip]),
        _ => Lookup::NxDomain,
    }
}

/// `10-244-1-5` → 10.244.1.5.
fn dashed_ip(label: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = label.split('-').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (x, p) in o.iter_mut().zip(&parts) {
        *x = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(o))
}
