//! `NetOp`: the narrow waist. Every change to the dataplane is one of these, issued by
//! a component (kubelet, a CNI plugin, flanneld, kube-proxy) exactly as the real one would
//! issue it. `Display` renders the shell command that does the same on Linux, so
//! `show commands` teaches what each component does and the kernel twin can replay it.
//!
//! Every device MAC is explicit in the op (Linux would pick a random one): that keeps
//! runs deterministic and lets the twin reproduce neighbour and FDB tables exactly.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::packet::Mac;

/// Kinds of routes (`ip route add TYPE ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteType {
    Unicast,
    Local,
    Broadcast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RouteType {
    pub fn keyword(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        }
    }
}

/// Route scopes (`scope global|link|host`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Link,
    Host,
}

impl Scope {
    pub fn keyword(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Link => "link",
            Scope::Host => "host",
        }
    }
}

/// Which routing table (`table local|main`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Local,
    Main,
}

/// Who installed a route (`proto kernel|boot|static`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteProto {
    Kernel,
    Boot,
    Static,
}

impl RouteProto {
    pub fn keyword(self) -> &'static str {
        match self {
            RouteProto::Kernel => "kernel",
            RouteProto::Boot => "boot",
            RouteProto::Static => "static",
        }
    }
}

/// One route, as given to `ip route add`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub table: Table,
    pub kind: RouteType,
    pub dst: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    pub dev: Option<String>,
    pub onlink: bool,
    /// `None` means the kernel default: link for a device route without gateway,
    /// global otherwise (host for local routes).
    pub scope: Option<Scope>,
    pub src: Option<Ipv4Addr>,
    pub proto: RouteProto,
    pub metric: u32,
}

impl RouteSpec {
    /// `ip route add DST [via GW] [dev DEV]` with kernel defaults for the rest.
    pub fn new(dst: Ipv4Net) -> Self {
        RouteSpec {
            table: Table::Main,
            kind: RouteType::Unicast,
            dst,
            via: None,
            dev: None,
            onlink: false,
            scope: None,
            src: None,
            proto: RouteProto::Boot,
            metric: 0,
        }
    }
    pub fn via(mut self, gw: Ipv4Addr) -> Self {
        self.via = Some(gw);
        self
    }
    pub fn dev(mut self, dev: &str) -> Self {
        self.dev = Some(dev.to_string());
        self
    }
    pub fn onlink(mut self) -> Self {
        self.onlink = true;
        self
    }
    pub fn kind(mut self, kind: RouteType) -> Self {
        self.kind = kind;
        self
    }
    pub fn src(mut self, src: Ipv4Addr) -> Self {
        self.src = Some(src);
        self
    }
}

/// The arguments after `ip route add` (shared by add and del rendering).
impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RouteType::Unicast {
            write!(f, "{} ", self.kind.keyword())?;
        }
        if self.dst.prefix_len() == 0 {
            write!(f, "default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(gw) = self.via {
            write!(f, " via {gw}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.table == Table::Local {
            write!(f, " table local")?;
        }
        if self.proto != RouteProto::Boot {
            write!(f, " proto {}", self.proto.keyword())?;
        }
        if let Some(scope) = self.scope {
            write!(f, " scope {}", scope.keyword())?;
        }
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        Ok(())
    }
}

