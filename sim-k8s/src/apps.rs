//! Built-in programs on the namespace's sockets, as sans-I/O state machines: each takes
//! a socket event and returns socket commands. The kubelet starts the servers of a pod's
//! containers; probes run the clients (`apps::client`).
//!
//! Servers, chosen per container by the pod annotation `kube-netsim.io/app` (default:
//! `http-echo` on every TCP `containerPort`, `udp-echo` on every UDP one; `none` starts
//! nothing):
//! - `http-echo`: reads one request, answers `200 OK` with a small text body naming the
//!   pod, its IP, the address and port it saw the client come from and the Host header,
//!   then closes (`Connection: close`). A connection closed before a full request is
//!   closed without an answer, as Go's net/http does.
//!   The body also gives the request's path, and the `X-Forwarded-*` / `X-Real-IP`
//!   headers a proxy added (so a learner sees what an ingress controller told it).
//! - `ingress-nginx`: the ingress controller's proxy (`apps::nginx`); the world runs it,
//!   since it needs the API objects and opens connections of its own.
//! - `tcp-echo`: writes back what it reads, closes when the peer closes.
//! - `udp-echo`: sends every datagram back to where it came from.
//! - `coredns` (the cluster DNS add-on): a DNS server on UDP 53 and TCP 53 (RFC 1035
//!   length-prefixed messages) answering from the API objects (`crate::dns::zone`; the
//!   world hands it the store), and `http-echo` on any other TCP port (its metrics
//!   port).

pub mod client;
pub mod healthcheck;
pub mod nginx;
pub mod resolver;

use std::net::{Ipv4Addr, SocketAddrV4};

use sim_net::packet::IpProto;
use sim_net::socket::SockId;

/// The annotation that picks a pod's server program.
pub const APP_ANNOTATION: &str = "kube-netsim.io/app";

/// The values `kube-netsim.io/app` accepts (checked when the manifest is loaded).
pub const APP_VALUES: &[&str] = &["http-echo", "tcp-echo", "coredns", "ingress-nginx", "none"];

/// A server program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServerKind {
    HttpEcho,
    TcpEcho,
    UdpEcho,
    IngressNginx,
    /// The cluster DNS server over UDP.
    Dns,
    /// The cluster DNS server over TCP.
    DnsTcp,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::HttpEcho => "http-echo",
            ServerKind::TcpEcho => "tcp-echo",
            ServerKind::UdpEcho => "udp-echo",
            ServerKind::IngressNginx => "ingress-nginx",
            ServerKind::Dns | ServerKind::DnsTcp => "coredns",
        }
    }
}

/// The server the annotation runs on a declared port: `Ok(None)` for none (`none`, or
/// SCTP, which no built-in program speaks; ingress-nginx serves no UDP here).
pub fn server_for(annotation: Option<&str>, proto: IpProto, port: u16) -> Result<Option<ServerKind>, String> {
    let kind = match (annotation, proto) {
        (_, IpProto::Icmp) | (Some("none" | "ingress-nginx"), IpProto::Udp) | (Some("none"), _) => None,
        (Some("coredns"), IpProto::Udp) => Some(ServerKind::Dns),
        (Some("coredns"), IpProto::Tcp) if port == 53 => Some(ServerKind::DnsTcp),
        (None | Some("http-echo" | "tcp-echo"), IpProto::Udp) => Some(ServerKind::UdpEcho),
        (None | Some("http-echo" | "coredns"), IpProto::Tcp) => Some(ServerKind::HttpEcho),
        (Some("tcp-echo"), IpProto::Tcp) => Some(ServerKind::TcpEcho),
        (Some("ingress-nginx"), IpProto::Tcp) => Some(ServerKind::IngressNginx),
        (Some(other), _) => {
            return Err(format!(
                "unknown {APP_ANNOTATION} {other:?}: expected one of {}",
                APP_VALUES.join(", ")
            ));
        }
    };
    Ok(kind)
}

/// What Go's net/http writes for a request it cannot parse (`conn.serve`, the generic
/// 400 for anything but its own status errors), before it closes the connection.
pub const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request";

