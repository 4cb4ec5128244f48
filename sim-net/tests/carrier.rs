//! Carrier loss flushes a device's neighbours (Linux `neigh_carrier_down`): when the last
//! port of a bridge goes, the bridge forgets the addresses it had resolved, but keeps
//! permanent entries; a bridge that still has a port with carrier keeps everything.
//! Checked against the kernel: `ip link del` of the only port, then `ip neigh` is empty.

mod common;

use common::{Harness, addr, mac, netns, s, up, veth};
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;
use sim_net::show;
use sim_net::stack::ProbeOutcome;

fn setup(h: &mut Harness, ports: usize) {
    h.apply(&[
        netns("host"),
        NetOp::AddBridge { netns: s("host"), name: s("br0"), mac: mac(1) },
        addr("host", "br0", "10.9.0.1/24"),
        up("host", "br0"),
    ]);
    for i in 0..ports {
        let (pod, v) = (format!("pod{i}"), format!("v{i}"));
        let m = 10 + 2 * i as u8;
        h.apply(&[
            netns(&pod),
            veth("host", &v, &pod, "eth0", m),
            NetOp::SetMaster { netns: s("host"), dev: v.clone(), master: Some(s("br0")) },
            up("host", &v),
            addr(&pod, "eth0", &format!("10.9.0.{}/24", 2 + i)),
            up(&pod, "eth0"),
        ]);
    }
    h.apply(&[NetOp::AddNeigh {
        netns: s("host"),
        ip: "10.9.0.99".parse().unwrap(),
        mac: mac(99),
        dev: s("br0"),
    }]);
}

fn neigh(h: &Harness) -> String {
    show::ip_neigh(h.net.netns("host").unwrap(), h.now())
}

#[test]
fn the_last_port_going_flushes_the_bridges_neighbours_but_not_permanent_ones() {
    let mut h = Harness::new();
    setup(&mut h, 1);
    assert_eq!(h.probe("host", IpProto::Icmp, "10.9.0.2", 0).0, ProbeOutcome::Reached);
    assert!(neigh(&h).contains("10.9.0.2 dev br0"), "{}", neigh(&h));
    h.apply(&[NetOp::DelLink { netns: s("host"), dev: s("v0") }]);
    let after = neigh(&h);
    assert!(!after.contains("10.9.0.2"), "{after}");
    assert!(after.contains("10.9.0.99 dev br0 lladdr"), "{after}");
}

#[test]
fn a_bridge_with_a_port_left_keeps_its_neighbours() {
    let mut h = Harness::new();
    setup(&mut h, 2);
    assert_eq!(h.probe("host", IpProto::Icmp, "10.9.0.2", 0).0, ProbeOutcome::Reached);
    h.apply(&[NetOp::DelNetns { name: s("pod1") }]);
    assert!(neigh(&h).contains("10.9.0.2 dev br0"), "{}", neigh(&h));
}
