//! The kube-proxy-shaped nat table of the netfilter benchmark, shared with the test
//! that guards the index (`tests/netfilter_index.rs`): `n` services, each with a
//! ClusterIP, a NodePort and two endpoints, in kube-proxy's restore format.

use std::net::Ipv4Addr;

use sim_net::netfilter::AddrTypeSet;
use sim_net::packet::{Ipv4Packet, L4, TcpFlags, TcpSegment};

pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 11);

pub fn cluster_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 96, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// kube-proxy's nat table for `n` services, in its restore format.
pub fn kube_proxy_nat(n: u32) -> String {
    let mut s = String::from(
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n",
    );
    for i in 0..n {
        s += &format!(
            ":KUBE-SVC-{i:016} - [0:0]\n:KUBE-EXT-{i:016} - [0:0]\n:KUBE-SEP-{i:015}A - [0:0]\n:KUBE-SEP-{i:015}B - [0:0]\n"
        );
    }
    s += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n";
    s += "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n";
    s += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n";
    s += "-A KUBE-POSTROUTING -j MASQUERADE --random-fully\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
    for i in 0..n {
        let (cip, np) = (cluster_ip(i), 30000 + i % 2768);
        let (svc, ext, a, b) = (
            format!("KUBE-SVC-{i:016}"),
            format!("KUBE-EXT-{i:016}"),
            format!("KUBE-SEP-{i:015}A"),
            format!("KUBE-SEP-{i:015}B"),
        );
        let c = format!("ns/svc{i}:http");
        s += &format!(
            "-A KUBE-SERVICES -m comment --comment \"{c} cluster IP\" -m tcp -p tcp -d {cip} --dport 80 -j {svc}\n"
        );
        s += &format!("-A KUBE-NODEPORTS -m comment --comment {c} -m tcp -p tcp --dport {np} -j {ext}\n");
        s += &format!(
            "-A {svc} -m comment --comment \"{c} cluster IP\" -m tcp -p tcp -d {cip} --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ\n"
        );
        s += &format!("-A {ext} -j KUBE-MARK-MASQ\n-A {ext} -j {svc}\n");
        s += &format!(
            "-A {svc} -m statistic --mode random --probability 0.5000000000 -j {a}\n-A {svc} -j {b}\n"
        );
        for (sep, ip) in [
            (&a, format!("10.244.{}.{}", i / 200 % 250, i % 200 + 2)),
            (&b, format!("10.245.{}.{}", i / 200 % 250, i % 200 + 2)),
        ] {
            s += &format!(
                "-A {sep} -s {ip} -j KUBE-MARK-MASQ\n-A {sep} -m tcp -p tcp -j DNAT --to-destination {ip}:8080\n"
            );
        }
    }
    s += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n";
    s
}

pub fn addr_type(a: Ipv4Addr, _: Option<&str>) -> AddrTypeSet {
    AddrTypeSet(if a == NODE_IP || a.is_loopback() { AddrTypeSet::LOCAL } else { AddrTypeSet::UNICAST })
}

pub fn syn_to(dst: Ipv4Addr, dport: u16) -> Ipv4Packet {
    let seg =
        TcpSegment { sport: 40000, dport, flags: TcpFlags::SYN, window: 64240, ..TcpSegment::default() };
    Ipv4Packet::new(Ipv4Addr::new(10, 244, 1, 6), dst, L4::Tcp(seg))
}
