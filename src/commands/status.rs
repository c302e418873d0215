//! `migrate status [--watch]`: where the migration stands — position, soak
//! time left, last gate values, every changed target live, and drift.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::cli::{Global, StatusArgs};
use crate::engine::Engine;
use crate::error::ExitCode;
use crate::output::Printer;
use crate::plan::describe::duration_words;
use crate::state::{State, Status, Timestamp};
use crate::table;

use super::plan::{current_state, drift_json, drift_text};
use super::Ctx;

pub async fn run(global: &Global, args: &StatusArgs, printer: Printer) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(global, printer)?;
    let engine = ctx.engine();
    if !args.watch {
        // Everything is shown first; an incompatible plan then fails the
        // command (exit 2), as `advance` would.
        return match once(&ctx, &engine, false).await? {
            Some(e) => Err(super::engine_error(e)),
            None => Ok(ExitCode::Ok),
        };
    }
    ctx.catch_interrupt();
    let clear = std::io::stdout().is_terminal() && !ctx.printer.json;
    while !ctx.interrupt.raised() {
        // An incompatible plan is shown on every refresh.
        once(&ctx, &engine, clear).await?;
        for _ in 0..10 {
            if ctx.interrupt.raised() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(ExitCode::Ok)
}

/// Show the status once; `Some`: the plan is incompatible with the
/// migration (shown as such), and why.
async fn once(
    ctx: &Ctx,
    engine: &Engine<'_>,
    clear: bool,
) -> anyhow::Result<Option<crate::engine::EngineError>> {
    let st = current_state(engine).await?;
    let incompatible = crate::engine::incompatible(engine.plan, &st);
    let live = engine.live(&st).await;
    let now = Timestamp::new(SystemTime::now());
    if ctx.printer.json {
        let soak = st.soak.as_ref().map(|k| {
            let elapsed = k.elapsed(now);
            json!({
                "step": k.step,
                "started": k.started,
                "duration_ms": k.duration.as_millis() as u64,
                "elapsed_ms": elapsed.as_millis() as u64,
                "remaining_ms": k.remaining(now).as_millis() as u64,
                "paused_ms": k.paused_for(now).as_millis() as u64,
                "clock_held": k.paused_since.is_some(),
                "breaches": k.breaches,
                "gates": k.gates.iter().map(|g| &g.name).collect::<Vec<_>>(),
                "gates_changed_in_plan": k.changed.keys().collect::<Vec<_>>(),
            })
        });
        ctx.emit_json(json!({
            "type": "status",
            "migration": st.migration,
            "status": st.status,
            "serial": st.serial,
            "plan_compatible": incompatible.is_none(),
            "plan_problem": incompatible.as_ref().map(ToString::to_string),
            "position": st.position,
            "steps": st.steps.len(),
            "current": st.current().map(|c| json!({"id": c.id, "phase": c.phase, "action": c.action, "status": c.status})),
            "soak": soak,
            "gates": st.gates,
            "targets": live.iter().map(|l| json!({
                "target": l.target,
                "baseline": l.baseline,
                "expected": l.expected,
                "live": l.live.as_ref().ok(),
                "error": l.live.as_ref().err(),
                "drift": l.drifted(),
            })).collect::<Vec<_>>(),
            "drift": drift_json(&live),
            "paused": st.paused,
            "rollback": st.rollback,
            "updated": st.updated,
            "state": engine.store.location(),
        }));
        return Ok(incompatible);
    }
    let mut out = String::new();
    if clear {
        out.push_str("\x1b[2J\x1b[H");
    }
    if let Some(e) = &incompatible {
        out.push_str(&super::plan::incompatible_banner(e));
    }
    out.push_str(&text(engine, &st, now));
    if !st.targets.is_empty() {
        let mut t = table::new(&["Target", "Baseline", "Set by migrate", "Live"]);
        for l in &live {
            let live_text = match &l.live {
                Ok(v) if l.drifted() => format!("{v}  ← DRIFT"),
                Ok(v) => v.to_string(),
                Err(e) => format!("unreadable: {e}"),
            };
            t.add_row(vec![
                l.target.to_string(),
                l.baseline.to_string(),
                l.expected.to_string(),
                live_text,
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    if !st.gates.is_empty() {
        let mut t = table::new(&["Gate", "Last value", "Threshold", "Result", "When"]);
        for (name, r) in &st.gates {
            let gate = engine.plan.gate(name);
            t.add_row(vec![
                name.clone(),
                crate::providers::fmt_reading(r.value, r.nan),
                gate.map(|g| g.threshold_label()).unwrap_or_default(),
                if r.ok { "pass".into() } else { "FAIL".into() },
                format!(
                    "{} ago",
                    duration_words(Duration::from_secs(now.since(r.at).as_secs()))
                ),
            ]);
        }
        out.push_str(&format!("{t}\n"));
        for (name, r) in &st.gates {
            if let Some(e) = &r.evidence {
                out.push_str(&format!(
                    "Gate {name} compares: {}\n  {}; {}; {} ({}, alpha {}; {} looks{})\n",
                    e.verdict.words(),
                    e.arms(),
                    e.ratio_words(),
                    e.statistic(),
                    e.tolerance(),
                    crate::providers::fmt_number(e.alpha),
                    e.looks,
                    if e.resets > 0 {
                        format!(", {} counter resets", e.resets)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    out.push_str(&drift_text(&live));
    ctx.printer.out(&out);
    Ok(incompatible)
}

fn text(engine: &Engine<'_>, st: &State, now: Timestamp) -> String {
    let mut out = format!("Migration {}: {}", st.migration, st.status.words());
    if st.status == Status::New {
        out.push_str(&format!(
            "\n{} steps; `migrate advance` starts it.\n",
            st.steps.len()
        ));
        return out;
    }
    out.push_str(&format!(
        "   (state {}, serial {})\n",
        engine.store.location(),
        st.serial
    ));
    if let Some(c) = st.current() {
        out.push_str(&format!(
            "Step {}/{}: {} — {} (phase {})\n",
            st.position + 1,
            st.steps.len(),
            c.id,
            c.action,
            c.phase
        ));
        if let Some(e) = &c.error {
            out.push_str(&format!("  last attempt failed: {e}\n"));
        }
    }
    if let Some(k) = &st.soak {
        let elapsed = k.elapsed(now);
        let left = k.remaining(now);
        if k.paused_since.is_some() {
            out.push_str(&format!(
                "Soak: {} of {} served, {} left; its clock is held while paused (its gates are still evaluated)\n",
                duration_words(Duration::from_secs(elapsed.as_secs())),
                duration_words(k.duration),
                duration_words(Duration::from_secs(left.as_secs())),
            ));
        } else {
            out.push_str(&format!(
                "Soak: {} of {} elapsed, {} left (ends {})\n",
                duration_words(Duration::from_secs(elapsed.as_secs())),
                duration_words(k.duration),
                duration_words(Duration::from_secs(left.as_secs())),
                k.ends_at(now)
            ));
        }
        for gate in k.changed.keys() {
            out.push_str(&format!(
                "  gate {gate} was changed in the plan: this soak keeps the gate it started with (`migrate advance --adopt-gates` applies the change)\n"
            ));
        }
    }
    if let Some(p) = &st.paused {
        out.push_str(&format!(
            "Paused by {} at {}: {}\n",
            p.actor, p.at, p.reason
        ));
    }
    if let Some(rb) = &st.rollback {
        out.push_str(&format!(
            "Rolled back by {} at {}: {}\n",
            rb.actor, rb.at, rb.reason
        ));
        if !rb.remaining.is_empty() {
            out.push_str(&format!("  STILL WRONG: {}\n", rb.remaining.join(", ")));
        }
        if st.status == Status::RolledBack {
            if let Some(phase) = &rb.phase {
                out.push_str(&format!(
                    "  `migrate retry` starts again at phase {phase}\n"
                ));
            }
        }
    }
    if let Some(u) = &st.updated {
        out.push_str(&format!(
            "Last change: {} by {} ({})\n",
            u.at,
            u.actor,
            u.reason.as_deref().unwrap_or("")
        ));
    }
    out
}