/// A dataplane operation. Fields name the namespace (`netns`) they apply to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetOp {
    /// `ip netns add NAME`; the namespace starts with `lo` down, as in Linux.
    AddNetns { name: String },
    /// `ip netns del NAME`; its devices vanish, veth peers in other namespaces too.
    DelNetns { name: String },
    /// `ip -n NS link add NAME [address MAC] type veth peer name PEER netns PEER_NS [address MAC]`
    AddVeth { netns: String, name: String, mac: Mac, peer_netns: String, peer_name: String, peer_mac: Mac },
    /// `ip -n NS link add NAME [address MAC] type bridge`
    AddBridge { netns: String, name: String, mac: Mac },
    /// `ip -n NS link add NAME address MAC type vxlan id VNI local IP dev DEV dstport PORT nolearning`
    AddVxlan {
        netns: String,
        name: String,
        mac: Mac,
        vni: u32,
        local: Ipv4Addr,
        dev: String,
        dstport: u16,
        learning: bool,
    },
    /// `ip -n NS link del DEV` (a veth takes its peer with it).
    DelLink { netns: String, dev: String },
    /// `ip -n NS link set DEV up|down`
    SetLinkUp { netns: String, dev: String, up: bool },
    /// `ip -n NS link set DEV mtu N`
    SetMtu { netns: String, dev: String, mtu: u32 },
    /// `ip -n NS link set DEV master BRIDGE` / `nomaster`
    SetMaster { netns: String, dev: String, master: Option<String> },
    /// `ip -n NS link set DEV type bridge_slave hairpin on|off`
    SetHairpin { netns: String, dev: String, on: bool },
    /// `ip -n NS addr add ADDR/LEN dev DEV`
    AddAddr { netns: String, dev: String, addr: Ipv4Net },
    /// `ip -n NS addr del ADDR/LEN dev DEV`
    DelAddr { netns: String, dev: String, addr: Ipv4Net },
    /// `ip -n NS route add ...`
    AddRoute { netns: String, route: RouteSpec },
    /// `ip -n NS route del ...`
    DelRoute { netns: String, route: RouteSpec },
    /// `ip -n NS neigh replace IP lladdr MAC dev DEV nud permanent`
    AddNeigh { netns: String, ip: Ipv4Addr, mac: Mac, dev: String },
    /// `ip -n NS neigh del IP dev DEV`
    DelNeigh { netns: String, ip: Ipv4Addr, dev: String },
    /// `bridge -n NS fdb append MAC dev DEV dst IP self permanent` (vxlan) or
    /// `bridge -n NS fdb add MAC dev DEV master static` (bridge port).
    AddFdb { netns: String, mac: Mac, dev: String, dst: Option<Ipv4Addr> },
    /// `bridge -n NS fdb del MAC dev DEV [dst IP]`
    DelFdb { netns: String, mac: Mac, dev: String, dst: Option<Ipv4Addr> },
    /// `ip netns exec NS sysctl -w KEY=VALUE`
    Sysctl { netns: String, key: String, value: String },
    /// `ip netns exec NS iptables-restore -w [--noflush] <<EOF ... EOF`
    IptablesRestore { netns: String, input: String, noflush: bool },
    /// `ip netns exec NS conntrack -D -p udp --orig-dst IP --reply-src IP --dport PORT`:
    /// deletes the conntrack entries the filter selects (none is not an error: kube-proxy
    /// deletes through netlink, where an empty selection is a no-op).
    ConntrackDelete { netns: String, filter: crate::conntrack::CtFilter },
}

impl NetOp {
    /// The namespace this op changes.
    pub fn netns(&self) -> &str {
        use NetOp::*;
        match self {
            AddNetns { name } | DelNetns { name } => name,
            AddVeth { netns, .. }
            | AddBridge { netns, .. }
            | AddVxlan { netns, .. }
            | DelLink { netns, .. }
            | SetLinkUp { netns, .. }
            | SetMtu { netns, .. }
            | SetMaster { netns, .. }
            | SetHairpin { netns, .. }
            | AddAddr { netns, .. }
            | DelAddr { netns, .. }
            | AddRoute { netns, .. }
            | DelRoute { netns, .. }
            | AddNeigh { netns, .. }
            | DelNeigh { netns, .. }
            | AddFdb { netns, .. }
            | DelFdb { netns, .. }
            | Sysctl { netns, .. }
            | IptablesRestore { netns, .. }
            | ConntrackDelete { netns, .. } => netns,
        }
    }

