//! What a migration's state holds, and how a journal entry changes it.
//!
//! The journal is the truth: every change to the state is a journal
//! [`Entry`], appended (and fsynced) before the state is touched, and the
//! state is the fold of the journal ([`State::apply`]). `state.json` is a
//! checkpoint of that fold, so a damaged state file can always be rebuilt
//! from the journal, and a crash between the two writes loses nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::domain::compare::{Counters, Direction, Evidence, Track};
use crate::domain::fmt_number;
pub use crate::domain::{Target, Value};

/// The version of `state.json`'s layout.
pub const STATE_SCHEMA: u32 = 1;
/// The version of a journal line's layout.
pub const JOURNAL_SCHEMA: u32 = 1;

/// A point in time, stored as RFC 3339 UTC with milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// `t` to the millisecond, as it is stored.
    pub fn new(t: SystemTime) -> Self {
        let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let ms = Duration::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
        Timestamp(SystemTime::UNIX_EPOCH + ms)
    }

    pub fn since(self, earlier: Timestamp) -> Duration {
        self.0.duration_since(earlier.0).unwrap_or_default()
    }

    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0 + d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339(&s)
            .map(Timestamp)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing has run yet.
    New,
    /// In progress: the next `advance` carries on.
    Active,
    /// Held by someone (or by a gate's policy): `resume` releases it.
    Paused,
    /// A step failed (a hook, a provider): `advance` tries it again.
    Failed,
    /// A rollback started and has not finished.
    RollingBack,
    /// Rolled back to the baseline: `retry` starts again.
    RolledBack,
    /// A rollback could not restore everything: act now.
    RollbackIncomplete,
    /// Every step is done.
    Completed,
}

impl Status {
    pub fn words(self) -> &'static str {
        match self {
            Status::New => "not started",
            Status::Active => "in progress",
            Status::Paused => "paused",
            Status::Failed => "failed at a step",
            Status::RollingBack => "rolling back",
            Status::RolledBack => "rolled back",
            Status::RollbackIncomplete => "ROLLBACK INCOMPLETE",
            Status::Completed => "completed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Done,
    Failed,
}

/// A step as the state knows it: the plan's step at the time it was
/// recorded (its digest), and what happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub phase: String,
    pub kind: String,
    /// What the step does, in words, as the plan said when it was recorded.
    pub action: String,
    /// Digest of the step's definition (and of the providers it drives).
    pub digest: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub keep_on_rollback: bool,
    #[serde(default)]
    pub irreversible: bool,
}

/// A step of the plan as the journal records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    pub id: String,
    pub phase: String,
    pub kind: String,
    pub action: String,
    pub digest: String,
    #[serde(default)]
    pub keep_on_rollback: bool,
    #[serde(default)]
    pub irreversible: bool,
}

impl StepInfo {
    fn record(&self) -> StepRecord {
        StepRecord {
            id: self.id.clone(),
            phase: self.phase.clone(),
            kind: self.kind.clone(),
            action: self.action.clone(),
            digest: self.digest.clone(),
            status: StepStatus::Pending,
            started: None,
            finished: None,
            error: None,
            keep_on_rollback: self.keep_on_rollback,
            irreversible: self.irreversible,
        }
    }
}

/// A target migrate has changed: its value before the first change, and
/// the value migrate last set and verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    pub target: Target,
    pub baseline: Value,
    /// What the target should hold now, as far as migrate knows.
    pub expected: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    pub at: Timestamp,
}

/// A soak in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Soak {
    pub step: String,
    pub started: Timestamp,
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// Breaches counted per gate during this soak.
    #[serde(default)]
    pub breaches: BTreeMap<String, u32>,
    /// Time spent paused, which does not count toward the soak.
    #[serde(
        default,
        with = "duration_ms",
        skip_serializing_if = "Duration::is_zero"
    )]
    pub paused: Duration,
    /// Paused since then (the pause in progress, not yet in `paused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<Timestamp>,
    /// The gates the soak started with: it is guarded by these whatever
    /// happens to the plan file (empty: a state written before they were
    /// kept; the plan's gates are read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateSpec>,
    /// Gates whose definition in the plan differs from the soak's, by the
    /// digest of the plan's definition that was journaled as a change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<String, String>,
    /// The evidence each `compare` gate has gathered in this soak, folded
    /// from the counters its readings journaled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub compare: BTreeMap<String, Track>,
}

