//! The built-in applications, played by `twin-agent` with real sockets: the servers
//! (`http-echo`, `tcp-echo`, `udp-echo`, or a plain accept for programs the twin does
//! not play) and the probe clients (`http` GET, `tcp` send/half-close/read to the end,
//! `connect` only). What they send and answer is what `sim_k8s::apps` sends and answers,
//! so the two sides can compare the answer ([`answer_summary`]).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use sim_k8s::apps::{ServerApp, ServerKind};

/// What a TCP server does with a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ServerRole {
    /// Accept and log the peer (kube-proxy's health server, ingress-nginx, DNS over
    /// TCP: programs the twin does not play; their connections are compared by who
    /// accepted them and the peer they saw).
    #[default]
    Accept,
    TcpEcho,
    /// `http-echo` of a pod: its name, namespace and IP go into the body.
    HttpEcho {
        pod: String,
        namespace: String,
        pod_ip: Ipv4Addr,
    },
}

impl ServerRole {
    /// The role for a simulated listener's application.
    pub fn of(app: Option<&ServerApp>) -> ServerRole {
        match app {
            Some(a) if a.kind == ServerKind::HttpEcho => {
                ServerRole::HttpEcho { pod: a.pod.clone(), namespace: a.namespace.clone(), pod_ip: a.pod_ip }
            }
            Some(a) if a.kind == ServerKind::TcpEcho => ServerRole::TcpEcho,
            _ => ServerRole::Accept,
        }
    }

    /// Agent words: `accept`, `tcp-echo`, `http-echo POD NAMESPACE IP`.
    pub fn args(&self) -> Vec<String> {
        match self {
            ServerRole::Accept => vec!["accept".into()],
            ServerRole::TcpEcho => vec!["tcp-echo".into()],
            ServerRole::HttpEcho { pod, namespace, pod_ip } => {
                vec!["http-echo".into(), pod.clone(), namespace.clone(), pod_ip.to_string()]
            }
        }
    }

    pub fn parse(words: &[&str]) -> Option<ServerRole> {
        match words {
            [] | ["accept"] => Some(ServerRole::Accept),
            ["tcp-echo"] => Some(ServerRole::TcpEcho),
            ["http-echo", pod, ns, ip] => Some(ServerRole::HttpEcho {
                pod: pod.to_string(),
                namespace: ns.to_string(),
                pod_ip: ip.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// Serves one accepted connection (in its own thread), as the simulator's app does.
pub fn serve_conn(role: &ServerRole, mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    match role {
        ServerRole::Accept => {}
        ServerRole::TcpEcho => {
            // Writes back what it reads, closes when the peer closes.
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
        ServerRole::HttpEcho { pod, namespace, pod_ip } => {
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => req.extend_from_slice(&buf[..n]),
                    // Closed before a full request: closed without an answer.
                    _ => return,
                }
                // A first line that is not HTTP: Go net/http's bare 400, then close.
                let first = req.split(|b| *b == b'\n').next().filter(|_| req.contains(&b'\n'));
                if first.is_some_and(|l| !sim_k8s::apps::request_line_ok(l)) {
                    let _ = s.write_all(sim_k8s::apps::BAD_REQUEST);
                    let _ = s.shutdown(Shutdown::Both);
                    return;
                }
            }
            let text = String::from_utf8_lossy(&req);
            let addr = |a: std::io::Result<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
            let body =
                http_echo_body(pod, namespace, *pod_ip, &addr(s.peer_addr()), &addr(s.local_addr()), &text);
            let _ = s.write_all(http_echo_response(&body).as_bytes());
        }
    }
    let _ = s.shutdown(Shutdown::Both);
}

pub use sim_k8s::apps::{http_echo_body, http_echo_response};

/// The request the simulator's `http` client sends.
pub fn http_request(dst: SocketAddr, host: Option<&str>, path: &str) -> String {
    let dst = match dst {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => {
            std::net::SocketAddrV4::new(a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED), a.port())
        }
    };
    sim_k8s::apps::client::http_request(dst, host, path, false)
}

/// The probe payload of `tcp` and `udp` clients (`size` bytes of it, if not 0).
pub fn probe_payload(size: u16) -> Vec<u8> {
    sim_k8s::apps::client::probe_payload((size != 0).then_some(size), sim_k8s::apps::client::PROBE_TEXT)
}

/// What a connected client does: send (then half-close, for the `tcp` client), and read
/// until the server closes, or until `enough` says what came is enough to decide (the
/// `http` client giving up on a non-HTTP answer, as curl does). Returns what came back;
/// `Err` when the connection broke (a reset) or the server did not close within `timeout`.
pub fn exchange(
    s: &mut TcpStream,
    request: &[u8],
    half_close: bool,
    timeout: Duration,
    enough: &dyn Fn(&[u8]) -> bool,
) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(timeout))?;
    s.write_all(request)?;
    if half_close {
        s.shutdown(Shutdown::Write)?;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf)? {
            0 => return Ok(got),
            n => got.extend_from_slice(&buf[..n]),
        }
        if enough(&got) {
            return Ok(got);
        }
    }
}

