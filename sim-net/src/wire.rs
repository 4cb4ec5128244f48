//! Real bytes for the typed packets of `crate::packet`, through `smoltcp::wire`. Used
//! only at the edges: the smoltcp socket layer (IP datagrams in and out) and pcap
//! capture (Ethernet frames). Every stage of the path works on the typed values.
//!
//! The contract is smoltcp's: [`parse_ipv4`]/[`parse_frame`] never panic on any input
//! (they return a [`WireError`]); [`emit_ipv4`]/[`emit_frame`] never panic when given a
//! buffer of at least [`ipv4_buffer_len`]/[`frame_buffer_len`] bytes. Checksums are
//! always computed on emit (the model stores none, so NAT can never leave a stale one)
//! and verified on parse.
//!
//! What the bytes cannot carry back, on purpose:
//! - an ICMP error quotes the offending IP header and the first 8 bytes of its payload
//!   (RFC 792's minimum; Linux quotes up to 576 bytes in all, see docs/fidelity.md).
//!   Parsing a quote gives ports (TCP, UDP) or identifier and sequence (ICMP echo), with
//!   an empty payload;
//! - a UDP payload is read as VXLAN when the destination port is 8472 (Linux and
//!   flannel) or 4789 (IANA), the I flag is set and the inner frame parses;
//! - TCP options other than MSS, window scale, SACK-permitted and timestamps are
//!   skipped; IP options make a packet unparseable (the model has none).

use smoltcp::wire::{
    ArpOperation, ArpPacket as SArp, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, Icmpv4Packet,
    IpProtocol, Ipv4Packet as SIpv4, TcpOption, TcpPacket, TcpSeqNumber, UdpPacket,
};

use crate::packet::{
    ArpOp, ArpPacket, Frame, FrameBody, Icmp, Ipv4Packet, L4, Mac, TcpFlags, TcpSegment, UdpDatagram,
    UdpPayload, UnreachCode,
};

/// Linux's (and flannel's) VXLAN UDP port, and IANA's.
pub const VXLAN_PORTS: [u16; 2] = [8472, 4789];
const VXLAN_HEADER: usize = 8;
/// An ICMP error quotes the IP header and this many payload bytes.
const QUOTE_PAYLOAD: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated or malformed {0}")]
    Malformed(&'static str),
    #[error("bad {0} checksum")]
    Checksum(&'static str),
    #[error("unsupported {0}")]
    Unsupported(&'static str),
}

type Result<T> = std::result::Result<T, WireError>;

/// Bytes an Ethernet frame takes on the wire (no FCS).
pub fn frame_buffer_len(f: &Frame) -> usize {
    f.wire_len()
}

/// Bytes an IPv4 packet takes.
pub fn ipv4_buffer_len(p: &Ipv4Packet) -> usize {
    p.total_len()
}

/// A frame as a fresh byte vector.
pub fn frame_to_bytes(f: &Frame) -> Vec<u8> {
    let mut b = vec![0u8; frame_buffer_len(f)];
    emit_frame(f, &mut b);
    b
}

/// An IPv4 packet as a fresh byte vector.
pub fn ipv4_to_bytes(p: &Ipv4Packet) -> Vec<u8> {
    let mut b = vec![0u8; ipv4_buffer_len(p)];
    emit_ipv4(p, &mut b);
    b
}

/// Writes `f` into `buf[..frame_buffer_len(f)]`.
pub fn emit_frame(f: &Frame, buf: &mut [u8]) {
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..f.wire_len()]);
    eth.set_src_addr(EthernetAddress(f.src.0));
    eth.set_dst_addr(EthernetAddress(f.dst.0));
    match &f.body {
        FrameBody::Arp(a) => {
            eth.set_ethertype(EthernetProtocol::Arp);
            arp_repr(a).emit(&mut SArp::new_unchecked(eth.payload_mut()));
        }
        FrameBody::Ipv4(p) => {
            eth.set_ethertype(EthernetProtocol::Ipv4);
            emit_ipv4(p, eth.payload_mut());
        }
    }
}

