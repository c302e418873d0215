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
use crate::state::postgres::PgStore;
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

/// Where the migration's state lives: `--state-dir` or `--state-url`,
/// else `settings.state`, else `.migrate` next to the plan.
pub fn store_for(global: &Global, plan: &Validated) -> anyhow::Result<Box<dyn Store>> {
    if global.state_dir.is_none() {
        if let Some(store) = postgres_store(global, plan)? {
            return Ok(Box::new(store));
        }
    }
    Ok(Box::new(local_store(global, plan, None)))
}

/// The local state: `dir` (push/pull's `--dir`), else `--state-dir`, else
/// `settings.state.dir` when the plan keeps its state locally, else
/// `.migrate` next to the plan.
pub fn local_store(global: &Global, plan: &Validated, dir: Option<&Path>) -> LocalStore {
    let root = dir.map_or_else(|| local_root(global, &global.file, plan), Path::to_path_buf);
    LocalStore::new(&root, &plan.plan.name)
}

/// The local state directory (holding `<name>/`) of the plan in `file`:
/// `--state-dir`, else `settings.state.dir` (relative to the plan), else
/// `.migrate` next to the plan.
pub fn local_root(global: &Global, file: &Path, plan: &Validated) -> PathBuf {
    let plan_dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if let Some(dir) = global.state_dir.as_deref() {
        return dir.to_path_buf();
    }
    match &plan.plan.settings.state {
        StateConfig::Local { dir: Some(d) } => plan_dir.join(d.expose()),
        StateConfig::Local { dir: None } | StateConfig::Postgres { .. } => {
            plan_dir.join(".migrate")
        }
    }
}

const STATE_URL_ENV: &str = "MIGRATE_STATE_URL";

/// The PostgreSQL state, when `--state-url` (or `MIGRATE_STATE_URL`) or
/// `settings.state` names one.
pub fn postgres_store(global: &Global, plan: &Validated) -> anyhow::Result<Option<PgStore>> {
    let Some((url, shown)) = postgres_url(global, plan)? else {
        return Ok(None);
    };
    PgStore::new(&url, &shown, &plan.plan.name)
        .map(Some)
        .map_err(|e| Error::Usage(e.to_string()).into())
}

/// The PostgreSQL state's URL and how it is shown, when `--state-url`
/// (or `MIGRATE_STATE_URL`) or `settings.state` names one.
pub fn postgres_url(global: &Global, plan: &Validated) -> anyhow::Result<Option<(String, String)>> {
    let (url, shown) = match (&global.state_url, &plan.plan.settings.state) {
        (Some(url), _) => {
            // From the environment, it is shown as the variable (as a plan
            // shows `${VAR}`); typed on the command line, as typed, but for
            // its password.
            let from_env = std::env::var(STATE_URL_ENV).ok().as_deref() == Some(url.as_str());
            let shown = if from_env {
                format!("${{{STATE_URL_ENV}}}")
            } else {
                url.clone()
            };
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                crate::redact::register(url);
                return Err(Error::Usage(format!(
                    "--state-url {}: not a postgres:// URL",
                    crate::redact::clean(&crate::state::postgres::shown_url(&shown))
                ))
                .into());
            }
            (url.clone(), shown)
        }
        (None, StateConfig::Postgres { url }) => (url.expose().to_string(), url.to_string()),
        (None, StateConfig::Local { .. }) => return Ok(None),
    };
    Ok(Some((url, shown)))
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
