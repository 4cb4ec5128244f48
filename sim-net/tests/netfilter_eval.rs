//! Traversal semantics of the engine, one kernel behaviour per test.

use std::net::Ipv4Addr;

use sim_core::SimTime;
use sim_net::netfilter::matches::StatisticMatch;
use sim_net::netfilter::{
    AddrTypeSet, CtInfo, CtState, EvalContext, Evaluation, Hook, NatAction, Netfilter, PacketInfo,
    RngDecider, ScriptedDecider, TableName, Verdict,
};
use sim_net::packet::{Ipv4Packet, L4, TcpFlags, TcpSegment};

fn syn(src: &str, dst: &str, dport: u16) -> Ipv4Packet {
    let seg = TcpSegment { sport: 40000, dport, flags: TcpFlags::SYN, ..TcpSegment::default() };
    Ipv4Packet::new(src.parse().unwrap(), dst.parse().unwrap(), L4::Tcp(seg))
}

fn unicast(_: Ipv4Addr, _: Option<&str>) -> AddrTypeSet {
    AddrTypeSet(AddrTypeSet::UNICAST)
}

fn eval(nf: &mut Netfilter, t: TableName, h: Hook, p: &PacketInfo, script: Vec<bool>) -> Evaluation {
    let mut d = ScriptedDecider::new(script);
    let mut cx = EvalContext { now: SimTime::ZERO, decider: &mut d, addr_type: &unicast };
    nf.evaluate(t, h, p, &mut cx)
}

fn loaded(rules: &str) -> Netfilter {
    let mut nf = Netfilter::new();
    nf.restore(rules, false).unwrap_or_else(|e| panic!("{e}"));
    nf
}

fn hit_names(e: &Evaluation) -> Vec<String> {
    e.hits.iter().map(|h| format!("{}#{}", h.chain, h.num)).collect()
}

#[test]
fn return_from_a_goto_chain_goes_back_past_the_chain_that_jumped() {
    let mut nf = loaded(
        "*filter\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A INPUT -j DROP\n-A A -g B\n-A A -j ACCEPT\n-A B -j RETURN\nCOMMIT\n",
    );
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let e = eval(&mut nf, TableName::Filter, Hook::Input, &PacketInfo::new(&ip), vec![]);
    // B was entered by goto from A: RETURN in B returns to INPUT (after `-j A`), not to A.
    assert_eq!(hit_names(&e), ["INPUT#1", "A#1", "B#1", "INPUT#2"]);
    assert_eq!(e.verdict, Verdict::Drop);
}

#[test]
fn falling_off_a_builtin_chain_or_returning_from_it_applies_its_policy() {
    let mut nf = loaded(
        "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p udp -j ACCEPT\n-A INPUT -j RETURN\n-A INPUT -j DROP\nCOMMIT\n",
    );
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let p = PacketInfo::new(&ip);
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Forward, &p, vec![]).verdict, Verdict::Drop);
    let e = eval(&mut nf, TableName::Filter, Hook::Input, &p, vec![]);
    assert_eq!((e.verdict, hit_names(&e)), (Verdict::Accept, vec!["INPUT#1".to_string()]));
}

#[test]
fn rule_without_target_counts_and_continues() {
    let mut nf = loaded("*filter\n-A OUTPUT -p tcp\n-A OUTPUT -j REJECT\nCOMMIT\n");
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let e = eval(&mut nf, TableName::Filter, Hook::Output, &PacketInfo::new(&ip), vec![]);
    assert_eq!(hit_names(&e), ["OUTPUT#1", "OUTPUT#2"]);
    assert_eq!(e.hits[0].verdict_text, "");
    assert_eq!(e.hits[1].rule, "-A OUTPUT -j REJECT --reject-with icmp-port-unreachable");
}

