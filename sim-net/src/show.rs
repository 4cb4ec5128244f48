//! iproute2-exact renderings of a namespace: what `ip route show`, `ip route show table
//! local`, `ip -br addr`, `ip link`, `ip -d link` (kind attributes), `ip neigh show` and
//! `bridge fdb show` print on Linux for the same state, byte for byte (trailing spaces
//! included). Checked against iproute2 6.1 on Linux 6.18 by `tests/show.rs`, whose
//! fixtures `tests/fixtures/iproute2/record.sh` records; the kernel twin compares these
//! renderings with the real tools after [`normalize`].
//!
//! What the model does not have, and so never prints: IPv6 (addresses, `33:33:*` FDB
//! entries), the multicast `self permanent` entries the kernel dumps for every device's
//! multicast list, VLAN FDB entries (`vlan_filtering 0`), qdiscs other than
//! `noqueue`/`noop`, and most `ip -d link` attributes (see [`Render::IpLinkDetails`]).
//! [`normalize`] removes exactly these from kernel output, plus the neighbour states that
//! depend on wall-clock time; every rule is listed on it.

use std::fmt::Write;

use sim_core::SimTime;

use crate::device::{Device, DeviceKind};
use crate::neigh::{NeighTable, NudState};
use crate::netns::Netns;
use crate::network::Network;
use crate::ops::{RouteType, Scope, Table};
use crate::route::Route;

/// One command whose output we render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Render {
    IpRoute,
    IpRouteLocal,
    IpAddrBrief,
    IpLink,
    /// `ip -d link`, reduced to one line per device with a kind: `N: NAME: KIND ATTRS`.
    /// vxlan: everything iproute2 prints from `vxlan` up to `addrgenmode`; bridge:
    /// `ageing_time`, `stp_state`, `vlan_filtering`; bridge_slave: `state`, `hairpin`,
    /// `learning`, `flood`; veth: the bare word. Timers, gso sizes and the like are left out.
    IpLinkDetails,
    IpNeigh,
    BridgeFdb,
    IptablesSave,
}

impl Render {
    pub const ALL: [Render; 8] = [
        Render::IpRoute,
        Render::IpRouteLocal,
        Render::IpAddrBrief,
        Render::IpLink,
        Render::IpLinkDetails,
        Render::IpNeigh,
        Render::BridgeFdb,
        Render::IptablesSave,
    ];

    /// The command line (without `ip -n NS`/`ip netns exec NS`) that prints this.
    pub fn command(self) -> &'static str {
        match self {
            Render::IpRoute => "ip route show",
            Render::IpRouteLocal => "ip route show table local",
            Render::IpAddrBrief => "ip -br addr",
            Render::IpLink => "ip link",
            Render::IpLinkDetails => "ip -d link",
            Render::IpNeigh => "ip neigh show",
            Render::BridgeFdb => "bridge fdb show",
            Render::IptablesSave => "iptables-save",
        }
    }
}

/// Our rendering of `what` for namespace `ns` at `now`; `None` if the namespace does not
/// exist. `iptables-save` is the netfilter engine's (`Netfilter::save`, byte-compatible
/// with iptables-nft 1.8.9; empty while no table exists, as in a fresh namespace).
pub fn render(net: &Network, ns: &str, what: Render, now: SimTime) -> Option<String> {
    let n = net.netns(ns)?;
    Some(match what {
        Render::IpRoute => ip_route(net, n),
        Render::IpRouteLocal => ip_route_table_local(net, n),
        Render::IpAddrBrief => ip_addr_brief(net, n),
        Render::IpLink => ip_link(net, n),
        Render::IpLinkDetails => ip_link_details(net, n),
        Render::IpNeigh => ip_neigh(n, now),
        Render::BridgeFdb => bridge_fdb(n, now),
        Render::IptablesSave => n.nf.tables.save(),
    })
}

/// `ip route show` (table main), in the kernel's dump order.
pub fn ip_route(net: &Network, ns: &Netns) -> String {
    routes(net, ns, Table::Main)
}

/// `ip route show table local`.
pub fn ip_route_table_local(net: &Network, ns: &Netns) -> String {
    routes(net, ns, Table::Local)
}

fn routes(net: &Network, ns: &Netns, table: Table) -> String {
    // `Routes::table` is the kernel's dump order.
    ns.routes.table(table).iter().map(|r| route_line(r, linkdown(net, ns, r)) + "\n").collect()
}

