//! Converging a target on a value: the one place a target is written.
//!
//! Every path that sets a target — a step, `retry` putting back what the
//! phases before the failed one had set, a rollback restoring a value —
//! goes through here, in the same order: read the target; if it already
//! holds the value (and no stopped run was setting it), leave it (no
//! write, no intent); otherwise journal the
//! intent, set it, journal it applied, read it back, journal the result.
//! A failure is redacted once and recorded once.
//!
//! Steps and retries run one target at a time under the session
//! ([`Engine::converge`]): `intended` before the write, `applied` after it,
//! `verified` after the read back, `step_failed` on a failure; a target
//! already right is journaled `verified` alone (nothing was set, so no
//! value can be missing its intent). A rollback restores its targets in
//! parallel: its intent is the `rollback_started` record, which lists every
//! value before any is set, so the I/O ([`Engine::converge_attempt`]) runs
//! without the session and each result is journaled as it lands
//! ([`Engine::restore_landed`]: `restored` or `restore_failed`).

use crate::plan::Step;
use crate::state::{Entry, Restore, Target, Timestamp, Value};

use super::rollback::RollbackReport;
use super::targets::Change;
use super::{Engine, EngineError, Event, Session};

/// Why a target is converged under the session: what is journaled with it.
#[derive(Clone, Copy)]
pub(super) enum Purpose<'a> {
    /// A step runs: the target's baseline when it is the first change of
    /// it, `step_started` with the intent, `step_done` with the result.
    Step {
        step: &'a Step,
        accept_baseline: bool,
    },
    /// `retry` puts back the value `step` had set: the intent and results
    /// under that step's id (it does not run again).
    Reapply { step: &'a str },
}

impl Purpose<'_> {
    fn step(&self) -> &str {
        match self {
            Purpose::Step { step, .. } => &step.id,
            Purpose::Reapply { step } => step,
        }
    }

    fn runs(&self) -> bool {
        matches!(self, Purpose::Step { .. })
    }
}

/// What converging a target did.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Converged {
    /// The value read first.
    pub before: Value,
    /// The value it holds now (a dry run: the value it would be set to).
    pub value: Value,
    /// It was set (a dry run: it would be); `false`: it already held it.
    pub changed: bool,
}

/// Whether `live` already holds `want`, so that setting it would change
/// nothing: it reads back as `want` (`Value::matches`), and it is not an
/// off flag lacking the rollout `want` keeps for it (a percent on an off
/// flag serves nobody, so it reads back right, but it is still to store),
/// nor a share a proxy takes from its own configuration where a share is
/// to be set (the same share, but one that would follow the
/// configuration's next change).
fn already_right(want: &Value, live: &Value) -> bool {
    if let (Value::Flag(w), Value::Flag(l)) = (want, live) {
        if !w.enabled && w.percent.is_some() && l.percent.is_none() {
            return false;
        }
    }
    if let (Value::Percent(_), Value::Configured { .. }) = (want, live) {
        return false;
    }
    want.matches(live)
}

/// An error as migrate may write it anywhere: secrets masked.
fn redacted(e: &anyhow::Error) -> String {
    crate::redact::clean(&format!("{e:#}")).into_owned()
}

