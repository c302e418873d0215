//! What the commands that drive a migration share: the validated plan, the
//! state store, the providers, the event renderer, Ctrl-C handling, and the
//! engine built from them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::Global;
use crate::engine::{Engine, Interrupt, Prompter, Reconciler, Reporter, SystemClock};
use crate::error::Error;
use crate::output::events::{HumanReporter, JsonReporter};
use crate::output::Printer;
use crate::plan::{StateConfig, Validated};
use crate::providers::Registry;
use crate::state::local::LocalStore;
use crate::state::{actor, Store};

use super::load_plan;

/// How long a command waits for another run's lock before exiting 5.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

pub struct Ctx {
    pub plan: Validated,
    pub store: Box<dyn Store>,
    pub registry: Registry,
    pub printer: Printer,
    human: Option<HumanReporter>,
    json: Option<JsonReporter>,
    pub interrupt: Interrupt,
    pub reconciler: Box<dyn Reconciler>,
    pub dry_run: bool,
    command: String,
}

impl Ctx {
    pub fn new(global: &Global, printer: Printer) -> anyhow::Result<Self> {
        let plan = load_plan(&global.file, &printer)?;
        let store = store_for(global, &plan)?;
        let registry = Registry::new(&plan.plan);
        let (human, json) = if printer.json {
            (None, Some(JsonReporter::new()))
        } else {
            (
                Some(HumanReporter::new(printer.quiet, printer.verbose > 0)),
                None,
            )
        };
        let interrupt = Interrupt::default();
        let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
        Ok(Self {
            plan,
            store,
            registry,
            printer,
            human,
            json,
            interrupt,
            reconciler: super::reconciler(),
            dry_run: global.dry_run,
            command: format!("migrate {command}"),
        })
    }

    pub fn reporter(&self) -> &dyn Reporter {
        match (&self.human, &self.json) {
            (Some(h), _) => h,
            (None, Some(j)) => j,
            (None, None) => &crate::engine::events::Silent,
        }
    }

    /// Print one JSON object on the event stream (a command's summary).
    pub fn emit_json(&self, value: serde_json::Value) {
        if let Some(j) = &self.json {
            j.emit(value);
        }
    }

    pub fn engine(&self) -> Engine<'_> {
        Engine {
            plan: &self.plan.plan,
            store: self.store.as_ref(),
            providers: &self.registry,
            clock: &SystemClock,
            events: self.reporter(),
            reconciler: self.reconciler.as_ref(),
            actor: actor(),
            command: self.command.clone(),
            lock_wait: LOCK_WAIT,
            takeover: false,
            interrupt: self.interrupt.clone(),
        }
    }

    /// Ctrl-C raises the interrupt (the engine stops at the next safe
    /// point); a second Ctrl-C exits at once.
    pub fn catch_interrupt(&self) {
        let flag = self.interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.raise();
                eprintln!(
                    "\ninterrupted: stopping at the next safe point (Ctrl-C again to quit now)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }

    /// A prompter when a person is at a terminal (and output is for people).
    pub fn prompter(&self) -> Option<TerminalPrompter> {
        (!self.printer.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal())
            .then_some(TerminalPrompter)
    }
}

/// Where the migration's state lives: `--state-dir`, else `settings.state`,
/// else `.migrate` next to the plan.
pub fn store_for(global: &Global, plan: &Validated) -> anyhow::Result<Box<dyn Store>> {
    let plan_dir = global
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = &plan.plan.name;
    if let Some(dir) = &global.state_dir {
        return Ok(Box::new(LocalStore::new(dir, name)));
    }
    match &plan.plan.settings.state {
        StateConfig::Local { dir: Some(d) } => {
            Ok(Box::new(LocalStore::new(&plan_dir.join(d.expose()), name)))
        }
        StateConfig::Local { dir: None } => Ok(Box::new(LocalStore::new(&plan_dir.join(".migrate"), name))),
        StateConfig::Postgres { .. } => Err(Error::Usage(
            "settings.state.backend: postgres is not supported by this build of migrate; use the local backend (remove settings.state, or --state-dir DIR)".into(),
        )
        .into()),
    }
}

pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn confirm(&self, message: &str) -> anyhow::Result<bool> {
        Ok(dialoguer::Confirm::new()
            .with_prompt(message)
            .default(false)
            .interact_on(&dialoguer::console::Term::stderr())?)
    }
}
