//! The probe clients: `http` (a GET, like `curl -s http://IP:PORT/`), `tcp` (connect,
//! send, half-close, read until the server closes, like `echo .. | nc -q`), `udp` (one
//! datagram, wait for one back). `icmp` (ping) is the namespace's own stack, see
//! `sim_net::path`. Each client's result comes only from what its socket saw.

use std::net::SocketAddrV4;

use sim_net::socket::{SockError, SockEventKind, SockId};
use sim_net::stack::ProbeOutcome;

use super::SockCmd;
use super::nginx::tls;

/// What an `http` probe asks for, like `curl [-k] --resolve HOST:PORT:IP
/// http[s]://HOST:PORT/PATH`: the Host header (and SNI), the path, and TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOpts {
    pub host: Option<String>,
    pub path: String,
    pub tls: bool,
}

impl Default for HttpOpts {
    fn default() -> Self {
        HttpOpts { host: None, path: "/".into(), tls: false }
    }
}

/// Which client a probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Http,
    Tcp,
    Udp,
}

/// How a client finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResult {
    pub outcome: ProbeOutcome,
    pub detail: String,
    /// For `http`: the status code and the body.
    pub http: Option<(u16, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub kind: ClientKind,
    pub dst: SocketAddrV4,
    payload: Vec<u8>,
    connected: bool,
    received: Vec<u8>,
    pub done: bool,
    pub http: HttpOpts,
    /// TLS: raw records not yet read, and the server certificate's subject once seen.
    tls_raw: Vec<u8>,
    cert: Option<String>,
}

impl Client {
    pub fn new(kind: ClientKind, dst: SocketAddrV4, payload: Vec<u8>) -> Self {
        Client {
            kind,
            dst,
            payload,
            connected: false,
            received: vec![],
            done: false,
            http: HttpOpts::default(),
            tls_raw: vec![],
            cert: None,
        }
    }

    /// What to send right after the socket is opened (UDP sends at once).
    pub fn on_open(&self, sock: SockId) -> Vec<SockCmd> {
        match self.kind {
            ClientKind::Udp => vec![SockCmd::Send(sock, self.payload.clone())],
            _ => vec![],
        }
    }

    fn request(&self) -> Vec<u8> {
        http_request(self.dst, self.http.host.as_deref(), &self.http.path, self.http.tls).into_bytes()
    }

    /// TLS records from the server: the handshake flight (then our Finished and the
    /// request), application data (the HTTP answer).
    fn on_tls_data(&mut self, sock: SockId, d: &[u8]) -> Vec<SockCmd> {
        self.tls_raw.extend_from_slice(d);
        let mut cmds = vec![];
        while let Some((kind, payload, used)) = tls::next_record(&self.tls_raw) {
            if tls::is_handshake(kind) && self.cert.is_none() {
                self.cert = Some(tls::certificate_subject(payload).unwrap_or_default());
                let mut out = tls::finished();
                out.extend(tls::app_data(&self.request()));
                cmds.push(SockCmd::Send(sock, out));
            } else if tls::is_app_data(kind) {
                self.received.extend_from_slice(payload);
            }
            self.tls_raw.drain(..used);
        }
        cmds
    }

    /// One socket event; returns commands and, once, the result.
    pub fn on_event(&mut self, sock: SockId, ev: &SockEventKind) -> (Vec<SockCmd>, Option<ClientResult>) {
        if self.done {
            return (vec![], None);
        }
        match ev {
            SockEventKind::Connected => {
                self.connected = true;
                let cmds = match self.kind {
                    // curl sends SNI only for names, not for IP addresses.
                    ClientKind::Http if self.http.tls => {
                        let sni =
                            self.http.host.as_deref().filter(|h| h.parse::<std::net::Ipv4Addr>().is_err());
                        vec![SockCmd::Send(sock, tls::client_hello(sni, [0x5a; 32]))]
                    }
                    ClientKind::Http => vec![SockCmd::Send(sock, self.request())],
                    _ => vec![SockCmd::Send(sock, self.payload.clone()), SockCmd::Close(sock)],
                };
                (cmds, None)
            }
            SockEventKind::Data(d) if self.kind == ClientKind::Http && self.http.tls => {
                (self.on_tls_data(sock, d), None)
            }
            SockEventKind::Data(d) => {
                self.received.extend_from_slice(d);
                // curl looks at the first bytes of the answer: not `HTTP/` (case-
                // insensitive) means HTTP/0.9, refused since curl 7.66 (exit 1).
                if let Some(detail) = self.is_http().then(|| not_http(&self.received)).flatten() {
                    self.done = true;
                    let r = ClientResult { outcome: ProbeOutcome::Reached, detail, http: None };
                    return (vec![SockCmd::Close(sock)], Some(r));
                }
                (vec![], None)
            }
            SockEventKind::PeerClosed | SockEventKind::Closed => {
                let close = if self.kind == ClientKind::Http { vec![SockCmd::Close(sock)] } else { vec![] };
                (close, Some(self.finish()))
            }
            SockEventKind::Datagram { data, .. } => {
                self.done = true;
                let r = ClientResult {
                    outcome: ProbeOutcome::Reached,
                    detail: format!("received {} bytes back", data.len()),
                    http: None,
                };
                (vec![SockCmd::Close(sock)], Some(r))
            }
            SockEventKind::Error(e) => {
                self.done = true;
                let close = if self.kind == ClientKind::Udp { vec![SockCmd::Close(sock)] } else { vec![] };
                (close, Some(error_result(e)))
            }
            SockEventKind::Accepted { .. } => (vec![], None),
        }
    }

