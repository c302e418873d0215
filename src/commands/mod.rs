//! One module per verb, each thin: load what it needs, call the library,
//! hand the result to the printer.

mod completions;
mod plan;
mod reconcile;
mod schema;
mod validate;

use std::path::Path;

use crate::cli::{Cli, Command};
use crate::error::{Error, ExitCode};
use crate::output::{plural, Printer};
use crate::plan::{self as planlib, Diagnostic, ProcessEnv, Validated};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let printer = Printer::new(&cli.global);
    match cli.command {
        Command::Validate => validate::run(&cli.global, &printer),
        Command::Plan(args) => plan::run(&cli.global, &args, &printer),
        Command::Reconcile(args) => reconcile::run(&cli.global, &args, &printer),
        Command::Schema => schema::run(&printer),
        Command::Completions { shell } => completions::run(shell),
    }
}

/// The plan file's text, or a usage error that names the file.
pub fn read_plan_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (pass -f PLAN or set MIGRATE_PLAN)"
        } else {
            ""
        };
        Error::Usage(format!("cannot read plan {}: {e}{hint}", path.display()))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Error::Usage(format!(
            "{} is not a text file: invalid UTF-8 at byte {}",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
        .into()
    })
}

/// Read and validate the plan named by `-f`; on errors, show them (human:
/// stderr; json: the diagnostics document on stdout) and fail with exit 2.
pub fn load_plan(file: &Path, printer: &Printer) -> anyhow::Result<Validated> {
    let text = read_plan_text(file)?;
    let name = file.display().to_string();
    match planlib::validate(&text, &ProcessEnv) {
        Ok(v) => {
            if !printer.json {
                printer.diagnostics(&name, &text, &v.warnings);
            }
            Ok(v)
        }
        Err(diags) => {
            report_invalid(&name, &text, &diags, printer);
            Err(Error::InvalidPlan {
                file: name,
                errors: diags.iter().filter(|d| d.is_error()).count(),
            }
            .into())
        }
    }
}

/// The diagnostics document of `validate -o json`.
pub fn diagnostics_json(file: &str, diags: &[Diagnostic], valid: bool) -> serde_json::Value {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    serde_json::json!({
        "schema": "migrate.diagnostics/v1",
        "file": file,
        "valid": valid,
        "errors": errors,
        "warnings": diags.len() - errors,
        "diagnostics": diags.iter().map(|d| d.to_json(file)).collect::<Vec<_>>(),
    })
}

fn report_invalid(file: &str, text: &str, diags: &[Diagnostic], printer: &Printer) {
    if printer.json {
        printer.json(&diagnostics_json(file, diags, false));
        return;
    }
    printer.diagnostics(file, text, diags);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let mut summary = format!("{file}: {}", plural(errors, "error"));
    if warnings > 0 {
        summary.push_str(&format!(", {}", plural(warnings, "warning")));
    }
    printer.err(&summary);
}
