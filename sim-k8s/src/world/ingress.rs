//! ingress-nginx's connections on the simulated sockets: the client side (TLS layer on
//! the HTTPS port, then the HTTP request routed by `apps::nginx`) and the upstream
//! connection it opens to the chosen endpoint. Its decisions become `app` hops in the
//! probe's trace, tagged with the client connection's flow, so the trace shows both TCP
//! connections and why the second one goes where it goes.

use std::net::SocketAddrV4;

use sim_core::SimTime;
use sim_net::hop::{Hop, Step};
use sim_net::packet::IpProto;
use sim_net::socket::{SockEvent, SockEventKind, SockId};

use super::KubeWorld;
use super::apphost::Conn;
use crate::apps::SockCmd;
use crate::apps::nginx::{self, ConnFacts, Decision, Request, tls};

/// A client connection accepted by the controller.
pub(crate) struct ProxyConn {
    facts: ConnFacts,
    tag: u32,
    /// Bytes not yet read (TLS records on the HTTPS port).
    raw: Vec<u8>,
    /// The HTTP bytes (after the TLS layer).
    plain: Vec<u8>,
    hello_done: bool,
    routed: bool,
}

impl ProxyConn {
    pub(crate) fn new(local: SocketAddrV4, peer: SocketAddrV4, tag: u32) -> Self {
        let tls = local.port() == nginx::HTTPS_PORT;
        ProxyConn {
            facts: ConnFacts { peer, local, tls },
            tag,
            raw: vec![],
            plain: vec![],
            hello_done: false,
            routed: false,
        }
    }
}

/// The controller's connection to an endpoint, on behalf of `downstream`.
pub(crate) struct UpstreamConn {
    downstream: SockId,
    endpoint: SocketAddrV4,
    request: Vec<u8>,
    response: Vec<u8>,
    tls: bool,
}

impl KubeWorld {
    /// The controller's first configuration, as its log says after nginx starts: the
    /// servers and their locations (the story of every later routing decision).
    pub(super) fn log_nginx_config(&mut self, app: &crate::apps::ServerApp, now: SimTime) {
        let config = nginx::config::Config::from_store(&self.store);
        let component = format!("ingress-nginx/{}", app.pod);
        for n in &config.notes {
            self.log(now, &component, n.clone());
        }
        for s in &config.servers {
            let locs: Vec<String> =
                s.locations.iter().map(|l| format!("{} -> {}", l.spelled(), l.target.upstream())).collect();
            let tls = s.tls_secret.as_deref().map(|k| format!(" [tls {k}]")).unwrap_or_default();
            self.log(now, &component, format!("server {}{tls}: {}", s.name, locs.join(", ")));
        }
    }

    fn app_hop(&mut self, sock: SockId, tag: u32, now: SimTime, detail: String) {
        if !self.net.tracer.enabled {
            return;
        }
        // The packet hops that led here come first.
        let earlier = self.net.tracer.take();
        self.hops.extend(earlier);
        let netns = self.net.ns(sock.ns).name.clone();
        let hop = Hop {
            time: now,
            tag,
            netns,
            dev: None,
            step: Step::App,
            detail,
            packet: String::new(),
            before: None,
        };
        self.hops.push(hop);
    }

    pub(super) fn on_proxy_event(&mut self, ev: SockEvent) {
        let now = ev.time;
        match self.apps.conns.get(&ev.sock) {
            Some(Conn::Proxy(_)) => self.on_downstream(ev.sock, ev.tag, &ev.kind, now),
            Some(Conn::Upstream(_)) => self.on_upstream(ev.sock, ev.tag, &ev.kind, now),
            _ => {}
        }
    }