impl Soak {
    /// How much of the soak has been served at `now`: time since it
    /// started, less the time it was paused.
    pub fn elapsed(&self, now: Timestamp) -> Duration {
        now.since(self.started).saturating_sub(self.paused_for(now))
    }

    /// How long the soak has been paused in all, at `now`.
    pub fn paused_for(&self, now: Timestamp) -> Duration {
        self.paused + self.paused_since.map_or(Duration::ZERO, |p| now.since(p))
    }

    /// What is left of the soak at `now`.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        self.duration.saturating_sub(self.elapsed(now))
    }

    /// Whether the soak has been served in full at `now`.
    pub fn over(&self, now: Timestamp) -> bool {
        self.elapsed(now) >= self.duration
    }

    /// When the soak ends if nothing pauses it from `now` on.
    pub fn ends_at(&self, now: Timestamp) -> Timestamp {
        now.plus(self.remaining(now))
    }

    /// The gate definition the soak keeps for `name`.
    pub fn gate(&self, name: &str) -> Option<&GateSpec> {
        self.gates.iter().find(|g| g.name == name)
    }
}

/// A gate's definition as a soak keeps it in the state. A value that came
/// from the environment is kept as the template it was written as
/// (`${NAME}`), never its value, and read from the environment again when
/// the gate is evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateSpec {
    pub name: String,
    #[serde(flatten)]
    pub source: GateSpecSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default)]
    pub failure_limit: u32,
    /// `fail`, `pass` or `pause`.
    pub no_data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
}

impl GateSpec {
    /// A short digest of the definition, to notice a change.
    pub fn digest(&self) -> String {
        crate::domain::short_digest(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// The thresholds and policy, in words (for a journaled change).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.min {
            parts.push(format!("min {}", fmt_number(m)));
        }
        if let Some(m) = self.max {
            parts.push(format!("max {}", fmt_number(m)));
        }
        parts.push(format!("failure_limit {}", self.failure_limit));
        parts.push(format!("no_data {}", self.no_data));
        match &self.source {
            GateSpecSource::Metric {
                provider, query, ..
            } => parts.push(format!("{provider}: {query}")),
            GateSpecSource::Parity { reconcile } => parts.push(format!("parity of {reconcile}")),
            GateSpecSource::Compare { compare: c } => parts.push(format!(
                "{}: {} {}× ({} / {} against {} / {}), alpha {}",
                c.provider,
                c.direction.name(),
                fmt_number(c.max_ratio),
                c.candidate_events.query,
                c.candidate_total.query,
                c.baseline_events.query,
                c.baseline_total.query,
                fmt_number(c.alpha)
            )),
        }
        parts.join(", ")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GateSpecSource {
    Metric {
        provider: String,
        /// As shown: the value, or for a secret its template.
        query: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        query_secret: bool,
    },
    Parity {
        reconcile: String,
    },
    Compare {
        compare: CompareSpec,
    },
}

/// A `compare` gate as a soak keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareSpec {
    pub provider: String,
    pub candidate_events: KeptQuery,
    pub candidate_total: KeptQuery,
    pub baseline_events: KeptQuery,
    pub baseline_total: KeptQuery,
    pub max_ratio: f64,
    #[serde(default)]
    pub direction: Direction,
    pub alpha: f64,
}

/// A query as a soak keeps it: as shown (for a secret, its template).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeptQuery {
    pub query: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// What a `compare` gate's look read, for the fold to add to the soak's
/// evidence exactly as the look did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareLook {
    pub counters: Counters,
    pub max_ratio: f64,
    #[serde(default)]
    pub direction: Direction,
}

