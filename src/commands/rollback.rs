//! `migrate rollback [--to ID] [--force] [--legacy]`: every changed target
//! back to its baseline (or to its value after step ID; with `--legacy`,
//! every target of the plan to its legacy side), verified, with the journal
//! saying who and why. A rollback that knows nothing of the changes says
//! so, and never claims success while the candidate has a share.

use serde_json::json;

use crate::cli::{Global, RollbackArgs};
use crate::engine::rollback::{LegacyTarget, RollbackRequest};
use crate::engine::Engine;
use crate::error::ExitCode;
use crate::output::Printer;
use crate::state::{Target, Value};

use super::{engine_error, Ctx};

pub async fn run(
    global: &Global,
    args: &RollbackArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::notifying(global, printer)?;
    let engine = ctx.rollback_engine();
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
        let code = preview(&ctx, &engine, &req, args.legacy).await;
        ctx.preview_notify().await;
        return code;
    }
    ctx.catch_interrupt();
    ctx.observe().await;
    let report = if args.legacy {
        engine.rollback_legacy(&req).await
    } else {
        engine.rollback(&req).await
    };
    // Traffic first; then the notifications.
    ctx.finish().await;
    let report = report.map_err(engine_error)?;
    let code = if report.remaining.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::RollbackIncomplete
    };
    let n = |k: usize| format!("{k} target{}", if k == 1 { "" } else { "s" });
    let text = if let Some(found) = &report.unknown {
        let list = found
            .iter()
            .map(|t| {
                let live = match &t.live {
                    Ok(v) => format!("at {v}"),
                    Err(e) => format!("unreadable: {e}"),
                };
                let kept = if t.kept {
                    " (changed by a keep_on_rollback step: left as it is)"
                } else {
                    ""
                };
                format!("{}: {live} (legacy side: {}){kept}", t.target, t.legacy)
            })
            .collect::<Vec<_>>()
            .join("\n  ");
        let what = format!(
            "Nothing is known of this migration's changes: the state at {} records no target it changed (there is no state, or one that recorded none)",
            engine.store.location()
        );
        if report.remaining.is_empty() {
            format!(
                "{what}. Every target of the plan is already on its legacy side:\n  {list}\nNothing was changed."
            )
        } else {
            format!(
                "ROLLBACK INCOMPLETE — act now. {what}, and the plan's targets are not all on their legacy side:\n  {list}\nNothing was changed: a rollback that knows no baseline has nothing to restore.\n  \
                 Likely the migration was renamed, or its state was lost or is elsewhere: point migrate at it (the plan's old name, --state-dir, --state-url) and run `migrate rollback` again;\n  \
                 or, to send every target of the plan to its legacy side (traffic and mirror 0%, flags off): `migrate rollback --legacy`."
            )
        }
    } else if !report.remaining.is_empty() {
        format!(
            "ROLLBACK INCOMPLETE — act now. Still wrong:\n  {}\nFix access to these targets and run `migrate rollback` again.",
            report
                .remaining
                .iter()
                .map(|(t, e)| format!("{t}: {e}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        )
    } else if report.legacy {
        let mut text = format!(
            "Rolled back to the legacy side: {} verified ({:.2} s), whatever the state knew of baselines.",
            n(report.restored.len()),
            report.seconds
        );
        if !report.kept.is_empty() {
            text.push_str(&format!(
                "\nLeft as they are (changed by keep_on_rollback steps; --force sends them too): {}",
                report
                    .kept
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        text.push_str("\n`migrate retry` starts again when the cause is fixed.");
        text
    } else {
        match &report.to {
            Some(id) => format!(
                "Rolled back to the values after step {id} ({} checked, {:.2} s). `migrate advance` carries on from there.",
                n(report.restored.len()),
                report.seconds
            ),
            None => {
                // A target a keep_on_rollback step changed is restored to
                // that step's value, not to its baseline: say which.
                let st = engine.peek().await.ok().flatten();
                let kept: Vec<String> = report
                    .restored
                    .iter()
                    .filter(|(t, _, to)| {
                        st.as_ref()
                            .and_then(|st| st.targets.get(&t.id()))
                            .is_some_and(|r| !r.baseline.matches(to))
                    })
                    .map(|(t, _, to)| format!("{t} at {to}"))
                    .collect();
                let at = if kept.is_empty() {
                    "at their baselines".to_string()
                } else if kept.len() == report.restored.len() {
                    format!(
                        "{}, as keep_on_rollback steps left {}",
                        kept.join(", "),
                        if kept.len() == 1 { "it" } else { "them" }
                    )
                } else {
                    format!(
                        "at their baselines but {}, as keep_on_rollback steps left {}",
                        kept.join(", "),
                        if kept.len() == 1 { "it" } else { "them" }
                    )
                };
                format!(
                    "Rolled back: {} verified ({:.2} s): {at}. `migrate retry` starts again when the cause is fixed.",
                    n(report.restored.len()),
                    report.seconds
                )
            }
        }
    };
    ctx.emit_json(json!({
        "type": "summary",
        "command": "rollback",
        "to": report.to,
        "legacy": report.legacy,
        "restored": report.restored.iter().map(|(t, from, to)| json!({"target": t, "from": from, "to": to})).collect::<Vec<_>>(),
        "remaining": report.remaining.iter().map(|(t, e)| json!({"target": t, "error": e})).collect::<Vec<_>>(),
        "kept": report.kept,
        "unknown": report.unknown.as_ref().map(|found| legacy_json(found)),
        "seconds": report.seconds,
        "exit_code": code.code(),
    }));
    if !ctx.printer.json {
        ctx.printer.out(&text);
    }
    Ok(code)
}

fn legacy_json(found: &[LegacyTarget]) -> Vec<serde_json::Value> {
    found
        .iter()
        .map(|t| {
            json!({
                "target": t.target,
                "live": t.live.as_ref().ok(),
                "error": t.live.as_ref().err(),
                "legacy": t.legacy,
                "kept": t.kept,
            })
        })
        .collect()
}

/// `--dry-run`: what a rollback (or `--legacy`) would do.
async fn preview(
    ctx: &Ctx,
    engine: &Engine<'_>,
    req: &RollbackRequest,
    legacy: bool,
) -> anyhow::Result<ExitCode> {
    let items: Vec<(Target, Result<Value, String>, Value, bool)> = if legacy {
        engine
            .legacy_preview(req)
            .await
            .map_err(engine_error)?
            .into_iter()
            .map(|t| (t.target, t.live, t.legacy, t.kept))
            .collect()
    } else {
        engine
            .rollback_preview(req)
            .await
            .map_err(engine_error)?
            .into_iter()
            .map(|(t, live, want)| (t, live, want, false))
            .collect()
    };
    let unknown = if !legacy && req.to.is_none() {
        engine.knows_nothing().await.map_err(engine_error)?
    } else {
        None
    };
    if ctx.printer.json {
        ctx.emit_json(json!({
            "type": "summary",
            "command": "rollback",
            "dry_run": true,
            "legacy": legacy,
            "restore": items.iter().map(|(t, live, want, kept)| json!({
                "target": t,
                "live": live.as_ref().ok(),
                "error": live.as_ref().err(),
                "to": want,
                "kept": kept,
            })).collect::<Vec<_>>(),
            "unknown": unknown.as_ref().map(|found| legacy_json(found)),
        }));
        return Ok(ExitCode::Ok);
    }
    let mut out = String::from("Dry run — nothing was changed. A rollback would:\n");
    if let Some(found) = &unknown {
        out.push_str(
            "  restore nothing: nothing is known of this migration's changes (no state, or no target recorded). Live:\n",
        );
        for t in found {
            let live = match &t.live {
                Ok(v) => v.to_string(),
                Err(e) => format!("unreadable: {e}"),
            };
            let side = if t.on_legacy_side() {
                "on its legacy side"
            } else {
                "NOT on its legacy side"
            };
            out.push_str(&format!("    {}: {live} ({side})\n", t.target));
        }
        out.push_str(
            "  `migrate rollback --legacy` sends every target of the plan to its legacy side.\n",
        );
    } else if items.is_empty() {
        out.push_str("  change nothing (no target has been changed)\n");
    }
    for (t, live, want, kept) in &items {
        let line = match live {
            _ if *kept => format!(
                "  leave {t} as it is (a keep_on_rollback step changes it; --force sends it too)\n"
            ),
            Ok(v) if want.matches(v) => format!("  leave {t} at {v} (already there)\n"),
            Ok(v) => format!("  restore {t}: {v} → {want}\n"),
            Err(e) => format!("  restore {t} → {want} (live value unreadable: {e})\n"),
        };
        out.push_str(&line);
    }
    ctx.printer.out(&out);
    Ok(ExitCode::Ok)
}
