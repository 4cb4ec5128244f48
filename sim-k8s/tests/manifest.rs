//! Manifests: real Kubernetes YAML in, typed objects or exact file:line:col errors out.

use proptest::prelude::*;
use sim_k8s::manifest::{Object, parse_str};

fn errors(text: &str) -> Vec<String> {
    match parse_str("m.yaml", text) {
        Ok(objs) => panic!("expected errors, got {} objects", objs.len()),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    }
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 8080, name: http}]
";

#[test]
fn a_multi_document_stream_yields_every_object_in_order() {
    let text = format!(
        "{}---\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  type: NodePort\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: http, nodePort: 30080}}]\n",
        DEPLOYMENT.replace("REPLICAS", "3")
    );
    let objs = parse_str("m.yaml", &text).unwrap();
    let kinds: Vec<_> = objs.iter().map(|o| o.object.kind()).collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    let Object::Deployment(d) = &objs[0].object else { panic!() };
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(objs[1].source.location().to_string(), "m.yaml:17:1");
}

#[test]
fn a_list_yields_its_items_located_in_the_file() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: shop}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {a: b}}\n";
    let objs = parse_str("m.yaml", text).unwrap();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0].source.location().to_string(), "m.yaml:4:3");
    assert_eq!(objs[1].source.location().to_string(), "m.yaml:7:3");
}

#[test]
fn an_unknown_field_points_at_its_key_with_the_dotted_path() {
    let text = DEPLOYMENT.replace("REPLICAS", "3\n  replicaz: 3");
    assert_eq!(errors(&text), ["m.yaml:7:3: unknown field \"spec.replicaz\""]);
}

#[test]
fn every_unknown_field_is_reported_including_inside_lists() {
    let text = DEPLOYMENT.replace("REPLICAS", "1").replace(
        "ports: [{containerPort: 8080, name: http}]",
        "portz: []\n        ports: [{containerPort: 8080, hostPortt: 1}]",
    );
    assert_eq!(
        errors(&text),
        [
            "m.yaml:14:9: unknown field \"spec.template.spec.containers[0].portz\"",
            "m.yaml:15:39: unknown field \"spec.template.spec.containers[0].ports[0].hostPortt\"",
        ]
    );
}

#[test]
fn a_wrong_type_names_the_field_and_what_was_expected() {
    let text = DEPLOYMENT.replace("REPLICAS", "three");
    assert_eq!(errors(&text), ["m.yaml:6:13: spec.replicas: invalid type: string \"three\", expected i32"]);
}

#[test]
fn a_wrong_type_inside_a_list_item_carries_the_item_path() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n  spec: {ports: [{port: eighty}]}\n";
    assert_eq!(
        errors(text),
        ["m.yaml:7:25: items[0].spec.ports[0].port: invalid type: string \"eighty\", expected i32"]
    );
}

#[test]
fn bad_yaml_syntax_is_located() {
    assert_eq!(
        errors("apiVersion: v1\nkind: Pod\nmetadata: {name: a\n"),
        ["m.yaml:4:1: while parsing a flow mapping, did not find expected ',' or '}'"]
    );
}

#[test]
fn a_duplicate_key_is_an_error() {
    assert_eq!(errors("apiVersion: v1\nkind: Pod\nkind: Pod\n"), ["m.yaml:3:1: duplicate field \"kind\""]);
}

#[test]
fn an_unsupported_kind_is_named_and_the_supported_ones_listed() {
    let e = errors("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x}\n");
    assert_eq!(
        e,
        [
            "m.yaml:2:7: unsupported kind \"CronJob\" in apiVersion \"batch/v1\"; supported: v1 Pod, v1 Node, v1 Service, v1 Namespace, v1 ConfigMap, v1 Secret, apps/v1 Deployment, apps/v1 ReplicaSet, discovery.k8s.io/v1 EndpointSlice, networking.k8s.io/v1 Ingress, networking.k8s.io/v1 IngressClass, extensions/v1beta1 Ingress (deprecated, converted), networking.k8s.io/v1beta1 Ingress (deprecated, converted), v1 List"
        ]
    );
}

#[test]
fn a_kind_in_the_wrong_api_version_is_unsupported() {
    let e = errors("apiVersion: apps/v1\nkind: Pod\n");
    assert!(e[0].starts_with("m.yaml:2:7: unsupported kind \"Pod\" in apiVersion \"apps/v1\""), "{e:?}");
}

#[test]
fn missing_api_version_and_kind_are_required() {
    assert_eq!(
        errors("metadata: {name: a}\n"),
        ["m.yaml:1:1: apiVersion: Required value", "m.yaml:1:1: kind: Required value"]
    );
}

#[test]
fn a_document_that_is_not_a_mapping_is_refused() {
    assert_eq!(
        errors("- 1\n- 2\n"),
        ["m.yaml:1:1: expected a Kubernetes object (a mapping with apiVersion and kind), found a sequence"]
    );
}

#[test]
fn empty_documents_and_comments_are_skipped() {
    assert!(parse_str("m.yaml", "# nothing\n---\n---\n").unwrap().is_empty());
    assert!(parse_str("m.yaml", "").unwrap().is_empty());
}

#[test]
fn errors_in_several_documents_are_all_reported() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, nam: b}\n---\napiVersion: v1\nkind: Nope\n";
    assert_eq!(errors(text).len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn garbled_yaml_never_panics(text in "[ -~\n\t:{}\\[\\]\\-#&*!|>'\"%@`]{0,200}") {
        let _ = parse_str("fuzz.yaml", &text);
        let _ = sim_k8s::scenario::load_str("fuzz.yaml", &text, std::path::Path::new("."));
    }

    #[test]
    fn mutated_manifests_never_panic(cut in 0usize..400, insert in "[ -~\n:\\-]{0,12}") {
        let base = format!("{}---\n{}", DEPLOYMENT.replace("REPLICAS", "2"), "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: w, image: x}]}}\n");
        let mut at = cut.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let _ = parse_str("fuzz.yaml", &text);
        let _ = sim_k8s::scenario::load_str("fuzz.yaml", &text, std::path::Path::new("."));
    }
}
