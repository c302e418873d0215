//! The plan file: read, validated, its problems shown.

use std::path::Path;

use crate::error::Error;
use crate::output::{plural, Printer};
use crate::plan::{self as planlib, Diagnostic, ProcessEnv, Validated};
use crate::redact::SecretEnv;

/// The plan file's text, or a usage error that names the file.
pub fn read_plan_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| -> anyhow::Error {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => Error::Usage(format!(
                "cannot read plan {}: {e} (pass -f PLAN or set MIGRATE_PLAN)",
                path.display()
            ))
            .into(),
            ErrorKind::PermissionDenied | ErrorKind::IsADirectory | ErrorKind::InvalidInput => {
                Error::Usage(format!("cannot read plan {}: {e}", path.display())).into()
            }
            // Out of file descriptors or memory, an I/O error: the plan may
            // be fine; a runtime error, safe to retry.
            _ => anyhow::anyhow!("cannot read plan {}: {e} (try again)", path.display()),
        }
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
    match planlib::validate(
        &text,
        &SecretEnv::new(ProcessEnv),
        crate::providers::catalog(),
    ) {
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
    let missing = planlib::diag::missing_vars(diags);
    if !missing.is_empty() {
        summary.push_str(&format!(
            "\n{} not set: {}",
            plural(missing.len(), "environment variable"),
            missing.join(", ")
        ));
    }
    printer.err(&summary);
}

/// Validate a plan's text (as `validate` does) without printing: the
/// errors in words (for `supervise`, which says them in its log).
pub fn validate_text(file: &Path, text: &str) -> Result<Validated, String> {
    planlib::validate(
        text,
        &SecretEnv::new(ProcessEnv),
        crate::providers::catalog(),
    )
    .map_err(|diags| {
        let lines = planlib::diag::Lines::new(text);
        let name = file.display().to_string();
        diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render_in(&name, &lines, false))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// What a command that talks to the plan's systems says first, whatever
/// the output mode: each provider that does not check its system's TLS
/// certificate (`insecure_skip_tls_verify: true`).
pub fn security_notices(plan: &crate::plan::Plan) -> Vec<String> {
    plan.providers
        .iter()
        .filter(|p| p.config.insecure_tls())
        .map(|p| {
            format!(
                "warning: TLS certificate verification is OFF for provider '{}' (insecure_skip_tls_verify: true): anyone on the path can impersonate it",
                p.name
            )
        })
        .collect()
}

/// Say [`security_notices`] on stderr.
pub fn say_security_notices(plan: &crate::plan::Plan, printer: &Printer) {
    for n in security_notices(plan) {
        printer.err(&n);
    }
}
