//! Where continuous reconciliations plug into the supervisor.
//!
//! For each active migration, every reconciliation a `parity` gate of its
//! plan reads, and that has continuous settings, is opened once
//! ([`Followers::open`]), ticked on its own cadence ([`Follower::every`]),
//! and each reading is committed to the migration's state as an
//! `Entry::Reconciled` ([`Engine::record_reconciliation`](crate::engine::Engine::record_reconciliation)) —
//! where parity gates read it, as they read a `reconcile` step's result.
//! The supervisor does this only while it is the active one; the writes
//! are fenced like every other.
//!
//! The supervisor calls [`follow`] after each look at a migration; the
//! command (`commands/supervise.rs`) gives it [`PlanFollowers`], over
//! [`crate::reconcile::continuous`]. Readings are recorded as `reconcile
//! --follow` records them ([`Throttle`]): never before the first full sweep,
//! then the first, each change (at most every 10 s) and a refresh (every 5
//! minutes, or at half the shortest `max_age` of the gates that read it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::engine::{Engine, ReconcileResult};
use crate::plan::{GateSource, Plan};
use crate::reconcile::continuous::{Continuous, Throttle};

/// One continuous reconciliation, opened.
#[async_trait]
pub trait Follower: Send + Sync {
    /// How long to wait between ticks.
    fn every(&self) -> Duration;
    /// One pass; its parity and summary, as the gates read them, when it
    /// is to be recorded (`None`: not yet, or nothing new).
    async fn tick(&mut self) -> anyhow::Result<Option<ReconcileResult>>;
}

/// Opens the continuous reconciliations of a plan.
#[async_trait]
pub trait Followers: Send + Sync {
    /// Reconciliation `name` of `plan`, when it has continuous settings
    /// (`None`: it has not; the parity gates reading it run it whole, as
    /// they always do).
    async fn open(&self, plan: &Plan, name: &str) -> anyhow::Result<Option<Box<dyn Follower>>>;
}

/// A reconciliation followed, and when it is next due.
type Followed = (Box<dyn Follower>, Instant);

/// The followers of one migration: opened (`None`: found not continuous),
/// and when each is next due.
#[derive(Default)]
pub struct Following {
    open: BTreeMap<String, Option<Followed>>,
}

/// The reconciliations the parity gates of `plan` read.
pub fn parity_sources(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = plan
        .gates
        .iter()
        .filter_map(|g| match &g.source {
            GateSource::Parity { reconcile } => Some(reconcile.clone()),
            GateSource::Metric { .. } | GateSource::Compare { .. } => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Tick the due followers of the migration `engine` drives and commit their
/// readings. Errors are returned as text, one per reconciliation, for the
/// log; a failed tick is tried again after its interval.
pub async fn follow(
    followers: &dyn Followers,
    following: &mut Following,
    engine: &Engine<'_>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for name in parity_sources(engine.plan) {
        if !following.open.contains_key(&name) {
            match followers.open(engine.plan, &name).await {
                Ok(f) => {
                    following
                        .open
                        .insert(name.clone(), f.map(|f| (f, Instant::now())));
                }
                Err(e) => {
                    errors.push(format!("opening reconciliation {name}: {e:#}"));
                    continue;
                }
            }
        }
        let Some(Some((follower, due))) = following.open.get_mut(&name) else {
            continue;
        };
        if Instant::now() < *due {
            continue;
        }
        *due = Instant::now() + follower.every();
        match follower.tick().await {
            Ok(None) => {}
            Ok(Some(reading)) => {
                if let Err(e) = engine.record_reconciliation(&name, &reading).await {
                    errors.push(format!("recording reconciliation {name}: {e}"));
                }
            }
            Err(e) => errors.push(format!("reconciliation {name}: {e:#}")),
        }
    }
    errors
}

/// The plan's continuous reconciliations ([`crate::reconcile::continuous`]).
pub struct PlanFollowers;

struct PlanFollower {
    continuous: Continuous,
    throttle: Throttle,
}

#[async_trait]
impl Follower for PlanFollower {
    fn every(&self) -> Duration {
        self.continuous.every()
    }

    async fn tick(&mut self) -> anyhow::Result<Option<ReconcileResult>> {
        let reading = self.continuous.tick().await?;
        let now = Instant::now();
        if !self.throttle.due(&reading, now) {
            return Ok(None);
        }
        self.throttle.recorded(&reading, now);
        Ok(Some(ReconcileResult {
            complete: reading.complete,
            swept: (!reading.complete).then_some(reading.swept),
            ..ReconcileResult::complete(reading.parity, reading.summary)
        }))
    }
}

#[async_trait]
impl Followers for PlanFollowers {
    async fn open(&self, plan: &Plan, name: &str) -> anyhow::Result<Option<Box<dyn Follower>>> {
        if plan
            .reconciliation(name)
            .is_none_or(|r| r.continuous.is_none())
        {
            return Ok(None);
        }
        let continuous = Continuous::new(plan, name).await?;
        Ok(Some(Box::new(PlanFollower {
            continuous,
            throttle: Throttle::new(plan, name),
        })))
    }
}
