//! UDP on smoltcp: servers bound to a port on every address, clients bound to an
//! ephemeral port, and the scan that hands received datagrams to their owners.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::socket::udp::{PacketBuffer, PacketMetadata, Socket, UdpMetadata};
use smoltcp::wire::IpAddress;

use super::tcp::{Noticed, Seen};
use super::{Owner, Role, SockEventKind, Transport, v4};
use crate::packet::IpProto;

impl Transport {
    fn new_udp_socket(&self) -> Socket<'static> {
        let buf = || {
            PacketBuffer::new(
                vec![PacketMetadata::EMPTY; self.config.udp_packets],
                vec![0u8; self.config.udp_bytes],
            )
        };
        Socket::new(buf(), buf())
    }

    /// `bind(0.0.0.0:port)`; `None` if the port is taken (EADDRINUSE).
    pub(crate) fn udp_bind(&mut self, port: u16, owner: Owner, tag: u32, server: bool) -> Option<u32> {
        if self.port_in_use(IpProto::Udp, port) {
            return None;
        }
        let mut s = self.new_udp_socket();
        s.bind(port).expect("a fresh socket binds to a non-zero port");
        let h = self.sockets.add(s);
        let role = if server { Role::UdpServer { port } } else { Role::UdpClient };
        let n = self.add_entry(h, role, owner, tag);
        if !server {
            self.entries[&n].local = Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        }
        Some(n)
    }

    /// The socket bound to `port`, if any.
    pub(crate) fn udp_owner(&self, port: u16) -> Option<u32> {
        self.entries
            .iter()
            .find(|(_, e)| match e.role {
                Role::UdpServer { port: p } => p == port,
                Role::UdpClient => e.local.is_some_and(|l| l.port() == port),
                _ => false,
            })
            .map(|(n, _)| *n)
    }

    /// `sendto(2)` from `from` (or the interface's choice) to `to`.
    pub(crate) fn udp_send(&mut self, n: u32, to: SocketAddrV4, from: Option<Ipv4Addr>, data: &[u8]) -> bool {
        let h = self.entries[&n].handle;
        if let Some(e) = self.entries.get_mut(&n)
            && e.role == Role::UdpClient
        {
            e.remote = Some(to);
        }
        let mut meta = UdpMetadata::from(smoltcp::wire::IpEndpoint::from(to));
        meta.local_address = from.map(IpAddress::Ipv4);
        self.sockets.get_mut::<Socket>(h).send_slice(data, meta).is_ok()
    }

    /// Every datagram received since the last scan. A server's replies belong to the
    /// flow (tag) of the request it just read.
    pub(crate) fn scan_udp(&mut self) -> Vec<Noticed> {
        let mut out = Vec::new();
        let cur_tag = self.cur_tag;
        let ns: Vec<u32> = self.entries.keys().copied().collect();
        for n in ns {
            let e = &self.entries[&n];
            let (h, role) = (e.handle, e.role);
            if role.proto() != IpProto::Udp {
                continue;
            }
            let (owner, tag) =
                (e.owner.clone(), if matches!(role, Role::UdpServer { .. }) { cur_tag } else { e.tag });
            let mut seen = Vec::new();
            let s = self.sockets.get_mut::<Socket>(h);
            let port = s.endpoint().port;
            while let Ok((data, meta)) = s.recv() {
                let from = v4(meta.endpoint);
                let local = match meta.local_address {
                    Some(IpAddress::Ipv4(a)) => a,
                    None => Ipv4Addr::UNSPECIFIED,
                };
                let local = SocketAddrV4::new(local, port);
                let ev = SockEventKind::Datagram { from, local, data: data.to_vec() };
                if let Role::UdpServer { .. } = role {
                    seen.push(Seen::Answered { local, peer: from });
                }
                seen.push(Seen::Event(ev));
            }
            if !seen.is_empty() && matches!(role, Role::UdpServer { .. }) {
                self.entries[&n].tag = cur_tag;
            }
            out.extend(seen.into_iter().map(|seen| Noticed { n, owner: owner.clone(), tag, role, seen }));
        }
        out
    }
}
