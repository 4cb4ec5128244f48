//! The load balancer in the world: it reads Services after its programming latency,
//! applies what `crate::lb` decides as the `lb` component, and runs each target's
//! health checks on sim time (one every `interval`, failed after `timeout`). Check
//! packets are traced under their own flow tags (`HEALTH_CHECK_TAG_BASE` + n), so they
//! never mix into a probe's trace (`kube-netsim run --health-checks` prints them); the
//! timeline gets each target's first result and every state change.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use sim_core::{EventQueue, SimDuration, SimTime};
use sim_net::stack::ProbeOutcome;

use super::{Event, KubeWorld};
use crate::lb::{Check, LB_NETNS, TargetKey};
use crate::store::Object;

/// One load-balancer health check: the kernel twin replays it as a probe, so the
/// kernel's neighbour tables see the same traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckRecord {
    pub netns: String,
    pub dst: Ipv4Addr,
    pub port: u16,
    pub started: SimTime,
    pub timeout: SimDuration,
    pub outcome: Option<ProbeOutcome>,
    pub detail: String,
    /// How many `commands` were issued before it started.
    pub after_op: usize,
    /// `GET /healthz` (else a TCP connect).
    pub http: bool,
    /// The flow tag of its packets ([`HEALTH_CHECK_TAG_BASE`] + its index).
    pub tag: u32,
}

/// Health-check connections trace their packets under tags from here up, apart from the
/// probes' (1, 2, ...), so they never mix into a step's trace.
pub const HEALTH_CHECK_TAG_BASE: u32 = 0x8000_0000;

/// The health checks' bookkeeping: targets by index, which have a chain of checks
/// scheduled, the number of each target's next check, and where each check is recorded.
#[derive(Default)]
pub(super) struct Checks {
    targets: Vec<TargetKey>,
    running: BTreeSet<usize>,
    seq: BTreeMap<usize, u64>,
    records: BTreeMap<(usize, u64), usize>,
}

/// From a Service change to the load balancer's reprogramming (cloud API latency,
/// shortened: real clouds take tens of seconds).
pub const LB_LATENCY: SimDuration = SimDuration::from_millis(1000);

impl KubeWorld {
    pub(super) fn lb_watch(&mut self, idx: usize, now: SimTime, q: &mut EventQueue<Event>) {
        if !matches!(self.store.log[idx].object, Object::Service(_)) {
            return;
        }
        let services: Vec<_> = self.store.services().cloned().collect();
        let (ops, logs, new_targets) = self.lb.sync(services.iter());
        for l in logs {
            self.log(now, "lb", l);
        }
        for op in ops {
            self.apply_net("lb", op, now, q);
        }
        for t in new_targets {
            let c = &mut self.lb_checks;
            let i = match c.targets.iter().position(|x| *x == t) {
                Some(i) => i,
                None => {
                    c.targets.push(t);
                    c.targets.len() - 1
                }
            };
            // A target removed and added back before its chain noticed keeps that chain.
            if c.running.insert(i) {
                q.push(now, Event::HealthCheck(i));
            }
        }
    }

    /// Starts one check of target `t` and schedules the next.
    pub(super) fn health_check(&mut self, t: usize, now: SimTime, q: &mut EventQueue<Event>) {
        let key = self.lb_checks.targets[t].clone();
        let Some((check, ip)) = self.lb.target_addr(&key).filter(|_| self.lb.health.contains_key(&key))
        else {
            self.lb_checks.running.remove(&t);
            return; // the frontend is gone: its checks stop
        };
        let hc = self.cluster.load_balancer.health_check;
        let seq = *self.lb_checks.seq.entry(t).and_modify(|s| *s += 1).or_insert(0);
        let (port, http) = match check {
            Check::Tcp(p) => (p, false),
            Check::Http(p) => (p, true),
        };
        let tag = HEALTH_CHECK_TAG_BASE + self.health_checks.len() as u32;
        self.lb_checks.records.insert((t, seq), self.health_checks.len());
        self.health_checks.push(HealthCheckRecord {
            netns: LB_NETNS.to_string(),
            dst: ip,
            port,
            started: now,
            timeout: hc.timeout,
            outcome: None,
            detail: String::new(),
            after_op: self.commands.len(),
            http,
            tag,
        });
        self.start_health_check(t, seq, tag, SocketAddrV4::new(ip, port), http, now);
        q.push(now + hc.timeout, Event::HealthTimeout(t, seq));
        q.push(now + hc.interval, Event::HealthCheck(t));
        self.pump(q);
    }

    /// Feeds finished checks to the load balancer; a state change reprograms it.
    pub(super) fn lb_results(&mut self, q: &mut EventQueue<Event>) {
        let results = std::mem::take(&mut self.apps.hc_results);
        for (t, seq, r, now) in results {
            let rec = self.lb_checks.records.get(&(t, seq)).and_then(|i| self.health_checks.get_mut(*i));
            if let Some(rec) = rec {
                rec.outcome = Some(r.outcome);
                rec.detail = r.why.clone();
            }
            let key = self.lb_checks.targets[t].clone();
            if let Some((line, ops)) = self.lb.record(&key, r.ok, &r.why) {
                self.log(now, "lb", line);
                for op in ops {
                    self.apply_net("lb", op, now, q);
                }
            }
        }
    }
}
