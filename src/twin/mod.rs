//! The kernel twin: replays the very `NetOp` stream the simulator applied, in real Linux
//! network namespaces, runs the same probes there with real sockets, and compares
//! outcomes and state with the simulation (docs/kernel-twin.md).
//!
//! - `replay`: prerequisites, the per-run namespace prefix, running each op's
//!   `command(prefix)`, cleanup (also on error, panic and Ctrl-C), `--keep`;
//! - `agent`: `kube-netsim twin-agent`, run inside a namespace with `ip netns exec`:
//!   a probe client or a server, speaking JSON lines;
//! - `apps`: what the agent plays: http-echo, tcp-echo, udp-echo and the simulator's
//!   http/tcp/udp clients;
//! - `compare`: probe outcomes, responders, sources and answers, and per-namespace
//!   renderings, normalised by `sim_net::show::normalize`;
//! - `groups`: probes that kube-proxy's random endpoint choice decides, as a set;
//! - `allowlist`: accepted differences (the project's built in);
//! - `report`: the table (text) or JSON, and the exit status.
//!
//! Safety rules (not negotiable): every namespace name carries the per-run prefix
//! `kns-<pid>-` and every command is checked for it before it runs; nothing is ever
//! created in or attached to the default namespace; everything created is deleted at the
//! end, on error and on Ctrl-C unless `--keep`; every wait has a short timeout.
//!
//! The twin itself runs on wall-clock time (its timeouts); that is outside the simulation.

pub mod agent;
pub mod allowlist;
pub mod apps;
pub mod compare;
pub mod groups;
pub mod replay;
pub mod report;
pub mod scenario;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sim_net::ops::NetOp;
use sim_net::packet::IpProto;
use sim_net::show::Render;
use sim_net::stack::ProbeOutcome;

pub use compare::{Allowlist, Item, Status};
pub use replay::TwinError;
pub use report::TwinReport;

/// `kube-netsim twin FILE [--keep] [--format text|json] [--allowlist FILE]`
#[derive(clap::Args, Debug, Clone)]
pub struct TwinArgs {
    /// Scenario to run in the simulator and replay in real network namespaces.
    pub file: PathBuf,
    /// Leave the namespaces in place afterwards and print how to remove them.
    #[arg(long)]
    pub keep: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Accepted differences (`ITEM | reason | docs/fidelity.md#anchor` per line).
    #[arg(long)]
    pub allowlist: Option<PathBuf>,
}

/// `kube-netsim twin-agent ARGS...` (hidden): see [`agent::main`].
#[derive(clap::Args, Debug, Clone)]
pub struct TwinAgentArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// A probe to run in both worlds. It runs after `ops[..after_op]` have been replayed.
#[derive(Clone, Debug)]
pub struct TwinProbe {
    pub name: String,
    pub from: String,
    pub proto: IpProto,
    pub dst: Ipv4Addr,
    /// Ignored for ICMP.
    pub dport: u16,
    /// A fixed client source port (udp `sourcePort`).
    pub sport: Option<u16>,
    /// Payload bytes (icmp, udp `size`).
    pub size: Option<u16>,
    pub timeout: Duration,
    pub after_op: usize,
    /// The simulated start time (ns): orders the probe against servers stopping at the
    /// same place of the op stream.
    pub start_ns: u64,
    /// What a TCP client does once connected (the simulator's `tcp` or `http` client).
    pub client: agent::ClientMode,
}

/// A server the simulation had listening (a built-in app), started in the twin as
/// `twin-agent serve` after `ops[..after_op]`.
#[derive(Clone, Debug)]
pub struct TwinListener {
    pub netns: String,
    pub proto: IpProto,
    pub port: u16,
    pub after_op: usize,
    /// Stop the server before this op (its pod was deleted), if ever, at simulated
    /// time `until_ns`.
    pub until_op: Option<usize>,
    pub until_ns: u64,
    /// The application the TCP server plays (UDP servers echo).
    pub role: apps::ServerRole,
}