/// Whether an HTTP/1 request line (without its `\n`) parses as Go's `parseRequestLine`
/// and `ParseHTTPVersion` want it: `METHOD SP TARGET SP HTTP/D.D`.
pub fn request_line_ok(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let mut parts = text.splitn(3, ' ');
    let (Some(method), Some(target), Some(proto)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let version = proto.strip_prefix("HTTP/").map(|v| v.as_bytes());
    let version_ok = matches!(version, Some([a, b'.', b]) if a.is_ascii_digit() && b.is_ascii_digit());
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_graphic()) && !target.is_empty() && version_ok
}

/// One listening program, with what it knows about the pod it runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerApp {
    pub kind: ServerKind,
    pub proto: IpProto,
    pub port: u16,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub pod_ip: Ipv4Addr,
}

impl ServerApp {
    /// "pod/web container http-echo", for traces and results.
    pub fn label(&self) -> String {
        format!("pod/{} container {} ({})", self.pod, self.container, self.kind.name())
    }
}

/// What a program asks of its sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockCmd {
    Send(SockId, Vec<u8>),
    SendTo(SockId, SocketAddrV4, Vec<u8>),
    Close(SockId),
}

/// One accepted connection of a server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConn {
    pub local: Option<SocketAddrV4>,
    pub peer: Option<SocketAddrV4>,
    buf: Vec<u8>,
    answered: bool,
}

impl ServerConn {
    pub fn new(local: SocketAddrV4, peer: SocketAddrV4) -> Self {
        ServerConn { local: Some(local), peer: Some(peer), ..Default::default() }
    }

    /// DNS over TCP: buffers `data` and returns every complete message (each is
    /// preceded by its 2-byte length, RFC 1035 4.2.2).
    pub fn dns_frames(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
            if self.buf.len() < 2 + len {
                break;
            }
            out.push(self.buf[2..2 + len].to_vec());
            self.buf.drain(..2 + len);
        }
        out
    }
}

impl ServerApp {
    /// Bytes arrived on an accepted connection.
    pub fn on_data(&self, c: &mut ServerConn, sock: SockId, data: &[u8]) -> Vec<SockCmd> {
        match self.kind {
            ServerKind::TcpEcho => vec![SockCmd::Send(sock, data.to_vec())],
            ServerKind::HttpEcho => {
                c.buf.extend_from_slice(data);
                if c.answered {
                    return vec![];
                }
                // Go's net/http parses the request line as soon as it has one: a line
                // that is not `METHOD TARGET HTTP/x.y` gets its bare 400 at once.
                let malformed = c.buf.split(|b| *b == b'\n').next().filter(|_| c.buf.contains(&b'\n'));
                if malformed.is_some_and(|line| !request_line_ok(line)) {
                    c.answered = true;
                    return vec![SockCmd::Send(sock, BAD_REQUEST.to_vec()), SockCmd::Close(sock)];
                }
                if !c.buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    return vec![];
                }
                c.answered = true;
                vec![SockCmd::Send(sock, self.http_answer(c)), SockCmd::Close(sock)]
            }
            // DNS over TCP is answered by the world, which holds the API objects; so is
            // ingress-nginx.
            ServerKind::UdpEcho | ServerKind::IngressNginx | ServerKind::Dns | ServerKind::DnsTcp => vec![],
        }
    }

    /// The peer closed its side: close ours.
    pub fn on_peer_closed(&self, c: &ServerConn, sock: SockId) -> Vec<SockCmd> {
        if self.kind == ServerKind::HttpEcho && c.answered {
            return vec![]; // already closed after answering
        }
        vec![SockCmd::Close(sock)]
    }

    /// A datagram for `udp-echo`.
    pub fn on_datagram(&self, sock: SockId, from: SocketAddrV4, data: &[u8]) -> Vec<SockCmd> {
        vec![SockCmd::SendTo(sock, from, data.to_vec())]
    }

    fn http_answer(&self, c: &ServerConn) -> Vec<u8> {
        let addr = |a: Option<SocketAddrV4>| a.map(|a| a.to_string()).unwrap_or_default();
        let request = String::from_utf8_lossy(&c.buf);
        let body =
            http_echo_body(&self.pod, &self.namespace, self.pod_ip, &addr(c.peer), &addr(c.local), &request);
        http_echo_response(&body).into_bytes()
    }
}

