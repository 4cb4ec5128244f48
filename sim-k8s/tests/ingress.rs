//! Ingress: the path matching rules of the Ingress spec (the "Examples" table of
//! kubernetes.io/docs/concepts/services-networking/ingress), host wildcards, the
//! v1beta1 conversion, the certificate ingress-nginx serves, and the proxy's two
//! connections with X-Forwarded-For in a full run.

use std::path::Path;

use k8s_openapi::api::networking::v1 as net;
use sim_core::SimTime;
use sim_k8s::apps::nginx::config::Config;
use sim_k8s::apps::nginx::{self, route};
use sim_k8s::manifest::{self, Object as Manifest};
use sim_k8s::model::ingress::{Ingress, IngressClass};
use sim_k8s::model::secret::TlsSecret;
use sim_k8s::store::{Object, Store};
use sim_k8s::{plan, run, scenario};

/// An Ingress of class nginx on host `h.com` with one path per `(path, pathType)`, the
/// i-th going to service `p{i}`.
fn ingress(paths: &[(&str, &str)]) -> Ingress {
    let list: Vec<String> = paths
        .iter()
        .enumerate()
        .map(|(i, (p, t))| {
            format!("      - {{path: \"{p}\", pathType: {t}, backend: {{service: {{name: p{i}, port: {{number: 80}}}}}}}}")
        })
        .collect();
    let y = format!(
        "metadata: {{name: t}}\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: h.com\n    http:\n      paths:\n{}\n",
        list.join("\n")
    );
    let k: net::Ingress = serde_norway::from_str(&y).unwrap();
    Ingress::from_k8s(&k).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A store with the add-on's IngressClass `nginx` and these Ingresses.
fn store_with(ings: Vec<Ingress>) -> Store {
    let mut s = Store::default();
    let class =
        IngressClass { name: "nginx".into(), controller: "k8s.io/ingress-nginx".into(), is_default: true };
    s.put(Object::IngressClass(class), SimTime::ZERO);
    for i in ings {
        s.put(Object::Ingress(i), SimTime::ZERO);
    }
    s
}

/// Which path (index) serves `request`, `None` for the default backend.
fn served_by(paths: &[(&str, &str)], request: &str) -> Option<usize> {
    let store = store_with(vec![ingress(paths)]);
    let config = Config::from_store(&store);
    let r = route::route(&config, "h.com", request).expect("a host server always has a root location");
    match &r.location.target {
        nginx::config::Target::Service { name, .. } => Some(name[1..].parse().unwrap()),
        nginx::config::Target::DefaultBackend => None,
    }
}

#[test]
fn path_matching_follows_the_ingress_spec_examples_table() {
    // (paths, request, matched path index) — one row of the table each.
    type Row<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<usize>);
    let rows: &[Row<'_>] = &[
        (&[("/", "Prefix")], "/anything/at/all", Some(0)),
        (&[("/foo", "Exact")], "/foo", Some(0)),
        (&[("/foo", "Exact")], "/bar", None),
        (&[("/foo", "Exact")], "/foo/", None),
        (&[("/foo/", "Exact")], "/foo", None),
        (&[("/foo", "Prefix")], "/foo", Some(0)),
        (&[("/foo", "Prefix")], "/foo/", Some(0)),
        (&[("/foo/", "Prefix")], "/foo", Some(0)),
        (&[("/foo/", "Prefix")], "/foo/", Some(0)),
        (&[("/aaa/bb", "Prefix")], "/aaa/bbb", None),
        (&[("/aaa/bbb", "Prefix")], "/aaa/bbb", Some(0)),
        (&[("/aaa/bbb/", "Prefix")], "/aaa/bbb", Some(0)),
        (&[("/aaa/bbb", "Prefix")], "/aaa/bbb/", Some(0)),
        (&[("/aaa/bbb", "Prefix")], "/aaa/bbb/ccc", Some(0)),
        (&[("/aaa/bbb", "Prefix")], "/aaa/bbbxyz", None),
        (&[("/", "Prefix"), ("/aaa", "Prefix")], "/aaa/ccc", Some(1)),
        (&[("/", "Prefix"), ("/aaa", "Prefix"), ("/aaa/bbb", "Prefix")], "/aaa/bbb", Some(2)),
        (&[("/", "Prefix"), ("/aaa", "Prefix"), ("/aaa/bbb", "Prefix")], "/ccc", Some(0)),
        (&[("/aaa", "Prefix")], "/ccc", None),
        (&[("/foo", "Prefix"), ("/foo", "Exact")], "/foo", Some(1)),
    ];
    for (paths, request, want) in rows {
        assert_eq!(served_by(paths, request), *want, "paths {paths:?}, request {request}");
    }
}

