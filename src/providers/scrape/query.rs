//! The queries of a `scrape` gate. Pure (no network), so that plans are
//! checked with it at validation time.
//!
//! ```text
//! query    := term [ '/' term ]
//! term     := 'rate' '(' selector ')' | selector
//! selector := metric [ '{' matchers '}' ] | '{' matchers '}'
//! matchers := matcher { ',' matcher } [ ',' ]
//! matcher  := label ( '=' | '!=' | '=~' | '!~' ) string
//! string   := "..." | '...' | `...`      (Go escapes in the quoted forms)
//! ```
//!
//! As in Prometheus: a missing label matches as the empty string, regular
//! expressions are anchored at both ends (`code=~"5.."` does not match
//! `1500`), `__name__` matches the metric name, and a selector must match
//! something narrower than every series.

use std::fmt;

use regex::Regex;

use super::exposition::{is_label_name, is_metric_name, Sample};

/// A parsed scrape query.
#[derive(Clone, Debug)]
pub struct Query {
    pub numerator: Term,
    pub denominator: Option<Term>,
}

#[derive(Clone, Debug)]
pub enum Term {
    /// The sum of the matching samples now.
    Value(Selector),
    /// The per-second increase of the matching counters between two
    /// scrapes.
    Rate(Selector),
}

impl Term {
    pub fn selector(&self) -> &Selector {
        match self {
            Term::Value(s) | Term::Rate(s) => s,
        }
    }
}

impl Query {
    /// Whether evaluating it needs two scrapes.
    pub fn needs_rate(&self) -> bool {
        std::iter::once(&self.numerator)
            .chain(self.denominator.as_ref())
            .any(|t| matches!(t, Term::Rate(_)))
    }
}

#[derive(Clone, Debug)]
pub struct Selector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
}

impl Selector {
    pub fn matches(&self, s: &Sample) -> bool {
        self.name.as_ref().is_none_or(|n| *n == s.name)
            && self.matchers.iter().all(|m| m.matches(s.label(&m.label)))
    }
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub label: String,
    pub op: Op,
}

#[derive(Clone, Debug)]
pub enum Op {
    Eq(String),
    Ne(String),
    Re(Regex),
    NotRe(Regex),
}

impl Matcher {
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            Op::Eq(v) => value == v,
            Op::Ne(v) => value != v,
            Op::Re(r) => r.is_match(value),
            Op::NotRe(r) => !r.is_match(value),
        }
    }
}

/// Why a query does not parse, and where: `offset` counts characters from
/// the start of the query (0-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.offset + 1, self.message)
    }
}

impl std::error::Error for QueryError {}