impl CompareLook {
    /// The test the look was made for (its alpha plays no part in the
    /// evidence, only in the verdict).
    pub fn test(&self) -> crate::domain::compare::Test {
        crate::domain::compare::Test {
            max_ratio: self.max_ratio,
            direction: self.direction,
            alpha: 0.01,
        }
    }
}

/// The last reading of a gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateReading {
    pub at: Timestamp,
    /// `None`: no data.
    pub value: Option<f64>,
    /// No data because the source said NaN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nan: bool,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A `compare` gate's evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// The latest result of a reconciliation, for `parity` gates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParityRecord {
    pub at: Timestamp,
    pub parity: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swept: Option<u64>,
    pub summary: serde_json::Value,
}

impl ParityRecord {
    /// Whether every row was compared. Records written before this was
    /// kept say it in their summary (`"complete": false` of a continuous
    /// reconciliation's first sweep); that is read once, here.
    pub fn is_complete(&self) -> bool {
        self.complete.unwrap_or_else(|| {
            self.summary.get("complete") != Some(&serde_json::Value::Bool(false))
        })
    }

    /// Rows compared so far by a sweep that is not complete.
    pub fn swept(&self) -> Option<u64> {
        self.swept.or_else(|| {
            self.summary
                .get("swept")
                .and_then(serde_json::Value::as_u64)
        })
    }
}

/// A target and the value a rollback restores it to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Restore {
    pub target: Target,
    pub value: Value,
}

/// Why progress is held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PauseRecord {
    pub at: Timestamp,
    pub actor: String,
    pub reason: String,
    /// A gate's policy paused it (not a person).
    #[serde(default)]
    pub breach: bool,
}

/// A change recorded as intended, not yet verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inflight {
    pub step: String,
    pub target: Target,
    pub value: Value,
}

/// Who did something, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Actioned {
    pub at: Timestamp,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why the migration was last rolled back, and how it went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub at: Timestamp,
    pub actor: String,
    pub reason: String,
    /// The step the migration was at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_step: Option<String>,
    /// The phase `retry` starts again at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `rollback --to`: the step whose values were restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Whether a gate breach triggered it.
    #[serde(default)]
    pub breach: bool,
    /// What each changed target is restored to.
    #[serde(default)]
    pub restore: Vec<Restore>,
    /// Targets that could not be restored.
    #[serde(default)]
    pub remaining: Vec<String>,
    #[serde(default)]
    pub finished: bool,
}

/// A step being executed outside the lock (a hook, a reconciliation): the
/// claim keeps other runs from executing it too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub step: String,
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub since: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub schema: u32,
    pub migration: String,
    /// Grows with every change; a writer that read an older serial must
    /// not write.
    pub serial: u64,
    /// The journal sequence number of the last entry folded in.
    pub journal_seq: u64,
    pub status: Status,
    /// Index of the next step to run; `steps.len()` when all are done.
    pub position: usize,
    pub steps: Vec<StepRecord>,
    /// Keyed by [`Target::id`].
    pub targets: BTreeMap<String, TargetRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<Soak>,
    #[serde(default)]
    pub gates: BTreeMap<String, GateReading>,
    #[serde(default)]
    pub parity: BTreeMap<String, ParityRecord>,
    #[serde(default)]
    pub approvals: BTreeMap<String, Actioned>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// A change intended and not yet verified: after a crash, the target
    /// may hold either value, and that is not drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inflight: Option<Inflight>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<PauseRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Actioned>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Actioned>,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    pub migration: String,
    #[serde(flatten)]
    pub entry: Entry,
}

