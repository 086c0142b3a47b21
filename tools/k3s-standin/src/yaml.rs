//! A k3s config file as gopkg.in/yaml.v2 hands it to k3s: the first document,
//! decoded into a `yaml.MapSlice` with YAML 1.1 scalar resolution (`yes` is a
//! bool, `0644` an octal int, `1_000` an int), anchors and aliases expanded,
//! and merge keys (`<<`) dropped (yaml.v2 loses them when decoding into a
//! MapSlice). Plus wrangler's `convert.ToString`, which turns a value into
//! the text of a flag.

use std::collections::HashMap;

use base64::Engine as _;
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use crate::gostr;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "!!null",
            Value::Bool(_) => "!!bool",
            Value::Int(_) | Value::Uint(_) => "!!int",
            Value::Float(_) => "!!float",
            Value::Str(_) => "!!str",
            Value::Seq(_) => "!!seq",
            Value::Map(_) => "!!map",
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::Seq(_) | Value::Map(_))
    }
}

/// The top-level mapping of the first document (empty for an empty file).
pub fn parse_mapping(src: &str) -> Result<Vec<(Value, Value)>, String> {
    let mut builder = Builder {
        events: Parser::new_from_str(src),
        anchors: HashMap::new(),
        open: Vec::new(),
        budget: NODE_BUDGET,
    };
    match builder.first_document()? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Map(items)) => Ok(items),
        Some(other) => Err(format!(
            "yaml: unmarshal errors: cannot unmarshal {} into yaml.MapSlice (the document must be a mapping)",
            other.kind()
        )),
    }
}

/// Alias expansion is bounded, like yaml.v2's "excessive aliasing" guard.
const NODE_BUDGET: usize = 1_000_000;

