//! `migrate unlock [--force]`: who holds the lock; clear a stale one;
//! break a live one with --force (journaled).

use serde_json::json;

use crate::cli::{Global, UnlockArgs};
use crate::error::ExitCode;
use crate::output::Printer;
use crate::state::Entry;

use super::{engine_error, Ctx};

pub async fn run(global: &Global, args: &UnlockArgs, printer: Printer) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let holder = ctx
        .store
        .holder()
        .await
        .map_err(|e| engine_error(e.into()))?;
    let (message, code) = match holder {
        None => ("The migration is not locked.".to_string(), ExitCode::Ok),
        Some((h, false)) => {
            if !ctx.dry_run {
                ctx.store
                    .break_lock()
                    .await
                    .map_err(|e| engine_error(e.into()))?;
            }
            (
                format!("Cleared a stale lock: {h} stopped without releasing it. Its journal records stand."),
                ExitCode::Ok,
            )
        }
        Some((h, true)) if args.force => {
            if ctx.dry_run {
                (
                    format!("Dry run: would break the lock held by {h}."),
                    ExitCode::Ok,
                )
            } else {
                ctx.store
                    .break_lock()
                    .await
                    .map_err(|e| engine_error(e.into()))?;
                let engine = ctx.engine();
                let mut s = engine.session(false).await.map_err(engine_error)?;
                engine
                    .commit(
                        &mut s,
                        vec![Entry::LockBroken {
                            holder: h.to_string(),
                        }],
                    )
                    .await
                    .map_err(engine_error)?;
                (
                    format!("Broke the lock held by {h}. If that run is still alive, its next write will be refused."),
                    ExitCode::Ok,
                )
            }
        }
        Some((h, true)) => (
            format!("Locked by {h}. It is alive; wait for it, or break the lock with --force."),
            ExitCode::Locked,
        ),
    };
    ctx.emit_json(json!({"type": "summary", "command": "unlock", "message": message, "exit_code": code.code()}));
    if !ctx.printer.json {
        ctx.printer.out(&message);
    }
    Ok(code)
}
