//! A YAML document as a tree that keeps what an editor needs: every mapping entry in source
//! order (duplicates included, as Go's yaml.v2 `MapSlice` gives k3s), byte spans, lines,
//! and whether a collection is written in flow style. Built from saphyr-parser's events.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span};

#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct YamlError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: Style,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
}

/// A node with its source position. `start`/`end` are byte offsets into the text;
/// `end_line` is the last line that holds part of the node (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub end_line: usize,
}

impl Node {
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// YAML null: an empty plain scalar, `~`, or `null`.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, style: Style::Plain }
            if value.is_empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "null",
            NodeKind::Scalar { .. } => "scalar",
            NodeKind::Seq { .. } => "list",
            NodeKind::Map { .. } => "map",
        }
    }
}

/// Plain scalars that Go's yaml.v2 (YAML 1.1) resolves to a bool, number or null, which
/// k3s would then turn back into a different string. Used to reject "numbers where strings
/// belong" instead of guessing what k3s would make of them.
pub fn is_non_string_plain(node: &Node) -> bool {
    let NodeKind::Scalar {
        value,
        style: Style::Plain,
    } = &node.kind
    else {
        return false;
    };
    let v = value.as_str();
    if node.is_null() {
        return true;
    }
    const BOOLS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if BOOLS.contains(&v) {
        return true;
    }
    let digits = v.trim_start_matches(['+', '-']).replace('_', "");
    let numeric = !digits.is_empty()
        && (digits.parse::<f64>().is_ok()
            || digits.starts_with("0x")
            || digits.starts_with("0b")
            || digits.starts_with("0o")
            || matches!(
                digits.as_str(),
                ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
            ));
    numeric
}

/// A parsed document: `root` is `None` for an empty file (or one with only comments).
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    pub root: Option<Node>,
    line_starts: Vec<usize>,
}

impl Document {
    /// Parses `text` (already checked to be UTF-8). Refuses anchors, aliases and more than
    /// one document: aio-prep would have to guess what k3s makes of them.
    pub fn parse(path: &Path, text: &str) -> Result<Document, YamlError> {
        check_line_breaks(path, text)?;
        let line_starts = line_starts(text);
        let mut builder = Builder {
            path,
            text,
            line_starts: &line_starts,
            stack: Vec::new(),
            root: None,
            documents: 0,
        };
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|e| YamlError {
                path: path.to_path_buf(),
                line: e.marker().line(),
                message: format!("invalid YAML: {}", e.info()),
            })?;
            builder.event(event, span)?;
        }
        Ok(Document {
            path: path.to_path_buf(),
            root: builder.root,
            line_starts,
        })
    }

    /// Byte offset of the start of `line` (1-based); `text.len()` past the end.
    pub fn line_start(&self, line: usize, text_len: usize) -> usize {
        self.line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(text_len)
    }

    /// The top-level mapping's entries, or an empty slice for an empty document.
    pub fn top_entries(&self) -> Result<&[(Node, Node)], YamlError> {
        match &self.root {
            None => Ok(&[]),
            Some(Node {
                kind: NodeKind::Map { entries, .. },
                ..
            }) => Ok(entries),
            Some(node) if node.is_null() => Ok(&[]),
            Some(node) => Err(YamlError {
                path: self.path.clone(),
                line: node.line,
                message: format!(
                    "expected a mapping of k3s options, found a {}",
                    node.type_name()
                ),
            }),
        }
    }
}

