//! What the commands that drive a migration share: the validated plan, the
//! state store, the providers, the event renderer, Ctrl-C handling, and the
//! engine built from them.

use std::io::IsTerminal;
use std::time::Duration;

use std::sync::Arc;

use crate::app::notify::{preview, Notify, Notifying, Options, FLUSH};
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
    events: Notifying<Render>,
    pub interrupt: Interrupt,
    pub reconciler: Box<dyn Reconciler>,
    pub dry_run: bool,
    command: String,
}

impl Ctx {
    pub fn new(global: &Global, printer: Printer) -> anyhow::Result<Self> {
        Self::open(global, printer, false)
    }

    /// A command that drives the migration (advance, rollback, retry,
    /// resume): it also tells the plan's notifiers (`settings.notify`).
    pub fn notifying(global: &Global, printer: Printer) -> anyhow::Result<Self> {
        Self::open(global, printer, true)
    }

    fn open(global: &Global, printer: Printer, notifying: bool) -> anyhow::Result<Self> {
        let plan = load_plan(&global.file, &printer)?;
        crate::app::plan_file::say_security_notices(&plan.plan, &printer);
        let store = store_for(global, &plan)?;
        let registry = Registry::new(&plan.plan);
        let render = if printer.json {
            Render::Json(JsonReporter::new())
        } else {
            Render::Human(HumanReporter::new(printer.quiet, printer.verbose > 0))
        };
        // Nothing is sent on a dry run (`--dry-run` says what would be).
        let notify = if global.dry_run || !notifying {
            None
        } else {
            Notify::start(
                &plan.plan,
                &registry,
                Options::COMMAND,
                Arc::new(move |m: &str| printer.err(m)),
            )
            .map(Arc::new)
        };
        let interrupt = Interrupt::default();
        let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
        Ok(Self {
            plan,
            store,
            registry,
            printer,
            events: Notifying {
                inner: render,
                notify,
            },
            interrupt,
            reconciler: super::reconciler(),
            dry_run: global.dry_run,
            command: format!("migrate {command}"),
        })
    }

    pub fn reporter(&self) -> &dyn Reporter {
        &self.events
    }

    /// Print one JSON object on the event stream (a command's summary).
    pub fn emit_json(&self, value: serde_json::Value) {
        if let Render::Json(j) = &self.events.inner {
            j.emit(value);
        }
    }

    /// Tell the notifiers what the migration's state says holds now (what
    /// fires, what cleared). A state that cannot be read is left for the
    /// next look.
    pub async fn observe(&self) {
        if let Some(n) = &self.events.notify {
            if let Ok(state) = self.store.load().await {
                n.observe(&self.plan.plan, state.as_ref());
            }
        }
    }

    /// At the end of a command: observe the state once more, then give the
    /// notifications still queued a short, bounded time to go.
    pub async fn finish(&self) {
        if let Some(n) = &self.events.notify {
            if let Ok(state) = self.store.load().await {
                n.observe(&self.plan.plan, state.as_ref());
            }
            n.finish(FLUSH).await;
        }
    }

    /// `--dry-run`: what the notifiers would be sent now.
    pub async fn preview_notify(&self) {
        if self.plan.plan.settings.notify.is_empty() || self.printer.json {
            return;
        }
        let state = self.store.load().await.ok().flatten();
        let lines = preview(&self.plan.plan, &self.registry, state.as_ref());
        if !lines.is_empty() {
            self.printer.out(&format!(
                "Notifications (not sent on a dry run):\n  {}",
                lines.join("\n  ")
            ));
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

/// How events are rendered.
enum Render {
    Human(HumanReporter),
    Json(JsonReporter),
}

impl Reporter for Render {
    fn event(&self, event: &crate::engine::Event) {
        match self {
            Render::Human(h) => h.event(event),
            Render::Json(j) => j.event(event),
        }
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
