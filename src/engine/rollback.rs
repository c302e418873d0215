//! The breaker and `rollback`: every changed target back to its baseline
//! (or to its value after a given step) — traffic and mirroring first, all
//! in parallel, then flags — each read back to verify, retried until the
//! deadline; and `retry`, which starts again at the phase that failed.

use std::time::Duration;

use futures_util::future::join_all;

use crate::plan::Step;
use crate::providers::backoff;
use crate::state::{Entry, Restore, State, Status, StepStatus, Target, Timestamp, Value};

use super::targets::{step_change, Change};
use super::{Engine, EngineError, Event, Session};

pub struct RollbackRequest {
    /// Restore the values as they were after this step (`None`: baselines).
    pub to: Option<String>,
    pub reason: String,
    /// The breaker tripped (it never forces past an irreversible step).
    pub breach: bool,
    /// Roll back past irreversible steps.
    pub force: bool,
}

#[derive(Debug, Default)]
pub struct RollbackReport {
    /// Targets restored: from (when it could be read) and to.
    pub restored: Vec<(Target, Option<Value>, Value)>,
    /// Targets still wrong, and why.
    pub remaining: Vec<(Target, String)>,
    pub seconds: f64,
    /// The step rolled back to (`None`: the baselines).
    pub to: Option<String>,
}

/// What a target is restored to when the steps before `keep` stay: its
/// baseline with those steps applied, and the `keep_on_rollback` steps
/// after them that took effect — also those an earlier rollback kept,
/// which are done but past the position it moved back to.
pub fn restore_plan(state: &State, steps: &[&Step], keep: usize) -> Vec<Restore> {
    let mut out = Vec::new();
    for rec in state.targets.values() {
        let mut value = rec.baseline.clone();
        for (i, st) in state.steps.iter().enumerate() {
            if st.status != StepStatus::Done || !(i < keep || st.keep_on_rollback) {
                continue;
            }
            let Some(step) = steps.get(i).filter(|s| s.id == st.id) else {
                continue;
            };
            if let Some((target, change)) = step_change(step) {
                if target == rec.target {
                    value = change.apply(&value);
                }
            }
        }
        out.push(Restore {
            target: rec.target.clone(),
            value,
        });
    }
    out
}

