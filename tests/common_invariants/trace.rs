//! Reading a probe's trace: the addresses in each hop's tcpdump-like `packet` text, and
//! the two *phases* whose packet is alone in flight, so that every hop of a phase must
//! show that one packet: the request (from the first `send` to its `deliver` in the
//! target) and the answer (from the target's next `send` to its `deliver` in the
//! client). Later packets of a flow (a TCP connection's ACKs, data, FINs) may overlap in
//! time, so for them only the flow's two address tuples are allowed.
//!
//! The packet text grammar (sim-net `Display` impls): an optional Ethernet prefix
//! `MAC > MAC, `, then `ARP, …` or an IPv4 header `SRC > DST: …` where SRC/DST are
//! `A.B.C.D` (ICMP) or `A.B.C.D.PORT` (TCP/UDP). A VXLAN packet shows its inner frame
//! after ` | ` (`… VXLAN, vni 1 | MAC > MAC, SRC > DST: …`); the innermost header is the
//! one the pods exchange, so that is the one read. Text that fits none of these is an
//! error, never silently skipped.

use std::fmt;
use std::net::Ipv4Addr;

use sim_net::hop::{Hop, Step};

/// The addresses of one IPv4 header, ports for TCP/UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addrs {
    pub src: Ipv4Addr,
    pub sport: Option<u16>,
    pub dst: Ipv4Addr,
    pub dport: Option<u16>,
}

impl Addrs {
    pub fn reversed(self) -> Addrs {
        Addrs { src: self.dst, sport: self.dport, dst: self.src, dport: self.sport }
    }
}

impl fmt::Display for Addrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |ip: Ipv4Addr, port: Option<u16>| match port {
            Some(p) => format!("{ip}.{p}"),
            None => ip.to_string(),
        };
        write!(f, "{} > {}", end(self.src, self.sport), end(self.dst, self.dport))
    }
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn endpoint(s: &str) -> Option<(Ipv4Addr, Option<u16>)> {
    let parts: Vec<&str> = s.split('.').collect();
    let ip = parts.get(..4)?.join(".").parse().ok()?;
    match parts.len() {
        4 => Some((ip, None)),
        5 => Some((ip, Some(parts[4].parse().ok()?))),
        _ => None,
    }
}

/// The innermost IPv4 addresses in a hop's packet text; `None` for no packet or ARP.
pub fn parse_packet(text: &str) -> Result<Option<Addrs>, String> {
    let bad = || format!("cannot read the addresses in packet text {text:?}");
    if text.is_empty() {
        return Ok(None);
    }
    let inner = text.rsplit(" | ").next().unwrap_or(text);
    let rest = match inner.split_once(", ") {
        Some((head, rest)) if head.split_once(" > ").is_some_and(|(a, b)| is_mac(a) && is_mac(b)) => rest,
        _ => inner,
    };
    if rest.starts_with("ARP") {
        return Ok(None);
    }
    let (header, _) = rest.split_once(": ").ok_or_else(bad)?;
    let (a, b) = header.split_once(" > ").ok_or_else(bad)?;
    let ((src, sport), (dst, dport)) = (endpoint(a).ok_or_else(bad)?, endpoint(b).ok_or_else(bad)?);
    Ok(Some(Addrs { src, sport, dst, dport }))
}

/// The hops of one packet that is alone in flight, with the addresses it was sent with.
pub struct Phase<'a> {
    pub sent: Addrs,
    pub hops: &'a [Hop],
}

/// From the probe's first hop (its `send`) to the request's `deliver` in `target`.
pub fn request_phase<'a>(hops: &'a [Hop], target: &str) -> Result<Phase<'a>, String> {
    let first = hops.first().ok_or("the probe left no trace")?;
    if first.step != Step::Send {
        return Err(format!("the trace does not start with a send: {}", first.line()));
    }
    let sent = parse_packet(&first.packet)?.ok_or_else(|| format!("send without IPv4: {}", first.line()))?;
    // The destination is matched, not the source: a masqueraded request still ends here.
    let to_dst = |h: &Hop| matches!(parse_packet(&h.packet), Ok(Some(a)) if (a.dst, a.dport) == (sent.dst, sent.dport));
    let end = hops
        .iter()
        .position(|h| h.step == Step::Deliver && h.netns == target && to_dst(h))
        .ok_or(format!("the request {sent} never reached {target}'s stack"))?;
    Ok(Phase { sent, hops: &hops[..=end] })
}

