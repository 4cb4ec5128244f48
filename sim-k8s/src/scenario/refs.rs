//! References to endpoints in probes and expectations, and receiver patterns.
//!
//! | form | meaning |
//! |---|---|
//! | `pod/NAME` | pod NAME in namespace `default` |
//! | `pod/NAMESPACE/NAME` | a pod in another namespace |
//! | `node/NAME` | a node (its root network namespace, address = node IP) |
//! | `lb/NAME`, `lb/NAMESPACE/NAME` | a LoadBalancer Service's external IP (`status.loadBalancer.ingress[0].ip`) |
//! | `10.244.1.2` | an IPv4 address |
//! | `localhost` | 127.0.0.1 in the prober's own network namespace |
//! | `web:80`, `web.shop.svc.cluster.local:80` | a DNS name, resolved by the prober (port required) |
//!
//! Each form takes an optional `:PORT` (`pod/b:80`, `10.96.0.10:53`, `localhost:80`).
//! A container is not part of a reference: all containers of a pod share its network
//! namespace, so a probe chooses one with its own `container:` key.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::model::DEFAULT_NAMESPACE;
use crate::model::names::{is_dns1123_label, is_dns1123_subdomain};

use super::schema::Expecting;

/// A pod, a node or an address, optionally with a port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ref {
    Pod {
        namespace: String,
        name: String,
        port: Option<u16>,
    },
    Node {
        name: String,
        port: Option<u16>,
    },
    /// A Service's ClusterIP (`svc/NAME[:PORT]`, `svc/NAMESPACE/NAME[:PORT]`).
    Service {
        namespace: String,
        name: String,
        port: Option<u16>,
    },
    /// A LoadBalancer Service's load-balancer address (`lb/NAME[:PORT]`).
    LoadBalancer {
        namespace: String,
        name: String,
        port: Option<u16>,
    },
    /// A host outside the cluster (scenario key `clients`).
    Client {
        name: String,
        port: Option<u16>,
    },
    /// A literal address; `localhost` is `127.0.0.1`.
    Ip {
        addr: Ipv4Addr,
        port: Option<u16>,
    },
    /// A DNS name the prober resolves (through its `/etc/resolv.conf`) before connecting;
    /// a final dot makes it absolute (no search list).
    Name {
        name: String,
        port: Option<u16>,
    },
}

impl Ref {
    pub fn port(&self) -> Option<u16> {
        match self {
            Ref::Pod { port, .. }
            | Ref::Node { port, .. }
            | Ref::Service { port, .. }
            | Ref::LoadBalancer { port, .. }
            | Ref::Client { port, .. }
            | Ref::Ip { port, .. }
            | Ref::Name { port, .. } => *port,
        }
    }
    /// The same reference without its port.
    pub fn without_port(&self) -> Ref {
        let mut r = self.clone();
        match &mut r {
            Ref::Pod { port, .. }
            | Ref::Node { port, .. }
            | Ref::Service { port, .. }
            | Ref::LoadBalancer { port, .. }
            | Ref::Client { port, .. }
            | Ref::Ip { port, .. }
            | Ref::Name { port, .. } => *port = None,
        }
        r
    }
    /// `pod/NAME` (namespace default), `pod/NS/NAME` or `node/NAME`; `None` for addresses.
    /// This is the name receiver patterns (`expect.at`) match against.
    pub fn object_name(&self) -> Option<String> {
        match self {
            Ref::Pod { namespace, name, .. } => Some(pod_name(namespace, name)),
            Ref::Node { name, .. } => Some(format!("node/{name}")),
            Ref::Client { name, .. } => Some(format!("client/{name}")),
            Ref::Service { namespace, name, .. } if namespace == DEFAULT_NAMESPACE => {
                Some(format!("svc/{name}"))
            }
            Ref::Service { namespace, name, .. } => Some(format!("svc/{namespace}/{name}")),
            Ref::LoadBalancer { namespace, name, .. } if namespace == DEFAULT_NAMESPACE => {
                Some(format!("lb/{name}"))
            }
            Ref::LoadBalancer { namespace, name, .. } => Some(format!("lb/{namespace}/{name}")),
            Ref::Ip { .. } | Ref::Name { .. } => None,
        }
    }
}

