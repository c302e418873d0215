//! The migration engine: a durable, level-triggered state machine over the
//! plan's steps.
//!
//! Each step is executed the same way whatever happened before: compute
//! what the step wants, record the intent, set it (absolute, never an
//! increment), read it back, record it applied — so a run killed at any
//! moment resumes by doing the in-flight step again, harmlessly. The lock
//! is held only while the state changes; soaks, hooks and reconciliations
//! run without it, so `rollback` from another terminal is always possible.

pub mod advance;
mod baseline;
pub mod clock;
mod converge;
pub mod digest;
pub mod events;
pub mod gates;
pub mod hooks;
pub mod inspect;
pub mod rollback;
pub mod targets;
pub mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use clock::{Clock, ManualClock, SystemClock};
pub use events::{Event, Reporter};

use crate::plan::{Plan, Step};
use crate::providers::Registry;
use crate::state::{
    hostname, Entry, Holder, LockGuard, State, Status, Store, StoreError, Timestamp,
};

/// Runs a reconciliation for the engine (`reconcile` steps, `parity` gates).
#[async_trait]
pub trait Reconciler: Send + Sync {
    async fn reconcile(
        &self,
        plan: &Plan,
        name: &str,
        repair: bool,
        events: &dyn Reporter,
    ) -> anyhow::Result<ReconcileResult>;
}

/// What the engine keeps of a reconciliation: what it decides on, typed,
/// and the report as it is journaled.
#[derive(Clone, Debug)]
pub struct ReconcileResult {
    pub parity: f64,
    /// Every row was compared (`false`: a continuous reconciliation whose
    /// first full sweep is not over — the parity says nothing of the rest).
    pub complete: bool,
    /// Rows compared so far, while not complete.
    pub swept: Option<u64>,
    /// Rows a repair could not write, and the first of them.
    pub unrepaired: u64,
    pub first_unrepaired: Option<crate::reconcile::repair::Unrepaired>,
    /// The report, as journaled (for people and `history`).
    pub summary: serde_json::Value,
}

impl ReconcileResult {
    /// A complete result with nothing unrepaired.
    pub fn complete(parity: f64, summary: serde_json::Value) -> Self {
        Self {
            parity,
            complete: true,
            swept: None,
            unrepaired: 0,
            first_unrepaired: None,
            summary,
        }
    }

    /// The journal entry that records it.
    pub fn entry(&self, name: &str) -> Entry {
        Entry::Reconciled {
            name: name.to_string(),
            parity: self.parity,
            complete: Some(self.complete),
            swept: self.swept,
            summary: self.summary.clone(),
        }
    }
}

/// Asks a person (on a terminal) to approve a step.
pub trait Prompter: Send + Sync {
    fn confirm(&self, message: &str) -> anyhow::Result<bool>;
}

/// Errors that decide the exit code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    PlanChanged(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Drift(String),
    #[error("step {step} failed: {error}")]
    StepFailed { step: String, error: String },
}

/// Set when the user presses Ctrl-C: the engine stops at the next safe
/// point (never between an intent and its verification).
#[derive(Clone, Default)]
pub struct Interrupt(Arc<(AtomicBool, tokio::sync::Notify)>);

impl Interrupt {
    pub fn raise(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    pub fn raised(&self) -> bool {
        self.0 .0.load(Ordering::SeqCst)
    }

    /// Wait until it is raised (at once if it was).
    pub async fn wait(&self) {
        loop {
            let notified = self.0 .1.notified();
            if self.raised() {
                return;
            }
            notified.await;
        }
    }
}

pub struct Engine<'a> {
    pub plan: &'a Plan,
    pub store: &'a dyn Store,
    pub providers: &'a Registry,
    pub clock: &'a dyn Clock,
    pub events: &'a dyn Reporter,
    pub reconciler: &'a dyn Reconciler,
    pub actor: String,
    /// The command line, for the lock's holder details.
    pub command: String,
    /// How long to wait for another run's lock before giving up (exit 5).
    pub lock_wait: Duration,
    /// Take the lock from a live holder where the backend allows it, and
    /// rebuild a damaged state rather than refuse (`rollback` must always
    /// be possible).
    pub takeover: bool,
    pub interrupt: Interrupt,
}

