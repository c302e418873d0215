//! Reading typed values out of YAML nodes while collecting every problem.
//!
//! Each reader returns `Option<T>`: `None` means "a diagnostic was recorded";
//! callers carry on so that one run reports all mistakes in the plan.

use std::time::Duration;

use super::diag::{Diagnostic, Span};
use super::model::Percent;
use super::text::{interpolate, Env, InterpError, Text};
use super::yaml::{Node, NodeKind, Resolved};

pub struct Cx<'a> {
    pub env: &'a dyn Env,
    pub diags: Vec<Diagnostic>,
    /// Definitions that exist but had errors ("provider:lb"): references to
    /// them are not reported again as unknown.
    pub broken: std::collections::HashSet<String>,
    /// The provider types the plan may use.
    pub catalog: &'a super::spec::Catalog,
}

impl<'a> Cx<'a> {
    pub fn new(env: &'a dyn Env, catalog: &'a super::spec::Catalog) -> Self {
        Self {
            env,
            diags: Vec::new(),
            broken: std::collections::HashSet::new(),
            catalog,
        }
    }

    pub fn error(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, path, message));
    }

    pub fn error_hint(
        &mut self,
        span: Span,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(span, path, message).with_hint(hint));
    }

    pub fn warning(
        &mut self,
        span: Span,
        path: &str,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        let mut d = Diagnostic::warning(span, path, message);
        d.hint = hint.map(str::to_string);
        self.diags.push(d);
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let hint = match &node.kind {
            NodeKind::Scalar(s) if expected.contains("list") && !s.text.is_empty() => {
                Some(format!("write it as a list: [{}]", s.text))
            }
            NodeKind::Map(_) if expected.contains("list") => {
                Some("start each item of a list with '- ' on its own line".to_string())
            }
            _ => None,
        };
        let message = format!(
            "{} must be {expected}, not {}",
            describe_path(path),
            node.kind_name()
        );
        match hint {
            Some(h) => self.error_hint(node.span, path, message, h),
            None => self.error(node.span, path, message),
        }
    }

    // ---- scalars -------------------------------------------------------

    /// Any scalar's text, uninterpreted (no environment variables).
    fn scalar_text<'n>(&mut self, node: &'n Node, path: &str, expected: &str) -> Option<&'n str> {
        match &node.kind {
            NodeKind::Scalar(s) if !node.is_null() => Some(&s.text),
            _ => {
                self.wrong_type(node, path, expected);
                None
            }
        }
    }

    /// A string that may use `${VAR}`.
    pub fn text(&mut self, node: &Node, path: &str) -> Option<Text> {
        let raw = self.scalar_text(node, path, "a string")?;
        match interpolate(raw, self.env) {
            Ok(t) => Some(t),
            Err(errors) => {
                for e in errors {
                    match e {
                        InterpError::Missing(name) => {
                            let mut d = Diagnostic::error(
                                node.span,
                                path,
                                format!("environment variable '{name}' is not set"),
                            )
                            .with_hint(format!(
                                "export {name}=…, or give a default: ${{{name}:-value}}"
                            ));
                            d.missing_var = Some(name);
                            self.diags.push(d);
                        }
                        InterpError::Syntax(msg) => self.error(node.span, path, msg),
                    }
                }
                None
            }
        }
    }

    /// A string that is shown, stored and compared as written: `${VAR}` is
    /// not allowed (its value would be a secret).
    pub fn literal(&mut self, node: &Node, path: &str) -> Option<String> {
        let raw = self.scalar_text(node, path, "a string")?;
        if raw.contains("${") {
            self.error_hint(
                node.span,
                path,
                format!("{} cannot use environment variables", describe_path(path)),
                "it is shown and stored as written; write the value itself",
            );
            return None;
        }
        if raw.is_empty() {
            self.error(
                node.span,
                path,
                format!("{} must not be empty", describe_path(path)),
            );
            return None;
        }
        Some(raw.to_string())
    }

    /// A name: lowercase letters, digits, `.`, `_`, `-`.
    pub fn name(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
        let raw = self.literal(node, path)?;
        if is_valid_name(&raw) {
            Some(raw)
        } else {
            let suggestion = suggest_name(&raw);
            self.error_hint(
                node.span,
                path,
                format!("invalid {what} '{raw}': use lowercase letters, digits, '.', '_' and '-'"),
                match suggestion {
                    Some(s) => format!("for example '{s}'"),
                    None => "for example 'payments-v2'".to_string(),
                },
            );
            None
        }
    }

    /// The name of a provider, gate or reconciliation being defined. An
    /// invalid one is reported here, and references to it are not reported
    /// again as unknown.
    pub fn definition_name(&mut self, node: &Node, path: &str, kind: &str) -> Option<String> {
        let name = self.name(node, path, &format!("{kind} name"));
        if name.is_none() {
            if let Some(s) = node.as_scalar() {
                self.broken.insert(format!("{kind}:{}", s.text));
            }
        }
        name
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Bool(b)) => Some(b),
            Some(Resolved::Str(s)) if matches!(s, "yes" | "no" | "on" | "off") => {
                self.error_hint(
                    node.span,
                    path,
                    format!("{} must be true or false, not '{s}'", describe_path(path)),
                    format!(
                        "write {}",
                        if matches!(s, "yes" | "on") {
                            "true"
                        } else {
                            "false"
                        }
                    ),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Int(i)) => Some(i as f64),
            Some(Resolved::Float(f)) if f.is_finite() => Some(f),
            Some(Resolved::Float(_)) => {
                self.error(
                    node.span,
                    path,
                    format!("{} must be a finite number", describe_path(path)),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "a number");
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn uint(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u32> {
        let value = match node.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Int(i)) => i,
            _ => {
                self.wrong_type(node, path, "a whole number");
                return None;
            }
        };
        match u64::try_from(value) {
            Ok(v) if (min..=max).contains(&v) => u32::try_from(v).ok(),
            Ok(_) | Err(_) if value < 0 => {
                self.error(
                    node.span,
                    path,
                    format!("{} must not be negative (got {value})", describe_path(path)),
                );
                None
            }
            _ => {
                self.error(
                    node.span,
                    path,
                    format!(
                        "{} must be between {min} and {max} (got {value})",
                        describe_path(path)
                    ),
                );
                None
            }
        }
    }

    /// `5`, `12.5`, `"5%"`: 0 to 100.
    pub fn percent(&mut self, node: &Node, path: &str) -> Option<Percent> {
        let value = match node.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Int(i)) => i as f64,
            Some(Resolved::Float(f)) => f,
            Some(Resolved::Str(s)) => {
                let t = s.trim();
                match t.strip_suffix('%').map(str::trim).map(str::parse::<f64>) {
                    Some(Ok(v)) => v,
                    _ => {
                        self.error_hint(
                            node.span,
                            path,
                            format!("{} must be a percent, not '{s}'", describe_path(path)),
                            "write a number from 0 to 100, like 5 or \"5%\"",
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(node, path, "a percent (0 to 100)");
                return None;
            }
        };
        match Percent::new(value) {
            Some(p) => Some(p),
            None => {
                self.error_hint(
                    node.span,
                    path,
                    format!("percent {value} is outside 0..100"),
                    "a percent is a number from 0 to 100",
                );
                None
            }
        }
    }

    /// `500ms`, `30s`, `1h30m`; positive.
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = match node.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Str(s)) => s.trim().to_string(),
            Some(Resolved::Int(i)) => {
                self.error_hint(
                    node.span,
                    path,
                    format!("{} needs a unit", describe_path(path)),
                    format!(
                        "write '{i}s' for seconds, '{i}m' for minutes or '{i}ms' for milliseconds"
                    ),
                );
                return None;
            }
            _ => {
                self.wrong_type(node, path, "a duration like '30s' or '1h30m'");
                return None;
            }
        };
        if text.starts_with('-') {
            self.error(
                node.span,
                path,
                format!("{} must not be negative", describe_path(path)),
            );
            return None;
        }
        match humantime::parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                self.error(
                    node.span,
                    path,
                    format!("{} must be longer than zero", describe_path(path)),
                );
                None
            }
            Ok(d) if d < Duration::from_millis(1) => {
                self.error_hint(
                    node.span,
                    path,
                    format!("{} must be at least 1ms", describe_path(path)),
                    "migrate counts time in milliseconds",
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error_hint(
                    node.span,
                    path,
                    format!("invalid duration '{text}': {e}"),
                    "durations look like 500ms, 30s, 15m, 1h30m, 48h",
                );
                None
            }
        }
    }

    /// One of a closed set of words.
    pub fn choice<T: Copy>(&mut self, node: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
        let raw = self.scalar_text(node, path, "a word")?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == raw) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let message = format!(
            "{} must be one of {}, not '{raw}'",
            describe_path(path),
            names.join(" | ")
        );
        match did_you_mean(raw, &names) {
            Some(s) => self.error_hint(node.span, path, message, format!("did you mean '{s}'?")),
            None => self.error(node.span, path, message),
        }
        None
    }

    // ---- collections ---------------------------------------------------

    pub fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.wrong_type(node, path, "a list");
                None
            }
        }
    }

    /// A non-empty list of strings that may use `${VAR}` (an argv).
    pub fn argv(&mut self, node: &Node, path: &str) -> Option<Vec<Text>> {
        if let NodeKind::Scalar(s) = &node.kind {
            let words: Vec<&str> = s.text.split_whitespace().collect();
            let list = if words.is_empty() {
                "./program, --flag".to_string()
            } else {
                words.join(", ")
            };
            self.error_hint(
                node.span,
                path,
                format!(
                    "{} must be a list (the program, then its arguments), not {}",
                    describe_path(path),
                    node.kind_name()
                ),
                format!("no shell is used: write [{list}]"),
            );
            return None;
        }
        let items = self.seq(node, path)?;
        if items.is_empty() {
            self.error_hint(
                node.span,
                path,
                format!("{} must not be empty", describe_path(path)),
                "give the program and its arguments, e.g. [./smoke-test.sh, --env, prod]",
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.text(item, &format!("{path}[{i}]")) {
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One literal string or a non-empty list of them.
    pub fn one_or_many(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.error(
                        node.span,
                        path,
                        format!("{} must not be empty", describe_path(path)),
                    );
                    return None;
                }
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.literal(item, &format!("{path}[{i}]")) {
                        Some(s) if out.contains(&s) => {
                            self.error(item.span, path, format!("'{s}' is listed twice"));
                            ok = false;
                        }
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Map(_) => {
                self.wrong_type(node, path, "a name or a list of names");
                None
            }
            NodeKind::Scalar(_) => self.literal(node, path).map(|s| vec![s]),
        }
    }

    /// A map of literal keys to strings that may use `${VAR}` (headers, env).
    pub fn string_map(&mut self, node: &Node, path: &str) -> Option<Vec<(String, Text)>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.wrong_type(node, path, "a map");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (k, v) in entries {
            let key = k.as_scalar().map(|s| s.text.clone()).unwrap_or_default();
            match self.text(v, &format!("{path}.{key}")) {
                Some(t) => out.push((key, t)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Open a map whose keys must come from `known`; unknown keys are
    /// reported (with a did-you-mean) right away.
    pub fn map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
        known: &[&str],
    ) -> Option<MapReader<'n>> {
        let mut reader = self.open_map(node, path, what)?;
        reader.check_known(self, known, what);
        Some(reader)
    }

    /// Open a map without checking its keys (the caller does, having more
    /// context: step kinds, provider types).
    pub fn open_map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
    ) -> Option<MapReader<'n>> {
        match &node.kind {
            NodeKind::Map(entries) => Some(MapReader {
                node,
                entries,
                path: path.to_string(),
                unknown: Vec::new(),
            }),
            _ => {
                let named = describe_path(path);
                let message = if path.is_empty() || path.ends_with(']') {
                    // "a step must be a map": the list index says nothing.
                    format!("{what} must be a map, not {}", node.kind_name())
                } else if named.trim_matches('\'') == what {
                    format!("{named} must be a map, not {}", node.kind_name())
                } else {
                    format!("{named} ({what}) must be a map, not {}", node.kind_name())
                };
                self.error(node.span, path, message);
                None
            }
        }
    }
}

pub struct MapReader<'n> {
    pub node: &'n Node,
    pub entries: &'n [(Node, Node)],
    pub path: String,
    /// Keys found unknown by [`MapReader::check_known`] (already reported).
    pub unknown: Vec<&'n str>,
}

