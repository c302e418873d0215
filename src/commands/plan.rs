//! `migrate plan`: the expanded steps, what each does in words, soaks and
//! gates, the least total time, and counts.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cli::{Global, PlanArgs};
use crate::error::ExitCode;
use crate::output::{plural, table, Printer};
use crate::plan::describe::{self, duration_words};
use crate::plan::{Plan, StepKind};

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

pub fn plan_text(plan: &Plan) -> String {
    let mut t = table::new(&["Phase", "Step", "Action", "Soak", "Gates", "Notes"]);
    for phase in &plan.phases {
        for (i, step) in phase.steps.iter().enumerate() {
            let (soak, gates) = match &step.kind {
                StepKind::Soak { duration, gates } => (duration_words(*duration), gates.join(", ")),
                StepKind::Check { gates, .. } => (String::new(), gates.join(", ")),
                _ => (String::new(), String::new()),
            };
            t.add_row(vec![
                if i == 0 {
                    phase.name.clone()
                } else {
                    String::new()
                },
                step.id.clone(),
                describe::step(plan, step),
                soak,
                gates,
                notes(step),
            ]);
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
