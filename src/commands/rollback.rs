//! `migrate rollback [--to ID] [--force]`: every changed target back to its
//! baseline (or to its value after step ID), verified, with the journal
//! saying who and why.

use serde_json::json;

use crate::cli::{Global, RollbackArgs};
use crate::engine::rollback::RollbackRequest;
use crate::error::ExitCode;
use crate::output::Printer;

use super::{engine_error, Ctx};

pub async fn run(
    global: &Global,
    args: &RollbackArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let mut engine = ctx.engine();
    engine.takeover = true;
    let req = RollbackRequest {
        to: args.to.clone(),
        reason: args
            .reason
            .clone()
            .unwrap_or_else(|| format!("rollback requested by {}", engine.actor)),
        breach: false,
        force: args.force,
    };
    if ctx.dry_run {
        let items = engine.rollback_preview(&req).await.map_err(engine_error)?;
        if ctx.printer.json {
            ctx.emit_json(json!({
                "type": "summary",
                "command": "rollback",
                "dry_run": true,
                "restore": items.iter().map(|(t, live, want)| json!({
                    "target": t,
                    "live": live.as_ref().ok(),
                    "error": live.as_ref().err(),
                    "to": want,
                })).collect::<Vec<_>>(),
            }));
        } else {
            let mut out = String::from("Dry run — nothing was changed. A rollback would:\n");
            if items.is_empty() {
                out.push_str("  change nothing (no target has been changed)\n");
            }
            for (t, live, want) in &items {
                let line = match live {
                    Ok(v) if want.matches(v) => format!("  leave {t} at {v} (already there)\n"),
                    Ok(v) => format!("  restore {t}: {v} → {want}\n"),
                    Err(e) => format!("  restore {t} → {want} (live value unreadable: {e})\n"),
                };
                out.push_str(&line);
            }
            ctx.printer.out(&out);
        }
        return Ok(ExitCode::Ok);
    }
    ctx.catch_interrupt();
    let report = engine.rollback(&req).await.map_err(engine_error)?;
    let code = if report.remaining.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::RollbackIncomplete
    };
    let text = if report.remaining.is_empty() {
        match &report.to {
            Some(id) => format!(
                "Rolled back to the values after step {id} ({} target{} checked, {:.2} s). `migrate advance` carries on from there.",
                report.restored.len(),
                if report.restored.len() == 1 { "" } else { "s" },
                report.seconds
            ),
            None => format!(
                "Rolled back: {} target{} at their baselines, verified ({:.2} s). `migrate retry` starts again when the cause is fixed.",
                report.restored.len(),
                if report.restored.len() == 1 { "" } else { "s" },
                report.seconds
            ),
        }
    } else {
        format!(
            "ROLLBACK INCOMPLETE — act now. Still wrong:\n  {}\nFix access to these targets and run `migrate rollback` again.",
            report
                .remaining
                .iter()
                .map(|(t, e)| format!("{t}: {e}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        )
    };
    ctx.emit_json(json!({
        "type": "summary",
        "command": "rollback",
        "to": report.to,
        "restored": report.restored.iter().map(|(t, from, to)| json!({"target": t, "from": from, "to": to})).collect::<Vec<_>>(),
        "remaining": report.remaining.iter().map(|(t, e)| json!({"target": t, "error": e})).collect::<Vec<_>>(),
        "seconds": report.seconds,
        "exit_code": code.code(),
    }));
    if !ctx.printer.json {
        ctx.printer.out(&text);
    }
    Ok(code)
}
