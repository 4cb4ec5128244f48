//! Manifests: real Kubernetes YAML in, typed k8s-openapi objects (API version 1.33) out.
//!
//! Accepts multi-document streams, `kind: List` (its `items`), files and nodes inline in a
//! scenario. Strict like `kubectl apply --validate=strict`: an unknown field is an error
//! (`FILE:7:5: unknown field "spec.replicaz"`, pointing at the key), and so is a value of
//! the wrong type (`FILE:6:13: spec.replicas: invalid type: string "three", expected
//! i32`), a duplicate key, bad YAML syntax, or a kind kube-netsim does not model. A
//! missing required field is reported the apiserver's way (`spec.containers: Required
//! value`). Every error found is reported, not only the first; nothing panics.
//!
//! How: saphyr-parser indexes every node's position ([`yaml`]); each object is cut out of
//! the text with its columns intact and deserialized by serde_norway into the k8s-openapi
//! type, wrapped in `serde_ignored`, which reports the keys k8s-openapi silently drops.

pub mod v1beta1;
pub mod yaml;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::de::DeserializeOwned;

use crate::model::{FieldError, FieldPath};
use yaml::{NodeKind, Pos, YamlDoc};

/// `FILE:LINE:COL` (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl Location {
    pub fn new(file: &Arc<str>, pos: Pos) -> Self {
        Location { file: file.clone(), line: pos.line, col: pos.col }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A manifest that could not be read, with where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct ManifestError {
    pub at: Location,
    pub kind: ManifestErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestErrorKind {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    /// The YAML itself is malformed (includes duplicate keys and too deep nesting).
    #[error("{0}")]
    Syntax(String),
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// serde's message with the field path: wrong type, value out of range, ...
    #[error("{0}")]
    Decode(String),
    /// A required field missing, or a field rejected by validation.
    #[error("{0}")]
    Invalid(FieldError),
    #[error("expected a Kubernetes object (a mapping with apiVersion and kind), found {0}")]
    NotAnObject(&'static str),
    #[error("unsupported kind {kind:?} in apiVersion {api_version:?}; supported: {}", supported_kinds())]
    UnsupportedKind { api_version: String, kind: String },
}

/// The objects kube-netsim reads from manifests.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Object {
    Pod(Box<Pod>),
    Node(Box<Node>),
    Service(Box<Service>),
    Deployment(Box<Deployment>),
    ReplicaSet(Box<ReplicaSet>),
    EndpointSlice(Box<EndpointSlice>),
    Ingress(Box<Ingress>),
    IngressClass(Box<IngressClass>),
    Namespace(Box<Namespace>),
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
}

/// (apiVersion, kind) of every supported object, in the order error messages list them.
const SUPPORTED: [(&str, &str); 11] = [
    (Pod::API_VERSION, Pod::KIND),
    (Node::API_VERSION, Node::KIND),
    (Service::API_VERSION, Service::KIND),
    (Namespace::API_VERSION, Namespace::KIND),
    (ConfigMap::API_VERSION, ConfigMap::KIND),
    (Secret::API_VERSION, Secret::KIND),
    (Deployment::API_VERSION, Deployment::KIND),
    (ReplicaSet::API_VERSION, ReplicaSet::KIND),
    (EndpointSlice::API_VERSION, EndpointSlice::KIND),
    (Ingress::API_VERSION, Ingress::KIND),
    (IngressClass::API_VERSION, IngressClass::KIND),
];

fn supported_kinds() -> String {
    let mut all: Vec<String> = SUPPORTED.iter().map(|(v, k)| format!("{v} {k}")).collect();
    all.extend(v1beta1::VERSIONS.iter().map(|v| format!("{v} Ingress (deprecated, converted)")));
    all.push("v1 List".to_string());
    all.join(", ")
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => Pod::KIND,
            Object::Node(_) => Node::KIND,
            Object::Service(_) => Service::KIND,
            Object::Deployment(_) => Deployment::KIND,
            Object::ReplicaSet(_) => ReplicaSet::KIND,
            Object::EndpointSlice(_) => EndpointSlice::KIND,
            Object::Ingress(_) => Ingress::KIND,
            Object::IngressClass(_) => IngressClass::KIND,
            Object::Namespace(_) => Namespace::KIND,
            Object::ConfigMap(_) => ConfigMap::KIND,
            Object::Secret(_) => Secret::KIND,
        }
    }
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Pod(o) => o.metadata(),
            Object::Node(o) => o.metadata(),
            Object::Service(o) => o.metadata(),
            Object::Deployment(o) => o.metadata(),
            Object::ReplicaSet(o) => o.metadata(),
            Object::EndpointSlice(o) => o.metadata(),
            Object::Ingress(o) => o.metadata(),
            Object::IngressClass(o) => o.metadata(),
            Object::Namespace(o) => o.metadata(),
            Object::ConfigMap(o) => o.metadata(),
            Object::Secret(o) => o.metadata(),
        }
    }
}