#[test]
fn mark_targets_compute_like_the_kernel_and_later_rules_see_the_new_mark() {
    let mut nf = loaded(concat!(
        "*mangle\n",
        "-A PREROUTING -j MARK --set-mark 0xff00\n",
        "-A PREROUTING -j MARK --or-mark 0x4000\n",
        "-A PREROUTING -j MARK --and-mark 0xfffff0ff\n",
        "-A PREROUTING -j MARK --xor-mark 0x1\n",
        "-A PREROUTING -m mark --mark 0x4000/0x4000 -j CONNMARK --save-mark\n",
        "COMMIT\n"
    ));
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let e = eval(&mut nf, TableName::Mangle, Hook::Prerouting, &PacketInfo::new(&ip), vec![]);
    // 0xff00 | 0x4000 = 0xff00; & 0xfffff0ff = 0xf000; ^ 0x1 = 0xf001.
    assert_eq!(e.mark, 0xf001);
    // Bit 0x4000 is set in 0xf001, so CONNMARK --save-mark copied the mark.
    assert_eq!(e.ctmark, Some(0xf001));
    let mut nf = loaded(
        "*mangle\n-A PREROUTING -j MARK --set-xmark 0x4000/0x4000\n-A PREROUTING -m mark --mark 0x4000/0x4000 -j CONNMARK --save-mark\nCOMMIT\n",
    );
    let e = eval(&mut nf, TableName::Mangle, Hook::Prerouting, &PacketInfo::new(&ip), vec![]);
    assert_eq!((e.mark, e.ctmark), (0x4000, Some(0x4000)));
}

#[test]
fn nat_target_ends_the_traversal_and_reports_the_action() {
    let mut nf = loaded(
        "*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.244.1.5:8080\n-A PREROUTING -j DNAT --to-destination 1.1.1.1\nCOMMIT\n",
    );
    let ip = syn("10.0.0.1", "10.96.0.1", 80);
    let e = eval(&mut nf, TableName::Nat, Hook::Prerouting, &PacketInfo::new(&ip), vec![]);
    assert_eq!(e.hits.len(), 1);
    let Some(NatAction::Dnat { range, .. }) = e.nat else { panic!("{:?}", e.nat) };
    assert_eq!((range.min_ip, range.ports.map(|p| p.lo)), ("10.244.1.5".parse().unwrap(), Some(8080)));
}

#[test]
fn probability_is_stored_as_kernel_fixed_point_and_saved_with_eleven_decimals() {
    // Reference §1.7, measured on iptables 1.8.9.
    let table = [
        ("0.5000000000", 1073741824u32, "0.50000000000"),
        ("0.3333333333", 715827883, "0.33333333349"),
        ("0.2500000000", 536870912, "0.25000000000"),
        ("0.2000000000", 429496730, "0.20000000019"),
        ("0.1666666667", 357913941, "0.16666666651"),
        ("0.1428571429", 306783378, "0.14285714272"),
        ("0.1250000000", 268435456, "0.12500000000"),
        ("0.1111111111", 238609294, "0.11111111101"),
        ("0.1000000000", 214748365, "0.10000000009"),
        ("1.0000000000", 2147483648, "1.00000000000"),
        ("0.0000100000", 21475, "0.00001000008"),
    ];
    for (written, fixed, saved) in table {
        assert_eq!(StatisticMatch::prob_from_f64(written.parse().unwrap()), fixed, "{written}");
        let nf =
            loaded(&format!("*nat\n-A OUTPUT -m statistic --mode random --probability {written}\nCOMMIT\n"));
        assert!(nf.save().contains(&format!("--probability {saved}\n")), "{written}: {}", nf.save());
    }
}

#[test]
fn rng_decider_draws_like_the_kernel() {
    let mut d = RngDecider::new(sim_core::RngStreams::new(1).stream("x"));
    use sim_net::netfilter::Decider;
    assert!((0..1000).all(|_| d.random(1 << 31)), "probability 1 always matches");
    assert!((0..1000).all(|_| !d.random(0)), "probability 0 never matches");
    let hits = (0..10_000).filter(|_| d.random(715_827_883)).count();
    assert!((3_000..3_700).contains(&hits), "{hits}");
}

#[test]
fn nth_mode_matches_every_nth_packet_starting_with_the_first_when_packet_is_zero() {
    let mut nf = loaded("*filter\n-A INPUT -m statistic --mode nth --every 3 --packet 0 -j DROP\nCOMMIT\n");
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let verdicts: Vec<bool> = (0..7)
        .map(|_| {
            eval(&mut nf, TableName::Filter, Hook::Input, &PacketInfo::new(&ip), vec![]).verdict
                == Verdict::Drop
        })
        .collect();
    assert_eq!(verdicts, [true, false, false, true, false, false, true]);
}