/// What the simulator reported for one probe (same order as the probes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimProbeResult {
    pub outcome: ProbeOutcome,
    /// Namespace whose stack or listener answered (`SocketEventKind::Answered.responder`).
    pub responder: Option<String>,
    /// Source address the responder saw (after NAT).
    pub seen_src: Option<Ipv4Addr>,
    pub detail: String,
    /// Namespaces that may answer when the probe goes to a Service with several
    /// endpoints: kube-proxy's `-m statistic` choice is random, so the kernel may pick
    /// another one. Empty when the responder is determined.
    pub possible_responders: Vec<String>,
    /// Probes with possible responders and the same group (a step's repetitions:
    /// `step-7-tcp` for `step-7#1-tcp` .. `step-7#60-tcp`) are compared as a set
    /// (`compare::groups`). Empty: the probe is a group of its own.
    pub group: String,
    /// The entry node is drawn at random too (a load balancer's choice among nodes), so
    /// the source an endpoint sees (the masquerade address of the node that forwarded)
    /// depends on that draw as well.
    pub random_entry: bool,
    /// What came back, as `apps::answer_summary` puts it (HTTP status and http-echo's
    /// fields; the tcp/udp exchange's byte counts); `None`: not compared.
    pub answer: Option<String>,
    /// The namespaces the simulator's trace of this probe crossed, in order (empty when
    /// it was not traced).
    pub path: Vec<String>,
}

/// Everything the twin needs from a simulation run.
pub struct TwinInput<'a> {
    /// Ops in issue order, exactly as `Network::apply` received them.
    pub ops: &'a [NetOp],
    /// The simulator's error for each op it refused (same order as `ops`; missing
    /// entries, e.g. an empty slice, mean applied). An op refused on one side only is a
    /// difference (`op N`).
    pub op_errors: &'a [Option<String>],
    pub listeners: &'a [TwinListener],
    pub probes: &'a [TwinProbe],
    pub sim_results: &'a [SimProbeResult],
    /// Connections the simulation made on its own (the load balancer's health checks):
    /// replayed at their place so the kernel sees the same traffic (neighbour entries,
    /// listeners), but not compared: what they decided is in the replayed ops already.
    pub background: &'a [TwinProbe],
    /// The simulator's rendering of `Render` for a namespace at the end of the run, e.g.
    /// `&|ns, r| sim_net::show::render(&net, ns, r, now)`; `None`: not rendered.
    pub sim_state: &'a dyn Fn(&str, Render) -> Option<String>,
}

/// How to run the twin.
#[derive(Clone, Debug)]
pub struct TwinOptions {
    /// Leave namespaces (and print how to remove them).
    pub keep: bool,
    /// Namespace prefix; default `kns-<pid>-`. Must start with `kns-`.
    pub prefix: String,
    /// How to start the agent: program and leading arguments; `twin-agent ...` follows.
    /// Default: this executable (`kube-netsim`).
    pub agent: Vec<String>,
    /// Extra environment for the agent (`env K=V` inside `ip netns exec`).
    pub agent_env: Vec<(String, String)>,
    pub allowlist: Allowlist,
    /// Timeout of one replayed command. Default 10 s.
    pub command_timeout: Duration,
}

impl Default for TwinOptions {
    fn default() -> Self {
        TwinOptions {
            keep: false,
            prefix: format!("kns-{}-", std::process::id()),
            agent: vec![
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "kube-netsim".into()),
            ],
            agent_env: Vec::new(),
            allowlist: Allowlist::default(),
            command_timeout: Duration::from_secs(10),
        }
    }
}

/// Runs the twin: prerequisites, replay with probes, state capture, cleanup, comparison.
/// `Err` only when the machine cannot host the twin or the setup broke; differences are
/// in the report (`TwinReport::exit_code`).
pub fn run_twin(input: &TwinInput<'_>, opts: &TwinOptions) -> Result<TwinReport, TwinError> {
    assert_eq!(input.probes.len(), input.sim_results.len(), "one simulated result per probe");
    replay::check_prerequisites(input.ops, input.probes)?;
    let mut run = replay::Run::start(opts)?;
    run.check_vxlan(input.ops)?;
    let kernel = run.execute(input)?;
    let report = compare::compare(input, &kernel, opts);
    run.finish();
    Ok(report)
}
