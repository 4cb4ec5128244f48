//! Replaying a `NetOp` stream in real network namespaces: prerequisite checks, the
//! per-run prefix, one command per op (`NetOp::command(prefix)`; `iptables-restore` gets
//! its input on stdin), servers and probe clients through `twin-agent`, capture of the
//! kernel's state, and cleanup.
//!
//! Safety: [`scoped`] refuses any command whose namespace is not prefixed, so nothing
//! can touch the default namespace; a registry of what this run created (namespaces,
//! agent process ids) is cleaned by [`Run::finish`], by `Drop` (errors, panics) and by
//! the SIGINT handler. Setup step that is not an op: right after `ip netns add`, IPv6 is
//! turned off in the namespace (`net.ipv6.conf.{all,default}.disable_ipv6=1`): the model
//! has no IPv6, and IPv6 DAD/MLD frames would teach bridges MACs the simulation never saw.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use sim_net::ops::NetOp;
use sim_net::packet::IpProto;
use sim_net::show::Render;

use super::agent::{self, AgentLine};
use super::{TwinInput, TwinOptions, TwinProbe};

/// Why the twin could not run (not a difference: the machine or the setup).
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    #[error("the kernel twin cannot run here: {0}")]
    Prerequisite(String),
    #[error("kernel twin setup failed: {0}")]
    Setup(String),
}

/// An op the kernel refused (the simulator had accepted it).
#[derive(Clone, Debug)]
pub struct OpFailure {
    pub index: usize,
    pub command: String,
    pub stderr: String,
}

/// What a probe did in the kernel.
#[derive(Clone, Debug, Default)]
pub struct KernelProbe {
    /// `None`: the agent did not report (it crashed or hung).
    pub result: Option<AgentLine>,
    /// Server lines (`accepted`/`received`) that arrived during the probe, with the
    /// namespace of the server.
    pub served: Vec<(String, AgentLine)>,
}

/// Everything observed in the kernel.
#[derive(Clone, Debug, Default)]
pub struct KernelRun {
    pub op_failures: Vec<OpFailure>,
    pub probes: Vec<KernelProbe>,
    /// (namespace, rendering, output with the prefix removed); `None`: command failed.
    pub state: Vec<(String, Render, Option<String>)>,
}

/// Checks root, iproute2, and what the op stream and probes need (VXLAN: see
/// [`Run::check_vxlan`], which needs a namespace of the run).
pub fn check_prerequisites(ops: &[NetOp], probes: &[TwinProbe]) -> Result<(), TwinError> {
    let fail = |m: &str| Err(TwinError::Prerequisite(m.to_string()));
    let uid = run_cmd(&argv("id -u"), None, Duration::from_secs(2));
    if uid.stdout.trim() != "0" {
        return fail("must run as root (it creates network namespaces)");
    }
    if !run_cmd(&argv("ip netns list"), None, Duration::from_secs(2)).ok() {
        return fail("`ip netns` is not available (install iproute2)");
    }
    if ops.iter().any(|o| matches!(o, NetOp::IptablesRestore { .. })) {
        let v = run_cmd(&argv("iptables-restore --version"), None, Duration::from_secs(2));
        if !v.stdout.contains("nf_tables") {
            return fail(
                "iptables-restore with the nf_tables backend is needed (install iptables; iptables-nft)",
            );
        }
    }
    if !std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables").exists() {
        return fail(
            "br_netfilter is not loaded (the model assumes bridge-nf-call-iptables=1): run `modprobe br_netfilter`",
        );
    }
    if ops.iter().any(|o| matches!(o, NetOp::ConntrackDelete { .. })) && !has("conntrack") {
        return fail("kube-proxy's conntrack cleanup needs `conntrack` (apt-get install conntrack)");
    }
    if probes.iter().any(|p| p.proto == IpProto::Icmp) && !has("ping") {
        return fail("ICMP probes need `ping` (apt-get install iputils-ping)");
    }
    Ok(())
}

fn has(tool: &str) -> bool {
    run_cmd(&["sh".into(), "-c".into(), format!("command -v {tool}")], None, Duration::from_secs(2)).ok()
}