/// `http-echo`'s body for `request`, seen from `peer` on `local` (also played by the
/// kernel twin's agent over real sockets, so both sides answer alike).
pub fn http_echo_body(
    pod: &str,
    namespace: &str,
    pod_ip: Ipv4Addr,
    peer: &str,
    local: &str,
    request: &str,
) -> String {
    let host = request
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("host")))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let path = request.lines().next().and_then(|l| l.split(' ').nth(1)).unwrap_or("/");
    let mut body = format!(
        "pod: {pod}\nnamespace: {namespace}\npod-ip: {pod_ip}\nclient: {peer}\nlocal: {local}\nhost: {host}\npath: {path}\n"
    );
    for (k, v) in request.lines().filter_map(|l| l.split_once(':')) {
        let k = k.trim().to_ascii_lowercase();
        if k.starts_with("x-forwarded-") || k == "x-real-ip" {
            body.push_str(&format!("{k}: {}\n", v.trim()));
        }
    }
    body
}

/// `http-echo`'s whole answer around `body`.
pub fn http_echo_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> ServerApp {
        ServerApp {
            kind: ServerKind::HttpEcho,
            proto: IpProto::Tcp,
            port: 80,
            namespace: "default".into(),
            pod: "c".into(),
            container: "web".into(),
            pod_ip: Ipv4Addr::new(10, 244, 1, 2),
        }
    }

    #[test]
    fn dns_over_tcp_frames_are_split_by_their_length_prefix() {
        let mut c = ServerConn::default();
        assert!(c.dns_frames(&[0, 3, 1]).is_empty());
        assert_eq!(c.dns_frames(&[2, 3, 0, 1, 9]), vec![vec![1, 2, 3], vec![9]]);
        assert!(c.dns_frames(&[]).is_empty());
    }

    #[test]
    fn http_echo_answers_a_complete_request_with_pod_client_and_host() {
        let sock = SockId { ns: sim_net::netns::NsId(1), n: 1 };
        let mut c = ServerConn::new("10.244.1.2:80".parse().unwrap(), "10.244.0.2:40000".parse().unwrap());
        assert!(app().on_data(&mut c, sock, b"GET / HTTP/1.1\r\nHost: x").is_empty());
        let cmds = app().on_data(&mut c, sock, b"\r\n\r\n");
        let SockCmd::Send(_, bytes) = &cmds[0] else { panic!() };
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("pod: c\n") && text.contains("client: 10.244.0.2:40000\n"), "{text}");
        assert!(text.contains("host: x\n"), "{text}");
        assert_eq!(cmds[1], SockCmd::Close(sock));
    }

    #[test]
    fn http_echo_answers_a_line_that_is_not_http_with_gos_400() {
        let sock = SockId { ns: sim_net::netns::NsId(1), n: 1 };
        let mut c = ServerConn::new("10.244.1.2:80".parse().unwrap(), "10.244.0.2:40000".parse().unwrap());
        assert!(app().on_data(&mut c, sock, b"kube-netsim").is_empty(), "no full line yet");
        let cmds = app().on_data(&mut c, sock, b" probe\n");
        assert_eq!(cmds, [SockCmd::Send(sock, BAD_REQUEST.to_vec()), SockCmd::Close(sock)]);
        assert!(app().on_data(&mut c, sock, b"more\r\n\r\n").is_empty(), "answered once");
        for bad in [&b"GET /\r\n"[..], b"GET / HTTP/x\r\n", b"GET  HTTP/1.1\r\n", b"\r\n"] {
            assert!(!request_line_ok(bad.strip_suffix(b"\n").unwrap()), "{}", String::from_utf8_lossy(bad));
        }
        assert!(request_line_ok(b"GET /a?b HTTP/1.1\r"));
    }
}
