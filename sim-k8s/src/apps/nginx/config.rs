//! What ingress-nginx's controller renders into nginx.conf, computed from the API
//! objects: one `server` per host (plus the catch-all `_`), each with its `location`s,
//! and the certificate each TLS host serves. Follows ingress-nginx's
//! `createServers`/`getBackendServers`:
//! - Ingresses of another class are ignored; the first Ingress (by creation, then
//!   namespace/name) to claim a host and path wins.
//! - Every server starts with a root location `/`: the Ingress's `defaultBackend` when it
//!   has one, else the controller's own default backend (404). A rule with path `/`
//!   replaces it. The catch-all `_` takes the `defaultBackend` of an Ingress that has no
//!   rules.
//! - `Exact` becomes `= path`; `ImplementationSpecific` is a plain nginx prefix (`/foo`
//!   also matches `/foobar`); `Prefix /foo` becomes two locations (`updateServerLocations`),
//!   `/foo/` (nginx prefix) and `= /foo` (exact, unless an `Exact /foo` exists, which
//!   then wins), so it matches by path element; not when the location is a regex.
//! - A server with a location using `use-regex` or a `rewrite-target` different from
//!   its path turns all its locations into case-insensitive regexes `~* "^path"`.
//! - Locations are sorted longest path first (the order regexes are tried in).

use crate::model::ingress::{Backend, BackendPort, Ingress, PathType};
use crate::model::secret::host_matches;
use crate::store::Store;

pub const REWRITE_TARGET: &str = "nginx.ingress.kubernetes.io/rewrite-target";
pub const USE_REGEX: &str = "nginx.ingress.kubernetes.io/use-regex";
/// Default `true`: plain HTTP to a server with a certificate gets `308` to https.
pub const SSL_REDIRECT: &str = "nginx.ingress.kubernetes.io/ssl-redirect";
/// The controller's `--ingress-class` and `--controller-class`.
pub const CLASS_NAME: &str = "nginx";
pub const CONTROLLER_CLASS: &str = "k8s.io/ingress-nginx";
/// The catch-all server's name.
pub const DEFAULT_SERVER: &str = "_";

/// Where a location sends requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Service port of the Ingress's namespace.
    Service { namespace: String, name: String, port: BackendPort },
    /// The controller's own default backend: `404`.
    DefaultBackend,
}

impl Target {
    fn of(namespace: &str, b: &Backend) -> Target {
        Target::Service { namespace: namespace.into(), name: b.service.clone(), port: b.port.clone() }
    }
    /// ingress-nginx's upstream name: `NAMESPACE-SERVICE-PORT`.
    pub fn upstream(&self) -> String {
        match self {
            Target::Service { namespace, name, port } => format!("{namespace}-{name}-{port}"),
            Target::DefaultBackend => "upstream-default-backend".into(),
        }
    }
}

/// How nginx compares a location with the request's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocKind {
    /// `location = /foo`
    Exact,
    /// `location /foo`
    Prefix,
    /// `location ~* "^/foo"`
    Regex,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub kind: LocKind,
    pub target: Target,
    /// `rewrite "(?i)PATH" TARGET break;`
    pub rewrite: Option<String>,
    /// What wrote it, for the trace: `ingress default/web: /foo (Prefix)`.
    pub origin: String,
    /// The root location a server starts with.
    pub is_default: bool,
    /// `ssl-redirect` (default true).
    pub ssl_redirect: bool,
    /// The Ingress path's type (`None` for a server's root location).
    pub path_type: Option<PathType>,
    use_regex: bool,
}

