//! `migrate plan`: the expanded steps, what each does in words, soaks and
//! gates, the least total time, and counts.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cli::{Global, PlanArgs};
use crate::error::ExitCode;
use crate::output::{plural, Printer};
use crate::plan::describe::{self, duration_words};
use crate::plan::{Plan, StepKind};
use crate::table;

use super::load_plan;

pub fn run(global: &Global, _args: &PlanArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let v = load_plan(&global.file, printer)?;
    let plan = &v.plan;
    if printer.json {
        printer.json(&plan_json(
            plan,
            &v.warnings,
            &global.file.display().to_string(),
        ));
    } else {
        printer.out(&plan_text(plan));
    }
    Ok(ExitCode::Ok)
}

fn counts(plan: &Plan) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for step in plan.steps() {
        *counts.entry(step.kind.name()).or_insert(0) += 1;
    }
    counts
}

fn notes(step: &crate::plan::Step) -> String {
    let mut notes = Vec::new();
    if step.keep_on_rollback {
        notes.push("kept on rollback");
    }
    if step.irreversible {
        notes.push("irreversible");
    }
    notes.join(", ")
}

/// The Phase, Step, Action, Soak and Gates columns of the `i`th step of
/// `phase` (the phase is named on its first step only).
fn step_columns(
    plan: &Plan,
    phase: &crate::plan::Phase,
    i: usize,
    step: &crate::plan::Step,
) -> Vec<String> {
    let (soak, gates) = match &step.kind {
        StepKind::Soak { duration, gates } => (duration_words(*duration), gates.join(", ")),
        StepKind::Check { gates, .. } => (String::new(), gates.join(", ")),
        _ => (String::new(), String::new()),
    };
    vec![
        if i == 0 {
            phase.name.clone()
        } else {
            String::new()
        },
        step.id.clone(),
        describe::step(plan, step),
        soak,
        gates,
    ]
}

pub fn plan_text(plan: &Plan) -> String {
    let mut t = table::new(&["Phase", "Step", "Action", "Soak", "Gates", "Notes"]);
    for phase in &plan.phases {
        for (i, step) in phase.steps.iter().enumerate() {
            let mut row = step_columns(plan, phase, i, step);
            row.push(notes(step));
            t.add_row(row);
        }
    }
    let steps = plan.steps().count();
    let mut out = String::new();
    out.push_str(&format!("Plan {}", plan.name));
    if let Some(d) = &plan.description {
        out.push_str(&format!(" — {d}"));
    }
    out.push('\n');
    out.push_str(&t.to_string());
    out.push('\n');
    let kinds: Vec<String> = counts(plan)
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    out.push_str(&format!(
        "{} in {} ({})\n",
        plural(steps, "step"),
        plural(plan.phases.len(), "phase"),
        kinds.join(", ")
    ));
    out.push_str(&format!(
        "Minimum duration: {} (the sum of the soaks)\n",
        duration_words(plan.min_duration())
    ));
    out
}

