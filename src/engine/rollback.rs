//! The breaker and `rollback`: every changed target back to its baseline
//! (or to its value after a given step) — a first attempt at traffic and
//! mirroring, all in parallel, then at flags; then the targets that failed
//! are retried, in parallel, until the deadline, so a dead one never holds
//! the others back — each read back to verify and journaled as it lands;
//! `rollback --legacy`, which sends every target of the plan to its legacy
//! side when the state knows nothing of the changes; and `retry`, which
//! starts again at the phase that failed.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::plan::Step;
use crate::providers::{backoff, same_percent, FlagState};
use crate::state::{Entry, Restore, State, Status, StepStatus, Target, Timestamp, Value};

use super::converge::Purpose;
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
    /// The state knew nothing of the plan's targets: what they hold live.
    /// Nothing was restored; unless every one is on its legacy side (and
    /// `remaining` is empty), that is no success.
    pub unknown: Option<Vec<LegacyTarget>>,
    /// `rollback --legacy`: the targets left as they are (changed by
    /// `keep_on_rollback` steps, without `--force`).
    pub kept: Vec<Target>,
    /// This was `rollback --legacy`.
    pub legacy: bool,
}

/// A target of the plan, its live value and its legacy side, for a
/// rollback that cannot go by the state.
#[derive(Debug, Clone)]
pub struct LegacyTarget {
    pub target: Target,
    /// The live value, or why it could not be read.
    pub live: Result<Value, String>,
    /// What the legacy side is: traffic and mirror 0%, a flag off (at a
    /// rollout of 0% when the plan sets its rollout).
    pub legacy: Value,
    /// Changed by a `keep_on_rollback` step: left as it is (unless
    /// `--force`), and not counted against the legacy side.
    pub kept: bool,
}

impl LegacyTarget {
    /// Whether the live value is on the legacy side: no share for the
    /// candidate; a flag that is off (it serves nobody, whatever rollout
    /// it keeps).
    pub fn on_legacy_side(&self) -> bool {
        match &self.live {
            Ok(Value::Percent(p) | Value::Configured { configured: p }) => same_percent(*p, 0.0),
            Ok(Value::Flag(f)) => !f.enabled,
            Err(_) => false,
        }
    }
}

/// How the reason of a `rollback --legacy` begins in the journal.
const LEGACY_REASON: &str = "every target to its legacy side (rollback --legacy)";

/// How a rollback starts, as the journal and the events say.
struct Begin<'a> {
    reason: &'a str,
    to: Option<String>,
    breach: bool,
    legacy: bool,
}

/// Whether a state knows nothing a rollback can go by: none at all, or no
/// target recorded (and no rollback under way with targets to restore).
fn knows_nothing(st: Option<&State>) -> bool {
    let Some(st) = st else {
        return true;
    };
    let redo = matches!(st.status, Status::RollingBack | Status::RollbackIncomplete)
        && st.rollback.as_ref().is_some_and(|r| !r.restore.is_empty());
    st.targets.is_empty() && !redo
}

/// What a target is restored to when the steps before `keep` stay: its
/// baseline with those steps applied, and the `keep_on_rollback` steps
/// after them that took effect — also those an earlier rollback kept,
/// which are done but past the position it moved back to.
pub fn restore_plan(state: &State, steps: &[&Step], keep: usize) -> Vec<Restore> {
    let kept = state
        .steps
        .iter()
        .enumerate()
        .filter(|(i, st)| st.status == StepStatus::Done && (*i < keep || st.keep_on_rollback))
        .filter_map(|(i, st)| steps.get(i).copied().filter(|s| s.id == st.id));
    let kept: Vec<&Step> = kept.collect();
    state
        .targets
        .values()
        .map(|rec| Restore {
            target: rec.target.clone(),
            value: replay(&rec.baseline, &rec.target, kept.iter().copied()).0,
        })
        .collect()
}

/// What `target` holds when `steps` are applied, in order, to `baseline`,
/// and the last of them that changed it.
fn replay<'s>(
    baseline: &Value,
    target: &Target,
    steps: impl IntoIterator<Item = &'s Step>,
) -> (Value, Option<&'s str>) {
    let mut value = baseline.clone();
    let mut by = None;
    for step in steps {
        if let Some((t, change)) = step_change(step) {
            if &t == target {
                value = change.apply(&value);
                by = Some(step.id.as_str());
            }
        }
    }
    (value, by)
}

