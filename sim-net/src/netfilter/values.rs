//! Parsers for the values inside iptables options: addresses and CIDRs, ports and port
//! ranges, marks (`value[/mask]`, C `strtoul` base 0 like libxtables), NAT ranges and
//! probabilities. Each returns a short description of what was expected on failure.
//!
//! Deviation: host names are not resolved (iptables would ask DNS), and port names
//! are resolved only from [`super::matches::SERVICE_PORTS`], not /etc/services.

use std::net::Ipv4Addr;

use super::matches::SERVICE_PORTS;
use super::rule::{AddrMask, NatRange, PortRange};

pub type ValueResult<T> = Result<T, String>;

/// `a.b.c.d`, `a.b.c.d/len` or `a.b.c.d/m.a.s.k` (a dotted mask need not be
/// contiguous: iptables-nft 1.8.9 loads `10.1.2.3/255.0.255.0`); host bits are masked
/// off as iptables does (`10.244.1.5/24` becomes `10.244.1.0/24`).
pub fn cidr(s: &str) -> ValueResult<AddrMask> {
    let (addr, mask) = addr_mask(s)?;
    Ok(AddrMask::new(addr, mask))
}

/// Like [`cidr`] but keeping the host bits, as libxt_conntrack does for
/// `--ctorigsrc` and friends (the kernel compares under the mask).
pub fn cidr_keep_host(s: &str) -> ValueResult<AddrMask> {
    let (addr, mask) = addr_mask(s)?;
    Ok(AddrMask::unmasked(addr, mask))
}

fn addr_mask(s: &str) -> ValueResult<(Ipv4Addr, u32)> {
    let (addr, mask) = match s.split_once('/') {
        None => (s, u32::MAX),
        Some((a, m)) => (a, mask(m)?),
    };
    Ok((ipv4(addr)?, mask))
}

fn mask(m: &str) -> ValueResult<u32> {
    if m.contains('.') {
        return Ok(u32::from(ipv4(m)?));
    }
    match m.parse::<u8>() {
        Ok(0) if !m.starts_with('+') => Ok(0),
        Ok(n) if n <= 32 && !m.starts_with('+') => Ok(u32::MAX << (32 - n)),
        _ => Err(format!("invalid mask `{m}' specified")),
    }
}

/// A dotted-quad IPv4 address (host names are not resolved in the model).
pub fn ipv4(s: &str) -> ValueResult<Ipv4Addr> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| format!("host/network `{s}' not found (expected a dotted-quad IPv4 address)"))
}

/// One port: a number 0-65535 or a well-known service name.
pub fn port(s: &str) -> ValueResult<u16> {
    if let Ok(p) = s.parse::<u16>() {
        return Ok(p);
    }
    SERVICE_PORTS
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("invalid port/service `{s}' specified (expected 0-65535)"))
}

/// `p`, `lo:hi`, `lo:` or `:hi` as the tcp/udp/multiport matches accept them.
pub fn port_range(s: &str, sep: char) -> ValueResult<PortRange> {
    let Some((a, b)) = s.split_once(sep) else {
        return port(s).map(PortRange::single);
    };
    let lo = if a.is_empty() { 0 } else { port(a)? };
    let hi = if b.is_empty() { 65535 } else { port(b)? };
    if lo > hi {
        return Err(format!("invalid portrange `{s}' specified (min > max)"));
    }
    Ok(PortRange { lo, hi })
}

/// Comma-separated multiport list; at most 15 entries, a range counting twice.
pub fn port_list(s: &str) -> ValueResult<Vec<PortRange>> {
    let ports = s.split(',').map(|p| port_range(p, ':')).collect::<ValueResult<Vec<_>>>()?;
    let slots: usize = ports.iter().map(|p| if p.lo == p.hi { 1 } else { 2 }).sum();
    if slots > 15 {
        return Err("too many ports specified (multiport allows 15, a range counts as 2)".into());
    }
    Ok(ports)
}

/// An unsigned number the way C `strtoul(s, NULL, 0)` reads it: `0x` hex, leading `0`
/// octal, else decimal.
pub fn number_u32(s: &str) -> ValueResult<u32> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8)
    } else {
        s.parse::<u32>()
    };
    r.map_err(|_| format!("bad value `{s}' (expected a 32-bit number, decimal or 0x hex)"))
}

/// `value[/mask]`; the mask defaults to 0xffffffff.
pub fn mark_mask(s: &str) -> ValueResult<(u32, u32)> {
    match s.split_once('/') {
        None => Ok((number_u32(s)?, u32::MAX)),
        Some((v, m)) => Ok((number_u32(v)?, number_u32(m)?)),
    }
}

/// A decimal number in `0..=max`.
pub fn bounded(s: &str, max: u32) -> ValueResult<u32> {
    match s.parse::<u32>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(format!("bad value `{s}' (expected 0-{max})")),
    }
}

/// `--probability p`, 0 <= p <= 1, stored as libxt_statistic does.
pub fn probability(s: &str) -> ValueResult<f64> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) && !s.contains(['e', 'E', 'n', 'N', 'i', 'I']) => Ok(p),
        _ => Err(format!("bad value `{s}' for option \"--probability\", or out of range (0-1)")),
    }
}

/// `ip[-ip][:port[-port]]` of `--to-destination`/`--to-source`.
pub fn nat_range(s: &str) -> ValueResult<NatRange> {
    let (ips, ports) = match s.split_once(':') {
        None => (s, None),
        Some((a, p)) => (a, Some(port_range(p, '-')?)),
    };
    let (min_ip, max_ip) = match ips.split_once('-') {
        None => (ipv4(ips)?, ipv4(ips)?),
        Some((a, b)) => (ipv4(a)?, ipv4(b)?),
    };
    if u32::from(min_ip) > u32::from(max_ip) {
        return Err(format!("bad IP range `{ips}' (min > max)"));
    }
    Ok(NatRange { min_ip, max_ip, ports })
}

/// Interface names: at most 15 characters (IFNAMSIZ - 1), no `/` or whitespace.
pub fn iface(s: &str) -> ValueResult<String> {
    if s.is_empty() || s.len() > 15 || s.contains(['/', ' ', '\t']) {
        return Err(format!("interface name `{s}' must be 1-15 characters without '/' or spaces"));
    }
    Ok(s.to_string())
}

/// Syslog level by number or name (`--log-level`).
pub fn log_level(s: &str) -> ValueResult<u8> {
    const NAMES: [&str; 8] = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"];
    if let Some(i) = NAMES.iter().position(|n| *n == s) {
        return Ok(i as u8);
    }
    match s {
        "panic" => Ok(0),
        "err" => Ok(3),
        "warn" => Ok(4),
        _ => bounded(s, 7)
            .map(|v| v as u8)
            .map_err(|_| format!("log level `{s}' unknown (0-7 or emerg..debug)")),
    }
}
