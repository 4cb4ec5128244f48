//! The processes of the simulated cluster: the servers the kubelet starts and the probe
//! clients, wired to the network's sockets. Each socket event goes to the program that
//! owns the socket; what it answers is done at the same simulated instant, as a process
//! woken by the kernel would. The cluster DNS server answers from the API objects, and a
//! probe to a name first runs its stub resolver's lookup (one UDP socket per query).

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use rand_core::Rng;
use sim_core::{EventQueue, RngStreams, SimRng, SimTime};
use sim_net::netns::NsId;
use sim_net::packet::IpProto;
use sim_net::socket::{SockEvent, SockEventKind, SockId};

use super::{Event, KubeWorld, ListenerRecord, Origin};
use crate::apps::client::{Client, ClientKind, ClientResult, body_field};
use crate::apps::healthcheck::{HcClient, HcResult, proxy_health_answer};
use crate::apps::resolver::{Resolver, Step};
use crate::apps::{ServerApp, ServerConn, ServerKind, SockCmd};
use crate::run::pod_label;

/// Who owns each socket.
pub struct AppHost {
    pub(super) servers: BTreeMap<(NsId, IpProto, u16), ServerApp>,
    pub(super) conns: BTreeMap<SockId, Conn>,
    /// Probe index → its client socket.
    clients: BTreeMap<usize, SockId>,
    /// kube-proxy health servers: (node netns, port) → (namespace, name, local endpoints).
    pub(super) health_servers: BTreeMap<(NsId, u16), (String, String, usize)>,
    /// Load-balancer target index → (check number, socket) of its check in flight.
    pub(super) hc_inflight: BTreeMap<usize, (u64, SockId)>,
    /// Finished checks (target, check number, result), handled by `pump`.
    pub(super) hc_results: Vec<(usize, u64, HcResult, SimTime)>,
    /// ingress-nginx's round-robin position per controller pod and upstream.
    pub(super) round_robin: BTreeMap<NsId, BTreeMap<String, usize>>,
    /// Probe index → the lookup of its name, and the socket of the current query.
    lookups: BTreeMap<usize, (Resolver, Option<SockId>)>,
    /// Query IDs of the stub resolvers.
    resolver_rng: SimRng,
    /// The DNS server's `loadbalance` shuffling.
    dns_rng: SimRng,
}

impl AppHost {
    pub(super) fn new(rngs: &RngStreams) -> Self {
        AppHost {
            servers: BTreeMap::new(),
            conns: BTreeMap::new(),
            clients: BTreeMap::new(),
            health_servers: BTreeMap::new(),
            hc_inflight: BTreeMap::new(),
            hc_results: Vec::new(),
            round_robin: BTreeMap::new(),
            lookups: BTreeMap::new(),
            resolver_rng: rngs.stream("resolver"),
            dns_rng: rngs.stream("coredns/loadbalance"),
        }
    }

    /// Whether the cluster DNS server listens on UDP `port` in namespace `ns`.
    pub(super) fn is_dns_server(&self, ns: NsId, port: u16) -> bool {
        self.servers.get(&(ns, IpProto::Udp, port)).is_some_and(|a| a.kind == ServerKind::Dns)
    }

    /// The DNS server in `netns` received the current query of probe `idx`'s lookup.
    pub(super) fn note_dns_server(&mut self, idx: usize, netns: String, seen_src: std::net::Ipv4Addr) {
        if let Some(q) = self.lookups.get_mut(&idx).and_then(|(r, _)| r.queries.last_mut())
            && q.server_netns.is_none()
        {
            q.server_netns = Some(netns);
            q.seen_src = Some(seen_src);
        }
    }

    /// `pod/NAME` of the container server listening on `port` in namespace `ns`: the
    /// answering pod even when it shares the node's namespace (hostNetwork).
    pub(super) fn server_pod(&self, ns: NsId, proto: IpProto, port: u16) -> Option<String> {
        self.servers.get(&(ns, proto, port)).map(|a| pod_label(&a.namespace, &a.pod))
    }
}

pub(super) enum Conn {
    Server {
        key: (NsId, IpProto, u16),
        state: ServerConn,
    },
    Client {
        probe: usize,
        client: Client,
    },
    /// A load balancer health check (target index, check number).
    Health {
        target: usize,
        seq: u64,
        client: HcClient,
    },
    /// An accepted connection of a kube-proxy health server.
    ProxyHealth {
        key: (NsId, u16),
        buf: Vec<u8>,
        answered: bool,
    },
    /// A client connection of ingress-nginx, and the one it opened to an upstream.
    Proxy(super::ingress::ProxyConn),
    Upstream(super::ingress::UpstreamConn),
    /// The socket of one DNS query of a probe's lookup.
    Lookup {
        probe: usize,
    },
}