/// One route as iproute2 prints it (ip/iproute.c `print_route`), with its trailing space.
pub fn route_line(r: &Route, linkdown: bool) -> String {
    let mut s = String::new();
    if r.kind != RouteType::Unicast {
        let _ = write!(s, "{} ", r.kind.keyword());
    }
    match r.dst.prefix_len() {
        0 => s.push_str("default "),
        32 => _ = write!(s, "{} ", r.dst.addr()),
        _ => _ = write!(s, "{} ", r.dst),
    }
    if let Some(gw) = r.via {
        let _ = write!(s, "via {gw} ");
    }
    if let Some(dev) = &r.dev {
        let _ = write!(s, "dev {dev} ");
    }
    if r.proto != crate::ops::RouteProto::Boot {
        let _ = write!(s, "proto {} ", r.proto.keyword());
    }
    if r.scope != Scope::Global {
        let _ = write!(s, "scope {} ", r.scope.keyword());
    }
    if let Some(src) = r.src {
        let _ = write!(s, "src {src} ");
    }
    if r.metric != 0 {
        let _ = write!(s, "metric {} ", r.metric);
    }
    if r.onlink {
        s.push_str("onlink ");
    }
    if linkdown {
        s.push_str("linkdown ");
    }
    s
}

/// `RTNH_F_LINKDOWN`: the nexthop device is up but has no carrier.
fn linkdown(net: &Network, ns: &Netns, r: &Route) -> bool {
    let Some(dev) = r.dev.as_deref().and_then(|d| ns.dev(d).ok()) else { return false };
    r.kind != RouteType::Local && dev.up && !carrier(net, ns, dev, 0)
}

/// `netif_carrier_ok`: loopback and vxlan have carrier while up; a veth while both ends
/// are up; a bridge while one of its ports has carrier (STP off: ports forward at once).
pub fn carrier(net: &Network, ns: &Netns, dev: &Device, depth: u32) -> bool {
    if !dev.up || depth > 4 {
        return false;
    }
    match &dev.kind {
        DeviceKind::Loopback | DeviceKind::Vxlan(_) => true,
        DeviceKind::Veth { peer } => {
            net.netns(&peer.netns).and_then(|p| p.devices.get(&peer.ifindex)).is_some_and(|d| d.up)
        }
        DeviceKind::Bridge(_) => {
            ns.devices.values().any(|p| p.master == Some(dev.ifindex) && carrier(net, ns, p, depth + 1))
        }
    }
}

/// `IF_OPER_*` as iproute2 names it: devices without a carrier notion report UNKNOWN.
/// A veth without carrier is LOWERLAYERDOWN only when the device its `iflink` (the
/// peer's ifindex) names *in its own namespace* exists and has no carrier either
/// (`default_operstate`, net/core/link_watch.c, Linux 6.12+): a peer in the same
/// namespace that is down; a peer in another namespace reads DOWN (checked on 6.18).
fn operstate(net: &Network, ns: &Netns, dev: &Device) -> &'static str {
    match (&dev.kind, dev.up, carrier(net, ns, dev, 0)) {
        (_, false, _) => "DOWN",
        (DeviceKind::Loopback | DeviceKind::Vxlan(_), true, _) => "UNKNOWN",
        (_, true, true) => "UP",
        (DeviceKind::Veth { peer }, true, false) => match ns.devices.get(&peer.ifindex) {
            Some(same_index) if !carrier(net, ns, same_index, 0) => "LOWERLAYERDOWN",
            _ => "DOWN",
        },
        (_, true, false) => "DOWN",
    }
}

/// `NAME@ifN` for a veth whose peer is in another namespace, `NAME@PEER` in the same one.
fn link_name(ns: &Netns, dev: &Device) -> String {
    match &dev.kind {
        DeviceKind::Veth { peer } if peer.netns == ns.name => {
            format!("{}@{}", dev.name, ns.dev_name(peer.ifindex))
        }
        DeviceKind::Veth { peer } => format!("{}@if{}", dev.name, peer.ifindex),
        _ => dev.name.clone(),
    }
}

