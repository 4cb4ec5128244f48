//! Which node gets a VIP in `vip` mode: MetalLB's layer-2 choice. Every candidate node
//! is ranked by `sha256(nodeName + "#" + VIP)` and the lowest digest wins, so each VIP
//! has its own, stable order of nodes: when the winner becomes unhealthy the next one
//! takes over, and the others keep their VIPs. (`nodeport` mode spreads connections
//! instead, with `-m statistic --mode random`, see `rules.rs`.)

use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

/// The candidates in MetalLB's preference order for `vip`.
pub fn rank<'a>(candidates: &[&'a str], vip: Ipv4Addr) -> Vec<&'a str> {
    let mut v: Vec<(&str, [u8; 32])> =
        candidates.iter().map(|n| (*n, Sha256::digest(format!("{n}#{vip}").as_bytes()).into())).collect();
    v.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    v.into_iter().map(|(n, _)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_depends_only_on_the_names_and_the_vip() {
        let vip = Ipv4Addr::new(198, 51, 100, 1);
        let a = rank(&["node-1", "node-2", "node-3"], vip);
        let b = rank(&["node-3", "node-1", "node-2"], vip);
        assert_eq!(a, b, "input order does not matter");
        // Dropping the winner promotes the runner-up; the rest keep their order.
        let rest = rank(&a[1..], vip);
        assert_eq!(rest, a[1..].to_vec());
    }

    #[test]
    fn matches_sha256sum_by_hand() {
        // echo -n "node-N#198.51.100.1" | sha256sum: node-3 0d77.., node-2 7c2e.., node-1 c458..
        let vip = Ipv4Addr::new(198, 51, 100, 1);
        assert_eq!(rank(&["node-1", "node-2", "node-3"], vip), ["node-3", "node-2", "node-1"]);
    }
}
