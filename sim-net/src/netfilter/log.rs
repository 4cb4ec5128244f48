//! The LOG target's kernel-log line, field for field as nf_log_syslog writes it
//! (`nf_log_ip_packet`): `IN= OUT=`, `PHYSIN=`/`PHYSOUT=` for bridged frames, `MAC=`
//! when there is an input device, then the IPv4 header (`SRC= DST= LEN= TOS= PREC=
//! TTL= ID=` and `DF`), the transport header (`PROTO=TCP SPT= DPT= WINDOW= RES=` flags
//! `URGP=`; `PROTO=UDP SPT= DPT= LEN=`; `PROTO=ICMP TYPE= CODE=` with `ID= SEQ=` for
//! echo and the quoted packet in `[...]` for errors) and `MARK=` when the mark is set.
//! Every field is followed by a space, the last one too, as in the kernel.

use std::fmt::Write;

use crate::packet::{Icmp, Ipv4Packet, L4, UnreachCode};

use super::eval::PacketInfo;

/// `<LEVEL>PREFIX` and the fields above for one packet; `mark` is the mark as the
/// rules so far left it.
pub(super) fn log_line(prefix: Option<&str>, level: u8, p: &PacketInfo, mark: u32) -> String {
    let mut s = format!(
        "<{level}>{}IN={} OUT={} ",
        prefix.unwrap_or(""),
        p.in_dev.unwrap_or(""),
        p.out_dev.unwrap_or("")
    );
    if let Some(phys) = p.physdev_in.filter(|d| Some(*d) != p.in_dev) {
        let _ = write!(s, "PHYSIN={phys} ");
    }
    if let Some(phys) = p.physdev_out.filter(|d| Some(*d) != p.out_dev) {
        let _ = write!(s, "PHYSOUT={phys} ");
    }
    if p.in_dev.is_some() {
        s += "MAC=";
        if let Some(h) = p.mac_header {
            let hex: Vec<String> = h.iter().map(|b| format!("{b:02x}")).collect();
            s += &hex.join(":");
        }
        s += " ";
    }
    ipv4(&mut s, p.ip, false);
    if mark != 0 {
        let _ = write!(s, "MARK=0x{mark:x} ");
    }
    s
}

/// `dump_ipv4_packet`; `quoted` is the packet inside an ICMP error (not recursed into).
fn ipv4(s: &mut String, ip: &Ipv4Packet, quoted: bool) {
    let _ = write!(
        s,
        "SRC={} DST={} LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} ",
        ip.src,
        ip.dst,
        ip.total_len(),
        ip.tos & 0x1e, // IPTOS_TOS_MASK
        ip.tos & 0xe0, // IPTOS_PREC_MASK
        ip.ttl,
        ip.ident,
    );
    if ip.dont_frag {
        *s += "DF ";
    }
    match &ip.body {
        L4::Tcp(t) => {
            let _ = write!(s, "PROTO=TCP SPT={} DPT={} WINDOW={} RES=0x00 ", t.sport, t.dport, t.window);
            // CWR ECE URG ACK PSH RST SYN FIN, in the kernel's order.
            for (bit, name) in [
                (0x80, "CWR"),
                (0x40, "ECE"),
                (0x20, "URG"),
                (0x10, "ACK"),
                (0x08, "PSH"),
                (0x04, "RST"),
                (0x02, "SYN"),
                (0x01, "FIN"),
            ] {
                if t.flags.0 & bit != 0 {
                    let _ = write!(s, "{name} ");
                }
            }
            // The model has no urgent pointer: always 0.
            *s += "URGP=0 ";
        }
        L4::Udp(u) => {
            let _ = write!(s, "PROTO=UDP SPT={} DPT={} LEN={} ", u.sport, u.dport, u.wire_len());
        }
        L4::Icmp(m) => icmp(s, m, quoted),
    }
}

fn icmp(s: &mut String, m: &Icmp, quoted: bool) {
    let (typ, code) = match m {
        Icmp::EchoRequest { .. } => (8, 0),
        Icmp::EchoReply { .. } => (0, 0),
        Icmp::DestUnreachable { code, .. } => (3, *code as u8),
        Icmp::TimeExceeded { .. } => (11, 0),
    };
    let _ = write!(s, "PROTO=ICMP TYPE={typ} CODE={code} ");
    match m {
        Icmp::EchoRequest { ident, seq, .. } | Icmp::EchoReply { ident, seq, .. } => {
            let _ = write!(s, "ID={ident} SEQ={seq} ");
        }
        Icmp::DestUnreachable { original, .. } | Icmp::TimeExceeded { original } => {
            if !quoted {
                *s += "[";
                ipv4(s, original, true);
                *s += "] ";
            }
            if let Icmp::DestUnreachable { code: UnreachCode::FragNeeded, next_hop_mtu, .. } = m {
                let _ = write!(s, "MTU={next_hop_mtu} ");
            }
        }
    }
}
