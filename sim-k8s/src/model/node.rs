//! `Node`: a machine of the cluster as a v1 Node manifest describes it.
//!
//! Only the name, labels and the `InternalIP` from `status.addresses` matter here; the
//! cluster config (scenario `cluster.nodes`) decides which nodes exist and their pod CIDRs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1 as k8s;

use super::field::{FieldError, FieldPath};

/// A validated node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// The first `InternalIP` in `status.addresses`, if any.
    pub ip: Option<Ipv4Addr>,
    pub labels: BTreeMap<String, String>,
}

impl Node {
    pub fn from_k8s(node: &k8s::Node) -> Result<Node, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&node.metadata, false, &mut errs);
        let addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref());
        let mut ip = None;
        for (i, a) in addresses.into_iter().flatten().enumerate() {
            if a.type_ != "InternalIP" || ip.is_some() {
                continue;
            }
            match a.address.parse::<Ipv4Addr>() {
                Ok(addr) => ip = Some(addr),
                Err(_) => {
                    let path = FieldPath::parse("status.addresses").index(i).key("address");
                    errs.push(FieldError::invalid_str(path, &a.address, "must be a valid IPv4 address"));
                }
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Node { name: meta.name, ip, labels: meta.labels })
    }
}