/// The simulator's detail for an HTTP answer (`sim_k8s::apps::client`): `HTTP/1.1 200
/// OK, 143 bytes of body`, curl's words for a non-HTTP or empty one.
pub fn http_detail(bytes: &[u8]) -> String {
    match sim_k8s::apps::client::not_http(bytes) {
        Some(d) if !bytes.is_empty() => d,
        _ => sim_k8s::apps::client::http_detail(bytes),
    }
}

/// What both sides compare of an answer: the status code and the http-echo fields, with
/// the client's port (an ephemeral port each side draws on its own) left out:
/// `200; pod: web-1; namespace: default; pod-ip: ..; client: 10.244.0.0:*; ...`.
/// Without an HTTP answer: the detail as is (`connected, sent 18 bytes, received 18
/// bytes`).
pub fn answer_summary(status: Option<u16>, body: Option<&str>, detail: &str) -> String {
    let (Some(status), Some(body)) = (status, body) else { return detail.to_string() };
    let mut parts = vec![status.to_string()];
    for l in body.lines() {
        match l.strip_prefix("client: ").and_then(|a| a.rsplit_once(':')) {
            Some((ip, _)) => parts.push(format!("client: {ip}:*")),
            None => parts.push(l.to_string()),
        }
    }
    parts.join("; ")
}

/// Status code and body of an HTTP answer.
pub fn parse_http(bytes: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_and_request_are_the_simulators() {
        let req = http_request("10.96.0.10:8080".parse().unwrap(), None, "/x");
        assert_eq!(
            req,
            "GET /x HTTP/1.1\r\nHost: 10.96.0.10:8080\r\nUser-Agent: kube-netsim\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let body = http_echo_body(
            "web",
            "default",
            Ipv4Addr::new(10, 244, 1, 2),
            "10.244.0.5:40000",
            "10.244.1.2:8080",
            &req,
        );
        assert_eq!(
            body,
            "pod: web\nnamespace: default\npod-ip: 10.244.1.2\nclient: 10.244.0.5:40000\nlocal: 10.244.1.2:8080\nhost: 10.96.0.10:8080\npath: /x\n"
        );
        let resp = http_echo_response(&body);
        assert_eq!(parse_http(resp.as_bytes()), Some((200, body.clone())));
        assert_eq!(http_detail(resp.as_bytes()), format!("HTTP/1.1 200 OK, {} bytes of body", body.len()));
        let s = answer_summary(Some(200), Some(&body), "");
        assert!(s.starts_with("200; pod: web; ") && s.contains("client: 10.244.0.5:*;"), "{s}");
    }

    #[test]
    fn the_agent_answers_and_gives_up_across_protocols_as_the_simulator_does() {
        // http-echo gets the tcp client's line: Go's bare 400, over a real socket.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let role =
            ServerRole::HttpEcho { pod: "w".into(), namespace: "d".into(), pod_ip: Ipv4Addr::LOCALHOST };
        let server = std::thread::spawn(move || serve_conn(&role, l.accept().unwrap().0));
        let mut s = TcpStream::connect(addr).unwrap();
        let got = exchange(&mut s, &probe_payload(0), true, Duration::from_secs(5), &|_| false).unwrap();
        server.join().unwrap();
        assert_eq!(got, sim_k8s::apps::BAD_REQUEST);
        // The http client's words for an echoed request are the simulator client's.
        let echoed = http_request(addr, None, "/");
        assert_eq!(
            http_detail(echoed.as_bytes()),
            sim_k8s::apps::client::not_http(echoed.as_bytes()).unwrap()
        );
        assert!(http_detail(echoed.as_bytes()).starts_with("curl: (1) Received HTTP/0.9 when not allowed"));
        assert_eq!(http_detail(b""), "curl: (52) Empty reply from server");
    }

    #[test]
    fn roles_round_trip_through_agent_words() {
        let r = ServerRole::HttpEcho {
            pod: "w".into(),
            namespace: "d".into(),
            pod_ip: Ipv4Addr::new(1, 2, 3, 4),
        };
        let words = r.args();
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(ServerRole::parse(&w), Some(r));
        assert_eq!(ServerRole::parse(&["tcp-echo"]), Some(ServerRole::TcpEcho));
        assert_eq!(ServerRole::parse(&["http-echo", "w"]), None);
    }
}
