//! Chain names, exactly as proxier.go derives them: `portProtoHash` =
//! base32(sha256(servicePortName + protocol))[:16] (RFC 4648 alphabet, upper case), and
//! `servicePortEndpointChainName` = the same over `servicePortName + protocol + "IP:port"`.
//! SVC, SVL, EXT and FW chains of one service port share one hash.

use data_encoding::BASE32;
use sha2::{Digest, Sha256};

/// First 16 characters of base32(sha256(input)).
pub fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    BASE32.encode(&digest)[..16].to_string()
}

/// The per-service-port chains (`KUBE-SVC-h`, `KUBE-SVL-h`, `KUBE-EXT-h`, `KUBE-FW-h`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceChains {
    pub cluster: String,
    pub local: String,
    pub external: String,
    pub firewall: String,
}

impl ServiceChains {
    /// `port_name` is `ns/svc[:port]`, `proto` lower case (`tcp`).
    pub fn new(port_name: &str, proto: &str) -> Self {
        let h = hash16(&format!("{port_name}{proto}"));
        ServiceChains {
            cluster: format!("KUBE-SVC-{h}"),
            local: format!("KUBE-SVL-{h}"),
            external: format!("KUBE-EXT-{h}"),
            firewall: format!("KUBE-FW-{h}"),
        }
    }
}

/// `KUBE-SEP-h` for the endpoint `ip_port` (`10.244.1.5:8080`) of a service port.
pub fn endpoint_chain(port_name: &str, proto: &str, ip_port: &str) -> String {
    format!("KUBE-SEP-{}", hash16(&format!("{port_name}{proto}{ip_port}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verified value of the reference (§1.5 and §1.10).
    #[test]
    fn hashes_match_the_verified_reference_values() {
        let cases = [
            ("default/kubernetes:httpstcp", "NPX46M4PTMTKRN6Y"),
            ("kube-system/kube-dns:dnsudp", "TCOU7JCQXEZGVUNU"),
            ("kube-system/kube-dns:dns-tcptcp", "ERIFXISQEP7F7OF4"),
            ("kube-system/kube-dns:metricstcp", "JD5MR3NA4I4DYORP"),
            ("ns1/svc1:p80tcp", "XPGD46QRK7WJZT7O"),
            ("ns1/svc1:p80tcp10.180.0.1:80", "SXIVWICOYRO3J4NJ"),
            ("ns2/svc2:p80tcp", "GNZBNJ2PO5MGZ6GT"),
            ("ns2/svc2:p8080tcp", "2VJB64SDSIJUP5T6"),
            ("default/web:httptcp", "CDGGSHYLG3RE2FKL"),
            ("default/web:httptcp10.244.1.5:8080", "AFGSLHOD2HFNCBX4"),
            ("default/web:httptcp10.244.2.7:8080", "2RIJ5GIYXEFH6G4D"),
            ("default/echotcp", "HV6DMF63W6MGLRDE"),
            ("default/echotcp10.244.1.6:8080", "BOBT7SRQTLE4WLOZ"),
        ];
        for (input, want) in cases {
            assert_eq!(hash16(input), want, "{input}");
        }
        assert_eq!(ServiceChains::new("ns1/svc1:p80", "tcp").cluster, "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ");
    }
}
