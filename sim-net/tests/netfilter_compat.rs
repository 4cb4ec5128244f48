//! iptables-nft-restore 1.8.9 input forms a real node's files contain, each checked
//! against the kernel in a throwaway namespace (`iptables-nft-restore < F;
//! iptables-nft-save`); the expected texts below are what the kernel printed.

use std::net::Ipv4Addr;

use sim_core::SimTime;
use sim_net::netfilter::{
    AddrTypeSet, EvalContext, Hook, Netfilter, PacketInfo, RestoreError, ScriptedDecider, TableName, Verdict,
};
use sim_net::packet::{Icmp, Ipv4Packet, L4, UnreachCode};

/// The `-A` lines iptables-save prints after loading `input`.
fn saved_rules(input: &str) -> Vec<String> {
    let mut nf = Netfilter::new();
    nf.restore(input, false).unwrap_or_else(|e| panic!("{e}\n{input}"));
    nf.save().lines().filter(|l| l.starts_with("-A ")).map(str::to_string).collect()
}

fn restore_err(input: &str) -> RestoreError {
    match Netfilter::new().restore(input, false) {
        Ok(_) => panic!("restore unexpectedly succeeded:\n{input}"),
        Err(e) => e,
    }
}

fn filter(rules: &str) -> String {
    format!("*filter\n{rules}COMMIT\n")
}

#[test]
fn counter_prefixes_are_read_and_dropped() {
    // iptables-save -c output; without -c, iptables-restore ignores the counters.
    let input = filter(":INPUT ACCEPT [3:4]\n[5:100] -A INPUT -s 10.0.0.1 -j ACCEPT\n");
    assert_eq!(saved_rules(&input), ["-A INPUT -s 10.0.0.1/32 -j ACCEPT"]);
    let e = restore_err(&filter("[5:x] -A INPUT -j ACCEPT\n"));
    assert_eq!((e.line, e.col, e.token.as_str()), (2, 1, "[5:x]"));
    let e = restore_err(&filter("[1:2]\n"));
    assert!(e.msg.starts_with("expected a command after the prefix"), "{}", e.msg);
}

#[test]
fn dash_4_lines_load_and_dash_6_lines_are_skipped() {
    let input = filter(
        "-4 -A INPUT -s 10.0.0.4 -j ACCEPT\n-6 -A INPUT -s 10.0.0.6 -j BOGUS\n[1:2] -4 -A INPUT -p tcp\n",
    );
    assert_eq!(saved_rules(&input), ["-A INPUT -s 10.0.0.4/32 -j ACCEPT", "-A INPUT -p tcp"]);
}

#[test]
fn dotted_masks_may_be_non_contiguous() {
    let input = filter(
        "-A INPUT -s 10.1.2.3/255.0.255.0 -j ACCEPT\n-A INPUT -d 10.1.2.3/255.255.255.0 -j ACCEPT\n-A INPUT -s 10.1.2.3/255.255.0.255 -j ACCEPT\n-A INPUT -s 10.1.2.3/0.0.0.0 -j ACCEPT\n-A INPUT -s 10.1.2.3/255.255.255.255 -j ACCEPT\n",
    );
    assert_eq!(
        saved_rules(&input),
        [
            "-A INPUT -s 10.0.2.0/255.0.255.0 -j ACCEPT",
            "-A INPUT -d 10.1.2.0/24 -j ACCEPT",
            "-A INPUT -s 10.1.0.3/255.255.0.255 -j ACCEPT",
            "-A INPUT -j ACCEPT",
            "-A INPUT -s 10.1.2.3/32 -j ACCEPT",
        ]
    );
    // `!` before /0 would never match: the kernel refuses the rule.
    let e = restore_err(&filter("-A INPUT ! -s 10.1.2.3/0 -j ACCEPT\n"));
    assert!(e.msg.starts_with("RULE_APPEND failed (Invalid argument)"), "{}", e.msg);
    // The mask applies bit by bit.
    let mut nf = Netfilter::new();
    nf.restore(&filter("-A INPUT -s 10.0.2.0/255.0.255.0 -j DROP\n"), false).unwrap();
    let mut verdict = |src: &str| {
        let ip = Ipv4Packet::new(src.parse().unwrap(), "10.9.9.9".parse().unwrap(), echo());
        let mut d = ScriptedDecider::default();
        let cx = &mut EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &unicast };
        nf.evaluate(TableName::Filter, Hook::Input, &PacketInfo::new(&ip), cx).verdict
    };
    assert_eq!(verdict("10.77.2.1"), Verdict::Drop);
    assert_eq!(verdict("10.77.3.1"), Verdict::Accept);
    assert_eq!(verdict("11.77.2.1"), Verdict::Accept);
}

#[test]
fn conntrack_addresses_keep_their_host_bits() {
    let input = filter(
        "-A INPUT -m conntrack --ctorigsrc 10.1.2.3/24 -j ACCEPT\n-A INPUT -m conntrack --ctorigsrc 10.1.2.3/255.255.0.0 -j ACCEPT\n-A INPUT -m conntrack --ctorigdst 10.1.2.3/255.0.255.0 -j ACCEPT\n",
    );
    assert_eq!(
        saved_rules(&input),
        [
            "-A INPUT -m conntrack --ctorigsrc 10.1.2.3/24 -j ACCEPT",
            "-A INPUT -m conntrack --ctorigsrc 10.1.2.3/16 -j ACCEPT",
            "-A INPUT -m conntrack --ctorigdst 10.1.2.3 -j ACCEPT",
        ]
    );
}