#[test]
fn implementation_specific_is_an_nginx_string_prefix_and_regexes_come_first() {
    assert_eq!(served_by(&[("/foo", "ImplementationSpecific")], "/foobar"), Some(0));
    // Longest prefix wins among prefixes; a query string is not part of the path.
    assert_eq!(served_by(&[("/a", "Prefix"), ("/a/b", "Prefix")], "/a/b/c?x=/a"), Some(1));
    // use-regex makes every location of the host a case-insensitive regex.
    let mut ing = ingress(&[("/api/v[0-9]+", "ImplementationSpecific"), ("/", "Prefix")]);
    ing.annotations.insert("nginx.ingress.kubernetes.io/use-regex".into(), "true".into());
    let store = store_with(vec![ing]);
    let config = Config::from_store(&store);
    let r = route::route(&config, "h.com", "/API/v2/users").unwrap();
    assert_eq!(r.location.spelled(), "~* \"^/api/v[0-9]+\"");
}

#[test]
fn rewrite_target_with_captures_rewrites_the_upstream_path() {
    let mut ing = ingress(&[("/something(/|$)(.*)", "ImplementationSpecific")]);
    ing.annotations.insert("nginx.ingress.kubernetes.io/rewrite-target".into(), "/$2".into());
    let store = store_with(vec![ing]);
    let config = Config::from_store(&store);
    for (req, uri) in [
        ("/something", "/"),
        ("/something/", "/"),
        ("/something/new", "/new"),
        ("/something/a?q=1", "/a?q=1"),
    ] {
        assert_eq!(route::route(&config, "h.com", req).unwrap().uri, uri, "{req}");
    }
}

#[test]
fn a_wildcard_host_matches_exactly_one_label_and_exact_hosts_win() {
    let y = "metadata: {name: w}\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: '*.foo.com'\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: wild, port: {number: 80}}}}]}\n  - host: bar.foo.com\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: exact, port: {number: 80}}}}]}\n";
    let k: net::Ingress = serde_norway::from_str(y).unwrap();
    let store = store_with(vec![Ingress::from_k8s(&k).unwrap()]);
    let config = Config::from_store(&store);
    assert_eq!(config.server_for("baz.foo.com").name, "*.foo.com");
    assert_eq!(config.server_for("BAZ.foo.com:30080").name, "*.foo.com");
    assert_eq!(config.server_for("bar.foo.com").name, "bar.foo.com");
    assert_eq!(config.server_for("a.baz.foo.com").name, "_");
    assert_eq!(config.server_for("foo.com").name, "_");
}

#[test]
fn an_ingress_of_another_class_is_ignored() {
    let mut ing = ingress(&[("/", "Prefix")]);
    ing.class_name = Some("traefik".into());
    let store = store_with(vec![ing]);
    let config = Config::from_store(&store);
    assert_eq!(config.servers.len(), 1, "only the catch-all server");
    assert!(config.notes[0].contains("class \"traefik\" is not handled"), "{:?}", config.notes);
    // The legacy annotation must name the controller's --ingress-class.
    let mut legacy = ingress(&[("/", "Prefix")]);
    legacy.class_name = None;
    legacy.annotations.insert("kubernetes.io/ingress.class".into(), "nginx".into());
    assert_eq!(Config::from_store(&store_with(vec![legacy])).servers.len(), 2);
    // ingressClassName must name an IngressClass of this controller.
    let mut ing = ingress(&[("/", "Prefix")]);
    ing.class_name = Some("nginx".into());
    assert_eq!(Config::from_store(&store_with_no_class(vec![ing])).servers.len(), 1);
}

fn store_with_no_class(ings: Vec<Ingress>) -> Store {
    let mut s = Store::default();
    for i in ings {
        s.put(Object::Ingress(i), SimTime::ZERO);
    }
    s
}

const SEED: &str = "manifests:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: test}\n  spec: {selector: {app: t}, ports: [{port: 80}]}\n- apiVersion: extensions/v1beta1\n  kind: Ingress\n  metadata: {name: seed}\n  spec:\n    backend: {serviceName: test, servicePort: 80}\n    rules:\n    - host: test.name.com\n      http:\n        paths:\n        - path: /test\n          backend: {serviceName: test, servicePort: 80}\n";

