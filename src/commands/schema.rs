//! `migrate schema`: the JSON Schema of the plan, for editors.

use crate::error::ExitCode;
use crate::output::Printer;
use crate::plan::schema::plan_schema;

pub fn run(printer: &Printer) -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&plan_schema(crate::providers::catalog()))?;
    printer.out(&text);
    Ok(ExitCode::Ok)
}