/// A change to the migration, as the journal records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// The migration's first record: the plan's steps.
    Started {
        steps: Vec<StepInfo>,
    },
    /// Steps not yet run were changed in the plan.
    PlanChanged {
        changed: Vec<String>,
        steps: Vec<StepInfo>,
    },
    StepStarted {
        step: String,
    },
    /// A target's value before migrate first changed it.
    Baseline {
        target: Target,
        value: Value,
        /// Why a value that was refused by default was taken (the
        /// candidate already had a share, another migration drove the
        /// target) and who said so (`advance --accept-baseline`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// About to set a target.
    Intended {
        step: String,
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Value>,
        after: Value,
    },
    /// The provider accepted the change.
    Applied {
        step: String,
        target: Target,
        after: Value,
    },
    /// The change was read back and holds.
    Verified {
        step: String,
        target: Target,
        value: Value,
    },
    StepDone {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    StepFailed {
        step: String,
        error: String,
    },
    /// A hook or reconciliation step is being executed by this actor.
    Claimed {
        step: String,
        host: String,
        pid: u32,
    },
    SoakStarted {
        step: String,
        #[serde(with = "duration_ms")]
        duration: Duration,
        /// The gates that guard the soak, as they were when it started.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gates: Vec<GateSpec>,
    },
    Gate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        gate: String,
        value: Option<f64>,
        /// No data because the source said NaN.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        nan: bool,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// A `compare` gate's counters, folded into the soak's evidence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        look: Option<CompareLook>,
        /// A `compare` gate's evidence at this look.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<Evidence>,
    },
    Breach {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        gate: String,
        value: Option<f64>,
        reason: String,
        /// A `compare` gate's evidence at the breach.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<Evidence>,
    },
    Reconciled {
        name: String,
        parity: f64,
        /// Every row was compared (absent in records written before it
        /// was kept: read from the summary).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        complete: Option<bool>,
        /// Rows compared so far, while not complete.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        swept: Option<u64>,
        summary: serde_json::Value,
    },
    Approved {
        step: String,
    },
    Paused {
        reason: String,
        /// A gate's policy paused it (not a person).
        #[serde(default)]
        breach: bool,
    },
    Resumed,
    RollbackStarted {
        reason: String,
        /// The last step whose values are kept (`None`: back to baselines).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default)]
        breach: bool,
        /// `rollback --legacy`: every target of the plan to its legacy
        /// side, not to baselines.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        legacy: bool,
        /// What each changed target is restored to.
        restore: Vec<Restore>,
    },
    Restored {
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Value>,
        value: Value,
    },
    RestoreFailed {
        target: Target,
        error: String,
    },
    RollbackFinished {
        remaining: Vec<String>,
        /// How long the rollback took, from its start to this record
        /// (absent in records written before it was kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<f64>,
    },
    /// `retry`: start again at a phase.
    Retried {
        phase: String,
        step: String,
    },
    /// A lock was broken by `unlock --force`.
    LockBroken {
        holder: String,
    },
    /// A gate of the soak in progress was changed in the plan: the soak
    /// keeps the definition it started with, unless the change was
    /// adopted for it (`advance --adopt-gates`).
    GateChanged {
        step: String,
        gate: String,
        /// The soak's definition, in words.
        was: String,
        /// The plan's definition, in words ("removed from the plan").
        now: String,
        /// Digest of the plan's definition (empty: removed).
        digest: String,
        /// The definition the soak is guarded by from now on, when adopted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adopted: Option<GateSpec>,
    },
    /// The journal was found damaged or lost and rebuilt (`migrate state
    /// rebuild`, or a rollback that found it so): what could not be kept,
    /// and the whole state as recovered, which this record sets. It may
    /// follow a gap in the numbering, or start a journal.
    Recovered {
        #[serde(default)]
        reason: String,
        state: Box<State>,
    },
    /// A claimed step's run stopped before the step finished (Ctrl-C): the
    /// claim is let go and the step runs again.
    Released {
        step: String,
        reason: String,
    },
    Completed,
}

