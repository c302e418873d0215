//! Plan diagnostics: a message with a place (line, column, YAML path) and an
//! optional hint, rendered compiler-style with the source line and a caret.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// A position in the plan text: line and column, both 1-based, the column
/// counted in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub fn point(pos: Pos) -> Self {
        Self {
            start: pos,
            end: pos,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    /// Where in the document, e.g. `phases[2].steps[0].traffic.percent`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// For "environment variable 'X' is not set": X, so that a summary can
    /// list every missing variable at once.
    pub missing_var: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            span,
            path: path.into(),
            message: message.into(),
            hint: None,
            missing_var: None,
        }
    }

    pub fn warning(span: Span, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(span, path, message)
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The JSON form of a diagnostic (`validate -o json`).
#[derive(Serialize)]
pub struct DiagnosticJson<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub message: &'a str,
    pub hint: Option<&'a str>,
    pub path: &'a str,
}

impl Diagnostic {
    pub fn to_json<'a>(&'a self, file: &'a str) -> DiagnosticJson<'a> {
        DiagnosticJson {
            file,
            line: self.span.start.line,
            column: self.span.start.col,
            end_line: self.span.end.line,
            end_column: self.span.end.col,
            severity: self.severity,
            message: &self.message,
            hint: self.hint.as_deref(),
            path: &self.path,
        }
    }

    /// `file:line:col: severity: message`, the source line, a caret under the
    /// offending text, and the hint. `color` adds ANSI styles.
    pub fn render(&self, file: &str, source: &str, color: bool) -> String {
        self.render_in(file, &Lines::new(source), color)
    }

    /// [`Self::render`] with the source already split into lines (to
    /// render many diagnostics of one file in time linear in their number).
    pub fn render_in(&self, file: &str, source: &Lines<'_>, color: bool) -> String {
        let style = |s: Style| if color { s } else { Style::new() };
        let bold = style(Style::new().bold());
        let (label, label_style) = match self.severity {
            Severity::Error => ("error", style(AnsiColor::Red.on_default().bold())),
            Severity::Warning => ("warning", style(AnsiColor::Yellow.on_default().bold())),
        };
        let blue = style(AnsiColor::Blue.on_default().bold());
        let cyan = style(AnsiColor::Cyan.on_default().bold());
        let Pos { line, col } = self.span.start;

        let mut out = String::new();
        if line == 0 {
            let _ = writeln!(
                out,
                "{bold}{file}{bold:#}: {label_style}{label}{label_style:#}: {bold}{}{bold:#}",
                self.message
            );
        } else {
            let _ = writeln!(
                out,
                "{bold}{file}:{line}:{col}{bold:#}: {label_style}{label}{label_style:#}: {bold}{}{bold:#}",
                self.message
            );
        }
        if let Some(text) = source.line(line) {
            let gutter = line.to_string().len();
            let shown: String = text
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let width = text.chars().count();
            let start = col.saturating_sub(1).min(width);
            let end = if self.span.end.line == line && self.span.end.col > col {
                (self.span.end.col - 1).min(width)
            } else if self.span.end.line > line {
                width
            } else {
                start + 1
            };
            let carets = "^".repeat(end.saturating_sub(start).max(1));
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad} {blue}|{blue:#}");
            let _ = writeln!(out, "{blue}{line}{blue:#} {blue}|{blue:#} {shown}");
            let _ = writeln!(
                out,
                "{pad} {blue}|{blue:#} {}{label_style}{carets}{label_style:#}",
                " ".repeat(start)
            );
            if let Some(hint) = &self.hint {
                let _ = writeln!(out, "{pad} {blue}={blue:#} {cyan}hint{cyan:#}: {hint}");
            }
        } else if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  {cyan}hint{cyan:#}: {hint}");
        }
        out
    }
}

/// A source text split into its lines, once.
pub struct Lines<'a>(Vec<&'a str>);

impl<'a> Lines<'a> {
    pub fn new(source: &'a str) -> Self {
        Lines(source.lines().collect())
    }

    /// Line `line` (1-based), without its line ending.
    fn line(&self, line: usize) -> Option<&'a str> {
        let l = *self.0.get(line.checked_sub(1)?)?;
        Some(l.strip_suffix('\r').unwrap_or(l))
    }
}

/// Orders diagnostics by place, errors before warnings at the same place;
/// at one place, in the order they were found (the stable sort keeps it).
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.span.start, d.severity));
}

/// The environment variables the plan needs and the environment lacks, each
/// once, in the order the plan uses them.
pub fn missing_vars(diags: &[Diagnostic]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for name in diags.iter().filter_map(|d| d.missing_var.as_deref()) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_place_line_caret_and_hint() {
        let src = "version: 1\nphases:\n  - sok: 1h\n";
        let d = Diagnostic::error(
            Span {
                start: Pos::new(3, 5),
                end: Pos::new(3, 8),
            },
            "phases[0]",
            "unknown key 'sok'",
        )
        .with_hint("did you mean 'soak'?");
        let text = d.render("plan.yaml", src, false);
        assert_eq!(
            text,
            "plan.yaml:3:5: error: unknown key 'sok'\n  |\n3 |   - sok: 1h\n  |     ^^^\n  = hint: did you mean 'soak'?\n"
        );
    }

    #[test]
    fn a_diagnostic_without_a_place_has_no_snippet() {
        let d = Diagnostic::error(Span::default(), "", "the plan is empty");
        assert_eq!(
            d.render("p.yaml", "", false),
            "p.yaml: error: the plan is empty\n"
        );
    }
}