/// What this run created, shared with the SIGINT handler.
#[derive(Default)]
struct Registry {
    prefix: String,
    keep: bool,
    netns: Vec<String>,
    agents: Vec<u32>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static HANDLER: Once = Once::new();

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> Option<T> {
    let mut g = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    g.as_mut().map(f)
}

/// Kills our agents, deletes our namespaces (everything with our prefix, also those an
/// interrupted `ip netns add` left), or prints how to delete them with `keep`.
fn cleanup(reg: &mut Registry) {
    for pid in reg.agents.drain(..) {
        let _ = run_cmd(&["kill".into(), "-9".into(), pid.to_string()], None, Duration::from_secs(2));
    }
    let listed = run_cmd(&argv("ip netns list"), None, Duration::from_secs(2)).stdout;
    let mut names: Vec<String> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&reg.prefix))
        .map(str::to_string)
        .collect();
    names.extend(reg.netns.iter().filter(|n| !names.contains(n)).cloned().collect::<Vec<_>>());
    if reg.keep {
        eprintln!("kernel twin: kept {} namespaces; remove them with:", names.len());
        eprintln!("  ip netns list | grep '^{}' | cut -d' ' -f1 | xargs -rn1 ip netns del", reg.prefix);
    } else {
        for n in names.iter().rev() {
            let _ = run_cmd(
                &["ip".into(), "netns".into(), "del".into(), n.clone()],
                None,
                Duration::from_secs(5),
            );
        }
    }
    reg.netns.clear();
}

/// One twin run: owns the registry until `finish` (or `Drop`).
pub struct Run {
    prefix: String,
    timeout: Duration,
    agent: Vec<String>,
    agent_env: Vec<(String, String)>,
    servers: Vec<Server>,
    done: bool,
}

