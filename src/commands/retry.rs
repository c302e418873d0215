//! `migrate retry`: after a rollback, put back what the phases before the
//! failed one had set, and start again at that phase.

use serde_json::json;

use crate::cli::Global;
use crate::error::ExitCode;
use crate::output::Printer;

use super::{engine_error, Ctx};

pub async fn run(global: &Global, printer: Printer) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::notifying(global, printer)?;
    let engine = ctx.engine();
    ctx.observe().await;
    let report = engine.retry(ctx.dry_run).await;
    ctx.finish().await;
    let report = report.map_err(engine_error)?;
    ctx.emit_json(json!({
        "type": "summary",
        "command": "retry",
        "dry_run": ctx.dry_run,
        "phase": report.phase,
        "step": report.step,
        "reapplied": report.reapplied.iter().map(|(t, from, to)| json!({"target": t, "from": from, "to": to})).collect::<Vec<_>>(),
    }));
    if !ctx.printer.json {
        let verb = if ctx.dry_run {
            "Dry run: retry would start"
        } else {
            "Starting"
        };
        let mut text = format!(
            "{verb} again at phase {} (step {}).",
            report.phase, report.step
        );
        if !report.reapplied.is_empty() {
            text.push_str(&format!(
                " {} what earlier phases had set: {}.",
                if ctx.dry_run {
                    "It would put back"
                } else {
                    "Put back"
                },
                report
                    .reapplied
                    .iter()
                    .map(|(t, _, to)| format!("{t} = {to}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !ctx.dry_run {
            text.push_str(" `migrate advance` carries on.");
        }
        ctx.printer.out(&text);
    }
    Ok(ExitCode::Ok)
}
