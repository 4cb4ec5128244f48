//! Label selectors: a Service's plain `selector` map and the `metav1.LabelSelector`
//! (`matchLabels` + `matchExpressions`) of Deployments and ReplicaSets, validated with
//! the apiserver's messages (apimachinery `ValidateLabelSelector`) and evaluated as
//! `labels.Selector.Matches` does.
//!
//! Also the random suffix alphabet of `generateName` (apimachinery `utilrand.String`),
//! shared by EndpointSlice and Pod names.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

use super::field::{FieldError, FieldErrorKind, FieldPath};
use super::names;

/// `matchExpressions[].operator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// A validated `metav1.LabelSelector`. Empty matches everything (as
/// `LabelSelectorAsSelector` does for a non-nil empty selector).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    /// A selector with only `matchLabels` (a Service's `spec.selector`).
    pub fn from_map(labels: &BTreeMap<String, String>) -> Self {
        LabelSelector { match_labels: labels.clone(), match_expressions: Vec::new() }
    }

    /// Validates a k8s-openapi selector found at `path`.
    pub fn from_k8s(path: &FieldPath, sel: &meta::LabelSelector, errs: &mut Vec<FieldError>) -> Self {
        let match_labels = sel.match_labels.clone().unwrap_or_default();
        names::check_labels(&path.key("matchLabels"), &match_labels, errs);
        let exprs_path = path.key("matchExpressions");
        let mut match_expressions = Vec::new();
        for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
            if let Some(r) = requirement(&exprs_path.index(i), e, errs) {
                match_expressions.push(r);
            }
        }
        LabelSelector { match_labels, match_expressions }
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// `selector.Matches(labels.Set(l))`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Go's `%#v` of the selector, as the apiserver prints it in `Invalid value:`.
    pub fn go_repr(&self) -> String {
        let labels = if self.match_labels.is_empty() {
            "map[string]string(nil)".to_string()
        } else {
            go_map(&self.match_labels)
        };
        let exprs = if self.match_expressions.is_empty() {
            "[]v1.LabelSelectorRequirement(nil)".to_string()
        } else {
            let items: Vec<String> = self
                .match_expressions
                .iter()
                .map(|r| {
                    let values: Vec<String> = r.values.iter().map(|v| format!("{v:?}")).collect();
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:[]string{{{}}}}}",
                        r.key,
                        format!("{:?}", r.operator),
                        values.join(", ")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        };
        format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.key);
        match self.operator {
            Operator::In => v.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => v.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => v.is_some(),
            Operator::DoesNotExist => v.is_none(),
        }
    }
}

fn requirement(
    path: &FieldPath,
    e: &meta::LabelSelectorRequirement,
    errs: &mut Vec<FieldError>,
) -> Option<Requirement> {
    let values = e.values.clone().unwrap_or_default();
    let operator = match e.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            errs.push(FieldError::invalid_str(path.key("operator"), other, "not a valid selector operator"));
            return None;
        }
    };
    let needs_values = matches!(operator, Operator::In | Operator::NotIn);
    if needs_values && values.is_empty() {
        let detail = "must be specified when `operator` is 'In' or 'NotIn'";
        errs.push(FieldError {
            path: path.key("values"),
            kind: FieldErrorKind::Required(Some(detail.into())),
        });
    }
    if !needs_values && !values.is_empty() {
        let detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'";
        errs.push(FieldError::forbidden(path.key("values"), detail));
    }
    names::check_qualified_name(&path.key("key"), &e.key, errs);
    Some(Requirement { key: e.key.clone(), operator, values })
}

/// Go's `%#v` of a `map[string]string` (keys sorted, as fmt prints maps).
pub fn go_map(m: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", items.join(", "))
}

/// The alphabet of apimachinery `utilrand.String` (no vowels, no confusable digits).
pub const RANDOM_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `names.SimpleNameGenerator.GenerateName(base)`: `base` cut to 58 characters, then 5
/// random characters from [`RANDOM_ALPHABET`].
pub fn generate_name(base: &str, rng: &mut sim_core::SimRng) -> String {
    let cut: String = base.chars().take(58).collect();
    let suffix: String = (0..5)
        .map(|_| {
            let i = sim_core::rng::below(rng, RANDOM_ALPHABET.len() as u64) as usize;
            RANDOM_ALPHABET[i] as char
        })
        .collect();
    format!("{cut}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn match_expressions_follow_label_selector_semantics() {
        let sel = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![
                Requirement {
                    key: "tier".into(),
                    operator: Operator::In,
                    values: vec!["a".into(), "b".into()],
                },
                Requirement { key: "canary".into(), operator: Operator::DoesNotExist, values: vec![] },
            ],
        };
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "c")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "a"), ("canary", "1")])));
        assert!(!sel.matches(&labels(&[("tier", "a")])));
    }

    #[test]
    fn generated_names_use_the_apimachinery_alphabet() {
        let mut rng = sim_core::RngStreams::new(1).stream("t");
        let n = generate_name("web-", &mut rng);
        assert_eq!(n.len(), 9);
        assert!(n[4..].bytes().all(|b| RANDOM_ALPHABET.contains(&b)), "{n}");
    }
}
