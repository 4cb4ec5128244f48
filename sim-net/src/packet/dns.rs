//! DNS messages (RFC 1035) as bytes: the subset a cluster's resolver and CoreDNS
//! exchange — header, questions, and A / SOA / other records kept as raw data — with
//! tcpdump's one-line rendering (print-domain.c, default verbosity).
//!
//! A small codec of our own rather than a crate: the simulator needs exact control of
//! the bytes (their length is printed by tcpdump, checked against real captures) and
//! only these few record types; decoding follows compression pointers (any sender may
//! use them), encoding writes names in full, as CoreDNS does for replies that fit (miekg/dns
//! only compresses when a reply would not fit the requester's buffer).

use std::fmt;
use std::net::Ipv4Addr;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const CLASS_IN: u16 = 1;

/// Response codes by number (RFC 1035 4.1.1).
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;

/// The header flags that matter here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub response: bool,
    pub opcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    pub rcode: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Absolute, lower case as sent, with the final dot: `web.default.svc.cluster.local.`.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    /// Any other type, uninterpreted.
    Raw(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub flags: Flags,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

/// Why bytes are not a DNS message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message truncated")]
    Truncated,
    #[error("bad name at offset {0}")]
    BadName(usize),
}

impl Message {
    /// A standard query for `name` (absolute), recursion desired, as a stub resolver sends.
    pub fn query(id: u16, name: &str, qtype: u16) -> Message {
        Message {
            id,
            flags: Flags { recursion_desired: true, ..Flags::default() },
            questions: vec![Question { name: absolute(name), qtype, qclass: CLASS_IN }],
            ..Message::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let f = &self.flags;
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.id.to_be_bytes());
        let hi = (u8::from(f.response) << 7)
            | ((f.opcode & 0xf) << 3)
            | (u8::from(f.authoritative) << 2)
            | (u8::from(f.truncated) << 1)
            | u8::from(f.recursion_desired);
        let lo = (u8::from(f.recursion_available) << 7) | (f.rcode & 0xf);
        out.extend_from_slice(&[hi, lo]);
        for n in [self.questions.len(), self.answers.len(), self.authority.len(), self.additional.len()] {
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        for q in &self.questions {
            put_name(&mut out, &q.name);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for r in self.answers.iter().chain(&self.authority).chain(&self.additional) {
            put_name(&mut out, &r.name);
            out.extend_from_slice(&r.rtype.to_be_bytes());
            out.extend_from_slice(&r.class.to_be_bytes());
            out.extend_from_slice(&r.ttl.to_be_bytes());
            let mut data = Vec::new();
            match &r.data {
                RData::A(ip) => data.extend_from_slice(&ip.octets()),
                RData::Soa { mname, rname, serial, refresh, retry, expire, minimum } => {
                    put_name(&mut data, mname);
                    put_name(&mut data, rname);
                    for v in [serial, refresh, retry, expire, minimum] {
                        data.extend_from_slice(&v.to_be_bytes());
                    }
                }
                RData::Raw(b) => data.extend_from_slice(b),
            }
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(&data);
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        let u16_at = |i: usize| -> Result<u16, DecodeError> {
            b.get(i..i + 2).map(|s| u16::from_be_bytes([s[0], s[1]])).ok_or(DecodeError::Truncated)
        };
        let id = u16_at(0)?;
        let (hi, lo) = (b.get(2).copied().ok_or(DecodeError::Truncated)?, b.get(3).copied().unwrap_or(0));
        let flags = Flags {
            response: hi & 0x80 != 0,
            opcode: (hi >> 3) & 0xf,
            authoritative: hi & 0x4 != 0,
            truncated: hi & 0x2 != 0,
            recursion_desired: hi & 0x1 != 0,
            recursion_available: lo & 0x80 != 0,
            rcode: lo & 0xf,
        };
        let counts = [u16_at(4)?, u16_at(6)?, u16_at(8)?, u16_at(10)?];
        let mut pos = 12;
        let mut questions = Vec::new();
        for _ in 0..counts[0] {
            let name = read_name(b, &mut pos)?;
            questions.push(Question { name, qtype: u16_at(pos)?, qclass: u16_at(pos + 2)? });
            pos += 4;
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (s, n) in sections.iter_mut().zip(&counts[1..]) {
            for _ in 0..*n {
                let name = read_name(b, &mut pos)?;
                let rtype = u16_at(pos)?;
                let class = u16_at(pos + 2)?;
                let ttl = (u32::from(u16_at(pos + 4)?) << 16) | u32::from(u16_at(pos + 6)?);
                let len = usize::from(u16_at(pos + 8)?);
                pos += 10;
                let raw = b.get(pos..pos + len).ok_or(DecodeError::Truncated)?;
                let data = match (rtype, len) {
                    (TYPE_A, 4) => RData::A(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
                    (TYPE_SOA, _) => {
                        let mut p = pos;
                        let mname = read_name(b, &mut p)?;
                        let rname = read_name(b, &mut p)?;
                        let mut v = [0u32; 5];
                        for x in v.iter_mut() {
                            *x = (u32::from(u16_at(p)?) << 16) | u32::from(u16_at(p + 2)?);
                            p += 4;
                        }
                        let [serial, refresh, retry, expire, minimum] = v;
                        RData::Soa { mname, rname, serial, refresh, retry, expire, minimum }
                    }
                    _ => RData::Raw(raw.to_vec()),
                };
                pos += len;
                s.push(Record { name, rtype, class, ttl, data });
            }
        }
        let [answers, authority, additional] = sections;
        Ok(Message { id, flags, questions, answers, authority, additional })
    }
}

/// `name` with exactly one final dot, lower case.
pub fn absolute(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    format!("{n}.")
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
}

/// Reads a (possibly compressed) name at `*pos`, leaving `*pos` after it.
fn read_name(b: &[u8], pos: &mut usize) -> Result<String, DecodeError> {
    let start = *pos;
    let mut name = String::new();
    let mut p = *pos;
    let mut jumped = false;
    for _ in 0..128 {
        let len = *b.get(p).ok_or(DecodeError::Truncated)?;
        match len {
            0 => {
                if !jumped {
                    *pos = p + 1;
                }
                if name.is_empty() {
                    name.push('.');
                }
                return Ok(name);
            }
            l if l & 0xc0 == 0xc0 => {
                let target =
                    (usize::from(l & 0x3f) << 8) | usize::from(*b.get(p + 1).ok_or(DecodeError::Truncated)?);
                if !jumped {
                    *pos = p + 2;
                }
                jumped = true;
                if target >= p {
                    return Err(DecodeError::BadName(start));
                }
                p = target;
            }
            l if l & 0xc0 == 0 => {
                let label = b.get(p + 1..p + 1 + usize::from(l)).ok_or(DecodeError::Truncated)?;
                name.push_str(&String::from_utf8_lossy(label));
                name.push('.');
                p += 1 + usize::from(l);
            }
            _ => return Err(DecodeError::BadName(start)),
        }
    }
    Err(DecodeError::BadName(start))
}

/// tcpdump's name of a query type.
pub fn type_name(t: u16) -> String {
    match t {
        TYPE_A => "A".into(),
        TYPE_NS => "NS".into(),
        TYPE_CNAME => "CNAME".into(),
        TYPE_SOA => "SOA".into(),
        TYPE_PTR => "PTR".into(),
        TYPE_TXT => "TXT".into(),
        TYPE_AAAA => "AAAA".into(),
        TYPE_SRV => "SRV".into(),
        other => format!("Type{other}"),
    }
}

/// tcpdump's rcode names (ns_rcode): NoError prints nothing.
fn rcode_name(r: u8) -> String {
    match r {
        0 => String::new(),
        1 => " FormErr".into(),
        2 => " ServFail".into(),
        3 => " NXDomain".into(),
        4 => " NotImp".into(),
        5 => " Refused".into(),
        other => format!(" Resp{other}"),
    }
}

/// tcpdump's rendering of a DNS message of `len` bytes, at default verbosity:
/// `12345+ A? web.default.svc.cluster.local. (47)` for a query,
/// `12345*- 1/0/0 A 10.96.0.20 (92)` / `12345 NXDomain*- 0/1/0 (150)` for answers.
pub struct Tcpdump<'a>(pub &'a Message, pub usize);

impl fmt::Display for Tcpdump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Tcpdump(m, len) = *self;
        let fl = &m.flags;
        let op = match fl.opcode {
            0 => "",
            1 => " inv_q",
            2 => " stat",
            4 => " notify",
            5 => " update",
            _ => " op?",
        };
        if fl.response {
            write!(
                f,
                "{}{op}{}{}{}{}",
                m.id,
                rcode_name(fl.rcode),
                if fl.authoritative { "*" } else { "" },
                if fl.recursion_available { "" } else { "-" },
                if fl.truncated { "|" } else { "" },
            )?;
            write!(f, " {}/{}/{}", m.answers.len(), m.authority.len(), m.additional.len())?;
            for (i, r) in m.answers.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                match &r.data {
                    RData::A(ip) => write!(f, "{sep}A {ip}")?,
                    RData::Soa { .. } | RData::Raw(_) => write!(f, "{sep}{}", type_name(r.rtype))?,
                }
            }
        } else {
            write!(
                f,
                "{}{op}{}{}",
                m.id,
                if fl.recursion_desired { "+" } else { "" },
                if fl.truncated { "|" } else { "" }
            )?;
            if m.questions.len() != 1 {
                write!(f, " [{}q]", m.questions.len())?;
            }
            if let Some(q) = m.questions.first() {
                write!(f, " {}? {}", type_name(q.qtype), q.name)?;
            }
        }
        write!(f, " ({len})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_47_bytes_and_renders_like_tcpdump() {
        let q = Message::query(4711, "web.default.svc.cluster.local", TYPE_A);
        let b = q.encode();
        assert_eq!(b.len(), 47);
        assert_eq!(Message::decode(&b).unwrap(), q);
        assert_eq!(Tcpdump(&q, b.len()).to_string(), "4711+ A? web.default.svc.cluster.local. (47)");
    }

    #[test]
    fn answers_round_trip_and_render() {
        let mut m = Message::query(7, "web.default.svc.cluster.local.", TYPE_A);
        m.flags.response = true;
        m.flags.authoritative = true;
        m.answers.push(Record {
            name: m.questions[0].name.clone(),
            rtype: TYPE_A,
            class: CLASS_IN,
            ttl: 30,
            data: RData::A(Ipv4Addr::new(10, 96, 0, 20)),
        });
        let b = m.encode();
        assert_eq!(b.len(), 47 + 31 + 10 + 4);
        assert_eq!(Message::decode(&b).unwrap(), m);
        assert_eq!(Tcpdump(&m, b.len()).to_string(), "7*- 1/0/0 A 10.96.0.20 (92)");
        m.answers.clear();
        m.flags.rcode = RCODE_NXDOMAIN;
        m.authority.push(Record {
            name: "cluster.local.".into(),
            rtype: TYPE_SOA,
            class: CLASS_IN,
            ttl: 30,
            data: RData::Soa {
                mname: "ns.dns.cluster.local.".into(),
                rname: "hostmaster.cluster.local.".into(),
                serial: 1,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: 30,
            },
        });
        let b = m.encode();
        assert_eq!(Message::decode(&b).unwrap(), m);
        assert!(Tcpdump(&m, b.len()).to_string().starts_with("7 NXDomain*- 0/1/0 ("));
    }

    #[test]
    fn compressed_names_decode_and_loops_are_refused() {
        // Header, question "a.b." at 12, an answer whose name points at it.
        let mut b = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]);
        let m = Message::decode(&b).unwrap();
        assert_eq!(m.answers[0].name, "a.b.");
        assert_eq!(m.answers[0].data, RData::A(Ipv4Addr::new(1, 2, 3, 4)));
        let looping = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12];
        assert!(Message::decode(&looping).is_err());
        assert_eq!(Message::decode(&b[..20]), Err(DecodeError::Truncated));
    }
}
