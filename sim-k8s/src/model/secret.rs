//! `kubernetes.io/tls` Secrets: the certificate an Ingress terminates TLS with.
//!
//! The apiserver only checks that `tls.crt` and `tls.key` are present
//! (`data[tls.crt]: Required value`); which names a certificate covers is read by the
//! ingress controller from the certificate itself: its subject CN and its
//! subjectAltName DNS names. [`CertInfo::from_pem`] reads exactly those from the PEM's
//! DER, nothing else (no signature or date checks; the probe client acts like
//! `curl -k`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;

use super::field::{FieldError, FieldPath};

pub const TLS_TYPE: &str = "kubernetes.io/tls";

/// What a certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
}

impl CertInfo {
    /// Does the certificate cover `host`? SANs when there are any, else the CN (as Go's
    /// `VerifyHostname` did before 1.15 and ingress-nginx's check still reads both);
    /// `*.example.com` covers exactly one more label.
    pub fn covers(&self, host: &str) -> bool {
        let mut names: Vec<&str> = self.dns_names.iter().map(String::as_str).collect();
        names.extend(self.common_name.as_deref());
        names.iter().any(|n| host_matches(n, host))
    }

    /// Reads the first CERTIFICATE block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<CertInfo, String> {
        let begin = "-----BEGIN CERTIFICATE-----";
        let start = pem.find(begin).ok_or("no \"-----BEGIN CERTIFICATE-----\" block")? + begin.len();
        let end = pem[start..].find("-----END CERTIFICATE-----").ok_or("unterminated certificate block")?;
        let b64: String = pem[start..start + end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = data_encoding::BASE64.decode(b64.as_bytes()).map_err(|e| format!("bad base64: {e}"))?;
        parse_der(&der).ok_or_else(|| "not an X.509 certificate".to_string())
    }
}

/// Host matching with a leading `*.` label standing for exactly one label.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// A validated TLS Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSecret {
    pub namespace: String,
    pub name: String,
    /// The certificate, or why it cannot be read (the controller then serves its fake one).
    pub cert: Result<CertInfo, String>,
}

impl TlsSecret {
    /// `Ok(None)` for Secrets of other types (nothing here uses them).
    pub fn from_k8s(s: &core::Secret) -> Result<Option<TlsSecret>, Vec<FieldError>> {
        let mut errs = Vec::new();
        let meta = super::meta::check_meta(&s.metadata, true, &mut errs);
        if s.type_.as_deref() != Some(TLS_TYPE) {
            return if errs.is_empty() { Ok(None) } else { Err(errs) };
        }
        let mut data: BTreeMap<String, Vec<u8>> =
            s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        for (k, v) in s.string_data.iter().flatten() {
            data.insert(k.clone(), v.clone().into_bytes());
        }
        for key in ["tls.crt", "tls.key"] {
            if !data.contains_key(key) {
                errs.push(FieldError::required(FieldPath::root().key(&format!("data[{key}]")), None));
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let crt = String::from_utf8_lossy(&data["tls.crt"]).into_owned();
        Ok(Some(TlsSecret { namespace: meta.namespace, name: meta.name, cert: CertInfo::from_pem(&crt) }))
    }
}

/// One DER element: (tag, content, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

fn parse_der(der: &[u8]) -> Option<CertInfo> {
    let (0x30, cert, _) = tlv(der)? else { return None };
    let (0x30, tbs, _) = tlv(cert)? else { return None };
    let mut rest = tbs;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (tag, content, r) = tlv(rest)?;
        fields.push((tag, content));
        rest = r;
    }
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let subject = fields.get(skip + 4).filter(|f| f.0 == 0x30)?.1;
    let common_name = find_cn(subject);
    let mut dns_names = Vec::new();
    if let Some((_, exts)) = fields.iter().find(|f| f.0 == 0xa3) {
        let (_, mut list, _) = tlv(exts)?;
        while !list.is_empty() {
            let (_, ext, r) = tlv(list)?;
            list = r;
            let (_, oid, body) = tlv(ext)?;
            if oid != OID_SAN {
                continue;
            }
            // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
            let (mut tag, mut value, after) = tlv(body)?;
            if tag == 0x01 {
                (tag, value, _) = tlv(after)?;
            }
            if tag != 0x04 {
                return None;
            }
            let (_, mut names, _) = tlv(value)?;
            while !names.is_empty() {
                let (t, v, r) = tlv(names)?;
                if t == 0x82 {
                    dns_names.push(String::from_utf8_lossy(v).into_owned());
                }
                names = r;
            }
        }
    }
    Some(CertInfo { common_name, dns_names })
}

fn find_cn(name: &[u8]) -> Option<String> {
    let mut rdns = name;
    while !rdns.is_empty() {
        let (_, set, r) = tlv(rdns)?;
        rdns = r;
        let (_, atv, _) = tlv(set)?;
        let (_, oid, rest) = tlv(atv)?;
        if oid == OID_CN {
            let (_, v, _) = tlv(rest)?;
            return Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(host_matches("*.foo.com", "bar.foo.com"));
        assert!(!host_matches("*.foo.com", "baz.bar.foo.com"));
        assert!(!host_matches("*.foo.com", "foo.com"));
        assert!(host_matches("foo.bar.com", "FOO.bar.com"));
    }
}
