//! `kube-netsim`: a deterministic simulator of a Kubernetes cluster's network.
//! The binary is thin: argument parsing here, one file per command under `cli/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kube_netsim::{cli, twin};

#[derive(Parser)]
#[command(name = "kube-netsim", version, about = "Trace every hop a packet takes through a simulated Kubernetes cluster", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario's timeline, print each probe's trace and check its expectations.
    ///
    /// Examples:
    ///   kube-netsim run scenarios/pod-to-pod.yaml
    ///   kube-netsim run scenarios/pod-to-pod.yaml --format json > trace.jsonl
    ///   kube-netsim run scenarios/pod-to-pod.yaml --detail summary --seed 7
    ///   kube-netsim run scenarios/udp-stale-conntrack.yaml --control-plane full
    ///
    /// Exit status: 0 all expectations met, 1 an expectation failed, 2 bad input.
    #[command(verbatim_doc_comment)]
    Run(cli::run::RunArgs),
    /// Send one ad-hoc probe through a scenario's cluster and print its trace.
    ///
    /// Examples:
    ///   kube-netsim trace scenarios/pod-to-pod.yaml --from pod/a --to pod/c --proto icmp
    ///   kube-netsim trace scenarios/pod-to-pod.yaml --from node/node-1 --to pod/c:80 --proto tcp
    ///   kube-netsim trace scenarios/dns-service-discovery.yaml --from pod/client --to api.shop:80 --proto tcp
    ///   kube-netsim trace scenarios/http-pod-to-pod.yaml --from pod/a --to pod/c --proto http --detail packets --seed 3
    #[command(verbatim_doc_comment)]
    Trace(cli::trace::TraceArgs),
    /// Show the state of the cluster after the timeline, as the real tools print it.
    ///
    /// Examples:
    ///   kube-netsim show scenarios/pod-to-pod.yaml routes --node node-1
    ///   kube-netsim show scenarios/pod-to-pod.yaml neigh --pod a
    ///   kube-netsim show scenarios/pod-to-pod.yaml pods
    ///   kube-netsim show scenarios/pod-to-pod.yaml commands
    ///   kube-netsim show scenarios/dns-service-discovery.yaml resolv --pod client
    ///   kube-netsim show scenarios/dns-service-discovery.yaml env --pod shop/api
    #[command(verbatim_doc_comment)]
    Show(cli::show::ShowArgs),
    /// Check a scenario (or a manifest file) without running it.
    ///
    /// Example:
    ///   kube-netsim validate scenarios/pod-to-pod.yaml
    #[command(verbatim_doc_comment)]
    Validate(cli::validate::ValidateArgs),
    /// Trace a packet through a real `iptables-save` dump, or check one.
    ///
    /// Examples:
    ///   kube-netsim iptables check --rules node.rules
    ///   kube-netsim iptables trace --rules node.rules --src 10.244.1.6 --dst 10.96.100.10:80 --in cni0 --local-ip 192.168.56.11
    #[command(subcommand, verbatim_doc_comment)]
    Iptables(cli::iptables::IptablesCmd),
    /// Replay a scenario in real network namespaces and compare with the simulator (root).
    ///
    /// Runs the scenario in the simulator, replays every dataplane op it issued in real
    /// Linux network namespaces (prefix kns-<pid>-, deleted afterwards), runs the same
    /// probes with real sockets, and compares outcomes and `ip`/`bridge`/`iptables-save`
    /// state item by item. See docs/kernel-twin.md.
    ///
    /// Examples:
    ///   sudo kube-netsim twin scenarios/pod-to-pod.yaml
    ///   sudo kube-netsim twin scenarios/pod-to-pod.yaml --format json
    ///   sudo kube-netsim twin scenarios/pod-to-pod.yaml --keep
    ///   sudo kube-netsim twin FILE --allowlist my-allowlist.txt
    ///
    /// The project's known deviations (tests/twin-allowlist.txt, each explained in
    /// docs/fidelity.md) are built in and reported as "known deviation".
    /// Exit status: 0 agreement (or only allowed differences), 1 a difference,
    /// 2 bad input or the machine cannot host the twin (the message says why).
    #[command(verbatim_doc_comment)]
    Twin(twin::TwinArgs),
    /// The kernel twin's probe client and server, run inside a namespace.
    #[command(hide = true)]
    TwinAgent(twin::TwinAgentArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(a) => cli::run::run(a),
        Command::Trace(a) => cli::trace::run(a),
        Command::Show(a) => cli::show::run(a),
        Command::Validate(a) => cli::validate::run(a),
        Command::Iptables(c) => u8::try_from(cli::iptables::run(c)).unwrap_or(cli::EXIT_BAD_INPUT),
        Command::Twin(a) => twin::scenario::cli(a),
        Command::TwinAgent(a) => u8::try_from(twin::agent::main(&a.args)).unwrap_or(cli::EXIT_BAD_INPUT),
    };
    ExitCode::from(code)
}
