//! `kubectl get pods -A -o wide` and `kubectl get nodes -o wide` of the simulated
//! cluster, with kubectl's columns and its tabwriter layout. AGE is simulated time since
//! the object was created, in kubectl's words (`duration.HumanDuration`).

use std::fmt::Write;

use sim_core::{SimDuration, SimTime};
use sim_k8s::store::{ConditionStatus, ObjKey, PodPhase, Store};

/// What the simulated nodes report in `status.nodeInfo` (fixed values: no kubelet,
/// OS or runtime really runs; docs/fidelity.md).
pub const KUBELET_VERSION: &str = "v1.31.0";
pub const OS_IMAGE: &str = "Debian GNU/Linux 12 (bookworm)";
pub const KERNEL_VERSION: &str = "6.1.0-28-amd64";
pub const CONTAINER_RUNTIME: &str = "containerd://1.7.24";

/// Left-aligned columns separated by three spaces, like kubectl's tabwriter.
pub fn table(rows: Vec<Vec<String>>) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(line, "{cell}{}   ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// kubectl's AGE (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`).
pub fn human_duration(d: SimDuration) -> String {
    let secs = d.as_nanos() / 1_000_000_000;
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let (y, d) = (hours / 24 / 365, (hours / 24) % 365);
    if hours < 24 * 365 * 8 && d != 0 { format!("{y}y{d}d") } else { format!("{y}y") }
}

fn age(store: &Store, key: ObjKey, now: SimTime) -> String {
    let created = store.created(&key).unwrap_or(SimTime::ZERO);
    human_duration(now.saturating_since(created))
}

/// `kubectl get pods -A -o wide [--field-selector spec.nodeName=NODE]`.
pub fn pods(store: &Store, now: SimTime, node: Option<&str>) -> String {
    let head = ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE"];
    let mut rows = vec![head.iter().map(|s| s.to_string()).chain(["READINESS GATES".into()]).collect()];
    for (p, st) in store.pods() {
        if node.is_some_and(|n| p.node_name.as_deref() != Some(n)) {
            continue;
        }
        // kubectl prints `status.reason` when there is one (`NodePorts`), and
        // Terminating over both once the deletion timestamp is set.
        let status = match (st.phase, st.reason.as_deref()) {
            _ if st.terminating => "Terminating",
            (_, Some(reason)) => reason,
            (PodPhase::Running, _) => "Running",
            (PodPhase::Failed, _) => "Failed",
            _ => "Pending",
        };
        let running = st.phase == PodPhase::Running;
        // Containers stay ready when only the node lifecycle controller flipped the pod condition.
        let ready = if running && (st.ready || st.node_lost) { p.containers.len() } else { 0 };
        let key = ObjKey { kind: "Pod", namespace: p.namespace.clone(), name: p.name.clone() };
        rows.push(vec![
            p.namespace.clone(),
            p.name.clone(),
            format!("{ready}/{}", p.containers.len()),
            status.into(),
            // Containers never restart in the simulation.
            "0".into(),
            age(store, key, now),
            st.pod_ip.map(|i| i.to_string()).unwrap_or_else(|| "<none>".into()),
            p.node_name.clone().unwrap_or_else(|| "<none>".into()),
            "<none>".into(),
            "<none>".into(),
        ]);
    }
    table(rows)
}

/// `kubectl get nodes -o wide`.
pub fn nodes(store: &Store, now: SimTime) -> String {
    let head = ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE"];
    let mut rows: Vec<Vec<String>> =
        vec![head.iter().chain(&["KERNEL-VERSION", "CONTAINER-RUNTIME"]).map(|s| s.to_string()).collect()];
    for (n, st) in store.nodes() {
        let key = ObjKey { kind: "Node", namespace: String::new(), name: n.name.clone() };
        rows.push(vec![
            n.name.clone(),
            if st.ready == ConditionStatus::True { "Ready" } else { "NotReady" }.into(),
            "<none>".into(),
            age(store, key, now),
            KUBELET_VERSION.into(),
            st.ip.to_string(),
            "<none>".into(),
            OS_IMAGE.into(),
            KERNEL_VERSION.into(),
            CONTAINER_RUNTIME.into(),
        ]);
    }
    table(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let s = |n: u64| human_duration(SimDuration::from_secs(n));
        let got: Vec<String> =
            [0, 5, 119, 120, 125, 600, 10_799, 10_800, 11_100, 28_800, 172_800, 176_400, 691_200]
                .map(s)
                .to_vec();
        let want = ["0s", "5s", "119s", "2m", "2m5s", "10m", "179m", "3h", "3h5m", "8h", "2d", "2d1h", "8d"];
        assert_eq!(got, want);
    }
}