/// The lock, and the state read under it.
pub struct Session {
    pub guard: Box<dyn LockGuard>,
    pub state: State,
}

impl Engine<'_> {
    pub fn now(&self) -> Timestamp {
        Timestamp::new(self.clock.now())
    }

    pub fn steps(&self) -> Vec<&Step> {
        self.plan.steps().collect()
    }

    fn holder(&self) -> Holder {
        Holder {
            actor: self.actor.clone(),
            host: hostname(),
            pid: std::process::id(),
            command: self.command.clone(),
            since: self.now(),
        }
    }

    /// The state as it is on disk, without locking (`None`: never started).
    pub async fn peek(&self) -> Result<Option<State>, EngineError> {
        Ok(self.store.load().await?)
    }

    /// Take the lock and read the state, checking it against the plan:
    /// completed steps must be unchanged; changes to steps not yet run are
    /// taken in (and journaled) when `write` is set.
    pub async fn session(&self, write: bool) -> Result<Session, EngineError> {
        let mut s = self.session_unchecked().await?;
        self.sync_plan(&mut s, write).await?;
        Ok(s)
    }

    /// Take the lock and read the state without checking it against the
    /// plan: for guarding a soak (by the gates kept in the state) before
    /// the plan is looked at. Call [`Self::sync_plan`] before running steps.
    pub async fn session_unchecked(&self) -> Result<Session, EngineError> {
        let guard = self
            .store
            .lock(&self.holder(), self.lock_wait, self.takeover)
            .await?;
        if let Some(h) = guard.stale_previous() {
            self.events.event(&Event::Note {
                message: format!(
                    "an earlier run by {} (pid {}, `{}`) stopped while changing the state; carrying on from what its journal recorded",
                    h.actor, h.pid, h.command
                ),
            });
        }
        let loaded = match self.store.load().await {
            // A rollback must work whatever is damaged: it rebuilds the
            // state from what can be read, as `migrate state rebuild` does.
            Err(e) if self.takeover && e.is_damage() => {
                Some(self.rebuild_for_rollback(guard.as_ref(), &e).await?)
            }
            loaded => loaded?,
        };
        let state = loaded.unwrap_or_else(|| State::empty(&self.plan.name));
        self.store.catch_up(guard.as_ref(), &state).await?;
        Ok(Session { guard, state })
    }

    /// The state rebuilt from what can be read, after `damage`; says what
    /// was done.
    async fn rebuild_for_rollback(
        &self,
        guard: &dyn LockGuard,
        damage: &StoreError,
    ) -> Result<State, EngineError> {
        let first = damage.to_string();
        let first = first.lines().next().unwrap_or_default();
        let Some(rec) = self
            .store
            .rebuild(guard, &self.actor, self.now(), "migrate rollback")
            .await?
        else {
            return Err(StoreError::Unrecoverable {
                location: self.store.location(),
                detail: format!("{first}, and nothing else is there"),
            }
            .into());
        };
        let mut message = format!(
            "{first}: rebuilt the state from {} journal record{}{} before rolling back",
            rec.kept,
            if rec.kept == 1 { "" } else { "s" },
            if rec.from_checkpoint {
                " and the state checkpoint"
            } else {
                ""
            }
        );
        for line in rec.lines() {
            message.push_str("\n  ");
            message.push_str(&line);
        }
        self.events.event(&Event::Warning { message });
        Ok(rec.state)
    }

    /// Journal `entries`, fold them into the session's state, and — once
    /// they are durable — tell each as its event ([`Event::of`]): the
    /// one place a journaled change is said, so the two cannot disagree.
    pub async fn commit(&self, s: &mut Session, entries: Vec<Entry>) -> Result<(), EngineError> {
        let now = self.now();
        let steps = self.plan.steps().count();
        let told: Vec<Event> = entries
            .iter()
            .filter_map(|e| Event::of(e, &self.actor, now, steps))
            .collect();
        self.store
            .commit(s.guard.as_ref(), &mut s.state, &self.actor, now, entries)
            .await?;
        for event in &told {
            self.events.event(event);
        }
        Ok(())
    }

    /// Journal a pause and report it. `breach`: a gate paused the
    /// migration, not an operator.
    pub async fn record_pause(
        &self,
        s: &mut Session,
        reason: &str,
        breach: bool,
    ) -> Result<(), EngineError> {
        self.commit(
            s,
            vec![Entry::Paused {
                reason: reason.to_string(),
                breach,
            }],
        )
        .await
    }

    /// Check the state against the plan: completed steps must be
    /// unchanged; changes to steps not yet run are taken in (and
    /// journaled) when `write` is set.
    pub async fn sync_plan(&self, s: &mut Session, write: bool) -> Result<(), EngineError> {
        let infos = digest::step_infos(self.plan);
        if s.state.steps.is_empty() && s.state.status == Status::New {
            if write {
                self.commit(s, vec![Entry::Started { steps: infos }])
                    .await?;
            } else {
                s.state.adopt_steps(&infos);
                s.state.status = Status::New;
            }
            return Ok(());
        }
        if let Some(e) = incompatible(self.plan, &s.state) {
            return Err(e);
        }
        let settled = s.state.position.min(s.state.steps.len());
        let mut changed: Vec<String> = infos
            .iter()
            .enumerate()
            .skip(settled)
            .filter(|(i, info)| {
                s.state
                    .steps
                    .get(*i)
                    .is_none_or(|r| r.id != info.id || r.digest != info.digest)
            })
            .map(|(_, info)| info.id.clone())
            .collect();
        changed.extend(
            s.state
                .steps
                .iter()
                .skip(infos.len().max(settled))
                .map(|r| format!("{} (removed)", r.id)),
        );
        if changed.is_empty() {
            return Ok(());
        }
        if write {
            self.events.event(&Event::Note {
                message: format!(
                    "the plan changed in steps not yet run ({}); carrying on with the new plan",
                    changed.join(", ")
                ),
            });
            self.commit(
                s,
                vec![Entry::PlanChanged {
                    changed,
                    steps: infos,
                }],
            )
            .await?;
        } else {
            s.state.adopt_steps(&infos);
        }
        Ok(())
    }

    /// The plan's step at the state's position.
    pub fn step_at(&self, index: usize) -> Option<&Step> {
        self.plan.steps().nth(index)
    }
}

