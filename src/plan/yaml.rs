//! A YAML document as a tree of nodes that remember where they came from.
//!
//! `saphyr-parser` gives a stream of events with positions; this module folds it
//! into [`Node`]s so that validation can walk the whole document, report every
//! problem with its line and column, and never stop at the first one.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::diag::{Diagnostic, Pos, Span};

/// Anchors may be reused, but a document that expands into more nodes than
/// this is an attack ("billion laughs"), not a plan.
const MAX_NODES: usize = 1_000_000;
/// Nesting deeper than this is not a plan either, and would risk the stack.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in document order; keys are scalars (checked while loading).
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
pub struct Scalar {
    pub text: String,
    /// Quoted and block scalars are always strings; plain ones are resolved
    /// with the YAML 1.2 core schema.
    pub plain: bool,
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Scalar {
    pub fn resolve(&self) -> Resolved<'_> {
        if !self.plain {
            return Resolved::Str(&self.text);
        }
        let t = self.text.as_str();
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
            "true" | "True" | "TRUE" => return Resolved::Bool(true),
            "false" | "False" | "FALSE" => return Resolved::Bool(false),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                return Resolved::Float(f64::INFINITY)
            }
            "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
            _ => {}
        }
        if let Some(hex) = t.strip_prefix("0x") {
            if let Ok(v) = i64::from_str_radix(hex, 16) {
                return Resolved::Int(v);
            }
        }
        if let Some(oct) = t.strip_prefix("0o") {
            if let Ok(v) = i64::from_str_radix(oct, 8) {
                return Resolved::Int(v);
            }
        }
        if is_int(t) {
            if let Ok(v) = t.parse::<i64>() {
                return Resolved::Int(v);
            }
        }
        if is_float(t) {
            if let Ok(v) = t.parse::<f64>() {
                return Resolved::Float(v);
            }
        }
        Resolved::Str(t)
    }
}

fn is_int(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_float(t: &str) -> bool {
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let s = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

impl Node {
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) => "a whole number",
                Resolved::Float(_) => "a number",
                Resolved::Str(_) => "a string",
            },
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar().map(Scalar::resolve), Some(Resolved::Null))
    }
}

/// Parse `text` as a single YAML document. Syntax errors come back as
/// diagnostics (the parser stops at the first one: after a syntax error the
/// rest of the document has no reliable structure).
pub fn parse(text: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    let mut documents = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(pair) => pair,
            Err(e) => {
                let m = e.marker();
                let pos = Pos::new(m.line(), m.col() + 1);
                return Err(vec![scan_error(text, &builder, pos, e.info())]);
            }
        };
        let span = convert_span(span);
        if let Event::DocumentStart(_) = event {
            documents += 1;
            if documents > 1 {
                return Err(vec![Diagnostic::error(
                    span,
                    "",
                    "a plan is one YAML document, but this file holds more than one",
                )
                .with_hint(
                    "remove the `---` separator, or split the file into several plans",
                )]);
            }
        }
        builder.event(event, span).map_err(|d| vec![*d])?;
    }
    Ok(builder.root)
}