struct Builder<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    /// Anchors of collections still being built (an alias to one is a cycle).
    open: Vec<usize>,
    budget: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Event<'a>, String> {
        match self.events.next() {
            Some(Ok((event, _span))) => Ok(event),
            Some(Err(e)) => Err(format!("yaml: {e}")),
            None => Err("yaml: unexpected end of stream".into()),
        }
    }

    fn first_document(&mut self) -> Result<Option<Value>, String> {
        loop {
            match self.next()? {
                Event::StreamStart | Event::Nothing => continue,
                Event::StreamEnd => return Ok(None),
                Event::DocumentStart(_) => break,
                other => return Err(format!("yaml: unexpected event {other:?}")),
            }
        }
        let first = self.next()?;
        if matches!(first, Event::DocumentEnd) {
            return Ok(Some(Value::Null));
        }
        let root = self.node(first)?;
        // Later documents are not read, as yaml.v2's Unmarshal does not.
        Ok(Some(root))
    }

    fn spend(&mut self) -> Result<(), String> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or("yaml: document contains excessive aliasing")?;
        Ok(())
    }

    fn remember(&mut self, anchor: usize, value: &Value) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
    }

    fn node(&mut self, event: Event<'a>) -> Result<Value, String> {
        self.spend()?;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref())?;
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::SequenceStart(anchor, _tag) => {
                self.open.push(anchor);
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        event => items.push(self.node(event)?),
                    }
                }
                self.open.pop();
                let value = Value::Seq(items);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::MappingStart(anchor, _tag) => {
                self.open.push(anchor);
                let mut items = Vec::new();
                loop {
                    let key_event = match self.next()? {
                        Event::MappingEnd => break,
                        event => event,
                    };
                    let is_merge = is_merge_key(&key_event);
                    let key = self.node(key_event)?;
                    let value_event = self.next()?;
                    let value = self.node(value_event)?;
                    if is_merge {
                        check_merge_value(&value)?;
                        continue;
                    }
                    if !key.is_scalar() {
                        return Err(format!("yaml: unsupported {} as a mapping key", key.kind()));
                    }
                    items.push((key, value));
                }
                self.open.pop();
                let value = Value::Map(items);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::Alias(id) => {
                if id != 0 && self.open.contains(&id) {
                    return Err("yaml: anchor value contains itself".into());
                }
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or("yaml: unknown anchor referenced")?;
                self.budget = self
                    .budget
                    .checked_sub(count_nodes(&value))
                    .ok_or("yaml: document contains excessive aliasing")?;
                Ok(value)
            }
            other => Err(format!("yaml: unexpected event {other:?}")),
        }
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(items) => {
            1 + items
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn is_merge_key(event: &Event) -> bool {
    match event {
        Event::Scalar(text, ScalarStyle::Plain, _, None) => text == "<<",
        Event::Scalar(_, _, _, Some(tag)) => tag.is_yaml_core_schema() && tag.suffix == "merge",
        _ => false,
    }
}

fn check_merge_value(value: &Value) -> Result<(), String> {
    let ok = match value {
        Value::Map(_) => true,
        Value::Seq(items) => items.iter().all(|i| matches!(i, Value::Map(_))),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("yaml: map merge requires map or sequence of maps as the value".into())
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else {
        return Ok(match style {
            ScalarStyle::Plain => resolve_plain(text),
            _ => Value::Str(text.to_string()),
        });
    };
    if !tag.is_yaml_core_schema() {
        // Local tags (`!foo`) are not resolvable: yaml.v2 keeps the text.
        return Ok(Value::Str(text.to_string()));
    }
    let resolved = resolve_plain(text);
    let wrong = |want: &str| {
        Err(format!(
            "yaml: cannot decode {} `{text}` as a !!{want}",
            resolved.kind()
        ))
    };
    match tag.suffix.as_str() {
        "str" | "timestamp" => Ok(Value::Str(text.to_string())),
        "binary" => base64::engine::general_purpose::STANDARD
            .decode(text.split_whitespace().collect::<String>())
            .map(|b| Value::Str(String::from_utf8_lossy(&b).into_owned()))
            .map_err(|e| format!("yaml: !!binary value contains invalid base64 data: {e}")),
        "null" if resolved == Value::Null => Ok(resolved),
        "bool" if matches!(resolved, Value::Bool(_)) => Ok(resolved),
        "int" if matches!(resolved, Value::Int(_) | Value::Uint(_)) => Ok(resolved),
        "float" => match resolved {
            Value::Float(_) => Ok(resolved),
            Value::Int(i) => Ok(Value::Float(i as f64)),
            Value::Uint(u) => Ok(Value::Float(u as f64)),
            _ => wrong("float"),
        },
        "null" | "bool" | "int" | "map" | "seq" => wrong(&tag.suffix),
        _ => Ok(Value::Str(text.to_string())),
    }
}

/// YAML 1.1 plain-scalar resolution as yaml.v2 does it.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => match parse_finite(s) {
            Some(f)
                if s[1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"eE+-".contains(&b)) =>
            {
                Value::Float(f)
            }
            _ => Value::Str(s.to_string()),
        },
        b'0'..=b'9' | b'+' | b'-' => {
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = gostr::parse_int(&plain, 0) {
                Value::Int(i)
            } else if let Some(u) = gostr::parse_uint(&plain, 0) {
                Value::Uint(u)
            } else if let Some(f) = yaml_style_float(&plain)
                .then(|| parse_finite(&plain))
                .flatten()
            {
                Value::Float(f)
            } else {
                Value::Str(s.to_string())
            }
        }
        _ => Value::Str(s.to_string()),
    }
}

fn parse_finite(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `fmt.Sprint(v)` for a decoded value.
fn sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Float(f) => gostr::format_float(*f),
        Value::Str(s) => s.clone(),
        Value::Seq(items) => {
            let parts: Vec<String> = items.iter().map(sprint).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|(k, v)| format!("{{{} {}}}", sprint(k), sprint(v)))
                .collect();
            format!("[{}]", parts.join(" "))
        }
    }
}

