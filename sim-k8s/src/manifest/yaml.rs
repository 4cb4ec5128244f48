//! A position index over a YAML stream: for every node of every document, the line and
//! column of its key and its value, keyed by [`FieldPath`].
//!
//! serde_norway deserializes the objects (its errors carry a location), but it cannot say
//! where a value it accepted came from. Later checks (unknown fields, apiserver-style
//! validation, scenario references) need that, so the same text is also read by
//! saphyr-parser's event parser, which reports a span for every event. The index also
//! catches duplicate keys and limits nesting to 128 levels (serde_norway's recursion
//! limit) so a hostile input cannot make it quadratic.

use std::collections::{BTreeMap, BTreeSet};

use saphyr_parser::{Event, Parser, Span};

use crate::model::{FieldPath, PathSeg};

/// How deep mappings and sequences may nest.
const MAX_DEPTH: usize = 128;

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };
    fn from_marker(m: saphyr_parser::Marker) -> Pos {
        Pos { line: m.line().max(1), col: m.col() + 1 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Scalar,
    Mapping,
    Sequence,
    Alias,
}

/// Where one node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlNode {
    /// The key's position when the node is a mapping value.
    pub key: Option<Pos>,
    pub start: Pos,
    pub end: Pos,
    pub kind: NodeKind,
    /// The text of a scalar.
    pub scalar: Option<String>,
    /// Entries of a mapping or sequence.
    pub len: usize,
}

/// The index of one document of the stream.
#[derive(Clone, Debug, Default)]
pub struct YamlDoc {
    nodes: BTreeMap<FieldPath, YamlNode>,
}

impl YamlDoc {
    pub fn get(&self, path: &FieldPath) -> Option<&YamlNode> {
        self.nodes.get(path)
    }
    pub fn root(&self) -> Option<&YamlNode> {
        self.nodes.get(&FieldPath::root())
    }
    /// The text of the scalar at `path`.
    pub fn scalar(&self, path: &FieldPath) -> Option<&str> {
        self.get(path).and_then(|n| n.scalar.as_deref())
    }
    /// The keys of the mapping at `path`, in document order.
    pub fn child_keys(&self, path: &FieldPath) -> Vec<String> {
        let depth = path.0.len();
        let mut keys: Vec<(Pos, String)> = self
            .nodes
            .range(path.clone()..)
            .skip(1)
            .take_while(|(p, _)| p.0.starts_with(&path.0))
            .filter_map(|(p, n)| match p.0.get(depth) {
                Some(PathSeg::Key(k)) if p.0.len() == depth + 1 => {
                    Some((n.key.unwrap_or(n.start), k.clone()))
                }
                _ => None,
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }
    /// The value's position if the node exists, else the key (or start) of its nearest
    /// existing ancestor.
    pub fn locate(&self, path: &FieldPath) -> Pos {
        if let Some(n) = self.get(path) {
            return n.start;
        }
        self.locate_key(path)
    }
    /// The key's position if the node is a mapping value, else like [`Self::locate`]; for a
    /// missing node, the key (or start) of its nearest existing ancestor.
    pub fn locate_key(&self, path: &FieldPath) -> Pos {
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if let Some(n) = self.get(&cur) {
                return n.key.unwrap_or(n.start);
            }
            p = cur.parent();
        }
        Pos::START
    }
}

/// Bad YAML syntax, at the position the parser stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Map {
        path: FieldPath,
        len: usize,
        pending: Option<(String, Pos)>,
        keys: BTreeSet<String>,
    },
    Seq {
        path: FieldPath,
        len: usize,
    },
    /// Inside a complex (non-scalar) mapping key, which is not indexed.
    Skip {
        depth: usize,
    },
}

/// Indexes every document of `text`.
pub fn index(text: &str) -> Result<Vec<YamlDoc>, SyntaxError> {
    let mut b = Builder { docs: Vec::new(), cur: YamlDoc::default(), stack: Vec::new() };
    let mut parser = Parser::new_from_str(text);
    while let Some(item) = parser.next_event() {
        let (event, span) = item
            .map_err(|e| SyntaxError { pos: Pos::from_marker(*e.marker()), message: e.info().to_string() })?;
        b.event(event, span)?;
    }
    Ok(b.docs)
}