#[test]
fn a_v1beta1_ingress_is_converted_with_kubectls_warning_and_the_default_class() {
    let s = scenario::load_str("s.yaml", SEED, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.warnings(),
        [
            "extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress"
        ]
    );
    let ing = &s.workloads.ingress.ingresses[0];
    assert_eq!(ing.class_name.as_deref(), Some("nginx"), "the add-on's class is the default");
    let p = &ing.rules[0].paths[0];
    assert_eq!(
        (p.path.as_str(), p.path_type.as_str(), p.backend.service.as_str()),
        ("/test", "ImplementationSpecific", "test")
    );
    assert_eq!(ing.default_backend.as_ref().unwrap().service, "test");
    // The add-on's objects are real objects of the scenario.
    let names: Vec<String> = s
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.object.kind(), o.object.metadata().name.clone().unwrap_or_default()))
        .collect();
    for want in
        ["IngressClass/nginx", "Deployment/ingress-nginx-controller", "Service/ingress-nginx-controller"]
    {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    let svc = s.workloads.services.iter().find(|x| x.name == "ingress-nginx-controller").unwrap();
    let ports: Vec<_> = svc.ports.iter().map(|p| (p.name.as_str(), p.port, p.node_port)).collect();
    assert_eq!(ports, [("http", 80, Some(30080)), ("https", 443, Some(30443))]);
}

#[test]
fn v1beta1_and_v1_mistakes_are_located_with_the_apiservers_messages() {
    let bad = SEED.replace("servicePort: 80}\n    rules", "servicePortz: 80}\n    rules");
    let e = scenario::load_str("s.yaml", &bad, Path::new(".")).unwrap_err().to_string();
    assert!(e.contains("s.yaml:10:34: unknown field \"manifests[1].spec.backend.servicePortz\""), "{e}");
    let v1 = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\nspec:\n  rules:\n  - http:\n      paths:\n      - path: /x\n        backend: {service: {name: web, port: {number: 80}}}\n";
    let e = scenario::load_str("i.yaml", v1, Path::new(".")).unwrap_err().to_string();
    assert_eq!(
        e,
        "i.yaml:8:9: spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    );
    let rel = v1.replace("      - path: /x\n", "      - path: x\n        pathType: Prefix\n");
    let objs = manifest::parse_str("i.yaml", &rel).unwrap();
    let Manifest::Ingress(k) = &objs[0].object else { panic!() };
    let e = Ingress::from_k8s(k).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "spec.rules[0].http.paths[0].path: Invalid value: \"x\": must be an absolute path"
    );
}

fn tls_store(ingress_yaml: &str) -> Store {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/manifests/secure-example-tls.yaml");
    let objs = manifest::parse_file(&path, "tls.yaml").unwrap();
    let Manifest::Secret(s) = &objs[0].object else { panic!() };
    let secret = TlsSecret::from_k8s(s).unwrap().unwrap();
    assert_eq!(secret.cert.as_ref().unwrap().dns_names, ["secure.example.com"]);
    let k: net::Ingress = serde_norway::from_str(ingress_yaml).unwrap();
    let mut store = store_with(vec![Ingress::from_k8s(&k).unwrap()]);
    store.put(Object::TlsSecret(secret), SimTime::ZERO);
    store
}

#[test]
fn the_certificate_is_the_secret_matching_the_sni_else_the_fake_one() {
    let y = "metadata: {name: s}\nspec:\n  ingressClassName: nginx\n  tls: [{hosts: [secure.example.com, other.example.com], secretName: secure-example-tls}]\n  rules:\n  - host: secure.example.com\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}\n  - host: other.example.com\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}\n";
    let store = tls_store(y);
    let (subject, why) = nginx::certificate_for(&store, Some("secure.example.com"));
    assert_eq!(subject, "CN=secure.example.com");
    assert!(why.contains("secret default/secure-example-tls"), "{why}");
    for sni in [Some("other.example.com"), Some("nowhere.example.com"), None] {
        assert_eq!(nginx::certificate_for(&store, sni).0, nginx::FAKE_CERT_SUBJECT, "{sni:?}");
    }
    // The certificate does not name other.example.com: ingress-nginx says so and falls back.
    let notes = Config::from_store(&store).notes;
    assert!(
        notes.iter().any(|n| n.contains(
            "does not contain a Common Name or Subject Alternative Name for server \"other.example.com\""
        )),
        "{notes:?}"
    );
}

