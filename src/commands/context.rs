//! What the commands that drive a migration share: the validated plan, the
//! state store, the providers, the event renderer, Ctrl-C handling, and the
//! engine built from them.

use std::io::IsTerminal;
use std::time::Duration;

use crate::app::{EngineParts, Lock};
use crate::cli::Global;
use crate::engine::{Engine, Interrupt, Prompter, Reconciler, Reporter};
use crate::output::events::{HumanReporter, JsonReporter};
use crate::output::Printer;
use crate::plan::Validated;
use crate::providers::Registry;
use crate::state::{actor, Store};

use super::load_plan;
use crate::app::store::store_for;

/// How long a command waits for another run's lock before exiting 5.
pub const LOCK_WAIT: Duration = Lock::COMMAND.wait;

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
        crate::app::plan_file::say_security_notices(&plan.plan, &printer);
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

    /// The engine a command drives (a rollback's takes the lock over:
    /// [`Self::rollback_engine`]).
    pub fn engine(&self) -> Engine<'_> {
        self.parts().engine(Lock::COMMAND)
    }

    /// The engine of `rollback`, which must always be possible.
    pub fn rollback_engine(&self) -> Engine<'_> {
        self.parts().engine(Lock::ROLLBACK)
    }

    fn parts(&self) -> EngineParts<'_> {
        EngineParts {
            plan: &self.plan.plan,
            store: self.store.as_ref(),
            providers: &self.registry,
            events: self.reporter(),
            reconciler: self.reconciler.as_ref(),
            actor: actor(),
            command: self.command.clone(),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Ctrl-C raises the interrupt (the engine stops at the next safe
    /// point); a second Ctrl-C exits at once.
    pub fn catch_interrupt(&self) {
        crate::app::interrupt::catch(crate::app::interrupt::Signals::interrupt(
            &self.interrupt,
            &self.printer,
        ));
    }

    /// A prompter when a person is at a terminal (and output is for people).
    pub fn prompter(&self) -> Option<TerminalPrompter> {
        (!self.printer.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal())
            .then_some(TerminalPrompter)
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