impl Entry {
    /// The event name, as in the journal's `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Started { .. } => "started",
            Entry::PlanChanged { .. } => "plan_changed",
            Entry::StepStarted { .. } => "step_started",
            Entry::Baseline { .. } => "baseline",
            Entry::Intended { .. } => "intended",
            Entry::Applied { .. } => "applied",
            Entry::Verified { .. } => "verified",
            Entry::StepDone { .. } => "step_done",
            Entry::StepFailed { .. } => "step_failed",
            Entry::Claimed { .. } => "claimed",
            Entry::SoakStarted { .. } => "soak_started",
            Entry::Gate { .. } => "gate",
            Entry::Breach { .. } => "breach",
            Entry::Reconciled { .. } => "reconciled",
            Entry::Approved { .. } => "approved",
            Entry::Paused { .. } => "paused",
            Entry::Resumed => "resumed",
            Entry::RollbackStarted { .. } => "rollback_started",
            Entry::Restored { .. } => "restored",
            Entry::RestoreFailed { .. } => "restore_failed",
            Entry::RollbackFinished { .. } => "rollback_finished",
            Entry::Retried { .. } => "retried",
            Entry::LockBroken { .. } => "lock_broken",
            Entry::GateChanged { .. } => "gate_changed",
            Entry::Recovered { .. } => "recovered",
            Entry::Released { .. } => "released",
            Entry::Completed => "completed",
        }
    }
}

impl State {
    /// The breaches of `gate` counted in the current soak.
    pub fn soak_breaches(&self, gate: &str) -> u32 {
        self.soak
            .as_ref()
            .and_then(|k| k.breaches.get(gate))
            .copied()
            .unwrap_or(0)
    }

    /// The state before the first record.
    pub fn empty(migration: &str) -> Self {
        Self {
            schema: STATE_SCHEMA,
            migration: migration.to_string(),
            serial: 0,
            journal_seq: 0,
            status: Status::New,
            position: 0,
            steps: Vec::new(),
            targets: BTreeMap::new(),
            soak: None,
            gates: BTreeMap::new(),
            parity: BTreeMap::new(),
            approvals: BTreeMap::new(),
            claim: None,
            inflight: None,
            paused: None,
            rollback: None,
            created: None,
            updated: None,
        }
    }