/// The canonical name of a pod: `pod/NAME` in `default`, else `pod/NAMESPACE/NAME`.
pub fn pod_name(namespace: &str, name: &str) -> String {
    if namespace == DEFAULT_NAMESPACE { format!("pod/{name}") } else { format!("pod/{namespace}/{name}") }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Ip { addr, .. } => write!(f, "{addr}")?,
            Ref::Name { name, .. } => write!(f, "{name}")?,
            other => write!(f, "{}", other.object_name().unwrap_or_default())?,
        }
        match self.port() {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// Why a reference could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {problem}")]
pub struct RefError {
    pub input: String,
    pub problem: String,
}

const FORMS: &str = "expected pod/NAME, pod/NAMESPACE/NAME, node/NAME, svc/NAME, lb/NAME, client/NAME (each with an optional :PORT), an IPv4 address, IP:PORT, localhost:PORT or a DNS name with a port (web:80)";

impl Expecting for Ref {
    const EXPECTING: &'static str =
        "a reference like pod/NAME, node/NAME, 10.244.1.2 or localhost (each with an optional :PORT)";
}

impl FromStr for Ref {
    type Err = RefError;
    fn from_str(input: &str) -> Result<Ref, RefError> {
        /// `NAME` (default namespace) or `NAMESPACE/NAME`, after the `KIND/` prefix.
        fn namespaced<'a>(rest: &'a str, expected: &str) -> Result<(&'a str, &'a str), String> {
            match rest.split('/').collect::<Vec<_>>()[..] {
                [name] => Ok((DEFAULT_NAMESPACE, name)),
                [ns, name] => Ok((ns, name)),
                _ => Err(expected.to_string()),
            }
        }
        let err = |problem: String| RefError { input: input.to_string(), problem };
        let (body, port) = match input.rsplit_once(':') {
            Some((b, p)) => (b, Some(parse_port(p).map_err(err)?)),
            None => (input, None),
        };
        if let Some(rest) = body.strip_prefix("pod/") {
            let (namespace, name) = namespaced(
                rest,
                "expected pod/NAME or pod/NAMESPACE/NAME (choose a container with the probe's container: key)",
            )
            .map_err(err)?;
            check_name("namespace", namespace, is_dns1123_label).map_err(err)?;
            check_name("pod name", name, is_dns1123_subdomain).map_err(err)?;
            return Ok(Ref::Pod { namespace: namespace.into(), name: name.into(), port });
        }
        if let Some(name) = body.strip_prefix("node/") {
            check_name("node name", name, is_dns1123_subdomain).map_err(err)?;
            return Ok(Ref::Node { name: name.into(), port });
        }
        if let Some(rest) = body.strip_prefix("svc/") {
            let (namespace, name) =
                namespaced(rest, "expected svc/NAME or svc/NAMESPACE/NAME").map_err(err)?;
            check_name("namespace", namespace, is_dns1123_label).map_err(err)?;
            check_name("service name", name, is_dns1123_label).map_err(err)?;
            return Ok(Ref::Service { namespace: namespace.into(), name: name.into(), port });
        }
        if let Some(rest) = body.strip_prefix("lb/") {
            let (namespace, name) = namespaced(rest, "expected lb/NAME or lb/NAMESPACE/NAME").map_err(err)?;
            check_name("namespace", namespace, is_dns1123_label).map_err(err)?;
            check_name("service name", name, is_dns1123_label).map_err(err)?;
            return Ok(Ref::LoadBalancer { namespace: namespace.into(), name: name.into(), port });
        }
        if let Some(name) = body.strip_prefix("client/") {
            check_name("client name", name, is_dns1123_label).map_err(err)?;
            return Ok(Ref::Client { name: name.into(), port });
        }
        if body == "localhost" {
            return Ok(Ref::Ip { addr: Ipv4Addr::LOCALHOST, port });
        }
        if let Ok(addr) = body.parse::<Ipv4Addr>() {
            return Ok(Ref::Ip { addr, port });
        }
        let bare = body.strip_suffix('.').unwrap_or(body);
        let looks_like_name =
            is_dns1123_subdomain(bare) && !bare.chars().all(|c| c.is_ascii_digit() || c == '.');
        if looks_like_name && port.is_some() {
            return Ok(Ref::Name { name: body.to_string(), port });
        }
        if is_dns1123_subdomain(body) && !body.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(err(format!("{FORMS} (did you mean pod/{body}?)")));
        }
        Err(err(FORMS.to_string()))
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("port {p:?} must be a number between 1 and 65535")),
    }
}