/// Refuses line breaks that k3s's YAML 1.1 parser (yaml.v2, after libyaml) and aio-prep's
/// YAML 1.2 parser disagree on — NEL, LS and PS are line breaks to k3s only, so a comment
/// could hide an option from aio-prep — and a carriage return without a line feed (an
/// old-Mac line end), which both read as a line break but aio-prep's byte positions do not.
fn check_line_breaks(path: &Path, text: &str) -> Result<(), YamlError> {
    let bad = text.char_indices().find(|&(i, c)| match c {
        '\r' => !text[i + 1..].starts_with('\n'),
        '\u{85}' | '\u{2028}' | '\u{2029}' => true,
        _ => false,
    });
    match bad {
        None => Ok(()),
        Some((at, c)) => Err(YamlError {
            path: path.to_path_buf(),
            line: text[..at].matches('\n').count() + 1,
            message: if c == '\r' {
                "carriage return without a line feed; use \\n or \\r\\n line ends".into()
            } else {
                format!(
                    "U+{:04X} is a line break to k3s's YAML parser but not to aio-prep's; remove it",
                    c as u32
                )
            },
        }),
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    starts
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: Marker,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        start: Marker,
        flow: bool,
    },
}

struct Builder<'a> {
    path: &'a Path,
    text: &'a str,
    line_starts: &'a [usize],
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
}