    /// Rebuild a state from journal records, in order.
    pub fn replay<'a>(migration: &str, records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut st = State::empty(migration);
        for r in records {
            st.apply(r);
        }
        st
    }

    /// Take the plan's steps from the position on; the steps before it
    /// (done) stay as recorded.
    pub fn adopt_steps(&mut self, steps: &[StepInfo]) {
        let keep = self.position.min(self.steps.len());
        self.steps.truncate(keep);
        for info in steps.iter().skip(keep) {
            self.steps.push(info.record());
        }
        if self.position >= self.steps.len() && self.status == Status::Active {
            self.status = Status::Completed;
        } else if self.status == Status::Completed && self.position < self.steps.len() {
            self.status = Status::Active;
        }
    }

    pub fn index_of(&self, step: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == step)
    }

    pub fn current(&self) -> Option<&StepRecord> {
        self.steps.get(self.position)
    }

    fn step_mut(&mut self, id: &str) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// Fold one journal record into the state.
    pub fn apply(&mut self, r: &Record) {
        let by = Actioned {
            at: r.at,
            actor: r.actor.clone(),
            reason: None,
        };
        self.serial += 1;
        self.journal_seq = r.seq;
        self.updated = Some(Actioned {
            reason: Some(r.entry.name().to_string()),
            ..by.clone()
        });
        match &r.entry {
            Entry::Started { .. }
            | Entry::PlanChanged { .. }
            | Entry::StepStarted { .. }
            | Entry::StepDone { .. }
            | Entry::StepFailed { .. }
            | Entry::Claimed { .. }
            | Entry::Released { .. }
            | Entry::Approved { .. }
            | Entry::Retried { .. }
            | Entry::Completed => self.apply_progress(r, by),
            Entry::Baseline { .. }
            | Entry::Intended { .. }
            | Entry::Applied { .. }
            | Entry::Verified { .. } => self.apply_targets(r),
            Entry::SoakStarted { .. }
            | Entry::GateChanged { .. }
            | Entry::Gate { .. }
            | Entry::Breach { .. }
            | Entry::Reconciled { .. }
            | Entry::Paused { .. }
            | Entry::Resumed => self.apply_soak(r),
            Entry::RollbackStarted { .. }
            | Entry::Restored { .. }
            | Entry::RestoreFailed { .. }
            | Entry::RollbackFinished { .. } => self.apply_rollback(r),
            Entry::LockBroken { .. } | Entry::Recovered { .. } => self.apply_store(r),
        }
    }

    /// Where the migration stands: its steps, their claims and approvals, a retry, the end.
    fn apply_progress(&mut self, r: &Record, by: Actioned) {
        match &r.entry {
            Entry::Started { steps } => {
                self.steps = Vec::new();
                self.position = 0;
                self.adopt_steps(steps);
                self.status = Status::Active;
                self.created = Some(by);
            }
            Entry::PlanChanged { steps, changed } => {
                if let Some(soak) = &self.soak {
                    if changed.contains(&soak.step) {
                        self.soak = None;
                    }
                }
                self.adopt_steps(steps);
            }
            Entry::StepStarted { step } => {
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.started = Some(r.at);
                    s.error = None;
                }
                if self.status == Status::Failed || self.status == Status::New {
                    self.status = Status::Active;
                }
            }
            Entry::StepDone { step, .. } => {
                if let Some(i) = self.index_of(step) {
                    let s = &mut self.steps[i];
                    s.status = StepStatus::Done;
                    s.finished = Some(r.at);
                    s.error = None;
                    if s.started.is_none() {
                        s.started = Some(r.at);
                    }
                    if i >= self.position {
                        self.position = i + 1;
                    }
                }
                if self.soak.as_ref().is_some_and(|k| &k.step == step) {
                    self.soak = None;
                }
                if self.claim.as_ref().is_some_and(|c| &c.step == step) {
                    self.claim = None;
                }
                if matches!(self.status, Status::Failed | Status::New) {
                    self.status = Status::Active;
                }
            }
            Entry::StepFailed { step, error } => {
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Failed;
                    s.error = Some(error.clone());
                    s.finished = Some(r.at);
                }
                if self.claim.as_ref().is_some_and(|c| &c.step == step) {
                    self.claim = None;
                }
                if self.status == Status::Active {
                    self.status = Status::Failed;
                }
            }
            Entry::Claimed { step, host, pid } => {
                self.claim = Some(Claim {
                    step: step.clone(),
                    actor: r.actor.clone(),
                    host: host.clone(),
                    pid: *pid,
                    since: r.at,
                });
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.started = Some(r.at);
                    s.error = None;
                }
            }
            Entry::Released { step, .. } => {
                if self.claim.as_ref().is_some_and(|c| &c.step == step) {
                    self.claim = None;
                }
                if let Some(s) = self.step_mut(step) {
                    if s.status == StepStatus::Running {
                        s.status = StepStatus::Pending;
                    }
                }
            }
            Entry::Approved { step } => {
                self.approvals.insert(step.clone(), by);
            }
            Entry::Retried { step, .. } => {
                if let Some(i) = self.index_of(step) {
                    self.position = i;
                    // The phases before it had run before the rollback, and
                    // their values were put back before this record.
                    for (j, s) in self.steps.iter_mut().enumerate() {
                        if j < i {
                            s.status = StepStatus::Done;
                        } else if s.keep_on_rollback && s.status == StepStatus::Done {
                            // Still in effect (rollbacks kept it); it runs
                            // again, idempotently, when advance reaches it.
                        } else {
                            s.status = StepStatus::Pending;
                            s.finished = None;
                        }
                        s.error = None;
                    }
                }
                self.rollback = None;
                self.status = Status::Active;
                self.soak = None;
                self.claim = None;
            }
            Entry::Completed => {
                self.status = Status::Completed;
                self.position = self.steps.len();
                self.soak = None;
                self.claim = None;
            }
            _ => {}
        }
    }

    /// What migrate set: baselines, changes in flight, values read back.
    fn apply_targets(&mut self, r: &Record) {
        match &r.entry {
            Entry::Baseline { target, value, .. } => {
                self.targets
                    .entry(target.id())
                    .or_insert_with(|| TargetRecord {
                        target: target.clone(),
                        baseline: value.clone(),
                        expected: value.clone(),
                        changed_by: None,
                        at: r.at,
                    });
            }
            Entry::Intended {
                step,
                target,
                before,
                after,
            } => {
                // The first change of a target is journaled with its
                // baseline; should that record be lost to damage, the value
                // before the change is the baseline.
                if let Some(before) = before {
                    self.targets
                        .entry(target.id())
                        .or_insert_with(|| TargetRecord {
                            target: target.clone(),
                            baseline: before.clone(),
                            expected: before.clone(),
                            changed_by: None,
                            at: r.at,
                        });
                }
                self.inflight = Some(Inflight {
                    step: step.clone(),
                    target: target.clone(),
                    value: after.clone(),
                });
            }
            Entry::Applied { .. } => {}
            Entry::Verified {
                step,
                target,
                value,
            } => {
                let rec = self
                    .targets
                    .entry(target.id())
                    .or_insert_with(|| TargetRecord {
                        target: target.clone(),
                        baseline: value.clone(),
                        expected: value.clone(),
                        changed_by: None,
                        at: r.at,
                    });
                rec.expected = value.clone();
                rec.changed_by = Some(step.clone());
                rec.at = r.at;
                if self.inflight.as_ref().is_some_and(|i| &i.target == target) {
                    self.inflight = None;
                }
            }
            _ => {}
        }
    }

    /// The soak in progress, its gates and parity readings, a pause and its release.
    fn apply_soak(&mut self, r: &Record) {
        match &r.entry {
            Entry::SoakStarted {
                step,
                duration,
                gates,
            } => {
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.started = Some(r.at);
                }
                self.soak = Some(Soak {
                    step: step.clone(),
                    started: r.at,
                    duration: *duration,
                    breaches: BTreeMap::new(),
                    paused: Duration::ZERO,
                    // A soak started while paused (a check step's) waits.
                    paused_since: (self.status == Status::Paused).then_some(r.at),
                    gates: gates.clone(),
                    changed: BTreeMap::new(),
                    compare: BTreeMap::new(),
                });
            }
            Entry::GateChanged {
                step,
                gate,
                digest,
                adopted,
                ..
            } => {
                if let Some(soak) = self.soak.as_mut().filter(|k| &k.step == step) {
                    match adopted {
                        Some(spec) => {
                            soak.gates.retain(|g| &g.name != gate);
                            soak.gates.push(spec.clone());
                            soak.changed.remove(gate);
                        }
                        None => {
                            soak.changed.insert(gate.clone(), digest.clone());
                        }
                    }
                }
            }
            Entry::Gate {
                step,
                gate,
                value,
                nan,
                ok,
                note,
                look,
                evidence,
            } => {
                self.gates.insert(
                    gate.clone(),
                    GateReading {
                        at: r.at,
                        value: *value,
                        nan: *nan,
                        ok: *ok,
                        note: note.clone(),
                        evidence: evidence.clone(),
                    },
                );
                if let (Some(look), Some(soak), Some(step)) = (look, self.soak.as_mut(), step) {
                    if &soak.step == step {
                        let track =
                            Track::look(soak.compare.get(gate), &look.test(), look.counters);
                        soak.compare.insert(gate.clone(), track);
                    }
                }
                if !ok {
                    if let (Some(soak), Some(step)) = (self.soak.as_mut(), step) {
                        if &soak.step == step {
                            *soak.breaches.entry(gate.clone()).or_insert(0) += 1;
                        }
                    }
                }
            }
            Entry::Breach { .. } => {}
            Entry::Reconciled {
                name,
                parity,
                complete,
                swept,
                summary,
            } => {
                self.parity.insert(
                    name.clone(),
                    ParityRecord {
                        at: r.at,
                        parity: *parity,
                        complete: *complete,
                        swept: *swept,
                        summary: summary.clone(),
                    },
                );
            }
            Entry::Paused { reason, breach } => {
                // The soak's clock stops; its gates are still watched.
                if let Some(soak) = self.soak.as_mut() {
                    if soak.paused_since.is_none() {
                        soak.paused_since = Some(r.at);
                    }
                }
                self.status = Status::Paused;
                self.paused = Some(PauseRecord {
                    at: r.at,
                    actor: r.actor.clone(),
                    reason: reason.clone(),
                    breach: *breach,
                });
            }
            Entry::Resumed => {
                if let Some(soak) = self.soak.as_mut() {
                    if let Some(since) = soak.paused_since.take() {
                        soak.paused += r.at.since(since);
                    }
                }
                self.paused = None;
                if self.status == Status::Paused {
                    self.status = if self.position >= self.steps.len() {
                        Status::Completed
                    } else {
                        Status::Active
                    };
                }
            }
            _ => {}
        }
    }

    /// A rollback: what it restores, each target restored or not, its end.
    fn apply_rollback(&mut self, r: &Record) {
        match &r.entry {
            Entry::RollbackStarted {
                reason,
                to,
                breach,
                restore,
                ..
            } => {
                let at_step = self.current().map(|s| s.id.clone());
                let phase = self.current().map(|s| s.phase.clone()).or_else(|| {
                    // Completed: `retry` would start at the last phase.
                    self.steps.last().map(|s| s.phase.clone())
                });
                self.rollback = Some(RollbackRecord {
                    at: r.at,
                    actor: r.actor.clone(),
                    reason: reason.clone(),
                    at_step,
                    phase,
                    to: to.clone(),
                    breach: *breach,
                    restore: restore.clone(),
                    remaining: Vec::new(),
                    finished: false,
                });
                self.status = Status::RollingBack;
                self.soak = None;
                self.claim = None;
                self.inflight = None;
                self.paused = None;
                // Steps after the rollback point are undone — except the
                // `keep_on_rollback` ones that took effect: their values
                // stay, through this rollback and any later one.
                let keep = match to {
                    Some(id) => self.index_of(id).map_or(0, |i| i + 1),
                    None => 0,
                };
                for s in self.steps.iter_mut().skip(keep) {
                    if s.keep_on_rollback && s.status == StepStatus::Done {
                        continue;
                    }
                    if s.status != StepStatus::Pending {
                        s.status = StepStatus::Pending;
                        s.finished = None;
                    }
                }
                self.approvals
                    .retain(|id, _| self.steps.iter().take(keep).any(|s| &s.id == id));
                self.position = keep.min(self.steps.len());
            }
            Entry::Restored { target, value, .. } => {
                if let Some(t) = self.targets.get_mut(&target.id()) {
                    t.expected = value.clone();
                    t.changed_by = Some("rollback".to_string());
                    t.at = r.at;
                }
                if let Some(rb) = self.rollback.as_mut() {
                    rb.remaining.retain(|id| id != &target.id());
                }
            }
            Entry::RestoreFailed { target, .. } => {
                if let Some(rb) = self.rollback.as_mut() {
                    if !rb.remaining.contains(&target.id()) {
                        rb.remaining.push(target.id());
                    }
                }
            }
            Entry::RollbackFinished { remaining, .. } => {
                let partial = self.rollback.as_ref().is_some_and(|rb| rb.to.is_some());
                if let Some(rb) = self.rollback.as_mut() {
                    rb.remaining = remaining.clone();
                    rb.finished = remaining.is_empty();
                }
                self.status = if !remaining.is_empty() {
                    Status::RollbackIncomplete
                } else if partial {
                    Status::Active
                } else {
                    Status::RolledBack
                };
            }
            _ => {}
        }
    }

    /// The store's own records: a broken lock, a recovered state.
    fn apply_store(&mut self, r: &Record) {
        match &r.entry {
            Entry::LockBroken { .. } => {}
            Entry::Recovered { state, .. } => {
                // The recovered state as a whole; the numbering goes on.
                let serial = self.serial.max(state.serial + 1);
                let updated = self.updated.take();
                *self = (**state).clone();
                self.serial = serial;
                self.journal_seq = r.seq;
                self.updated = updated;
            }
            _ => {}
        }
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
