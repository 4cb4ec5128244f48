//! The source port of a TCP `connect(2)` that did not `bind` first, chosen the way
//! Linux's `__inet_hash_connect` does (RFC 6056 algorithm 4, "double-hash"):
//!
//! - a 64-bit offset hashes (source address, destination address, destination port)
//!   with a secret (`inet_sk_port_offset` → `secure_ipv4_port_ephemeral`, SipHash);
//! - its low 16 bits pick a slot of a perturbation table (`table_perturb`, 65536
//!   random `u32`s); the slot's value plus the offset's high 32 bits, modulo the size of
//!   `ip_local_port_range`, is where the scan starts;
//! - the scan walks ports of the range's low parity first (even ports: `connect`
//!   prefers them, `bind(0)` the odd ones), then the other parity, skipping a port held
//!   by a `bind`/listening socket and a port whose 4-tuple to this destination is in use;
//! - after a success the slot advances by the ports skipped (at least a random 0..7)
//!   plus one step, so the next connection to the same destination starts further on.
//!
//! Successive connections to one destination therefore walk the range instead of
//! landing at random, and a 4-tuple comes back only after the whole range is used:
//! that is what keeps a client from reusing a port the server still holds in
//! TIME_WAIT. The secret and the table come from the namespace's seeded stream (Linux
//! draws them once per boot); the table is materialised lazily, one slot at a time.

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::net::Ipv4Addr;

use super::EPHEMERAL_PORTS;

/// `INET_TABLE_PERTURB_SIZE` (`CONFIG_INET_TABLE_PERTURB_ORDER` = 16).
const PERTURB_SLOTS: u64 = 1 << 16;

/// One namespace's connect-port state: secrets and the slots touched so far.
#[derive(Debug)]
pub(crate) struct ConnectPorts {
    /// `net_secret` (SipHash key).
    secret: (u64, u64),
    /// Key whose hash of a slot index is the slot's initial random value.
    table_key: (u64, u64),
    /// Slots that have advanced (the others still hold their initial value).
    slots: BTreeMap<u16, u32>,
}

#[allow(deprecated)] // std's SipHasher is SipHash-2-4, the function Linux uses; stable output.
fn siphash(key: (u64, u64), words: &[u32]) -> u64 {
    let mut h = std::hash::SipHasher::new_with_keys(key.0, key.1);
    for w in words {
        h.write_u32(*w);
    }
    h.finish()
}

impl ConnectPorts {
    /// Fresh state from four random words of the namespace's stream.
    pub(crate) fn new(words: [u64; 4]) -> Self {
        ConnectPorts { secret: (words[0], words[1]), table_key: (words[2], words[3]), slots: BTreeMap::new() }
    }

    fn slot(&self, index: u16) -> u32 {
        self.slots.get(&index).copied().unwrap_or_else(|| siphash(self.table_key, &[u32::from(index)]) as u32)
    }

    /// The port for a connection from `src` to `dst:dport`. `taken(port)` says whether a
    /// port is unusable (listener, or the same 4-tuple in use); `jitter` is a random
    /// number below 8 (`get_random_u32_below(8)`). `None`: every port is taken
    /// (EADDRNOTAVAIL).
    pub(crate) fn pick(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        dport: u16,
        taken: impl Fn(u16) -> bool,
        jitter: u32,
    ) -> Option<u16> {
        let (low, high) = (u32::from(EPHEMERAL_PORTS.0), u32::from(EPHEMERAL_PORTS.1) + 1);
        let step = 2u32;
        let mut remaining = high - low;
        if remaining > 1 {
            remaining &= !1;
        }
        let port_offset = siphash(self.secret, &[u32::from(src), u32::from(dst), u32::from(dport)]);
        let index = (port_offset & (PERTURB_SLOTS - 1)) as u16;
        let mut offset = self.slot(index).wrapping_add((port_offset >> 32) as u32) % remaining;
        offset &= !1;
        loop {
            let mut port = low + offset;
            let mut i = 0;
            while i < remaining {
                if port >= high {
                    port -= remaining;
                }
                if !taken(port as u16) {
                    let advance = i.max(jitter * step) + step;
                    self.slots.insert(index, self.slot(index).wrapping_add(advance));
                    return Some(port as u16);
                }
                i += step;
                port += step;
            }
            offset += 1;
            if offset & 1 == 0 || remaining <= 1 {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn successive_connects_walk_the_range_on_even_ports() {
        let mut c = ConnectPorts::new([1, 2, 3, 4]);
        let mut last = None;
        for j in 0..100u32 {
            let p = c.pick(a("10.244.0.2"), a("10.244.1.2"), 80, |_| false, j % 8).unwrap();
            assert_eq!(p % 2, 0, "connect prefers even ports");
            assert!((32768..=60999).contains(&p));
            if let Some(l) = last {
                // The slot advances by 2..=16: the next port is 2..=16 further (mod range).
                let d = (u32::from(p) + 28232 - u32::from(l)) % 28232;
                assert!((2..=16).contains(&d), "{l} -> {p}");
            }
            last = Some(p);
        }
    }

    #[test]
    fn destinations_and_secrets_pick_different_starts() {
        let mut c = ConnectPorts::new([1, 2, 3, 4]);
        let p80 = c.pick(a("10.0.0.1"), a("10.0.0.2"), 80, |_| false, 0).unwrap();
        let p81 = c.pick(a("10.0.0.1"), a("10.0.0.2"), 81, |_| false, 0).unwrap();
        assert_ne!(p80, p81);
        let mut d = ConnectPorts::new([5, 6, 7, 8]);
        assert_ne!(d.pick(a("10.0.0.1"), a("10.0.0.2"), 80, |_| false, 0).unwrap(), p80);
    }

    #[test]
    fn taken_ports_are_skipped_and_odd_ports_are_the_fallback() {
        let mut c = ConnectPorts::new([1, 2, 3, 4]);
        let p = c.pick(a("10.0.0.1"), a("10.0.0.2"), 80, |p| p % 2 == 0, 0).unwrap();
        assert_eq!(p % 2, 1, "every even port taken: the odd scan finds one");
        assert_eq!(c.pick(a("10.0.0.1"), a("10.0.0.2"), 80, |_| true, 0), None);
    }
}