impl KubeWorld {
    /// A container's server starts: `socket; bind; listen` in its pod's namespace.
    pub(super) fn start_app(&mut self, component: &str, netns: String, app: ServerApp, now: SimTime) {
        let label = app.label();
        match self.net.listen(&netns, app.proto, app.port, &label, now) {
            Ok(()) => {
                let ns = self.net.id(&netns).expect("listen found it");
                self.apps.servers.insert((ns, app.proto, app.port), app.clone());
                let after_op = self.commands.len();
                self.listeners.push(ListenerRecord {
                    netns,
                    proto: app.proto,
                    port: app.port,
                    after_op,
                    until_op: None,
                    until: None,
                    app: Some(app.clone()),
                });
                if app.kind == ServerKind::IngressNginx && app.port != crate::apps::nginx::HTTPS_PORT {
                    self.log_nginx_config(&app, now);
                }
            }
            Err(e) => self.log(now, component, format!("{label}: listen {}/{}: {e}", app.proto, app.port)),
        }
    }

    /// kube-proxy's health server for a service: listens once, then only the count
    /// of local endpoints changes (`SyncEndpoints`).
    pub(super) fn serve_health(
        &mut self,
        component: &str,
        netns: String,
        port: u16,
        svc: (String, String),
        endpoints: usize,
        now: SimTime,
    ) {
        let Some(ns) = self.net.id(&netns) else { return };
        if let Some(entry) = self.apps.health_servers.get_mut(&(ns, port)) {
            entry.2 = endpoints;
            return;
        }
        let label = format!("kube-proxy health check for {}/{}", svc.0, svc.1);
        match self.net.listen(&netns, IpProto::Tcp, port, &label, now) {
            Ok(()) => {
                self.apps.health_servers.insert((ns, port), (svc.0, svc.1, endpoints));
                let after_op = self.commands.len();
                self.listeners.push(ListenerRecord {
                    netns,
                    proto: IpProto::Tcp,
                    port,
                    after_op,
                    until_op: None,
                    until: None,
                    app: None,
                });
            }
            Err(e) => self.log(now, component, format!("{label}: listen tcp/{port}: {e}")),
        }
    }

    /// Opens a health-check connection from the load balancer for target `target`.
    pub(super) fn start_health_check(
        &mut self,
        target: usize,
        seq: u64,
        tag: u32,
        dst: SocketAddrV4,
        http: bool,
        now: SimTime,
    ) {
        match self.net.connect(crate::lb::LB_NETNS, IpProto::Tcp, dst, tag, now) {
            Ok(sock) => {
                self.apps.conns.insert(sock, Conn::Health { target, seq, client: HcClient::new(http, dst) });
                self.apps.hc_inflight.insert(target, (seq, sock));
            }
            Err(e) => {
                let outcome = sim_net::stack::ProbeOutcome::Unreachable;
                let r = HcResult { ok: false, outcome, why: e.to_string() };
                self.apps.hc_results.push((target, seq, r, now))
            }
        }
    }

    /// A check's timeout: if it is still in flight it failed.
    pub(super) fn health_check_timeout(&mut self, target: usize, seq: u64, now: SimTime) {
        let Some((s, sock)) = self.apps.hc_inflight.get(&target).copied() else { return };
        if s != seq {
            return;
        }
        self.apps.hc_inflight.remove(&target);
        let Some(Conn::Health { client, .. }) = self.apps.conns.get_mut(&sock) else { return };
        let (cmds, r) = client.on_timeout(sock);
        self.apps.conns.remove(&sock);
        if let Some(r) = r {
            self.apps.hc_results.push((target, seq, r, now));
        }
        // An abandoned check leaves nothing behind (SO_LINGER 0 / SYN_SENT removal).
        let _ = cmds;
        let _ = self.net.abort(sock, now);
    }

    /// A container's server exits: its listening socket closes.
    pub(super) fn stop_app(&mut self, netns: &str, proto: IpProto, port: u16, now: SimTime) {
        let Some(ns) = self.net.id(netns) else { return };
        if self.apps.servers.remove(&(ns, proto, port)).is_none() {
            return;
        }
        let _ = self.net.unlisten(netns, proto, port, now);
        let until = self.commands.len();
        if let Some(l) = self
            .listeners
            .iter_mut()
            .rev()
            .find(|l| l.netns == netns && l.proto == proto && l.port == port && l.until_op.is_none())
        {
            l.until_op = Some(until);
            l.until = Some(now);
        }
    }

