//! Round trips with fixed values, and the parse/emit contract under proptest.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

fn syn() -> Ipv4Packet {
    let seg = TcpSegment {
        sport: 40000,
        dport: 80,
        seq: 0xdead_beef,
        flags: TcpFlags::SYN,
        window: 64240,
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        ..TcpSegment::default()
    };
    Ipv4Packet::new(Ipv4Addr::new(10, 244, 0, 2), Ipv4Addr::new(10, 244, 1, 2), L4::Tcp(seg))
}

#[test]
fn a_tcp_syn_round_trips_with_its_options() {
    let p = syn();
    let bytes = ipv4_to_bytes(&p);
    assert_eq!(bytes.len(), 20 + 32);
    assert_eq!(&bytes[..4], &[0x45, 0, 0, 52]);
    assert_eq!(parse_ipv4(&bytes).unwrap(), p);
}

#[test]
fn a_corrupted_byte_is_a_checksum_error() {
    let mut bytes = ipv4_to_bytes(&syn());
    bytes[30] ^= 0xff;
    assert_eq!(parse_ipv4(&bytes), Err(WireError::Checksum("tcp")));
}

#[test]
fn vxlan_has_the_i_flag_and_a_24_bit_vni_and_round_trips() {
    let inner =
        Frame { src: Mac([2, 0, 0, 0, 0, 1]), dst: Mac([2, 0, 0, 0, 0, 2]), body: FrameBody::Ipv4(syn()) };
    let outer = Ipv4Packet::new(
        Ipv4Addr::new(192, 168, 1, 11),
        Ipv4Addr::new(192, 168, 1, 12),
        L4::Udp(UdpDatagram {
            sport: 40001,
            dport: 8472,
            payload: UdpPayload::Vxlan { vni: 0x010203, inner: Box::new(inner) },
        }),
    );
    let bytes = ipv4_to_bytes(&outer);
    assert_eq!(&bytes[28..36], &[0x08, 0, 0, 0, 1, 2, 3, 0]);
    assert_eq!(parse_ipv4(&bytes).unwrap(), outer);
}

#[test]
fn an_icmp_port_unreachable_quotes_header_and_ports() {
    let udp = Ipv4Packet::new(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        L4::Udp(UdpDatagram { sport: 5000, dport: 53, payload: UdpPayload::Data(b"hello".to_vec()) }),
    );
    let icmp = Icmp::DestUnreachable { code: UnreachCode::Port, next_hop_mtu: 0, original: Box::new(udp) };
    let p = Ipv4Packet::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), L4::Icmp(icmp));
    let bytes = ipv4_to_bytes(&p);
    assert_eq!(bytes.len(), 20 + 8 + 28);
    let back = parse_ipv4(&bytes).unwrap();
    let L4::Icmp(Icmp::DestUnreachable { code, original, .. }) = back.body else { panic!("{back:?}") };
    assert_eq!(code, UnreachCode::Port);
    assert_eq!(original.ports(), (5000, 53));
}

#[test]
fn an_arp_frame_round_trips() {
    let f = Frame {
        src: Mac([2, 0, 0, 0, 0, 1]),
        dst: Mac::BROADCAST,
        body: FrameBody::Arp(ArpPacket {
            op: ArpOp::Request,
            sender_mac: Mac([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: Mac::ZERO,
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        }),
    };
    assert_eq!(parse_frame(&frame_to_bytes(&f)).unwrap(), f);
}

fn arb_tcp() -> impl Strategy<Value = L4> {
    (
        any::<(u16, u16, u32, u32, u8, u16)>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(0u8..15),
        any::<bool>(),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|((sport, dport, seq, ack, flags, window), mss, ws, sack, ts, payload)| {
            L4::Tcp(TcpSegment {
                sport,
                dport,
                seq,
                ack,
                flags: TcpFlags(flags & 0x1f),
                window,
                mss,
                window_scale: ws,
                sack_permitted: sack,
                timestamp: ts,
                payload,
            })
        })
}

fn arb_l4() -> impl Strategy<Value = L4> {
    prop_oneof![
        arb_tcp(),
        (any::<(u16, u16)>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|((s, d), data)| {
            L4::Udp(UdpDatagram { sport: s, dport: d, payload: UdpPayload::Data(data) })
        }),
        (any::<(u16, u16)>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|((ident, seq), data)| L4::Icmp(Icmp::EchoRequest { ident, seq, data })),
    ]
}

fn arb_packet() -> impl Strategy<Value = Ipv4Packet> {
    (any::<(u32, u32, u8, u16, bool, u8)>(), arb_l4()).prop_map(|((s, d, ttl, ident, df, tos), body)| {
        Ipv4Packet { src: s.into(), dst: d.into(), ttl, ident, dont_frag: df, tos, body }
    })
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_ipv4(&bytes);
        let _ = parse_frame(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_valid_packets(p in arb_packet(), i in any::<usize>(), x in any::<u8>(), cut in any::<usize>()) {
        let mut bytes = ipv4_to_bytes(&p);
        let n = bytes.len();
        bytes[i % n] ^= x;
        bytes.truncate(cut % (n + 1));
        let _ = parse_ipv4(&bytes);
    }

    #[test]
    fn emit_then_parse_gives_the_packet_back(p in arb_packet()) {
        let bytes = ipv4_to_bytes(&p);
        prop_assert_eq!(bytes.len(), ipv4_buffer_len(&p));
        // Port 8472/4789 payloads may look like VXLAN; everything else must round-trip.
        if let L4::Udp(u) = &p.body && VXLAN_PORTS.contains(&u.dport) {
            return Ok(());
        }
        prop_assert_eq!(parse_ipv4(&bytes).unwrap(), p);
    }
}
