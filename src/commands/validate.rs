//! `migrate validate`: every problem in the plan, with its place.

use crate::cli::Global;
use crate::error::ExitCode;
use crate::output::{plural, Printer};
use crate::plan::{self, ProcessEnv};

use super::{diagnostics_json, load_plan, read_plan_text};

pub fn run(global: &Global, printer: &Printer) -> anyhow::Result<ExitCode> {
    let file = global.file.display().to_string();
    if printer.json {
        let text = read_plan_text(&global.file)?;
        return Ok(
            match plan::validate(&text, &ProcessEnv, crate::providers::catalog()) {
                Ok(v) => {
                    printer.json(&diagnostics_json(&file, &v.warnings, true));
                    ExitCode::Ok
                }
                Err(diags) => {
                    printer.json(&diagnostics_json(&file, &diags, false));
                    ExitCode::Invalid
                }
            },
        );
    }
    let v = load_plan(&global.file, printer)?;
    let steps = v.plan.steps().count();
    let mut line = format!(
        "{file}: valid — {} in {}",
        plural(steps, "step"),
        plural(v.plan.phases.len(), "phase")
    );
    if !v.warnings.is_empty() {
        line.push_str(&format!(", {}", plural(v.warnings.len(), "warning")));
    }
    if !printer.quiet {
        printer.out(&line);
    }
    Ok(ExitCode::Ok)
}
