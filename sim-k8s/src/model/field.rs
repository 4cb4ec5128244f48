//! Field paths and apiserver-style field errors.
//!
//! The apiserver reports a rejected object as a list of `field.ErrorList` entries
//! (k8s.io/apimachinery/pkg/util/validation/field), each rendered as
//! `PATH: TYPE: DETAIL`, e.g. `spec.containers[0].ports[0].containerPort: Invalid value:
//! 70000: must be between 1 and 65535, inclusive`. [`FieldError`] renders the same way so
//! a learner sees the message a real cluster would print.

use std::fmt;

/// One step in a path into a YAML/JSON object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A path into an object, rendered like the apiserver: `spec.containers[0].ports[1].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(pub Vec<PathSeg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }
    /// Parses the rendered form (`spec.containers[0].name`); keys holding `.` or `[` cannot
    /// be written this way, which is fine for the literal paths used in code.
    pub fn parse(s: &str) -> Self {
        let mut segs = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
            if !key.is_empty() {
                segs.push(PathSeg::Key(key.to_string()));
            }
            while let Some((num, tail)) = rest.split_once(']') {
                if let Ok(i) = num.parse() {
                    segs.push(PathSeg::Index(i));
                }
                rest = tail.strip_prefix('[').unwrap_or(tail);
            }
        }
        FieldPath(segs)
    }
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathSeg::Key(k.to_string()));
        p
    }
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(PathSeg::Index(i));
        p
    }
    pub fn join(&self, other: &FieldPath) -> Self {
        let mut p = self.clone();
        p.0.extend(other.0.iter().cloned());
        p
    }
    pub fn parent(&self) -> Option<Self> {
        let mut p = self.clone();
        p.0.pop().map(|_| p)
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The kinds of `field.Error` the apiserver uses (the subset kube-netsim produces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Required value[: detail]`
    Required(Option<String>),
    /// `Invalid value: VALUE: detail`; `value` is already rendered (strings quoted).
    Invalid { value: String, detail: String },
    /// `Unsupported value: VALUE: supported values: "A", "B"`
    Unsupported { value: String, supported: Vec<String> },
    /// `Duplicate value: VALUE`
    Duplicate(String),
    /// `Forbidden: detail`
    Forbidden(String),
    /// `Not found: VALUE` (used for references to other objects).
    NotFound { value: String, detail: String },
}

/// One rejected field: where and why, rendered exactly like the apiserver.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct FieldError {
    pub path: FieldPath,
    pub kind: FieldErrorKind,
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldErrorKind::Required(None) => write!(f, "Required value"),
            FieldErrorKind::Required(Some(d)) => write!(f, "Required value: {d}"),
            FieldErrorKind::Invalid { value, detail } => write!(f, "Invalid value: {value}: {detail}"),
            FieldErrorKind::Unsupported { value, supported } => {
                let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
                write!(f, "Unsupported value: {value}: supported values: {}", list.join(", "))
            }
            FieldErrorKind::Duplicate(v) => write!(f, "Duplicate value: {v}"),
            FieldErrorKind::Forbidden(d) => write!(f, "Forbidden: {d}"),
            FieldErrorKind::NotFound { value, detail } => write!(f, "Not found: {value}: {detail}"),
        }
    }
}

impl FieldError {
    pub fn required(path: FieldPath, detail: Option<&str>) -> Self {
        FieldError { path, kind: FieldErrorKind::Required(detail.map(str::to_string)) }
    }
    /// An invalid string value (rendered quoted, as the apiserver does).
    pub fn invalid_str(path: FieldPath, value: &str, detail: impl Into<String>) -> Self {
        let kind = FieldErrorKind::Invalid { value: format!("{value:?}"), detail: detail.into() };
        FieldError { path, kind }
    }
    /// An invalid number (rendered bare).
    pub fn invalid_num(path: FieldPath, value: i64, detail: impl Into<String>) -> Self {
        let kind = FieldErrorKind::Invalid { value: value.to_string(), detail: detail.into() };
        FieldError { path, kind }
    }
    pub fn duplicate_str(path: FieldPath, value: &str) -> Self {
        FieldError { path, kind: FieldErrorKind::Duplicate(format!("{value:?}")) }
    }
    pub fn forbidden(path: FieldPath, detail: impl Into<String>) -> Self {
        FieldError { path, kind: FieldErrorKind::Forbidden(detail.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_and_parse_like_the_apiserver() {
        let p = FieldPath::parse("spec.containers[0].ports[12].name");
        assert_eq!(p.to_string(), "spec.containers[0].ports[12].name");
        assert_eq!(p.0.len(), 6);
        assert_eq!(FieldPath::parse("items[3]").to_string(), "items[3]");
        assert_eq!(FieldPath::parse("[2].a").to_string(), "[2].a");
    }
}
