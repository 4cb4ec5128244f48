//! Name and label validation with the apiserver's exact messages
//! (k8s.io/apimachinery/pkg/util/validation/validation.go).

use super::field::{FieldError, FieldPath};

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const LABEL_VALUE_MAX: usize = 63;

pub const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
pub const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
pub fn is_dns1123_label(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    is_lower_alnum(first) && is_lower_alnum(last) && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

/// Labels of `[a-z0-9]([-a-z0-9]*[a-z0-9])?` joined by `.`.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(is_dns1123_label)
}

/// Errors for a DNS-1123 subdomain name (object names such as pods and nodes).
pub fn check_dns1123_subdomain(path: &FieldPath, value: &str, errs: &mut Vec<FieldError>) {
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        let detail = format!("must be no more than {DNS1123_SUBDOMAIN_MAX} characters");
        errs.push(FieldError::invalid_str(path.clone(), value, detail));
    }
    if !is_dns1123_subdomain(value) {
        errs.push(FieldError::invalid_str(path.clone(), value, DNS1123_SUBDOMAIN_MSG));
    }
}

/// Errors for a DNS-1123 label (namespaces, container names).
pub fn check_dns1123_label(path: &FieldPath, value: &str, errs: &mut Vec<FieldError>) {
    if value.len() > DNS1123_LABEL_MAX {
        let detail = format!("must be no more than {DNS1123_LABEL_MAX} characters");
        errs.push(FieldError::invalid_str(path.clone(), value, detail));
    }
    if !is_dns1123_label(value) {
        errs.push(FieldError::invalid_str(path.clone(), value, DNS1123_LABEL_MSG));
    }
}

fn is_label_body(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric();
    match (s.chars().next(), s.chars().last()) {
        (Some(a), Some(b)) => ok(a) && ok(b) && s.chars().all(|c| ok(c) || "-_.".contains(c)),
        _ => false,
    }
}

/// Label values: empty, or up to 63 alphanumerics with `-_.` inside.
pub fn check_label_value(path: &FieldPath, value: &str, errs: &mut Vec<FieldError>) {
    if value.len() > LABEL_VALUE_MAX {
        let detail = format!("must be no more than {LABEL_VALUE_MAX} characters");
        errs.push(FieldError::invalid_str(path.clone(), value, detail));
    }
    if !value.is_empty() && !is_label_body(value) {
        errs.push(FieldError::invalid_str(path.clone(), value, LABEL_VALUE_MSG));
    }
}

/// Label and annotation keys: `[prefix/]name`, prefix a DNS-1123 subdomain, name a
/// qualified name of at most 63 characters.
pub fn check_qualified_name(path: &FieldPath, key: &str, errs: &mut Vec<FieldError>) {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push(FieldError::invalid_str(path.clone(), key, "prefix part must be non-empty"));
        } else if !is_dns1123_subdomain(p) {
            let detail = format!("prefix part {DNS1123_SUBDOMAIN_MSG}");
            errs.push(FieldError::invalid_str(path.clone(), key, detail));
        }
    }
    if name.is_empty() {
        errs.push(FieldError::invalid_str(path.clone(), key, "name part must be non-empty"));
    } else if name.len() > 63 {
        errs.push(FieldError::invalid_str(path.clone(), key, "name part must be no more than 63 characters"));
    } else if !is_label_body(name) {
        errs.push(FieldError::invalid_str(path.clone(), key, QUALIFIED_NAME_MSG));
    }
}

/// `metadata.labels`: keys are qualified names, values label values.
pub fn check_labels<'a>(
    path: &FieldPath,
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    errs: &mut Vec<FieldError>,
) {
    for (k, v) in labels {
        check_qualified_name(path, k, errs);
        check_label_value(path, v, errs);
    }
}

/// IANA service names as used for container port names (`validation.IsValidPortName`).
pub fn check_port_name(path: &FieldPath, name: &str, errs: &mut Vec<FieldError>) {
    let mut push = |detail: &str| errs.push(FieldError::invalid_str(path.clone(), name, detail));
    if name.len() > 15 {
        push("must be no more than 15 characters");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if name.contains("--") {
        push("must not contain consecutive hyphens");
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        push("must contain at least one letter (a-z)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        push("must not begin or end with a hyphen");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_and_labels_follow_rfc_1123() {
        assert!(is_dns1123_subdomain("web-1.example"));
        assert!(!is_dns1123_subdomain("Web_1"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(is_dns1123_label("node-1"));
        assert!(!is_dns1123_label("node.1"));
        assert!(!is_dns1123_label(""));
    }

    #[test]
    fn port_names_follow_iana_service_names() {
        let mut errs = Vec::new();
        check_port_name(&FieldPath::parse("p"), "http", &mut errs);
        assert!(errs.is_empty());
        check_port_name(&FieldPath::parse("p"), "8080", &mut errs);
        assert_eq!(errs[0].to_string(), "p: Invalid value: \"8080\": must contain at least one letter (a-z)");
    }
}