#[test]
fn the_proxy_opens_a_second_connection_to_the_pod_and_sends_x_forwarded_for() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ingress-host-path.yaml");
    let s = scenario::load(&path).unwrap();
    let report = run::run(plan::plan(&s, true));
    assert!(report.all_met());
    let step = &report.steps[0];
    let syns: Vec<&sim_net::hop::Hop> = step
        .hops
        .iter()
        .filter(|h| {
            h.step == sim_net::hop::Step::Send
                && h.packet.contains("Flags [S],")
                && !h.packet.contains("VXLAN")
        })
        .collect();
    assert_eq!(syns.len(), 2, "one SYN from the client, one from the controller");
    assert_eq!(syns[0].netns, "client-client");
    assert!(syns[1].netns.starts_with("pod-ingress-nginx_ingress-nginx-controller-"), "{}", syns[1].netns);
    let backend_ip = report
        .world
        .store
        .pods()
        .find(|(p, _)| Some(format!("pod/{}", p.name)) == step.probe.responder)
        .unwrap()
        .1
        .pod_ip
        .unwrap();
    assert!(
        syns[1].packet.contains(&format!("> {backend_ip}.8080:")),
        "straight to the pod IP and targetPort: {}",
        syns[1].packet
    );
    let controller_ip = report
        .world
        .store
        .pods()
        .find(|(p, _)| p.namespace == "ingress-nginx")
        .and_then(|(_, st)| st.pod_ip)
        .unwrap();
    assert_eq!(step.probe.seen_src, Some(controller_ip), "the backend's client is the controller");
    let answer = step.probe.answer.as_deref().unwrap();
    let xff = sim_k8s::apps::client::body_field(answer, "x-forwarded-for")
        .expect("X-Forwarded-For reaches the backend");
    assert_eq!(sim_k8s::apps::client::body_field(answer, "x-real-ip"), Some(xff));
    assert_eq!(sim_k8s::apps::client::body_field(answer, "x-forwarded-proto"), Some("http"));
    assert_eq!(step.probe.status, Some(200));
}

#[test]
fn host_network_exposure_binds_the_nodes_ports_and_keeps_the_clients_address() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ingress-hostnetwork.yaml");
    let s = scenario::load(&path).unwrap();
    let report = run::run(plan::plan(&s, true));
    assert!(report.all_met());
    let store = &report.world.store;
    let (controller, st) = store.pods().find(|(p, _)| p.namespace == "ingress-nginx").unwrap();
    assert!(controller.host_network);
    let node = controller.node_name.clone().expect("bound by the scheduler");
    let node_ip = store.node(&node).unwrap().1.ip;
    assert_eq!(st.pod_ip, Some(node_ip), "a hostNetwork pod's IP is its node's");
    assert!(store.services().all(|svc| svc.namespace != "ingress-nginx"), "no Service in this setup");
    let step = &report.steps[0];
    let syns: Vec<&sim_net::hop::Hop> = step
        .hops
        .iter()
        .filter(|h| h.step == sim_net::hop::Step::Send && h.packet.contains("Flags [S],"))
        .filter(|h| !h.packet.contains("VXLAN"))
        .collect();
    assert_eq!(syns.len(), 2, "one SYN from the client, one from the controller");
    assert!(syns[0].packet.contains(&format!("> {node_ip}.80:")), "{}", syns[0].packet);
    assert_eq!(syns[1].netns, node, "the controller connects from its node's own namespace");
    let answer = step.probe.answer.as_deref().unwrap();
    let client_ip = s.cluster.clients[0].ip.to_string();
    assert_eq!(sim_k8s::apps::client::body_field(answer, "x-forwarded-for"), Some(client_ip.as_str()));
    let refused = report.steps.last().unwrap();
    assert_eq!(
        refused.probe.outcome,
        Some(sim_net::stack::ProbeOutcome::Refused),
        "no nginx on the other node"
    );
}

