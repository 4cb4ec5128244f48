//! iptables-restore input: errors name line, column and token, restore semantics match
//! iptables-nft-restore 1.8.9 (checked in a namespace), and no input panics.

use proptest::prelude::*;
use sim_net::netfilter::{Netfilter, RestoreError, TableName};

fn restore_err(input: &str) -> RestoreError {
    let mut nf = Netfilter::new();
    match nf.restore(input, false) {
        Ok(_) => panic!("restore unexpectedly succeeded:\n{input}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_option_names_line_column_and_token() {
    let e = restore_err("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dprot 80 -j ACCEPT\nCOMMIT\n");
    assert_eq!((e.line, e.col, e.token.as_str()), (3, 17, "--dprot"));
    assert!(e.msg.contains("unknown option"), "{}", e.msg);
    assert_eq!(e.to_string(), format!("line 3:17: {} (at `--dprot')", e.msg));
}

#[test]
fn unsupported_match_and_target_list_what_is_supported() {
    let e = restore_err("*filter\n-A INPUT -m string --string x -j ACCEPT\nCOMMIT\n");
    assert_eq!((e.line, e.token.as_str()), (2, "string"));
    assert!(e.msg.contains("supported:") && e.msg.contains("statistic"), "{}", e.msg);
    let e = restore_err("*filter\n-A INPUT -j TPROXY\nCOMMIT\n");
    assert!(e.msg.starts_with("Chain 'TPROXY' does not exist"), "{}", e.msg);
    assert!(e.msg.contains("MASQUERADE"), "{}", e.msg);
}

#[test]
fn kernel_checked_errors_are_reported_like_iptables_nft() {
    let cases = [
        ("*filter\n-A INPUT -m tcp --dport 80 -j ACCEPT\nCOMMIT\n", "TCP match requires '-p tcp'"),
        ("*filter\n-A INPUT -j NOPE\nCOMMIT\n", "Chain 'NOPE' does not exist"),
        ("*filter\n-A FOO -j ACCEPT\nCOMMIT\n", "No chain/target/match by that name."),
        ("*filter\n-A INPUT -o eth0 -j ACCEPT\nCOMMIT\n", "Can't use -o with INPUT"),
        ("*filter\n-A INPUT -j REJECT --reject-with tcp-reset\nCOMMIT\n", "requires -p tcp"),
        ("*filter\n-A INPUT -s 1.2.3.4/33\nCOMMIT\n", "invalid mask `33' specified"),
        ("*filter\n-A INPUT -m statistic --mode random --probability 1.5\nCOMMIT\n", "out of range (0-1)"),
        (
            "*filter\n-A INPUT -m statistic --mode nth --every 3\nCOMMIT\n",
            "option \"--every\" also requires \"--packet\"",
        ),
        ("*filter\n-A INPUT -m statistic ! --mode random --probability 0.5\nCOMMIT\n", "cannot be inverted"),
        ("*filter\n-A INPUT -m addrtype --dst-type BOGUS\nCOMMIT\n", "addrtype: bad type \"BOGUS\""),
        ("*filter\n-A INPUT -j DNAT --to-destination 1.2.3.4\nCOMMIT\n", "only valid in the nat table"),
        ("*nat\n-A POSTROUTING -j DNAT --to-destination 1.2.3.4\nCOMMIT\n", "DNAT is reached from a hook"),
        ("*filter\n:A - [0:0]\n-A INPUT -j A\n-X A\nCOMMIT\n", "Device or resource busy"),
        (
            "*filter\n-D INPUT -s 9.9.9.9 -j ACCEPT\nCOMMIT\n",
            "Bad rule (does a matching rule exist in that chain?).",
        ),
        ("*filter\n-D INPUT 1\nCOMMIT\n", "Index of deletion too big."),
        ("*filter\n-I INPUT 2 -j ACCEPT\nCOMMIT\n", "Index of insertion too big."),
        ("*filter\n-A INPUT -j ACCEPT\n", "COMMIT expected"),
        ("*filter\n-A INPUT -m comment --comment \"unterminated\nCOMMIT\n", "unterminated quote"),
        ("*security\nCOMMIT\n", "unknown table"),
        ("-A INPUT -j ACCEPT\n", "expected `*table'"),
    ];
    for (input, want) in cases {
        let e = restore_err(input);
        assert!(e.msg.contains(want), "input:\n{input}\nwanted `{want}', got: {e}");
    }
}

#[test]
fn jump_loop_reachable_from_a_builtin_is_rejected_but_an_unreferenced_one_is_not() {
    let e = restore_err("*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\n-A INPUT -j A\nCOMMIT\n");
    assert!(e.msg.contains("Too many links") && e.msg.contains("A -> B -> A"), "{}", e.msg);
    let mut nf = Netfilter::new();
    nf.restore("*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n", false)
        .expect("kernel accepts it");
}

fn nested(depth: usize) -> String {
    let mut s = String::from("*filter\n");
    for i in 1..=depth {
        s += &format!(":C{i} - [0:0]\n");
    }
    s += "-A INPUT -j C1\n";
    for i in 1..depth {
        s += &format!("-A C{i} -j C{}\n", i + 1);
    }
    s + "COMMIT\n"
}

#[test]
fn chains_nest_at_most_fifteen_jumps_deep_as_with_nf_tables() {
    Netfilter::new().restore(&nested(15), false).expect("15 levels load on the kernel");
    let e = restore_err(&nested(16));
    assert!(e.msg.contains("Too many links"), "{}", e.msg);
}

#[test]
fn nfacct_fails_like_on_a_kernel_without_xt_nfacct_unless_enabled() {
    let input = "*filter\n-A INPUT -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP\nCOMMIT\n";
    let e = restore_err(input);
    assert!(e.msg.contains("No such file or directory"), "{}", e.msg);
    let mut nf = Netfilter::new();
    nf.set_nfacct_available(true);
    nf.restore(input, false).unwrap();
    assert!(nf.save().contains("-A INPUT -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP\n"));
}

#[test]
fn a_failed_table_commits_nothing_but_earlier_tables_stay_committed() {
    let mut nf = Netfilter::new();
    nf.restore("*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n", false).unwrap();
    let nat_before = nf.save_table(TableName::Nat);
    let input = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -j RETURN\n-A POSTROUTING -j NOPE\nCOMMIT\n";
    let e = nf.restore(input, false).unwrap_err();
    assert_eq!(e.committed, vec![TableName::Filter]);
    assert_eq!(e.line, 6);
    assert_eq!(nf.save_table(TableName::Nat), nat_before, "nat is unchanged");
    assert!(nf.save_table(TableName::Filter).contains("-A INPUT -j ACCEPT\n"), "filter was committed");
}

#[test]
fn without_noflush_a_table_is_replaced_and_with_noflush_it_is_extended() {
    let mut nf = Netfilter::new();
    nf.restore("*filter\n:X - [0:0]\n-A INPUT -j X\n-A X -j ACCEPT\nCOMMIT\n", false).unwrap();
    nf.restore("*filter\n-A INPUT -j DROP\nCOMMIT\n", true).unwrap();
    assert_eq!(nf.rule_count(), 3);
    // `:X` with --noflush flushes X only.
    nf.restore("*filter\n:X - [0:0]\nCOMMIT\n", true).unwrap();
    assert_eq!(nf.rule_count(), 2);
    nf.restore("*filter\n-A OUTPUT -j DROP\nCOMMIT\n", false).unwrap();
    assert_eq!(nf.rule_count(), 1);
    assert!(!nf.save().contains(":X"), "user chains go with a full restore");
}

#[test]
fn delete_by_spec_matches_the_normalised_rule() {
    let mut nf = Netfilter::new();
    nf.restore("*nat\n-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\n-A POSTROUTING -j MARK --or-mark 0x4000\nCOMMIT\n", false).unwrap();
    nf.restore("*nat\n-D POSTROUTING -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n", true).unwrap();
    assert_eq!(nf.rule_count(), 1);
}

#[test]
fn quoting_follows_iptables_restore() {
    let mut nf = Netfilter::new();
    nf.restore("*filter\n-A INPUT -m comment --comment \"a \\\"q\\\" b\" -j ACCEPT\nCOMMIT\n", false)
        .unwrap();
    assert!(nf.save().contains("--comment \"a \\\"q\\\" b\" -j ACCEPT"), "{}", nf.save());
}

const VOCAB: &[&str] = &[
    "*filter",
    "*nat",
    "*raw",
    "*mangle",
    "COMMIT",
    ":KUBE-X - [0:0]",
    ":INPUT DROP [1:2]",
    "-A",
    "-I",
    "-D",
    "-R",
    "-N",
    "-X",
    "-F",
    "-P",
    "-E",
    "INPUT",
    "PREROUTING",
    "KUBE-X",
    "1",
    "0",
    "-1",
    "!",
    "-s",
    "-d",
    "10.0.0.0/8",
    "1.2.3.4",
    "-p",
    "tcp",
    "udp",
    "icmp",
    "all",
    "-m",
    "tcp",
    "comment",
    "--comment",
    "\"a b\"",
    "\"",
    "statistic",
    "--mode",
    "random",
    "nth",
    "--every",
    "--packet",
    "--probability",
    "0.5",
    "recent",
    "--set",
    "--rcheck",
    "--seconds",
    "--reap",
    "--name",
    "mark",
    "--mark",
    "0x4000/0x4000",
    "conntrack",
    "--ctstate",
    "NEW,DNAT",
    "addrtype",
    "--dst-type",
    "LOCAL",
    "multiport",
    "--dports",
    "80,81:90",
    "--dport",
    "80",
    "-j",
    "-g",
    "ACCEPT",
    "DNAT",
    "--to-destination",
    "10.1.1.1:80-90",
    "MARK",
    "--or-mark",
    "REJECT",
    "--reject-with",
    "tcp-reset",
    "MASQUERADE",
    "--random-fully",
    "CONNMARK",
    "--save-mark",
    "LOG",
    "--log-prefix",
    "physdev",
    "--physdev-in",
    "veth+",
    "-i",
    "eth+",
    "-o",
    "\n",
    "\n",
    "\n",
    "#",
    "\\",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random token soup never panics; it either loads or gives a located error.
    #[test]
    fn random_restore_input_never_panics(words in prop::collection::vec(prop::sample::select(VOCAB), 0..60)) {
        let input = words.join(" ");
        let mut nf = Netfilter::new();
        match nf.restore(&input, false) {
            Ok(_) => { let _ = nf.save(); }
            Err(e) => prop_assert!(e.line >= 1 && e.col >= 1, "{e:?}"),
        }
    }

    /// Arbitrary text (including non-ASCII) never panics either.
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}", noflush in any::<bool>()) {
        let mut nf = Netfilter::new();
        let _ = nf.restore(&format!("*filter\n{s}\nCOMMIT\n"), noflush);
        let _ = nf.restore(&s, noflush);
    }

    /// Whatever loads, saves to text that loads again to the same save output.
    #[test]
    fn whatever_loads_round_trips_through_save(words in prop::collection::vec(prop::sample::select(VOCAB), 0..40)) {
        let mut nf = Netfilter::new();
        if nf.restore(&words.join(" "), false).is_ok() {
            let mut again = Netfilter::new();
            again.restore(&nf.save(), false).map_err(|e| TestCaseError::fail(format!("{e}\n{}", nf.save())))?;
            prop_assert_eq!(again.save(), nf.save());
        }
    }
}
