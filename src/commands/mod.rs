//! One module per verb, each thin: load what it needs, call the library,
//! hand the result to the printer.

mod advance;
mod check;
pub mod completions;
pub mod context;
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

pub use crate::app::outcome::{describe, outcome_name};
pub use crate::app::plan_file::{diagnostics_json, load_plan, read_plan_text};
pub use crate::app::reconciler::reconciler;
pub use context::Ctx;

use futures_util::future::BoxFuture;

use crate::cli::{Cli, Command, DemoArgs};
use crate::error::ExitCode;
use crate::output::Printer;

/// How `migrate demo` runs: the demo lives in the binary, not in this
/// library, and is handed in by `main`.
pub type Demo = fn(DemoArgs, Printer) -> BoxFuture<'static, anyhow::Result<ExitCode>>;

pub fn run(cli: Cli, demo: Demo) -> anyhow::Result<ExitCode> {
    let printer = Printer::new(&cli.global);
    let json = printer.json;
    let command = command_name(&cli.command);
    let result = dispatch(cli, printer, demo);
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

fn dispatch(cli: Cli, printer: Printer, demo: Demo) -> anyhow::Result<ExitCode> {
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
                    Command::Demo(args) => demo(args, printer).await,
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

/// An engine error, for `main` (which maps it to its exit code).
pub fn engine_error(e: crate::engine::EngineError) -> anyhow::Error {
    e.into()
}