/// A syntax error as a diagnostic: the parser's words, a place that is on a
/// line of the file, and a hint for the mistakes people make most.
fn scan_error(text: &str, builder: &Builder, pos: Pos, info: &str) -> Diagnostic {
    let info = info.trim();
    let lines: Vec<&str> = text.lines().collect();
    let mut pos = pos;
    // At the end of the text the parser points past the last line: point at
    // the end of the last line that has something on it instead.
    if pos.line == 0 || pos.line > lines.len() {
        if let Some((i, last)) = lines
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| !l.trim().is_empty())
        {
            pos = Pos::new(i + 1, last.chars().count() + 1);
        }
    }
    let line_text = pos
        .line
        .checked_sub(1)
        .and_then(|i| lines.get(i))
        .copied()
        .unwrap_or("");
    let mut message = if info.is_empty() {
        "invalid YAML".to_string()
    } else {
        format!("invalid YAML: {info}")
    };
    let hint: Option<String> = if info.contains("unprintable") {
        Some("plans are plain text: remove the control character here".to_string())
    } else if info.contains("tabs") {
        if let Some(i) = line_text.chars().position(|c| c == '\t') {
            pos.col = i + 1;
        }
        Some("indent with spaces: YAML does not allow tabs in indentation".to_string())
    } else if info.contains("unknown anchor") {
        message = "invalid YAML: this alias ('*name') refers to an anchor that is not defined"
            .to_string();
        Some("define the anchor first, with '&name' on an earlier value".to_string())
    } else if info.contains("mapping values are not allowed") {
        Some(
            "quote a value that contains ': ', e.g. approve: \"Go? Note: ...\"; \
             if this line starts a new key, fix its indentation"
                .to_string(),
        )
    } else if info.contains("flow mapping") || info.contains("flow sequence") {
        Some(flow_hint(text, builder, line_text))
    } else if info.contains("quoted scalar") {
        Some("a quoted value must be closed by the same quote it opens with".to_string())
    } else if info.contains("did not find expected key")
        || info.contains("block end")
        || info.contains("did not find expected '-'")
    {
        Some(
            "check the indentation of this line: it must line up with the keys or \
             list items it belongs with"
                .to_string(),
        )
    } else {
        None
    };
    let d = Diagnostic::error(Span::point(pos), "", message);
    match hint {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

/// Why a `{ }` or `[ ]` did not parse: an unquoted `${VAR}` inside it (the
/// braces of `${` are YAML syntax there), or a bracket left open.
fn flow_hint(text: &str, builder: &Builder, line_text: &str) -> String {
    if has_unquoted_interpolation(line_text) {
        return "inside { } or [ ], quote a value that uses ${VAR}: url: \"${STATE_URL}\""
            .to_string();
    }
    let open = builder.stack.iter().rev().find_map(|frame| {
        let start = match frame {
            Frame::Seq { start, .. } | Frame::Map { start, .. } => start.start,
        };
        let c = text
            .lines()
            .nth(start.line.checked_sub(1)?)?
            .chars()
            .nth(start.col.checked_sub(1)?)?;
        matches!(c, '{' | '[').then_some((c, start))
    });
    match open {
        Some((c, at)) => format!(
            "the '{c}' at line {}, column {} is not closed by '{}', or two of its entries lack a ',' between them",
            at.line,
            at.col,
            if c == '{' { '}' } else { ']' }
        ),
        None => "every '{' needs a '}' and every '[' a ']', with ',' between entries".to_string(),
    }
}

fn has_unquoted_interpolation(line: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') if prev == '$' => return true,
            (None, '#') if prev == ' ' => return false,
            (None, _) => {}
        }
        prev = c;
    }
    false
}

fn convert_span(span: saphyr_parser::Span) -> Span {
    Span {
        start: Pos::new(span.start.line(), span.start.col() + 1),
        end: Pos::new(span.end.line(), span.end.col() + 1),
    }
}

