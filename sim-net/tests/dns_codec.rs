//! The DNS codec: any bytes decode without panicking (a UDP payload to port 53 is user
//! input, rendered by the trace), and every message it builds decodes back to itself.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use sim_net::packet::dns::{self, Message, RData, Record, Tcpdump};

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?"
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..6).prop_map(|ls| format!("{}.", ls.join(".")))
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::decode(&bytes) {
            let _ = Tcpdump(&m, bytes.len()).to_string();
        }
    }

    #[test]
    fn built_messages_round_trip(id in any::<u16>(), q in name(), ips in prop::collection::vec(any::<u32>(), 0..4), rcode in 0u8..6, aa in any::<bool>()) {
        let mut m = Message::query(id, &q, dns::TYPE_A);
        m.flags.response = true;
        m.flags.authoritative = aa;
        m.flags.rcode = rcode;
        m.answers = ips.iter().map(|ip| Record {
            name: q.clone(), rtype: dns::TYPE_A, class: dns::CLASS_IN, ttl: 30, data: RData::A(Ipv4Addr::from(*ip)),
        }).collect();
        let bytes = m.encode();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }
}