struct Builder {
    docs: Vec<YamlDoc>,
    cur: YamlDoc,
    stack: Vec<Frame>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        match event {
            Event::DocumentStart(_) => {
                self.cur = YamlDoc::default();
                self.stack.clear();
            }
            Event::DocumentEnd => self.docs.push(std::mem::take(&mut self.cur)),
            Event::Scalar(value, ..) => self.node(NodeKind::Scalar, span, Some(value.into_owned()))?,
            Event::Alias(_) => self.node(NodeKind::Alias, span, None)?,
            Event::MappingStart(..) => self.node(NodeKind::Mapping, span, None)?,
            Event::SequenceStart(..) => self.node(NodeKind::Sequence, span, None)?,
            Event::MappingEnd | Event::SequenceEnd => self.end(span),
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn node(&mut self, kind: NodeKind, span: Span, scalar: Option<String>) -> Result<(), SyntaxError> {
        let start = Pos::from_marker(span.start);
        let container = matches!(kind, NodeKind::Mapping | NodeKind::Sequence);
        if container && self.stack.len() >= MAX_DEPTH {
            let message = format!("nesting too deep: more than {MAX_DEPTH} levels");
            return Err(SyntaxError { pos: start, message });
        }
        let (path, key) = match self.stack.last_mut() {
            None => (FieldPath::root(), None),
            Some(Frame::Skip { depth }) => {
                *depth += usize::from(container);
                return Ok(());
            }
            Some(Frame::Map { pending: pending @ None, keys, path, .. }) => {
                let Some(k) = scalar else {
                    *pending = Some(("?".to_string(), start));
                    if container {
                        self.stack.push(Frame::Skip { depth: 1 });
                    }
                    return Ok(());
                };
                if !keys.insert(k.clone()) {
                    let message = format!("duplicate field {:?}", path.key(&k).to_string());
                    return Err(SyntaxError { pos: start, message });
                }
                *pending = Some((k, start));
                return Ok(());
            }
            Some(Frame::Map { pending: pending @ Some(_), path, len, .. }) => {
                let (k, kpos) = pending.take().unwrap_or_else(|| ("?".to_string(), start));
                *len += 1;
                (path.key(&k), Some(kpos))
            }
            Some(Frame::Seq { path, len }) => {
                *len += 1;
                (path.index(*len - 1), None)
            }
        };
        let end = Pos::from_marker(span.end);
        let node = YamlNode { key, start, end, kind, scalar, len: 0 };
        self.cur.nodes.insert(path.clone(), node);
        match kind {
            NodeKind::Mapping => {
                self.stack.push(Frame::Map { path, len: 0, pending: None, keys: BTreeSet::new() })
            }
            NodeKind::Sequence => self.stack.push(Frame::Seq { path, len: 0 }),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, span: Span) {
        let (path, len) = match self.stack.pop() {
            Some(Frame::Map { path, len, .. }) | Some(Frame::Seq { path, len }) => (path, len),
            Some(Frame::Skip { depth }) => {
                if depth > 1 {
                    self.stack.push(Frame::Skip { depth: depth - 1 });
                }
                return;
            }
            None => return,
        };
        if let Some(n) = self.cur.nodes.get_mut(&path) {
            n.end = Pos::from_marker(span.end);
            n.len = len;
        }
    }
}

/// The text of one node, for deserializing it on its own: the node's first line is
/// padded with spaces so columns stay those of `text`; add `line_offset` to a line
/// reported inside the snippet to get the line in `text`.
pub struct Snippet {
    pub text: String,
    pub line_offset: usize,
}

/// Cuts the node out of `text` (an index built from this same `text`).
pub fn snippet(text: &str, node: &YamlNode) -> Snippet {
    let start = byte_offset(text, node.start).unwrap_or(0);
    let end = byte_offset(text, node.end).unwrap_or(text.len()).max(start);
    let body = text.get(start..end).unwrap_or("");
    let mut s = " ".repeat(node.start.col.saturating_sub(1));
    s.push_str(body);
    Snippet { text: s, line_offset: node.start.line.saturating_sub(1) }
}

/// The byte offset of a (line, col) position, walking the text once up to it.
fn byte_offset(text: &str, pos: Pos) -> Option<usize> {
    let mut line_start = 0;
    for _ in 1..pos.line {
        line_start += text.get(line_start..)?.find('\n')? + 1;
    }
    let line = text.get(line_start..)?;
    let within = line.char_indices().map(|(i, _)| i).chain(std::iter::once(line.len()));
    let col = within.take_while(|&i| !line[..i].ends_with('\n')).nth(pos.col.saturating_sub(1));
    Some(line_start + col.unwrap_or(line.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_gets_its_key_and_value_position() {
        let docs = index("a: 1\nb:\n  - x: é\n    y: [1, 2]\n").unwrap();
        let d = &docs[0];
        let y = d.get(&FieldPath::parse("b[0].y")).unwrap();
        assert_eq!(y.key, Some(Pos { line: 4, col: 5 }));
        assert_eq!(y.start, Pos { line: 4, col: 8 });
        assert_eq!(y.len, 2);
        assert_eq!(d.scalar(&FieldPath::parse("b[0].x")), Some("é"));
        assert_eq!(d.locate_key(&FieldPath::parse("b[0].zz")), Pos { line: 3, col: 5 });
    }

    #[test]
    fn duplicate_keys_are_syntax_errors() {
        let e = index("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, col: 1 });
        assert_eq!(e.message, "duplicate field \"a\"");
    }

    #[test]
    fn a_snippet_keeps_columns_and_knows_its_line_offset() {
        let text = "items:\n- apiVersion: v1\n  kind: Pod\n- {a: é, b: 2}\n";
        let docs = index(text).unwrap();
        let s = snippet(text, docs[0].get(&FieldPath::parse("items[0]")).unwrap());
        assert_eq!(s.text, "  apiVersion: v1\n  kind: Pod\n");
        assert_eq!(s.line_offset, 1);
        let s = snippet(text, docs[0].get(&FieldPath::parse("items[1]")).unwrap());
        assert_eq!(s.text, "  {a: é, b: 2}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let e = index(&"[".repeat(500)).unwrap_err();
        assert!(
            e.message.contains("nesting too deep") || e.message.contains("recursion limit"),
            "{}",
            e.message
        );
        let e = index(&"[".repeat(130)).unwrap_err();
        assert!(
            e.message.contains("nesting too deep") || e.message.contains("recursion limit"),
            "{}",
            e.message
        );
    }
}
