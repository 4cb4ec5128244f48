//! Addresses, kernel routes and device order against what Linux 6.18 (iproute2 6.1)
//! printed for the same commands, step by step. The expected texts were recorded in a
//! fresh network namespace (IPv6 off, as the kernel twin does) with:
//!
//!     ip netns add N; I="ip -n N"
//!     $I link set lo up; $I link set lo down; $I link set lo up
//!     $I addr del 127.0.0.1/8 dev lo; $I addr add 10.96.0.10/32 dev lo
//!     $I link set lo down; $I link set lo up
//!     $I link add x0 address 02:00:00:00:00:51 type veth peer name x1 address 02:00:00:00:00:52
//!     $I link set x0 up; $I link set x1 up
//!     $I addr add 10.0.0.1/24 dev x0; $I addr add 10.0.0.50/24 dev x0; $I addr add 10.0.0.60/25 dev x0
//!     $I addr del 10.0.0.50/24 dev x0
//!     $I addr add 10.0.0.50/24 dev x0; $I addr add 10.0.0.51/24 dev x0; $I addr del 10.0.0.1/24 dev x0
//!     $I link set x0 down; $I addr add 10.1.0.1/24 dev x0; $I addr add 10.1.0.2/24 dev x0
//!     $I link set x0 up
//!
//! printing `ip -br addr`, `ip route show table local` and `ip route show` in between.

mod common;

use common::{Harness, mac, s};
use sim_net::ops::NetOp;
use sim_net::show::{self, Render};

fn up(dev: &str, on: bool) -> NetOp {
    NetOp::SetLinkUp { netns: s("n"), dev: s(dev), up: on }
}
fn add(dev: &str, a: &str) -> NetOp {
    NetOp::AddAddr { netns: s("n"), dev: s(dev), addr: a.parse().unwrap() }
}
fn del(dev: &str, a: &str) -> NetOp {
    NetOp::DelAddr { netns: s("n"), dev: s(dev), addr: a.parse().unwrap() }
}

/// Our rendering, through the same normalisation the twin applies to the kernel's.
fn show(h: &Harness, r: Render) -> String {
    show::normalize(r, &show::render(&h.net, "n", r, h.now()).unwrap(), "")
}

fn fresh() -> Harness {
    let mut h = Harness::new();
    h.apply(&[NetOp::AddNetns { name: s("n") }]);
    h
}

const LO_LOCAL: &str = "\
local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 
local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 
";
const LO_BCAST: &str = "broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1 \n";

#[test]
fn lo_gets_127_0_0_1_when_it_first_comes_up_and_keeps_it_when_it_goes_down() {
    let mut h = fresh();
    // `ip route show table local` on a fresh namespace: "Error: ipv4: FIB table does not
    // exist." (normalised to empty).
    assert_eq!(show(&h, Render::IpAddrBrief), "lo               DOWN           \n");
    assert_eq!(show(&h, Render::IpRouteLocal), "");

    h.apply(&[up("lo", true)]);
    assert_eq!(show(&h, Render::IpAddrBrief), "lo               UNKNOWN        127.0.0.1/8 \n");
    assert_eq!(show(&h, Render::IpRouteLocal), format!("{LO_LOCAL}{LO_BCAST}"));

    h.apply(&[up("lo", false)]);
    assert_eq!(show(&h, Render::IpAddrBrief), "lo               DOWN           127.0.0.1/8 \n");
    assert_eq!(show(&h, Render::IpRouteLocal), LO_LOCAL);

    h.apply(&[up("lo", true)]);
    assert_eq!(show(&h, Render::IpAddrBrief), "lo               UNKNOWN        127.0.0.1/8 \n");
    assert_eq!(show(&h, Render::IpRouteLocal), format!("{LO_LOCAL}{LO_BCAST}"));

    // Deleted, another address instead: lo gets 127.0.0.1/8 back on its next NETDEV_UP,
    // ahead of the global address.
    h.apply(&[del("lo", "127.0.0.1/8"), add("lo", "10.96.0.10/32")]);
    assert_eq!(show(&h, Render::IpAddrBrief), "lo               UNKNOWN        10.96.0.10/32 \n");
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        "local 10.96.0.10 dev lo proto kernel scope host src 10.96.0.10 \n"
    );
    h.apply(&[up("lo", false), up("lo", true)]);
    assert_eq!(show(&h, Render::IpAddrBrief), "lo               UNKNOWN        127.0.0.1/8 10.96.0.10/32 \n");
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        format!("local 10.96.0.10 dev lo proto kernel scope host src 10.96.0.10 \n{LO_LOCAL}{LO_BCAST}")
    );
}

fn with_veth_pair() -> Harness {
    let mut h = fresh();
    h.apply(&[
        up("lo", true),
        NetOp::AddVeth {
            netns: s("n"),
            name: s("x0"),
            mac: mac(0x51),
            peer_netns: s("n"),
            peer_name: s("x1"),
            peer_mac: mac(0x52),
        },
    ]);
    h
}

#[test]
fn a_veth_pair_in_one_namespace_registers_the_peer_first() {
    let h = with_veth_pair();
    assert_eq!(
        show(&h, Render::IpLink),
        "\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: x1@x0: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:52 brd ff:ff:ff:ff:ff:ff
3: x0@x1: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:51 brd ff:ff:ff:ff:ff:ff
"
    );
    assert_eq!(show(&h, Render::IpLinkDetails), "2: x1: veth\n3: x0: veth\n");
}