/// `ip -br addr`: `%-16s %-14s ` then `ADDR/LEN ` per address, primaries first.
pub fn ip_addr_brief(net: &Network, ns: &Netns) -> String {
    let mut out = String::new();
    for dev in ns.devices.values() {
        let _ = write!(out, "{:<16} {:<14} ", link_name(ns, dev), operstate(net, ns, dev));
        for a in ordered_addrs(dev) {
            let _ = write!(out, "{a} ");
        }
        out.push('\n');
    }
    out
}

/// `__inet_insert_ifa`: a secondary (same subnet as an earlier address) goes after every
/// primary address.
fn ordered_addrs(dev: &Device) -> Vec<ipnet::Ipv4Net> {
    let secondary = |i: usize| {
        let a = dev.addrs[i];
        dev.addrs[..i].iter().any(|p| p.prefix_len() == a.prefix_len() && p.contains(&a.addr()))
    };
    let (mut prim, mut sec) = (Vec::new(), Vec::new());
    for (i, a) in dev.addrs.iter().enumerate() {
        if secondary(i) { sec.push(*a) } else { prim.push(*a) }
    }
    prim.extend(sec);
    prim
}

/// `ip link`.
pub fn ip_link(net: &Network, ns: &Netns) -> String {
    let mut out = String::new();
    for dev in ns.devices.values() {
        let master = dev.master.map(|m| format!("master {} ", ns.dev_name(m))).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}: {}: <{}> mtu {} qdisc {} {master}state {} mode DEFAULT group default qlen 1000",
            dev.ifindex,
            link_name(ns, dev),
            link_flags(net, ns, dev),
            dev.mtu,
            if dev.up { "noqueue" } else { "noop" },
            operstate(net, ns, dev),
        );
        match &dev.kind {
            DeviceKind::Loopback => {
                out.push_str("    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n")
            }
            DeviceKind::Veth { peer } if peer.netns != ns.name => {
                let _ = writeln!(
                    out,
                    "    link/ether {} brd ff:ff:ff:ff:ff:ff link-netns {}",
                    dev.mac, peer.netns
                );
            }
            _ => _ = writeln!(out, "    link/ether {} brd ff:ff:ff:ff:ff:ff", dev.mac),
        }
    }
    out
}

/// iproute2 `print_link_flags`: NO-CARRIER first, IFF_* in bit order, M-DOWN last.
fn link_flags(net: &Network, ns: &Netns, dev: &Device) -> String {
    let running = carrier(net, ns, dev, 0);
    let mut f: Vec<&str> = Vec::new();
    if dev.up && !running {
        f.push("NO-CARRIER");
    }
    if matches!(dev.kind, DeviceKind::Loopback) {
        f.push("LOOPBACK");
    } else {
        f.extend(["BROADCAST", "MULTICAST"]);
    }
    if dev.up {
        f.push("UP");
    }
    if running {
        f.push("LOWER_UP");
    }
    if let DeviceKind::Veth { peer } = &dev.kind
        && peer.netns == ns.name
        && !ns.devices.get(&peer.ifindex).is_some_and(|p| p.up)
    {
        f.push("M-DOWN");
    }
    f.join(",")
}

/// `ip -d link`, reduced as [`Render::IpLinkDetails`] says.
pub fn ip_link_details(net: &Network, ns: &Netns) -> String {
    let mut out = String::new();
    for dev in ns.devices.values() {
        let mut kinds: Vec<String> = Vec::new();
        match &dev.kind {
            DeviceKind::Loopback => {}
            DeviceKind::Veth { .. } => kinds.push("veth".into()),
            DeviceKind::Bridge(br) => kinds.push(format!(
                "bridge ageing_time {} stp_state 0 vlan_filtering 0",
                br.ageing.as_nanos() / 10_000_000
            )),
            DeviceKind::Vxlan(c) => kinds.push(format!(
                "vxlan id {} local {} dev {} srcport 0 0 dstport {} {}ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx",
                c.vni,
                c.local,
                c.dev,
                c.dstport,
                if c.learning { "" } else { "nolearning " }
            )),
        }
        if let Some(m) = dev.master.and_then(|m| ns.devices.get(&m)) {
            let forwarding = m.up && carrier(net, ns, dev, 0);
            kinds.push(format!(
                "bridge_slave state {} hairpin {} learning on flood on",
                if forwarding { "forwarding" } else { "disabled" },
                if dev.hairpin { "on" } else { "off" }
            ));
        }
        for k in kinds {
            let _ = writeln!(out, "{}: {}: {k}", dev.ifindex, dev.name);
        }
    }
    out
}

