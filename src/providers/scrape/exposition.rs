//! The Prometheus text exposition format (version 0.0.4), as served on
//! `/metrics` pages: the samples of a page, each a metric name, labels and
//! a value.
//!
//! Read: `# HELP` and `# TYPE` lines (checked), other comments and blank
//! lines (skipped), and sample lines
//! `name{label="value",...} value [timestamp]` with whitespace around the
//! tokens, a trailing comma in the labels, label values escaping `\\`,
//! `\"` and `\n`, values such as `NaN`, `+Inf`, `-Inf` and `1.5e-3`, and
//! quoted metric names inside the braces (`{"my.metric", a="b"}`).
//! Histogram and summary lines (`_bucket`, `_sum`, `_count`, `quantile`)
//! are samples like any other. An OpenMetrics exemplar after a value
//! (`# {trace_id="..."} 1`) is ignored.
//!
//! A line that is none of these is an error naming its line number: a page
//! that cannot be read whole is not trusted for a gate.

use std::fmt;

/// One sample of a page.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Sorted by name; no duplicates.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, empty when the sample does not have it
    /// (as in Prometheus).
    pub fn label(&self, name: &str) -> &str {
        if name == "__name__" {
            return &self.name;
        }
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A line of the page that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
    /// The line as it was (shortened by the caller when shown).
    pub text: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every sample of a page, in order.
pub fn parse(page: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in page.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_matches(|c| c == ' ' || c == '\t');
        if trimmed.is_empty() {
            continue;
        }
        let fail = |message: String| ParseError {
            line: i + 1,
            message,
            text: line.to_string(),
        };
        if let Some(comment) = trimmed.strip_prefix('#') {
            check_comment(comment).map_err(fail)?;
            continue;
        }
        out.push(sample(trimmed).map_err(fail)?);
    }
    Ok(out)
}

const TYPES: &[&str] = &[
    "counter",
    "gauge",
    "histogram",
    "summary",
    "untyped",
    // OpenMetrics types, for pages that mix the two.
    "unknown",
    "info",
    "stateset",
    "gaugehistogram",
];

fn check_comment(comment: &str) -> Result<(), String> {
    let mut words = comment.split([' ', '\t']).filter(|w| !w.is_empty());
    match words.next() {
        Some("HELP") => {
            let name = words
                .next()
                .ok_or_else(|| "# HELP without a metric name".to_string())?;
            check_metric_name(name)
        }
        Some("TYPE") => {
            let name = words
                .next()
                .ok_or_else(|| "# TYPE without a metric name".to_string())?;
            check_metric_name(name)?;
            match words.next() {
                Some(t) if TYPES.contains(&t) => Ok(()),
                Some(t) => Err(format!(
                    "# TYPE {name} has an unknown type '{t}' (counter, gauge, histogram, summary or untyped)"
                )),
                None => Err(format!("# TYPE {name} has no type")),
            }
        }
        _ => Ok(()),
    }
}

fn check_metric_name(name: &str) -> Result<(), String> {
    if is_metric_name(name) {
        Ok(())
    } else {
        Err(format!("'{name}' is not a metric name"))
    }
}

pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A cursor over one line.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// A run of characters allowed by `ok`.
    fn take_while(&mut self, ok: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !ok(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    fn word(&mut self) -> &'a str {
        self.take_while(|c| c != ' ' && c != '\t')
    }

    /// A double-quoted string with `\\`, `\"` and `\n` escapes; the
    /// opening quote is next.
    fn quoted(&mut self) -> Result<String, String> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err("a quoted value is not closed".to_string()),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('n') => out.push('\n'),
                    Some(c) => return Err(format!("invalid escape '\\{c}' in a quoted value")),
                    None => return Err("a quoted value is not closed".to_string()),
                },
                Some(c) => out.push(c),
            }
        }
    }
}

