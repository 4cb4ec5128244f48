//! Routing tables: `local` (maintained by the kernel from addresses) and `main`, with
//! longest-prefix match (`ip route get`). Lookup order is Linux's default rule set:
//! table local first, then main. Within a table the longest prefix wins; among equal
//! prefixes the lowest metric, then the route added first (as the kernel's fib keeps
//! insertion order for identical keys).

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::ops::{RouteProto, RouteSpec, RouteType, Scope, Table};

/// A route as stored: the spec with the device resolved and the scope made explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub table: Table,
    pub kind: RouteType,
    pub dst: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    pub dev: Option<String>,
    pub onlink: bool,
    pub scope: Scope,
    pub src: Option<Ipv4Addr>,
    pub proto: RouteProto,
    pub metric: u32,
}

impl Route {
    /// Fills in the kernel's default scope: host for local routes, link for a unicast
    /// route without a gateway, global otherwise.
    pub fn from_spec(spec: &RouteSpec) -> Route {
        let scope = spec.scope.unwrap_or(match (spec.kind, spec.via) {
            (RouteType::Local, _) => Scope::Host,
            (RouteType::Broadcast, _) => Scope::Link,
            (RouteType::Unicast, None) if spec.dev.is_some() => Scope::Link,
            _ => Scope::Global,
        });
        Route {
            table: spec.table,
            kind: spec.kind,
            dst: spec.dst.trunc(),
            via: spec.via,
            dev: spec.dev.clone(),
            onlink: spec.onlink,
            scope,
            src: spec.src,
            proto: spec.proto,
            metric: spec.metric,
        }
    }

    /// Same identity as the kernel uses for "File exists": table, prefix, metric (and
    /// type, tos, which we do not model).
    pub fn same_key(&self, o: &Route) -> bool {
        self.table == o.table && self.dst == o.dst && self.metric == o.metric
    }

    /// Whether `spec` (as given to `ip route del`) selects this route: unspecified
    /// fields match anything, as in the kernel.
    pub fn matches_del(&self, spec: &RouteSpec) -> bool {
        self.table == spec.table
            && self.dst == spec.dst.trunc()
            && spec.via.is_none_or(|v| self.via == Some(v))
            && spec.dev.as_ref().is_none_or(|d| self.dev.as_ref() == Some(d))
            && (spec.kind == RouteType::Unicast || spec.kind == self.kind)
    }
}

/// `ip route show` format for the main table, e.g.
/// `10.244.1.0/24 via 192.168.1.12 dev eth0` or
/// `10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1`.
/// In table local (`ip route show table local`) the type keyword leads:
/// `local 10.244.0.1 dev cni0 proto kernel scope host src 10.244.0.1`.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RouteType::Unicast {
            write!(f, "{} ", self.kind.keyword())?;
        }
        if self.dst.prefix_len() == 0 {
            f.write_str("default")?;
        } else if self.dst.prefix_len() == 32 {
            write!(f, "{}", self.dst.addr())?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(gw) = self.via {
            write!(f, " via {gw}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.proto != RouteProto::Boot {
            write!(f, " proto {}", self.proto.keyword())?;
        }
        // iproute2 `print_route` prints any scope but universe (global), also the
        // implied `scope host` of a local route and `scope link` of a broadcast route.
        if self.scope != Scope::Global {
            write!(f, " scope {}", self.scope.keyword())?;
        }
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        Ok(())
    }
}

/// A route with the same key is already there ("File exists").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteExists;

