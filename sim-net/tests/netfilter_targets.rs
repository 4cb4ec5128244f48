//! Matches and targets evaluated on the packet path of the netfilter lab (see
//! `common/lab.rs`), each observed the way an operator would: the LOG lines the
//! kernel would write, the probe's outcome, the packets on the wire, `conntrack -L`.

mod common;

use common::lab::{lab, tcp};
use common::{Harness, s};
use sim_net::ops::NetOp;
use sim_net::stack::ProbeOutcome;

fn restore(h: &mut Harness, rules: &str) {
    let now = h.now();
    h.net
        .apply(&NetOp::IptablesRestore { netns: s("node"), input: rules.to_string(), noflush: true }, now)
        .unwrap();
}

/// The LOG lines with this prefix, in order.
fn logs(lines: &[String], prefix: &str) -> Vec<String> {
    let tag = format!("LOG <4>{prefix}");
    // The hop line drops the kernel's trailing space.
    lines.iter().filter_map(|l| l.find(&tag).map(|i| l[i + tag.len()..].trim_end().to_string())).collect()
}

#[test]
fn log_lines_carry_the_kernel_fields_with_mac_physdev_and_tcp_flags() {
    let mut h = lab(true, true, true);
    restore(
        &mut h,
        "*filter\n-I INPUT -p tcp --dport 22 -j LOG --log-prefix \"in22: \"\n-I FORWARD -p tcp -d 10.244.1.5 -j LOG --log-prefix \"fwd: \"\nCOMMIT\n",
    );
    assert_eq!(tcp(&mut h, "ext", "192.168.56.11", 22).0, ProbeOutcome::Refused);
    let lines = h.hop_lines();
    let l = logs(&lines, "in22: ");
    assert_eq!(l.len(), 1, "{lines:#?}");
    // ext's eth0 is 02:00:00:00:00:02, the node's eth0 02:00:00:00:00:01.
    assert!(
        l[0].starts_with(
            "IN=eth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=192.168.56.1 DST=192.168.56.11 LEN="
        ),
        "{}",
        l[0]
    );
    assert!(l[0].contains(" TOS=0x00 PREC=0x00 TTL=64 ID="), "{}", l[0]);
    assert!(l[0].contains(" DF PROTO=TCP SPT="), "{}", l[0]);
    assert!(l[0].contains(" DPT=22 WINDOW=") && l[0].ends_with(" RES=0x00 SYN URGP=0"), "{}", l[0]);

    // A bridged frame: IN and OUT are the bridge, PHYSIN/PHYSOUT its ports.
    assert_eq!(tcp(&mut h, "pod-b", "10.244.1.5", 8080).0, ProbeOutcome::Reached);
    let lines = h.hop_lines();
    let l = logs(&lines, "fwd: ");
    assert!(l.len() >= 3, "SYN, ACK, FIN at least: {lines:#?}");
    assert!(l[0].starts_with("IN=cni0 OUT=cni0 PHYSIN=veth1 PHYSOUT=veth0 MAC="), "{}", l[0]);
    assert!(l[0].ends_with("RES=0x00 SYN URGP=0"), "{}", l[0]);
    assert!(l[1].ends_with(" ACK URGP=0"), "{}", l[1]);
    assert!(l.iter().any(|x| x.contains(" ACK FIN URGP=0")), "{l:#?}");
}