enum Frame {
    Seq {
        anchor: usize,
        start: Span,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        start: Span,
        entries: Vec<(Node, Node)>,
        /// Parallel to `entries`: true where the entry came from a merge key
        /// and may still be overridden by the map's own value.
        merged: Vec<bool>,
        /// Where each key is in `entries`, so that a map of many keys is
        /// checked for duplicates in linear time.
        index: HashMap<String, usize>,
        pending_key: Option<Node>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Box<Diagnostic>> {
        match event {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return Err(Box::new(Diagnostic::error(
                        span,
                        "",
                        "alias to an unknown anchor",
                    )));
                };
                self.nodes += count_nodes(node);
                if self.nodes > MAX_NODES {
                    return Err(Box::new(Diagnostic::error(
                        span,
                        "",
                        "aliases expand this document to more than a million nodes",
                    )));
                }
                let node = node.clone();
                self.push_value(node)
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(tag) = tag {
                    if !(tag.is_yaml_core_schema() && tag.suffix == "str") {
                        return Err(Box::new(
                            Diagnostic::error(
                                span,
                                "",
                                format!("YAML tag '{tag}' is not supported here"),
                            )
                            .with_hint("plans use plain values; quote a value to make it a string"),
                        ));
                    }
                    let node = self.scalar(text.into_owned(), false, span);
                    return self.finish_node(node, anchor);
                }
                let plain = matches!(style, ScalarStyle::Plain);
                let node = self.scalar(text.into_owned(), plain, span);
                self.finish_node(node, anchor)
            }
            Event::SequenceStart(_, Some(_)) | Event::MappingStart(_, Some(_)) => Err(Box::new(
                Diagnostic::error(span, "", "YAML tags are not supported in plans"),
            )),
            Event::SequenceStart(anchor, _) => self.open(
                Frame::Seq {
                    anchor,
                    start: span,
                    items: Vec::new(),
                },
                span,
            ),
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map {
                    anchor,
                    start: span,
                    entries: Vec::new(),
                    merged: Vec::new(),
                    index: HashMap::new(),
                    pending_key: None,
                },
                span,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(Box::new(Diagnostic::error(
                        span,
                        "",
                        "unbalanced YAML structure",
                    )));
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        anchor,
                        start,
                        items,
                    } => (
                        Node {
                            kind: NodeKind::Seq(items),
                            span: Span {
                                start: start.start,
                                end: span.end,
                            },
                        },
                        anchor,
                    ),
                    Frame::Map {
                        anchor,
                        start,
                        entries,
                        ..
                    } => (
                        Node {
                            kind: NodeKind::Map(entries),
                            span: Span {
                                start: start.start,
                                end: span.end,
                            },
                        },
                        anchor,
                    ),
                };
                self.finish_node(node, anchor)
            }
        }
    }

    fn scalar(&mut self, text: String, plain: bool, span: Span) -> Node {
        self.nodes += 1;
        Node {
            kind: NodeKind::Scalar(Scalar { text, plain }),
            span,
        }
    }

    fn open(&mut self, frame: Frame, span: Span) -> Result<(), Box<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Box::new(Diagnostic::error(
                span,
                "",
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            )));
        }
        self.nodes += 1;
        self.stack.push(frame);
        Ok(())
    }

    fn finish_node(&mut self, node: Node, anchor: usize) -> Result<(), Box<Diagnostic>> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push_value(node)
    }

    fn push_value(&mut self, node: Node) -> Result<(), Box<Diagnostic>> {
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
                merged,
                index,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    if node.as_scalar().is_none() {
                        return Err(Box::new(Diagnostic::error(
                            node.span,
                            "",
                            "a map key must be a plain value, not a list or a map",
                        )));
                    }
                    *pending_key = Some(node);
                    Ok(())
                }
                Some(key) => {
                    let name = key.as_scalar().map(|s| s.text.clone()).unwrap_or_default();
                    if name == "<<" && key.as_scalar().is_some_and(|s| s.plain) {
                        return merge(entries, merged, index, &key, node);
                    }
                    if let Some(&i) = index.get(&name) {
                        if merged[i] {
                            entries[i] = (key, node);
                            merged[i] = false;
                            return Ok(());
                        }
                        let first = &entries[i].0;
                        return Err(Box::new(
                            Diagnostic::error(
                                key.span,
                                "",
                                format!(
                                    "duplicate key '{name}' (first given at line {})",
                                    first.span.start.line
                                ),
                            )
                            .with_hint("a key may appear once in a map; remove one of them"),
                        ));
                    }
                    index.insert(name, entries.len());
                    entries.push((key, node));
                    merged.push(false);
                    Ok(())
                }
            },
        }
    }
}

