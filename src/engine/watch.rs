//! One look at a migration for `migrate supervise`: evaluate the gates of
//! the soak in progress that are due, trip the breaker on a breach — the
//! same code as `advance --wait` (`soak_tick`, `trip`, `rollback_locked`),
//! called a slice at a time — and, when asked, carry the migration on as
//! `advance --all` would (stopping at approvals).
//!
//! The lock is taken only when there is something to do: a state that is
//! not active is read, never locked.

use std::time::Duration;

use crate::plan::StepKind;
use crate::state::{State, Status, Timestamp};

use super::advance::{blocked, AdvanceOptions, Limit, Outcome, Progress};
use super::{Engine, EngineError, ReconcileResult};

/// What one look found (or did).
#[derive(Clone, Debug, PartialEq)]
pub enum Watch {
    /// Nothing to watch now (not started, between steps, waiting for an
    /// approval, a step failed): look again when the state changes.
    Idle { reason: String },
    /// The migration is held or over: paused, rolled back, completed, or a
    /// rollback that did not finish. Nothing is done to it.
    Blocked(Outcome),
    /// A soak is watched: look again at `next` (the next gate due, or the
    /// end of the soak when this supervisor completes soaks).
    Soaking {
        step: String,
        next: Timestamp,
        reason: String,
        /// What is wrong besides (the plan file cannot drive this
        /// migration, drift): the soak is guarded all the same.
        problem: Option<String>,
        /// The migration is paused: the soak's gates are read, its clock
        /// is held.
        paused: bool,
    },
    /// This look ended the soak or moved the migration: the breaker
    /// tripped (rolled back or paused), or — advancing — steps ran.
    Acted(Outcome),
}

impl Engine<'_> {
    /// One look at the migration. `advance`: complete soaks and run the
    /// following steps as `advance --all` does; without it only the gates
    /// of a running soak are evaluated (before and after its end, until
    /// someone advances).
    pub async fn watch(&self, advance: bool) -> Result<Watch, EngineError> {
        let Some(st) = self.peek().await? else {
            return Ok(Watch::Idle {
                reason: "not started".into(),
            });
        };
        if st.status == Status::RollingBack {
            // Someone's rollback is under way (or died under way: `status`
            // and the metrics say rolling back until `rollback` is run).
            return Ok(Watch::Idle {
                reason: "a rollback is in progress".into(),
            });
        }
        // A paused soak is still guarded; anything else blocked is not
        // watched.
        let paused_soak = st.status == Status::Paused && soaking(&st).is_some();
        if let Some(o) = blocked(&st).filter(|_| !paused_soak) {
            return Ok(Watch::Blocked(o));
        }
        match st.status {
            Status::New => {
                return Ok(Watch::Idle {
                    reason: "not started".into(),
                })
            }
            Status::Failed => {
                return Ok(Watch::Idle {
                    reason: format!(
                    "step {} failed; `migrate advance` tries it again, `migrate rollback` undoes",
                    st.current().map_or("?", |c| c.id.as_str())
                ),
                })
            }
            _ => {}
        }
        if soaking(&st).is_some() {
            let mut s = self.session_unchecked().await?;
            // The soak is guarded first, by the gates it started with,
            // whatever the plan file, drift or a pause say.
            if let Some(o) = self.guard(&mut s, false).await? {
                return Ok(Watch::Acted(o));
            }
            let mut problem = match self.sync_plan(&mut s, true).await {
                Ok(()) => None,
                Err(EngineError::PlanChanged(m)) => Some(m),
                Err(e) => return Err(e),
            };
            if problem.is_none() {
                problem = self.drift_words(&s.state).await;
            }
            let paused = s.state.status == Status::Paused;
            if let (Some(id), true) = (soaking(&s.state), paused || problem.is_some()) {
                let reason = match (&problem, blocked(&s.state)) {
                    (Some(p), _) => format!("{p}\n  (the soak's gates are still evaluated)"),
                    (None, Some(Outcome::Paused { by, reason, .. })) => format!(
                        "paused by {by}: {reason}; the soak's gates are still evaluated, its clock is held"
                    ),
                    _ => "the soak's gates are evaluated".to_string(),
                };
                return Ok(Watch::Soaking {
                    step: id,
                    next: self.next_guard(&s.state),
                    reason,
                    problem,
                    paused,
                });
            }
            // Looked at again under the lock: another run may have moved it.
            if let Some(o) = blocked(&s.state) {
                return Ok(Watch::Blocked(o));
            }
            let Some((step, gates)) = soaking(&s.state)
                .and_then(|id| self.plan.step(&id))
                .and_then(|step| match &step.kind {
                    StepKind::Soak { gates, .. } => Some((step, gates.clone())),
                    _ => None,
                })
            else {
                return Ok(Watch::Idle {
                    reason: "the step changed while looking".into(),
                });
            };
            match self.soak_tick(&mut s, step, &gates, advance, false).await? {
                Progress::Wait { until, reason } => {
                    return Ok(Watch::Soaking {
                        step: step.id.clone(),
                        next: until,
                        reason,
                        problem: None,
                        paused: false,
                    })
                }
                Progress::End(o) => return Ok(Watch::Acted(o)),
                // The soak is over (only when advancing): carry on below.
                Progress::Done | Progress::Ask { .. } | Progress::Execute => {}
            }
            if !advance {
                return Ok(Watch::Idle {
                    reason: format!("soak {} finished", step.id),
                });
            }
        } else if !advance {
            return Ok(Watch::Idle {
                reason: match st.current() {
                    Some(c) => format!("at step {} (no soak running); waiting for advance", c.id),
                    None => "every step is done; waiting for advance to complete it".into(),
                },
            });
        }
        let outcome = self
            .advance(&AdvanceOptions {
                limit: Limit::All,
                wait: false,
                approve: Vec::new(),
                yes: false,
                force: false,
                adopt_gates: false,
                prompter: None,
                accept_baseline: false,
            })
            .await?;
        Ok(match outcome {
            Outcome::Waiting {
                step,
                reason,
                remaining: Some(left),
            } => Watch::Soaking {
                step,
                next: self.now().plus(left.max(Duration::from_millis(1))),
                reason,
                problem: None,
                paused: false,
            },
            Outcome::Waiting {
                step,
                reason,
                remaining: None,
            } => Watch::Idle {
                reason: format!("{step}: {reason}"),
            },
            other => Watch::Acted(other),
        })
    }

    /// Record a reconciliation's result for the parity gates that read
    /// it (an `Entry::Reconciled`, as a `reconcile` step or a gate's own
    /// run records it), when the migration is active.
    pub async fn record_reconciliation(
        &self,
        name: &str,
        result: &ReconcileResult,
    ) -> Result<bool, EngineError> {
        // Never the first record of a migration: a session would start it.
        match self.peek().await? {
            Some(st) if st.status != Status::New && blocked(&st).is_none() => {}
            _ => return Ok(false),
        }
        let mut s = self.session(true).await?;
        if blocked(&s.state).is_some() || s.state.status == Status::New {
            return Ok(false);
        }
        self.commit(&mut s, vec![result.entry(name)]).await?;
        Ok(true)
    }
}

/// The step whose soak is running, if the migration is at one.
fn soaking(st: &State) -> Option<String> {
    let current = st.current()?;
    st.soak
        .as_ref()
        .filter(|k| k.step == current.id)
        .map(|k| k.step.clone())
}