    fn on_downstream(&mut self, sock: SockId, tag: u32, kind: &SockEventKind, now: SimTime) {
        let data = match kind {
            SockEventKind::Data(d) => d.clone(),
            SockEventKind::Closed | SockEventKind::Error(_) => {
                self.apps.conns.remove(&sock);
                return;
            }
            _ => return,
        };
        let Some(Conn::Proxy(c)) = self.apps.conns.get_mut(&sock) else { return };
        let tag = if c.tag == 0 { tag } else { c.tag };
        c.raw.extend_from_slice(&data);
        let mut notes = Vec::new();
        let mut cmds = Vec::new();
        if c.facts.tls {
            if !c.hello_done && !c.raw.is_empty() && !tls::is_handshake(c.raw[0]) {
                // nginx's answer to plain HTTP on its TLS port.
                c.routed = true;
                notes.push("plain HTTP on the HTTPS port: 400".to_string());
                let body = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
                cmds.push(SockCmd::Send(sock, nginx::response(400, body)));
                cmds.push(SockCmd::Close(sock));
                c.raw.clear();
            }
            while let Some((kind, payload, used)) = tls::next_record(&c.raw) {
                if !c.hello_done {
                    let sni = tls::parse_sni(payload).flatten();
                    c.hello_done = true;
                    let (subject, why) = nginx::certificate_for(&self.store, sni.as_deref());
                    let shown = sni.as_deref().map_or("no SNI".to_string(), |s| format!("SNI {s:?}"));
                    notes.push(format!("TLS ClientHello, {shown}"));
                    notes.push(format!("TLS certificate {subject}: {why}"));
                    cmds.push(SockCmd::Send(sock, tls::server_flight(&subject, [0xa5; 32])));
                } else if tls::is_app_data(kind) {
                    c.plain.extend_from_slice(payload);
                }
                c.raw.drain(..used);
            }
        } else {
            c.plain.append(&mut c.raw);
        }
        let request = if c.routed { None } else { Request::parse(&c.plain) };
        let facts = c.facts;
        if request.is_some() {
            c.routed = true;
        }
        for n in notes {
            self.app_hop(sock, tag, now, format!("ingress-nginx: {n}"));
        }
        self.run_cmds(std::mem::take(&mut cmds), now);
        let Some(req) = request else { return };
        let rr = self.apps.round_robin.entry(sock.ns).or_default();
        let routed = nginx::handle(&self.store, rr, &req, facts);
        for n in routed.notes {
            self.app_hop(sock, tag, now, format!("ingress-nginx: {n}"));
        }
        match routed.decision {
            Decision::Respond { status, body } => {
                self.app_hop(
                    sock,
                    tag,
                    now,
                    format!("ingress-nginx: answers {status} {} itself", nginx::reason(status)),
                );
                self.reply(sock, facts.tls, nginx::response(status, &body), now);
            }
            Decision::Redirect { location } => {
                self.app_hop(sock, tag, now, "ingress-nginx: answers 308 Permanent Redirect itself".into());
                self.reply(sock, facts.tls, nginx::redirect(&location), now);
            }
            Decision::Proxy { endpoint, request } => {
                let netns = self.net.ns(sock.ns).name.clone();
                self.app_hop(
                    sock,
                    tag,
                    now,
                    format!("ingress-nginx: second connection to {endpoint} (pod IP, not the ClusterIP), X-Forwarded-For: {}", facts.peer.ip()),
                );
                match self.net.connect(&netns, IpProto::Tcp, endpoint, tag, now) {
                    Ok(up) => {
                        if let Some(probe) = (tag as usize).checked_sub(1).filter(|i| *i < self.probes.len())
                        {
                            self.proxied.push(super::ProxiedRecord {
                                probe,
                                proxy_netns: netns.clone(),
                                proxy_saw: *facts.peer.ip(),
                                upstream: endpoint,
                            });
                        }
                        let u = UpstreamConn {
                            downstream: sock,
                            endpoint,
                            request,
                            response: vec![],
                            tls: facts.tls,
                        };
                        self.apps.conns.insert(up, Conn::Upstream(u));
                    }
                    Err(e) => {
                        self.app_hop(
                            sock,
                            tag,
                            now,
                            format!("ingress-nginx: connect() to {endpoint} failed ({e}): 502"),
                        );
                        self.reply(sock, facts.tls, nginx::response(502, &nginx::error_page(502)), now);
                    }
                }
            }
        }
    }

    /// Sends an answer to the client (inside TLS records on the HTTPS port) and closes.
    fn reply(&mut self, sock: SockId, tls_on: bool, bytes: Vec<u8>, now: SimTime) {
        let out = if tls_on {
            let mut o = tls::app_data(&bytes);
            o.extend(tls::close_notify());
            o
        } else {
            bytes
        };
        self.run_cmds(vec![SockCmd::Send(sock, out), SockCmd::Close(sock)], now);
    }

    fn on_upstream(&mut self, sock: SockId, tag: u32, kind: &SockEventKind, now: SimTime) {
        let Some(Conn::Upstream(u)) = self.apps.conns.get_mut(&sock) else { return };
        match kind {
            SockEventKind::Connected => {
                let req = u.request.clone();
                self.run_cmds(vec![SockCmd::Send(sock, req)], now);
            }
            SockEventKind::Data(d) => u.response.extend_from_slice(d),
            SockEventKind::PeerClosed => {
                let (down, tls_on, resp, ep) =
                    (u.downstream, u.tls, std::mem::take(&mut u.response), u.endpoint);
                let status = String::from_utf8_lossy(&resp).lines().next().unwrap_or_default().to_string();
                self.app_hop(
                    sock,
                    tag,
                    now,
                    format!("ingress-nginx: upstream {ep} answered {status:?}; relayed to the client"),
                );
                self.run_cmds(vec![SockCmd::Close(sock)], now);
                self.reply(down, tls_on, resp, now);
            }
            SockEventKind::Error(e) => {
                let (down, tls_on, ep) = (u.downstream, u.tls, u.endpoint);
                self.apps.conns.remove(&sock);
                self.app_hop(
                    sock,
                    tag,
                    now,
                    format!(
                        "ingress-nginx: connect() to {ep} failed ({}) while connecting to upstream: 502",
                        errno_text(e)
                    ),
                );
                self.reply(down, tls_on, nginx::response(502, &nginx::error_page(502)), now);
            }
            SockEventKind::Closed => {
                self.apps.conns.remove(&sock);
            }
            _ => {}
        }
    }
}

/// nginx's wording of a failed upstream connection (`(111: Connection refused)`).
fn errno_text(e: &sim_net::socket::SockError) -> String {
    use sim_net::socket::SockError;
    match e {
        SockError::Refused => "111: Connection refused".into(),
        SockError::Reset => "104: Connection reset by peer".into(),
        SockError::Unreachable(d) => format!("113: No route to host: {d}"),
    }
}