fn arp_repr(a: &ArpPacket) -> ArpRepr {
    ArpRepr::EthernetIpv4 {
        operation: match a.op {
            ArpOp::Request => ArpOperation::Request,
            ArpOp::Reply => ArpOperation::Reply,
        },
        source_hardware_addr: EthernetAddress(a.sender_mac.0),
        source_protocol_addr: a.sender_ip,
        target_hardware_addr: EthernetAddress(a.target_mac.0),
        target_protocol_addr: a.target_ip,
    }
}

/// Writes `p` into `buf[..ipv4_buffer_len(p)]`, checksums included.
pub fn emit_ipv4(p: &Ipv4Packet, buf: &mut [u8]) {
    let total = p.total_len();
    let mut ip = SIpv4::new_unchecked(&mut buf[..total]);
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_dscp(p.tos >> 2);
    ip.set_ecn(p.tos & 3);
    ip.set_total_len(total as u16);
    ip.set_ident(p.ident);
    ip.clear_flags();
    ip.set_dont_frag(p.dont_frag);
    ip.set_frag_offset(0);
    ip.set_hop_limit(p.ttl);
    ip.set_next_header(IpProtocol::from(p.proto().number()));
    ip.set_src_addr(p.src);
    ip.set_dst_addr(p.dst);
    ip.fill_checksum();
    emit_l4(p, ip.payload_mut());
}

fn emit_l4(p: &Ipv4Packet, buf: &mut [u8]) {
    match &p.body {
        L4::Tcp(t) => emit_tcp(p, t, buf),
        L4::Udp(u) => emit_udp(p, u, buf),
        L4::Icmp(i) => emit_icmp(i, buf),
    }
}

fn emit_tcp(p: &Ipv4Packet, t: &TcpSegment, buf: &mut [u8]) {
    let hlen = t.header_len();
    buf[..hlen].fill(0);
    let mut seg = TcpPacket::new_unchecked(&mut buf[..t.wire_len()]);
    seg.set_src_port(t.sport);
    seg.set_dst_port(t.dport);
    seg.set_seq_number(TcpSeqNumber(t.seq as i32));
    seg.set_ack_number(TcpSeqNumber(t.ack as i32));
    seg.set_header_len(hlen as u8);
    let f = t.flags;
    seg.set_fin(f.has(TcpFlags::FIN));
    seg.set_syn(f.has(TcpFlags::SYN));
    seg.set_rst(f.has(TcpFlags::RST));
    seg.set_psh(f.has(TcpFlags::PSH));
    seg.set_ack(f.has(TcpFlags::ACK));
    seg.set_window_len(t.window);
    seg.set_urgent_at(0);
    let mut list = Vec::new();
    if let Some(mss) = t.mss {
        list.push(TcpOption::MaxSegmentSize(mss));
    }
    if t.sack_permitted {
        list.push(TcpOption::SackPermitted);
    }
    if let Some((tsval, tsecr)) = t.timestamp {
        list.push(TcpOption::TimeStamp { tsval, tsecr });
    }
    if let Some(ws) = t.window_scale {
        list.push(TcpOption::NoOperation);
        list.push(TcpOption::WindowScale(ws));
    }
    let mut rest = seg.options_mut();
    for o in list {
        let n = o.buffer_len();
        if rest.len() < n {
            break;
        }
        o.emit(rest);
        rest = &mut rest[n..];
    }
    for b in rest.iter_mut() {
        *b = 0; // end of list / padding
    }
    seg.payload_mut().copy_from_slice(&t.payload);
    seg.fill_checksum(&p.src.into(), &p.dst.into());
}