#[test]
fn a_veth_pair_across_namespaces_numbers_each_end_in_its_own_namespace() {
    let mut h = Harness::new();
    h.apply(&[
        NetOp::AddNetns { name: s("a") },
        NetOp::AddNetns { name: s("b") },
        NetOp::AddVeth {
            netns: s("a"),
            name: s("v"),
            mac: mac(1),
            peer_netns: s("b"),
            peer_name: s("eth0"),
            peer_mac: mac(2),
        },
    ]);
    assert_eq!(h.net.netns("a").unwrap().ifindex("v"), Some(2));
    assert_eq!(h.net.netns("b").unwrap().ifindex("eth0"), Some(2));
}

#[test]
fn a_secondary_address_gets_a_local_route_with_the_primary_src_and_nothing_else() {
    let mut h = with_veth_pair();
    h.apply(&[
        up("x0", true),
        up("x1", true),
        add("x0", "10.0.0.1/24"),
        add("x0", "10.0.0.50/24"),
        add("x0", "10.0.0.60/25"),
    ]);
    assert_eq!(
        show(&h, Render::IpAddrBrief),
        "\
lo               UNKNOWN        127.0.0.1/8 
x1@x0            UP             
x0@x1            UP             10.0.0.1/24 10.0.0.60/25 10.0.0.50/24 
"
    );
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        format!(
            "\
local 10.0.0.1 dev x0 proto kernel scope host src 10.0.0.1 
local 10.0.0.50 dev x0 proto kernel scope host src 10.0.0.1 
local 10.0.0.60 dev x0 proto kernel scope host src 10.0.0.60 
broadcast 10.0.0.127 dev x0 proto kernel scope link src 10.0.0.60 
broadcast 10.0.0.255 dev x0 proto kernel scope link src 10.0.0.1 
{LO_LOCAL}{LO_BCAST}"
        )
    );
    // Same prefix address: the longer prefix is dumped first.
    assert_eq!(
        show(&h, Render::IpRoute),
        "\
10.0.0.0/25 dev x0 proto kernel scope link src 10.0.0.60 
10.0.0.0/24 dev x0 proto kernel scope link src 10.0.0.1 
"
    );
    // The secondary's source address is the primary (inet_select_addr).
    let x0 = h.net.netns("n").unwrap().dev("x0").unwrap();
    assert_eq!(x0.select_addr(Some("10.0.0.200".parse().unwrap())), Some("10.0.0.1".parse().unwrap()));

    h.apply(&[del("x0", "10.0.0.50/24")]);
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        format!(
            "\
local 10.0.0.1 dev x0 proto kernel scope host src 10.0.0.1 
local 10.0.0.60 dev x0 proto kernel scope host src 10.0.0.60 
broadcast 10.0.0.127 dev x0 proto kernel scope link src 10.0.0.60 
broadcast 10.0.0.255 dev x0 proto kernel scope link src 10.0.0.1 
{LO_LOCAL}{LO_BCAST}"
        )
    );
}

#[test]
fn deleting_a_primary_address_deletes_its_secondaries() {
    let mut h = with_veth_pair();
    h.apply(&[
        up("x0", true),
        up("x1", true),
        add("x0", "10.0.0.1/24"),
        add("x0", "10.0.0.60/25"),
        add("x0", "10.0.0.50/24"),
        add("x0", "10.0.0.51/24"),
        del("x0", "10.0.0.1/24"),
    ]);
    assert_eq!(
        show(&h, Render::IpAddrBrief),
        "\
lo               UNKNOWN        127.0.0.1/8 
x1@x0            UP             
x0@x1            UP             10.0.0.60/25 
"
    );
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        format!(
            "\
local 10.0.0.60 dev x0 proto kernel scope host src 10.0.0.60 
broadcast 10.0.0.127 dev x0 proto kernel scope link src 10.0.0.60 
{LO_LOCAL}{LO_BCAST}"
        )
    );
    assert_eq!(show(&h, Render::IpRoute), "10.0.0.0/25 dev x0 proto kernel scope link src 10.0.0.60 \n");
    let err = h.net.apply(&del("x0", "10.0.0.50/24"), h.now()).unwrap_err();
    assert_eq!(err.to_string(), sim_net::ops::OpError::CannotAssignAddress.to_string());
}

#[test]
fn addresses_added_while_down_get_their_prefix_and_broadcast_routes_on_up() {
    let mut h = with_veth_pair();
    h.apply(&[up("x0", true), up("x1", true), add("x0", "10.0.0.60/25"), up("x0", false)]);
    h.apply(&[add("x0", "10.1.0.1/24"), add("x0", "10.1.0.2/24")]);
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        format!(
            "\
local 10.0.0.60 dev x0 proto kernel scope host src 10.0.0.60 
local 10.1.0.1 dev x0 proto kernel scope host src 10.1.0.1 
local 10.1.0.2 dev x0 proto kernel scope host src 10.1.0.1 
{LO_LOCAL}{LO_BCAST}"
        )
    );
    h.apply(&[up("x0", true)]);
    assert_eq!(
        show(&h, Render::IpRouteLocal),
        format!(
            "\
local 10.0.0.60 dev x0 proto kernel scope host src 10.0.0.60 
broadcast 10.0.0.127 dev x0 proto kernel scope link src 10.0.0.60 
local 10.1.0.1 dev x0 proto kernel scope host src 10.1.0.1 
local 10.1.0.2 dev x0 proto kernel scope host src 10.1.0.1 
broadcast 10.1.0.255 dev x0 proto kernel scope link src 10.1.0.1 
{LO_LOCAL}{LO_BCAST}"
        )
    );
    assert_eq!(
        show(&h, Render::IpRoute),
        "\
10.0.0.0/25 dev x0 proto kernel scope link src 10.0.0.60 
10.1.0.0/24 dev x0 proto kernel scope link src 10.1.0.1 
"
    );
}