    /// The command with every namespace name prefixed by `prefix` (the kernel twin's
    /// per-run prefix); `Display` is `command("")`.
    pub fn command(&self, prefix: &str) -> String {
        use NetOp::*;
        let p = |ns: &str| format!("{prefix}{ns}");
        match self {
            AddNetns { name } => format!("ip netns add {}", p(name)),
            DelNetns { name } => format!("ip netns del {}", p(name)),
            AddVeth { netns, name, mac, peer_netns, peer_name, peer_mac } => format!(
                "ip -n {} link add {name} address {mac} type veth peer name {peer_name} netns {} address {peer_mac}",
                p(netns),
                p(peer_netns)
            ),
            AddBridge { netns, name, mac } => {
                format!("ip -n {} link add {name} address {mac} type bridge", p(netns))
            }
            AddVxlan { netns, name, mac, vni, local, dev, dstport, learning } => format!(
                "ip -n {} link add {name} address {mac} type vxlan id {vni} local {local} dev {dev} dstport {dstport}{}",
                p(netns),
                if *learning { "" } else { " nolearning" }
            ),
            DelLink { netns, dev } => format!("ip -n {} link del {dev}", p(netns)),
            SetLinkUp { netns, dev, up } => {
                format!("ip -n {} link set {dev} {}", p(netns), if *up { "up" } else { "down" })
            }
            SetMtu { netns, dev, mtu } => format!("ip -n {} link set {dev} mtu {mtu}", p(netns)),
            SetMaster { netns, dev, master: Some(m) } => {
                format!("ip -n {} link set {dev} master {m}", p(netns))
            }
            SetMaster { netns, dev, master: None } => format!("ip -n {} link set {dev} nomaster", p(netns)),
            SetHairpin { netns, dev, on } => format!(
                "ip -n {} link set {dev} type bridge_slave hairpin {}",
                p(netns),
                if *on { "on" } else { "off" }
            ),
            AddAddr { netns, dev, addr } => format!("ip -n {} addr add {addr} dev {dev}", p(netns)),
            DelAddr { netns, dev, addr } => format!("ip -n {} addr del {addr} dev {dev}", p(netns)),
            AddRoute { netns, route } => format!("ip -n {} route add {route}", p(netns)),
            DelRoute { netns, route } => format!("ip -n {} route del {route}", p(netns)),
            AddNeigh { netns, ip, mac, dev } => {
                format!("ip -n {} neigh replace {ip} lladdr {mac} dev {dev} nud permanent", p(netns))
            }
            DelNeigh { netns, ip, dev } => format!("ip -n {} neigh del {ip} dev {dev}", p(netns)),
            AddFdb { netns, mac, dev, dst: Some(dst) } => {
                format!("bridge -n {} fdb append {mac} dev {dev} dst {dst} self permanent", p(netns))
            }
            AddFdb { netns, mac, dev, dst: None } => {
                format!("bridge -n {} fdb add {mac} dev {dev} master static", p(netns))
            }
            DelFdb { netns, mac, dev, dst } => format!(
                "bridge -n {} fdb del {mac} dev {dev}{}",
                p(netns),
                dst.map(|d| format!(" dst {d}")).unwrap_or_default()
            ),
            Sysctl { netns, key, value } => format!("ip netns exec {} sysctl -w {key}={value}", p(netns)),
            IptablesRestore { netns, input, noflush } => format!(
                "ip netns exec {} iptables-restore -w{} <<'EOF'\n{}EOF",
                p(netns),
                if *noflush { " --noflush" } else { "" },
                input
            ),
            ConntrackDelete { netns, filter } => format!("ip netns exec {} {filter}", p(netns)),
        }
    }
}

impl fmt::Display for NetOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.command(""))
    }
}

/// Why an op failed, worded like the message Linux tools print.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("Cannot open network namespace \"{0}\": No such file or directory")]
    NoSuchNetns(String),
    #[error("Cannot create namespace file \"/var/run/netns/{0}\": File exists")]
    NetnsExists(String),
    #[error("Cannot find device \"{0}\"")]
    NoSuchDevice(String),
    #[error("RTNETLINK answers: File exists")]
    Exists,
    #[error("RTNETLINK answers: No such process")]
    NoSuchProcess,
    #[error("RTNETLINK answers: Cannot assign requested address")]
    CannotAssignAddress,
    #[error("Error: Nexthop has invalid gateway.")]
    InvalidGateway,
    #[error("Error: Device for nexthop is not up.")]
    NexthopDeviceDown,
    #[error("Error: Invalid argument: {0}")]
    InvalidArgument(String),
    #[error("sysctl: cannot stat /proc/sys/{0}: No such file or directory")]
    NoSuchSysctl(String),
    #[error("iptables-restore: {0}")]
    Iptables(String),
}
