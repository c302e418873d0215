//! `migrate history`: the journal, every change with its actor and its
//! before and after values.

use crate::cli::{Global, HistoryArgs};
use crate::error::ExitCode;
use crate::output::Printer;
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
        let (step, details) = crate::output::journal::details(&r.entry);
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