/// Measured on Linux 6.x with iptables-nft 1.8.9 (echo requests through OUTPUT, rule
/// counters read after each): packets counted from 0.
#[test]
fn nth_mode_with_a_nonzero_packet_matches_like_xt_statistic() {
    for (every, packet, want) in
        [(3, 2, vec![2, 5]), (3, 1, vec![1, 4]), (2, 1, vec![1, 3, 5]), (3, 0, vec![0, 3])]
    {
        let mut nf = loaded(&format!(
            "*filter\n-A INPUT -m statistic --mode nth --every {every} --packet {packet} -j DROP\nCOMMIT\n"
        ));
        let ip = syn("10.0.0.1", "10.0.0.2", 80);
        let hits: Vec<usize> = (0..6)
            .filter(|_| {
                eval(&mut nf, TableName::Filter, Hook::Input, &PacketInfo::new(&ip), vec![]).verdict
                    == Verdict::Drop
            })
            .collect();
        assert_eq!(hits, want, "--every {every} --packet {packet}");
    }
    // Negated: every packet the plain rule would not match.
    let mut nf = loaded("*filter\n-A INPUT -m statistic --mode nth ! --every 3 --packet 2 -j DROP\nCOMMIT\n");
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let hits: Vec<usize> = (0..6)
        .filter(|_| {
            eval(&mut nf, TableName::Filter, Hook::Input, &PacketInfo::new(&ip), vec![]).verdict
                == Verdict::Drop
        })
        .collect();
    assert_eq!(hits, [0, 1, 3, 4]);
}

#[test]
fn kube_firewall_drops_undnatted_localnet_traffic_but_not_untracked_or_dnatted() {
    let rules = "*filter\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\n-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\nCOMMIT\n";
    let mut nf = loaded(rules);
    let ip = syn("192.168.56.1", "127.0.0.1", 30080);
    let mut p = PacketInfo::new(&ip);
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Input, &p, vec![]).verdict, Verdict::Drop);
    p.ct.dnat = true;
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Input, &p, vec![]).verdict, Verdict::Accept);
    // Untracked: the state bit is UNTRACKED, which `! --ctstate ...` accepts -> DROP.
    p.ct = CtInfo::without_entry(CtState::Untracked);
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Input, &p, vec![]).verdict, Verdict::Drop);
}

#[test]
fn physdev_on_a_packet_that_did_not_cross_a_bridge_matches_only_negated_options() {
    let mut nf = loaded(
        "*filter\n-A FORWARD -m physdev --physdev-is-bridged -j DROP\n-A FORWARD -m physdev ! --physdev-is-bridged -j REJECT\nCOMMIT\n",
    );
    let ip = syn("10.244.1.5", "10.244.1.6", 80);
    let mut p = PacketInfo::new(&ip);
    let e = eval(&mut nf, TableName::Filter, Hook::Forward, &p, vec![]);
    assert_eq!(hit_names(&e), ["FORWARD#2"]);
    p.physdev_in = Some("veth1");
    p.physdev_out = Some("veth2");
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Forward, &p, vec![]).verdict, Verdict::Drop);
}

#[test]
fn interface_wildcard_and_missing_device_match_like_the_kernel() {
    let mut nf = loaded("*filter\n-A FORWARD -i veth+ -j DROP\n-A OUTPUT ! -o eth0 -j DROP\nCOMMIT\n");
    let ip = syn("10.244.1.5", "10.244.1.6", 80);
    let mut p = PacketInfo::new(&ip);
    p.in_dev = Some("veth1234");
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Forward, &p, vec![]).verdict, Verdict::Drop);
    p.in_dev = Some("eth0");
    assert_eq!(eval(&mut nf, TableName::Filter, Hook::Forward, &p, vec![]).verdict, Verdict::Accept);
    // No output device yet: the name is empty, so `! -o eth0` matches.
    assert_eq!(
        eval(&mut nf, TableName::Filter, Hook::Output, &PacketInfo::new(&ip), vec![]).verdict,
        Verdict::Drop
    );
}