impl Builder<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> YamlError {
        YamlError {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// Byte offset of a marker (saphyr counts characters; we count bytes).
    fn offset(&self, m: Marker) -> usize {
        let Some(&line_start) = self.line_starts.get(m.line().saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[line_start..];
        rest.char_indices()
            .nth(m.col())
            .map(|(i, _)| line_start + i)
            .unwrap_or(self.text.len())
    }

    /// The last line holding part of a node that ends at `end`: when only indentation
    /// precedes `end` on its line (a block scalar ends where the next token starts), the
    /// node ended on the line before.
    fn last_line(&self, end: Marker) -> usize {
        let line_start = self
            .line_starts
            .get(end.line().saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len());
        let before = &self.text[line_start..self.offset(end).max(line_start)];
        if before.trim().is_empty() && end.line() > 1 {
            end.line() - 1
        } else {
            end.line()
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let line = span.start.line();
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.err(
                        line,
                        "more than one YAML document; k3s reads only the first",
                    ));
                }
            }
            Event::Alias(_) => {
                return Err(self.err(line, "YAML aliases (*name) are not supported by aio-prep"))
            }
            Event::Scalar(value, style, anchor, _tag) => {
                if anchor != 0 {
                    return Err(
                        self.err(line, "YAML anchors (&name) are not supported by aio-prep")
                    );
                }
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let node = Node {
                    kind: NodeKind::Scalar {
                        value: Cow::into_owned(value),
                        style,
                    },
                    start: self.offset(span.start),
                    end: self.offset(span.end),
                    line,
                    end_line: self.last_line(span.end).max(line),
                };
                self.push(node)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                return Err(self.err(line, "YAML anchors (&name) are not supported by aio-prep"));
            }
            Event::SequenceStart(..) => {
                let flow = self.text[self.offset(span.start)..].starts_with('[');
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start: span.start,
                    flow,
                });
            }
            Event::MappingStart(..) => {
                let flow = self.text[self.offset(span.start)..].starts_with('{');
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    pending_key: None,
                    start: span.start,
                    flow,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self
                    .stack
                    .pop()
                    .ok_or_else(|| self.err(line, "unbalanced YAML collection"))?;
                let (kind, start) = match frame {
                    Frame::Seq { items, start, flow } => (NodeKind::Seq { items, flow }, start),
                    Frame::Map {
                        entries,
                        start,
                        flow,
                        ..
                    } => (NodeKind::Map { entries, flow }, start),
                };
                // saphyr's end span of a flow collection runs past `]`/`}` over any trailing
                // comment; the closing bracket itself is at the span's start.
                let flow_end = matches!(
                    kind,
                    NodeKind::Seq { flow: true, .. } | NodeKind::Map { flow: true, .. }
                );
                let end_off = if flow_end {
                    self.offset(span.start) + 1
                } else {
                    self.offset(span.end)
                };
                let mut end_line = self.last_line(span.end).max(start.line());
                // A block collection ends where the next token starts; its last line is the
                // last line of its last child.
                if let NodeKind::Seq { items, flow: false } = &kind {
                    end_line = items.last().map_or(start.line(), |n| n.end_line);
                }
                if let NodeKind::Map {
                    entries,
                    flow: false,
                } = &kind
                {
                    end_line = entries.last().map_or(start.line(), |(_, v)| v.end_line);
                }
                let node = Node {
                    kind,
                    start: self.offset(start),
                    end: end_off,
                    line: start.line(),
                    end_line,
                };
                self.push(node)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, node: Node) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => {
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document::parse(Path::new("/t.yaml"), text).expect("parses")
    }

    #[test]
    fn keeps_duplicate_keys_in_order() {
        let d = doc("a: 1\nb: x\na: 2\n");
        let keys: Vec<_> = d
            .top_entries()
            .expect("map")
            .iter()
            .map(|(k, v)| (k.as_scalar().unwrap_or(""), v.as_scalar().unwrap_or("")))
            .collect();
        assert_eq!(keys, vec![("a", "1"), ("b", "x"), ("a", "2")]);
    }

    #[test]
    fn records_spans_and_flow() {
        let text = "x: é\nlist: [a, \"b\"]\nblock:\n  - one\n  - >-\n    two\n    lines\nend: 1\n";
        let d = doc(text);
        let entries = d.top_entries().expect("map");
        let (_, list) = &entries[1];
        assert!(matches!(list.kind, NodeKind::Seq { flow: true, .. }));
        assert_eq!(&text[list.start..list.end], "[a, \"b\"]");
        let (_, block) = &entries[2];
        let NodeKind::Seq { items, flow: false } = &block.kind else {
            panic!("block seq")
        };
        assert_eq!(items[0].line, 4);
        // A block scalar starts on its first content line, not on its `>-` header.
        assert_eq!(items[1].line, 6);
        assert_eq!(items[1].end_line, 7);
        assert_eq!(block.end_line, 7);
    }

    #[test]
    fn refuses_aliases_anchors_and_multiple_documents() {
        let p = Path::new("/t.yaml");
        for bad in [
            "a: &x 1\nb: *x\n",
            "a: &x [1]\n",
            "a: 1\n---\nb: 2\n",
            "a: [1\n",
            "a:\n\t- x\n",
        ] {
            let e = Document::parse(p, bad).expect_err(bad);
            assert!(e.to_string().starts_with("/t.yaml:"), "{e}");
        }
    }

    #[test]
    fn refuses_line_breaks_k3s_reads_differently() {
        let p = Path::new("/t.yaml");
        for (bad, line) in [
            ("a: 1\rkube-apiserver-arg: [x]\n", 1),
            ("a: 1\n# note\u{2028}kube-apiserver-arg: [x]\n", 2),
            ("a: 1\nb: 2\n# \u{85}\n", 3),
            ("a: \"x\u{2029}\"\n", 1),
        ] {
            let e = Document::parse(p, bad).expect_err(bad);
            assert_eq!(e.line, line, "{bad:?}: {e}");
        }
        assert!(
            Document::parse(p, "a: 1\r\nb: [x]\r\n").is_ok(),
            "CRLF is fine"
        );
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        let d = doc("- a\n- b\n");
        assert!(d.top_entries().is_err());
        assert!(doc("# only a comment\n")
            .top_entries()
            .expect("empty")
            .is_empty());
    }

    #[test]
    fn spots_yaml11_non_strings() {
        let d = doc("a: [5, yes, 1.5, 0x1f, ~, 'yes', x=5, \"7\"]\n");
        let NodeKind::Seq { items, .. } = &d.top_entries().expect("map")[0].1.kind else {
            panic!()
        };
        let flags: Vec<bool> = items.iter().map(is_non_string_plain).collect();
        assert_eq!(
            flags,
            vec![true, true, true, true, true, false, false, false]
        );
    }
}
