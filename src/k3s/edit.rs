//! The byte-preserving edit of a `kube-apiserver-arg` list. Only the managed items change;
//! every other byte of the operator's file (comments, order, quoting, other keys) stays.

use super::args::arg_name;
use super::{APISERVER_ARG_KEY, ISSUER_ARG, MAX_EXPIRATION_ARG};
use crate::yaml::{Document, Node, NodeKind, Style};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EditError {
    pub line: usize,
    pub message: String,
}

/// Items aio-prep owns inside a `kube-apiserver-arg` list.
pub fn is_managed(item: &str) -> bool {
    matches!(arg_name(item), ISSUER_ARG | MAX_EXPIRATION_ARG)
}

/// The entry whose list aio-prep edits: the last plain `kube-apiserver-arg` (earlier ones
/// are overwritten by it), else the first `kube-apiserver-arg+` (it starts the list when
/// no plain entry precedes it in the first file).
fn target_entry(entries: &[(Node, Node)]) -> Option<&(Node, Node)> {
    // Keys as k3s reads them: trimmed (see `merge::entries`).
    let key = |e: &&(Node, Node)| e.0.as_scalar().unwrap_or("").trim().to_string();
    entries
        .iter()
        .rev()
        .find(|e| key(e) == APISERVER_ARG_KEY)
        .or_else(|| {
            entries
                .iter()
                .find(|e| key(e) == format!("{APISERVER_ARG_KEY}+"))
        })
}

/// Rewrites `text` so its `kube-apiserver-arg` list starts with `new_items` and holds no
/// other managed item; the list's other items keep their bytes.
pub fn rewrite(text: &str, doc: &Document, new_items: &[String]) -> Result<String, EditError> {
    if let Some(root) = &doc.root {
        if let NodeKind::Map { flow: true, .. } = root.kind {
            return Err(EditError {
                line: root.line,
                message: "a flow-style ({...}) top-level mapping cannot be edited; use block style"
                    .into(),
            });
        }
    }
    let entries = doc.top_entries().map_err(|e| EditError {
        line: e.line,
        message: e.message,
    })?;
    let Some((key, value)) = target_entry(entries) else {
        return Ok(append_new_key(text, new_items));
    };
    match &value.kind {
        NodeKind::Seq {
            items, flow: false, ..
        } if !items.is_empty() => Ok(rewrite_block(text, doc, value, items, new_items)),
        NodeKind::Map { .. } => Err(EditError {
            line: value.line,
            message: format!("{APISERVER_ARG_KEY} is a map; expected a list of strings"),
        }),
        _ => Ok(rewrite_as_block(text, doc, key, value, new_items)),
    }
}

/// The file's own line ending: lines aio-prep adds use it, so a CRLF file stays CRLF.
fn line_ending(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

fn append_new_key(text: &str, new_items: &[String]) -> String {
    let nl = line_ending(text);
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(nl);
    }
    out.push_str(APISERVER_ARG_KEY);
    out.push(':');
    out.push_str(nl);
    for item in new_items {
        out.push_str("  - ");
        out.push_str(&render(item, Style::Plain));
        out.push_str(nl);
    }
    out
}