/// The routes of one namespace, both tables.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Routes of one table in `ip route show` order: fib_trie dumps its leaves in
    /// ascending key (prefix address) order; one leaf holds its prefixes longest first
    /// (ascending suffix length), then by metric.
    pub fn table(&self, table: Table) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.routes.iter().filter(|r| r.table == table).collect();
        v.sort_by_key(|r| (u32::from(r.dst.addr()), std::cmp::Reverse(r.dst.prefix_len()), r.metric));
        v
    }

    /// Inserts, refusing an identical key ("RTNETLINK answers: File exists").
    pub fn add(&mut self, r: Route) -> Result<(), RouteExists> {
        if self.routes.iter().any(|x| x.same_key(&r)) {
            return Err(RouteExists);
        }
        self.routes.push(r);
        Ok(())
    }

    /// Removes the first route `spec` selects; false if none did.
    pub fn del(&mut self, spec: &RouteSpec) -> bool {
        match self.routes.iter().position(|r| r.matches_del(spec)) {
            Some(i) => {
                self.routes.remove(i);
                true
            }
            None => false,
        }
    }

    /// Drops every route through `dev` (the kernel does this when a device goes away or
    /// down) and returns how many.
    pub fn remove_dev(&mut self, dev: &str) -> usize {
        let before = self.routes.len();
        self.routes.retain(|r| r.dev.as_deref() != Some(dev));
        before - self.routes.len()
    }

    /// Removes the kernel routes that an address created.
    pub fn remove_where(&mut self, pred: impl Fn(&Route) -> bool) {
        self.routes.retain(|r| !pred(r));
    }

    /// Longest-prefix match in table local, then main. `usable` filters routes whose
    /// device is down (the kernel skips dead nexthops).
    pub fn lookup(&self, dst: Ipv4Addr, usable: impl Fn(&Route) -> bool) -> Option<&Route> {
        for table in [Table::Local, Table::Main] {
            let best = self
                .routes
                .iter()
                .filter(|r| r.table == table && r.dst.contains(&dst) && usable(r))
                .min_by_key(|r| (std::cmp::Reverse(r.dst.prefix_len()), r.metric));
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn table() -> Routes {
        let mut t = Routes::default();
        for spec in [
            RouteSpec::new(net("0.0.0.0/0")).via(ip("192.168.1.1")).dev("eth0"),
            RouteSpec::new(net("10.244.0.0/16")).via(ip("10.244.0.1")).dev("eth0"),
            RouteSpec::new(net("10.244.1.0/24")).via(ip("192.168.1.12")).dev("eth0"),
            RouteSpec::new(net("10.244.1.128/25")).kind(RouteType::Blackhole),
        ] {
            t.add(Route::from_spec(&spec)).unwrap();
        }
        t
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table();
        let r = |d: &str| t.lookup(ip(d), |_| true).unwrap().dst.to_string();
        assert_eq!(r("10.244.1.7"), "10.244.1.0/24");
        assert_eq!(r("10.244.1.200"), "10.244.1.128/25");
        assert_eq!(r("10.244.2.7"), "10.244.0.0/16");
        assert_eq!(r("8.8.8.8"), "0.0.0.0/0");
    }

    #[test]
    fn local_table_is_consulted_first() {
        let mut t = table();
        let mut local = RouteSpec::new(net("10.244.1.5/32")).dev("cni0").kind(RouteType::Local);
        local.table = Table::Local;
        t.add(Route::from_spec(&local)).unwrap();
        assert_eq!(t.lookup(ip("10.244.1.5"), |_| true).unwrap().kind, RouteType::Local);
    }

    #[test]
    fn duplicate_key_is_refused_and_unusable_routes_are_skipped() {
        let mut t = table();
        let dup = RouteSpec::new(net("10.244.1.0/24")).dev("eth1");
        assert!(t.add(Route::from_spec(&dup)).is_err());
        let r = t.lookup(ip("10.244.1.7"), |r| r.dst.prefix_len() != 24).unwrap();
        assert_eq!(r.dst.to_string(), "10.244.0.0/16");
    }

    #[test]
    fn renders_like_ip_route() {
        let spec = RouteSpec::new(net("10.244.2.0/24")).via(ip("10.244.2.0")).dev("flannel.1").onlink();
        assert_eq!(Route::from_spec(&spec).to_string(), "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink");
        let mut k = RouteSpec::new(net("10.244.0.0/24")).dev("cni0").src(ip("10.244.0.1"));
        k.proto = RouteProto::Kernel;
        assert_eq!(
            Route::from_spec(&k).to_string(),
            "10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1"
        );
        let d = RouteSpec::new(net("0.0.0.0/0")).via(ip("192.168.1.1")).dev("eth0");
        assert_eq!(Route::from_spec(&d).to_string(), "default via 192.168.1.1 dev eth0");
    }

    fn kernel(table: Table, kind: RouteType, dst: &str, dev: &str, src: &str) -> Route {
        let mut s = RouteSpec::new(net(dst)).dev(dev).kind(kind).src(ip(src));
        s.table = table;
        s.proto = RouteProto::Kernel;
        Route::from_spec(&s)
    }

    /// iproute2 prints every scope but universe, also the implied ones of local and
    /// broadcast routes (`ip route show table local` on Linux).
    #[test]
    fn local_and_broadcast_routes_render_their_scope() {
        let local = kernel(Table::Local, RouteType::Local, "10.1.0.1/32", "cni0", "10.1.0.1");
        assert_eq!(local.to_string(), "local 10.1.0.1 dev cni0 proto kernel scope host src 10.1.0.1");
        let bcast = kernel(Table::Local, RouteType::Broadcast, "10.1.0.255/32", "cni0", "10.1.0.1");
        assert_eq!(bcast.to_string(), "broadcast 10.1.0.255 dev cni0 proto kernel scope link src 10.1.0.1");
        let lo = kernel(Table::Local, RouteType::Local, "127.0.0.0/8", "lo", "127.0.0.1");
        assert_eq!(lo.to_string(), "local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1");
        for r in [&local, &bcast, &lo] {
            assert_eq!(format!("{r} "), crate::show::route_line(r, false));
        }
        let bh = Route::from_spec(&RouteSpec::new(net("10.9.0.0/16")).kind(RouteType::Blackhole));
        assert_eq!(bh.to_string(), "blackhole 10.9.0.0/16");
    }

    /// fib_trie dumps one leaf's prefixes longest first: `ip route show` prints
    /// 10.0.0.0/25 before 10.0.0.0/24 (Linux 6.18).
    #[test]
    fn table_order_is_address_then_longest_prefix_then_metric() {
        let mut t = Routes::default();
        for (dst, metric) in [("10.0.0.0/24", 0), ("10.0.0.0/8", 0), ("10.0.0.0/25", 0), ("9.0.0.0/8", 0)] {
            let mut spec = RouteSpec::new(net(dst)).dev("x0");
            spec.metric = metric;
            t.add(Route::from_spec(&spec)).unwrap();
        }
        let mut m = RouteSpec::new(net("10.0.0.0/24")).dev("x0");
        m.metric = 100;
        t.add(Route::from_spec(&m)).unwrap();
        let order: Vec<String> =
            t.table(Table::Main).iter().map(|r| format!("{} {}", r.dst, r.metric)).collect();
        assert_eq!(
            order,
            ["9.0.0.0/8 0", "10.0.0.0/25 0", "10.0.0.0/24 0", "10.0.0.0/24 100", "10.0.0.0/8 0"]
        );
    }
}