/// Whether `state` can carry on with `plan`: the steps the migration has
/// done must be as they were. `Some`: why not (exit 2), in words that say
/// what to do.
pub fn incompatible(plan: &Plan, state: &State) -> Option<EngineError> {
    let infos = digest::step_infos(plan);
    let settled = state.position.min(state.steps.len());
    let mut problems = Vec::new();
    for (i, rec) in state.steps.iter().take(settled).enumerate() {
        match infos.get(i) {
            Some(info) if info.id == rec.id && info.digest == rec.digest => {}
            Some(info) if info.id == rec.id => problems.push(format!(
                "  step {} (done): was “{}”, now “{}”",
                rec.id, rec.action, info.action
            )),
            Some(info) => problems.push(format!(
                "  position {}: step {} (done) “{}” is now step {} “{}”",
                i + 1,
                rec.id,
                rec.action,
                info.id,
                info.action
            )),
            None => problems.push(format!(
                "  step {} (done) “{}” is no longer in the plan",
                rec.id, rec.action
            )),
        }
    }
    (!problems.is_empty()).then(|| {
        EngineError::PlanChanged(format!(
            "the plan changed under a running migration: steps it has already run must not change\n{}\n  Put those steps back as they were; to change them, roll back first (migrate rollback --to <an earlier step>).",
            problems.join("\n")
        ))
    })
}

#[cfg(test)]
mod tests;