impl Location {
    /// As nginx.conf spells it: `= /foo`, `/foo/`, `~* "^/foo"`.
    pub fn spelled(&self) -> String {
        match self.kind {
            LocKind::Exact => format!("= {}", self.path),
            LocKind::Prefix => self.path.clone(),
            LocKind::Regex => format!("~* \"^{}\"", self.path),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// `server_name`: a host, `*.domain`, or `_`.
    pub name: String,
    pub locations: Vec<Location>,
    /// `NAMESPACE/NAME` of the TLS Secret it serves (validated to cover the host).
    pub tls_secret: Option<String>,
}

/// The rendered configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `_` first, then hosts in the order they were claimed.
    pub servers: Vec<Server>,
    /// Why some object was not used, as the controller logs it.
    pub notes: Vec<String>,
}

/// Does the controller serve this Ingress? `ingressClassName` must name an IngressClass
/// whose controller is ours; the legacy annotation must equal `--ingress-class`.
pub fn handles(store: &Store, ing: &Ingress) -> bool {
    match (&ing.class_name, ing.annotations.get(crate::model::ingress::LEGACY_CLASS_ANNOTATION)) {
        (Some(c), _) => store.ingress_classes().any(|k| &k.name == c && k.controller == CONTROLLER_CLASS),
        (None, Some(a)) => a == CLASS_NAME,
        (None, None) => false,
    }
}

fn root(target: Target, origin: String) -> Location {
    Location {
        path: "/".into(),
        kind: LocKind::Prefix,
        target,
        rewrite: None,
        origin,
        is_default: true,
        ssl_redirect: true,
        path_type: None,
        use_regex: false,
    }
}

impl Config {
    pub fn from_store(store: &Store) -> Config {
        let mut c = Config::default();
        let controller_default = || root(Target::DefaultBackend, "the controller's default backend".into());
        c.servers.push(Server {
            name: DEFAULT_SERVER.into(),
            locations: vec![controller_default()],
            tls_secret: None,
        });
        let ingresses: Vec<&Ingress> = store.ingresses().filter(|i| handles(store, i)).collect();
        for ing in store.ingresses().filter(|i| !handles(store, i)) {
            let class = ing.class().unwrap_or("<none>");
            c.notes.push(format!(
                "ignoring ingress {}: class {class:?} is not handled by {CONTROLLER_CLASS}",
                ing.key()
            ));
        }
        for ing in &ingresses {
            let default = ing.default_backend.as_ref().map(|b| Target::of(&ing.namespace, b));
            if ing.rules.is_empty()
                && let Some(t) = &default
                && c.servers[0].locations[0].target == Target::DefaultBackend
            {
                c.servers[0].locations[0] = root(t.clone(), format!("ingress {}: defaultBackend", ing.key()));
            }
            for rule in &ing.rules {
                let host = rule.host.clone().unwrap_or_else(|| DEFAULT_SERVER.into());
                if !c.servers.iter().any(|s| s.name == host) {
                    let loc = match &default {
                        Some(t) => root(t.clone(), format!("ingress {}: defaultBackend", ing.key())),
                        None => controller_default(),
                    };
                    c.servers.push(Server { name: host.clone(), locations: vec![loc], tls_secret: None });
                }
                let server = c.servers.iter_mut().find(|s| s.name == host).expect("just ensured");
                for p in &rule.paths {
                    add_paths(server, ing, p.path_type, &p.path, Target::of(&ing.namespace, &p.backend));
                }
            }
        }
        for ing in &ingresses {
            for tls in &ing.tls {
                let hosts: Vec<String> = if tls.hosts.is_empty() {
                    ing.rules.iter().filter_map(|r| r.host.clone()).collect()
                } else {
                    tls.hosts.clone()
                };
                for host in hosts {
                    c.tls_for(store, ing, &host, tls.secret_name.as_deref());
                }
            }
        }
        for s in &mut c.servers {
            finish(s);
        }
        c
    }

    fn tls_for(&mut self, store: &Store, ing: &Ingress, host: &str, secret: Option<&str>) {
        let Some(server) = self.servers.iter_mut().find(|s| s.name == host) else { return };
        if server.tls_secret.is_some() {
            return;
        }
        let Some(secret) = secret else { return };
        let key = format!("{}/{secret}", ing.namespace);
        match store.tls_secret(&ing.namespace, secret).map(|s| &s.cert) {
            None => self.notes.push(format!(
                "error getting SSL certificate \"{key}\": local SSL certificate {key} was not found; using the default certificate for {host}"
            )),
            Some(Err(e)) => self.notes.push(format!(
                "error obtaining X.509 certificate of \"{key}\": {e}; using the default certificate for {host}"
            )),
            Some(Ok(cert)) if !cert.covers(host) => self.notes.push(format!(
                "SSL certificate \"{key}\" does not contain a Common Name or Subject Alternative Name for server \"{host}\"; using the default certificate"
            )),
            Some(Ok(_)) => server.tls_secret = Some(key),
        }
    }

