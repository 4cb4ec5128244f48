//! The sysctls of one namespace that change where packets go. Keys and defaults are
//! those of a fresh Linux network namespace (kernel 6.x) with br_netfilter loaded:
//! forwarding off, rp_filter 0, route_localnet 0, bridge-nf-call-iptables 1.
//! Per-device keys (`net.ipv4.conf.<dev>.*`) exist for every device of the namespace
//! plus `all` and `default`; unknown keys fail like `sysctl -w` does.

use std::collections::BTreeMap;

/// Per-interface IPv4 knobs we model (`net.ipv4.conf.<dev>.<knob>`).
pub const CONF_KNOBS: [&str; 5] =
    ["forwarding", "rp_filter", "route_localnet", "send_redirects", "proxy_arp"];

const GLOBAL: [(&str, &str); 6] = [
    ("net.ipv4.ip_forward", "0"),
    ("net.ipv4.ip_default_ttl", "64"),
    ("net.ipv4.icmp_echo_ignore_all", "0"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.netfilter.nf_conntrack_tcp_be_liberal", "0"),
    ("net.netfilter.nf_conntrack_tcp_loose", "1"),
];

/// The key is not a sysctl of this namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSysctl;

#[derive(Clone, Debug)]
pub struct Sysctls {
    values: BTreeMap<String, String>,
}

impl Default for Sysctls {
    fn default() -> Self {
        let mut values: BTreeMap<String, String> =
            GLOBAL.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for dev in ["all", "default"] {
            for knob in CONF_KNOBS {
                values.insert(conf_key(dev, knob), default_conf(knob).to_string());
            }
        }
        Sysctls { values }
    }
}

fn conf_key(dev: &str, knob: &str) -> String {
    format!("net.ipv4.conf.{dev}.{knob}")
}

fn default_conf(knob: &str) -> &'static str {
    match knob {
        "send_redirects" => "1",
        _ => "0",
    }
}

impl Sysctls {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v != "0")
    }

    fn int(&self, key: &str) -> u32 {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Sets a known key. `net.ipv4.ip_forward` also sets `conf.all.forwarding` and every
    /// device's `forwarding`, as devinet.c does; `conf.all.forwarding` does the reverse.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), UnknownSysctl> {
        if !self.values.contains_key(key) {
            return Err(UnknownSysctl);
        }
        if key == "net.ipv4.ip_forward" || key == "net.ipv4.conf.all.forwarding" {
            let v = if value.trim() == "0" { "0" } else { "1" };
            let fwd_keys: Vec<String> = self
                .values
                .keys()
                .filter(|k| k.starts_with("net.ipv4.conf.") && k.ends_with(".forwarding"))
                .cloned()
                .collect();
            for k in fwd_keys {
                self.values.insert(k, v.to_string());
            }
            self.values.insert("net.ipv4.ip_forward".into(), v.into());
            return Ok(());
        }
        self.values.insert(key.to_string(), value.trim().to_string());
        Ok(())
    }

    /// A new device inherits `conf.default.*` (forwarding follows `conf.all`).
    pub fn add_device(&mut self, dev: &str) {
        for knob in CONF_KNOBS {
            let v = if knob == "forwarding" {
                self.values[&conf_key("all", "forwarding")].clone()
            } else {
                self.values[&conf_key("default", knob)].clone()
            };
            self.values.insert(conf_key(dev, knob), v);
        }
    }

    pub fn remove_device(&mut self, dev: &str) {
        for knob in CONF_KNOBS {
            self.values.remove(&conf_key(dev, knob));
        }
    }

    /// `IN_DEV_FORWARD(in_dev)`.
    pub fn forwarding(&self, dev: &str) -> bool {
        self.flag(&conf_key(dev, "forwarding"))
    }
    /// Effective rp_filter: max(all, dev), as `IN_DEV_RPFILTER` computes it.
    pub fn rp_filter(&self, dev: &str) -> u32 {
        self.int(&conf_key("all", "rp_filter")).max(self.int(&conf_key(dev, "rp_filter")))
    }
    /// `IN_DEV_ROUTE_LOCALNET`: all OR dev.
    pub fn route_localnet(&self, dev: &str) -> bool {
        self.flag(&conf_key("all", "route_localnet")) || self.flag(&conf_key(dev, "route_localnet"))
    }
    pub fn bridge_nf_call_iptables(&self) -> bool {
        self.flag("net.bridge.bridge-nf-call-iptables")
    }
    pub fn echo_ignore_all(&self) -> bool {
        self.flag("net.ipv4.icmp_echo_ignore_all")
    }
    pub fn default_ttl(&self) -> u8 {
        self.int("net.ipv4.ip_default_ttl").clamp(1, 255) as u8
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forward_turns_on_forwarding_everywhere() {
        let mut s = Sysctls::default();
        s.add_device("eth0");
        assert!(!s.forwarding("eth0"));
        s.set("net.ipv4.ip_forward", "1").unwrap();
        assert!(s.forwarding("eth0"));
        s.add_device("cni0");
        assert!(s.forwarding("cni0"), "a device created later inherits conf.all.forwarding");
    }

    #[test]
    fn rp_filter_is_the_max_of_all_and_the_device() {
        let mut s = Sysctls::default();
        s.add_device("eth0");
        s.set("net.ipv4.conf.all.rp_filter", "2").unwrap();
        s.set("net.ipv4.conf.eth0.rp_filter", "1").unwrap();
        assert_eq!(s.rp_filter("eth0"), 2);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut s = Sysctls::default();
        assert!(s.set("net.ipv4.conf.nope.forwarding", "1").is_err());
        assert!(s.set("kernel.hostname", "x").is_err());
    }
}