fn check_name(what: &str, name: &str, ok: fn(&str) -> bool) -> Result<(), String> {
    if ok(name) {
        Ok(())
    } else if name.is_empty() {
        Err(format!("the {what} is empty"))
    } else {
        Err(format!(
            "{what} {name:?} is not a valid Kubernetes name (lower case letters, digits, '-' and '.')"
        ))
    }
}

/// A pattern naming who received a packet (`expect.at`): `pod/NAME`, `pod/NS/NAME` or
/// `node/NAME`, where `*` matches any run of characters (`pod/web-*`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Glob {
    /// Normalised: `pod/default/x` is stored as `pod/x`.
    pattern: String,
}

impl Glob {
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
    pub fn is_literal(&self) -> bool {
        !self.pattern.contains('*')
    }
    /// Whether a receiver's canonical name (see [`Ref::object_name`]) matches.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.pattern.as_bytes(), name.as_bytes())
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl Expecting for Glob {
    const EXPECTING: &'static str = "a receiver like pod/NAME, pod/web-* or node/NAME";
}

impl FromStr for Glob {
    type Err = RefError;
    fn from_str(input: &str) -> Result<Glob, RefError> {
        let default_prefix = format!("pod/{DEFAULT_NAMESPACE}/");
        let pattern = match input.strip_prefix(&default_prefix) {
            Some(rest) => format!("pod/{rest}"),
            None => input.to_string(),
        };
        let body = pattern
            .strip_prefix("pod/")
            .or_else(|| pattern.strip_prefix("node/"))
            .or_else(|| pattern.strip_prefix("client/"));
        let valid = body.is_some_and(|b| {
            !b.is_empty()
                && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-./*".contains(c))
        });
        if !valid {
            let problem = "expected a receiver pod/NAME, pod/NAMESPACE/NAME, node/NAME or client/NAME, where * matches any characters";
            return Err(RefError { input: input.to_string(), problem: problem.to_string() });
        }
        Ok(Glob { pattern })
    }
}

/// Iterative `*` matching (no recursion, linear in practice).
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Ref {
        s.parse().unwrap()
    }

    #[test]
    fn every_reference_form_parses() {
        assert_eq!(r("pod/a"), Ref::Pod { namespace: "default".into(), name: "a".into(), port: None });
        assert_eq!(
            r("pod/kube-system/dns:53"),
            Ref::Pod { namespace: "kube-system".into(), name: "dns".into(), port: Some(53) }
        );
        assert_eq!(r("node/node-1:10250"), Ref::Node { name: "node-1".into(), port: Some(10250) });
        assert_eq!(r("10.244.1.2"), Ref::Ip { addr: Ipv4Addr::new(10, 244, 1, 2), port: None });
        assert_eq!(r("localhost:80"), Ref::Ip { addr: Ipv4Addr::LOCALHOST, port: Some(80) });
        assert_eq!(r("127.0.0.1:80"), r("localhost:80"));
        assert_eq!(r("pod/default/a:80").to_string(), "pod/a:80");
        assert_eq!(r("web:80"), Ref::Name { name: "web".into(), port: Some(80) });
        assert_eq!(r("web.shop.svc.cluster.local.:80").to_string(), "web.shop.svc.cluster.local.:80");
    }

    #[test]
    fn bad_references_say_what_was_expected() {
        let e = "b".parse::<Ref>().unwrap_err().to_string();
        assert!(e.starts_with("invalid reference \"b\": expected pod/NAME"), "{e}");
        assert!(e.ends_with("(did you mean pod/b?)"), "{e}");
        let e = "pod/a:http".parse::<Ref>().unwrap_err().to_string();
        assert_eq!(e, "invalid reference \"pod/a:http\": port \"http\" must be a number between 1 and 65535");
        let e = "pod/Web_1".parse::<Ref>().unwrap_err().to_string();
        assert!(e.contains("pod name \"Web_1\" is not a valid Kubernetes name"), "{e}");
        assert!("pod/a/b/c".parse::<Ref>().is_err());
        assert!("10.0.0.1:0".parse::<Ref>().is_err());
    }

    #[test]
    fn receiver_patterns_match_with_stars() {
        let g: Glob = "pod/c*".parse().unwrap();
        assert!(g.matches("pod/c") && g.matches("pod/c-7d9f") && !g.matches("pod/b"));
        let g: Glob = "pod/default/web".parse().unwrap();
        assert_eq!(g.as_str(), "pod/web");
        assert!("c*".parse::<Glob>().is_err());
        assert!(glob_match(b"*a*b", b"xxaxxb") && !glob_match(b"a*c", b"abcd"));
    }
}
