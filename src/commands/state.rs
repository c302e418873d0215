//! `migrate state`: look after the state itself.
//! - `rebuild`: rebuild the checkpoint from the journal after damage (the
//!   journal is the truth; the checkpoint is its fold).
//! - `push` / `pull`: copy a migration between the local state directory
//!   and PostgreSQL, journal and checkpoint, under both locks.

use std::time::Duration;

use serde_json::json;

use crate::cli::{Global, StateCommand, TransferArgs};
use crate::error::{Error, ExitCode};
use crate::output::Printer;
use crate::state::{actor, hostname, Holder, Store, Timestamp};

use super::context::LOCK_WAIT;
use super::{engine_error, Ctx};
use crate::app::store::{local_store, postgres_store};

fn holder(command: &str) -> Holder {
    Holder {
        actor: actor(),
        host: hostname(),
        pid: std::process::id(),
        command: command.to_string(),
        since: Timestamp::new(std::time::SystemTime::now()),
    }
}

pub async fn run(
    global: &Global,
    cmd: &StateCommand,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    match cmd {
        StateCommand::Rebuild => rebuild(&ctx).await,
        StateCommand::Push(args) => transfer(global, &ctx, args, true).await,
        StateCommand::Pull(args) => transfer(global, &ctx, args, false).await,
    }
}

async fn rebuild(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let holder = holder("migrate state rebuild");
    let by = "migrate state rebuild";
    let now = Timestamp::new(std::time::SystemTime::now());
    let store_err = |e: crate::state::StoreError| engine_error(e.into());
    let name = &ctx.plan.plan.name;
    let rec = if ctx.dry_run {
        ctx.store
            .recover(&holder.actor, now, by)
            .await
            .map_err(store_err)?
    } else {
        let guard = ctx
            .store
            .lock(&holder, Duration::from_secs(10), false)
            .await
            .map_err(store_err)?;
        ctx.store
            .rebuild(guard.as_ref(), &holder.actor, now, by)
            .await
            .map_err(store_err)?
    };
    let Some(rec) = rec else {
        ctx.emit_json(json!({"type": "summary", "command": "state rebuild", "dry_run": ctx.dry_run, "records": 0, "status": "new", "nothing": true}));
        if !ctx.printer.json {
            ctx.printer.out(&format!(
                "Nothing to rebuild: migration {name} has no journal and no state in {} (it has not started here).",
                ctx.store.location()
            ));
        }
        return Ok(ExitCode::Ok);
    };
    let st = &rec.state;
    let mut text = format!(
        "{} the state of {} from {} journal record{}{}: {}, at step {}/{}.",
        if ctx.dry_run {
            "Dry run — nothing was changed. Would rebuild"
        } else {
            "Rebuilt"
        },
        st.migration,
        rec.kept,
        if rec.kept == 1 { "" } else { "s" },
        if rec.from_checkpoint {
            " and the state checkpoint"
        } else {
            ""
        },
        st.status.words(),
        (st.position + 1).min(st.steps.len()),
        st.steps.len()
    );
    for line in rec.lines() {
        text.push_str("\n  ");
        text.push_str(&line);
    }
    if rec.skipped.is_empty() && rec.missing.is_empty() && rec.checkpoint_replaced.is_none() {
        text.push_str("\n  Nothing was damaged.");
    }
    ctx.emit_json(json!({
        "type": "summary",
        "command": "state rebuild",
        "dry_run": ctx.dry_run,
        "records": rec.kept,
        "status": st.status,
        "journal_seq": st.journal_seq,
        "skipped": rec.skipped.iter().map(|s| json!({"place": s.place, "bytes": s.bytes, "reason": s.reason, "torn": s.torn})).collect::<Vec<_>>(),
        "missing": rec.missing.iter().map(|(a, b)| json!({"first": a, "last": b})).collect::<Vec<_>>(),
        "journal_lost": rec.journal_lost,
        "from_checkpoint": rec.from_checkpoint,
        "checkpoint_replaced": rec.checkpoint_replaced,
        "unsure": rec.unsure,
        "recovered_record": rec.record.as_ref().map(|r| r.seq),
        "aside": rec.aside,
    }));
    if !ctx.printer.json {
        ctx.printer.out(&text);
    }
    Ok(ExitCode::Ok)
}