/// Where an object came from: its file and its node in that file's position index, so
/// any field of it can be located.
#[derive(Clone, Debug)]
pub struct Source {
    pub file: Arc<str>,
    doc: Arc<YamlDoc>,
    root: FieldPath,
}

impl Source {
    /// Where the object starts.
    pub fn location(&self) -> Location {
        self.locate(&FieldPath::root())
    }
    /// The value at `path` (relative to the object), or the key of its nearest ancestor
    /// when the field is absent.
    pub fn locate(&self, path: &FieldPath) -> Location {
        Location::new(&self.file, self.doc.locate(&self.root.join(path)))
    }
    /// The key of the field at `path` (for "unknown field", "Required value").
    pub fn locate_key(&self, path: &FieldPath) -> Location {
        Location::new(&self.file, self.doc.locate_key(&self.root.join(path)))
    }
    /// Locates an apiserver-style field error: required fields at their (parent's) key,
    /// the others at the offending value.
    pub fn locate_error(&self, e: &FieldError) -> Location {
        match e.kind {
            crate::model::FieldErrorKind::Required(_) => self.locate_key(&e.path),
            _ => self.locate(&e.path),
        }
    }
}

/// One object read from a manifest.
#[derive(Clone, Debug)]
pub struct ManifestObject {
    pub object: Object,
    pub source: Source,
    /// What kubectl would print as `Warning: ...` on applying it (deprecated versions).
    pub warning: Option<String>,
}

/// Reads a manifest file; `display` is the name used in error locations.
pub fn parse_file(path: &Path, display: &str) -> Result<Vec<ManifestObject>, Vec<ManifestError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(display, &text),
        Err(e) => Err(vec![ManifestError {
            at: Location { file: display.into(), line: 1, col: 1 },
            kind: ManifestErrorKind::Io { path: path.display().to_string(), reason: e.to_string() },
        }]),
    }
}

/// Reads a stream of YAML documents holding Kubernetes objects (empty documents are
/// skipped, as kubectl does).
pub fn parse_str(file: &str, text: &str) -> Result<Vec<ManifestObject>, Vec<ManifestError>> {
    let file: Arc<str> = file.into();
    let docs = yaml::index(text).map_err(|e| vec![syntax_error(&file, e)])?;
    let mut out = Parsed::default();
    for doc in docs {
        let doc = Arc::new(doc);
        let is_empty =
            doc.root().is_none_or(|r| r.kind == NodeKind::Scalar && r.scalar.as_deref() == Some(""));
        if !is_empty {
            parse_node(&file, text, &doc, &FieldPath::root(), &mut out);
        }
    }
    out.finish()
}

pub(crate) fn syntax_error(file: &Arc<str>, e: yaml::SyntaxError) -> ManifestError {
    ManifestError { at: Location::new(file, e.pos), kind: ManifestErrorKind::Syntax(e.message) }
}

/// Objects and errors collected so far.
#[derive(Default)]
pub(crate) struct Parsed {
    pub objects: Vec<ManifestObject>,
    pub errors: Vec<ManifestError>,
}