#[test]
fn probe_http_fields_and_the_controller_exposure_are_checked() {
    let base = "manifests:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: w, image: x}]}}\n";
    let err = |t: &str| scenario::load_str("s.yaml", t, Path::new(".")).unwrap_err().to_string();
    let e = err(&format!(
        "{base}steps:\n- at: 1s\n  probe: {{from: pod/a, to: 'pod/a:80', proto: tcp, host: x.com}}\n"
    ));
    assert_eq!(e, "s.yaml:5:58: steps[0].probe.host: only an http probe has host: this probe is tcp");
    let e = err(&format!(
        "{base}steps:\n- at: 1s\n  probe: {{from: pod/a, to: 'pod/a:80', proto: http, path: x}}\n"
    ));
    assert!(
        e.contains("steps[0].probe.path: expected a path starting with /, without spaces, found \"x\""),
        "{e}"
    );
    let e = err(&format!(
        "{base}steps:\n- at: 1s\n  probe: {{from: pod/a, to: 'pod/a:80', proto: http}}\n  expect: {{status: 99}}\n"
    ));
    assert!(
        e.contains("steps[0].expect.status: an HTTP status code is between 100 and 599, found 99"),
        "{e}"
    );
    let ok = format!("cluster: {{ingressController: {{expose: hostNetwork}}}}\n{base}");
    assert!(scenario::load_str("s.yaml", &ok, Path::new(".")).is_ok());
    let e = err(&format!("cluster: {{ingressController: {{expose: ClusterIP}}}}\n{base}"));
    assert!(e.contains("unknown value \"ClusterIP\": expected NodePort, LoadBalancer or hostNetwork"), "{e}");
}

#[test]
fn a_backend_without_a_service_is_a_503_and_no_match_is_the_default_backends_404() {
    let store = store_with(vec![ingress(&[("/app", "Prefix")])]);
    let facts = nginx::ConnFacts {
        peer: "10.244.0.0:40000".parse().unwrap(),
        local: "10.244.1.4:80".parse().unwrap(),
        tls: false,
    };
    let req = |path: &str| {
        nginx::Request::parse(format!("GET {path} HTTP/1.1\r\nHost: h.com\r\n\r\n").as_bytes()).unwrap()
    };
    let mut rr = std::collections::BTreeMap::new();
    let r = nginx::handle(&store, &mut rr, &req("/app/x"), facts);
    let nginx::Decision::Respond { status: 503, .. } = r.decision else { panic!("{r:?}") };
    assert!(r.notes.iter().any(|n| n.contains("service default/p0 not found")), "{:?}", r.notes);
    let r = nginx::handle(&store, &mut rr, &req("/other"), facts);
    assert_eq!(
        r.decision,
        nginx::Decision::Respond { status: 404, body: nginx::DEFAULT_BACKEND_BODY.into() }
    );
}

#[test]
fn default_ingress_classes_are_admitted_like_the_apiserver_does() {
    let class = |name: &str, default: bool| {
        format!(
            "- apiVersion: networking.k8s.io/v1\n  kind: IngressClass\n  metadata: {{name: {name}, annotations: {{ingressclass.kubernetes.io/is-default-class: \"{default}\"}}}}\n  spec: {{controller: example.com/{name}}}\n"
        )
    };
    let ing = "- apiVersion: networking.k8s.io/v1\n  kind: Ingress\n  metadata: {name: web}\n  spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}\n";
    // A second default class next to the add-on's: the Ingress without a class is refused.
    let text = format!("manifests:\n{}{ing}", class("other", true));
    let e = scenario::load_str("s.yaml", &text, Path::new(".")).unwrap_err().to_string();
    assert!(e.contains("Forbidden: 2 default IngressClasses were found, only 1 allowed"), "{e}");
    // A class named nginx of one's own replaces the add-on's; not default, so the
    // Ingress keeps no class and the controller will ignore it.
    let text = format!("manifests:\n{}{ing}", class("nginx", false));
    let s = scenario::load_str("s.yaml", &text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.workloads.ingress.classes.len(), 1);
    assert_eq!(s.workloads.ingress.ingresses[0].class_name, None);
}

#[test]
fn an_endpoint_that_refuses_is_a_502_from_the_controller() {
    let text = "manifests:\n\
- {apiVersion: v1, kind: Pod, metadata: {name: web, labels: {app: web}}, spec: {containers: [{name: w, image: x, ports: [{containerPort: 8080}]}]}}\n\
- {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web}, ports: [{port: 80, targetPort: 9999}]}}\n\
- apiVersion: networking.k8s.io/v1\n  kind: Ingress\n  metadata: {name: web}\n  spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}\n\
steps:\n- at: 2s\n  probe: {from: client/client, to: 'node/node-1:30080', proto: http}\n  expect: {result: reached, status: 502}\n";
    let s = scenario::load_str("s.yaml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let report = run::run(plan::plan(&s, true));
    assert!(report.all_met(), "{:?}", report.steps[0].checks);
    let hops: Vec<&str> = report.steps[0].hops.iter().map(|h| h.detail.as_str()).collect();
    assert!(
        hops.iter().any(|d| d.contains("failed (111: Connection refused) while connecting to upstream: 502")),
        "{hops:?}"
    );
}
