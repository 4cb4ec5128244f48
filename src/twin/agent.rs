//! `kube-netsim twin-agent`: the twin's hands inside a namespace (started with
//! `ip netns exec NS kube-netsim twin-agent ...`). Arguments are positional words (no
//! dashes), so the same words work after any launcher:
//!
//! ```text
//! twin-agent client tcp|udp|icmp DST PORT TIMEOUT_MS SPORT SIZE [connect|tcp|http HOST PATH]
//! twin-agent serve tcp|udp PORT LIFETIME_MS [accept|tcp-echo|http-echo POD NAMESPACE IP]
//! ```
//!
//! The servers and clients play the built-in applications (`twin::apps`): a TCP client
//! `connect`s only, or runs the `tcp` exchange (send, half-close, read to the end) or an
//! `http` GET (HOST `-`: none); a UDP server echoes every datagram.
//!
//! Output: JSON lines on stdout, one object each with an `agent` field:
//! `client` (the probe's outcome, as Linux reports it to the application), `ready`,
//! `accepted` (TCP, with the peer address the server saw), `received` (UDP, echoed).
//!
//! Client outcome classes, from the errno the socket returns: connected / datagram or
//! echo reply → reached; ECONNREFUSED (a RST, or ICMP port unreachable on a connected
//! socket) → refused; EHOSTUNREACH, ENETUNREACH, and ICMP errors ping prints →
//! unreachable; nothing before the timeout → timeout. ICMP uses `ping -n -c1 -W<s>`.
//! A TCP connect whose SYN dies on ARP failure ends as a timeout: std's
//! `connect_timeout` does not read the soft error (SO_ERROR) that Linux keeps.

use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sim_net::packet::IpProto;

use super::apps::{self, ServerRole};

/// One line of agent output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLine {
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Client: the address that answered (ICMP). Server: the peer it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// Client: what came back, as `apps::answer_summary` puts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl AgentLine {
    /// Parses one stdout line; anything that is not an agent line (a launcher's own
    /// output) is `None`.
    pub fn parse(line: &str) -> Option<AgentLine> {
        let l = line.trim();
        if !l.starts_with('{') {
            return None;
        }
        serde_json::from_str(l).ok()
    }
    fn emit(&self) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(self).expect("agent lines serialise"));
        let _ = out.flush();
    }
}

/// What a TCP probe client does once connected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientMode {
    /// Connect and close (a connection whose bytes the twin does not replay: the
    /// ingress controller's, the load balancer's health checks).
    #[default]
    Connect,
    /// Send the probe payload, half-close, read until the server closes.
    Tcp,
    /// `GET PATH` with `Host: HOST` (`None`: the address), read the answer.
    Http { host: Option<String>, path: String },
}

/// `client PROTO DST PORT TIMEOUT_MS SPORT SIZE MODE HOST PATH` (0: an ephemeral port,
/// the default payload).
pub fn client_args(p: &super::TwinProbe) -> Vec<String> {
    let (mode, host, path) = match &p.client {
        ClientMode::Connect => ("connect", "-", "/"),
        ClientMode::Tcp => ("tcp", "-", "/"),
        ClientMode::Http { host, path } => ("http", host.as_deref().unwrap_or("-"), path.as_str()),
    };
    [
        "client",
        proto_word(p.proto),
        &p.dst.to_string(),
        &p.dport.to_string(),
        &p.timeout.as_millis().to_string(),
        &p.sport.unwrap_or(0).to_string(),
        &p.size.unwrap_or(0).to_string(),
        mode,
        host,
        path,
    ]
    .map(str::to_string)
    .to_vec()
}

pub fn serve_args(proto: IpProto, port: u16, lifetime: Duration, role: &ServerRole) -> Vec<String> {
    let mut v: Vec<String> =
        ["serve", proto_word(proto), &port.to_string(), &lifetime.as_millis().to_string()]
            .map(str::to_string)
            .to_vec();
    v.extend(role.args());
    v
}

fn proto_word(p: IpProto) -> &'static str {
    match p {
        IpProto::Tcp => "tcp",
        IpProto::Udp => "udp",
        IpProto::Icmp => "icmp",
    }
}