    /// Opens a probe's client socket (tcp, udp, http).
    pub(super) fn start_client(
        &mut self,
        idx: usize,
        netns: &str,
        (dst, sport): (SocketAddrV4, Option<u16>),
        payload: Vec<u8>,
        kind: ClientKind,
        now: SimTime,
    ) {
        let tag = self.probes[idx].tag;
        let proto = if kind == ClientKind::Udp { IpProto::Udp } else { IpProto::Tcp };
        match self.net.connect_from(netns, proto, sport, dst, tag, now) {
            Ok(sock) => {
                let mut client = Client::new(kind, dst, payload);
                let plan = &self.probes[idx].plan;
                client.http = plan.request.clone();
                // curl http://NAME/ sends `Host: NAME` (and NAME as TLS SNI), not the
                // address the name resolved to.
                if let (None, super::Target::Name(name)) = (&client.http.host, &plan.to) {
                    client.http.host = Some(name.clone());
                }
                let cmds = client.on_open(sock);
                self.apps.conns.insert(sock, Conn::Client { probe: idx, client });
                self.apps.clients.insert(idx, sock);
                self.run_cmds(cmds, now);
            }
            Err(e) => {
                let r = ClientResult {
                    outcome: sim_net::stack::ProbeOutcome::Unreachable,
                    detail: e.to_string(),
                    http: None,
                };
                self.record_result(idx, r, now);
            }
        }
    }

    /// The probe's timeout: a client still waiting gives up.
    pub(super) fn probe_timeout(&mut self, idx: usize, now: SimTime, q: &mut EventQueue<Event>) {
        if let Some((r, Some(sock))) = self.apps.lookups.remove(&idx) {
            let detail = format!("no answer from the DNS server {} before the timeout", r.server);
            self.probes[idx].lookup = Some(r);
            let res = ClientResult { outcome: sim_net::stack::ProbeOutcome::Timeout, detail, http: None };
            self.record_result(idx, res, now);
            self.apps.conns.remove(&sock);
            self.run_cmds(vec![SockCmd::Close(sock)], now);
            return self.pump(q);
        }
        let Some(sock) = self.apps.clients.get(&idx).copied() else { return };
        let Some(Conn::Client { client, .. }) = self.apps.conns.get_mut(&sock) else { return };
        if client.done {
            return;
        }
        let (cmds, r) = client.on_timeout(sock);
        self.record_result(idx, r, now);
        self.run_cmds(cmds, now);
        self.pump(q);
    }

    /// Hands every pending socket event to its program until none is left.
    pub(super) fn pump_sockets(&mut self) {
        for _ in 0..10_000 {
            let events = self.net.poll_sock_events();
            if events.is_empty() {
                return;
            }
            for ev in events {
                self.on_sock_event(ev);
            }
        }
        panic!("applications keep producing socket events at one instant: a program loops");
    }