/// `ip neigh show` (IPv4): `IP dev DEV lladdr MAC STATE ` or `IP dev DEV STATE `, in
/// table order (the kernel's order is its hash order; [`normalize`] sorts both sides).
pub fn ip_neigh(ns: &Netns, now: SimTime) -> String {
    let mut out = String::new();
    for ((dev, ip), e) in &ns.neigh.entries {
        let state = NeighTable::state_at(e, now);
        let _ = write!(out, "{ip} dev {} ", ns.dev_name(*dev));
        if let (Some(mac), false) = (e.mac, matches!(state, NudState::Incomplete | NudState::Failed)) {
            let _ = write!(out, "lladdr {mac} ");
        }
        let _ = writeln!(out, "{state} ");
    }
    out
}

/// `bridge fdb show`, device by device in ifindex order; within a device newest entry
/// first (the kernel adds to the head of `fdb_list`). Learned entries print an empty
/// state word (hence the trailing space), static ones `static`, local ones `permanent`.
pub fn bridge_fdb(ns: &Netns, now: SimTime) -> String {
    let mut out = String::new();
    for dev in ns.devices.values() {
        let bridge = match (&dev.kind, dev.master) {
            (DeviceKind::Bridge(_), _) => Some(dev),
            (_, Some(m)) => ns.devices.get(&m),
            _ => None,
        };
        if let Some(br) = bridge.and_then(|b| b.bridge().map(|x| (b, x))) {
            let (bdev, b) = br;
            let mine: Vec<_> = b.live_entries(now).filter(|(_, e)| e.port == dev.ifindex).collect();
            for (mac, e) in mine.into_iter().rev() {
                let state = if e.local {
                    "permanent"
                } else if e.is_static {
                    "static"
                } else {
                    ""
                };
                let _ = writeln!(out, "{mac} dev {} master {} {state}", dev.name, bdev.name);
            }
        }
        if let DeviceKind::Vxlan(c) = &dev.kind {
            for (mac, dst) in c.fdb.iter().rev() {
                let _ = writeln!(out, "{mac} dev {} dst {dst} self permanent", dev.name);
            }
        }
    }
    out
}

