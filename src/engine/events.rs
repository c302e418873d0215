//! What the engine tells the world. The engine never prints: it emits
//! [`Event`]s to a [`Reporter`], which the binary renders for people
//! (lines, tables, progress bars) or as JSON lines.

use serde::Serialize;

use crate::state::{Entry, Target, Timestamp, Value};

/// The version of the JSON event stream (`-o json`).
pub const EVENT_SCHEMA: &str = "migrate.events/v1";

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Something worth knowing that is not a change.
    Note {
        message: String,
    },
    Warning {
        message: String,
    },
    StepStarted {
        step: String,
        phase: String,
        action: String,
        /// 1-based position in the plan, and the number of steps.
        index: usize,
        total: usize,
    },
    Baseline {
        target: Target,
        value: Value,
    },
    /// A target changes (or, with `dry_run`, would change).
    Change {
        step: String,
        target: Target,
        from: Option<Value>,
        to: Value,
        dry_run: bool,
    },
    Verified {
        step: String,
        target: Target,
        value: Value,
    },
    StepDone {
        step: String,
        note: Option<String>,
    },
    StepFailed {
        step: String,
        error: String,
    },
    SoakStarted {
        step: String,
        duration_ms: u64,
        ends_at: String,
    },
    SoakProgress {
        step: String,
        elapsed_ms: u64,
        duration_ms: u64,
    },
    Gate {
        step: Option<String>,
        gate: String,
        value: Option<f64>,
        /// No data because the source said NaN (`value` is null).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        nan: bool,
        ok: bool,
        threshold: String,
        breaches: u32,
        failure_limit: u32,
        note: Option<String>,
        /// A `compare` gate's evidence: each arm, the ratio with its
        /// always-valid interval, the statistic against its threshold.
        #[serde(skip_serializing_if = "Option::is_none")]
        evidence: Option<crate::domain::compare::Evidence>,
    },
    Breach {
        step: Option<String>,
        gate: String,
        value: Option<f64>,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        evidence: Option<crate::domain::compare::Evidence>,
    },
    /// Nothing more can be done now: a soak runs, or a person must approve.
    Waiting {
        step: String,
        reason: String,
        remaining_ms: Option<u64>,
    },
    /// A live value differs from what the state says it should be.
    Drift {
        target: Target,
        expected: Value,
        live: Option<Value>,
        error: Option<String>,
    },
    ApprovalNeeded {
        step: String,
        message: String,
    },
    Approved {
        step: String,
        by: String,
    },
    RollbackStarted {
        reason: String,
        to: Option<String>,
        targets: usize,
        /// `rollback --legacy`: to the legacy side, not to baselines.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        legacy: bool,
    },
    Restored {
        target: Target,
        from: Option<Value>,
        to: Value,
        dry_run: bool,
    },
    RestoreFailed {
        target: Target,
        error: String,
        /// Whether it is still being retried.
        retrying: bool,
    },
    RollbackFinished {
        remaining: Vec<String>,
        seconds: f64,
    },
    ReconcileStarted {
        name: String,
    },
    ReconcileProgress {
        name: String,
        done: u64,
        total: Option<u64>,
    },
    ReconcileFinished {
        name: String,
        parity: f64,
        summary: serde_json::Value,
    },
    HookOutput {
        step: String,
        text: String,
    },
    Paused {
        by: String,
        reason: String,
    },
    Resumed {
        by: String,
    },
    Retried {
        phase: String,
        step: String,
    },
    Completed {
        steps: usize,
    },
}

impl Event {
    /// The event a journal entry is told as, when it is one people hear
    /// of: [`super::Engine::commit`] emits it once the entry is durable,
    /// so what the journal holds and what is said cannot drift apart.
    /// `actor` is who wrote it, `now` when, `steps` the plan's length.
    /// `None`: an entry of bookkeeping (the plan's steps, a claim, a
    /// lock, a recovery, a value applied but not yet read back), or one
    /// said by the evaluator with what the journal does not repeat (a
    /// gate reading and its thresholds, a reconciliation's result).
    pub fn of(entry: &Entry, actor: &str, now: Timestamp, steps: usize) -> Option<Event> {
        Some(match entry {
            Entry::Baseline { target, value, .. } => Event::Baseline {
                target: target.clone(),
                value: value.clone(),
            },
            Entry::Intended {
                step,
                target,
                before,
                after,
            } => Event::Change {
                step: step.clone(),
                target: target.clone(),
                from: before.clone(),
                to: after.clone(),
                dry_run: false,
            },
            Entry::Verified {
                step,
                target,
                value,
            } => Event::Verified {
                step: step.clone(),
                target: target.clone(),
                value: value.clone(),
            },
            Entry::StepDone { step, note } => Event::StepDone {
                step: step.clone(),
                note: note.clone(),
            },
            Entry::StepFailed { step, error } => Event::StepFailed {
                step: step.clone(),
                error: error.clone(),
            },
            Entry::SoakStarted { step, duration, .. } => Event::SoakStarted {
                step: step.clone(),
                duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                ends_at: now.plus(*duration).to_string(),
            },
            Entry::Breach {
                step,
                gate,
                value,
                reason,
                evidence,
            } => Event::Breach {
                step: step.clone(),
                gate: gate.clone(),
                value: *value,
                reason: reason.clone(),
                evidence: evidence.clone(),
            },
            Entry::Approved { step } => Event::Approved {
                step: step.clone(),
                by: actor.to_string(),
            },
            Entry::Paused { reason, .. } => Event::Paused {
                by: actor.to_string(),
                reason: reason.clone(),
            },
            Entry::Resumed => Event::Resumed {
                by: actor.to_string(),
            },
            Entry::RollbackStarted {
                reason,
                to,
                legacy,
                restore,
                ..
            } => Event::RollbackStarted {
                reason: reason.clone(),
                to: to.clone(),
                targets: restore.len(),
                legacy: *legacy,
            },
            Entry::Restored {
                target,
                before,
                value,
            } => Event::Restored {
                target: target.clone(),
                from: before.clone(),
                to: value.clone(),
                dry_run: false,
            },
            Entry::RestoreFailed { target, error } => Event::RestoreFailed {
                target: target.clone(),
                error: error.clone(),
                retrying: false,
            },
            Entry::RollbackFinished { remaining, seconds } => Event::RollbackFinished {
                remaining: remaining.clone(),
                seconds: seconds.unwrap_or_default(),
            },
            Entry::Retried { phase, step } => Event::Retried {
                phase: phase.clone(),
                step: step.clone(),
            },
            Entry::Completed => Event::Completed { steps },
            Entry::Started { .. }
            | Entry::PlanChanged { .. }
            | Entry::StepStarted { .. }
            | Entry::Applied { .. }
            | Entry::Claimed { .. }
            | Entry::Gate { .. }
            | Entry::Reconciled { .. }
            | Entry::LockBroken { .. }
            | Entry::GateChanged { .. }
            | Entry::Recovered { .. }
            | Entry::Released { .. } => return None,
        })
    }
}

/// Where events go.
pub trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
}

/// A reporter that drops everything (for previews computed internally).
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: &Event) {}
}

/// A reporter that keeps every event, for tests.
#[derive(Default)]
pub struct Recorder {
    pub events: std::sync::Mutex<Vec<Event>>,
}

impl Reporter for Recorder {
    fn event(&self, event: &Event) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }
}

impl Recorder {
    pub fn take(&self) -> Vec<Event> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}