impl<'n> MapReader<'n> {
    pub fn keys(&self) -> impl Iterator<Item = (&'n str, &'n Node)> + '_ {
        self.entries
            .iter()
            .map(|(k, _)| (k.as_scalar().map(|s| s.text.as_str()).unwrap_or(""), k))
    }

    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn check_known(&mut self, cx: &mut Cx<'_>, known: &[&str], what: &str) {
        let mut unknown = Vec::new();
        for (key, knode) in self.keys() {
            if !known.contains(&key) {
                unknown_key(cx, knode, &self.child_path(key), key, what, known);
                unknown.push(key);
            }
        }
        self.unknown = unknown;
    }

    /// The unknown key that is likely a misspelling of `key`, if any.
    pub fn misspelling_of(&self, key: &str) -> Option<&'n str> {
        self.unknown
            .iter()
            .find(|u| did_you_mean(u, &[key]).is_some())
            .copied()
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.text == key))
            .map(|(_, v)| v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A required key; reports its absence at the map, unless an unknown key
    /// that was already reported is a misspelling of it.
    pub fn req(&self, cx: &mut Cx<'_>, key: &str, what: &str) -> Option<(&'n Node, String)> {
        match self.get(key) {
            Some(v) => Some((v, self.child_path(key))),
            None if self.misspelling_of(key).is_some() => None,
            None => {
                cx.error(
                    self.key_span(),
                    &self.path,
                    format!("{what} is missing the required key '{key}'"),
                );
                None
            }
        }
    }

    pub fn opt(&self, key: &str) -> Option<(&'n Node, String)> {
        self.get(key).map(|v| (v, self.child_path(key)))
    }

    /// Where to point for a problem with the whole map: its first key, which
    /// reads better than the position where the map's indentation starts.
    pub fn key_span(&self) -> Span {
        self.entries.first().map_or(self.node.span, |(k, _)| k.span)
    }
}

