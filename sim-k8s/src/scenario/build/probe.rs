//! Stage 2, probes: a step's `probe:` checked against the pods, nodes and services of the
//! scenario (origin and target exist, protocol and port agree, `container`, `timeout`,
//! `repeat`/`interval`), the `http` fields `host`, `path` and `tls`, and `sourcePort`
//! (udp) and `size` (icmp, udp).

use super::super::refs::Ref;
use super::super::schema::ProbeDoc;
use super::super::*;
use super::{Builder, World, list_names};
use crate::model::FieldPath;

impl Builder<'_> {
    pub(super) fn probe(&mut self, path: &FieldPath, p: ProbeDoc, world: &World<'_>) -> Option<Probe> {
        let (from, to, proto) = (p.from.0, p.to.0, p.proto.0);
        let from_path = path.key("from");
        let mut ok = self.check_exists(&from_path, &from, world);
        match &from {
            Ref::Service { .. } | Ref::LoadBalancer { .. } => {
                self.invalid(&from_path, "a probe starts in a pod, a node or a client, not a service");
                ok = false;
            }
            Ref::Name { name, .. } => {
                self.invalid(
                    &from_path,
                    format!("a probe starts in a pod, a node or a client, not at a name ({name})"),
                );
                ok = false;
            }
            Ref::Ip { addr, .. } => {
                self.invalid(
                    &from_path,
                    format!(
                        "a probe starts in a pod or a node: expected pod/NAME or node/NAME, found {addr}"
                    ),
                );
                ok = false;
            }
            r if r.port().is_some() => {
                self.invalid(
                    &from_path,
                    format!("the source port is chosen by the prober: remove \":{}\"", r.port().unwrap_or(0)),
                );
                ok = false;
            }
            _ => {}
        }
        let container = self.container(path, &from, p.container, world);
        let to_path = path.key("to");
        ok &= self.check_exists(&to_path, &to, world);
        match (proto, to.port()) {
            (ProbeProto::Icmp, Some(port)) => {
                self.invalid(&to_path, format!("an icmp probe has no port: remove \":{port}\""));
                ok = false;
            }
            (ProbeProto::Tcp | ProbeProto::Udp, None) => {
                self.invalid(&to_path, format!("a {proto} probe needs a port: expected {to}:PORT"));
                ok = false;
            }
            _ => {}
        }
        let timeout = p.timeout.map_or(DEFAULT_PROBE_TIMEOUT, |t| t.0);
        if timeout == SimDuration::ZERO {
            self.invalid(&path.key("timeout"), "must be longer than 0s");
        }
        let repeat = p.repeat.unwrap_or(1);
        if !(1..=MAX_REPEAT).contains(&repeat) {
            self.invalid(&path.key("repeat"), format!("must be between 1 and {MAX_REPEAT}, found {repeat}"));
            ok = false;
        }
        let interval = p.interval.map_or(DEFAULT_REPEAT_INTERVAL, |i| i.0);
        if interval == SimDuration::ZERO {
            self.invalid(&path.key("interval"), "must be longer than 0s");
            ok = false;
        }
        let http = self.http_opts(path, &p.host, &p.path, p.tls, proto);
        let (source_port, size) = self.packet_opts(path, p.source_port, p.size, proto);
        ok.then_some(Probe {
            from,
            container: container?,
            to,
            proto,
            timeout,
            repeat,
            interval,
            http: http?,
            source_port: source_port?,
            size: size?,
        })
    }

    /// `sourcePort` (udp only) and `size` (icmp and udp only).
    fn packet_opts(
        &mut self,
        path: &FieldPath,
        source_port: Option<u16>,
        size: Option<u32>,
        proto: ProbeProto,
    ) -> (Option<Option<u16>>, Option<Option<u16>>) {
        let source_port = match (source_port, proto) {
            (Some(0), _) => {
                self.invalid(&path.key("sourcePort"), "must be between 1 and 65535, found 0");
                None
            }
            (Some(_), ProbeProto::Udp) | (None, _) => Some(source_port),
            (Some(_), other) => {
                self.invalid(
                    &path.key("sourcePort"),
                    format!("only a udp probe binds a fixed source port, this one is {other}"),
                );
                None
            }
        };
        let size = match (size, proto) {
            (None, _) => Some(None),
            (Some(n), ProbeProto::Icmp | ProbeProto::Udp) if (1..=MAX_PROBE_SIZE).contains(&n) => {
                Some(Some(n as u16))
            }
            (Some(n), ProbeProto::Icmp | ProbeProto::Udp) => {
                self.invalid(
                    &path.key("size"),
                    format!(
                        "must be between 1 and {MAX_PROBE_SIZE}, found {n} (a larger packet needs IP fragmentation, which the simulator does not model)"
                    ),
                );
                None
            }
            (Some(_), other) => {
                self.invalid(
                    &path.key("size"),
                    format!("only icmp and udp probes have a size, this one is {other}"),
                );
                None
            }
        };
        (source_port, size)
    }

    /// `host`, `path` and `tls`, which only an `http` probe has.
    fn http_opts(
        &mut self,
        path: &FieldPath,
        host: &Option<String>,
        req_path: &Option<String>,
        tls: Option<bool>,
        proto: ProbeProto,
    ) -> Option<crate::apps::client::HttpOpts> {
        let mut ok = true;
        if proto != ProbeProto::Http {
            for (key, given) in
                [("host", host.is_some()), ("path", req_path.is_some()), ("tls", tls.is_some())]
            {
                if given {
                    self.invalid(
                        &path.key(key),
                        format!("only an http probe has {key}: this probe is {proto}"),
                    );
                    ok = false;
                }
            }
        }
        if let Some(h) = host
            && (h.is_empty() || h.contains(|c: char| c.is_whitespace() || c == '/'))
        {
            self.invalid(&path.key("host"), format!("expected a host name like example.com, found {h:?}"));
            ok = false;
        }
        if let Some(p) = req_path
            && (!p.starts_with('/') || p.contains(char::is_whitespace))
        {
            self.invalid(
                &path.key("path"),
                format!("expected a path starting with /, without spaces, found {p:?}"),
            );
            ok = false;
        }
        ok.then(|| crate::apps::client::HttpOpts {
            host: host.clone(),
            path: req_path.clone().unwrap_or_else(|| "/".into()),
            tls: tls.unwrap_or(false),
        })
    }

    /// The container a pod probe runs in: `container:` or the pod's first one.
    fn container(
        &mut self,
        path: &FieldPath,
        from: &Ref,
        given: Option<String>,
        world: &World<'_>,
    ) -> Option<Option<String>> {
        let pod = world.pod(from);
        match (pod, given) {
            (None, None) => Some(None),
            (None, Some(_)) if matches!(from, Ref::Pod { .. }) => None,
            (None, Some(_)) => {
                self.invalid(&path.key("container"), "only a probe from a pod runs in a container");
                None
            }
            (Some(pod), None) => Some(pod.containers.first().map(|c| c.name.clone())),
            (Some(pod), Some(c)) if pod.containers.iter().any(|x| x.name == c) => Some(Some(c)),
            (Some(pod), Some(c)) => {
                let names = list_names(pod.containers.iter().map(|x| x.name.clone()), "containers");
                self.invalid(
                    &path.key("container"),
                    format!("container {c:?} not found in pod {:?} ({names})", pod.name),
                );
                None
            }
        }
    }
}