#[test]
fn conntrack_tuple_status_and_state_matches_follow_the_connection() {
    let mut h = lab(true, true, true);
    restore(
        &mut h,
        "*filter\n\
         -I FORWARD -p tcp -m conntrack --ctorigsrc 10.244.1.6 --ctorigdst 10.96.100.10 --ctreplsrc 10.244.1.5 --ctrepldst 10.244.1.6 -j LOG --log-prefix \"tuple: \"\n\
         -I FORWARD -p tcp -m conntrack --ctrepldst 10.244.1.99 -j LOG --log-prefix \"wrong: \"\n\
         -I FORWARD -p tcp -m conntrack --ctstatus SEEN_REPLY -j LOG --log-prefix \"seen-reply: \"\n\
         -I FORWARD -p tcp -m state --state NEW -j LOG --log-prefix \"new: \"\n\
         -I FORWARD -p tcp -m state --state ESTABLISHED -j LOG --log-prefix \"est: \"\n\
         COMMIT\n",
    );
    assert_eq!(tcp(&mut h, "pod-b", "10.96.100.10", 80).0, ProbeOutcome::Reached);
    let lines = h.hop_lines();
    let tuple = logs(&lines, "tuple: ");
    // Both directions belong to the DNATed connection: the SYN and the SYN-ACK match.
    assert!(
        tuple
            .iter()
            .any(|l| l.starts_with("IN=cni0 OUT=cni0 PHYSIN=veth1") && l.ends_with("RES=0x00 SYN URGP=0"))
    );
    assert!(
        tuple.iter().any(|l| l.contains("SRC=10.244.1.5 ") && l.ends_with(" ACK SYN URGP=0")),
        "{tuple:#?}"
    );
    assert!(logs(&lines, "wrong: ").is_empty());
    // SEEN_REPLY is set when the first reply passes conntrack: never on the SYN.
    let seen = logs(&lines, "seen-reply: ");
    assert!(!seen.iter().any(|l| l.ends_with("RES=0x00 SYN URGP=0")), "{seen:#?}");
    assert!(seen.iter().any(|l| l.ends_with(" ACK SYN URGP=0")), "{seen:#?}");
    let new = logs(&lines, "new: ");
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(new[0].ends_with("RES=0x00 SYN URGP=0"));
    assert!(logs(&lines, "est: ").len() >= 3);
}

#[test]
fn notrack_in_raw_leaves_the_packet_untracked_and_skips_nat() {
    for target in ["NOTRACK", "CT --notrack"] {
        let mut h = lab(true, true, true);
        restore(
            &mut h,
            &format!(
                "*raw\n-A PREROUTING -i eth0 -p tcp --dport 30080 -j {target}\nCOMMIT\n*filter\n-I INPUT -m conntrack --ctstate UNTRACKED -j LOG --log-prefix \"untracked: \"\n-I INPUT -m state --state UNTRACKED -j LOG --log-prefix \"state-untracked: \"\nCOMMIT\n"
            ),
        );
        // The NodePort's DNAT is in the nat table, which untracked packets skip: the
        // SYN reaches the node itself, where nothing listens on 30080.
        let (o, _, d) = tcp(&mut h, "ext", "192.168.56.11", 30080);
        assert_eq!(o, ProbeOutcome::Refused, "{target}: {d}");
        let lines = h.hop_lines();
        assert_eq!(logs(&lines, "untracked: ").len(), 1, "{target}: {lines:#?}");
        assert_eq!(logs(&lines, "state-untracked: ").len(), 1, "{target}");
        assert!(!lines.iter().any(|l| l.contains("DNAT 192.168.56.11:30080")), "{target}");
        let ct = h.net.netns("node").unwrap().nf.conntrack.render_list(h.now());
        assert!(!ct.contains("dport=30080"), "{target}: no entry for the untracked flow:\n{ct}");
    }
}

#[test]
fn connmark_saves_the_mark_of_the_first_packet_and_restores_it_on_replies() {
    let mut h = lab(true, true, true);
    restore(
        &mut h,
        "*mangle\n\
         -A PREROUTING -i eth0 -p tcp --dport 30080 -m conntrack --ctstate NEW -j MARK --set-xmark 0x7/0xffffffff\n\
         -A PREROUTING -i eth0 -p tcp --dport 30080 -m conntrack --ctstate NEW -j CONNMARK --save-mark\n\
         -A PREROUTING -i cni0 -j CONNMARK --restore-mark\n\
         -A PREROUTING -i cni0 -m mark --mark 0x7 -j LOG --log-prefix \"restored: \"\n\
         COMMIT\n",
    );
    let (o, _, d) = tcp(&mut h, "ext", "192.168.56.11", 30080);
    assert_eq!(o, ProbeOutcome::Reached, "{d}");
    let lines = h.hop_lines();
    let restored = logs(&lines, "restored: ");
    assert!(!restored.is_empty(), "{lines:#?}");
    assert!(
        restored.iter().all(|l| l.contains("SRC=10.244.1.5 ") && l.ends_with("MARK=0x7")),
        "{restored:#?}"
    );
    assert!(restored[0].ends_with(" ACK SYN URGP=0 MARK=0x7"), "{restored:#?}");
    let ct = h.net.netns("node").unwrap().nf.conntrack.render_list(h.now());
    assert!(ct.contains("dport=30080") && ct.contains("mark=7 "), "{ct}");
}

