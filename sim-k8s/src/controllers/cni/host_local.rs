//! host-local IPAM (plugins/ipam/host-local): addresses of one range handed out in
//! order, starting after the last reserved one and wrapping around, skipping the
//! gateway and addresses in use; freed addresses are reused only after wrapping.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Clone, Debug)]
pub struct HostLocal {
    subnet: Ipv4Net,
    allocated: BTreeSet<Ipv4Addr>,
    last_reserved: Option<Ipv4Addr>,
}

impl HostLocal {
    pub fn new(subnet: Ipv4Net) -> Self {
        HostLocal { subnet, allocated: BTreeSet::new(), last_reserved: None }
    }

    /// The default gateway of the range: network + 1.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet.network()) + 1)
    }

    fn range(&self) -> (u32, u32) {
        (u32::from(self.subnet.network()) + 1, u32::from(self.subnet.broadcast()) - 1)
    }

    /// Next free address, or `None` when the range is exhausted.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let (start, end) = self.range();
        let size = end.checked_sub(start)? + 1;
        let first = match self.last_reserved.map(u32::from) {
            Some(l) if (start..=end).contains(&l) => {
                if l == end {
                    start
                } else {
                    l + 1
                }
            }
            _ => start,
        };
        let gw = self.gateway();
        for i in 0..size {
            let ip = Ipv4Addr::from(start + (first - start + i) % size);
            if ip != gw && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.last_reserved = Some(ip);
                return Some(ip);
            }
        }
        None
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_in_order_skipping_the_gateway_and_reuses_only_after_wrapping() {
        let mut h = HostLocal::new("10.244.1.0/29".parse().unwrap());
        let got: Vec<String> = (0..5).map(|_| h.allocate().unwrap().to_string()).collect();
        assert_eq!(got, ["10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5", "10.244.1.6"]);
        assert_eq!(h.allocate(), None, "/29 has .2-.6 once the gateway .1 is skipped");
        h.release("10.244.1.3".parse().unwrap());
        assert_eq!(h.allocate().unwrap().to_string(), "10.244.1.3");
    }

    #[test]
    fn a_freed_address_is_not_reused_before_the_range_wraps() {
        let mut h = HostLocal::new("10.244.1.0/24".parse().unwrap());
        let a = h.allocate().unwrap();
        h.release(a);
        assert_eq!(h.allocate().unwrap().to_string(), "10.244.1.3");
    }
}