    fn is_http(&self) -> bool {
        self.kind == ClientKind::Http
    }

    fn finish(&mut self) -> ClientResult {
        self.done = true;
        match self.kind {
            ClientKind::Http if self.http.tls => {
                let mut r = http_result(&self.received);
                r.detail = match &self.cert {
                    Some(c) => format!("TLS certificate {c}; {}", r.detail),
                    None => format!("no TLS handshake answer; {}", r.detail),
                };
                r
            }
            ClientKind::Http => http_result(&self.received),
            _ => ClientResult {
                outcome: ProbeOutcome::Reached,
                detail: format!(
                    "connected, sent {} bytes, received {} bytes",
                    self.payload.len(),
                    self.received.len()
                ),
                http: None,
            },
        }
    }

    /// The probe's timeout passed without a result.
    pub fn on_timeout(&mut self, sock: SockId) -> (Vec<SockCmd>, ClientResult) {
        self.done = true;
        let detail = if self.connected { "connected, no answer before the timeout" } else { "no answer" };
        let r = ClientResult { outcome: ProbeOutcome::Timeout, detail: detail.into(), http: None };
        (vec![SockCmd::Close(sock)], r)
    }
}

fn error_result(e: &SockError) -> ClientResult {
    let (outcome, detail) = match e {
        SockError::Refused => (ProbeOutcome::Refused, "connection refused".to_string()),
        SockError::Reset => (ProbeOutcome::Refused, "connection reset by peer".to_string()),
        SockError::Unreachable(d) => (ProbeOutcome::Unreachable, d.clone()),
    };
    ClientResult { outcome, detail, http: None }
}

/// curl's verdict on the first bytes of an answer: `Some(detail)` when they do not
/// start like `HTTP/` (case-insensitive), which curl 7.66+ refuses as HTTP/0.9 (exit 1).
pub fn not_http(received: &[u8]) -> Option<String> {
    let n = received.len().min(5);
    if received[..n].eq_ignore_ascii_case(&b"HTTP/"[..n]) {
        return None;
    }
    Some(format!(
        "curl: (1) Received HTTP/0.9 when not allowed (the answer starts {:?}, not HTTP/)",
        String::from_utf8_lossy(&received[..received.len().min(16)])
    ))
}

/// The client's words for a whole answer: `HTTP/1.1 200 OK, 143 bytes of body`, or what
/// curl says when the server closed without a complete one.
pub fn http_detail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.split_once("\r\n\r\n") {
        Some((head, body)) => {
            format!("{}, {} bytes of body", head.lines().next().unwrap_or_default(), body.len())
        }
        None if bytes.is_empty() => "curl: (52) Empty reply from server".to_string(),
        None => format!(
            "connected, but the server closed after {} bytes without a complete HTTP answer",
            bytes.len()
        ),
    }
}

/// Status line and body of an HTTP/1.1 answer.
fn http_result(bytes: &[u8]) -> ClientResult {
    let text = String::from_utf8_lossy(bytes);
    let detail = http_detail(bytes);
    let http = text.split_once("\r\n\r\n").map(|(head, body)| {
        let status_line = head.lines().next().unwrap_or_default();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, body.to_string())
    });
    ClientResult { outcome: ProbeOutcome::Reached, detail, http }
}

/// A value of a `key: value` line of an http-echo body.
pub fn body_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
}

/// The GET the `http` client sends to `dst` (curl's: Host leaves out the port when it is
/// the scheme's default). The kernel twin's agent sends the same bytes.
pub fn http_request(dst: SocketAddrV4, host: Option<&str>, path: &str, tls: bool) -> String {
    let default_port = if tls { 443 } else { 80 };
    let name = host.map(str::to_string).unwrap_or_else(|| dst.ip().to_string());
    let host = if dst.port() == default_port { name } else { format!("{name}:{}", dst.port()) };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-netsim\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
}

/// What the `tcp` and `udp` clients send (ICMP echo carries it without the newline).
pub const PROBE_TEXT: &[u8] = b"kube-netsim probe\n";

/// A probe's payload: `size` bytes of `text` repeated, or `text` itself.
pub fn probe_payload(size: Option<u16>, text: &[u8]) -> Vec<u8> {
    match size {
        Some(n) => text.iter().copied().cycle().take(usize::from(n)).collect(),
        None => text.to_vec(),
    }
}
