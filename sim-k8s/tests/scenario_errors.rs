//! Every kind of scenario error, with its exact message and file:line:col.

use std::path::Path;

use sim_k8s::scenario;

fn error(text: &str) -> String {
    match scenario::load_str("s.yaml", text, Path::new(".")) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

const PODS: &str = "manifests:\n\
- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: node-1, containers: [{name: web, image: x}, {name: sidecar, image: y}]}}\n\
- {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {containers: [{name: web, image: x}]}}\n";

fn with_steps(steps: &str) -> String {
    format!("{PODS}steps:\n{steps}")
}

#[test]
fn bad_yaml_syntax_is_located() {
    assert_eq!(
        error("name: x\ncluster: {nodes: 2\n"),
        "s.yaml:3:1: while parsing a flow mapping, did not find expected ',' or '}'"
    );
}

#[test]
fn an_unknown_scenario_field_lists_the_accepted_ones() {
    assert_eq!(
        error("name: x\ncluster:\n  nodez: 3\n"),
        "s.yaml:3:3: unknown field \"cluster.nodez\", expected one of: nodes, nodeNetwork, podNetwork, serviceNetwork, network, loadBalancerPool, loadBalancer, ingressController, dns, timers"
    );
}

#[test]
fn an_unknown_field_in_an_inline_manifest_points_at_its_key() {
    let text = "manifests:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n    spec:\n      containers: [{name: w, image: x}]\n      nodeNam: node-1\n";
    assert_eq!(error(text), "s.yaml:7:7: unknown field \"manifests[0].spec.nodeNam\"");
}

#[test]
fn an_unknown_field_in_a_manifest_file_names_that_file() {
    let dir = std::env::temp_dir().join(format!("kube-netsim-scenario-errors-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("m/pods.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labelz: {}\n",
    )
    .unwrap();
    let e = scenario::load_str("s.yaml", "manifests:\n- file: m/pods.yaml\n", &dir).unwrap_err().to_string();
    let file = dir.join("m/pods.yaml").display().to_string();
    assert_eq!(e, format!("{file}:5:3: unknown field \"metadata.labelz\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_manifest_file_is_reported_at_its_entry() {
    let e = error("manifests:\n- file: nope.yaml\n");
    assert!(e.starts_with("s.yaml:2:9: cannot read ./nope.yaml: "), "{e}");
}

#[test]
fn a_wrong_type_says_what_was_expected() {
    assert_eq!(error("seed: one\n"), "s.yaml:1:7: seed: invalid type: string \"one\", expected u64");
    assert_eq!(
        error("cluster: {nodes: many}\n"),
        "s.yaml:1:18: cluster.nodes: invalid type: string \"many\", expected a node count (1 to 64) or a list of nodes ({name, ip})"
    );
}

#[test]
fn a_wrong_type_in_an_inline_manifest_is_located() {
    let text = "manifests:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n    spec:\n      replicas: three\n";
    assert_eq!(
        error(text),
        "s.yaml:6:17: manifests[0].spec.replicas: invalid type: string \"three\", expected i32"
    );
}

#[test]
fn a_probe_naming_an_unknown_pod_lists_the_pods() {
    let text = with_steps(
        "- {at: 1s, probe: {from: pod/a, to: pod/b, proto: icmp}}\n- {at: 2s, probe: {from: pod/a, to: pod/b, proto: icmp}}\n- at: 3s\n  probe: {from: pod/x, to: pod/b, proto: icmp}\n",
    );
    assert_eq!(error(&text), "s.yaml:8:17: steps[2].probe.from: pod \"x\" not found (pods: a, b)");
}

#[test]
fn an_unknown_node_and_an_unknown_container_are_errors() {
    let text =
        with_steps("- {at: 1s, probe: {from: pod/a, container: side, to: node/node-9, proto: icmp}}\n");
    assert_eq!(
        error(&text),
        "s.yaml:5:44: steps[0].probe.container: container \"side\" not found in pod \"a\" (containers: web, sidecar)\n\
         s.yaml:5:54: steps[0].probe.to: node \"node-9\" not found (nodes: node-1, node-2)"
    );
}

#[test]
fn ports_are_required_for_tcp_and_forbidden_for_icmp() {
    let text = with_steps(
        "- {at: 1s, probe: {from: pod/a, to: pod/b, proto: tcp}}\n- {at: 1s, probe: {from: pod/a, to: \"pod/b:80\", proto: icmp}}\n",
    );
    assert_eq!(
        error(&text),
        "s.yaml:5:37: steps[0].probe.to: a tcp probe needs a port: expected pod/b:PORT\n\
         s.yaml:6:37: steps[1].probe.to: an icmp probe has no port: remove \":80\""
    );
}

#[test]
fn overlapping_cidrs_name_both_networks() {
    assert_eq!(
        error("cluster:\n  podNetwork: 10.0.0.0/8\n  serviceNetwork: 10.96.0.0/12\n"),
        "s.yaml:3:19: cluster.serviceNetwork: 10.96.0.0/12 overlaps cluster.podNetwork 10.0.0.0/8: the networks must not overlap"
    );
    assert_eq!(
        error("cluster:\n  nodeNetwork: 10.244.3.0/24\n"),
        "s.yaml:2:16: cluster.nodeNetwork: 10.244.3.0/24 overlaps cluster.podNetwork 10.244.0.0/16: the networks must not overlap"
    );
}

#[test]
fn a_cidr_with_host_bits_suggests_the_network() {
    assert_eq!(
        error("cluster: {podNetwork: 10.244.1.0/16}\n"),
        "s.yaml:1:23: cluster.podNetwork: invalid CIDR \"10.244.1.0/16\": host bits are set (did you mean 10.244.0.0/16?)"
    );
}

#[test]
fn the_pod_network_must_hold_a_slash_24_per_node() {
    assert_eq!(
        error("cluster: {nodes: 3, podNetwork: 10.244.0.0/23}\n"),
        "s.yaml:1:33: cluster.podNetwork: 10.244.0.0/23 holds 2 node /24 subnet(s), but the cluster has 3 nodes"
    );
}

#[test]
fn node_count_names_and_ips_are_checked() {
    assert_eq!(
        error("cluster: {nodes: 0}\n"),
        "s.yaml:1:18: cluster.nodes: must be between 1 and 64 nodes, found 0"
    );
    assert_eq!(
        error(
            "cluster:\n  nodes:\n  - {name: Web_1}\n  - {name: b, ip: 10.0.0.1}\n  - {name: c, ip: 192.168.1.1}\n  - {name: d, ip: 192.168.1.11}\n"
        ),
        "s.yaml:3:12: cluster.nodes[0].name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n\
         s.yaml:4:19: cluster.nodes[1].ip: 10.0.0.1 is outside cluster.nodeNetwork 192.168.1.0/24\n\
         s.yaml:5:19: cluster.nodes[2].ip: 192.168.1.1 is the router's address (the first host of cluster.nodeNetwork)\n\
         s.yaml:6:19: cluster.nodes[3].ip: 192.168.1.11 is already the address of Web_1"
    );
}

#[test]
fn a_bad_duration_explains_the_format() {
    let text = with_steps("- {at: soon, probe: {from: pod/a, to: pod/b, proto: icmp}}\n");
    assert_eq!(
        error(&text),
        "s.yaml:5:8: steps[0].at: invalid duration \"soon\": expected a number with a unit (ns, us, ms, s, m), like \"150ms\" or \"1.5s\""
    );
}

#[test]
fn a_bad_reference_lists_the_forms() {
    let text = with_steps("- {at: 1s, probe: {from: a, to: pod/b, proto: icmp}}\n");
    assert_eq!(
        error(&text),
        "s.yaml:5:26: steps[0].probe.from: invalid reference \"a\": expected pod/NAME, pod/NAMESPACE/NAME, node/NAME, svc/NAME, lb/NAME, client/NAME (each with an optional :PORT), an IPv4 address, IP:PORT, localhost:PORT or a DNS name with a port (web:80) (did you mean pod/a?)"
    );
}

#[test]
fn an_unknown_network_backend_lists_the_accepted_ones() {
    assert_eq!(
        error("cluster:\n  network: calico\n"),
        "s.yaml:2:12: cluster.network: unknown network backend \"calico\": expected one of: flannel-vxlan, flannel-host-gw, host-gw"
    );
}

#[test]
fn an_unknown_protocol_and_result_list_the_accepted_ones() {
    let text = with_steps("- {at: 1s, probe: {from: pod/a, to: pod/b, proto: sctp}}\n");
    assert_eq!(
        error(&text),
        "s.yaml:5:51: steps[0].probe.proto: unknown protocol \"sctp\": expected one of: icmp, tcp, udp, http"
    );
    let text = with_steps("- {at: 1s, probe: {from: pod/a, to: pod/b, proto: icmp}, expect: {result: ok}}\n");
    assert_eq!(
        error(&text),
        "s.yaml:5:75: steps[0].expect.result: unknown result \"ok\": expected one of: reached, refused, unreachable, dropped, timeout, unresolved"
    );
}

#[test]
fn invalid_pods_get_apiserver_messages_at_the_offending_value() {
    let text = "manifests:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: Web_1}\n  spec:\n    containers:\n    - name: w\n      image: x\n      ports: [{containerPort: 70000}]\n- {apiVersion: v1, kind: Pod, metadata: {name: e}, spec: {containers: []}}\n";
    let e = error(text);
    let lines: Vec<&str> = e.lines().collect();
    assert!(lines[0].starts_with("s.yaml:4:20: metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"), "{e}");
    assert_eq!(
        lines[1],
        "s.yaml:9:31: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
    );
    assert_eq!(lines[2], "s.yaml:10:59: spec.containers: Required value");
}

#[test]
fn a_second_pod_with_the_same_name_already_exists() {
    let text = format!(
        "{PODS}- {{apiVersion: v1, kind: Pod, metadata: {{name: a}}, spec: {{containers: [{{name: w, image: x}}]}}}}\n"
    );
    assert_eq!(error(&text), "s.yaml:4:48: pods \"a\" already exists");
}

#[test]
fn a_node_name_must_name_a_cluster_node() {
    let text = "manifests:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: node-9, containers: [{name: w, image: x}]}}\n";
    assert_eq!(
        error(text),
        "s.yaml:2:69: spec.nodeName: Invalid value: \"node-9\": node \"node-9\" not found (nodes: node-1, node-2)"
    );
}

#[test]
fn a_receiver_pattern_must_match_something() {
    let text = with_steps(
        "- {at: 1s, probe: {from: pod/a, to: pod/b, proto: icmp}, expect: {at: \"pod/z*\", source: pod/q}}\n",
    );
    assert_eq!(
        error(&text),
        "s.yaml:5:71: steps[0].expect.at: pattern \"pod/z*\" matches no pod (pods: a, b)\n\
         s.yaml:5:89: steps[0].expect.source: pod \"q\" not found (pods: a, b)"
    );
}

#[test]
fn an_empty_file_is_neither_a_scenario_nor_manifests() {
    assert_eq!(
        error("# nothing here\n"),
        "s.yaml:1:1: empty file: expected a scenario (name, cluster, manifests, steps) or Kubernetes manifests"
    );
}

#[test]
fn errors_from_several_places_are_all_reported_in_file_order() {
    let text = "cluster: {nodes: 2}\nmanifests:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: n9, containers: [{name: w, image: x}]}}\nsteps:\n- {at: 1s, probe: {from: pod/x, to: pod/a, proto: icmp}}\n";
    let e = error(text);
    assert_eq!(e.lines().count(), 2, "{e}");
    assert!(e.lines().next().unwrap().starts_with("s.yaml:3:"), "{e}");
}

#[test]
fn a_client_inside_a_cluster_network_is_refused() {
    assert_eq!(
        error("clients:\n  - {name: x, ip: 10.244.3.3}\n"),
        "s.yaml:2:19: clients[0].ip: 10.244.3.3 is inside cluster.podNetwork 10.244.0.0/16: a client lives outside the cluster"
    );
}

#[test]
fn an_unknown_client_in_a_probe_is_refused() {
    let text = "manifests:\n  - {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: c, image: i}]}}\nsteps:\n  - {at: 1s, probe: {from: client/nope, to: pod/a, proto: icmp}}\n";
    assert_eq!(error(text), "s.yaml:4:28: steps[0].probe.from: client \"nope\" not found (clients: client)");
}

#[test]
fn a_repeat_of_zero_is_refused() {
    let text = with_steps("- {at: 1s, probe: {from: pod/a, to: pod/b, proto: icmp, repeat: 0}}\n");
    let e = error(&text);
    assert!(e.contains("steps[0].probe.repeat: must be between 1 and 1000, found 0"), "{e}");
}

#[test]
fn a_step_with_two_actions_is_refused() {
    let text = with_steps("- {at: 1s, probe: {from: pod/a, to: pod/b, proto: icmp}, delete: pod/b}\n");
    let e = error(&text);
    assert!(
        e.contains(
            "a step needs exactly one action: probe, delete, setReady, scale, fail, restore, cut, heal or apply"
        ),
        "{e}"
    );
}

#[test]
fn node_failure_steps_name_nodes_of_the_cluster() {
    let e = error(&with_steps(
        "- {at: 1s, fail: node/node-9}
",
    ));
    assert!(e.contains("steps[0].fail: node/node-9 not found (nodes: node-1, node-2)"), "{e}");
    let e = error(&with_steps(
        "- {at: 1s, cut: {link: pod/a}}
",
    ));
    assert!(e.contains("steps[0].cut.link: expected node/NAME, found pod/a"), "{e}");
    let e = error(&with_steps("- {at: 1s, restore: \"node/node-1:80\"}\n"));
    assert!(e.contains("steps[0].restore: expected node/NAME, found node/node-1:80"), "{e}");
    let e = error(&with_steps(
        "- {at: 1s, heal: {lnk: node/node-1}}
",
    ));
    assert!(e.contains("unknown field \"steps[0].heal.lnk\", expected link"), "{e}");
}

#[test]
fn cluster_timers_are_checked() {
    let e = error("cluster:\n  timers: {nodeMonitorGracePeriod: 1s, nodeLeaseRenewInterval: 2s}\n");
    assert_eq!(
        e,
        "s.yaml:2:36: cluster.timers.nodeMonitorGracePeriod: nodeMonitorGracePeriod 1s must be longer than nodeLeaseRenewInterval 2s"
    );
    let e = error("cluster:\n  timers: {nodeMonitorPeriod: 0s}\n");
    assert!(e.contains("nodeMonitorPeriod must be at least 1ms, found 0s"), "{e}");
    let e = error("cluster:\n  timers: {gracePeriod: 3s}\n");
    assert!(e.contains("unknown field \"cluster.timers.gracePeriod\""), "{e}");
}

#[test]
fn a_client_route_goes_via_a_node() {
    let e = error("clients: [{name: c, ip: 203.0.113.5, routes: [{to: 10.96.0.0/12, via: node/node-7}]}]\n");
    assert!(e.contains("clients[0].routes[0].via: node/node-7 not found (nodes: node-1, node-2)"), "{e}");
    let e = error("clients: [{name: c, ip: 203.0.113.5, routes: [{to: 10.96.0.0/12, via: client/c}]}]\n");
    assert!(e.contains("clients[0].routes[0].via: expected node/NAME, found client/c"), "{e}");
}

#[test]
fn load_balancer_settings_are_checked() {
    assert_eq!(
        error("cluster:\n  loadBalancer: {mode: nlb}\n"),
        "s.yaml:2:24: cluster.loadBalancer.mode: unknown load balancer mode \"nlb\": expected one of: nodeport, vip"
    );
    assert_eq!(
        error(
            "cluster:\n  loadBalancerPool: 192.168.0.0/16\n  loadBalancer: {healthCheck: {timeout: 10s, healthyThreshold: 0}}\n"
        ),
        "s.yaml:2:21: cluster.loadBalancerPool: 192.168.0.0/16 overlaps cluster.nodeNetwork 192.168.1.0/24: the networks must not overlap\n\
         s.yaml:3:41: cluster.loadBalancer.healthCheck.timeout: must be greater than 0 and at most the interval (8s)\n\
         s.yaml:3:64: cluster.loadBalancer.healthCheck.healthyThreshold: must be between 1 and 10, found 0"
    );
    let e = error("cluster: {loadBalancerPool: 203.0.113.128/25}\nclients: [{name: c, ip: 203.0.113.5}]\n");
    assert!(
        e.contains("clients[0].ip: the client's network 203.0.113.0/24 overlaps cluster.loadBalancerPool 203.0.113.128/25"),
        "{e}"
    );
    assert_eq!(
        error("cluster:\n  nodes: [{name: a, ip: 192.168.1.2}]\n"),
        "s.yaml:2:25: cluster.nodes[0].ip: 192.168.1.2 is the load balancer's address (host .2 of cluster.nodeNetwork)"
    );
}

#[test]
fn an_lb_reference_needs_a_load_balancer_service() {
    let text =
        "steps:\n  - at: 1s\n    probe: {from: client/client, to: \"lb/kubernetes:443\", proto: tcp}\n";
    assert_eq!(
        error(text),
        "s.yaml:3:38: steps[0].probe.to: service \"kubernetes\" is of type ClusterIP: only a LoadBalancer Service has a load-balancer address"
    );
    let text = "steps:\n  - at: 1s\n    probe: {from: client/client, to: \"lb/web:80\", proto: tcp}\n";
    assert!(error(text).contains("service \"web\" not found (services: kubernetes)"), "{}", error(text));
}

#[test]
fn names_dns_policies_and_the_dns_add_on_are_checked() {
    let e = error(
        "manifests:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {dnsPolicy: None, containers: [{name: w, image: x}]}}\n",
    );
    assert!(e.contains("spec.dnsPolicy: Unsupported value: \"None\": supported values: \"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\""), "{e}");
    let e = error(&with_steps("- at: 1s\n  probe: {from: web:80, to: pod/a, proto: tcp}\n"));
    assert!(e.contains("a probe starts in a pod, a node or a client, not at a name (web)"), "{e}");
    let e = error(&with_steps(
        "- at: 1s\n  probe: {from: pod/a, to: \"web:80\", proto: tcp}\n  expect: {source: \"web:80\"}\n",
    ));
    assert!(e.contains("steps[0].expect.source: the source a receiver saw is an address"), "{e}");
    // The add-on's objects are real: a scenario's own kube-dns clashes with them.
    let e = error(
        "cluster: {dns: {enabled: true}}\nmanifests:\n- {apiVersion: v1, kind: Service, metadata: {name: kube-dns, namespace: kube-system}, spec: {ports: [{port: 53}]}}\n",
    );
    assert!(e.contains("services \"kube-dns\" already exists"), "{e}");
    let e = error("cluster: {dns: {enable: true}}\n");
    assert!(e.contains("unknown field \"cluster.dns.enable\", expected enabled"), "{e}");
}

#[test]
fn a_source_port_is_for_udp_probes_only() {
    let e = error(&with_steps(
        "- {at: 1s, probe: {from: pod/a, to: \"pod/b:80\", proto: tcp, sourcePort: 4000}}\n",
    ));
    assert!(
        e.contains("steps[0].probe.sourcePort: only a udp probe binds a fixed source port, this one is tcp"),
        "{e}"
    );
    let e =
        error(&with_steps("- {at: 1s, probe: {from: pod/a, to: \"pod/b:80\", proto: udp, sourcePort: 0}}\n"));
    assert!(e.contains("steps[0].probe.sourcePort: must be between 1 and 65535, found 0"), "{e}");
}

#[test]
fn a_size_is_for_icmp_and_udp_and_must_fit_without_fragmentation() {
    let e = error(&with_steps("- {at: 1s, probe: {from: pod/a, to: \"pod/b:80\", proto: tcp, size: 100}}\n"));
    assert!(e.contains("steps[0].probe.size: only icmp and udp probes have a size, this one is tcp"), "{e}");
    let e = error(&with_steps("- {at: 1s, probe: {from: pod/a, to: pod/b, proto: icmp, size: 1473}}\n"));
    assert!(e.contains("steps[0].probe.size: must be between 1 and 1472, found 1473 (a larger packet needs IP fragmentation"), "{e}");
}

#[test]
fn an_unknown_app_annotation_is_refused_at_its_value() {
    let pod = "manifests:\n  - apiVersion: v1\n    kind: Pod\n    metadata:\n      name: a\n      annotations: {kube-netsim.io/app: http-ecko}\n    spec: {containers: [{name: w, image: x, ports: [{containerPort: 80}]}]}\n";
    assert_eq!(
        error(pod),
        "s.yaml:6:41: metadata.annotations.kube-netsim.io/app: Unsupported value: \"http-ecko\": supported values: \"http-echo\", \"tcp-echo\", \"coredns\", \"ingress-nginx\", \"none\""
    );
    // In a Deployment's pod template too, and with every other error of the file.
    let deploy = "manifests:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n    spec:\n      selector: {matchLabels: {app: web}}\n      template:\n        metadata:\n          labels: {app: web}\n          annotations: {kube-netsim.io/app: udp-echo}\n        spec: {containers: [{name: w, image: x}]}\n";
    let e = error(deploy);
    assert!(
        e.starts_with("s.yaml:10:45: spec.template.metadata.annotations.kube-netsim.io/app: Unsupported value: \"udp-echo\""),
        "{e}"
    );
    for ok in ["http-echo", "tcp-echo", "coredns", "ingress-nginx", "none"] {
        let text = pod.replace("http-ecko", ok);
        assert!(scenario::load_str("s.yaml", &text, Path::new(".")).is_ok(), "{ok}");
    }
}
