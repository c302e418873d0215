//! `migrate advance`: run steps until the end, a soak, an approval, or the
//! limit; with `--wait`, through the soaks.

use serde_json::json;

use crate::cli::{AdvanceArgs, Global};
use crate::engine::advance::{AdvanceOptions, Limit};
use crate::engine::Prompter;
use crate::error::ExitCode;
use crate::output::Printer;

use super::{describe, engine_error, outcome_name, Ctx};

pub async fn run(
    global: &Global,
    args: &AdvanceArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::notifying(global, printer)?;
    let engine = ctx.engine();
    let limit = match (&args.steps, &args.to) {
        (Some(n), _) => Limit::Steps(*n),
        (None, Some(id)) => Limit::To(id.clone()),
        (None, None) => Limit::All,
    };
    if ctx.dry_run {
        let code = super::plan::preview(&ctx, &engine, &limit).await;
        ctx.preview_notify().await;
        return code;
    }
    ctx.catch_interrupt();
    ctx.observe().await;
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
    let outcome = engine.advance(&opts).await;
    // The breaker has done its work: now the notifications go.
    ctx.finish().await;
    let outcome = outcome.map_err(engine_error)?;
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