    fn on_sock_event(&mut self, ev: SockEvent) {
        let now = ev.time;
        if let SockEventKind::Accepted { port, local, peer } = &ev.kind {
            let key = (ev.sock.ns, IpProto::Tcp, *port);
            match self.apps.servers.get(&key).map(|a| a.kind) {
                Some(ServerKind::IngressNginx) => {
                    let conn = super::ingress::ProxyConn::new(*local, *peer, ev.tag);
                    self.apps.conns.insert(ev.sock, Conn::Proxy(conn));
                }
                Some(_) => {
                    let state = ServerConn::new(*local, *peer);
                    self.apps.conns.insert(ev.sock, Conn::Server { key, state });
                }
                None if self.apps.health_servers.contains_key(&(ev.sock.ns, *port)) => {
                    let key = (ev.sock.ns, *port);
                    self.apps.conns.insert(ev.sock, Conn::ProxyHealth { key, buf: vec![], answered: false });
                }
                None => {}
            }
            return;
        }
        if let SockEventKind::Datagram { from, data, local } = &ev.kind
            && let Some(app) = self.apps.servers.get(&(ev.sock.ns, IpProto::Udp, local.port()))
            && !self.apps.conns.contains_key(&ev.sock)
        {
            let cmds = if app.kind == ServerKind::Dns {
                let reply = crate::dns::zone::answer(&self.store, data, now, &mut self.apps.dns_rng);
                reply.map(|r| SockCmd::SendTo(ev.sock, *from, r)).into_iter().collect()
            } else {
                app.on_datagram(ev.sock, *from, data)
            };
            return self.run_cmds(cmds, now);
        }
        if matches!(self.apps.conns.get(&ev.sock), Some(Conn::Proxy(_) | Conn::Upstream(_))) {
            return self.on_proxy_event(ev);
        }
        if let Some(Conn::Lookup { probe }) = self.apps.conns.get(&ev.sock) {
            let probe = *probe;
            return self.on_lookup_event(probe, ev.sock, &ev.kind, now);
        }
        let cmds = match self.apps.conns.get_mut(&ev.sock) {
            Some(Conn::Server { key, state }) => {
                let app = &self.apps.servers[key];
                match &ev.kind {
                    SockEventKind::Data(d) if app.kind == ServerKind::DnsTcp => {
                        let mut out = Vec::new();
                        for frame in state.dns_frames(d) {
                            let store = &self.store;
                            if let Some(r) =
                                crate::dns::zone::answer(store, &frame, now, &mut self.apps.dns_rng)
                            {
                                let mut msg = (r.len() as u16).to_be_bytes().to_vec();
                                msg.extend_from_slice(&r);
                                out.push(SockCmd::Send(ev.sock, msg));
                            }
                        }
                        out
                    }
                    SockEventKind::Data(d) => app.on_data(state, ev.sock, d),
                    SockEventKind::PeerClosed => app.on_peer_closed(state, ev.sock),
                    _ => vec![],
                }
            }
            Some(Conn::Health { target, seq, client }) => {
                let (cmds, result) = client.on_event(ev.sock, &ev.kind);
                if let Some(r) = result {
                    let (target, seq) = (*target, *seq);
                    self.apps.hc_results.push((target, seq, r, now));
                    if self.apps.hc_inflight.get(&target).is_some_and(|x| x.0 == seq) {
                        self.apps.hc_inflight.remove(&target);
                    }
                }
                cmds
            }
            Some(Conn::ProxyHealth { key, buf, answered }) => match &ev.kind {
                SockEventKind::Data(d) if !*answered => {
                    buf.extend_from_slice(d);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        *answered = true;
                        let close =
                            String::from_utf8_lossy(buf).to_ascii_lowercase().contains("connection: close");
                        let (ns, name, n) = &self.apps.health_servers[key];
                        let answer = proxy_health_answer(ns, name, *n, close);
                        vec![SockCmd::Send(ev.sock, answer), SockCmd::Close(ev.sock)]
                    } else {
                        vec![]
                    }
                }
                SockEventKind::PeerClosed if !*answered => vec![SockCmd::Close(ev.sock)],
                _ => vec![],
            },
            Some(Conn::Client { probe, client }) => {
                let (cmds, result) = client.on_event(ev.sock, &ev.kind);
                let probe = *probe;
                if let Some(r) = result {
                    self.record_result(probe, r, now);
                }
                cmds
            }
            Some(Conn::Proxy(_) | Conn::Upstream(_) | Conn::Lookup { .. }) | None => vec![],
        };
        if matches!(ev.kind, SockEventKind::Closed | SockEventKind::Error(_))
            && matches!(
                self.apps.conns.get(&ev.sock),
                Some(Conn::Server { .. } | Conn::ProxyHealth { .. } | Conn::Health { .. })
            )
        {
            self.apps.conns.remove(&ev.sock);
        }
        self.run_cmds(cmds, now);
    }

    /// The resolver configuration of a probe's origin: a pod's by its dnsPolicy, a
    /// node's or a client's own (no cluster DNS).
    pub fn resolv_conf(&self, o: &Origin) -> crate::dns::ResolvConf {
        let dns_ip = crate::dns::addon::service_ip(self.cluster.service_network);
        match o {
            Origin::Pod { namespace, name } => match self.store.pod(namespace, name) {
                Some((p, _)) => crate::dns::ResolvConf::for_pod(p, dns_ip),
                None => crate::dns::ResolvConf::cluster_first(namespace, dns_ip),
            },
            Origin::Node(_) | Origin::Client(_) => crate::dns::ResolvConf::host(),
        }
    }

    /// Starts resolving a probe's name: the first query of the search list.
    pub(super) fn start_lookup(&mut self, idx: usize, name: &str, rc: &crate::dns::ResolvConf, now: SimTime) {
        let r = Resolver::new(name, rc.server(), rc.candidates(name));
        self.apps.lookups.insert(idx, (r, None));
        self.lookup_next(idx, now);
    }

    /// Sends the lookup's next query from a fresh socket, or ends the lookup.
    fn lookup_next(&mut self, idx: usize, now: SimTime) {
        let id = self.apps.resolver_rng.next_u32() as u16;
        let Some((r, _)) = self.apps.lookups.get_mut(&idx) else { return };
        let step = r.next_query(id);
        let server = r.server;
        match step {
            Step::Query(bytes) => {
                let netns = self.probes[idx].src_netns.clone().unwrap_or_default();
                let tag = self.probes[idx].tag;
                match self.net.connect(&netns, IpProto::Udp, server, tag, now) {
                    Ok(sock) => {
                        self.apps.conns.insert(sock, Conn::Lookup { probe: idx });
                        if let Some(l) = self.apps.lookups.get_mut(&idx) {
                            l.1 = Some(sock);
                        }
                        self.run_cmds(vec![SockCmd::Send(sock, bytes)], now);
                    }
                    Err(e) => self.lookup_done(idx, Step::Failed(format!("socket: {e}")), now),
                }
            }
            other => self.lookup_done(idx, other, now),
        }
    }

    /// A datagram or an error on a query's socket.
    fn on_lookup_event(&mut self, idx: usize, sock: SockId, kind: &SockEventKind, now: SimTime) {
        let Some((r, _)) = self.apps.lookups.get_mut(&idx) else { return };
        let step = match kind {
            SockEventKind::Datagram { data, .. } => r.on_answer(data),
            SockEventKind::Error(e) => r.on_error(&match e {
                sim_net::socket::SockError::Refused => "connection refused".to_string(),
                sim_net::socket::SockError::Reset => "connection reset".to_string(),
                sim_net::socket::SockError::Unreachable(d) => d.clone(),
            }),
            _ => Step::Wait,
        };
        if step == Step::Wait {
            return;
        }
        // glibc closes the socket after each res_send.
        self.apps.conns.remove(&sock);
        self.run_cmds(vec![SockCmd::Close(sock)], now);
        match step {
            Step::Next => self.lookup_next(idx, now),
            other => self.lookup_done(idx, other, now),
        }
    }

    /// The lookup is over: connect to the address, or record that the name did not resolve.
    fn lookup_done(&mut self, idx: usize, step: Step, now: SimTime) {
        let Some((r, _)) = self.apps.lookups.remove(&idx) else { return };
        self.probes[idx].lookup = Some(r);
        match step {
            Step::Resolved(ip) => {
                let plan = self.probes[idx].plan.clone();
                self.probes[idx].dst = Some(ip);
                let netns = self.probes[idx].src_netns.clone().unwrap_or_default();
                let kind = match (plan.proto, plan.http) {
                    (IpProto::Udp, _) => ClientKind::Udp,
                    (_, true) => ClientKind::Http,
                    _ => ClientKind::Tcp,
                };
                let payload = crate::apps::client::probe_payload(plan.size, crate::apps::client::PROBE_TEXT);
                self.start_client(
                    idx,
                    &netns,
                    (SocketAddrV4::new(ip, plan.port), plan.sport),
                    payload,
                    kind,
                    now,
                );
            }
            Step::Failed(msg) => {
                let rec = &mut self.probes[idx];
                rec.unresolved = Some(msg);
                rec.finished = Some(now);
            }
            Step::Query(_) | Step::Next | Step::Wait => {}
        }
    }

    pub(super) fn run_cmds(&mut self, cmds: Vec<SockCmd>, now: SimTime) {
        for c in cmds {
            // A socket that is already gone (reset by the peer) just drops the call.
            let _ = match c {
                SockCmd::Send(s, data) => self.net.send(s, &data, now).map(|_| ()),
                SockCmd::SendTo(s, to, data) => self.net.send_to(s, to, &data, now),
                SockCmd::Close(s) => self.net.close(s, now),
            };
        }
    }

    /// A client's result becomes the probe's outcome; for http the answering pod and
    /// the client address it saw are read from the answer.
    fn record_result(&mut self, idx: usize, r: ClientResult, now: SimTime) {
        let rec = &mut self.probes[idx];
        if rec.outcome.is_some() {
            return;
        }
        rec.outcome = Some(r.outcome);
        rec.detail = r.detail;
        rec.finished = Some(now);
        if let Some((status, body)) = r.http {
            rec.status = Some(status);
            if let (Some(pod), Some(ns)) = (body_field(&body, "pod"), body_field(&body, "namespace")) {
                rec.responder = Some(pod_label(ns, pod));
            }
            if let Some(c) = body_field(&body, "client").and_then(|c| c.parse::<SocketAddrV4>().ok()) {
                rec.seen_src = Some(*c.ip());
            }
            rec.answer = Some(body);
        }
    }
}