#[test]
fn reversed_port_ranges_are_refused() {
    let e = restore_err(&filter("-A INPUT -p tcp --dport 5:3 -j ACCEPT\n"));
    assert!(e.msg.contains("min > max"), "{}", e.msg);
    let e = restore_err(&filter("-A INPUT -p tcp -m multiport --dports 5:3 -j ACCEPT\n"));
    assert!(e.msg.contains("min > max"), "{}", e.msg);
}

#[test]
fn physdev_out_in_the_output_chain_needs_physdev_is_bridged() {
    for rule in [
        "-A OUTPUT -m physdev --physdev-out eth0 -j ACCEPT",
        "-A OUTPUT -m physdev --physdev-is-out -j ACCEPT",
        "-A OUTPUT -m physdev ! --physdev-is-bridged --physdev-out eth0 -j ACCEPT",
    ] {
        let e = restore_err(&filter(&format!("{rule}\n")));
        assert!(
            e.msg.starts_with("RULE_APPEND failed (Invalid argument): rule in chain OUTPUT"),
            "{}",
            e.msg
        );
    }
    let e = restore_err("*nat\n-A OUTPUT -m physdev --physdev-out eth0 -j ACCEPT\nCOMMIT\n");
    assert!(e.msg.starts_with("RULE_APPEND failed"), "{}", e.msg);
    // Accepted: with --physdev-is-bridged, in FORWARD, and (iptables-nft checks only
    // the built-in chain) in a user chain reached from OUTPUT.
    let input = filter(
        ":X - [0:0]\n-A FORWARD -m physdev --physdev-out eth0 -j ACCEPT\n-A OUTPUT -m physdev --physdev-is-bridged --physdev-out eth0 -j ACCEPT\n-A OUTPUT -j X\n-A X -m physdev --physdev-out eth0 -j ACCEPT\n",
    );
    assert_eq!(
        saved_rules(&input),
        [
            "-A FORWARD -m physdev --physdev-out eth0 -j ACCEPT",
            "-A OUTPUT -m physdev --physdev-out eth0 --physdev-is-bridged -j ACCEPT",
            "-A OUTPUT -j X",
            "-A X -m physdev --physdev-out eth0 -j ACCEPT",
        ]
    );
}

#[test]
fn icmp_type_255_is_any() {
    let input =
        filter("-A INPUT -p icmp --icmp-type 255 -j ACCEPT\n-A INPUT -p icmp --icmp-type 255/3 -j DROP\n");
    assert_eq!(
        saved_rules(&input),
        [
            "-A INPUT -p icmp -m icmp --icmp-type any -j ACCEPT",
            "-A INPUT -p icmp -m icmp --icmp-type 255/3 -j DROP"
        ]
    );
    // Type 255 matches every ICMP message whatever the code (icmp_type_code_match).
    let mut nf = Netfilter::new();
    nf.restore(&filter("-A INPUT -p icmp --icmp-type 255/3 -j DROP\n"), false).unwrap();
    let original =
        Box::new(Ipv4Packet::new("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap(), echo()));
    for body in
        [echo(), L4::Icmp(Icmp::DestUnreachable { code: UnreachCode::Host, next_hop_mtu: 0, original })]
    {
        let ip = Ipv4Packet::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), body);
        let mut d = ScriptedDecider::default();
        let cx = &mut EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &unicast };
        assert_eq!(
            nf.evaluate(TableName::Filter, Hook::Input, &PacketInfo::new(&ip), cx).verdict,
            Verdict::Drop
        );
    }
}

#[test]
fn zero_is_accepted_and_changes_nothing() {
    // The model keeps no counters: -Z has nothing to reset, but its chain must exist.
    assert_eq!(saved_rules(&filter("-A INPUT -j ACCEPT\n-Z INPUT\n-Z\n")), ["-A INPUT -j ACCEPT"]);
    let e = restore_err(&filter("-Z NOSUCH\n"));
    assert_eq!(e.token, "NOSUCH");
}

#[test]
fn an_unknown_option_error_lists_what_the_rule_s_matches_and_target_take() {
    let e = restore_err("*nat\n-A PREROUTING -p tcp -m comment --comment x -j DNAT --tox 1.2.3.4\nCOMMIT\n");
    assert_eq!(e.token, "--tox");
    assert_eq!(
        e.msg,
        "unknown option \"--tox\" (supported here: -m comment: --comment; -m tcp: --sport, --source-port, --dport, --destination-port, --tcp-flags, --syn; -j DNAT: --to-destination, --random, --persistent)"
    );
    let e = restore_err(&filter("-A INPUT --dportx 5\n"));
    assert!(e.msg.contains("no match (-m) or target (-j) that takes options"), "{}", e.msg);
}

#[test]
fn unambiguous_prefixes_of_extension_options_are_taken_like_getopt_long() {
    assert_eq!(
        saved_rules("*nat\n-A PREROUTING -p tcp -j DNAT --to 1.2.3.4\nCOMMIT\n"),
        ["-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4"]
    );
    assert_eq!(
        saved_rules(&filter("-A INPUT -p tcp --dpo 80 -j ACCEPT\n-A INPUT -s 10.0.0.1 -4 -j ACCEPT\n")),
        ["-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT", "-A INPUT -s 10.0.0.1/32 -j ACCEPT"]
    );
    let e = restore_err(&filter("-A INPUT -p tcp --d 80 -j ACCEPT\n"));
    assert_eq!(e.msg, "option \"--d\" is ambiguous (could be --destination-port, --dport)");
}

fn echo() -> L4 {
    L4::Icmp(Icmp::EchoRequest { ident: 1, seq: 1, data: vec![] })
}

fn unicast(_: Ipv4Addr, _: Option<&str>) -> AddrTypeSet {
    AddrTypeSet(AddrTypeSet::UNICAST)
}
