//! `migrate advance`: run steps until the end, a soak, an approval, or the
//! limit; with `--wait`, through the soaks.

use serde_json::json;

use crate::cli::{AdvanceArgs, Global};
use crate::engine::advance::{AdvanceOptions, Limit, Outcome};
use crate::engine::Prompter;
use crate::error::ExitCode;
use crate::output::Printer;
use crate::plan::describe::duration_words;

use super::{engine_error, Ctx};

pub async fn run(
    global: &Global,
    args: &AdvanceArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let engine = ctx.engine();
    let limit = match (&args.steps, &args.to) {
        (Some(n), _) => Limit::Steps(*n),
        (None, Some(id)) => Limit::To(id.clone()),
        (None, None) => Limit::All,
    };
    if ctx.dry_run {
        return super::plan::preview(&ctx, &engine, &limit).await;
    }
    ctx.catch_interrupt();
    let prompter = ctx.prompter();
    let opts = AdvanceOptions {
        limit,
        wait: args.wait,
        approve: args.approve.clone(),
        yes: global.yes,
        force: args.force,
        adopt_gates: args.adopt_gates,
        prompter: prompter.as_ref().map(|p| p as &dyn Prompter),
        accept_baseline: args.accept_baseline,
    };
    let outcome = engine.advance(&opts).await.map_err(engine_error)?;
    let (code, text) = describe(&outcome);
    ctx.emit_json(json!({
        "type": "summary",
        "command": "advance",
        "outcome": outcome_name(&outcome),
        "message": text,
        "exit_code": code.code(),
    }));
    if !(ctx.printer.json || ctx.printer.quiet && code == ExitCode::Ok) {
        ctx.printer.out(&text);
    }
    Ok(code)
}

pub fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Completed => "completed",
        Outcome::Stopped { .. } => "stopped",
        Outcome::Waiting { .. } => "waiting",
        Outcome::RolledBack { .. } => "rolled_back",
        Outcome::RollbackIncomplete { .. } => "rollback_incomplete",
        Outcome::Paused { .. } => "paused",
        Outcome::Busy { .. } => "busy",
        Outcome::Interrupted => "interrupted",
    }
}

/// The exit code of an outcome, and the outcome in words.
pub fn describe(o: &Outcome) -> (ExitCode, String) {
    match o {
        Outcome::Completed => (ExitCode::Ok, "The migration is complete.".into()),
        Outcome::Stopped { next } => (
            ExitCode::Ok,
            match next {
                Some(n) => format!("Stopped as asked; the next step is {n}."),
                None => "Stopped as asked.".into(),
            },
        ),
        Outcome::Waiting {
            step,
            reason,
            remaining,
        } => {
            let mut text = format!("Waiting at {step}: {reason}.");
            if let Some(r) = remaining {
                text.push_str(&format!(
                    " Run `migrate advance` again in {} (or use --wait).",
                    duration_words(std::time::Duration::from_secs(r.as_secs().max(1)))
                ));
            }
            (ExitCode::Waiting, text)
        }
        Outcome::RolledBack {
            by,
            at,
            reason,
            breach,
        } => {
            let who = if *breach {
                format!("the breaker rolled the migration back ({by}, {at})")
            } else {
                format!("{by} rolled the migration back at {at}")
            };
            (
                ExitCode::RolledBack,
                format!("Rolled back: {who}: {reason}. Fix the cause, then `migrate retry`."),
            )
        }
        Outcome::RollbackIncomplete { remaining } => (
            ExitCode::RollbackIncomplete,
            format!(
                "ROLLBACK INCOMPLETE — act now. Still wrong:\n  {}\nFix access to these targets and run `migrate rollback` again.",
                remaining.join("\n  ")
            ),
        ),
        Outcome::Paused { by, reason, breach } => {
            if *breach {
                (
                    ExitCode::ChecksFailed,
                    format!("Paused by the gate policy: {reason}. Nothing was rolled back; inspect, then `migrate resume` or `migrate rollback`."),
                )
            } else {
                (
                    ExitCode::Waiting,
                    format!("Paused by {by}: {reason}. `migrate resume` releases it."),
                )
            }
        }
        Outcome::Busy { step, by } => (
            ExitCode::Locked,
            format!("Step {step} is being run by {by}; try again when it finishes."),
        ),
        Outcome::Interrupted => (
            ExitCode::Interrupted,
            "Interrupted; the state is consistent. `migrate advance` carries on.".into(),
        ),
    }
}
