//! `kube-netsim twin-agent`: the twin's hands inside a namespace (started with
//! `ip netns exec NS kube-netsim twin-agent ...`). Arguments are positional words (no
//! dashes), so the same words work after any launcher:
//!
//! ```text
//! twin-agent client tcp|udp|icmp DST PORT TIMEOUT_MS
//! twin-agent serve tcp|udp PORT LIFETIME_MS
//! ```
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

/// `client PROTO DST PORT TIMEOUT_MS SPORT SIZE` (0: an ephemeral port, the default payload).
pub fn client_args(
    proto: IpProto,
    dst: Ipv4Addr,
    port: u16,
    sport: Option<u16>,
    size: Option<u16>,
    timeout: Duration,
) -> Vec<String> {
    [
        "client",
        proto_word(proto),
        &dst.to_string(),
        &port.to_string(),
        &timeout.as_millis().to_string(),
        &sport.unwrap_or(0).to_string(),
        &size.unwrap_or(0).to_string(),
    ]
    .map(str::to_string)
    .to_vec()
}

pub fn serve_args(proto: IpProto, port: u16, lifetime: Duration) -> Vec<String> {
    ["serve", proto_word(proto), &port.to_string(), &lifetime.as_millis().to_string()]
        .map(str::to_string)
        .to_vec()
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
        ["client", proto, dst, port, t, sport, size] => {
            let parsed = (
                dst.parse::<Ipv4Addr>(),
                port.parse::<u16>(),
                ms(t),
                sport.parse::<u16>(),
                size.parse::<u16>(),
            );
            match parsed {
                (Ok(dst), Ok(port), Some(t), Ok(sport), Ok(size)) => {
                    client(proto, dst, port, sport, size, t).emit();
                    0
                }
                _ => usage(args),
            }
        }
        ["serve", proto @ ("tcp" | "udp"), port, life] => match (port.parse::<u16>(), ms(life)) {
            (Ok(port), Some(life)) => serve(proto, port, life),
            _ => usage(args),
        },
        _ => usage(args),
    }
}

fn usage(args: &[String]) -> i32 {
    eprintln!(
        "twin-agent: bad arguments {args:?}\nusage: twin-agent client tcp|udp|icmp DST PORT TIMEOUT_MS SPORT SIZE | serve tcp|udp PORT LIFETIME_MS"
    );
    2
}

fn line(agent: &str, outcome: Option<&str>, detail: String) -> AgentLine {
    AgentLine { agent: agent.into(), outcome: outcome.map(str::to_string), detail, ..AgentLine::default() }
}

/// `sport` 0: an ephemeral source port (udp only binds a given one).
fn client(proto: &str, dst: Ipv4Addr, port: u16, sport: u16, size: u16, timeout: Duration) -> AgentLine {
    match proto {
        "tcp" => tcp_client(SocketAddr::from((dst, port)), timeout),
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

fn tcp_client(to: SocketAddr, timeout: Duration) -> AgentLine {
    match TcpStream::connect_timeout(&to, timeout) {
        Ok(s) => {
            let mut l = line("client", Some("reached"), "connected".into());
            l.local = s.local_addr().ok().map(|a| a.to_string());
            l
        }
        Err(e) => line("client", Some(classify(&e)), e.to_string()),
    }
}

fn udp_client(to: SocketAddr, sport: u16, size: u16, timeout: Duration) -> AgentLine {
    let attempt = || -> std::io::Result<(String, String)> {
        let s = UdpSocket::bind(("0.0.0.0", sport))?;
        s.connect(to)?;
        s.set_read_timeout(Some(timeout))?;
        let payload: Vec<u8> = match size {
            0 => b"hello".to_vec(),
            n => b"hello".iter().copied().cycle().take(n.into()).collect(),
        };
        s.send(&payload)?;
        let mut buf = [0u8; 1500];
        let n = s.recv(&mut buf)?;
        Ok((format!("{n} bytes back"), s.local_addr()?.to_string()))
    };
    match attempt() {
        Ok((detail, local)) => AgentLine { local: Some(local), ..line("client", Some("reached"), detail) },
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
fn serve(proto: &str, port: u16, lifetime: Duration) -> i32 {
    let deadline = std::time::Instant::now() + lifetime;
    let alive = || std::time::Instant::now() < deadline;
    let result = if proto == "tcp" { serve_tcp(port, &alive) } else { serve_udp(port, &alive) };
    match result {
        Ok(()) => 0,
        Err(e) => {
            line("error", None, format!("serve {proto} {port}: {e}")).emit();
            1
        }
    }
}

fn serve_tcp(port: u16, alive: &dyn Fn() -> bool) -> std::io::Result<()> {
    let l = TcpListener::bind(("0.0.0.0", port))?;
    l.set_nonblocking(true)?;
    line("ready", None, format!("tcp {port}")).emit();
    while alive() {
        match l.accept() {
            Ok((s, peer)) => {
                let local = s.local_addr().ok().map(|a| a.to_string());
                AgentLine { peer: Some(peer.to_string()), local, ..line("accepted", None, String::new()) }
                    .emit();
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
    let mut buf = [0u8; 1500];
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