impl Parsed {
    pub fn finish(self) -> Result<Vec<ManifestObject>, Vec<ManifestError>> {
        if self.errors.is_empty() { Ok(self.objects) } else { Err(self.errors) }
    }
}

/// Reads the object (or `kind: List`) at `root` of an indexed document of `text`.
pub(crate) fn parse_node(
    file: &Arc<str>,
    text: &str,
    doc: &Arc<YamlDoc>,
    root: &FieldPath,
    out: &mut Parsed,
) {
    let source = Source { file: file.clone(), doc: doc.clone(), root: root.clone() };
    let Some(node) = doc.get(root) else { return };
    if node.kind != NodeKind::Mapping {
        let found = match node.kind {
            NodeKind::Sequence => "a sequence",
            NodeKind::Alias => "an alias",
            _ => "a scalar",
        };
        out.errors.push(source.error(&FieldPath::root(), ManifestErrorKind::NotAnObject(found)));
        return;
    }
    let api_version = doc.scalar(&root.key("apiVersion")).unwrap_or("");
    let kind = doc.scalar(&root.key("kind")).unwrap_or("");
    for (field, value) in [("apiVersion", api_version), ("kind", kind)] {
        if value.is_empty() {
            let e = FieldError::required(FieldPath::root().key(field), None);
            out.errors
                .push(source.error_at_key(&FieldPath::root().key(field), ManifestErrorKind::Invalid(e)));
        }
    }
    if api_version.is_empty() || kind.is_empty() {
        return;
    }
    if (api_version, kind) == ("v1", "List") {
        parse_list(&source, text, out);
        return;
    }
    match decode_object(&source, text, api_version, kind) {
        Ok(object) => {
            let warning = (kind == Ingress::KIND && v1beta1::VERSIONS.contains(&api_version))
                .then(|| v1beta1::deprecation_warning(api_version));
            out.objects.push(ManifestObject { object, source, warning })
        }
        Err(errs) => out.errors.extend(errs),
    }
}

impl Source {
    fn error(&self, path: &FieldPath, kind: ManifestErrorKind) -> ManifestError {
        ManifestError { at: self.locate(path), kind }
    }
    fn error_at_key(&self, path: &FieldPath, kind: ManifestErrorKind) -> ManifestError {
        ManifestError { at: self.locate_key(path), kind }
    }
}

/// `kind: List`: checks the wrapper's own keys, then reads every item.
fn parse_list(list: &Source, text: &str, out: &mut Parsed) {
    let known = ["apiVersion", "kind", "metadata", "items"];
    for key in list.doc.child_keys(&list.root) {
        if !known.contains(&key.as_str()) {
            let path = FieldPath::root().key(&key);
            out.errors.push(list.error_at_key(&path, ManifestErrorKind::UnknownField(key)));
        }
    }
    let items = list.root.key("items");
    let Some(node) = list.doc.get(&items) else { return };
    if node.kind != NodeKind::Sequence {
        let e = "items: invalid type: expected a sequence of objects".to_string();
        out.errors.push(list.error(&FieldPath::root().key("items"), ManifestErrorKind::Decode(e)));
        return;
    }
    for i in 0..node.len {
        parse_node(&list.file, text, &list.doc, &items.index(i), out);
    }
}