#[test]
fn reject_tcp_reset_answers_with_a_rst_from_the_destination() {
    let mut h = lab(true, true, true);
    restore(&mut h, "*filter\n-I INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\nCOMMIT\n");
    let (o, _, d) = tcp(&mut h, "ext", "192.168.56.11", 22);
    assert_eq!(o, ProbeOutcome::Refused, "{d}");
    let lines = h.hop_lines().join("\n");
    assert!(lines.contains("filter INPUT --reject-with tcp-reset: rejected by an iptables rule"), "{lines}");
    // The RST appears to come from the destination port the SYN was sent to.
    let rst = lines.lines().find(|l| l.contains("ext") && l.contains("rx") && l.contains("Flags [R.]"));
    assert!(rst.is_some_and(|l| l.contains("192.168.56.11.22 > 192.168.56.1.")), "{lines}");
}

#[test]
fn reject_with_icmp_codes_sends_that_unreachable() {
    for (with, text) in [
        ("icmp-host-unreachable", "ICMP host 192.168.56.11 unreachable"),
        ("icmp-net-unreachable", "ICMP net 192.168.56.11 unreachable"),
        ("icmp-admin-prohibited", "ICMP host 192.168.56.11 unreachable - admin prohibited filter"),
        ("icmp-port-unreachable", "ICMP 192.168.56.11 tcp port 22 unreachable"),
    ] {
        let mut h = lab(true, true, true);
        restore(
            &mut h,
            &format!("*filter\n-I INPUT -p tcp --dport 22 -j REJECT --reject-with {with}\nCOMMIT\n"),
        );
        let (o, _, d) = tcp(&mut h, "ext", "192.168.56.11", 22);
        let want =
            if with == "icmp-port-unreachable" { ProbeOutcome::Refused } else { ProbeOutcome::Unreachable };
        assert_eq!(o, want, "{with}: {d}");
        let lines = h.hop_lines().join("\n");
        assert!(lines.contains(&format!("filter INPUT --reject-with {with}")), "{lines}");
        let icmp = lines.lines().find(|l| l.contains("ext ") && l.contains(" rx ") && l.contains("ICMP"));
        assert!(icmp.is_some_and(|l| l.contains(text)), "{with}: {lines}");
    }
}

#[test]
fn physdev_matches_the_ports_of_a_real_bridged_frame() {
    let mut h = lab(true, true, true);
    restore(
        &mut h,
        "*filter\n\
         -I FORWARD -m physdev --physdev-in veth1 --physdev-out veth0 --physdev-is-bridged -j LOG --log-prefix \"b-to-a: \"\n\
         -I FORWARD -m physdev --physdev-in veth0 --physdev-is-in --physdev-is-out -j LOG --log-prefix \"from-a: \"\n\
         -I FORWARD -m physdev ! --physdev-is-bridged -j LOG --log-prefix \"routed: \"\n\
         -I FORWARD -m physdev --physdev-out veth1 -j LOG --log-prefix \"to-b: \"\n\
         COMMIT\n",
    );
    assert_eq!(tcp(&mut h, "pod-b", "10.244.1.5", 8080).0, ProbeOutcome::Reached);
    let lines = h.hop_lines();
    let b_to_a = logs(&lines, "b-to-a: ");
    assert!(b_to_a.first().is_some_and(|l| l.ends_with("RES=0x00 SYN URGP=0")), "{lines:#?}");
    let from_a = logs(&lines, "from-a: ");
    assert!(from_a.first().is_some_and(|l| l.ends_with(" ACK SYN URGP=0")), "{lines:#?}");
    assert_eq!(logs(&lines, "to-b: ").len(), from_a.len());
    assert!(logs(&lines, "routed: ").is_empty());
    // Routed packets (outside to a pod via the node and back) are not bridged: in
    // FORWARD only the negated option matches (the output port is not known yet).
    assert_eq!(tcp(&mut h, "ext", "192.168.56.11", 30080).0, ProbeOutcome::Reached);
    let lines = h.hop_lines();
    assert!(!logs(&lines, "routed: ").is_empty(), "{lines:#?}");
    assert!(logs(&lines, "b-to-a: ").is_empty());
}