fn emit_udp(p: &Ipv4Packet, u: &UdpDatagram, buf: &mut [u8]) {
    let mut d = UdpPacket::new_unchecked(&mut buf[..u.wire_len()]);
    d.set_src_port(u.sport);
    d.set_dst_port(u.dport);
    d.set_len(u.wire_len() as u16);
    match &u.payload {
        UdpPayload::Data(data) => d.payload_mut().copy_from_slice(data),
        UdpPayload::Vxlan { vni, inner } => {
            let out = d.payload_mut();
            out[..VXLAN_HEADER].fill(0);
            out[0] = 0x08; // I flag: the VNI is valid (RFC 7348)
            out[4..7].copy_from_slice(&vni.to_be_bytes()[1..4]);
            emit_frame(inner, &mut out[VXLAN_HEADER..]);
        }
    }
    d.fill_checksum(&p.src.into(), &p.dst.into());
}

fn emit_icmp(i: &Icmp, buf: &mut [u8]) {
    let mut m = Icmpv4Packet::new_unchecked(&mut buf[..i.wire_len()]);
    m.set_checksum(0);
    let (ty, code) = match i {
        Icmp::EchoReply { .. } => (0, 0),
        Icmp::DestUnreachable { code, .. } => (3, *code as u8),
        Icmp::EchoRequest { .. } => (8, 0),
        Icmp::TimeExceeded { .. } => (11, 0),
    };
    m.set_msg_type(ty.into());
    m.set_msg_code(code);
    match i {
        Icmp::EchoRequest { ident, seq, data } | Icmp::EchoReply { ident, seq, data } => {
            m.set_echo_ident(*ident);
            m.set_echo_seq_no(*seq);
            m.data_mut().copy_from_slice(data);
        }
        Icmp::DestUnreachable { next_hop_mtu, original, .. } => {
            let mtu = if *code_of(i) == UnreachCode::FragNeeded { *next_hop_mtu } else { 0 };
            let raw = m.into_inner();
            raw[4..6].fill(0);
            raw[6..8].copy_from_slice(&mtu.to_be_bytes());
            quote(original, &mut raw[8..]);
            let mut m = Icmpv4Packet::new_unchecked(raw);
            m.fill_checksum();
            return;
        }
        Icmp::TimeExceeded { original } => {
            let raw = m.into_inner();
            raw[4..8].fill(0);
            quote(original, &mut raw[8..]);
            let mut m = Icmpv4Packet::new_unchecked(raw);
            m.fill_checksum();
            return;
        }
    }
    m.fill_checksum();
}

fn code_of(i: &Icmp) -> &UnreachCode {
    match i {
        Icmp::DestUnreachable { code, .. } => code,
        _ => &UnreachCode::Port,
    }
}

/// The offending packet's header and first 8 payload bytes, zero-padded.
fn quote(original: &Ipv4Packet, out: &mut [u8]) {
    let full = ipv4_to_bytes(original);
    let n = full.len().min(20 + QUOTE_PAYLOAD).min(out.len());
    out[..n].copy_from_slice(&full[..n]);
    out[n..].fill(0);
}

/// Reads an Ethernet frame carrying ARP or IPv4.
pub fn parse_frame(bytes: &[u8]) -> Result<Frame> {
    let eth = EthernetFrame::new_checked(bytes).map_err(|_| WireError::Malformed("ethernet frame"))?;
    let src = Mac(eth.src_addr().0);
    let dst = Mac(eth.dst_addr().0);
    let body = match eth.ethertype() {
        EthernetProtocol::Arp => FrameBody::Arp(parse_arp(eth.payload())?),
        EthernetProtocol::Ipv4 => FrameBody::Ipv4(parse_ipv4(eth.payload())?),
        _ => return Err(WireError::Unsupported("ethertype")),
    };
    Ok(Frame { src, dst, body })
}