/// Makes kernel output comparable with ours; idempotent on our renderings. Rules, each
/// for something the model deliberately lacks or something only wall time decides:
/// - every output: the twin's per-run namespace prefix is removed (`link-netns`);
/// - `ip route show table local`: "Error: ipv4: FIB table does not exist." (a namespace
///   whose `lo` was never up and that has no address has no local table) is empty;
/// - `ip link`: a device that is down shows `qdisc noop` if it was never up and `qdisc
///   noqueue` if it was up once (the model has no qdiscs): down devices get `noop`;
/// - `ip -br addr`: IPv6 addresses are dropped (no IPv6 in the model);
/// - `ip -d link`: reduced to the attributes of [`Render::IpLinkDetails`];
/// - `ip neigh`: IPv6 entries are dropped; lines are sorted (the kernel dumps in hash
///   order); REACHABLE, STALE, DELAY and PROBE all become `<valid>` (which one depends on
///   wall-clock age and on unicast re-probing, which the model does not do); INCOMPLETE
///   and FAILED both become `<unresolved>` (after three unanswered requests an entry is
///   FAILED until the next packet for it makes it INCOMPLETE again; when the twin dumps
///   the table, on wall-clock time, depends on how long its real probes ran);
/// - `bridge fdb`: multicast `self permanent` entries (the devices' multicast lists,
///   `33:33:*`, `01:00:5e:*`) are dropped;
/// - `iptables-save`: `#` comment lines (version and date) are dropped and every
///   `[packets:bytes]` counter becomes `[0:0]`.
pub fn normalize(what: Render, text: &str, prefix: &str) -> String {
    let text = if prefix.is_empty() { text.to_string() } else { text.replace(prefix, "") };
    match what {
        Render::IpRouteLocal if text.starts_with("Error: ipv4: FIB table does not exist.") => String::new(),
        Render::IpLink => text
            .lines()
            .map(|l| {
                if l.contains(" state DOWN ") {
                    l.replace(" qdisc noqueue ", " qdisc noop ")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect(),
        Render::IpAddrBrief => text.lines().map(|l| drop_ipv6_addrs(l) + "\n").collect(),
        Render::IpLinkDetails => reduce_link_details(&text),
        Render::IpNeigh => normalize_neigh(&text),
        Render::BridgeFdb => {
            text.lines().filter(|l| !is_multicast_self(l)).map(|l| format!("{l}\n")).collect()
        }
        Render::IptablesSave => {
            text.lines().filter(|l| !l.starts_with('#')).map(|l| zero_counters(l) + "\n").collect()
        }
        _ => text,
    }
}

fn drop_ipv6_addrs(line: &str) -> String {
    let Some((head, addrs)) = line.char_indices().nth(32).map(|(i, _)| line.split_at(i)) else {
        return line.to_string();
    };
    let v4: String =
        addrs.split(' ').filter(|a| !a.is_empty() && !a.contains(':')).map(|a| format!("{a} ")).collect();
    format!("{head}{v4}")
}

fn normalize_neigh(text: &str) -> String {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.split(' ').next().unwrap_or("").contains(':'))
        .map(|l| {
            let mut w: Vec<&str> = l.split(' ').collect();
            for x in w.iter_mut() {
                if matches!(*x, "REACHABLE" | "STALE" | "DELAY" | "PROBE") {
                    *x = "<valid>";
                }
                if matches!(*x, "INCOMPLETE" | "FAILED") {
                    *x = "<unresolved>";
                }
            }
            w.join(" ") + "\n"
        })
        .collect();
    lines.sort();
    lines.concat()
}

fn is_multicast_self(line: &str) -> bool {
    let first_octet = line.get(..2).and_then(|o| u8::from_str_radix(o, 16).ok());
    line.ends_with("self permanent") && first_octet.is_some_and(|o| o & 1 == 1)
}

/// `:CHAIN POLICY [p:b]` (chain line) and `[p:b] -A ...` (`iptables-save -c`): only
/// these positions hold counters; a `[1:2]` inside a comment is left alone.
fn zero_counters(line: &str) -> String {
    let is_counter = |c: &str| {
        c.strip_prefix('[').and_then(|c| c.strip_suffix(']')).is_some_and(|c| {
            c.split_once(':').is_some_and(|(p, b)| p.parse::<u64>().is_ok() && b.parse::<u64>().is_ok())
        })
    };
    if line.starts_with(':')
        && let Some((head, c)) = line.rsplit_once(' ')
        && is_counter(c)
    {
        return format!("{head} [0:0]");
    }
    if let Some((c, rest)) = line.split_once(' ')
        && is_counter(c)
    {
        return format!("[0:0] {rest}");
    }
    line.to_string()
}

/// Kernel `ip -d link` → the [`Render::IpLinkDetails`] lines; our own output (already
/// reduced) passes through unchanged.
fn reduce_link_details(text: &str) -> String {
    let mut out = String::new();
    let mut head = String::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            if is_reduced(line) {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            // "3: veth0@if2: <...": keep "3: veth0".
            let mut parts = line.splitn(3, ": ");
            let (idx, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            head = format!("{idx}: {}", name.split('@').next().unwrap_or(name));
            continue;
        }
        if let Some(kind) = reduce_kind(line.trim_start()) {
            let _ = writeln!(out, "{head}: {kind}");
        }
    }
    out
}

/// Kernel link header lines carry the flags (`N: NAME: <FLAGS> mtu ...`); ours do not.
fn is_reduced(line: &str) -> bool {
    !line.contains(": <")
}

fn reduce_kind(attrs: &str) -> Option<String> {
    let words: Vec<&str> = attrs.split_whitespace().collect();
    let pick = |keys: &[&str]| {
        keys.iter()
            .filter_map(|k| {
                words.iter().position(|w| w == k).and_then(|i| words.get(i + 1)).map(|v| format!(" {k} {v}"))
            })
            .collect::<String>()
    };
    match *words.first()? {
        "veth" => Some("veth".into()),
        "vxlan" => {
            let end = words.iter().position(|w| *w == "addrgenmode").unwrap_or(words.len());
            Some(words[..end].join(" "))
        }
        "bridge" => Some(format!("bridge{}", pick(&["ageing_time", "stp_state", "vlan_filtering"]))),
        "bridge_slave" => Some(format!("bridge_slave{}", pick(&["state", "hairpin", "learning", "flood"]))),
        _ => None,
    }
}