fn decode_object(
    src: &Source,
    text: &str,
    api_version: &str,
    kind: &str,
) -> Result<Object, Vec<ManifestError>> {
    Ok(match (api_version, kind) {
        (Pod::API_VERSION, Pod::KIND) => Object::Pod(decode(src, text)?),
        (Node::API_VERSION, Node::KIND) => Object::Node(decode(src, text)?),
        (Service::API_VERSION, Service::KIND) => Object::Service(decode(src, text)?),
        (Namespace::API_VERSION, Namespace::KIND) => Object::Namespace(decode(src, text)?),
        (ConfigMap::API_VERSION, ConfigMap::KIND) => Object::ConfigMap(decode(src, text)?),
        (Secret::API_VERSION, Secret::KIND) => Object::Secret(decode(src, text)?),
        (Deployment::API_VERSION, Deployment::KIND) => Object::Deployment(decode(src, text)?),
        (ReplicaSet::API_VERSION, ReplicaSet::KIND) => Object::ReplicaSet(decode(src, text)?),
        (EndpointSlice::API_VERSION, EndpointSlice::KIND) => Object::EndpointSlice(decode(src, text)?),
        (Ingress::API_VERSION, Ingress::KIND) => Object::Ingress(decode(src, text)?),
        (IngressClass::API_VERSION, IngressClass::KIND) => Object::IngressClass(decode(src, text)?),
        (v, Ingress::KIND) if v1beta1::VERSIONS.contains(&v) => {
            let old: Box<v1beta1::Ingress> = decode(src, text)?;
            Object::Ingress(Box::new(old.to_v1()))
        }
        _ => {
            let kind =
                ManifestErrorKind::UnsupportedKind { api_version: api_version.into(), kind: kind.into() };
            return Err(vec![src.error(&FieldPath::root().key("kind"), kind)]);
        }
    })
}

/// Deserializes the object at `src` strictly: unknown fields and type errors are errors.
fn decode<T: DeserializeOwned>(src: &Source, text: &str) -> Result<Box<T>, Vec<ManifestError>> {
    let Some(node) = src.doc.get(&src.root) else {
        return Err(vec![src.error(&FieldPath::root(), ManifestErrorKind::NotAnObject("nothing"))]);
    };
    let snippet = yaml::snippet(text, node);
    let de = serde_norway::Deserializer::from_str(&snippet.text);
    let mut unknown = Vec::new();
    let result: Result<T, _> = serde_ignored::deserialize(de, |p| unknown.push(to_field_path(&p)));
    let mut errors: Vec<ManifestError> = unknown
        .iter()
        .map(|p| src.error_at_key(p, ManifestErrorKind::UnknownField(src.root.join(p).to_string())))
        .collect();
    match result {
        Ok(v) if errors.is_empty() => Ok(Box::new(v)),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(decode_error(src, &snippet, &e));
            Err(errors)
        }
    }
}

/// serde_ignored's path (`spec.?.containers.?.0.portz`) as a [`FieldPath`].
fn to_field_path(p: &serde_ignored::Path<'_>) -> FieldPath {
    use serde_ignored::Path as P;
    match p {
        P::Root => FieldPath::root(),
        P::Seq { parent, index } => to_field_path(parent).index(*index),
        P::Map { parent, key } => to_field_path(parent).key(key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            to_field_path(parent)
        }
    }
}

/// A serde_norway error, relocated from the snippet to the file, with the object's path
/// prefix (`items[2].`); "missing field" becomes the apiserver's `Required value`.
fn decode_error(src: &Source, snippet: &yaml::Snippet, e: &serde_norway::Error) -> ManifestError {
    let (path, message) = split_serde_message(&e.to_string());
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        let rel = path.key(field);
        let err = FieldError::required(src.root.join(&rel), None);
        return src.error_at_key(&rel, ManifestErrorKind::Invalid(err));
    }
    let at = match e.location() {
        Some(l) => Location { file: src.file.clone(), line: l.line() + snippet.line_offset, col: l.column() },
        None => src.locate(&path),
    };
    let full = src.root.join(&path);
    let text = if full.is_root() { message } else { format!("{full}: {message}") };
    ManifestError { at, kind: ManifestErrorKind::Decode(text) }
}

/// Splits `spec.replicas: invalid type: ... at line 6 column 13` into the path and the
/// message without its location suffix.
pub(crate) fn split_serde_message(full: &str) -> (FieldPath, String) {
    let msg = match full.rfind(" at line ") {
        Some(i) if full[i..].contains(" column ") => &full[..i],
        _ => full,
    };
    match msg.split_once(": ") {
        Some((path, rest)) if is_serde_path(path) => (FieldPath::parse(path), rest.to_string()),
        _ => (FieldPath::root(), msg.to_string()),
    }
}

fn is_serde_path(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-[]/".contains(c))
}
