//! The transport end of a namespace, as the rest of the path sees it: the smoltcp
//! socket layer ([`crate::socket::Transport`], created lazily), listeners registered
//! before it exists, ping clients, and the events probes and applications read.
//!
//! What the kernel answers by itself (ICMP echo, TCP RST for a closed port, ICMP port
//! unreachable for UDP) is in `path::local`; connections are smoltcp's. A listener
//! registered with [`Stack::listen`] has no application: it accepts, reads and
//! discards, closes when the peer closes, and echoes UDP datagrams.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;
use sim_core::SimTime;

use crate::netns::NsId;
use crate::packet::IpProto;

/// A listening socket bound to the wildcard address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub proto: IpProto,
    pub port: u16,
    /// Who listens, for traces and results ("pod/web-1 container http").
    pub owner: String,
}

/// A probe client in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSocket {
    /// The TCP or UDP socket of the probe (ICMP probes have none).
    pub sock: Option<crate::socket::SockId>,
    pub tag: u32,
    pub proto: IpProto,
    pub local: Ipv4Addr,
    pub local_port: u16,
    pub remote: Ipv4Addr,
    pub remote_port: u16,
    pub started: SimTime,
    /// TCP initial sequence number (ISN) we sent.
    pub isn: u32,
}

/// How a probe ended, from the client's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeOutcome {
    /// An answer came back (echo reply, SYN-ACK, UDP reply).
    Reached,
    /// TCP connection refused: a RST, or ICMP port unreachable (Linux maps it to
    /// ECONNREFUSED for TCP).
    Refused,
    /// An ICMP destination unreachable (or no route when sending).
    Unreachable,
    /// Nothing came back before the probe's timeout.
    Timeout,
}

impl ProbeOutcome {
    pub fn word(self) -> &'static str {
        match self {
            ProbeOutcome::Reached => "reached",
            ProbeOutcome::Refused => "refused",
            ProbeOutcome::Unreachable => "unreachable",
            ProbeOutcome::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketEventKind {
    /// A namespace's stack or listener answered a probe's request; `seen_src` is the
    /// source address it saw (after any NAT), `local` the address it was reached on.
    Answered {
        responder: NsId,
        seen_src: Ipv4Addr,
        seen_sport: u16,
        local: Ipv4Addr,
        local_port: u16,
        owner: Option<String>,
    },
    /// The probe finished.
    Finished { outcome: ProbeOutcome, detail: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketEvent {
    pub time: SimTime,
    pub tag: u32,
    pub kind: SocketEventKind,
}

/// Per-namespace transport state.
#[derive(Debug, Default)]
pub struct Stack {
    /// Listeners registered before the socket layer exists (see [`Stack::listen`]).
    pub pending: Vec<Listener>,
    /// The smoltcp socket layer, created when a socket first needs it.
    pub transport: Option<Box<crate::socket::Transport>>,
    pub probes: BTreeMap<u32, ProbeSocket>,
}

impl Stack {
    /// Registers a listener without an application; its sockets are created with the
    /// transport. `Err` with the current owner if the port is taken (EADDRINUSE).
    pub fn listen(&mut self, l: Listener) -> Result<(), String> {
        if let Some(old) = self.pending.iter().find(|p| p.proto == l.proto && p.port == l.port) {
            return Err(old.owner.clone());
        }
        if let Some(t) = &self.transport
            && t.port_in_use(l.proto, l.port)
        {
            return Err(t.port_owner(l.proto, l.port));
        }
        self.pending.push(l);
        Ok(())
    }

    /// The probe a packet from `remote:rport` to `local:lport` answers, if any.
    pub fn probe_for(
        &self,
        proto: IpProto,
        local: Ipv4Addr,
        lport: u16,
        remote: Ipv4Addr,
        rport: u16,
    ) -> Option<u32> {
        self.probes
            .values()
            .find(|p| {
                p.proto == proto
                    && p.sock.is_none()
                    && p.local == local
                    && p.local_port == lport
                    && p.remote == remote
                    && p.remote_port == rport
            })
            .map(|p| p.tag)
    }

    /// Whether a local port is in use (ephemeral port selection skips them).
    pub fn port_in_use(&self, proto: IpProto, port: u16) -> bool {
        self.pending.iter().any(|l| l.proto == proto && l.port == port)
            || self.transport.as_ref().is_some_and(|t| t.port_in_use(proto, port))
            || self.probes.values().any(|p| p.proto == proto && p.local_port == port)
    }
}
