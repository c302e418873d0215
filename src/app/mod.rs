//! The application layer: opening a migration — its plan file
//! ([`plan_file`]), where its state lives ([`store`]), the reconciler the
//! engine calls ([`reconciler`]) — and the one place an [`Engine`] is
//! built, with one lock policy ([`Lock`]). Commands, `supervise` and the
//! demo all open migrations through it, and map an engine's outcome to an
//! exit code through [`outcome`]; Ctrl-C is caught by [`interrupt`].

pub mod interrupt;
pub mod notify;
pub mod outcome;
pub mod plan_file;
pub mod reconciler;
pub mod store;

use std::time::Duration;

use crate::engine::{Engine, Interrupt, Reconciler, Reporter, SystemClock};
use crate::plan::Plan;
use crate::providers::Registry;
use crate::state::Store;

/// How a run waits for another run's lock, and whether it may take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    /// How long to wait before giving up (exit 5).
    pub wait: Duration,
    /// Take the lock from a live holder where the backend allows it.
    pub takeover: bool,
}

impl Lock {
    /// A command run by a person or CI: waits 10 s, then exit 5.
    pub const COMMAND: Lock = Lock {
        wait: Duration::from_secs(10),
        takeover: false,
    };
    /// `rollback`: must always be possible, so it takes the lock over.
    pub const ROLLBACK: Lock = Lock {
        wait: Duration::from_secs(10),
        takeover: true,
    };
    /// A supervisor's look: waits less (it looks again soon), so that a
    /// lease it loses meanwhile is noticed sooner.
    pub const SUPERVISOR: Lock = Lock {
        wait: Duration::from_secs(5),
        takeover: false,
    };
}

/// What an engine is made of.
pub struct EngineParts<'a> {
    pub plan: &'a Plan,
    pub store: &'a dyn Store,
    pub providers: &'a Registry,
    pub events: &'a dyn Reporter,
    pub reconciler: &'a dyn Reconciler,
    /// Who acts (journaled with every change).
    pub actor: String,
    /// The command line, for the lock's holder details.
    pub command: String,
    pub interrupt: Interrupt,
}

impl<'a> EngineParts<'a> {
    /// The engine, on the system clock, with `lock`'s policy.
    pub fn engine(self, lock: Lock) -> Engine<'a> {
        Engine {
            plan: self.plan,
            store: self.store,
            providers: self.providers,
            clock: &SystemClock,
            events: self.events,
            reconciler: self.reconciler,
            actor: self.actor,
            command: self.command,
            lock_wait: lock.wait,
            takeover: lock.takeover,
            interrupt: self.interrupt,
        }
    }
}
