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
    let json = printer.json;
    let command = command_name(&cli.command);
    let result = dispatch(cli, printer);
    // `validate`, `schema` and `completions` print one document (the
    // diagnostics document is validate's summary); the others a stream.
    let one_document = matches!(command, "validate" | "schema" | "completions");
    if let Err(err) = &result {
        if json && !one_document {
            // Whatever the command and however it failed, a program
            // reading the stream gets its summary (the error itself goes
            // to stderr too, from `main`).
            crate::output::events::JsonReporter::new().emit(error_summary(command, err));
        }
    }
    result
}

/// The name a command's `summary` object gives it.
fn command_name(command: &Command) -> &'static str {
    use crate::cli::StateCommand;
    match command {
        Command::Demo(_) => "demo",
        Command::Validate => "validate",
        Command::Plan(_) => "plan",
        Command::Advance(_) => "advance",
        Command::Rollback(_) => "rollback",
        Command::Status(_) => "status",
        Command::History(_) => "history",
        Command::Pause(_) => "pause",
        Command::Resume => "resume",
        Command::Retry => "retry",
        Command::Check(_) => "check",
        Command::Unlock(_) => "unlock",
        Command::State(StateCommand::Rebuild) => "state rebuild",
        Command::State(StateCommand::Push(_)) => "state push",
        Command::State(StateCommand::Pull(_)) => "state pull",
        Command::Reconcile(_) => "reconcile",
        Command::Supervise(_) => "supervise",
        Command::Schema => "schema",
        Command::Completions { .. } => "completions",
    }
}

/// The `summary` object of a command that ended with an error.
pub fn error_summary(command: &str, err: &anyhow::Error) -> serde_json::Value {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        message.push_str(&format!("\n  caused by: {cause}"));
    }
    serde_json::json!({
        "type": "summary",
        "command": command,
        "outcome": "error",
        "message": crate::redact::clean(&message),
        "exit_code": crate::error::exit_code_of(err).code(),
    })
}

fn dispatch(cli: Cli, printer: Printer) -> anyhow::Result<ExitCode> {
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
                // The machine is short of something (file descriptors,
                // memory): a runtime error, safe to retry — not a usage
                // error (exit 2 tells a pipeline to fix the plan).
                .map_err(|e| anyhow::anyhow!("starting the runtime: {e} (try again)"))?;
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
    let bytes = std::fs::read(path).map_err(|e| -> anyhow::Error {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => Error::Usage(format!(
                "cannot read plan {}: {e} (pass -f PLAN or set MIGRATE_PLAN)",
                path.display()
            ))
            .into(),
            ErrorKind::PermissionDenied | ErrorKind::IsADirectory | ErrorKind::InvalidInput => {
                Error::Usage(format!("cannot read plan {}: {e}", path.display())).into()
            }
            // Out of file descriptors or memory, an I/O error: the plan may
            // be fine; a runtime error, safe to retry.
            _ => anyhow::anyhow!("cannot read plan {}: {e} (try again)", path.display()),
        }
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
