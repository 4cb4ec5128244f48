//! `ingress-nginx`: the ingress controller's data plane, an HTTP reverse proxy.
//!
//! Per client connection ([`ProxyConn`]): on the HTTPS port the TLS layer
//! ([`tls`]) reads the ClientHello's SNI and answers with the chosen certificate (the
//! TLS Secret of the server matching the SNI, else the controller's fake default
//! certificate); then the HTTP request is routed ([`route`] over the [`config::Config`]
//! computed from the API objects) and either answered by the controller itself (404 from
//! its default backend, 503 without endpoints) or proxied: a second TCP connection from
//! the controller pod straight to one ready endpoint's pod IP and port (round-robin, as
//! ingress-nginx's Lua balancer does by default), never through the Service's ClusterIP.
//! The upstream request carries `X-Real-IP`, `X-Forwarded-For`, `X-Forwarded-Host`,
//! `X-Forwarded-Port` and `X-Forwarded-Proto`; the answer is relayed back.

pub mod config;
pub mod route;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use crate::model::ingress::BackendPort;
use crate::store::Store;
use config::{Config, Target};

/// The port the controller serves HTTPS on (`--https-port`).
pub const HTTPS_PORT: u16 = 443;
/// ingress-nginx's self-signed certificate, served when no Secret matches.
pub const FAKE_CERT_SUBJECT: &str = "CN=Kubernetes Ingress Controller Fake Certificate,O=Acme Co";
/// The body of the controller's default backend.
pub const DEFAULT_BACKEND_BODY: &str = "default backend - 404";

/// A parsed HTTP/1.1 request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The head, once `\r\n\r\n` has arrived.
    pub fn parse(buf: &[u8]) -> Option<Request> {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let text = String::from_utf8_lossy(&buf[..end]);
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let method = first.next()?.to_string();
        let target = first.next().unwrap_or("/").to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect();
        Some(Request { method, target, headers })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the proxy does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Answer from the controller itself.
    Respond { status: u16, body: String },
    /// `308 Permanent Redirect` to `location`.
    Redirect { location: String },
    /// Open a connection to `endpoint` and send `request`.
    Proxy { endpoint: SocketAddrV4, request: Vec<u8> },
}

/// The decision and what the trace says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    pub decision: Decision,
    pub notes: Vec<String>,
}

/// Ready endpoints (pod IP:targetPort) of a Service port, in EndpointSlice order.
pub fn endpoints(
    store: &Store,
    namespace: &str,
    name: &str,
    port: &BackendPort,
) -> Result<Vec<SocketAddrV4>, String> {
    let svc =
        store.service(namespace, name).ok_or_else(|| format!("service {namespace}/{name} not found"))?;
    let sp = svc
        .ports
        .iter()
        .find(|p| match port {
            BackendPort::Number(n) => p.port == *n,
            BackendPort::Name(n) => &p.name == n,
        })
        .ok_or_else(|| format!("service {namespace}/{name} has no port {port}"))?;
    let mut out = Vec::new();
    for slice in
        store.endpoint_slices().filter(|s| s.namespace == namespace && s.service_name() == Some(name))
    {
        let Some(p) = slice.ports.iter().find(|p| p.name == sp.name).and_then(|p| p.port) else { continue };
        for e in slice.endpoints.iter().filter(|e| e.conditions.is_ready()) {
            out.push(SocketAddrV4::new(e.address, p));
        }
    }
    Ok(out)
}

/// Per-connection facts the proxy headers need.
#[derive(Clone, Copy, Debug)]
pub struct ConnFacts {
    pub peer: SocketAddrV4,
    pub local: SocketAddrV4,
    pub tls: bool,
}

