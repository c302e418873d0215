//! `migrate check [GATE..]`: evaluate gates now; change nothing. Exit 7
//! when one fails.

use serde_json::json;

use crate::cli::{CheckArgs, Global};
use crate::error::{Error, ExitCode};
use crate::output::Printer;
use crate::table;

use super::{engine_error, Ctx};

pub async fn run(global: &Global, args: &CheckArgs, printer: Printer) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let engine = ctx.engine();
    for g in &args.gates {
        if ctx.plan.plan.gate(g).is_none() {
            let known: Vec<&str> = ctx
                .plan
                .plan
                .gates
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            return Err(Error::Usage(format!(
                "the plan has no gate '{g}' (gates: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
            .into());
        }
    }
    let names = if args.gates.is_empty() {
        let st = engine.peek().await.map_err(engine_error)?;
        engine.default_gates(st.as_ref())
    } else {
        args.gates.clone()
    };
    if names.is_empty() {
        ctx.printer.note("The plan has no gates.");
        return Ok(ExitCode::Ok);
    }
    let readings = engine.check(&names).await.map_err(engine_error)?;
    let failed = readings.iter().filter(|r| !r.ok).count();
    if ctx.printer.json {
        for r in &readings {
            let gate = ctx.plan.plan.gate(&r.gate);
            ctx.emit_json(json!({
                "type": "gate",
                "gate": r.gate,
                "value": r.value,
                "nan": r.nan,
                "ok": r.ok,
                "threshold": gate.map(|g| g.threshold_label()),
                "note": r.note,
            }));
        }
        ctx.emit_json(json!({"type": "summary", "command": "check", "gates": readings.len(), "failed": failed}));
    } else {
        let mut t = table::new(&["Gate", "Value", "Threshold", "Result", "Note"]);
        for r in &readings {
            let gate = ctx.plan.plan.gate(&r.gate);
            t.add_row(vec![
                r.gate.clone(),
                crate::providers::fmt_reading(r.value, r.nan),
                gate.map(|g| g.threshold_label()).unwrap_or_default(),
                if r.ok {
                    "pass".to_string()
                } else if r.pause {
                    "no data: pause".to_string()
                } else {
                    "FAIL".to_string()
                },
                r.note.clone().unwrap_or_default(),
            ]);
        }
        ctx.printer.out(&t.to_string());
    }
    Ok(if failed > 0 {
        ExitCode::ChecksFailed
    } else {
        ExitCode::Ok
    })
}