impl Engine<'_> {
    pub async fn rollback(&self, req: &RollbackRequest) -> Result<RollbackReport, EngineError> {
        let mut s = self.session(true).await?;
        self.rollback_locked(&mut s, req).await
    }

    /// What a rollback would do: each target, its live value, its restore
    /// value. Changes nothing.
    pub async fn rollback_preview(
        &self,
        req: &RollbackRequest,
    ) -> Result<Vec<(Target, Result<Value, String>, Value)>, EngineError> {
        let peeked = match self.store.load().await {
            // What the rollback would rebuild, unwritten.
            Err(e) if e.is_damage() => {
                let rec = self
                    .store
                    .recover(&self.actor, self.now(), "migrate rollback")
                    .await?;
                let first = e.to_string();
                self.events.event(&Event::Warning {
                    message: format!(
                        "{}: the rollback would rebuild the state first, from {} journal records{}",
                        first.lines().next().unwrap_or_default(),
                        rec.as_ref().map_or(0, |r| r.kept),
                        if rec.as_ref().is_some_and(|r| r.from_checkpoint) {
                            " and the state checkpoint"
                        } else {
                            ""
                        }
                    ),
                });
                rec.map(|r| r.state)
            }
            peeked => peeked?,
        };
        let Some(st) = peeked else {
            return Ok(Vec::new());
        };
        let (keep, _) = self.rollback_point(&st, req)?;
        let steps = self.steps();
        let plan = restore_plan(&st, &steps, keep);
        let lives = join_all(plan.iter().map(|r| self.read(&r.target))).await;
        Ok(plan
            .into_iter()
            .zip(lives)
            .map(|(r, live)| (r.target, live.map_err(|e| format!("{e:#}")), r.value))
            .collect())
    }

    /// Index of the first step undone, and the step kept (for `--to`).
    fn rollback_point(
        &self,
        st: &State,
        req: &RollbackRequest,
    ) -> Result<(usize, Option<String>), EngineError> {
        let position = st.position.min(st.steps.len());
        let (keep, to) = match &req.to {
            Some(id) => {
                let Some(i) = st.index_of(id) else {
                    return Err(EngineError::Refused(format!(
                        "--to {id}: the migration has no step '{id}'"
                    )));
                };
                if i >= position {
                    return Err(EngineError::Refused(format!(
                        "--to {id}: that step has not run yet (the migration is at {})",
                        st.current().map_or("the end".to_string(), |c| c.id.clone())
                    )));
                }
                (i + 1, Some(id.clone()))
            }
            None => (0, None),
        };
        let irreversible = st
            .steps
            .iter()
            .enumerate()
            .take(position)
            .skip(keep)
            .filter(|(_, s)| s.irreversible && s.status == StepStatus::Done)
            .map(|(i, s)| (i, s.id.clone()))
            .next_back();
        match irreversible {
            Some(_) if req.force => Ok((keep, to)),
            Some((i, id)) if req.breach => {
                self.events.event(&Event::Warning {
                    message: format!(
                        "step {id} is irreversible: the breaker restores the values as they were after it, not before"
                    ),
                });
                Ok((i + 1, Some(id)))
            }
            Some((_, id)) => Err(EngineError::Refused(format!(
                "step {id} is irreversible: rolling back past it needs --force (or roll back to it: --to {id})"
            ))),
            None => Ok((keep, to)),
        }
    }

    pub(crate) async fn rollback_locked(
        &self,
        s: &mut Session,
        req: &RollbackRequest,
    ) -> Result<RollbackReport, EngineError> {
        let started = self.now();
        let redo = matches!(
            s.state.status,
            Status::RollingBack | Status::RollbackIncomplete
        ) && req.to.is_none();
        let (keep, to) = if redo {
            let to = s.state.rollback.as_ref().and_then(|r| r.to.clone());
            let keep = to
                .as_ref()
                .and_then(|id| s.state.index_of(id))
                .map_or(0, |i| i + 1);
            (keep, to)
        } else {
            self.rollback_point(&s.state, req)?
        };
        let restore = match (&s.state.rollback, redo) {
            (Some(rb), true) => rb.restore.clone(),
            _ => {
                let steps = self.steps();
                restore_plan(&s.state, &steps, keep)
            }
        };
        self.commit(
            s,
            vec![Entry::RollbackStarted {
                reason: req.reason.clone(),
                to: to.clone(),
                breach: req.breach,
                restore: restore.clone(),
            }],
        )
        .await?;
        self.events.event(&Event::RollbackStarted {
            reason: req.reason.clone(),
            to: to.clone(),
            targets: restore.len(),
        });
        let deadline = started.plus(self.plan.settings.rollback_timeout);
        let mut report = RollbackReport {
            to,
            ..RollbackReport::default()
        };
        // Traffic and mirroring first: users stop reaching the candidate.
        // Then flags.
        let waves: Vec<Vec<&Restore>> = [false, true]
            .iter()
            .map(|&flags| {
                restore
                    .iter()
                    .filter(|r| r.target.is_flag() == flags)
                    .collect::<Vec<_>>()
            })
            .filter(|w| !w.is_empty())
            .collect();
        let mut pending = Vec::new();
        for wave in &waves {
            // Each wave's results are journaled before the next starts; the
            // last wave's go in with the rollback's end (one write less).
            if !pending.is_empty() {
                self.commit(s, std::mem::take(&mut pending)).await?;
            }
            let results = join_all(
                wave.iter()
                    .map(|r| self.restore_one(&r.target, &r.value, deadline)),
            )
            .await;
            let entries = &mut pending;
            for (r, (before, result)) in wave.iter().zip(results) {
                match result {
                    Ok(_) => {
                        entries.push(Entry::Restored {
                            target: r.target.clone(),
                            before: before.clone(),
                            value: r.value.clone(),
                        });
                        self.events.event(&Event::Restored {
                            target: r.target.clone(),
                            from: before.clone(),
                            to: r.value.clone(),
                            dry_run: false,
                        });
                        report
                            .restored
                            .push((r.target.clone(), before, r.value.clone()));
                    }
                    Err(error) => {
                        entries.push(Entry::RestoreFailed {
                            target: r.target.clone(),
                            error: error.clone(),
                        });
                        self.events.event(&Event::RestoreFailed {
                            target: r.target.clone(),
                            error: error.clone(),
                            retrying: false,
                        });
                        report.remaining.push((r.target.clone(), error));
                    }
                }
            }
        }
        let remaining: Vec<String> = report.remaining.iter().map(|(t, _)| t.id()).collect();
        pending.push(Entry::RollbackFinished {
            remaining: remaining.clone(),
        });
        self.commit(s, pending).await?;
        report.seconds = self.now().since(started).as_secs_f64();
        self.events.event(&Event::RollbackFinished {
            remaining,
            seconds: report.seconds,
        });
        Ok(report)
    }

    /// Put one target back, retrying until the deadline.
    async fn restore_one(
        &self,
        target: &Target,
        want: &Value,
        deadline: Timestamp,
    ) -> (Option<Value>, Result<Value, String>) {
        let mut before = None;
        let mut attempt = 0u32;
        loop {
            let tried: anyhow::Result<Value> = async {
                let live = self.read(target).await?;
                if before.is_none() {
                    before = Some(live.clone());
                }
                if want.matches(&live) {
                    return Ok(live);
                }
                self.write(target, &Change::to(want)).await?;
                self.verify(target, want).await
            }
            .await;
            match tried {
                Ok(v) => return (before, Ok(v)),
                Err(e) => {
                    let error = crate::redact::clean(&format!("{e:#}")).into_owned();
                    let now = self.now();
                    if now >= deadline {
                        return (before, Err(error));
                    }
                    if attempt == 0 {
                        self.events.event(&Event::RestoreFailed {
                            target: target.clone(),
                            error,
                            retrying: true,
                        });
                    }
                    let pause = backoff(attempt)
                        .min(deadline.since(now))
                        .max(Duration::from_millis(10));
                    self.clock.sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    /// `retry`: after a rollback, put back what the phases before the
    /// failed one had set, and start again at that phase.
    pub async fn retry(&self, dry_run: bool) -> Result<RetryReport, EngineError> {
        let mut session = if dry_run {
            None
        } else {
            Some(self.session(true).await?)
        };
        let state = match &session {
            Some(s) => s.state.clone(),
            None => self
                .peek()
                .await?
                .unwrap_or_else(|| State::empty(&self.plan.name)),
        };
        let st = &state;
        match st.status {
            Status::RolledBack => {}
            Status::Failed => {
                return Err(EngineError::Refused(format!(
                    "step {} failed; `migrate advance` tries it again",
                    st.current().map_or("?", |c| c.id.as_str())
                )))
            }
            Status::RollingBack | Status::RollbackIncomplete => {
                return Err(EngineError::Refused(
                    "the rollback has not finished: run `migrate rollback` again first".into(),
                ))
            }
            other => {
                return Err(EngineError::Refused(format!(
                    "nothing to retry: the migration is {}",
                    other.words()
                )))
            }
        }
        let steps = self.steps();
        let phase = st.rollback.as_ref().and_then(|r| r.phase.clone());
        let idx = phase
            .as_ref()
            .and_then(|p| steps.iter().position(|s| &s.phase == p))
            .unwrap_or(0);
        let Some(first) = steps.get(idx) else {
            return Err(EngineError::Refused(
                "the plan has no steps to retry".into(),
            ));
        };
        let mut wants: Vec<(Target, Value, String)> = Vec::new();
        for rec in st.targets.values() {
            let mut value = rec.baseline.clone();
            let mut by = None;
            for step in steps.iter().take(idx) {
                if let Some((t, change)) = step_change(step) {
                    if t == rec.target {
                        value = change.apply(&value);
                        by = Some(step.id.clone());
                    }
                }
            }
            if let Some(by) = by {
                wants.push((rec.target.clone(), value, by));
            }
        }
        let mut report = RetryReport {
            phase: first.phase.clone(),
            step: first.id.clone(),
            reapplied: Vec::new(),
        };
        for (target, want, by) in wants {
            let live = self
                .read(&target)
                .await
                .map_err(|e| EngineError::StepFailed {
                    step: by.clone(),
                    error: format!("{e:#}"),
                })?;
            if want.matches(&live) {
                continue;
            }
            self.events.event(&Event::Change {
                step: by.clone(),
                target: target.clone(),
                from: Some(live.clone()),
                to: want.clone(),
                dry_run,
            });
            report
                .reapplied
                .push((target.clone(), Some(live.clone()), want.clone()));
            let Some(session) = session.as_mut() else {
                continue;
            };
            self.commit(
                session,
                vec![Entry::Intended {
                    step: by.clone(),
                    target: target.clone(),
                    before: Some(live),
                    after: want.clone(),
                }],
            )
            .await?;
            let fail = |e: anyhow::Error| EngineError::StepFailed {
                step: by.clone(),
                error: crate::redact::clean(&format!("{e:#}")).into_owned(),
            };
            self.write(&target, &Change::to(&want))
                .await
                .map_err(fail)?;
            self.commit(
                session,
                vec![Entry::Applied {
                    step: by.clone(),
                    target: target.clone(),
                    after: want.clone(),
                }],
            )
            .await?;
            let value = self.verify(&target, &want).await.map_err(fail)?;
            self.commit(
                session,
                vec![Entry::Verified {
                    step: by.clone(),
                    target: target.clone(),
                    value,
                }],
            )
            .await?;
        }
        if let Some(session) = session.as_mut() {
            self.commit(
                session,
                vec![Entry::Retried {
                    phase: first.phase.clone(),
                    step: first.id.clone(),
                }],
            )
            .await?;
            self.events.event(&Event::Retried {
                phase: first.phase.clone(),
                step: first.id.clone(),
            });
        }
        Ok(report)
    }
}

#[derive(Debug)]
pub struct RetryReport {
    pub phase: String,
    pub step: String,
    pub reapplied: Vec<(Target, Option<Value>, Value)>,
}