#[test]
fn statistic_ladder_follows_the_decider() {
    let rules = "*nat\n:S - [0:0]\n-A OUTPUT -j S\n-A S -m statistic --mode random --probability 0.5 -j DNAT --to-destination 1.1.1.1\n-A S -j DNAT --to-destination 2.2.2.2\nCOMMIT\n";
    let mut nf = loaded(rules);
    let ip = syn("10.0.0.1", "10.96.0.1", 80);
    let to = |e: Evaluation| match e.nat {
        Some(NatAction::Dnat { range, .. }) => range.min_ip.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(to(eval(&mut nf, TableName::Nat, Hook::Output, &PacketInfo::new(&ip), vec![true])), "1.1.1.1");
    assert_eq!(
        to(eval(&mut nf, TableName::Nat, Hook::Output, &PacketInfo::new(&ip), vec![false])),
        "2.2.2.2"
    );
}

#[test]
fn evaluating_a_table_that_was_never_loaded_accepts_without_hits() {
    let mut nf = Netfilter::new();
    let ip = syn("10.0.0.1", "10.0.0.2", 80);
    let e = eval(&mut nf, TableName::Raw, Hook::Prerouting, &PacketInfo::new(&ip), vec![]);
    assert_eq!((e.verdict, e.hits.len()), (Verdict::Accept, 0));
}

#[test]
fn recent_set_then_rcheck_with_hitcount_counts_stamps_within_the_window() {
    let rules = "*filter\n-A INPUT -m recent --name SSH --rcheck --seconds 60 --hitcount 3 -j DROP\n-A INPUT -m recent --name SSH --set\nCOMMIT\n";
    let mut nf = loaded(rules);
    let ip = syn("203.0.113.9", "10.0.0.2", 22);
    let mut verdicts = vec![];
    for t in [0u64, 10, 20, 30, 100] {
        let mut d = ScriptedDecider::default();
        let mut cx =
            EvalContext { now: SimTime::from_nanos(t * 1_000_000_000), decider: &mut d, addr_type: &unicast };
        verdicts.push(nf.evaluate(TableName::Filter, Hook::Input, &PacketInfo::new(&ip), &mut cx).verdict);
    }
    // Stamps at 0, 10, 20: the packet at t=30 sees 3 fresh stamps and is dropped (so
    // it adds no stamp); at t=100 all stamps are older than 60 s again.
    assert_eq!(verdicts, [Verdict::Accept, Verdict::Accept, Verdict::Accept, Verdict::Drop, Verdict::Accept]);
    assert_eq!(nf.match_state().recent.entries("SSH"), vec!["203.0.113.9".parse::<Ipv4Addr>().unwrap()]);
}

/// xt_recent keyed by destination (`--rdest`) under a mask: `--update` matches within
/// `--seconds` and refreshes the timestamp only when it matches; `--remove` matches an
/// existing entry and deletes it.
#[test]
fn recent_rdest_mask_update_and_remove() {
    let mut nf = loaded(
        "*filter\n\
         -A INPUT -p tcp --dport 1 -m recent --set --name L --mask 255.255.255.0 --rdest\n\
         -A INPUT -p tcp --dport 2 -m recent --update --seconds 10 --name L --mask 255.255.255.0 --rdest -j DROP\n\
         -A INPUT -p tcp --dport 3 -m recent --remove --name L --mask 255.255.255.0 --rdest -j REJECT\n\
         COMMIT\n",
    );
    let mut at = |secs: u64, dst: &str, dport: u16| {
        let ip = syn("192.168.1.1", dst, dport);
        let mut d = ScriptedDecider::new(vec![]);
        let now = SimTime::from_nanos(secs * 1_000_000_000);
        let mut cx = EvalContext { now, decider: &mut d, addr_type: &unicast };
        nf.evaluate(TableName::Filter, Hook::Input, &PacketInfo::new(&ip), &mut cx).verdict
    };
    assert_eq!(at(0, "10.0.0.2", 1), Verdict::Accept);
    assert_eq!(at(5, "10.0.0.77", 2), Verdict::Drop, "same /24 as the destination set at 0 s");
    assert_eq!(at(14, "10.0.0.3", 2), Verdict::Drop, "refreshed at 5 s by --update");
    assert_eq!(at(14, "10.0.1.1", 2), Verdict::Accept, "another /24 (the source is the same)");
    assert_eq!(at(30, "10.0.0.3", 2), Verdict::Accept, "not seen for 16 s");
    assert!(matches!(at(31, "10.0.0.9", 3), Verdict::Reject(_)), "--remove matches the entry");
    assert_eq!(at(31, "10.0.0.9", 3), Verdict::Accept, "...and deleted it");
    assert_eq!(at(0, "10.0.0.2", 1), Verdict::Accept);
}