fn parse_arp(bytes: &[u8]) -> Result<ArpPacket> {
    let pkt = SArp::new_checked(bytes).map_err(|_| WireError::Malformed("arp"))?;
    match ArpRepr::parse(&pkt).map_err(|_| WireError::Malformed("arp"))? {
        ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } => Ok(ArpPacket {
            op: match operation {
                ArpOperation::Request => ArpOp::Request,
                ArpOperation::Reply => ArpOp::Reply,
                _ => return Err(WireError::Unsupported("arp operation")),
            },
            sender_mac: Mac(source_hardware_addr.0),
            sender_ip: source_protocol_addr,
            target_mac: Mac(target_hardware_addr.0),
            target_ip: target_protocol_addr,
        }),
        _ => Err(WireError::Unsupported("arp hardware")),
    }
}

/// Reads an IPv4 datagram (20-byte header, not fragmented) with its transport header.
pub fn parse_ipv4(bytes: &[u8]) -> Result<Ipv4Packet> {
    let ip = SIpv4::new_checked(bytes).map_err(|_| WireError::Malformed("ipv4 header"))?;
    if ip.version() != 4 || ip.header_len() != 20 {
        return Err(WireError::Unsupported("ipv4 header (options or version)"));
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(WireError::Unsupported("ipv4 fragment"));
    }
    if !ip.verify_checksum() {
        return Err(WireError::Checksum("ipv4"));
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let payload = ip.payload();
    let body = match ip.next_header() {
        IpProtocol::Tcp => L4::Tcp(parse_tcp(payload, src, dst)?),
        IpProtocol::Udp => L4::Udp(parse_udp(payload, src, dst)?),
        IpProtocol::Icmp => L4::Icmp(parse_icmp(payload)?),
        _ => return Err(WireError::Unsupported("ip protocol")),
    };
    Ok(Ipv4Packet {
        src,
        dst,
        ttl: ip.hop_limit(),
        ident: ip.ident(),
        dont_frag: ip.dont_frag(),
        tos: (ip.dscp() << 2) | ip.ecn(),
        body,
    })
}

fn parse_tcp(bytes: &[u8], src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr) -> Result<TcpSegment> {
    let seg = TcpPacket::new_checked(bytes).map_err(|_| WireError::Malformed("tcp header"))?;
    if !seg.verify_checksum(&src.into(), &dst.into()) {
        return Err(WireError::Checksum("tcp"));
    }
    let mut t = tcp_ports_and_flags(&seg);
    let mut opts = seg.options();
    while !opts.is_empty() {
        let (rest, opt) = TcpOption::parse(opts).map_err(|_| WireError::Malformed("tcp option"))?;
        match opt {
            TcpOption::EndOfList => break,
            TcpOption::MaxSegmentSize(m) => t.mss = Some(m),
            TcpOption::WindowScale(w) => t.window_scale = Some(w),
            TcpOption::SackPermitted => t.sack_permitted = true,
            TcpOption::TimeStamp { tsval, tsecr } => t.timestamp = Some((tsval, tsecr)),
            _ => {}
        }
        opts = rest;
    }
    t.payload = seg.payload().to_vec();
    Ok(t)
}

fn tcp_ports_and_flags<T: AsRef<[u8]>>(seg: &TcpPacket<T>) -> TcpSegment {
    let mut flags = TcpFlags::default();
    for (on, f) in [
        (seg.fin(), TcpFlags::FIN),
        (seg.syn(), TcpFlags::SYN),
        (seg.rst(), TcpFlags::RST),
        (seg.psh(), TcpFlags::PSH),
        (seg.ack(), TcpFlags::ACK),
    ] {
        if on {
            flags = flags.with(f);
        }
    }
    TcpSegment {
        sport: seg.src_port(),
        dport: seg.dst_port(),
        seq: seg.seq_number().0 as u32,
        ack: seg.ack_number().0 as u32,
        flags,
        window: seg.window_len(),
        ..TcpSegment::default()
    }
}

fn parse_udp(bytes: &[u8], src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr) -> Result<UdpDatagram> {
    let d = UdpPacket::new_checked(bytes).map_err(|_| WireError::Malformed("udp header"))?;
    if !d.verify_checksum(&src.into(), &dst.into()) {
        return Err(WireError::Checksum("udp"));
    }
    let data = d.payload();
    let payload = match vxlan(d.dst_port(), data) {
        Some(v) => v,
        None => UdpPayload::Data(data.to_vec()),
    };
    Ok(UdpDatagram { sport: d.src_port(), dport: d.dst_port(), payload })
}

fn vxlan(dport: u16, data: &[u8]) -> Option<UdpPayload> {
    if !VXLAN_PORTS.contains(&dport) || data.len() < VXLAN_HEADER || data[0] & 0x08 == 0 {
        return None;
    }
    let vni = u32::from_be_bytes([0, data[4], data[5], data[6]]);
    let inner = parse_frame(&data[VXLAN_HEADER..]).ok()?;
    Some(UdpPayload::Vxlan { vni, inner: Box::new(inner) })
}

fn parse_icmp(bytes: &[u8]) -> Result<Icmp> {
    let m = Icmpv4Packet::new_checked(bytes).map_err(|_| WireError::Malformed("icmp header"))?;
    if !m.verify_checksum() {
        return Err(WireError::Checksum("icmp"));
    }
    let raw = m.into_inner();
    match (raw[0], raw[1]) {
        (0, _) | (8, _) => {
            let (ident, seq) = (u16::from_be_bytes([raw[4], raw[5]]), u16::from_be_bytes([raw[6], raw[7]]));
            let data = raw[8..].to_vec();
            Ok(if raw[0] == 0 {
                Icmp::EchoReply { ident, seq, data }
            } else {
                Icmp::EchoRequest { ident, seq, data }
            })
        }
        (3, code) => {
            let code = UnreachCode::from_code(code).ok_or(WireError::Unsupported("icmp unreachable code"))?;
            let next_hop_mtu = u16::from_be_bytes([raw[6], raw[7]]);
            Ok(Icmp::DestUnreachable { code, next_hop_mtu, original: Box::new(parse_quote(&raw[8..])?) })
        }
        (11, 0) => Ok(Icmp::TimeExceeded { original: Box::new(parse_quote(&raw[8..])?) }),
        _ => Err(WireError::Unsupported("icmp type")),
    }
}

/// The quoted header plus at least 8 bytes of the transport header, leniently: the
/// quoted packet's own lengths and checksums are not checked.
fn parse_quote(bytes: &[u8]) -> Result<Ipv4Packet> {
    if bytes.len() < 20 + QUOTE_PAYLOAD {
        return Err(WireError::Malformed("icmp quote"));
    }
    let ip = SIpv4::new_unchecked(&bytes[..20]);
    if ip.version() != 4 || ip.header_len() != 20 {
        return Err(WireError::Unsupported("quoted ipv4 header"));
    }
    let l4 = &bytes[20..20 + QUOTE_PAYLOAD];
    let ports = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
    let body = match ip.next_header() {
        IpProtocol::Tcp => L4::Tcp(TcpSegment {
            sport: ports.0,
            dport: ports.1,
            seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
            ..TcpSegment::default()
        }),
        IpProtocol::Udp => {
            L4::Udp(UdpDatagram { sport: ports.0, dport: ports.1, payload: UdpPayload::Data(vec![]) })
        }
        IpProtocol::Icmp => {
            let (ident, seq) = (u16::from_be_bytes([l4[4], l4[5]]), u16::from_be_bytes([l4[6], l4[7]]));
            match l4[0] {
                0 => L4::Icmp(Icmp::EchoReply { ident, seq, data: vec![] }),
                8 => L4::Icmp(Icmp::EchoRequest { ident, seq, data: vec![] }),
                _ => return Err(WireError::Unsupported("quoted icmp")),
            }
        }
        _ => return Err(WireError::Unsupported("quoted protocol")),
    };
    Ok(Ipv4Packet {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        ttl: ip.hop_limit(),
        ident: ip.ident(),
        dont_frag: ip.dont_frag(),
        tos: (ip.dscp() << 2) | ip.ecn(),
        body,
    })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