/// Entry point of `twin-agent`; returns the exit status (2 on bad arguments).
pub fn main(args: &[String]) -> i32 {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let ms = |s: &str| s.parse::<u64>().ok().map(Duration::from_millis);
    match a.as_slice() {
        ["client", proto, dst, port, t, sport, size, rest @ ..] => {
            let parsed = (
                dst.parse::<Ipv4Addr>(),
                port.parse::<u16>(),
                ms(t),
                sport.parse::<u16>(),
                size.parse::<u16>(),
            );
            let mode = match rest {
                [] | ["connect", ..] => Some(ClientMode::Connect),
                ["tcp", ..] => Some(ClientMode::Tcp),
                ["http", host, path] => Some(ClientMode::Http {
                    host: (*host != "-").then(|| host.to_string()),
                    path: path.to_string(),
                }),
                _ => None,
            };
            match (parsed, mode) {
                ((Ok(dst), Ok(port), Some(t), Ok(sport), Ok(size)), Some(mode)) => {
                    client(proto, dst, port, sport, size, t, &mode).emit();
                    0
                }
                _ => usage(args),
            }
        }
        ["serve", proto @ ("tcp" | "udp"), port, life, role @ ..] => {
            match (port.parse::<u16>(), ms(life), ServerRole::parse(role)) {
                (Ok(port), Some(life), Some(role)) => serve(proto, port, life, &role),
                _ => usage(args),
            }
        }
        _ => usage(args),
    }
}

fn usage(args: &[String]) -> i32 {
    eprintln!(
        "twin-agent: bad arguments {args:?}\nusage: twin-agent client tcp|udp|icmp DST PORT TIMEOUT_MS SPORT SIZE [connect|tcp|http HOST PATH] | serve tcp|udp PORT LIFETIME_MS [accept|tcp-echo|http-echo POD NAMESPACE IP]"
    );
    2
}

fn line(agent: &str, outcome: Option<&str>, detail: String) -> AgentLine {
    AgentLine { agent: agent.into(), outcome: outcome.map(str::to_string), detail, ..AgentLine::default() }
}

/// `sport` 0: an ephemeral source port (udp only binds a given one).
fn client(
    proto: &str,
    dst: Ipv4Addr,
    port: u16,
    sport: u16,
    size: u16,
    timeout: Duration,
    mode: &ClientMode,
) -> AgentLine {
    match proto {
        "tcp" => tcp_client(SocketAddr::from((dst, port)), size, timeout, mode),
        "udp" => udp_client(SocketAddr::from((dst, port)), sport, size, timeout),
        "icmp" => ping(dst, size, timeout),
        other => line("client", None, format!("unknown protocol {other}")),
    }
}

/// `EMSGSIZE` on Linux.
const EMSGSIZE: i32 = 90;

/// errno → outcome class, as the application sees it.
fn classify(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::ConnectionRefused => "refused",
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "unreachable",
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
        // An ICMP fragmentation-needed came back (a destination unreachable).
        _ if e.raw_os_error() == Some(EMSGSIZE) => "unreachable",
        _ => "error",
    }
}

#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // the agent runs on wall time, outside the simulation
fn tcp_client(to: SocketAddr, size: u16, timeout: Duration, mode: &ClientMode) -> AgentLine {
    let start = std::time::Instant::now();
    let mut s = match TcpStream::connect_timeout(&to, timeout) {
        Ok(s) => s,
        Err(e) => return line("client", Some(classify(&e)), e.to_string()),
    };
    let local = s.local_addr().ok().map(|a| a.to_string());
    let left = timeout.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
    let (request, half_close) = match mode {
        ClientMode::Connect => {
            return AgentLine { local, ..line("client", Some("reached"), "connected".into()) };
        }
        ClientMode::Tcp => (apps::probe_payload(size), true),
        ClientMode::Http { host, path } => {
            (apps::http_request(to, host.as_deref(), path).into_bytes(), false)
        }
    };
    // The http client stops at a first byte that cannot start an HTTP answer (curl).
    let is_http = matches!(mode, ClientMode::Http { .. });
    let enough = |got: &[u8]| is_http && !got.is_empty() && sim_k8s::apps::client::not_http(got).is_some();
    match apps::exchange(&mut s, &request, half_close, left, &enough) {
        Ok(got) => {
            let (detail, answer) = match mode {
                ClientMode::Http { .. } => {
                    let parsed = apps::parse_http(&got);
                    let detail = apps::http_detail(&got);
                    let answer = apps::answer_summary(
                        parsed.as_ref().map(|p| p.0),
                        parsed.as_ref().map(|p| p.1.as_str()),
                        &detail,
                    );
                    (detail, answer)
                }
                _ => {
                    let d = format!("connected, sent {} bytes, received {} bytes", request.len(), got.len());
                    (d.clone(), d)
                }
            };
            AgentLine { local, answer: Some(answer), ..line("client", Some("reached"), detail) }
        }
        // The simulator's clients: a reset is `refused`; no answer before the timeout
        // on a connected socket is `timeout`.
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => AgentLine {
            local,
            ..line("client", Some("timeout"), "connected, no answer before the timeout".into())
        },
        Err(e) => AgentLine { local, ..line("client", Some(classify(&e)), e.to_string()) },
    }
}

