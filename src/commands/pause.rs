//! `migrate pause` / `migrate resume`: hold and release automatic
//! progress. A waiting `advance --wait` notices within a second.

use serde_json::json;

use crate::cli::{Global, PauseArgs};
use crate::error::ExitCode;
use crate::output::Printer;

use super::{engine_error, Ctx};

pub async fn pause(
    global: &Global,
    args: &PauseArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let engine = ctx.engine();
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| format!("paused by {}", engine.actor));
    if ctx.dry_run {
        ctx.printer.out("Dry run: the migration would be paused.");
        return Ok(ExitCode::Ok);
    }
    engine.pause(&reason).await.map_err(engine_error)?;
    ctx.emit_json(json!({"type": "summary", "command": "pause", "reason": reason}));
    if !ctx.printer.json {
        ctx.printer
            .out(&format!("Paused: {reason}. `migrate resume` releases it."));
    }
    Ok(ExitCode::Ok)
}

pub async fn resume(global: &Global, printer: Printer) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::notifying(global, printer)?;
    let engine = ctx.engine();
    if ctx.dry_run {
        ctx.printer.out("Dry run: the migration would be resumed.");
        return Ok(ExitCode::Ok);
    }
    ctx.observe().await;
    let resumed = engine.resume().await;
    ctx.finish().await;
    resumed.map_err(engine_error)?;
    ctx.emit_json(json!({"type": "summary", "command": "resume"}));
    if !ctx.printer.json {
        ctx.printer.out("Resumed. `migrate advance` carries on.");
    }
    Ok(ExitCode::Ok)
}