/// Copy the migration from the local state to PostgreSQL (`push`) or back
/// (`pull`). Both locks are held throughout (the local one first, always,
/// so that a push and a pull never wait for each other crosswise).
async fn transfer(
    global: &Global,
    ctx: &Ctx,
    args: &TransferArgs,
    push: bool,
) -> anyhow::Result<ExitCode> {
    let verb = if push { "push" } else { "pull" };
    let name = &ctx.plan.plan.name;
    let local = local_store(global, &ctx.plan, args.dir.as_deref());
    let Some(remote) = postgres_store(global, &ctx.plan)? else {
        return Err(Error::Usage(format!(
            "state {verb} needs a PostgreSQL state: pass --state-url URL (or set MIGRATE_STATE_URL), or set settings.state to {{ backend: postgres, url: ... }}"
        ))
        .into());
    };
    let (src, dst): (&dyn Store, &dyn Store) = if push {
        (&local, &remote)
    } else {
        (&remote, &local)
    };
    let store_err = |e: crate::state::StoreError| engine_error(e.into());
    let who = holder(&format!("migrate state {verb}"));
    let local_guard = local
        .lock(&who, LOCK_WAIT, false)
        .await
        .map_err(store_err)?;
    let remote_guard = remote
        .lock(&who, LOCK_WAIT, false)
        .await
        .map_err(store_err)?;
    let dst_guard = if push { &remote_guard } else { &local_guard };

    let Some(state) = src.load().await.map_err(store_err)? else {
        return Err(Error::Usage(format!(
            "nothing to {verb}: migration {name} has no state in {}",
            src.location()
        ))
        .into());
    };
    let records = src.journal().await.map_err(store_err)?;
    let existing = dst.journal().await.map_err(store_err)?;
    if !existing.is_empty() && !args.force {
        let status = dst.load().await.ok().flatten().map_or_else(
            || "state unreadable".to_string(),
            |s| s.status.words().to_string(),
        );
        return Err(Error::Usage(format!(
            "migration {name} already has state in {} ({} journal records, {status}); nothing was copied. Pass --force to replace it with the {} copy ({} records, {}).",
            dst.location(),
            existing.len(),
            if push { "local" } else { "PostgreSQL" },
            records.len(),
            state.status.words()
        ))
        .into());
    }
    let summary = format!(
        "{} journal records, serial {}, {}",
        records.len(),
        state.serial,
        state.status.words()
    );
    if ctx.dry_run {
        ctx.printer.out(&format!(
            "Dry run: would copy migration {name} ({summary}) from {} to {}{}.",
            src.location(),
            dst.location(),
            if existing.is_empty() {
                String::new()
            } else {
                format!(", replacing the {} records there", existing.len())
            }
        ));
        return Ok(ExitCode::Ok);
    }
    dst.import(dst_guard.as_ref(), &records, &state)
        .await
        .map_err(store_err)?;
    drop(remote_guard);
    drop(local_guard);
    let mut text = format!(
        "Copied migration {name} ({summary}) from {} to {}.",
        src.location(),
        dst.location()
    );
    if push {
        text.push_str(" From now on run it with the PostgreSQL state (settings.state or --state-url); the local copy stays as it was.");
    }
    ctx.emit_json(json!({
        "type": "summary",
        "command": format!("state {verb}"),
        "migration": name,
        "records": records.len(),
        "serial": state.serial,
        "status": state.status,
        "from": src.location(),
        "to": dst.location(),
        "replaced": existing.len(),
    }));
    if !ctx.printer.json {
        ctx.printer.out(&text);
    }
    Ok(ExitCode::Ok)
}
