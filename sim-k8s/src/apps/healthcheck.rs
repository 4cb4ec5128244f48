//! The two ends of a load balancer's health check.
//!
//! - [`HcClient`], run by the load balancer: `tcp` succeeds when the connection is
//!   established (then closes it, as GCE/AWS TCP checks do); `http` sends
//!   `GET /healthz` and succeeds only on status 200. A reset, an unreachable or the
//!   timeout (handled by the caller) is a failure.
//! - [`proxy_health_answer`], kube-proxy's per-service health server
//!   (pkg/proxy/healthcheck/service_health.go): 200 when the node has local ready
//!   endpoints, 503 when not, with its JSON body and headers. Go's `Date` header is
//!   left out (it is wall-clock time).

use std::net::SocketAddrV4;

use sim_net::socket::{SockEventKind, SockId};
use sim_net::stack::ProbeOutcome;

use super::SockCmd;

/// How a check finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HcResult {
    pub ok: bool,
    /// What a probe client would report: `Reached` once connected, whatever the answer.
    pub outcome: ProbeOutcome,
    /// "HTTP 200", "TCP connect ok", "connection refused", ...
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HcClient {
    pub http: bool,
    pub dst: SocketAddrV4,
    received: Vec<u8>,
    connected: bool,
    pub done: bool,
}

impl HcClient {
    pub fn new(http: bool, dst: SocketAddrV4) -> Self {
        HcClient { http, dst, received: vec![], connected: false, done: false }
    }

    fn request(&self) -> Vec<u8> {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nUser-Agent: GoogleHC/1.0\r\nConnection: close\r\n\r\n",
            self.dst
        )
        .into_bytes()
    }

    fn finish(&mut self, ok: bool, why: String) -> Option<HcResult> {
        self.finish_as(ok, if self.connected { ProbeOutcome::Reached } else { ProbeOutcome::Timeout }, why)
    }

    fn finish_as(&mut self, ok: bool, outcome: ProbeOutcome, why: String) -> Option<HcResult> {
        self.done = true;
        Some(HcResult { ok, outcome, why })
    }

    /// One socket event; returns commands and, once, the result.
    pub fn on_event(&mut self, sock: SockId, ev: &SockEventKind) -> (Vec<SockCmd>, Option<HcResult>) {
        if self.done {
            return (vec![], None);
        }
        match ev {
            SockEventKind::Connected if self.http => {
                self.connected = true;
                (vec![SockCmd::Send(sock, self.request())], None)
            }
            SockEventKind::Connected => {
                self.connected = true;
                (vec![SockCmd::Close(sock)], self.finish(true, "TCP connect ok".into()))
            }
            SockEventKind::Data(d) => {
                self.received.extend_from_slice(d);
                (vec![], None)
            }
            SockEventKind::PeerClosed | SockEventKind::Closed => {
                let text = String::from_utf8_lossy(&self.received).to_string();
                let status = text.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
                let r = match status {
                    Some(200) => self.finish(true, "HTTP 200".into()),
                    Some(s) => self.finish(false, format!("HTTP {s}")),
                    None => self.finish(false, "no HTTP answer".into()),
                };
                (vec![SockCmd::Close(sock)], r)
            }
            SockEventKind::Error(e) => {
                use sim_net::socket::SockError;
                let (outcome, why) = match e {
                    SockError::Refused => (ProbeOutcome::Refused, "connection refused".to_string()),
                    SockError::Reset => (ProbeOutcome::Reached, "connection reset".to_string()),
                    SockError::Unreachable(m) => (ProbeOutcome::Unreachable, m.clone()),
                };
                let r = self.finish_as(false, outcome, why);
                (vec![], r)
            }
            _ => (vec![], None),
        }
    }

    /// The timeout: the check failed.
    pub fn on_timeout(&mut self, sock: SockId) -> (Vec<SockCmd>, Option<HcResult>) {
        if self.done {
            return (vec![], None);
        }
        (vec![SockCmd::Close(sock)], self.finish(false, "timeout".into()))
    }
}

/// kube-proxy's answer for service `namespace/name` with `endpoints` local ready
/// endpoints. `close`: the request asked for `Connection: close`.
pub fn proxy_health_answer(namespace: &str, name: &str, endpoints: usize, close: bool) -> Vec<u8> {
    let body = format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": \"{namespace}\",\n\t\t\"name\": \"{name}\"\n\t}},\n\t\"localEndpoints\": {endpoints},\n\t\"serviceProxyHealthy\": true\n}}"
    );
    let status = if endpoints != 0 { "200 OK" } else { "503 Service Unavailable" };
    let conn = if close { "Connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: {endpoints}\r\nContent-Length: {}\r\n{conn}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_proxy_answers_503_without_local_endpoints_with_its_json() {
        let a = String::from_utf8(proxy_health_answer("default", "web", 0, true)).unwrap();
        let expected = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: 0\r\nContent-Length: 114\r\nConnection: close\r\n\r\n{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 0,\n\t\"serviceProxyHealthy\": true\n}";
        assert_eq!(a, expected);
        let ok = String::from_utf8(proxy_health_answer("default", "web", 2, false)).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.contains("Weight: 2\r\n"), "{ok}");
    }

    #[test]
    fn http_check_is_healthy_only_on_200() {
        let sock = SockId { ns: sim_net::netns::NsId(1), n: 1 };
        let dst: SocketAddrV4 = "192.168.1.11:31000".parse().unwrap();
        for (answer, ok) in
            [(proxy_health_answer("d", "w", 1, true), true), (proxy_health_answer("d", "w", 0, true), false)]
        {
            let mut c = HcClient::new(true, dst);
            let (cmds, r) = c.on_event(sock, &SockEventKind::Connected);
            assert!(
                r.is_none() && matches!(&cmds[0], SockCmd::Send(_, req) if req.starts_with(b"GET /healthz "))
            );
            c.on_event(sock, &SockEventKind::Data(answer));
            let (_, r) = c.on_event(sock, &SockEventKind::PeerClosed);
            assert_eq!(r.map(|r| r.ok), Some(ok));
        }
    }
}