/// Parse a scrape query.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { chars, pos: 0 };
    p.blanks();
    if p.at_end() {
        return Err(p.error_here(
            "the query is empty; write a metric (http_requests_total), rate(metric) or rate(a) / rate(b)",
        ));
    }
    let numerator = p.term()?;
    p.blanks();
    let denominator = if p.eat('/') {
        p.blanks();
        if p.at_end() {
            return Err(p.error_here("expected a metric or rate(...) after '/'"));
        }
        Some(p.term()?)
    } else {
        None
    };
    p.blanks();
    if let Some(c) = p.peek() {
        let message = if c == '/' {
            "only one '/' is allowed: a scrape query is a value or a ratio of two".to_string()
        } else if "+-*%^".contains(c) {
            format!(
                "'{c}' is not supported: a scrape query is a value, rate(...), or a ratio a / b"
            )
        } else {
            format!("unexpected '{c}' after the query")
        };
        return Err(p.error_here(message));
    }
    Ok(Query {
        numerator,
        denominator,
    })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn blanks(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            offset,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> QueryError {
        self.error_at(self.pos, message)
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("'{c}'"),
            None => "the end of the query".to_string(),
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn term(&mut self) -> Result<Term, QueryError> {
        let start = self.pos;
        if self.peek() == Some('{') {
            return self.selector(None, start).map(Term::Value);
        }
        let name = self.ident();
        if name.is_empty() {
            return Err(self.error_here(format!(
                "expected a metric name, rate(...) or '{{', found {}",
                self.found()
            )));
        }
        let after_name = self.pos;
        self.blanks();
        if self.peek() == Some('(') {
            return match name.as_str() {
                "rate" | "irate" | "increase" => {
                    if name != "rate" {
                        return Err(self.error_at(
                            start,
                            format!("'{name}' is not supported: use rate(...), the per-second increase between the last two scrapes"),
                        ));
                    }
                    self.pos += 1;
                    self.blanks();
                    let inner_start = self.pos;
                    if self.peek() == Some(')') {
                        return Err(self.error_here("rate() needs a metric: rate(http_requests_total)"));
                    }
                    let sel = if self.peek() == Some('{') {
                        self.selector(None, inner_start)?
                    } else {
                        let inner = self.ident();
                        if inner.is_empty() {
                            return Err(self.error_here(format!(
                                "expected a metric name inside rate(...), found {}",
                                self.found()
                            )));
                        }
                        if !is_metric_name(&inner) {
                            return Err(self.error_at(inner_start, format!("'{inner}' is not a metric name")));
                        }
                        self.blanks();
                        if self.peek() == Some('(') {
                            return Err(self.error_at(
                                inner_start,
                                format!("rate() takes a metric, not a function call ('{inner}(...)')"),
                            ));
                        }
                        self.selector(Some(inner), inner_start)?
                    };
                    self.blanks();
                    if self.peek() == Some('[') {
                        return Err(self.error_here(
                            "a range like [5m] is not used here: a scrape rate is taken between the last two scrapes; write rate(metric)",
                        ));
                    }
                    if !self.eat(')') {
                        return Err(self.error_here(format!("expected ')' to close rate(, found {}", self.found())));
                    }
                    Ok(Term::Rate(sel))
                }
                "sum" | "avg" | "max" | "min" | "count" => Err(self.error_at(
                    start,
                    format!("'{name}(...)' is not needed: a scrape query already sums the samples it matches; write the selector or rate(...) alone"),
                )),
                _ => Err(self.error_at(
                    start,
                    format!("unknown function '{name}': a scrape query is a metric selector, rate(selector), or a ratio of two"),
                )),
            };
        }
        self.pos = after_name;
        if !is_metric_name(&name) {
            return Err(self.error_at(start, format!("'{name}' is not a metric name")));
        }
        let sel = self.selector(Some(name), start)?;
        if self.peek() == Some('[') {
            return Err(self.error_here(
                "a range like [5m] only makes sense inside rate(...), and there it is not needed",
            ));
        }
        Ok(Term::Value(sel))
    }

    /// The optional `{...}` after a name (or the braces alone).
    fn selector(&mut self, name: Option<String>, start: usize) -> Result<Selector, QueryError> {
        let mut sel = Selector {
            name,
            matchers: Vec::new(),
        };
        let save = self.pos;
        self.blanks();
        if !self.eat('{') {
            self.pos = save;
            return Ok(sel);
        }
        loop {
            self.blanks();
            if self.eat('}') {
                break;
            }
            sel.matchers.push(self.matcher()?);
            self.blanks();
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                break;
            }
            return Err(self.error_here(format!(
                "expected ',' or '}}' after a label matcher, found {}",
                self.found()
            )));
        }
        if sel.name.is_none() {
            if let Some(m) = sel
                .matchers
                .iter()
                .find(|m| m.label == "__name__")
                .and_then(|m| match &m.op {
                    Op::Eq(v) => Some(v.clone()),
                    _ => None,
                })
            {
                sel.name = Some(m);
            }
            if sel.matchers.iter().all(|m| m.matches("")) {
                return Err(self.error_at(
                    start,
                    "this selector matches every series: give a metric name or a label matcher that does not match the empty string",
                ));
            }
        }
        Ok(sel)
    }

    fn matcher(&mut self) -> Result<Matcher, QueryError> {
        let start = self.pos;
        let label = if matches!(self.peek(), Some('"' | '\'' | '`')) {
            self.string()?
        } else {
            let l = self.ident();
            if l.is_empty() {
                return Err(
                    self.error_here(format!("expected a label name, found {}", self.found()))
                );
            }
            if !is_label_name(&l) {
                return Err(self.error_at(start, format!("'{l}' is not a label name")));
            }
            l
        };
        self.blanks();
        let op_start = self.pos;
        let op = if self.eat('=') {
            if self.eat('~') {
                "=~"
            } else if self.eat('=') {
                return Err(self.error_at(op_start, "'==' is not a matcher: write label=\"value\""));
            } else {
                "="
            }
        } else if self.eat('!') {
            if self.eat('=') {
                "!="
            } else if self.eat('~') {
                "!~"
            } else {
                return Err(self.error_at(op_start, "expected '!=' or '!~'"));
            }
        } else {
            return Err(self.error_here(format!(
                "expected '=', '!=', '=~' or '!~' after label '{label}', found {}",
                self.found()
            )));
        };
        self.blanks();
        let value_start = self.pos;
        if !matches!(self.peek(), Some('"' | '\'' | '`')) {
            return Err(self.error_here(format!(
                "expected a quoted value after '{label}{op}', found {}",
                self.found()
            )));
        }
        let value = self.string()?;
        let regex = |v: &str| {
            Regex::new(&format!("^(?:{v})$")).map_err(|e| {
                let detail = e.to_string();
                let last = detail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.error_at(
                    value_start,
                    format!("invalid regular expression \"{v}\": {last}"),
                )
            })
        };
        let op = match op {
            "=" => Op::Eq(value),
            "!=" => Op::Ne(value),
            "=~" => Op::Re(regex(&value)?),
            _ => Op::NotRe(regex(&value)?),
        };
        Ok(Matcher { label, op })
    }

    /// A PromQL string: double or single quotes with Go escapes, or
    /// backquotes taken as they are.
    fn string(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        let Some(quote) = self.peek() else {
            return Err(self.error_here("expected a quoted string"));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error_at(
                    start,
                    format!("the string starting here is not closed by {quote}"),
                ));
            };
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                let esc_at = self.pos - 1;
                let Some(e) = self.peek() else {
                    return Err(self.error_at(
                        start,
                        format!("the string starting here is not closed by {quote}"),
                    ));
                };
                self.pos += 1;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    _ => {
                        return Err(self.error_at(
                            esc_at,
                            format!("unknown escape '\\{e}' (in a regular expression, write '\\\\{e}' or use `backquotes`)"),
                        ))
                    }
                }
                continue;
            }
            if c == '\n' && quote != '`' {
                return Err(self.error_at(start, "a quoted string cannot span lines"));
            }
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)]) -> Sample {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        Sample {
            name: name.into(),
            labels,
            value: 1.0,
        }
    }

    fn sel(q: &str) -> Selector {
        match parse(q).unwrap().numerator {
            Term::Value(s) => s,
            Term::Rate(_) => panic!("{q} is a rate"),
        }
    }

    fn err(q: &str) -> QueryError {
        match parse(q) {
            Ok(_) => panic!("{q:?} parsed"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_the_three_shapes() {
        let q = parse("http_requests_total").unwrap();
        assert!(!q.needs_rate() && q.denominator.is_none());
        let q = parse(r#"rate(http_requests_total{code=~"5.."})"#).unwrap();
        assert!(q.needs_rate());
        let q = parse(r#" rate( a{x="1",} ) / rate(b) "#).unwrap();
        assert!(matches!(q.numerator, Term::Rate(_)));
        assert!(matches!(q.denominator, Some(Term::Rate(_))));
        let q = parse("queue_depth / queue_capacity").unwrap();
        assert!(!q.needs_rate());
        // A metric may be called rate.
        assert_eq!(sel("rate").name.as_deref(), Some("rate"));
        assert_eq!(sel("rate{a=\"b\"}").matchers.len(), 1);
    }

    #[test]
    fn matchers_behave_like_prometheus() {
        let s =
            sel(r#"http_requests_total{code=~"5..", method!="GET", path!~"/health.*", job="api"}"#);
        let hit = sample(
            "http_requests_total",
            &[
                ("code", "503"),
                ("method", "POST"),
                ("path", "/pay"),
                ("job", "api"),
            ],
        );
        assert!(s.matches(&hit));
        let miss = |labels: &[(&str, &str)]| !s.matches(&sample("http_requests_total", labels));
        assert!(
            miss(&[
                ("code", "1500"),
                ("method", "POST"),
                ("path", "/pay"),
                ("job", "api")
            ]),
            "anchored"
        );
        assert!(miss(&[
            ("code", "503"),
            ("method", "GET"),
            ("path", "/pay"),
            ("job", "api")
        ]));
        assert!(miss(&[
            ("code", "503"),
            ("method", "POST"),
            ("path", "/healthz"),
            ("job", "api")
        ]));
        assert!(
            miss(&[("code", "503"), ("method", "POST"), ("path", "/pay")]),
            "missing label is empty"
        );
        assert!(!s.matches(&sample("other", &[("code", "503"), ("job", "api")])));
        // A missing label is the empty string.
        let s = sel(r#"x{env=""}"#);
        assert!(s.matches(&sample("x", &[])));
        assert!(!s.matches(&sample("x", &[("env", "prod")])));
        let s = sel(r#"x{env!=""}"#);
        assert!(s.matches(&sample("x", &[("env", "prod")])));
        // Names in braces, alternations, escapes and other quotes.
        let s = sel(r#"{__name__="x", code=~'4..|5..'}"#);
        assert_eq!(s.name.as_deref(), Some("x"));
        assert!(s.matches(&sample("x", &[("code", "404")])));
        let s = sel(r#"x{path=~"/a\\.b", q="say \"hi\""}"#);
        assert!(s.matches(&sample("x", &[("path", "/a.b"), ("q", "say \"hi\"")])));
        assert!(!s.matches(&sample("x", &[("path", "/aXb"), ("q", "say \"hi\"")])));
        let s = sel(r"x{path=~`/a\.b`}");
        assert!(s.matches(&sample("x", &[("path", "/a.b")])));
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases = [
            ("", 0, "empty"),
            ("rate(x[5m])", 6, "range"),
            ("sum(rate(x))", 0, "already sums"),
            ("histogram_quantile(0.9, x)", 0, "unknown function"),
            ("increase(x)", 0, "rate(...)"),
            ("rate()", 5, "needs a metric"),
            ("rate(x", 6, "')'"),
            ("rate(sum(x))", 5, "not a function call"),
            ("x{code=~\"5(\"}", 8, "invalid regular expression"),
            ("x{code=\"5..}", 7, "not closed"),
            ("x{code=5}", 7, "quoted value"),
            ("x{code==\"5\"}", 6, "'=='"),
            ("x{code}", 6, "expected '='"),
            ("x{code=\"5\" job=\"a\"}", 11, "expected ','"),
            ("x{9a=\"1\"}", 2, "label name"),
            ("a / b / c", 6, "only one '/'"),
            ("a - b", 2, "not supported"),
            ("a /", 3, "after '/'"),
            ("{job=~\".*\"}", 0, "every series"),
            ("x{a=\"\\d\"}", 5, "unknown escape"),
            ("x[5m]", 1, "range"),
            ("5", 0, "not a metric name"),
        ];
        for (q, offset, words) in cases {
            let e = err(q);
            assert!(e.message.contains(words), "{q:?}: {e}");
            assert_eq!(e.offset, offset, "{q:?}: {e}");
        }
        assert_eq!(
            err("rate(x[5m])").to_string().split(':').next(),
            Some("column 7")
        );
    }
}
