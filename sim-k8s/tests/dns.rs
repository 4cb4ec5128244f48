//! The cluster DNS: CoreDNS-like answers read from a cluster after its objects have
//! settled (ClusterIP, headless, pod records, NXDOMAIN with SOA, NODATA, out of zone),
//! the kubelet's service environment variables compared with envvars.go's format, and
//! the add-on's defaulting (on for scenarios that resolve names).

use std::net::Ipv4Addr;
use std::path::Path;

use sim_core::{RngStreams, SimTime};
use sim_k8s::dns::zone;
use sim_k8s::model::service::ClusterIp;
use sim_k8s::run::RunReport;
use sim_net::packet::dns::{self, Message, RData};

const CLUSTER: &str = r#"
seed: 4
cluster: {dns: {enabled: true}}
manifests:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a, labels: {app: web}}
    spec: {nodeName: node-1, containers: [{name: h, image: x, ports: [{containerPort: 8080}]}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: b, labels: {app: web}}
    spec: {nodeName: node-2, containers: [{name: h, image: x, ports: [{containerPort: 8080}]}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}, {port: 8443, protocol: UDP, name: q}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: hl}
    spec: {clusterIP: None, selector: {app: web}, ports: [{port: 8080}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: empty}
    spec: {clusterIP: None, selector: {app: none}, ports: [{port: 8080}]}
"#;

fn settled() -> RunReport {
    let s = sim_k8s::scenario::load_str("dns.yaml", CLUSTER, Path::new("")).expect("loads");
    sim_k8s::run::run(sim_k8s::plan::plan(&s, false))
}

fn ask(r: &RunReport, name: &str, qtype: u16) -> Message {
    let mut rng = RngStreams::new(1).stream("test");
    let q = Message::query(77, name, qtype).encode();
    let a = zone::answer(&r.world.store, &q, SimTime::ZERO, &mut rng).expect("a query gets an answer");
    Message::decode(&a).expect("the answer decodes")
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = m
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(ip) => Some(ip),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn pod_ip(r: &RunReport, name: &str) -> Ipv4Addr {
    r.world.store.pod("default", name).and_then(|(_, s)| s.pod_ip).expect("pod runs")
}

#[test]
fn a_cluster_ip_service_answers_its_cluster_ip_authoritatively() {
    let r = settled();
    let ClusterIp::Ip(ip) = r.world.store.service("default", "web").unwrap().cluster_ip else { panic!() };
    let m = ask(&r, "web.default.svc.cluster.local.", dns::TYPE_A);
    assert_eq!(
        (m.id, m.flags.response, m.flags.authoritative, m.flags.recursion_available),
        (77, true, true, false)
    );
    assert_eq!(a_records(&m), vec![ip]);
    assert_eq!(m.answers[0].ttl, zone::TTL);
    // The DNS service itself sits at the tenth address.
    let dns = ask(&r, "kube-dns.kube-system.svc.cluster.local.", dns::TYPE_A);
    assert_eq!(a_records(&dns), vec![Ipv4Addr::new(10, 96, 0, 10)]);
}

#[test]
fn a_headless_service_answers_the_ready_pod_ips() {
    let r = settled();
    let mut want = vec![pod_ip(&r, "a"), pod_ip(&r, "b")];
    want.sort();
    assert_eq!(a_records(&ask(&r, "hl.default.svc.cluster.local.", dns::TYPE_A)), want);
    let ep = format!("{}.hl.default.svc.cluster.local.", pod_ip(&r, "a").to_string().replace('.', "-"));
    assert_eq!(a_records(&ask(&r, &ep, dns::TYPE_A)), vec![pod_ip(&r, "a")]);
    // Headless without ready endpoints: NXDOMAIN, as CoreDNS (errNoItems).
    assert_eq!(ask(&r, "empty.default.svc.cluster.local.", dns::TYPE_A).flags.rcode, dns::RCODE_NXDOMAIN);
}

#[test]
fn unknown_names_are_nxdomain_with_the_zone_soa() {
    let r = settled();
    for name in ["nope.default.svc.cluster.local.", "web.nope.svc.cluster.local.", "x.y.cluster.local."] {
        let m = ask(&r, name, dns::TYPE_A);
        assert_eq!(m.flags.rcode, dns::RCODE_NXDOMAIN, "{name}");
        assert!(m.answers.is_empty());
        let soa = &m.authority[0];
        assert_eq!((soa.name.as_str(), soa.rtype), ("cluster.local.", dns::TYPE_SOA));
        let RData::Soa { mname, rname, refresh, retry, expire, minimum, .. } = &soa.data else { panic!() };
        assert_eq!(
            (mname.as_str(), rname.as_str(), *refresh, *retry, *expire, *minimum),
            ("ns.dns.cluster.local.", "hostmaster.cluster.local.", 7200, 1800, 86400, 30)
        );
    }
}

#[test]
fn existing_names_without_the_type_are_nodata_and_other_zones_servfail() {
    let r = settled();
    for (name, t) in [
        ("web.default.svc.cluster.local.", dns::TYPE_AAAA),
        ("default.svc.cluster.local.", dns::TYPE_A),
        ("svc.cluster.local.", dns::TYPE_A),
    ] {
        let m = ask(&r, name, t);
        assert_eq!((m.flags.rcode, m.answers.len(), m.authority.len()), (dns::RCODE_NOERROR, 0, 1), "{name}");
    }
    assert_eq!(ask(&r, "example.com.", dns::TYPE_A).flags.rcode, dns::RCODE_SERVFAIL);
    // `pods insecure`: any dashed address under NS.pod answers itself.
    let m = ask(&r, "10-244-1-77.default.pod.cluster.local.", dns::TYPE_A);
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(10, 244, 1, 77)]);
}

#[test]
fn service_environment_variables_follow_envvars_go() {
    let r = settled();
    let ClusterIp::Ip(ip) = r.world.store.service("default", "web").unwrap().cluster_ip else { panic!() };
    let web = sim_k8s::envvars::from_service(r.world.store.service("default", "web").unwrap());
    let want: Vec<(String, String)> = [
        ("WEB_SERVICE_HOST", format!("{ip}")),
        ("WEB_SERVICE_PORT", "80".into()),
        ("WEB_SERVICE_PORT_HTTP", "80".into()),
        ("WEB_SERVICE_PORT_Q", "8443".into()),
        ("WEB_PORT", format!("tcp://{ip}:80")),
        ("WEB_PORT_80_TCP", format!("tcp://{ip}:80")),
        ("WEB_PORT_80_TCP_PROTO", "tcp".into()),
        ("WEB_PORT_80_TCP_PORT", "80".into()),
        ("WEB_PORT_80_TCP_ADDR", format!("{ip}")),
        ("WEB_PORT_8443_UDP", format!("udp://{ip}:8443")),
        ("WEB_PORT_8443_UDP_PROTO", "udp".into()),
        ("WEB_PORT_8443_UDP_PORT", "8443".into()),
        ("WEB_PORT_8443_UDP_ADDR", format!("{ip}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(web, want);
    // Headless services have no variables; kube-system's are not visible from default;
    // the pods started after every service existed, so they have web's and kubernetes'.
    let env = &r.world.pod_env[&("default".to_string(), "a".to_string())];
    assert!(env.iter().any(|(k, _)| k == "WEB_SERVICE_HOST"));
    assert!(env.iter().any(|(k, v)| k == "KUBERNETES_SERVICE_HOST" && v == "10.96.0.1"));
    assert!(!env.iter().any(|(k, _)| k.starts_with("HL_") || k.starts_with("KUBE_DNS")));
    assert!(env.windows(2).all(|w| w[0].0 < w[1].0), "sorted by name");
}

#[test]
fn the_add_on_is_on_only_when_asked_or_when_a_probe_uses_a_name() {
    let load = |t: &str| sim_k8s::scenario::load_str("x.yaml", t, Path::new("")).unwrap();
    assert!(!load("cluster: {nodes: 1}\n").cluster.dns);
    let with_name = "steps:\n- at: 1s\n  probe: {from: node/node-1, to: \"web:80\", proto: tcp}\n";
    let s = load(with_name);
    assert!(s.cluster.dns);
    assert!(s.workloads.services.iter().any(|svc| svc.name == "kube-dns" && svc.namespace == "kube-system"));
    assert!(!load(&format!("cluster: {{dns: {{enabled: false}}}}\n{with_name}")).cluster.dns);
}