pub fn plan_json(
    plan: &Plan,
    warnings: &[crate::plan::Diagnostic],
    file: &str,
) -> serde_json::Value {
    let phases: Vec<_> = plan
        .phases
        .iter()
        .map(|phase| {
            json!({
                "name": phase.name,
                "steps": phase.steps.iter().map(|step| {
                    let mut v = serde_json::to_value(step).unwrap_or_default();
                    v["description"] = json!(describe::step(plan, step));
                    v
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let min = plan.min_duration();
    json!({
        "schema": "migrate.plan/v1",
        "file": file,
        "name": plan.name,
        "description": plan.description,
        "settings": plan.settings,
        "phases": phases,
        "steps": plan.steps().count(),
        "counts": counts(plan),
        "min_duration": duration_words(min),
        "min_duration_seconds": min.as_secs_f64(),
        "warnings": warnings.iter().map(|d| d.to_json(file)).collect::<Vec<_>>(),
    })
}

/// `migrate plan` (live): the steps, where the migration stands, what the
/// next `advance` would change (read from the live systems), and drift.
pub async fn run_live(
    global: &Global,
    args: &PlanArgs,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let _ = args;
    let ctx = super::Ctx::new(global, printer)?;
    let engine = ctx.engine();
    let state = current_state(&engine).await?;
    let plan = &ctx.plan.plan;
    // Shown with everything else; then the command fails (exit 2), as
    // `advance` would.
    let incompatible = crate::engine::incompatible(plan, &state);
    let done = |incompatible: Option<crate::engine::EngineError>| match incompatible {
        Some(e) => Err(super::engine_error(e)),
        None => Ok(ExitCode::Ok),
    };
    let preview = engine.preview(&state).await;
    let live = engine.live(&state).await;
    if ctx.printer.json {
        let mut v = plan_json(plan, &ctx.plan.warnings, &global.file.display().to_string());
        v["state"] = json!({
            "status": state.status,
            "position": state.position,
            "current": state.current().map(|c| c.id.clone()),
            "serial": state.serial,
            "plan_compatible": incompatible.is_none(),
            "plan_problem": incompatible.as_ref().map(ToString::to_string),
        });
        v["next"] = preview_json(&preview);
        v["drift"] = drift_json(&live);
        ctx.printer.json(&v);
        return done(incompatible);
    }
    let mut out = String::new();
    if let Some(e) = &incompatible {
        out.push_str(&incompatible_banner(e));
    }
    out.push_str(&plan_text_with_state(plan, &state));
    out.push('\n');
    out.push_str(&preview_text(&preview, state.status));
    let drift = drift_text(&live);
    if !drift.is_empty() {
        out.push('\n');
        out.push_str(&drift);
    }
    ctx.printer.out(&out);
    done(incompatible)
}

/// The first lines of `status` and `plan` when the plan no longer fits
/// the migration: that, and why.
pub fn incompatible_banner(e: &crate::engine::EngineError) -> String {
    format!("PLAN INCOMPATIBLE — `migrate advance` refuses to run (exit 2): {e}\n\n")
}

/// `advance --dry-run`: what it would change, changing nothing.
pub async fn preview(
    ctx: &super::Ctx,
    engine: &crate::engine::Engine<'_>,
    limit: &crate::engine::advance::Limit,
) -> anyhow::Result<ExitCode> {
    use crate::engine::advance::Limit;
    let state = current_state(engine).await?;
    if let Some(e) = crate::engine::incompatible(engine.plan, &state) {
        // What advance would say.
        return Err(super::engine_error(e));
    }
    let mut p = engine.preview(&state).await;
    match limit {
        Limit::All => {}
        Limit::Steps(n) => {
            if p.changes.len() > *n {
                p.changes.truncate(*n);
                p.then = None;
            }
        }
        Limit::To(id) => {
            if let Some(i) = p.changes.iter().position(|c| &c.step == id) {
                p.changes.truncate(i + 1);
                p.then = None;
            }
        }
    }
    if let Some(o) = crate::engine::advance::blocked(&state) {
        let (_, text) = super::describe(&o);
        if ctx.printer.json {
            ctx.emit_json(json!({"type": "summary", "command": "advance", "dry_run": true, "message": text, "changes": []}));
        } else {
            ctx.printer
                .out(&format!("Dry run: advance would not run a step. {text}"));
        }
        return Ok(ExitCode::Ok);
    }
    if ctx.printer.json {
        ctx.emit_json(json!({"type": "summary", "command": "advance", "dry_run": true, "next": preview_json(&p)}));
    } else {
        ctx.printer.out(&format!(
            "Dry run — nothing was changed.\n{}",
            preview_text(&p, state.status)
        ));
    }
    Ok(ExitCode::Ok)
}

/// The state as stored, or a fresh one for a migration not started yet,
/// with the plan's steps either way.
pub async fn current_state(
    engine: &crate::engine::Engine<'_>,
) -> anyhow::Result<crate::state::State> {
    let mut st = engine
        .peek()
        .await
        .map_err(super::engine_error)?
        .unwrap_or_else(|| crate::state::State::empty(&engine.plan.name));
    let infos = crate::engine::digest::step_infos(engine.plan);
    if st.steps.is_empty() {
        st.adopt_steps(&infos);
        st.status = crate::state::Status::New;
    }
    Ok(st)
}

fn plan_text_with_state(plan: &Plan, st: &crate::state::State) -> String {
    use crate::state::StepStatus;
    let mut t = table::new(&["", "Phase", "Step", "Action", "Soak", "Gates"]);
    let mut index = 0usize;
    for phase in &plan.phases {
        for (i, step) in phase.steps.iter().enumerate() {
            let rec = st.steps.get(index).filter(|r| r.id == step.id);
            let mark = match rec.map(|r| r.status) {
                Some(StepStatus::Done) => "✓",
                Some(StepStatus::Failed) => "✗",
                _ if index == st.position && st.status != crate::state::Status::New => "▶",
                Some(StepStatus::Running) => "▶",
                _ => "",
            };
            let mut row = vec![mark.to_string()];
            row.extend(step_columns(plan, phase, i, step));
            t.add_row(row);
            index += 1;
        }
    }
    format!("Plan {} — {}\n{t}\n", plan.name, st.status.words())
}

fn preview_text(p: &crate::engine::inspect::Preview, status: crate::state::Status) -> String {
    let mut out = String::new();
    if status == crate::state::Status::Completed {
        return "Every step is done.\n".to_string();
    }
    if p.changes.is_empty() {
        out.push_str("The next advance changes no target and");
    } else {
        out.push_str("The next advance would change:\n");
        for c in &p.changes {
            let from = c
                .from
                .as_ref()
                .map_or_else(|e| format!("unreadable ({e})"), ToString::to_string);
            out.push_str(&format!("  {}: {} {from} → {}\n", c.step, c.target, c.to));
        }
        out.push_str("and then");
    }
    match &p.then {
        Some((id, action)) if p.changes.is_empty() => {
            out.push_str(&format!(" stops at {id}: {action}\n"));
        }
        Some((id, action)) => out.push_str(&format!(" stop at {id}: {action}\n")),
        None if p.changes.is_empty() => out.push_str(" reaches the end of the plan\n"),
        None => out.push_str(" reach the end of the plan\n"),
    }
    out
}

fn preview_json(p: &crate::engine::inspect::Preview) -> serde_json::Value {
    json!({
        "changes": p.changes.iter().map(|c| json!({
            "step": c.step,
            "target": c.target,
            "from": c.from.as_ref().ok(),
            "error": c.from.as_ref().err(),
            "to": c.to,
        })).collect::<Vec<_>>(),
        "then": p.then.as_ref().map(|(id, action)| json!({"step": id, "action": action})),
    })
}

pub fn drift_text(live: &[crate::engine::inspect::Live]) -> String {
    let mut out = String::new();
    for l in live.iter().filter(|l| l.drifted()) {
        out.push_str(&format!(
            "DRIFT: {}: the migration set {}, it is {} now\n",
            l.target,
            l.expected,
            l.live
                .as_ref()
                .map_or_else(|e| e.clone(), ToString::to_string)
        ));
    }
    out
}

pub fn drift_json(live: &[crate::engine::inspect::Live]) -> serde_json::Value {
    json!(live
        .iter()
        .filter(|l| l.drifted())
        .map(|l| json!({"target": l.target, "expected": l.expected, "live": l.live.as_ref().ok()}))
        .collect::<Vec<_>>())
}
