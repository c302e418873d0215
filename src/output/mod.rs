//! Rendering for people (tables, colored diagnostics on stderr) and for
//! programs (JSON on stdout). Commands decide what to say; this decides how.

pub mod events;
pub mod journal;

use std::io::Write;

use crate::cli::{Global, OutputFormat};
use crate::plan::Diagnostic;

/// How and where a command speaks.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
}

impl Printer {
    pub fn new(global: &Global) -> Self {
        if global.no_color {
            anstream::ColorChoice::Never.write_global();
        }
        Self {
            json: global.output == OutputFormat::Json,
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    /// Data for the user: stdout. Like everything the printer writes, it
    /// passes through the redactor: a value taken from the environment is
    /// never printed.
    pub fn out(&self, text: &str) {
        let text = crate::redact::clean(text);
        let mut out = anstream::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// One JSON document on a line of stdout.
    pub fn json(&self, value: &serde_json::Value) {
        self.out(&value.to_string());
    }

    /// Messages about the work (not data): stderr, unless quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.err(text);
        }
    }

    /// Errors: stderr, always (redacted, as [`Self::out`]).
    pub fn err(&self, text: &str) {
        let text = crate::redact::clean(text);
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = err.write_all(b"\n");
        }
        let _ = err.flush();
    }

    /// Plan diagnostics on stderr, compiler-style. Warnings are left out when
    /// quiet.
    pub fn diagnostics(&self, file: &str, source: &str, diags: &[Diagnostic]) {
        let mut text = String::new();
        let lines = crate::plan::diag::Lines::new(source);
        for d in diags {
            if self.quiet && !d.is_error() {
                continue;
            }
            text.push_str(&d.render_in(file, &lines, true));
            text.push('\n');
        }
        if !text.is_empty() {
            self.err(&text);
        }
    }
}

/// `1 error`, `3 warnings`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
