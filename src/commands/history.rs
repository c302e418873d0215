//! `migrate history`: the journal, every change with its actor and its
//! before and after values.

use crate::cli::{Global, HistoryArgs};
use crate::error::ExitCode;
use crate::output::Printer;
use crate::providers::fmt_number;
use crate::state::{Entry, Record};
use crate::table;

use super::{engine_error, Ctx};

pub async fn run(
    global: &Global,
    args: &HistoryArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let records = ctx
        .store
        .journal()
        .await
        .map_err(|e| engine_error(e.into()))?;
    let shown: Vec<&Record> = records
        .iter()
        .filter(|r| args.gates || !matches!(&r.entry, Entry::Gate { ok: true, .. }))
        .collect();
    let skip = args.last.map_or(0, |n| shown.len().saturating_sub(n));
    if ctx.printer.json {
        for r in shown.iter().skip(skip) {
            if let Ok(v) = serde_json::to_value(r) {
                ctx.printer.json(&v);
            }
        }
        return Ok(ExitCode::Ok);
    }
    if records.is_empty() {
        ctx.printer.out(&format!(
            "Migration {} has no history yet.",
            ctx.plan.plan.name
        ));
        return Ok(ExitCode::Ok);
    }
    let mut t = table::new(&["#", "Time", "Actor", "Event", "Step", "Details"]);
    for r in shown.iter().skip(skip) {
        let (step, details) = details(&r.entry);
        t.add_row(vec![
            r.seq.to_string(),
            r.at.to_string(),
            r.actor.clone(),
            r.entry.name().to_string(),
            step,
            details,
        ]);
    }
    ctx.printer.out(&t.to_string());
    let hidden = records.len() - shown.len();
    if hidden > 0 {
        ctx.printer.note(&format!(
            "({hidden} passing gate readings not shown; --gates shows them)"
        ));
    }
    Ok(ExitCode::Ok)
}

fn details(e: &Entry) -> (String, String) {
    let opt =
        |v: &Option<crate::state::Value>| v.as_ref().map_or("?".to_string(), ToString::to_string);
    match e {
        Entry::Started { steps } => (String::new(), format!("{} steps", steps.len())),
        Entry::PlanChanged { changed, .. } => {
            (String::new(), format!("changed: {}", changed.join(", ")))
        }
        Entry::StepStarted { step } => (step.clone(), String::new()),
        Entry::Baseline {
            target,
            value,
            note,
        } => (
            String::new(),
            match note {
                Some(n) => format!("{target} was {value} (ACCEPTED: {n})"),
                None => format!("{target} was {value}"),
            },
        ),
        Entry::Intended {
            step,
            target,
            before,
            after,
        } => (step.clone(), format!("{target}: {} → {after}", opt(before))),
        Entry::Applied {
            step,
            target,
            after,
        } => (step.clone(), format!("{target} set to {after}")),
        Entry::Verified {
            step,
            target,
            value,
        } => (step.clone(), format!("{target} reads {value}")),
        Entry::StepDone { step, note } => (step.clone(), note.clone().unwrap_or_default()),
        Entry::StepFailed { step, error } => (step.clone(), error.clone()),
        Entry::Claimed { step, host, pid } => (step.clone(), format!("run by pid {pid} on {host}")),
        Entry::SoakStarted { step, duration, .. } => (
            step.clone(),
            format!("for {}", crate::plan::describe::duration_words(*duration)),
        ),
        Entry::Gate {
            step,
            gate,
            value,
            nan,
            ok,
            note,
            evidence: Some(e),
            ..
        } => (
            step.clone().unwrap_or_default(),
            format!(
                "{gate} = {} {} ({})",
                crate::providers::fmt_reading(*value, *nan),
                if *ok { "pass" } else { "FAIL" },
                match note {
                    Some(n) if value.is_none() => n.clone(),
                    _ => e.to_string(),
                }
            ),
        ),
        Entry::Gate {
            step,
            gate,
            value,
            nan,
            ok,
            note,
            ..
        } => (
            step.clone().unwrap_or_default(),
            format!(
                "{gate} = {} {}{}",
                crate::providers::fmt_reading(*value, *nan),
                if *ok { "pass" } else { "FAIL" },
                note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
            ),
        ),
        Entry::Breach { step, reason, .. } => (step.clone().unwrap_or_default(), reason.clone()),
        Entry::Reconciled { name, parity, .. } => (
            String::new(),
            format!("{name}: parity {}", fmt_number(*parity)),
        ),
        Entry::Approved { step } => (step.clone(), String::new()),
        Entry::Paused { reason, .. } => (String::new(), reason.clone()),
        Entry::Resumed => (String::new(), String::new()),
        Entry::RollbackStarted { reason, to, .. } => (
            to.clone().map(|t| format!("to {t}")).unwrap_or_default(),
            reason.clone(),
        ),
        Entry::Restored {
            target,
            before,
            value,
        } => (
            String::new(),
            format!("{target}: {} → {value}", opt(before)),
        ),
        Entry::GateChanged {
            step,
            gate,
            was,
            now,
            adopted,
            ..
        } => (
            step.clone(),
            format!(
                "gate {gate} changed in the plan: was {was}; now {now}{}",
                if adopted.is_some() {
                    " (adopted for this soak)"
                } else {
                    " (this soak keeps the gate it started with)"
                }
            ),
        ),
        Entry::RestoreFailed { target, error } => (String::new(), format!("{target}: {error}")),
        Entry::RollbackFinished { remaining, .. } => (
            String::new(),
            if remaining.is_empty() {
                "complete".to_string()
            } else {
                format!("INCOMPLETE: {}", remaining.join(", "))
            },
        ),
        Entry::Retried { phase, step } => (step.clone(), format!("again from phase {phase}")),
        Entry::LockBroken { holder } => (String::new(), format!("lock of {holder} broken")),
        Entry::Released { step, reason } => (step.clone(), reason.clone()),
        Entry::Recovered { reason, .. } => (String::new(), reason.clone()),
        Entry::Completed => (String::new(), String::new()),
    }
}
