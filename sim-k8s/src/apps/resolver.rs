//! The stub resolver of a probe client (glibc's `getaddrinfo` for an IPv4 address, as
//! `curl -4` calls it): one A query per candidate name of the search list
//! (`crate::dns::ResolvConf::candidates`), each from a fresh UDP socket to the first
//! nameserver (glibc closes its socket after every `res_send` unless `RES_STAYOPEN`),
//! with a random query ID. An answer with an A record ends the lookup; NXDOMAIN, NODATA
//! and SERVFAIL move on to the next candidate (`__res_context_search`); any other
//! answer, or an ICMP error on the socket, ends it unresolved.
//!
//! Not modelled: the AAAA query glibc sends alongside for `AF_UNSPEC`, retransmission
//! after `timeout:5` (the probe's own timeout ends the lookup), `attempts`, and
//! answers of a second nameserver.

use std::net::{Ipv4Addr, SocketAddrV4};

use sim_net::packet::dns::{self, Message, RData};

/// What the resolver wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this query (bytes) from a new socket.
    Query(Vec<u8>),
    /// Try the next candidate ([`Resolver::next_query`] with a fresh ID).
    Next,
    /// The lookup is over.
    Resolved(Ipv4Addr),
    Failed(String),
    /// The datagram was not the answer to the current query: keep waiting.
    Wait,
}

/// One query and what came back, for the probe's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub answer: Option<String>,
    /// The network namespace of the server that received the query, and the source
    /// address it saw (after kube-proxy's DNAT picked one of the DNS pods).
    pub server_netns: Option<String>,
    pub seen_src: Option<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolver {
    /// The name as the probe wrote it.
    pub name: String,
    pub server: SocketAddrV4,
    candidates: Vec<String>,
    next: usize,
    id: u16,
    servfail: bool,
    pub queries: Vec<Query>,
}

impl Resolver {
    pub fn new(name: &str, server: Ipv4Addr, candidates: Vec<String>) -> Self {
        Resolver {
            name: name.to_string(),
            server: SocketAddrV4::new(server, 53),
            candidates,
            next: 0,
            id: 0,
            servfail: false,
            queries: vec![],
        }
    }

    /// The next candidate's query with query ID `id`, or the end of the lookup.
    pub fn next_query(&mut self, id: u16) -> Step {
        let Some(name) = self.candidates.get(self.next).cloned() else {
            return Step::Failed(self.not_found());
        };
        self.next += 1;
        self.id = id;
        self.queries.push(Query { name: name.clone(), answer: None, server_netns: None, seen_src: None });
        Step::Query(Message::query(id, &name, dns::TYPE_A).encode())
    }

    fn not_found(&self) -> String {
        let why =
            if self.servfail { "Temporary failure in name resolution" } else { "Name or service not known" };
        format!("could not resolve {}: {why}", self.name)
    }

    /// A datagram on the current query's socket.
    pub fn on_answer(&mut self, bytes: &[u8]) -> Step {
        let Ok(m) = Message::decode(bytes) else { return Step::Wait };
        let current = self.queries.last().map(|q| q.name.as_str()).unwrap_or_default();
        let matches = m.flags.response
            && m.id == self.id
            && m.questions.first().is_some_and(|q| q.name.eq_ignore_ascii_case(current));
        if !matches {
            return Step::Wait; // glibc drops answers that do not match the query
        }
        let first_a = m.answers.iter().find_map(|r| match r.data {
            RData::A(ip) if r.rtype == dns::TYPE_A => Some(ip),
            _ => None,
        });
        let summary = match (m.flags.rcode, first_a) {
            (dns::RCODE_NOERROR, Some(_)) => {
                let a: Vec<String> = m
                    .answers
                    .iter()
                    .filter_map(|r| match r.data {
                        RData::A(ip) => Some(format!("A {ip}")),
                        _ => None,
                    })
                    .collect();
                a.join(", ")
            }
            (dns::RCODE_NOERROR, None) => "NOERROR, no A record".into(),
            (dns::RCODE_NXDOMAIN, _) => "NXDOMAIN".into(),
            (dns::RCODE_SERVFAIL, _) => "SERVFAIL".into(),
            (dns::RCODE_REFUSED, _) => "REFUSED".into(),
            (other, _) => format!("rcode {other}"),
        };
        if let Some(q) = self.queries.last_mut() {
            q.answer = Some(summary);
        }
        match (m.flags.rcode, first_a) {
            (dns::RCODE_NOERROR, Some(ip)) => Step::Resolved(ip),
            (dns::RCODE_NOERROR | dns::RCODE_NXDOMAIN, _) => Step::Next,
            (dns::RCODE_SERVFAIL, _) => {
                self.servfail = true;
                Step::Next
            }
            _ => Step::Failed(format!(
                "could not resolve {}: Non-recoverable failure in name resolution",
                self.name
            )),
        }
    }

    /// The query's socket reported an error (ICMP port or host unreachable).
    pub fn on_error(&mut self, detail: &str) -> Step {
        if let Some(q) = self.queries.last_mut() {
            q.answer = Some(detail.to_string());
        }
        Step::Failed(format!("could not resolve {}: Temporary failure in name resolution", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(q: &[u8], rcode: u8, a: Option<Ipv4Addr>) -> Vec<u8> {
        let mut m = Message::decode(q).unwrap();
        m.flags.response = true;
        m.flags.rcode = rcode;
        if let Some(ip) = a {
            m.answers.push(dns::Record {
                name: m.questions[0].name.clone(),
                rtype: dns::TYPE_A,
                class: dns::CLASS_IN,
                ttl: 30,
                data: RData::A(ip),
            });
        }
        m.encode()
    }

    #[test]
    fn nxdomain_moves_on_and_an_answer_ends_the_search() {
        let cands = vec!["a.x.".to_string(), "a.y.".to_string(), "a.".to_string()];
        let mut r = Resolver::new("a", Ipv4Addr::new(10, 96, 0, 10), cands);
        let Step::Query(q1) = r.next_query(1) else { panic!() };
        assert_eq!(r.on_answer(&reply(&q1, dns::RCODE_NXDOMAIN, None)), Step::Next);
        let Step::Query(q2) = r.next_query(2) else { panic!() };
        // An answer with the wrong ID is ignored.
        assert_eq!(r.on_answer(&reply(&q1, dns::RCODE_NOERROR, Some(Ipv4Addr::LOCALHOST))), Step::Wait);
        let ip = Ipv4Addr::new(10, 96, 0, 20);
        assert_eq!(r.on_answer(&reply(&q2, dns::RCODE_NOERROR, Some(ip))), Step::Resolved(ip));
        assert_eq!(r.queries.len(), 2);
        assert_eq!(r.queries[0].answer.as_deref(), Some("NXDOMAIN"));
        assert_eq!(r.queries[1].answer.as_deref(), Some("A 10.96.0.20"));
    }

    #[test]
    fn exhausting_the_list_fails_like_getaddrinfo() {
        let mut r = Resolver::new("nope", Ipv4Addr::new(10, 96, 0, 10), vec!["nope.".into()]);
        let Step::Query(q) = r.next_query(9) else { panic!() };
        assert_eq!(r.on_answer(&reply(&q, dns::RCODE_SERVFAIL, None)), Step::Next);
        assert_eq!(
            r.next_query(10),
            Step::Failed("could not resolve nope: Temporary failure in name resolution".into())
        );
    }
}