fn udp_client(to: SocketAddr, sport: u16, size: u16, timeout: Duration) -> AgentLine {
    let attempt = || -> std::io::Result<(String, String)> {
        let s = UdpSocket::bind(("0.0.0.0", sport))?;
        s.connect(to)?;
        s.set_read_timeout(Some(timeout))?;
        s.send(&apps::probe_payload(size))?;
        let mut buf = [0u8; 65536];
        let n = s.recv(&mut buf)?;
        Ok((format!("received {n} bytes back"), s.local_addr()?.to_string()))
    };
    match attempt() {
        Ok((detail, local)) => AgentLine {
            local: Some(local),
            answer: Some(detail.clone()),
            ..line("client", Some("reached"), detail)
        },
        Err(e) => line("client", Some(classify(&e)), e.to_string()),
    }
}

/// `ping -n -c1 -W<s> DST`: "bytes from ADDR" → reached; an ICMP error line or a send
/// error (`connect: Network is unreachable`) → unreachable; silence → timeout.
fn ping(dst: Ipv4Addr, size: u16, timeout: Duration) -> AgentLine {
    let secs = timeout.as_secs().max(1).to_string();
    let mut args: Vec<String> = ["-n", "-c1", "-W", &secs].map(str::to_string).to_vec();
    if size > 0 {
        // The scenario's `size`: DF set, never fragmented.
        args.extend(["-M", "do", "-s", &size.to_string()].map(str::to_string));
    }
    args.push(dst.to_string());
    let out = std::process::Command::new("ping").args(&args).output();
    let Ok(out) = out else { return line("client", Some("error"), "cannot run ping".into()) };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if let Some(l) = text.lines().find(|l| l.contains("bytes from ")) {
        let from = l.split("bytes from ").nth(1).and_then(|r| r.split(':').next()).map(str::to_string);
        return AgentLine { peer: from, ..line("client", Some("reached"), l.trim().to_string()) };
    }
    let errors = [
        "Unreachable",
        "unreachable",
        "Time to live exceeded",
        "Frag needed",
        "Packet filtered",
        "message too long",
    ];
    if let Some(l) = text.lines().find(|l| errors.iter().any(|e| l.contains(e))) {
        let from = l.strip_prefix("From ").and_then(|r| r.split_whitespace().next()).map(str::to_string);
        return AgentLine { peer: from, ..line("client", Some("unreachable"), l.trim().to_string()) };
    }
    line("client", Some("timeout"), "no reply".into())
}

/// A server for `lifetime` at most (a safety net: the twin kills it much earlier).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // the agent runs on wall time, outside the simulation
fn serve(proto: &str, port: u16, lifetime: Duration, role: &ServerRole) -> i32 {
    let deadline = std::time::Instant::now() + lifetime;
    let alive = || std::time::Instant::now() < deadline;
    let result = if proto == "tcp" { serve_tcp(port, role, &alive) } else { serve_udp(port, &alive) };
    match result {
        Ok(()) => 0,
        Err(e) => {
            line("error", None, format!("serve {proto} {port}: {e}")).emit();
            1
        }
    }
}

fn serve_tcp(port: u16, role: &ServerRole, alive: &dyn Fn() -> bool) -> std::io::Result<()> {
    let l = TcpListener::bind(("0.0.0.0", port))?;
    l.set_nonblocking(true)?;
    line("ready", None, format!("tcp {port}")).emit();
    while alive() {
        match l.accept() {
            Ok((s, peer)) => {
                let local = s.local_addr().ok().map(|a| a.to_string());
                AgentLine { peer: Some(peer.to_string()), local, ..line("accepted", None, String::new()) }
                    .emit();
                let role = role.clone();
                let _ = s.set_nonblocking(false);
                std::thread::spawn(move || apps::serve_conn(&role, s));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn serve_udp(port: u16, alive: &dyn Fn() -> bool) -> std::io::Result<()> {
    let s = UdpSocket::bind(("0.0.0.0", port))?;
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    line("ready", None, format!("udp {port}")).emit();
    let mut buf = [0u8; 65536];
    while alive() {
        match s.recv_from(&mut buf) {
            Ok((n, peer)) => {
                let _ = s.send_to(&buf[..n], peer);
                AgentLine { peer: Some(peer.to_string()), ..line("received", None, format!("{n} bytes")) }
                    .emit();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