impl Engine<'_> {
    /// Converge `target` by `change`, journaled for `purpose`. `s: None` is
    /// a dry run: read, decide, say what would change; nothing journaled
    /// or set. A failure is journaled (`step_failed`, redacted) and returned.
    pub(super) async fn converge(
        &self,
        s: Option<&mut Session>,
        purpose: Purpose<'_>,
        target: &Target,
        change: &Change,
    ) -> Result<Converged, EngineError> {
        let live = match self.read(target).await {
            Ok(v) => v,
            Err(e) => return Err(self.converge_failed(s, purpose, &e).await),
        };
        let want = change.apply(&live);
        // Already right — unless a run was stopped while setting it (an
        // intent with no result): its write may be half done (applied, not
        // yet persisted), so it is made again, absolutely.
        let interrupted = s.as_deref().is_some_and(|s| {
            s.state
                .inflight
                .as_ref()
                .is_some_and(|i| &i.target == target)
        });
        let right = already_right(&want, &live) && !interrupted;
        let Some(s) = s else {
            if !right {
                self.change_event(purpose, target, &live, &want, true);
            }
            return Ok(Converged {
                before: live,
                value: want,
                changed: !right,
            });
        };
        let mut entries = Vec::new();
        if let Purpose::Step {
            accept_baseline, ..
        } = purpose
        {
            if !s.state.targets.contains_key(&target.id()) {
                let note = self.check_baseline(target, &live, accept_baseline).await?;
                entries.push(Entry::Baseline {
                    target: target.clone(),
                    value: live.clone(),
                    note,
                });
            }
            entries.push(Entry::StepStarted {
                step: purpose.step().to_string(),
            });
        }
        if right {
            // Already right: nothing is set, so nothing is intended; the
            // value read is the verification.
            self.converge_verified(s, purpose, target, entries, live.clone())
                .await?;
            return Ok(Converged {
                before: live.clone(),
                value: live,
                changed: false,
            });
        }
        entries.push(Entry::Intended {
            step: purpose.step().to_string(),
            target: target.clone(),
            before: Some(live.clone()),
            after: want.clone(),
        });
        self.commit(s, entries).await?;
        if let Err(e) = self.write(target, change).await {
            return Err(self.converge_failed(Some(s), purpose, &e).await);
        }
        self.commit(
            s,
            vec![Entry::Applied {
                step: purpose.step().to_string(),
                target: target.clone(),
                after: want.clone(),
            }],
        )
        .await?;
        let value = match self.verify(target, &want).await {
            Ok(v) => v,
            Err(e) => return Err(self.converge_failed(Some(s), purpose, &e).await),
        };
        self.converge_verified(s, purpose, target, Vec::new(), value.clone())
            .await?;
        Ok(Converged {
            before: live,
            value,
            changed: true,
        })
    }

    fn change_event(
        &self,
        purpose: Purpose<'_>,
        target: &Target,
        from: &Value,
        to: &Value,
        dry_run: bool,
    ) {
        self.events.event(&Event::Change {
            step: purpose.step().to_string(),
            target: target.clone(),
            from: Some(from.clone()),
            to: to.clone(),
            dry_run,
        });
    }

    /// Journal `verified` (after `entries`), and `step_done` for a step.
    async fn converge_verified(
        &self,
        s: &mut Session,
        purpose: Purpose<'_>,
        target: &Target,
        mut entries: Vec<Entry>,
        value: Value,
    ) -> Result<(), EngineError> {
        let step = purpose.step().to_string();
        entries.push(Entry::Verified {
            step: step.clone(),
            target: target.clone(),
            value: value.clone(),
        });
        if purpose.runs() {
            entries.push(Entry::StepDone {
                step: step.clone(),
                note: None,
            });
        }
        self.commit(s, entries).await
    }

    /// The one failure record of a converge: the error redacted, journaled
    /// as `step_failed` (not in a dry run) and said. A failure to journal
    /// it is the error returned.
    async fn converge_failed(
        &self,
        s: Option<&mut Session>,
        purpose: Purpose<'_>,
        e: &anyhow::Error,
    ) -> EngineError {
        let step = purpose.step().to_string();
        let error = redacted(e);
        if let Some(s) = s {
            let entry = Entry::StepFailed {
                step: step.clone(),
                error: error.clone(),
            };
            if let Err(e) = self.commit(s, vec![entry]).await {
                return e;
            }
        }
        EngineError::StepFailed { step, error }
    }

    /// One attempt at converging a target on `want` for a rollback, without
    /// the session (its intent is `rollback_started`): read (keeping the
    /// first value read in `before`), set unless it already holds `want`,
    /// read back. The error is redacted.
    pub(super) async fn converge_attempt(
        &self,
        target: &Target,
        want: &Value,
        before: &mut Option<Value>,
    ) -> Result<Value, String> {
        let tried: anyhow::Result<Value> = async {
            let live = self.read(target).await?;
            if before.is_none() {
                *before = Some(live.clone());
            }
            if already_right(want, &live) {
                return Ok(live);
            }
            self.write(target, &Change::to(want)).await?;
            self.verify(target, want).await
        }
        .await;
        tried.map_err(|e| redacted(&e))
    }

    /// A rollback's attempt at a target landed: put back, journaled at once
    /// (`restored`); failed for good, journaled (`restore_failed`) and
    /// counted as remaining. `retry_until`: a first attempt, to be retried
    /// until then — only said, and its error handed back for the retries.
    pub(super) async fn restore_landed(
        &self,
        s: &mut Session,
        report: &mut RollbackReport,
        r: &Restore,
        before: Option<Value>,
        result: Result<Value, String>,
        retry_until: Option<Timestamp>,
    ) -> Result<Option<String>, EngineError> {
        let error = match result {
            Ok(_) => {
                self.commit(
                    s,
                    vec![Entry::Restored {
                        target: r.target.clone(),
                        before: before.clone(),
                        value: r.value.clone(),
                    }],
                )
                .await?;
                report
                    .restored
                    .push((r.target.clone(), before, r.value.clone()));
                return Ok(None);
            }
            Err(error) => error,
        };
        if let Some(deadline) = retry_until {
            self.events.event(&Event::RestoreFailed {
                target: r.target.clone(),
                error: error.clone(),
                retrying: self.now() < deadline,
            });
            return Ok(Some(error));
        }
        self.commit(
            s,
            vec![Entry::RestoreFailed {
                target: r.target.clone(),
                error: error.clone(),
            }],
        )
        .await?;
        report.remaining.push((r.target.clone(), error));
        Ok(None)
    }
}