impl Engine<'_> {
    pub async fn rollback(&self, req: &RollbackRequest) -> Result<RollbackReport, EngineError> {
        let unknown = if req.to.is_none() {
            self.knows_nothing().await?
        } else {
            None
        };
        if let Some(found) = unknown {
            let state = self.peek().await?;
            let off: Vec<(Target, String)> = found
                .iter()
                .filter(|t| !t.kept && !t.on_legacy_side())
                .map(|t| {
                    let live = match &t.live {
                        Ok(v) => format!("at {v}"),
                        Err(e) => format!("unreadable: {e}"),
                    };
                    (t.target.clone(), live)
                })
                .collect();
            if !off.is_empty() || state.is_none() {
                // Nothing is journaled: there is nothing this run did, and
                // a rollback recorded as done would be a lie.
                return Ok(RollbackReport {
                    remaining: off,
                    unknown: Some(found),
                    ..RollbackReport::default()
                });
            }
            // A state that knows of no change, with every target on its
            // legacy side: the rollback has nothing to restore, truly.
            let mut s = self.session(true).await?;
            let mut report = self.rollback_locked(&mut s, req).await?;
            report.unknown = Some(found);
            return Ok(report);
        }
        let mut s = self.session(true).await?;
        self.rollback_locked(&mut s, req).await
    }

    /// The plan's targets as they are live, when the state knows nothing
    /// of them (`None`: it knows, or the plan changes no target).
    pub async fn knows_nothing(&self) -> Result<Option<Vec<LegacyTarget>>, EngineError> {
        let state = match self.store.load().await {
            // Damaged: the rollback's session rebuilds it from what can be
            // read (and says so when nothing can).
            Err(e) if e.is_damage() => return Ok(None),
            state => state?,
        };
        if !knows_nothing(state.as_ref()) {
            return Ok(None);
        }
        let found = self.legacy_targets(state.as_ref(), false).await;
        Ok((!found.is_empty()).then_some(found))
    }

    /// Every target of the plan (and any the state recorded that the plan
    /// no longer names), read live, with its legacy side. `force`: count
    /// the targets of `keep_on_rollback` steps too.
    pub async fn legacy_targets(&self, state: Option<&State>, force: bool) -> Vec<LegacyTarget> {
        // target -> (kept, the plan sets its rollout)
        let mut targets: BTreeMap<Target, (bool, bool)> = BTreeMap::new();
        for step in self.steps() {
            let Some((target, change)) = step_change(step) else {
                continue;
            };
            let e = targets.entry(target).or_insert((false, false));
            e.0 |= step.keep_on_rollback && !force;
            if let Change::Flag(c) = &change {
                e.1 |= c.percent.is_some();
            }
        }
        for rec in state.map(|s| s.targets.values()).into_iter().flatten() {
            targets.entry(rec.target.clone()).or_insert((false, false));
        }
        let lives = join_all(targets.keys().map(|t| self.read(t))).await;
        targets
            .into_iter()
            .zip(lives)
            .map(|((target, (kept, rollout)), live)| {
                let live = live.map_err(|e| crate::redact::clean(&format!("{e:#}")).into_owned());
                let legacy = if target.is_flag() {
                    Value::Flag(FlagState {
                        enabled: false,
                        percent: if rollout {
                            Some(0.0)
                        } else {
                            // The plan leaves the rollout alone: so does
                            // the legacy side.
                            match &live {
                                Ok(Value::Flag(f)) => f.percent,
                                _ => None,
                            }
                        },
                    })
                } else {
                    Value::Percent(0.0)
                };
                LegacyTarget {
                    target,
                    live,
                    legacy,
                    kept,
                }
            })
            .collect()
    }

    /// `rollback --legacy`: every target of the plan to its legacy side,
    /// whatever the state knows, journaled as a rollback.
    pub async fn rollback_legacy(
        &self,
        req: &RollbackRequest,
    ) -> Result<RollbackReport, EngineError> {
        let mut s = self.session(true).await?;
        let started = self.now();
        // Past an irreversible step only with --force, as any rollback.
        self.rollback_point(&s.state, req)?;
        let found = self.legacy_targets(Some(&s.state), req.force).await;
        let restore: Vec<Restore> = found
            .iter()
            .filter(|t| !t.kept)
            .map(|t| Restore {
                target: t.target.clone(),
                value: t.legacy.clone(),
            })
            .collect();
        let reason = format!("{LEGACY_REASON}: {}", req.reason);
        let begin = Begin {
            reason: &reason,
            to: None,
            breach: req.breach,
            legacy: true,
        };
        let mut report = self.restore_all(&mut s, begin, restore, started).await?;
        report.legacy = true;
        report.kept = found
            .into_iter()
            .filter(|t| t.kept)
            .map(|t| t.target)
            .collect();
        Ok(report)
    }

    /// What `rollback --legacy` would do: each target, its live value, its
    /// legacy side (kept ones left out). Changes nothing.
    pub async fn legacy_preview(
        &self,
        req: &RollbackRequest,
    ) -> Result<Vec<LegacyTarget>, EngineError> {
        let st = self.peek().await?;
        if let Some(st) = &st {
            self.rollback_point(st, req)?;
        }
        Ok(self.legacy_targets(st.as_ref(), req.force).await)
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
        // Finishing a `rollback --legacy`: still to the legacy side.
        let legacy = redo
            && s.state
                .rollback
                .as_ref()
                .is_some_and(|r| r.reason.starts_with(LEGACY_REASON));
        let reason = if legacy && !req.reason.starts_with(LEGACY_REASON) {
            format!("{LEGACY_REASON}: {}", req.reason)
        } else {
            req.reason.clone()
        };
        let begin = Begin {
            reason: &reason,
            to,
            breach: req.breach,
            legacy,
        };
        let mut report = self.restore_all(s, begin, restore, started).await?;
        report.legacy = legacy;
        Ok(report)
    }

    /// Journal the rollback's start, put every target back (first attempts:
    /// traffic and mirroring, then flags; then the ones that failed, all in
    /// parallel until the deadline, so a dead target never holds the
    /// others back beyond its first attempt), journaling each result as it
    /// lands, and the end.
    async fn restore_all(
        &self,
        s: &mut Session,
        begin: Begin<'_>,
        restore: Vec<Restore>,
        started: Timestamp,
    ) -> Result<RollbackReport, EngineError> {
        let Begin {
            reason,
            to,
            breach,
            legacy,
        } = begin;
        self.commit(
            s,
            vec![Entry::RollbackStarted {
                reason: reason.to_string(),
                to: to.clone(),
                breach,
                legacy,
                restore: restore.clone(),
            }],
        )
        .await?;
        let deadline = started.plus(self.plan.settings.rollback_timeout);
        let mut report = RollbackReport {
            to,
            ..RollbackReport::default()
        };
        // First attempts. Traffic and mirroring first: users stop reaching
        // the candidate. Then flags.
        let mut failing = Vec::new();
        for flags in [false, true] {
            let mut attempts: FuturesUnordered<_> = restore
                .iter()
                .filter(|r| r.target.is_flag() == flags)
                .map(|r| async move {
                    let mut before = None;
                    let result = self
                        .converge_attempt(&r.target, &r.value, &mut before)
                        .await;
                    (r, before, result)
                })
                .collect();
            while let Some((r, before, result)) = attempts.next().await {
                let landed = self
                    .restore_landed(s, &mut report, r, before.clone(), result, Some(deadline))
                    .await?;
                if let Some(error) = landed {
                    failing.push((r, before, error));
                }
            }
        }
        // Then whatever failed, in parallel, until the deadline.
        let mut retries: FuturesUnordered<_> = failing
            .into_iter()
            .map(|(r, before, error)| async move {
                let (before, result) = self
                    .restore_until(&r.target, &r.value, deadline, before, error)
                    .await;
                (r, before, result)
            })
            .collect();
        while let Some((r, before, result)) = retries.next().await {
            self.restore_landed(s, &mut report, r, before, result, None)
                .await?;
        }
        let remaining: Vec<String> = report.remaining.iter().map(|(t, _)| t.id()).collect();
        report.seconds = self.now().since(started).as_secs_f64();
        self.commit(
            s,
            vec![Entry::RollbackFinished {
                remaining,
                seconds: Some(report.seconds),
            }],
        )
        .await?;
        Ok(report)
    }

    /// Retry a target whose first attempt failed with `error`, backing
    /// off, until the deadline.
    async fn restore_until(
        &self,
        target: &Target,
        want: &Value,
        deadline: Timestamp,
        mut before: Option<Value>,
        mut error: String,
    ) -> (Option<Value>, Result<Value, String>) {
        let mut attempt = 0u32;
        loop {
            let now = self.now();
            if now >= deadline {
                return (before, Err(error));
            }
            let pause = backoff(attempt)
                .min(deadline.since(now))
                .max(Duration::from_millis(10));
            self.clock.sleep(pause).await;
            attempt += 1;
            match self.converge_attempt(target, want, &mut before).await {
                Ok(v) => return (before, Ok(v)),
                Err(e) => error = e,
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
        // The phases before the failed one all ran: their values, as a
        // rollback to the step before it would restore them.
        let wants: Vec<(Target, Value, String)> = st
            .targets
            .values()
            .filter_map(|rec| {
                let (value, by) = replay(&rec.baseline, &rec.target, steps[..idx].iter().copied());
                by.map(|by| (rec.target.clone(), value, by.to_string()))
            })
            .collect();
        let mut report = RetryReport {
            phase: first.phase.clone(),
            step: first.id.clone(),
            reapplied: Vec::new(),
        };
        for (target, want, by) in wants {
            let purpose = Purpose::Reapply { step: &by };
            let done = self
                .converge(session.as_mut(), purpose, &target, &Change::to(&want))
                .await?;
            if done.changed {
                report.reapplied.push((target, Some(done.before), want));
            }
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