/// After the request phase (`after` hops), from the next `send` in `target` to the first
/// `deliver` in `client`: the answer (echo reply, SYN-ACK, RST, ICMP error, datagram).
pub fn answer_phase<'a>(
    hops: &'a [Hop],
    after: usize,
    target: &str,
    client: &str,
) -> Result<Phase<'a>, String> {
    let rest = &hops[after..];
    let start = rest
        .iter()
        .position(|h| h.step == Step::Send && h.netns == target)
        .ok_or(format!("{target} sent nothing back"))?;
    let sent = parse_packet(&rest[start].packet)?
        .ok_or_else(|| format!("send without IPv4: {}", rest[start].line()))?;
    let end = rest[start..]
        .iter()
        .position(|h| h.step == Step::Deliver && h.netns == client)
        .ok_or(format!("the answer {sent} never reached the client in {client}"))?;
    Ok(Phase { sent, hops: &rest[start..=start + end] })
}

/// Every hop of the probe that shows an IPv4 header shows one of `allowed`.
pub fn only_tuples(hops: &[Hop], allowed: &[Addrs]) -> Result<(), String> {
    for h in hops {
        if let Some(a) = parse_packet(&h.packet)?
            && !allowed.contains(&a)
        {
            let list: Vec<String> = allowed.iter().map(Addrs::to_string).collect();
            return Err(format!(
                "a packet of this flow shows {a}, not one of [{}]:\n{}",
                list.join(", "),
                h.line()
            ));
        }
    }
    Ok(())
}

/// Linux `net.ipv4.ip_default_ttl`: the TTL every stack in a generated cluster sends with.
pub const DEFAULT_TTL: u8 = 64;

/// No hop of the phase changed the sent packet's addresses or ports, none is a NAT step,
/// and each router it crossed took exactly one off its TTL (`forward` hops read
/// `ttl A->B`: the first starts at the default TTL, each next one where the last ended).
pub fn phase_unchanged(phase: &Phase<'_>) -> Result<(), String> {
    let mut ttl = DEFAULT_TTL;
    for h in phase.hops {
        if h.step == Step::Forward {
            let (a, b) = forward_ttl(&h.detail).ok_or_else(|| format!("no `ttl A->B` in:\n{}", h.line()))?;
            if a != ttl || b != a.wrapping_sub(1) {
                return Err(format!(
                    "the packet arrived with TTL {a} (expected {ttl}) and left with {b}:\n{}",
                    h.line()
                ));
            }
            ttl = b;
        }
        if h.before.is_some() {
            return Err(format!("a hop rewrote the packet sent as {}:\n{}", phase.sent, h.line()));
        }
        if let Some(a) = parse_packet(&h.packet)?
            && a != phase.sent
        {
            return Err(format!("the packet sent as {} became {a} at:\n{}", phase.sent, h.line()));
        }
    }
    Ok(())
}

/// `ttl 64->63` in a `forward` hop's detail.
fn forward_ttl(detail: &str) -> Option<(u8, u8)> {
    let (a, b) = detail.strip_prefix("ttl ")?.split_once("->")?;
    Some((a.parse().ok()?, b.split_whitespace().next()?.parse().ok()?))
}

pub fn render(hops: &[Hop]) -> String {
    hops.iter().map(|h| format!("    {}\n", h.line())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn packet_texts_parse_to_their_innermost_addresses() {
        let icmp =
            "76:02:32:4b:d9:1b > 9e:78:a2:25:79:98, 10.244.0.2 > 10.244.0.3: ICMP echo request, id 1, seq 1";
        let got = parse_packet(icmp).unwrap().unwrap();
        assert_eq!(got, Addrs { src: a("10.244.0.2"), sport: None, dst: a("10.244.0.3"), dport: None });
        let tcp = "10.244.0.2.44652 > 10.244.1.2.80: Flags [S], seq 1, win 64240";
        let got = parse_packet(tcp).unwrap().unwrap();
        assert_eq!((got.sport, got.dport), (Some(44652), Some(80)));
        let vxlan = "aa:aa:aa:aa:aa:aa > bb:bb:bb:bb:bb:bb, 192.168.1.11.5000 > 192.168.1.12.4789: VXLAN, vni 1 \
                     | cc:cc:cc:cc:cc:cc > dd:dd:dd:dd:dd:dd, 10.244.0.2 > 10.244.1.2: ICMP echo request, id 1, seq 1";
        assert_eq!(parse_packet(vxlan).unwrap().unwrap().src, a("10.244.0.2"));
        let arp = "76:02:32:4b:d9:1b > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.244.0.3 tell 10.244.0.2";
        assert_eq!(parse_packet(arp).unwrap(), None);
        assert_eq!(parse_packet("").unwrap(), None);
        let err = "10.244.1.2 > 10.244.0.2: ICMP 10.244.1.2 udp port 9 unreachable";
        assert_eq!(parse_packet(err).unwrap().unwrap().dst, a("10.244.0.2"));
        assert!(parse_packet("something else").is_err());
        assert!(parse_packet("10.244.0 > 10.244.0.3: x").is_err());
        assert_eq!(forward_ttl("ttl 64->63"), Some((64, 63)));
        assert_eq!(forward_ttl("fdb hit"), None);
    }
}