/// The column of the `-` that introduces the item starting at `item_start`: the nearest
/// `-` before it that is followed by white space and preceded on its line only by spaces.
fn dash_column(text: &str, item_start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = item_start;
    while i > 0 {
        i -= 1;
        if bytes[i] != b'-' || !bytes.get(i + 1).is_some_and(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
        if bytes[line_start..i].iter().all(|b| *b == b' ') {
            return Some(i - line_start);
        }
    }
    None
}

/// The line of the `-` that introduces a block sequence item: the last line at or before
/// the item's first line whose text at the sequence's column is `-` after only spaces (a
/// block scalar's content starts below its `- >-` header).
fn dash_line(text: &str, doc: &Document, item: &Node, seq_col: usize) -> usize {
    let mut line = item.line;
    while line > 1 {
        let start = doc.line_start(line, text.len());
        let l = &text[start..];
        let l = &l.as_bytes()[..l.find('\n').unwrap_or(l.len())];
        // Bytes, not str slices: `seq_col` need not be a char boundary on another line.
        if l.len() > seq_col && l[..seq_col].iter().all(|b| *b == b' ') && l[seq_col] == b'-' {
            return line;
        }
        line -= 1;
    }
    line
}

fn rewrite_block(
    text: &str,
    doc: &Document,
    seq: &Node,
    items: &[Node],
    new_items: &[String],
) -> String {
    let first = &items[0];
    let seq_col =
        dash_column(text, first.start).unwrap_or(seq.start - doc.line_start(seq.line, text.len()));
    let insert_at = doc.line_start(dash_line(text, doc, first, seq_col), text.len());
    let indent = " ".repeat(seq_col);
    let style = match &first.kind {
        NodeKind::Scalar { style, .. } => *style,
        _ => Style::Plain,
    };
    // Line ranges (byte spans of whole lines) of managed items, in order.
    let mut removals: Vec<(usize, usize)> = Vec::new();
    for item in items {
        if !item.as_scalar().is_some_and(is_managed) {
            continue;
        }
        let start = doc.line_start(dash_line(text, doc, item, seq_col), text.len());
        let end = doc.line_start(item.end_line + 1, text.len());
        removals.push((start, end));
    }
    let mut out = String::with_capacity(text.len() + 256);
    out.push_str(&text[..insert_at]);
    for item in new_items {
        out.push_str(&indent);
        out.push_str("- ");
        out.push_str(&render(item, style));
        out.push_str(line_ending(text));
    }
    let mut pos = insert_at;
    for (start, end) in removals {
        out.push_str(&text[pos..start]);
        pos = end;
    }
    out.push_str(&text[pos..]);
    if pos == text.len() && !text.ends_with('\n') && out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Flow list, scalar or empty value: replaced by a block list holding the new items and
/// the kept items' own source text; a comment after the value stays on the key's line.
fn rewrite_as_block(
    text: &str,
    doc: &Document,
    key: &Node,
    value: &Node,
    new_items: &[String],
) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut style = Style::Plain;
    let mut keep = |n: &Node| {
        if let NodeKind::Scalar { value: v, style: s } = &n.kind {
            if is_managed(v) {
                return;
            }
            let src = text[n.start..n.end].trim_end();
            let single_line = !src.contains('\n')
                && matches!(s, Style::Plain | Style::SingleQuoted | Style::DoubleQuoted);
            kept.push(if single_line {
                src.to_string()
            } else {
                render(v, Style::DoubleQuoted)
            });
        }
    };
    let (cut_start, cut_end) = if value.is_null() && value.as_scalar() == Some("") {
        let after_colon = text[key.end..]
            .find(':')
            .map_or(key.end, |i| key.end + i + 1);
        (after_colon, after_colon)
    } else {
        match &value.kind {
            NodeKind::Seq { items, .. } => {
                if let Some(NodeKind::Scalar { style: s, .. }) = items.first().map(|n| &n.kind) {
                    style = *s;
                }
                items.iter().for_each(&mut keep);
            }
            NodeKind::Scalar { style: s, .. } if !value.is_null() => {
                style = *s;
                keep(value);
            }
            _ => {}
        }
        (value.start, value.end)
    };
    // Cut the value (and the spaces before it), then add the list after the key's line.
    let colon = text[key.end..cut_start]
        .find(':')
        .map_or(key.end, |i| key.end + i + 1);
    let cut_from = if cut_start > colon { colon } else { cut_start };
    let line_end_after = text[cut_end..].find('\n').map(|i| cut_end + i + 1);
    let key_indent = key.start - doc.line_start(key.line, text.len());
    let indent = " ".repeat(key_indent + 2);
    let nl = line_ending(text);
    let mut block = String::new();
    for item in new_items {
        block.push_str(&format!("{indent}- {}{nl}", render(item, style)));
    }
    for item in &kept {
        block.push_str(&format!("{indent}- {item}{nl}"));
    }
    let rest_of_line = &text[cut_end..line_end_after.unwrap_or(text.len())];
    let mut out = String::with_capacity(text.len() + block.len());
    out.push_str(&text[..cut_from]);
    let trailing = rest_of_line.trim_end_matches(['\n', '\r']);
    if !trailing.trim().is_empty() {
        out.push(' ');
        out.push_str(trailing.trim_start());
    }
    out.push_str(nl);
    out.push_str(&block);
    if let Some(after) = line_end_after {
        out.push_str(&text[after..]);
    }
    out
}

/// Renders a list item: in the style of the list's first item when that is safe, else
/// plain when every character is harmless, else double-quoted.
pub fn render(value: &str, prefer: Style) -> String {
    let plain_safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:=+,@%~-".contains(c))
        && !value.starts_with(['-', ':', ',', '@', '%', '~'])
        && !value.contains(": ");
    match prefer {
        Style::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        Style::DoubleQuoted => double_quoted(value),
        _ if plain_safe => value.to_string(),
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The whole contents of the aio-prep-owned drop-in.
pub fn render_dropin(new_items: &[String]) -> String {
    let mut out = String::from(
        "# Managed by aio-prep: rewritten by every `aio-prep apply`; edit /etc/aio-prep/config.toml instead.\n",
    );
    out.push_str(APISERVER_ARG_KEY);
    out.push_str("+:\n");
    for item in new_items {
        out.push_str("  - ");
        out.push_str(&render(item, Style::Plain));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const NEW: &[&str] = &[
        "service-account-issuer=https://arc.example/t/",
        "service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "service-account-max-token-expiration=24h",
    ];

    fn edit(text: &str) -> String {
        let doc = Document::parse(Path::new("/c.yaml"), text).expect("parse");
        let items: Vec<String> = NEW.iter().map(|s| s.to_string()).collect();
        let out = rewrite(text, &doc, &items).expect("rewrite");
        Document::parse(Path::new("/c.yaml"), &out).expect("result parses");
        out
    }

    #[test]
    fn block_list_keeps_comments_quoting_and_other_items() {
        let text = "# k3s config\nwrite-kubeconfig-mode: \"0644\"\nkube-apiserver-arg:\n  # audit\n  - \"audit-log-path=/var/log/a.log\"   # keep me\n  - service-account-issuer=https://old\n  - 'enable-admission-plugins=NodeRestriction'\ntls-san:\n  - a.example # san\n";
        let out = edit(text);
        assert_eq!(
            out,
            "# k3s config\nwrite-kubeconfig-mode: \"0644\"\nkube-apiserver-arg:\n  # audit\n  - \"service-account-issuer=https://arc.example/t/\"\n  - \"service-account-issuer=https://kubernetes.default.svc.cluster.local\"\n  - \"service-account-max-token-expiration=24h\"\n  - \"audit-log-path=/var/log/a.log\"   # keep me\n  - 'enable-admission-plugins=NodeRestriction'\ntls-san:\n  - a.example # san\n"
        );
    }

    #[test]
    fn indentation_of_the_list_is_kept() {
        let out =
            edit("kube-apiserver-arg:\n- a=b\n- service-account-max-token-expiration=1h\nx: 1\n");
        assert_eq!(
            out,
            format!(
                "kube-apiserver-arg:\n- {}\n- {}\n- {}\n- a=b\nx: 1\n",
                NEW[0], NEW[1], NEW[2]
            )
        );
    }

    #[test]
    fn missing_key_is_appended_and_missing_newline_added() {
        let out = edit("token: abc\nnode-name: n1");
        assert_eq!(
            out,
            format!(
                "token: abc\nnode-name: n1\nkube-apiserver-arg:\n  - {}\n  - {}\n  - {}\n",
                NEW[0], NEW[1], NEW[2]
            )
        );
        assert_eq!(
            edit(""),
            format!(
                "kube-apiserver-arg:\n  - {}\n  - {}\n  - {}\n",
                NEW[0], NEW[1], NEW[2]
            )
        );
    }

    #[test]
    fn flow_list_becomes_block_with_kept_item_text() {
        let out = edit(
            "kube-apiserver-arg: [\"a=1\", service-account-issuer=https://old, b=2] # c\nz: 1\n",
        );
        assert_eq!(
            out,
            "kube-apiserver-arg: # c\n  - \"service-account-issuer=https://arc.example/t/\"\n  - \"service-account-issuer=https://kubernetes.default.svc.cluster.local\"\n  - \"service-account-max-token-expiration=24h\"\n  - \"a=1\"\n  - b=2\nz: 1\n"
        );
    }

    #[test]
    fn scalar_and_empty_values_become_lists() {
        let out = edit("kube-apiserver-arg: a=1\n");
        assert_eq!(
            out,
            format!(
                "kube-apiserver-arg:\n  - {}\n  - {}\n  - {}\n  - a=1\n",
                NEW[0], NEW[1], NEW[2]
            )
        );
        let out = edit("kube-apiserver-arg:\nother: 1\n");
        assert_eq!(
            out,
            format!(
                "kube-apiserver-arg:\n  - {}\n  - {}\n  - {}\nother: 1\n",
                NEW[0], NEW[1], NEW[2]
            )
        );
    }

    #[test]
    fn last_plain_entry_is_edited_earlier_duplicate_untouched() {
        let out = edit("kube-apiserver-arg: [x=1]\nkube-apiserver-arg:\n  - y=2\n");
        assert!(
            out.starts_with(
                "kube-apiserver-arg: [x=1]\nkube-apiserver-arg:\n  - service-account-issuer="
            ),
            "{out}"
        );
    }

    #[test]
    fn multi_line_managed_item_is_removed_whole() {
        let out =
            edit("kube-apiserver-arg:\n  - >-\n    service-account-issuer=https://old\n  - a=1\n");
        assert_eq!(
            out,
            format!(
                "kube-apiserver-arg:\n  - {}\n  - {}\n  - {}\n  - a=1\n",
                NEW[0], NEW[1], NEW[2]
            )
        );
    }

    #[test]
    fn crlf_files_keep_crlf_line_ends() {
        for text in [
            "a: 1\r\nkube-apiserver-arg:\r\n  - x=1 # c\r\nb: 2\r\n",
            "a: 1\r\nkube-apiserver-arg: [x=1] # c\r\nb: 2\r\n",
            "a: 1\r\n",
        ] {
            let out = edit(text);
            assert!(
                !out.replace("\r\n", "").contains('\n'),
                "bare LF in {out:?}"
            );
        }
    }

    #[test]
    fn key_k3s_trims_is_the_one_edited() {
        let out = edit("\"kube-apiserver-arg \":\n  - a=1\n");
        assert!(
            out.starts_with(&format!("\"kube-apiserver-arg \":\n  - {}\n", NEW[0])),
            "{out}"
        );
    }

    #[test]
    fn multibyte_text_at_the_dash_column_does_not_panic() {
        // Found by cargo-fuzz: a line whose bytes at the list's column are inside a
        // multi-byte character made the dash search slice a str off a char boundary.
        let text = "kube-apiserver-arg:\n  - >-\n\u{fffd}  \u{fffd}\u{fffd}er: 1";
        let doc = Document::parse(Path::new("/c.yaml"), text).expect("parse");
        let items: Vec<String> = NEW.iter().map(|s| s.to_string()).collect();
        let _ = rewrite(text, &doc, &items);
    }

    #[test]
    fn rendering_quotes_what_plain_cannot_hold() {
        assert_eq!(render("a=b", Style::Plain), "a=b");
        assert_eq!(render("a=https://x/#y", Style::Plain), "\"a=https://x/#y\"");
        assert_eq!(render("a='b'", Style::SingleQuoted), "'a=''b'''");
        assert_eq!(render("a=\"b\\", Style::Plain), "\"a=\\\"b\\\\\"");
    }

    #[test]
    fn flow_top_level_mapping_is_refused() {
        let text = "{kube-apiserver-arg: [a]}\n";
        let doc = Document::parse(Path::new("/c.yaml"), text).expect("parse");
        assert!(rewrite(text, &doc, &[]).is_err());
    }
}