    /// nginx's choice of `server` for a name (Host header or SNI): the exact name, else
    /// the longest matching `*.` wildcard, else `_`.
    pub fn server_for(&self, host: &str) -> &Server {
        let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if let Some(s) = self.servers.iter().find(|s| s.name == host) {
            return s;
        }
        let wild = self
            .servers
            .iter()
            .filter(|s| s.name.starts_with("*.") && host_matches(&s.name, &host))
            .max_by_key(|s| s.name.len());
        wild.unwrap_or(&self.servers[0])
    }
}

/// One Ingress path as nginx locations (see the module comment).
fn add_paths(server: &mut Server, ing: &Ingress, pt: PathType, path: &str, target: Target) {
    let path = if path.is_empty() { "/" } else { path };
    let origin = format!("ingress {}: {path} ({})", ing.key(), pt.as_str());
    let rewrite = ing.annotations.get(REWRITE_TARGET).cloned();
    let use_regex = ing.annotations.get(USE_REGEX).is_some_and(|v| v == "true");
    let ssl_redirect = ing.annotations.get(SSL_REDIRECT).is_none_or(|v| v != "false");
    let kind = if pt == PathType::Exact { LocKind::Exact } else { LocKind::Prefix };
    let loc = Location {
        path: path.to_string(),
        kind,
        target,
        rewrite,
        origin,
        is_default: false,
        ssl_redirect,
        path_type: Some(pt),
        use_regex,
    };
    let same = server.locations.iter().position(|l| {
        l.path == loc.path && l.kind == loc.kind && (l.is_default || l.path_type == loc.path_type)
    });
    match same {
        Some(i) if server.locations[i].is_default => server.locations[i] = loc,
        Some(_) => {} // claimed by an earlier Ingress
        None => server.locations.push(loc),
    }
}

/// ingress-nginx's `updateServerLocations`: a `Prefix` path (not `/`, not a regex)
/// becomes `PATH/` plus an exact `= PATH`, unless an `Exact` location has that path.
fn split_prefixes(s: &mut Server) {
    let needs_rewrite = |l: &Location| l.rewrite.as_deref().is_some_and(|t| t != l.path);
    let exact: Vec<String> =
        s.locations.iter().filter(|l| l.kind == LocKind::Exact).map(|l| l.path.clone()).collect();
    let mut out = Vec::new();
    for l in std::mem::take(&mut s.locations) {
        if l.path_type != Some(PathType::Prefix) || l.path == "/" || needs_rewrite(&l) || l.use_regex {
            out.push(l);
            continue;
        }
        let bare = l.path.trim_end_matches('/').to_string();
        let mut dir = l.clone();
        dir.path = format!("{bare}/");
        out.push(dir);
        if !exact.contains(&bare) {
            out.push(Location { path: bare, kind: LocKind::Exact, ..l });
        }
    }
    s.locations = out;
}

/// Prefix splitting, regex enforcement and ordering, once all Ingresses are in.
fn finish(s: &mut Server) {
    split_prefixes(s);
    let needs_rewrite = |l: &Location| l.rewrite.as_deref().is_some_and(|t| t != l.path);
    if s.locations.iter().any(|l| needs_rewrite(l) || l.use_regex) {
        for l in &mut s.locations {
            l.kind = LocKind::Regex;
        }
    }
    for l in &mut s.locations {
        if !needs_rewrite(l) {
            l.rewrite = None;
        }
    }
    s.locations.sort_by_key(|l| std::cmp::Reverse(l.path.len()));
}