/// Routes one request; `rr` holds the round-robin position of each upstream.
pub fn handle(store: &Store, rr: &mut BTreeMap<String, usize>, req: &Request, c: ConnFacts) -> Routed {
    let config = Config::from_store(store);
    let host = req.header("host").unwrap_or_default().to_string();
    let mut notes: Vec<String> = config.notes.iter().map(|n| format!("controller log: {n}")).collect();
    let Some(r) = route::route(&config, &host, &req.target) else {
        notes.push(format!(
            "Host {host:?}: server {:?} has no matching location",
            config.server_for(&host).name
        ));
        return Routed { decision: not_found(), notes };
    };
    notes.push(format!(
        "{} {} Host {host:?} -> server {:?}, location {} ({})",
        req.method,
        req.target,
        r.server.name,
        r.location.spelled(),
        r.location.origin
    ));
    if !c.tls && r.location.ssl_redirect && r.server.tls_secret.is_some() {
        let name = host.split(':').next().unwrap_or_default();
        let to = format!("https://{name}{}", req.target);
        notes.push(format!(
            "server {:?} has a TLS certificate and ssl-redirect is on: 308 to {to}",
            r.server.name
        ));
        return Routed { decision: Decision::Redirect { location: to }, notes };
    }
    if r.uri != req.target {
        notes.push(format!("rewrite {} -> {}", req.target, r.uri));
    }
    let Target::Service { namespace, name, port } = &r.location.target else {
        notes.push("upstream-default-backend: the controller answers 404 itself".into());
        return Routed { decision: not_found(), notes };
    };
    let upstream = r.location.target.upstream();
    let eps = match endpoints(store, namespace, name, port) {
        Ok(e) => e,
        Err(e) => {
            notes.push(format!("upstream {upstream}: {e}: 503"));
            return Routed { decision: unavailable(), notes };
        }
    };
    if eps.is_empty() {
        notes.push(format!("upstream {upstream}: no ready endpoints: 503"));
        return Routed { decision: unavailable(), notes };
    }
    let n = rr.entry(upstream.clone()).or_default();
    let endpoint = eps[*n % eps.len()];
    *n += 1;
    let list: Vec<String> = eps.iter().map(ToString::to_string).collect();
    notes.push(format!("upstream {upstream} [{}]: round_robin picks {endpoint}", list.join(", ")));
    let request = upstream_request(req, &r.uri, &host, c);
    Routed { decision: Decision::Proxy { endpoint, request }, notes }
}

fn not_found() -> Decision {
    Decision::Respond { status: 404, body: DEFAULT_BACKEND_BODY.into() }
}

fn unavailable() -> Decision {
    Decision::Respond { status: 503, body: error_page(503) }
}

/// nginx's own error page.
pub fn error_page(status: u16) -> String {
    let title = format!("{status} {}", reason(status));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        308 => "Permanent Redirect",
        404 => "Not Found",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        _ => "Unknown",
    }
}

/// An answer from the controller itself.
pub fn response(status: u16, body: &str) -> Vec<u8> {
    response_with(status, body, None)
}

/// A `308` to `location`, with nginx's page.
pub fn redirect(location: &str) -> Vec<u8> {
    response_with(308, &error_page(308), Some(location))
}

fn response_with(status: u16, body: &str, location: Option<&str>) -> Vec<u8> {
    let ctype = if body.starts_with("<html>") { "text/html" } else { "text/plain; charset=utf-8" };
    let loc = location.map(|l| format!("Location: {l}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 {status} {}\r\nServer: nginx\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{loc}\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

/// The request ingress-nginx sends upstream (its `proxy_set_header` list, in order).
fn upstream_request(req: &Request, uri: &str, host: &str, c: ConnFacts) -> Vec<u8> {
    let remote = c.peer.ip().to_string();
    let scheme = if c.tls { "https" } else { "http" };
    let mut h = vec![
        ("Host".to_string(), host.to_string()),
        ("X-Real-IP".into(), remote.clone()),
        ("X-Forwarded-For".into(), remote),
        ("X-Forwarded-Host".into(), host.to_string()),
        ("X-Forwarded-Port".into(), c.local.port().to_string()),
        ("X-Forwarded-Proto".into(), scheme.into()),
        ("X-Forwarded-Scheme".into(), scheme.into()),
        ("X-Scheme".into(), scheme.into()),
        ("Connection".into(), "close".into()),
    ];
    let hop = ["host", "connection", "x-real-ip", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port"];
    for (k, v) in &req.headers {
        if !hop.contains(&k.to_ascii_lowercase().as_str())
            && !k.to_ascii_lowercase().starts_with("x-forwarded")
        {
            h.push((k.clone(), v.clone()));
        }
    }
    let mut out = format!("{} {uri} HTTP/1.1\r\n", req.method);
    for (k, v) in h {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The certificate served for an SNI name: (subject, which Secret or the fake one).
pub fn certificate_for(store: &Store, sni: Option<&str>) -> (String, String) {
    let config = Config::from_store(store);
    let fake = || (FAKE_CERT_SUBJECT.to_string(), "the controller's default (fake) certificate".to_string());
    let Some(name) = sni else { return fake() };
    let server = config.server_for(name);
    let Some(key) = &server.tls_secret else { return fake() };
    let (ns, secret) = key.split_once('/').unwrap_or_default();
    match store.tls_secret(ns, secret).map(|s| &s.cert) {
        Some(Ok(c)) => {
            let cn = c.common_name.clone().unwrap_or_default();
            let sans = if c.dns_names.is_empty() {
                String::new()
            } else {
                format!(", SAN {}", c.dns_names.join(" "))
            };
            (format!("CN={cn}"), format!("secret {key} (CN={cn}{sans}) of server {:?}", server.name))
        }
        _ => fake(),
    }
}
