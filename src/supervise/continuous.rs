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
//! implementation of [`Followers`] is given to it by the command
//! (`commands/supervise.rs`), `None` until one exists.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::engine::{Engine, ReconcileResult};
use crate::plan::{GateSource, Plan};

/// One continuous reconciliation, opened.
#[async_trait]
pub trait Follower: Send + Sync {
    /// How long to wait between ticks.
    fn every(&self) -> Duration;
    /// One pass; its parity and summary, as the gates read them.
    async fn tick(&mut self) -> anyhow::Result<ReconcileResult>;
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
            GateSource::Metric { .. } => None,
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
            Ok(reading) => {
                if let Err(e) = engine.record_reconciliation(&name, &reading).await {
                    errors.push(format!("recording reconciliation {name}: {e}"));
                }
            }
            Err(e) => errors.push(format!("reconciliation {name}: {e:#}")),
        }
    }
    errors
}
