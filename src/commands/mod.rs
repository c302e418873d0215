//! One module per verb, each thin: load what it needs, call the library,
//! hand the result to the printer.

mod advance;
mod check;
pub mod completions;
pub mod context;
mod demo;
mod history;
mod pause;
mod plan;
mod reconcile;
mod retry;
mod rollback;
mod schema;
mod state;
mod status;
mod supervise;
mod unlock;
mod validate;

pub use advance::{describe, outcome_name};
pub use context::Ctx;

use std::path::Path;

use crate::cli::{Cli, Command};
use crate::error::{Error, ExitCode};
use crate::output::{plural, Printer};
use crate::plan::{self as planlib, Diagnostic, ProcessEnv, Validated};
use crate::redact::SecretEnv;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let printer = Printer::new(&cli.global);
    let g = &cli.global;
    match cli.command {
        Command::Validate => validate::run(g, &printer),
        Command::Plan(args) if args.offline => plan::run(g, &args, &printer),
        Command::Reconcile(args) => reconcile::run(g, &args, &printer),
        Command::Schema => schema::run(&printer),
        Command::Completions { shell } => completions::run(shell),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| Error::Usage(format!("starting the runtime: {e}")))?;
            runtime.block_on(async move {
                match command {
                    Command::Plan(args) => plan::run_live(g, &args, printer).await,
                    Command::Advance(args) => advance::run(g, &args, printer).await,
                    Command::Rollback(args) => rollback::run(g, &args, printer).await,
                    Command::Status(args) => status::run(g, &args, printer).await,
                    Command::History(args) => history::run(g, &args, printer).await,
                    Command::Pause(args) => pause::pause(g, &args, printer).await,
                    Command::Resume => pause::resume(g, printer).await,
                    Command::Retry => retry::run(g, printer).await,
                    Command::Check(args) => check::run(g, &args, printer).await,
                    Command::Demo(args) => demo::run(&args, printer).await,
                    Command::Unlock(args) => unlock::run(g, &args, printer).await,
                    Command::State(cmd) => state::run(g, &cmd, printer).await,
                    Command::Supervise(args) => supervise::run(g, &args, printer).await,
                    Command::Validate
                    | Command::Schema
                    | Command::Completions { .. }
                    | Command::Reconcile(_) => Ok(ExitCode::Ok),
                }
            })
        }
    }
}

/// The plan file's text, or a usage error that names the file.
pub fn read_plan_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (pass -f PLAN or set MIGRATE_PLAN)"
        } else {
            ""
        };
        Error::Usage(format!("cannot read plan {}: {e}{hint}", path.display()))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Error::Usage(format!(
            "{} is not a text file: invalid UTF-8 at byte {}",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
        .into()
    })
}

/// Read and validate the plan named by `-f`; on errors, show them (human:
/// stderr; json: the diagnostics document on stdout) and fail with exit 2.
pub fn load_plan(file: &Path, printer: &Printer) -> anyhow::Result<Validated> {
    let text = read_plan_text(file)?;
    let name = file.display().to_string();
    match planlib::validate(
        &text,
        &SecretEnv::new(ProcessEnv),
        crate::providers::catalog(),
    ) {
        Ok(v) => {
            if !printer.json {
                printer.diagnostics(&name, &text, &v.warnings);
            }
            Ok(v)
        }
        Err(diags) => {
            report_invalid(&name, &text, &diags, printer);
            Err(Error::InvalidPlan {
                file: name,
                errors: diags.iter().filter(|d| d.is_error()).count(),
            }
            .into())
        }
    }
}

/// The diagnostics document of `validate -o json`.
pub fn diagnostics_json(file: &str, diags: &[Diagnostic], valid: bool) -> serde_json::Value {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    serde_json::json!({
        "schema": "migrate.diagnostics/v1",
        "file": file,
        "valid": valid,
        "errors": errors,
        "warnings": diags.len() - errors,
        "diagnostics": diags.iter().map(|d| d.to_json(file)).collect::<Vec<_>>(),
    })
}

fn report_invalid(file: &str, text: &str, diags: &[Diagnostic], printer: &Printer) {
    if printer.json {
        printer.json(&diagnostics_json(file, diags, false));
        return;
    }
    printer.diagnostics(file, text, diags);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let mut summary = format!("{file}: {}", plural(errors, "error"));
    if warnings > 0 {
        summary.push_str(&format!(", {}", plural(warnings, "warning")));
    }
    let missing = planlib::diag::missing_vars(diags);
    if !missing.is_empty() {
        summary.push_str(&format!(
            "\n{} not set: {}",
            plural(missing.len(), "environment variable"),
            missing.join(", ")
        ));
    }
    printer.err(&summary);
}

/// An engine error, for `main` (which maps it to its exit code).
pub fn engine_error(e: crate::engine::EngineError) -> anyhow::Error {
    e.into()
}

/// The reconciler the engine uses for `reconcile` steps and parity gates:
/// the real one, reporting progress as engine events.
pub fn reconciler() -> Box<dyn crate::engine::Reconciler> {
    Box::new(PlanReconciler)
}

struct PlanReconciler;

/// Reconciliation progress as engine events (for the bar and the stream).
struct EventProgress<'a> {
    name: &'a str,
    events: &'a dyn crate::engine::Reporter,
    done: std::sync::atomic::AtomicU64,
    total: std::sync::Mutex<Option<u64>>,
}

impl crate::reconcile::Progress for EventProgress<'_> {
    fn started(&self, estimate: Option<u64>) {
        if let Ok(mut t) = self.total.lock() {
            *t = estimate;
        }
    }

    fn advanced(&self, rows: u64) {
        let done = self
            .done
            .fetch_add(rows, std::sync::atomic::Ordering::Relaxed)
            + rows;
        let total = self.total.lock().ok().and_then(|t| *t);
        self.events.event(&crate::engine::Event::ReconcileProgress {
            name: self.name.to_string(),
            done,
            total: total.map(|t| t.max(done)),
        });
    }
}

#[async_trait::async_trait]
impl crate::engine::Reconciler for PlanReconciler {
    async fn reconcile(
        &self,
        plan: &crate::plan::Plan,
        name: &str,
        repair: bool,
        events: &dyn crate::engine::Reporter,
    ) -> anyhow::Result<crate::engine::ReconcileResult> {
        use crate::engine::Event;
        events.event(&Event::ReconcileStarted {
            name: name.to_string(),
        });
        let progress = EventProgress {
            name,
            events,
            done: std::sync::atomic::AtomicU64::new(0),
            total: std::sync::Mutex::new(None),
        };
        let opts = crate::reconcile::Options {
            repair,
            ..crate::reconcile::Options::default()
        };
        let summary = crate::reconcile::run(plan, name, &opts, &progress).await?;
        let value = serde_json::to_value(&summary)?;
        let parity = summary.final_parity();
        events.event(&Event::ReconcileFinished {
            name: name.to_string(),
            parity,
            summary: value.clone(),
        });
        Ok(crate::engine::ReconcileResult {
            parity,
            summary: value,
        })
    }
}
