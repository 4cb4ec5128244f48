//! `kube-netsim trace FILE --from REF --to REF`: one ad-hoc probe in the scenario's
//! cluster (its own steps are not run).

use std::path::PathBuf;

use sim_core::{SimDuration, SimTime};
use sim_k8s::plan::plan;
use sim_k8s::run::{self, StepPlan};
use sim_k8s::scenario::Ref;
use sim_k8s::world::{Origin, ProbePlan, Target};
use sim_net::packet::IpProto;

use super::report::ReportArgs;
use super::{EXIT_BAD_INPUT, EXIT_OK, EXIT_UNMET, load};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    Icmp,
    Tcp,
    Udp,
    /// A `GET /` over TCP, like a scenario's `proto: http` (the port defaults to 80).
    Http,
}

#[derive(clap::Args)]
pub struct TraceArgs {
    pub file: PathBuf,
    /// Where the probe starts: pod/NAME or node/NAME.
    #[arg(long)]
    pub from: String,
    /// Where it goes: pod/NAME[:PORT], node/NAME[:PORT], IP[:PORT].
    #[arg(long)]
    pub to: String,
    #[arg(long, value_enum, default_value = "icmp")]
    pub proto: Proto,
    /// When to send it (the cluster converges within a few hundred ms).
    #[arg(long, default_value = "1s")]
    pub at: String,
    #[arg(long, default_value = "3s")]
    pub timeout: String,
    #[command(flatten)]
    pub report: ReportArgs,
}

fn bad(msg: String) -> u8 {
    eprintln!("error: {msg}");
    EXIT_BAD_INPUT
}

pub fn run(a: TraceArgs) -> u8 {
    let s = match load(&a.file) {
        Ok(s) => a.report.scenario(s),
        Err(code) => return code,
    };
    let from: Ref = match a.from.parse() {
        Ok(r) => r,
        Err(e) => return bad(format!("--from {:?}: {e}", a.from)),
    };
    let to: Ref = match a.to.parse() {
        Ok(r) => r,
        Err(e) => return bad(format!("--to {:?}: {e}", a.to)),
    };
    let origin = match &from {
        Ref::Pod { namespace, name, .. } if s.pod(&from).is_some() => {
            Origin::Pod { namespace: namespace.clone(), name: name.clone() }
        }
        Ref::Node { name, .. } if s.node(&from).is_some() => Origin::Node(name.clone()),
        _ => return bad(format!("--from {:?}: expected an existing pod/NAME or node/NAME", a.from)),
    };
    let target = match &to {
        Ref::Pod { namespace, name, .. } if s.pod(&to).is_some() => {
            Target::Pod { namespace: namespace.clone(), name: name.clone() }
        }
        Ref::Node { name, .. } if s.node(&to).is_some() => Target::Node(name.clone()),
        Ref::Ip { addr, .. } => Target::Ip(*addr),
        Ref::Name { name, .. } => Target::Name(name.clone()),
        _ => return bad(format!("--to {:?}: no such pod or node in {}", a.to, a.file.display())),
    };
    let (proto, http) = match a.proto {
        Proto::Icmp => (IpProto::Icmp, false),
        Proto::Tcp => (IpProto::Tcp, false),
        Proto::Udp => (IpProto::Udp, false),
        Proto::Http => (IpProto::Tcp, true),
    };
    let port = to.port().unwrap_or(if http { 80 } else { 0 });
    if proto != IpProto::Icmp && port == 0 {
        return bad(format!(
            "--to {:?}: a {} probe needs a port (REF:PORT)",
            a.to,
            a.proto.to_possible_value_name()
        ));
    }
    let at: SimTime = match a.at.parse() {
        Ok(t) => t,
        Err(e) => return bad(format!("--at: {e}")),
    };
    let timeout: SimDuration = match a.timeout.parse() {
        Ok(t) => t,
        Err(e) => return bad(format!("--timeout: {e}")),
    };
    let mut input = a.report.input(plan(&s, true));
    let label = format!("{} -> {} ({})", a.from, a.to, a.proto.to_possible_value_name());
    input.steps = vec![StepPlan {
        probe: ProbePlan {
            at,
            from: origin,
            to: target,
            port,
            proto,
            http,
            request: Default::default(),
            timeout,
            sport: None,
            size: None,
        },
        expect: None,
        label,
        repeat: None,
    }];
    let report = run::run(input);
    let exhausted = a.report.print(&report, String::new);
    // No expectations here: 1 when the probe could not start or the run was stopped.
    if !exhausted && report.steps.iter().all(|st| st.probe.error.is_none()) { EXIT_OK } else { EXIT_UNMET }
}

trait PossibleValueName {
    fn to_possible_value_name(&self) -> String;
}
impl PossibleValueName for Proto {
    fn to_possible_value_name(&self) -> String {
        format!("{self:?}").to_lowercase()
    }
}
