//! `migrate state rebuild`: rebuild state.json from the journal after
//! damage (the journal is the truth; the state file is its checkpoint).

use std::time::Duration;

use serde_json::json;

use crate::cli::{Global, StateCommand};
use crate::error::ExitCode;
use crate::output::Printer;
use crate::state::{actor, hostname, Holder, Timestamp};

use super::{engine_error, Ctx};

pub async fn run(
    global: &Global,
    cmd: &StateCommand,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    match cmd {
        StateCommand::Rebuild => {
            let holder = Holder {
                actor: actor(),
                host: hostname(),
                pid: std::process::id(),
                command: "migrate state rebuild".into(),
                since: Timestamp::new(std::time::SystemTime::now()),
            };
            if ctx.dry_run {
                let n = ctx
                    .store
                    .journal()
                    .await
                    .map_err(|e| engine_error(e.into()))?
                    .len();
                ctx.printer.out(&format!(
                    "Dry run: would rebuild the state from {n} journal records."
                ));
                return Ok(ExitCode::Ok);
            }
            let guard = ctx
                .store
                .lock(&holder, Duration::from_secs(10), false)
                .await
                .map_err(|e| engine_error(e.into()))?;
            let st = ctx
                .store
                .rebuild(guard.as_ref())
                .await
                .map_err(|e| engine_error(e.into()))?;
            let text = format!(
                "Rebuilt the state of {} from {} journal records: {}, at step {}/{}.",
                st.migration,
                st.journal_seq,
                st.status.words(),
                (st.position + 1).min(st.steps.len()),
                st.steps.len()
            );
            ctx.emit_json(json!({"type": "summary", "command": "state rebuild", "records": st.journal_seq, "status": st.status}));
            if !ctx.printer.json {
                ctx.printer.out(&text);
            }
            Ok(ExitCode::Ok)
        }
    }
}