/// wrangler's `convert.ToString`: a list stands for its first element, nil is
/// empty, everything else is `fmt.Sprint`, and the result is whitespace-trimmed.
pub fn to_go_string(v: &Value) -> String {
    let single = match v {
        Value::Seq(items) => items.first().unwrap_or(&Value::Null),
        other => other,
    };
    match single {
        Value::Null => String::new(),
        other => sprint(other).trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn yaml_1_1_scalars() {
        assert_eq!(resolve_plain("yes"), Value::Bool(true));
        // YAML 1.1: a bare `y` or `n` in a list is a bool, not a letter.
        assert_eq!(resolve_plain("y"), Value::Bool(true));
        assert_eq!(resolve_plain("n"), Value::Bool(false));
        assert_eq!(resolve_plain("Off"), Value::Bool(false));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("0644"), Value::Int(420));
        assert_eq!(resolve_plain("1_000"), Value::Int(1000));
        assert_eq!(resolve_plain("6443"), Value::Int(6443));
        assert_eq!(resolve_plain("08"), Value::Float(8.0));
        assert_eq!(resolve_plain("1.5"), Value::Float(1.5));
        assert_eq!(resolve_plain(".5"), Value::Float(0.5));
        assert_eq!(resolve_plain("24h"), s("24h"));
        assert_eq!(resolve_plain("2024-01-02"), s("2024-01-02"));
        assert_eq!(resolve_plain("1e400"), s("1e400"));
        assert_eq!(resolve_plain("18446744073709551615"), Value::Uint(u64::MAX));
    }

    #[test]
    fn to_string_matches_wrangler() {
        assert_eq!(to_go_string(&Value::Null), "");
        assert_eq!(to_go_string(&Value::Bool(true)), "true");
        assert_eq!(to_go_string(&Value::Int(420)), "420");
        assert_eq!(to_go_string(&s("  padded \n")), "padded");
        assert_eq!(to_go_string(&Value::Seq(vec![s("a"), s("b")])), "a");
        assert_eq!(to_go_string(&Value::Seq(vec![])), "");
        assert_eq!(to_go_string(&Value::Map(vec![(s("a"), s("b"))])), "[{a b}]");
    }

    #[test]
    fn mapping_document() {
        let m = parse_mapping("a: 1\nb: [x, 'y']\nc:\n").expect("parses");
        assert_eq!(
            m,
            vec![
                (s("a"), Value::Int(1)),
                (s("b"), Value::Seq(vec![s("x"), s("y")])),
                (s("c"), Value::Null),
            ]
        );
    }

    #[test]
    fn quoted_and_tagged_scalars_stay_strings() {
        let m =
            parse_mapping("a: '0644'\nb: \"yes\"\nc: !!str 12\nd: |\n  text\n").expect("parses");
        assert_eq!(m[0].1, s("0644"));
        assert_eq!(m[1].1, s("yes"));
        assert_eq!(m[2].1, s("12"));
        assert_eq!(m[3].1, s("text\n"));
        assert!(parse_mapping("a: !!int abc\n").is_err());
    }

    #[test]
    fn empty_and_comment_only_files_are_empty() {
        assert_eq!(parse_mapping("").expect("empty"), vec![]);
        assert_eq!(parse_mapping("# nothing\n").expect("comment"), vec![]);
        assert_eq!(parse_mapping("---\n").expect("null doc"), vec![]);
        assert_eq!(parse_mapping("~\n").expect("null"), vec![]);
    }

    #[test]
    fn non_mapping_documents_are_refused() {
        assert!(parse_mapping("just a string\n").is_err());
        assert!(parse_mapping("- a\n- b\n").is_err());
        assert!(parse_mapping("a: [unclosed\n").is_err());
        assert!(parse_mapping("a: b\n c: d\n  e\n").is_err());
    }

    #[test]
    fn only_the_first_document_counts() {
        let m = parse_mapping("a: 1\n---\na: 2\n").expect("parses");
        assert_eq!(m, vec![(s("a"), Value::Int(1))]);
    }

    #[test]
    fn anchors_and_aliases_expand() {
        let m = parse_mapping("base: &b [x, z]\nother: *b\none: &o w\ntwo: *o\n").expect("parses");
        assert_eq!(m[1].1, Value::Seq(vec![s("x"), s("z")]));
        assert_eq!(m[3].1, s("w"));
        assert!(parse_mapping("a: *nope\n").is_err());
    }

    #[test]
    fn merge_keys_are_dropped_like_yaml_v2_mapslice() {
        let m = parse_mapping("defs: &d {a: 1}\n<<: *d\nb: 2\n").expect("parses");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].0, s("b"));
        assert!(parse_mapping("<<: 5\n").is_err());
    }

    #[test]
    fn repeated_keys_are_all_kept_in_order() {
        let m = parse_mapping("a: 1\na: 2\n").expect("parses");
        assert_eq!(m, vec![(s("a"), Value::Int(1)), (s("a"), Value::Int(2))]);
    }
}