struct Server {
    netns: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Run {
    pub fn start(opts: &TwinOptions) -> Result<Run, TwinError> {
        let p = &opts.prefix;
        let valid = p.starts_with("kns-")
            && p.ends_with('-')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid || p.len() > 20 {
            return Err(TwinError::Setup(format!("bad namespace prefix {p:?}: want kns-<id>-")));
        }
        let mut g = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_some() {
            return Err(TwinError::Setup("another twin run is active in this process".into()));
        }
        *g = Some(Registry { prefix: p.clone(), keep: opts.keep, ..Registry::default() });
        drop(g);
        HANDLER.call_once(|| {
            let _ = ctrlc::set_handler(|| {
                eprintln!("\nkernel twin: interrupted, cleaning up");
                with_registry(cleanup);
                std::process::exit(130);
            });
        });
        Ok(Run {
            prefix: p.clone(),
            timeout: opts.command_timeout,
            agent: opts.agent.clone(),
            agent_env: opts.agent_env.clone(),
            servers: Vec::new(),
            done: false,
        })
    }

    /// When the ops create VXLAN devices: that one can be created here, in a scratch
    /// namespace of the run (`PREFIX-vxlan-check`, deleted again): the kernel loads the
    /// vxlan module on demand, or refuses (no module, a container without the right).
    pub fn check_vxlan(&mut self, ops: &[NetOp]) -> Result<(), TwinError> {
        if !ops.iter().any(|o| matches!(o, NetOp::AddVxlan { .. })) {
            return Ok(());
        }
        let ns = format!("{}vxlan-check", self.prefix);
        with_registry(|r| r.netns.push(ns.clone()));
        let add = ["ip", "netns", "add", &ns].map(str::to_string).to_vec();
        let link = argv(&format!("ip -n {ns} link add vxlan-check type vxlan id 42 dstport 4789 nolearning"));
        let del = ["ip", "netns", "del", &ns].map(str::to_string).to_vec();
        for a in [&add, &link, &del] {
            scoped(a, &self.prefix).map_err(TwinError::Setup)?;
        }
        let made = run_cmd(&add, None, self.timeout);
        let res = if made.ok() { run_cmd(&link, None, self.timeout) } else { made };
        let _ = run_cmd(&del, None, self.timeout);
        with_registry(|r| r.netns.retain(|n| *n != ns));
        if res.ok() {
            return Ok(());
        }
        Err(TwinError::Prerequisite(format!(
            "cannot create a vxlan device in a scratch namespace ({}): load the vxlan module (`modprobe vxlan`)",
            res.stderr.trim()
        )))
    }

    /// Replays the ops, starting servers and running probes at their place in the stream,
    /// then captures the state of every namespace that still exists.
    pub fn execute(&mut self, input: &TwinInput<'_>) -> Result<KernelRun, TwinError> {
        let mut out =
            KernelRun { probes: vec![KernelProbe::default(); input.probes.len()], ..KernelRun::default() };
        // Listener index → its server's index in `self.servers`.
        let mut server_of: Vec<Option<usize>> = vec![None; input.listeners.len()];
        for at in 0..=input.ops.len() {
            for (i, l) in input.listeners.iter().enumerate().filter(|(_, l)| l.after_op == at) {
                self.start_server(&l.netns, l.proto, l.port, &l.role)?;
                server_of[i] = Some(self.servers.len() - 1);
            }
            // Servers that stop here stop between the probes, in simulated time order.
            let mut stops: Vec<(u64, usize)> = input
                .listeners
                .iter()
                .enumerate()
                .filter(|(_, l)| l.until_op == Some(at))
                .map(|(i, l)| (l.until_ns, i))
                .collect();
            stops.sort();
            let mut stops = stops.into_iter().peekable();
            for (i, p) in input.probes.iter().enumerate().filter(|(_, p)| p.after_op == at) {
                while let Some((_, l)) = stops.next_if(|(t, _)| *t <= p.start_ns) {
                    self.stop_server(server_of[l]);
                }
                out.probes[i] = self.probe(p);
            }
            for (_, l) in stops {
                self.stop_server(server_of[l]);
            }
            for p in input.background.iter().filter(|p| p.after_op == at) {
                let _ = self.probe(p);
            }
            if let Some(op) = input.ops.get(at)
                && let Err(stderr) = self.apply(op)?
            {
                out.op_failures.push(OpFailure { index: at, command: op.command(""), stderr });
            }
        }
        // Let the kernel's link watch catch up before reading the state: it applies
        // non-urgent carrier changes (a bridge whose last port went, and the `linkdown`
        // flag on its routes) up to one second (HZ) later, so a dump right after the last
        // op could show the state before them.
        std::thread::sleep(Duration::from_millis(1100));
        let live: Vec<String> = with_registry(|r| r.netns.clone()).unwrap_or_default();
        for ns in live {
            for r in Render::ALL {
                let text = self.capture(&ns, r);
                out.state.push((ns.trim_start_matches(&self.prefix).to_string(), r, text));
            }
        }
        Ok(out)
    }

    /// Runs one op; `Ok(Err(stderr))` when the kernel refused it.
    fn apply(&mut self, op: &NetOp) -> Result<Result<(), String>, TwinError> {
        let (args, stdin) = match op {
            NetOp::IptablesRestore { netns, input, noflush } => {
                let mut a = argv(&format!("ip netns exec {}{netns} iptables-restore -w 5", self.prefix));
                if *noflush {
                    a.push("--noflush".into());
                }
                (a, Some(input.as_str()))
            }
            _ => (argv(&op.command(&self.prefix)), None),
        };
        scoped(&args, &self.prefix).map_err(TwinError::Setup)?;
        if let NetOp::AddNetns { name } = op {
            with_registry(|r| r.netns.push(format!("{}{name}", self.prefix)));
        }
        let res = run_cmd(&args, stdin, self.timeout);
        // `conntrack -D` exits 1 when its filter selected nothing; kube-proxy deletes over
        // netlink, where that is no error (the entry may have expired in the kernel).
        let nothing_deleted = matches!(op, NetOp::ConntrackDelete { .. })
            && res.status == Some(1)
            && res.stderr.contains(" 0 flow entries have been deleted");
        if !res.ok() && !nothing_deleted {
            if let NetOp::AddNetns { name } = op {
                let full = format!("{}{name}", self.prefix);
                with_registry(|r| r.netns.retain(|n| *n != full));
            }
            return Ok(Err(res.stderr.trim().to_string()));
        }
        match op {
            NetOp::AddNetns { name } => {
                let cmd = format!(
                    "ip netns exec {}{name} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
                    self.prefix
                );
                let r = run_cmd(&argv(&cmd), None, self.timeout);
                if !r.ok() {
                    return Err(TwinError::Setup(format!("{cmd}: {}", r.stderr.trim())));
                }
            }
            NetOp::DelNetns { name } => {
                let full = format!("{}{name}", self.prefix);
                with_registry(|r| r.netns.retain(|n| *n != full));
            }
            _ => {}
        }
        Ok(Ok(()))
    }

    fn agent_cmd(&self, netns: &str, args: &[String]) -> Vec<String> {
        let mut a = vec!["ip".into(), "netns".into(), "exec".into(), format!("{}{netns}", self.prefix)];
        if !self.agent_env.is_empty() {
            a.push("env".into());
            a.extend(self.agent_env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        a.extend(self.agent.iter().cloned());
        a.push("twin-agent".into());
        a.extend(args.iter().cloned());
        a
    }

    fn start_server(
        &mut self,
        netns: &str,
        proto: IpProto,
        port: u16,
        role: &super::apps::ServerRole,
    ) -> Result<(), TwinError> {
        let args = self.agent_cmd(netns, &agent::serve_args(proto, port, Duration::from_secs(600), role));
        scoped(&args, &self.prefix).map_err(TwinError::Setup)?;
        let mut child = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| TwinError::Setup(format!("{}: {e}", args.join(" "))))?;
        with_registry(|r| r.agents.push(child.id()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        self.servers.push(Server { netns: netns.to_string(), child, lines });
        let server = self.servers.last().expect("just pushed");
        for _ in 0..300 {
            if server.lines.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|l| l.contains("\"ready\""))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(TwinError::Setup(format!(
            "twin-agent server {proto:?}/{port} in {netns} did not start: {}",
            args.join(" ")
        )))
    }

    fn probe(&mut self, p: &TwinProbe) -> KernelProbe {
        let marks: Vec<usize> =
            self.servers.iter().map(|s| s.lines.lock().unwrap_or_else(|e| e.into_inner()).len()).collect();
        let args = self.agent_cmd(&p.from, &agent::client_args(p));
        let res = run_cmd_tracked(&args, None, p.timeout + Duration::from_secs(5), true);
        let result = res.stdout.lines().filter_map(AgentLine::parse).find(|l| l.agent == "client");
        std::thread::sleep(Duration::from_millis(150));
        let mut served = Vec::new();
        for (s, mark) in self.servers.iter().zip(marks) {
            let lines = s.lines.lock().unwrap_or_else(|e| e.into_inner());
            served.extend(
                lines[mark..].iter().filter_map(|l| AgentLine::parse(l)).map(|l| (s.netns.clone(), l)),
            );
        }
        KernelProbe { result, served }
    }

    fn capture(&self, ns: &str, r: Render) -> Option<String> {
        let cmd = match r {
            Render::IptablesSave => format!("ip netns exec {ns} iptables-save"),
            Render::BridgeFdb => format!("bridge -n {ns} fdb show"),
            _ => format!("ip -n {ns} {}", r.command().trim_start_matches("ip ")),
        };
        let res = run_cmd(&argv(&cmd), None, self.timeout);
        let text = if res.ok() { res.stdout } else { res.stderr };
        Some(text.replace(&self.prefix, ""))
    }

    /// A server's program exits (its pod was deleted): the kernel closes its sockets.
    fn stop_server(&mut self, k: Option<usize>) {
        if let Some(s) = k.and_then(|k| self.servers.get_mut(k)) {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }

    /// Stops the servers and deletes everything (or keeps it with `--keep`).
    pub fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        for s in &mut self.servers {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
        with_registry(|r| r.agents.clear());
        let mut g = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut reg) = g.take() {
            cleanup(&mut reg);
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Refuses a command that could act outside this run's namespaces: `ip netns
/// add|del|exec NAME ...`, or `ip|bridge -n NAME ...` where every namespace named (also a
/// veth's `netns PEER`) carries the prefix.
pub fn scoped(args: &[String], prefix: &str) -> Result<(), String> {
    let bad = || Err(format!("refusing to run an unscoped command: {}", args.join(" ")));
    let tool = args.first().map(String::as_str);
    if !matches!(tool, Some("ip" | "bridge")) || prefix.len() < 5 {
        return bad();
    }
    let ns_ok = |i: usize| args.get(i).is_some_and(|n| n.starts_with(prefix) && n.len() > prefix.len());
    let head_ok = match (tool, args.get(1).map(String::as_str), args.get(2).map(String::as_str)) {
        (Some("ip"), Some("netns"), Some("add" | "del" | "exec")) => ns_ok(3),
        (_, Some("-n"), _) => ns_ok(2),
        _ => false,
    };
    let peers_ok = args.iter().enumerate().skip(3).filter(|(_, a)| *a == "netns").all(|(i, _)| ns_ok(i + 1));
    if head_ok && peers_ok { Ok(()) } else { bad() }
}

fn argv(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(str::to_string).collect()
}

/// A finished (or killed) command.
pub struct CmdResult {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdResult {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs a command with a timeout (polled every 10 ms; killed when it expires).
pub fn run_cmd(args: &[String], stdin: Option<&str>, timeout: Duration) -> CmdResult {
    run_cmd_tracked(args, stdin, timeout, false)
}

/// `track`: the process id is in the registry while it runs, so Ctrl-C kills it (never
/// used from `cleanup`, which holds the registry).
fn run_cmd_tracked(args: &[String], stdin: Option<&str>, timeout: Duration, track: bool) -> CmdResult {
    let fail = |e: String| CmdResult { status: None, stdout: String::new(), stderr: e };
    let spawned = Command::new(&args[0])
        .args(&args[1..])
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return fail(format!("{}: {e}", args[0])),
    };
    let pid = child.id();
    if track {
        with_registry(|r| r.agents.push(pid));
    }
    if let (Some(input), Some(mut w)) = (stdin, child.stdin.take()) {
        let _ = w.write_all(input.as_bytes());
    }
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = reader(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = reader(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let mut status = None;
    for _ in 0..timeout.as_millis().div_ceil(10).max(1) {
        if let Ok(Some(s)) = child.try_wait() {
            status = Some(s.code().unwrap_or(-1));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if track {
        with_registry(|r| r.agents.retain(|p| *p != pid));
    }
    let mut stderr = err.join().unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {} ms)", timeout.as_millis()));
    }
    CmdResult { status, stdout: out.join().unwrap_or_default(), stderr }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        argv(s)
    }

    #[test]
    fn scoped_accepts_only_commands_on_prefixed_namespaces() {
        let p = "kns-42-";
        for ok in [
            "ip netns add kns-42-node-1",
            "ip netns exec kns-42-node-1 sysctl -w net.ipv4.ip_forward=1",
            "ip -n kns-42-node-1 link add veth0 type veth peer name eth0 netns kns-42-pod-a",
            "bridge -n kns-42-node-1 fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.168.1.12",
        ] {
            assert_eq!(scoped(&words(ok), p), Ok(()), "{ok}");
        }
        for bad in [
            "ip link add veth0 type veth",                    // the default namespace
            "ip netns add node-1",                            // unprefixed
            "ip netns add kns-42-",                           // the bare prefix
            "ip netns exec kns-43-node-1 true",               // another run's
            "ip -n kns-42-node-1 link set eth0 netns node-2", // a peer outside the run
            "ip -n kns-42-node-1 link add a type veth peer name b netns 1", // a pid
            "iptables -F",                                    // not ip/bridge
            "sh -c ip netns add kns-42-x",
            "ip route add 10.0.0.0/8 via 192.168.1.1",
        ] {
            let e = scoped(&words(bad), p).unwrap_err();
            assert!(e.starts_with("refusing to run an unscoped command"), "{bad}: {e}");
        }
        assert!(scoped(&words("ip netns add kns-x"), "kns").is_err(), "a prefix too short to be one");
    }
}