pub fn unknown_key(
    cx: &mut Cx<'_>,
    knode: &Node,
    path: &str,
    key: &str,
    what: &str,
    known: &[&str],
) {
    let message = format!("unknown key '{key}' in {what}");
    match did_you_mean(key, known) {
        Some(s) => cx.error_hint(knode.span, path, message, format!("did you mean '{s}'?")),
        None => cx.error_hint(
            knode.span,
            path,
            message,
            format!("expected one of: {}", known.join(", ")),
        ),
    }
}

/// The closest candidate, if it is close enough to be a likely typo.
pub fn did_you_mean<'c>(input: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = input.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, c), *c))
        .filter(|(d, c)| {
            *d <= (c.len().max(input.len()) / 3).max(1)
                || (c.starts_with(&lower) && lower.len() >= 3)
                || (lower.starts_with(c) && c.len() >= 3)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn suggest_name(raw: &str) -> Option<String> {
    let mut s = String::with_capacity(raw.len());
    let mut prev = ' ';
    for c in raw.trim().chars() {
        match c {
            // errorRate, ErrorRate -> error-rate
            'A'..='Z' => {
                if prev.is_ascii_lowercase() || prev.is_ascii_digit() {
                    s.push('-');
                }
                s.push(c.to_ascii_lowercase());
            }
            ' ' | '/' | ':' => s.push('-'),
            c if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') => {
                s.push(c);
            }
            _ => {}
        }
        prev = c;
    }
    (!s.is_empty() && s != raw).then_some(s)
}

/// `phases[2].steps[0].percent` → "'percent'"; used to start messages.
pub fn describe_path(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    if last.is_empty() {
        "the value".to_string()
    } else {
        format!("'{last}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_not_strangers() {
        let keys = ["soak", "gates", "traffic", "percent", "provider"];
        assert_eq!(did_you_mean("sok", &keys), Some("soak"));
        assert_eq!(did_you_mean("gate", &keys), Some("gates"));
        assert_eq!(did_you_mean("precent", &keys), Some("percent"));
        assert_eq!(did_you_mean("Provider", &keys), Some("provider"));
        assert_eq!(did_you_mean("weight", &keys), None);
        assert_eq!(did_you_mean("soak_time", &keys), Some("soak"));
        assert_eq!(did_you_mean("percents", &keys), Some("percent"));
    }

    #[test]
    fn names() {
        assert!(is_valid_name("payments-v2.db_1"));
        assert!(!is_valid_name("Payments"));
        assert!(!is_valid_name(""));
        assert_eq!(suggest_name("Payments V2").as_deref(), Some("payments-v2"));
        assert_eq!(suggest_name("ErrorRate").as_deref(), Some("error-rate"));
    }
}
