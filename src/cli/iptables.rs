//! `kube-netsim iptables trace|check`: a thin argument and output layer over
//! `sim_net::netfilter` (the hook walk and the outcome enumeration live in
//! `sim_net::netfilter::trace`).
//!
//! Exit codes: 0 when the command ran (whatever the traced packet's verdict: a DROP is
//! a result, not a failure), 2 for bad input (unreadable file, a rule the model cannot
//! load, malformed arguments).

use super::{out, outln};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use sim_core::SimTime;
use sim_net::netfilter::Netfilter;
use sim_net::netfilter::trace::{Entry, LocalIp, TraceRequest, trace, trace_seeded};
use sim_net::packet::IpProto;

#[derive(clap::Subcommand, Debug)]
pub enum IptablesCmd {
    /// Send one new connection through an iptables-save dump, hook by hook, and list
    /// every rule that matches and every possible outcome with its probability.
    Trace(TraceArgs),
    /// Load an iptables-save dump and print it back in canonical iptables-save form.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// iptables-save output of the node (as `iptables-save > FILE`).
    #[arg(long)]
    pub rules: PathBuf,
    /// Source address, optionally with port (default port 40000): IP[:PORT].
    #[arg(long)]
    pub src: String,
    /// Destination: IP:PORT (IP alone for icmp).
    #[arg(long)]
    pub dst: String,
    #[arg(long, value_enum, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// The packet arrives on this interface (PREROUTING first). This is the default,
    /// on eth0, when neither --in nor --local-out is given.
    #[arg(long = "in", value_name = "IFACE", conflicts_with = "local_out")]
    pub in_iface: Option<String>,
    /// The packet is sent by a local process (OUTPUT first).
    #[arg(long)]
    pub local_out: bool,
    /// Egress interface, for rules with `-o` (unknown by default).
    #[arg(long = "out", value_name = "IFACE")]
    pub out_iface: Option<String>,
    /// An address of the node (repeatable), optionally with the device it is on
    /// (default eth0): decides local delivery and `addrtype LOCAL` (with
    /// `--limit-iface-in/out`, LOCAL only on that device; 127.0.0.0/8 is on lo).
    #[arg(long = "local-ip", value_name = "IP[%DEV]", value_parser = LocalIp::parse)]
    pub local_ip: Vec<LocalIp>,
    /// Follow one random draw of this seed instead of listing every outcome.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The interface a traced packet arrives on when no --in or --local-out is given.
const DEFAULT_IN: &str = "eth0";

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// iptables-save or iptables-restore input.
    #[arg(long)]
    pub rules: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Runs the command; returns the process exit code.
pub fn run(cmd: IptablesCmd) -> i32 {
    let result = match cmd {
        IptablesCmd::Trace(a) => run_trace(&a),
        IptablesCmd::Check(a) => load(&a.rules).map(|nf| out!("{}", nf.save())),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("{msg}");
            2
        }
    }
}

/// Reads and restores the file; errors read `FILE:LINE:COL: message`.
fn load(path: &PathBuf) -> Result<Netfilter, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut nf = Netfilter::new();
    nf.restore(&text, false).map_err(|e| {
        let tok = if e.token.is_empty() { String::new() } else { format!(" (at `{}')", e.token) };
        format!("{}:{}:{}: {}{tok}", path.display(), e.line, e.col, e.msg)
    })?;
    Ok(nf)
}

fn run_trace(a: &TraceArgs) -> Result<(), String> {
    let nf = load(&a.rules)?;
    let req = request(a)?;
    let header = format!(
        "Tracing {} {}:{} -> {}:{} {}\n",
        ip_proto(a.proto),
        req.src,
        req.sport,
        req.dst,
        req.dport,
        match &req.entry {
            Entry::In(dev) => format!("arriving on {dev}"),
            Entry::LocalOut => "sent by a local process".into(),
        }
    );
    match (a.seed, a.format) {
        (Some(seed), Format::Text) => {
            out!("{header}Seed {seed}:\n{}", trace_seeded(&nf, &req, seed).to_text())
        }
        (Some(seed), Format::Json) => outln!("{}", to_json(&trace_seeded(&nf, &req, seed))?),
        (None, Format::Text) => out!("{header}{}", trace(&nf, &req).to_text()),
        (None, Format::Json) => outln!("{}", to_json(&trace(&nf, &req))?),
    }
    Ok(())
}

fn request(a: &TraceArgs) -> Result<TraceRequest, String> {
    let (src, sport) = addr_port(&a.src, Some(40000)).map_err(|e| format!("--src: {e}"))?;
    let default_dport = (a.proto == Proto::Icmp).then_some(0);
    let (dst, dport) = addr_port(&a.dst, default_dport).map_err(|e| format!("--dst: {e}"))?;
    // clap rejects --in together with --local-out.
    let entry = match (&a.in_iface, a.local_out) {
        (_, true) => Entry::LocalOut,
        (Some(dev), false) => Entry::In(dev.clone()),
        (None, false) => Entry::In(DEFAULT_IN.into()),
    };
    let sport = if a.proto == Proto::Icmp && !a.src.contains(':') { 0 } else { sport };
    Ok(TraceRequest {
        proto: ip_proto(a.proto),
        src,
        sport,
        dst,
        dport,
        entry,
        out_dev: a.out_iface.clone(),
        local_ips: a.local_ip.clone(),
        now: SimTime::ZERO,
    })
}

fn ip_proto(p: Proto) -> IpProto {
    match p {
        Proto::Tcp => IpProto::Tcp,
        Proto::Udp => IpProto::Udp,
        Proto::Icmp => IpProto::Icmp,
    }
}

/// `IP:PORT`, or `IP` when a default port is given.
fn addr_port(s: &str, default_port: Option<u16>) -> Result<(Ipv4Addr, u16), String> {
    let (ip, port) = match (s.split_once(':'), default_port) {
        (Some((ip, p)), _) => (ip, p.parse::<u16>().map_err(|_| format!("bad port in `{s}'"))?),
        (None, Some(p)) => (s, p),
        (None, None) => return Err(format!("expected IP:PORT, got `{s}'")),
    };
    let ip = ip.parse::<Ipv4Addr>().map_err(|_| format!("bad IPv4 address in `{s}'"))?;
    Ok((ip, port))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| format!("JSON output failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_port_parses_and_defaults() {
        assert_eq!(addr_port("10.0.0.1:80", None), Ok(("10.0.0.1".parse().unwrap(), 80)));
        assert_eq!(addr_port("10.0.0.1", Some(40000)), Ok(("10.0.0.1".parse().unwrap(), 40000)));
        assert!(addr_port("10.0.0.1", None).is_err());
        assert!(addr_port("10.0.0:80", None).is_err());
        assert!(addr_port("10.0.0.1:99999", None).is_err());
    }
}