/// YAML merge keys (`<<: *defaults`): the merged map's entries are added
/// unless the map already has (or later gets) its own value for the key.
fn merge(
    entries: &mut Vec<(Node, Node)>,
    merged: &mut Vec<bool>,
    index: &mut HashMap<String, usize>,
    key: &Node,
    value: Node,
) -> Result<(), Box<Diagnostic>> {
    let sources = match value.kind {
        NodeKind::Map(m) => vec![m],
        NodeKind::Seq(items) => {
            let mut maps = Vec::new();
            for item in items {
                match item.kind {
                    NodeKind::Map(m) => maps.push(m),
                    _ => {
                        return Err(Box::new(Diagnostic::error(
                            item.span,
                            "",
                            "a merge key ('<<') takes a map or a list of maps",
                        )))
                    }
                }
            }
            maps
        }
        NodeKind::Scalar(_) => {
            return Err(Box::new(Diagnostic::error(
                key.span,
                "",
                "a merge key ('<<') takes a map or a list of maps",
            )))
        }
    };
    for source in sources {
        for (k, v) in source {
            let name = k.as_scalar().map(|s| s.text.clone()).unwrap_or_default();
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(name) {
                e.insert(entries.len());
                entries.push((k, v));
                merged.push(true);
            }
        }
    }
    Ok(())
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

/// The document as JSON (for checking plans against the JSON Schema).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        NodeKind::Scalar(s) => match s.resolve() {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::from(i),
            Resolved::Float(f) => serde_json::Number::from_f64(f)
                .map_or_else(|| Value::String(s.text.clone()), Value::Number),
            Resolved::Str(t) => Value::String(t.to_string()),
        },
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_scalar().map(|s| s.text.clone()).unwrap_or_default(),
                        to_json(v),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).expect("valid yaml").expect("a document")
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let cases = [
            ("~", Resolved::Null),
            ("true", Resolved::Bool(true)),
            ("12", Resolved::Int(12)),
            ("-3", Resolved::Int(-3)),
            ("0x1f", Resolved::Int(31)),
            ("2.5", Resolved::Float(2.5)),
            ("1e3", Resolved::Float(1000.0)),
            ("5%", Resolved::Str("5%")),
            ("30s", Resolved::Str("30s")),
            ("yes", Resolved::Str("yes")),
        ];
        for (text, want) in cases {
            let s = Scalar {
                text: text.into(),
                plain: true,
            };
            assert_eq!(s.resolve(), want, "{text}");
        }
        let quoted = Scalar {
            text: "12".into(),
            plain: false,
        };
        assert_eq!(quoted.resolve(), Resolved::Str("12"));
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("a:\n  b: [1, 2]\n");
        let NodeKind::Map(entries) = &n.kind else {
            panic!("map expected")
        };
        let (_, inner) = &entries[0];
        let NodeKind::Map(inner) = &inner.kind else {
            panic!("map expected")
        };
        assert_eq!(inner[0].0.span.start, Pos::new(2, 3));
        assert_eq!(inner[0].1.span.start, Pos::new(2, 6));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert!(err[0].message.contains("duplicate key 'a'"), "{err:?}");
        assert_eq!(err[0].span.start.line, 3);
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = root("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let NodeKind::Map(entries) = &n.kind else {
            panic!("map expected")
        };
        let NodeKind::Map(other) = &entries[1].1.kind else {
            panic!("map expected")
        };
        let keys: Vec<_> = other
            .iter()
            .map(|(k, v)| {
                (
                    k.as_scalar().unwrap().text.clone(),
                    v.as_scalar().unwrap().text.clone(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![("x".into(), "1".into()), ("y".into(), "3".into())]
        );
    }

    #[test]
    fn several_documents_are_refused() {
        let err = parse("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert!(err[0].message.contains("more than one"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let err = parse(&text).expect_err("bomb");
        assert!(err[0].message.contains("million"), "{err:?}");
    }

    #[test]
    fn empty_text_has_no_document() {
        assert!(parse("").expect("ok").is_none());
        assert!(parse("# only a comment\n").expect("ok").is_none());
    }
}