fn sample(line: &str) -> Result<Sample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    let mut name = c
        .take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
        .to_string();
    if !name.is_empty() && !is_metric_name(&name) {
        return Err(format!("'{name}' is not a metric name"));
    }
    let after_name = c.pos;
    c.blanks();
    let mut labels: Vec<(String, String)> = Vec::new();
    if c.peek() != Some('{') {
        c.pos = after_name;
    } else {
        c.bump();
        loop {
            c.blanks();
            match c.peek() {
                Some('}') => {
                    c.bump();
                    break;
                }
                Some('"') => {
                    // A quoted name: the metric's (if alone), or a label's.
                    let quoted = c.quoted()?;
                    c.blanks();
                    if c.peek() == Some('=') {
                        c.bump();
                        labels.push((quoted, label_value(&mut c)?));
                    } else if name.is_empty() {
                        name = quoted;
                    } else {
                        return Err(format!(
                            "the metric has two names ('{name}' and '{quoted}')"
                        ));
                    }
                }
                Some(_) => {
                    let label = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                    if !is_label_name(label) {
                        let found = c
                            .peek()
                            .map_or("the end of the line".to_string(), |ch| format!("'{ch}'"));
                        return Err(if label.is_empty() {
                            format!("expected a label name, found {found}")
                        } else {
                            format!("'{label}' is not a label name")
                        });
                    }
                    c.blanks();
                    if c.bump() != Some('=') {
                        return Err(format!("expected '=' after label '{label}'"));
                    }
                    labels.push((label.to_string(), label_value(&mut c)?));
                }
                None => return Err("the labels are not closed by '}'".to_string()),
            }
            c.blanks();
            match c.bump() {
                Some(',') => {}
                Some('}') => break,
                Some(ch) => {
                    return Err(format!("expected ',' or '}}' between labels, found '{ch}'"))
                }
                None => return Err("the labels are not closed by '}'".to_string()),
            }
        }
    }
    if name.is_empty() {
        return Err("expected a metric name".to_string());
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("label '{}' appears twice", w[0].0));
    }
    if !c.blanks() && c.peek().is_some() {
        return Err(format!(
            "expected a space before the value, found '{}'",
            c.peek().unwrap_or(' ')
        ));
    }
    let value_text = c.word();
    if value_text.is_empty() {
        return Err(format!("'{name}' has no value"));
    }
    let value = parse_value(value_text).ok_or_else(|| format!("'{value_text}' is not a number"))?;
    c.blanks();
    let ts = c.word();
    if !ts.is_empty() && !ts.starts_with('#') {
        ts.parse::<i64>()
            .map_err(|_| format!("'{ts}' is not a timestamp (milliseconds)"))?;
        c.blanks();
    }
    let rest = c.rest();
    if !(rest.is_empty() || rest.starts_with('#') || ts.starts_with('#')) {
        return Err(format!("unexpected '{}' after the value", rest.trim()));
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

fn label_value(c: &mut Cursor<'_>) -> Result<String, String> {
    c.blanks();
    if c.peek() != Some('"') {
        return Err("a label value must be in double quotes".to_string());
    }
    c.quoted()
}

/// A sample value: a float, `NaN`, `+Inf`, `-Inf` (any case, as Go reads
/// them).
pub fn parse_value(s: &str) -> Option<f64> {
    if s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Sample {
        let mut s = parse(line).unwrap();
        assert_eq!(s.len(), 1, "{line}");
        s.remove(0)
    }

    #[test]
    fn reads_a_real_page() {
        let page = "\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000
http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem=\"division by zero\"} +Inf -3982045

# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le=\"0.05\"} 24054
http_request_duration_seconds_bucket{le=\"+Inf\"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile=\"0.5\"} 4773
rpc_duration_seconds_count 2693
";
        let samples = parse(page).unwrap();
        assert_eq!(samples.len(), 11);
        assert_eq!(samples[0].label("code"), "200");
        assert_eq!(samples[1].value, 3.0);
        assert_eq!(samples[2].label("path"), r"C:\DIR\FILE.TXT");
        assert_eq!(samples[2].label("error"), "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(samples[3].value, 12.47);
        assert_eq!(samples[4].value, f64::INFINITY);
        assert_eq!(samples[6].label("le"), "+Inf");
        assert_eq!(samples[9].label("quantile"), "0.5");
        assert_eq!(samples[10].name, "rpc_duration_seconds_count");
    }

    #[test]
    fn special_values_and_spacing() {
        assert!(one("a NaN").value.is_nan());
        assert_eq!(one("a -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("a 1.5e-3").value, 0.0015);
        assert_eq!(one("  a{ x = \"1\" , } 2  ").label("x"), "1");
        assert_eq!(one("a{} 2\r").value, 2.0);
        assert_eq!(one("a\t{x=\"1\"}\t2\t5").value, 2.0);
        let s = one("{\"my.metric\", \"odd.label\"=\"v\", b=\"c\"} 4");
        assert_eq!(s.name, "my.metric");
        assert_eq!(s.label("odd.label"), "v");
        // Labels are sorted, so identity does not depend on order.
        assert_eq!(
            one("a{z=\"1\",b=\"2\"} 1").labels,
            one("a{b=\"2\",z=\"1\"} 1").labels
        );
        // Exemplars are skipped.
        assert_eq!(one("a_total 5 # {trace_id=\"x\"} 1").value, 5.0);
        assert_eq!(one("a_total 5 123 # {trace_id=\"x\"} 1").value, 5.0);
    }

    #[test]
    fn comments_are_checked_or_skipped() {
        assert!(parse("# just words\n#HELP? fine\n# EOF\n")
            .unwrap()
            .is_empty());
        assert!(parse("# HELP x docs with \\n escapes\n").is_ok());
        assert!(parse("# TYPE x counter\n").is_ok());
        for bad in ["# TYPE x countr", "# TYPE x", "# TYPE", "# HELP 9x help"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_lines_name_their_number() {
        let page = "ok 1\nok 2\nthis is not a sample\n";
        let err = parse(page).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.text, "this is not a sample");
        for bad in [
            "a",
            "a{",
            "a{b=\"c\"",
            "a{b=c} 1",
            "a{b=\"c\\x\"} 1",
            "a{b=\"1\",b=\"2\"} 1",
            "a{9b=\"1\"} 1",
            "a{b=\"1\" c=\"2\"} 1",
            "a five",
            "a 1 soon",
            "a 1 2 3",
            "a 1_000",
            "a{b=\"1\"}2",
            "{b=\"1\"} 2",
            "a{\"x\", \"y\"} 1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn missing_labels_read_as_empty() {
        let s = one("a{b=\"1\"} 1");
        assert_eq!(s.label("zzz"), "");
        assert_eq!(s.label("__name__"), "a");
    }
}
