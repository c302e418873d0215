//! `advance`: run steps until the limit, a soak, an approval, or the end.

use std::collections::HashSet;
use std::time::Duration;

use crate::plan::{OnBreach, Step, StepKind};
use crate::state::{Entry, GateSpec, State, Status, Timestamp};

use futures_util::future::join_all;

use super::converge::Purpose;
use super::gates::{Kept, Reading};
use super::targets::step_change;
use super::{Engine, EngineError, Event, Prompter, ReconcileResult, Session};

/// How far one `advance` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Until the end (or until something must be waited for).
    All,
    /// This many steps.
    Steps(usize),
    /// Up to and including this step.
    To(String),
}

pub struct AdvanceOptions<'a> {
    pub limit: Limit,
    /// Wait through soaks instead of returning while they run.
    pub wait: bool,
    /// Steps approved on the command line (`--approve ID`).
    pub approve: Vec<String>,
    /// `-y`: approve every approval step.
    pub yes: bool,
    /// Carry on over drift.
    pub force: bool,
    /// Guard the soak in progress by the plan's gates as they are now,
    /// where they were changed since it started (journaled).
    pub adopt_gates: bool,
    /// Asks a person on a terminal; `None` without one.
    pub prompter: Option<&'a dyn Prompter>,
    /// Take a first baseline even where the candidate already has a share
    /// or another migration drives the target (journaled).
    pub accept_baseline: bool,
}

/// How an `advance` ended (errors aside).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every step is done.
    Completed,
    /// The limit was reached; more steps remain.
    Stopped {
        next: Option<String>,
    },
    /// A soak is running or an approval is needed.
    Waiting {
        step: String,
        reason: String,
        remaining: Option<Duration>,
    },
    /// The migration was rolled back (by the breaker, or by someone).
    RolledBack {
        by: String,
        at: Timestamp,
        reason: String,
        breach: bool,
        /// `rollback --to`: the step whose values were restored (the
        /// migration goes on from the step after it).
        to: Option<String>,
    },
    /// A rollback could not restore everything.
    RollbackIncomplete {
        remaining: Vec<String>,
    },
    /// Progress is held.
    Paused {
        by: String,
        reason: String,
        breach: bool,
    },
    /// Another run is executing the current step.
    Busy {
        step: String,
        by: String,
    },
    Interrupted,
}

/// What one step did.
pub(super) enum Progress {
    /// The step is done.
    Done,
    /// Come back at `until`.
    Wait { until: Timestamp, reason: String },
    /// A person must approve; ask if there is a terminal.
    Ask { message: String },
    /// Stop here.
    End(Outcome),
    /// The step is claimed: execute it without the lock.
    Execute,
}

impl Engine<'_> {
    pub async fn advance(&self, opts: &AdvanceOptions<'_>) -> Result<Outcome, EngineError> {
        let mut done_here = 0usize;
        let mut checked_drift = false;
        let mut said_paused = false;
        let mut approved: HashSet<String> = opts.approve.iter().cloned().collect();
        self.refuse_unknown_approvals(&opts.approve)?;
        if let Limit::To(id) = &opts.limit {
            if self.plan.step(id).is_none() {
                return Err(EngineError::Refused(format!(
                    "--to {id}: the plan has no step '{id}'"
                )));
            }
        }
        // The last rollback when this run began: one journaled since was
        // made by someone else (the breaker's returns at once), and ends
        // this run — a partial one (`rollback --to`) too, though it leaves
        // the migration active.
        let mut seen_rollback: Option<Option<Timestamp>> = None;
        loop {
            if self.interrupt.raised() {
                return Ok(Outcome::Interrupted);
            }
            // The soak in progress is guarded first, by the gates it
            // started with: whatever the plan file, drift or a pause say
            // below, a breach trips the breaker.
            let mut s = self.session_unchecked().await?;
            let last_rollback = s.state.rollback.as_ref().map(|r| r.at);
            match seen_rollback {
                None => seen_rollback = Some(last_rollback),
                Some(seen) if seen != last_rollback => {
                    if let Some(o) = blocked(&s.state).or_else(|| rolled_back(&s.state)) {
                        return Ok(o);
                    }
                }
                Some(_) => {}
            }
            if let Some(o) = self.guard(&mut s, opts.adopt_gates).await? {
                return Ok(o);
            }
            self.sync_plan(&mut s, true).await?;
            if s.state.status == Status::Paused && opts.wait {
                // Held, not unguarded: keep watching the soak's gates
                // until someone resumes (or rolls back).
                let until = self.next_guard(&s.state);
                let serial = s.state.serial;
                if !said_paused {
                    said_paused = true;
                    let (by, reason) = s
                        .state
                        .paused
                        .as_ref()
                        .map(|p| (p.actor.as_str(), p.reason.as_str()))
                        .unwrap_or_default();
                    self.events.event(&Event::Waiting {
                        step: s.state.current().map_or_else(String::new, |c| c.id.clone()),
                        reason: format!(
                            "paused by {by}: {reason}; waiting for `migrate resume`{}",
                            if s.state.soak.is_some() {
                                " while the soak's gates are still watched (its clock is held)"
                            } else {
                                ""
                            }
                        ),
                        remaining_ms: None,
                    });
                }
                drop(s);
                if let Some(o) = self.sleep_until(None, until, serial).await? {
                    if !matches!(o, Outcome::Paused { .. }) {
                        return Ok(o);
                    }
                }
                continue;
            }
            said_paused = false;
            if let Some(o) = blocked(&s.state) {
                return Ok(o);
            }
            if !checked_drift {
                checked_drift = true;
                self.refuse_drift(&s.state, opts.force).await?;
            }
            let pos = s.state.position;
            let Some(step) = self.step_at(pos) else {
                self.commit(&mut s, vec![Entry::Completed]).await?;
                return Ok(Outcome::Completed);
            };
            let reached = match &opts.limit {
                Limit::All => false,
                Limit::Steps(n) => done_here >= *n,
                Limit::To(id) => s.state.index_of(id).is_some_and(|i| pos > i),
            };
            if reached {
                return Ok(Outcome::Stopped {
                    next: Some(step.id.clone()),
                });
            }
            let progress = match self.step(&mut s, step, opts, &approved).await {
                Ok(p) => p,
                Err(e) => return Err(e),
            };
            match progress {
                Progress::Done => done_here += 1,
                Progress::Execute => {
                    drop(s);
                    match self.execute_claimed(step).await? {
                        Progress::Done => done_here += 1,
                        Progress::End(o) => return Ok(o),
                        _ => {}
                    }
                }
                Progress::End(o) => return Ok(o),
                Progress::Ask { message } => {
                    drop(s);
                    let Some(p) = opts.prompter else {
                        return Ok(self.waiting_approval(step));
                    };
                    let yes = p
                        .confirm(&message)
                        .map_err(|e| EngineError::Refused(format!("asking for approval: {e:#}")))?;
                    if !yes {
                        return Ok(Outcome::Waiting {
                            step: step.id.clone(),
                            reason: "approval declined".to_string(),
                            remaining: None,
                        });
                    }
                    approved.insert(step.id.clone());
                }
                Progress::Wait { until, reason } => {
                    let serial = s.state.serial;
                    drop(s);
                    if !opts.wait {
                        let remaining = until.since(self.now());
                        self.events.event(&Event::Waiting {
                            step: step.id.clone(),
                            reason: reason.clone(),
                            remaining_ms: Some(millis(remaining)),
                        });
                        return Ok(Outcome::Waiting {
                            step: step.id.clone(),
                            reason,
                            remaining: Some(remaining),
                        });
                    }
                    if let Some(o) = self.sleep_until(Some(step), until, serial).await? {
                        // A pause is waited through (guarding) by the loop.
                        if !matches!(o, Outcome::Paused { .. }) {
                            return Ok(o);
                        }
                    }
                }
            }
        }
    }

    /// `--approve ID` names an approval step of the plan, or is refused:
    /// a typo must not pass for an approval given.
    fn refuse_unknown_approvals(&self, ids: &[String]) -> Result<(), EngineError> {
        let approvals: Vec<&str> = self
            .plan
            .steps()
            .filter(|s| matches!(s.kind, StepKind::Approve { .. }))
            .map(|s| s.id.as_str())
            .collect();
        let Some(unknown) = ids.iter().find(|id| !approvals.contains(&id.as_str())) else {
            return Ok(());
        };
        let what = match self.plan.step(unknown) {
            Some(_) => format!("step '{unknown}' is not an approval step"),
            None => format!("the plan has no step '{unknown}'"),
        };
        let has = if approvals.is_empty() {
            "the plan has no approval steps".to_string()
        } else {
            format!("its approval steps: {}", approvals.join(", "))
        };
        Err(EngineError::Refused(format!(
            "--approve {unknown}: {what}; {has}"
        )))
    }

    fn waiting_approval(&self, step: &Step) -> Outcome {
        Outcome::Waiting {
            step: step.id.clone(),
            reason: format!(
                "approval needed: run `migrate advance --approve {}` (or approve on a terminal)",
                step.id
            ),
            remaining: None,
        }
    }

    /// Sleep until `until`, watching for another run changing the state
    /// (a rollback, a pause) and for Ctrl-C.
    async fn sleep_until(
        &self,
        step: Option<&Step>,
        until: Timestamp,
        serial: u64,
    ) -> Result<Option<Outcome>, EngineError> {
        let poll = Duration::from_millis(250);
        let mut serial = serial;
        loop {
            if self.interrupt.raised() {
                return Ok(Some(Outcome::Interrupted));
            }
            let now = self.now();
            if now >= until {
                return Ok(None);
            }
            self.clock.sleep(until.since(now).min(poll)).await;
            if let Some(st) = self.store.load().await? {
                if st.serial != serial {
                    // A rollback under way elsewhere (its run holds the
                    // lock until it is done): how it ends is what to say.
                    if st.status == Status::RollingBack
                        && matches!(self.store.holder().await, Ok(Some((_, true))))
                    {
                        serial = st.serial;
                        continue;
                    }
                    // Someone else wrote: look again under the lock.
                    return Ok(blocked(&st));
                }
                if let Some((soak, step)) = step.and_then(|step| {
                    st.soak
                        .as_ref()
                        .filter(|k| k.step == step.id)
                        .map(|k| (k, step))
                }) {
                    self.events.event(&Event::SoakProgress {
                        step: step.id.clone(),
                        elapsed_ms: millis(soak.elapsed(self.now())),
                        duration_ms: millis(soak.duration),
                    });
                }
            }
        }
    }

    async fn step(
        &self,
        s: &mut Session,
        step: &Step,
        opts: &AdvanceOptions<'_>,
        approved: &HashSet<String>,
    ) -> Result<Progress, EngineError> {
        let index = s.state.position;
        let total = s.state.steps.len();
        let started = |e: &Engine<'_>| {
            e.events.event(&Event::StepStarted {
                step: step.id.clone(),
                phase: step.phase.clone(),
                action: crate::plan::describe::step(e.plan, step),
                index: index + 1,
                total,
            });
        };
        match &step.kind {
            StepKind::Traffic { .. } | StepKind::Mirror { .. } | StepKind::Flag { .. } => {
                started(self);
                self.change_step(s, step, opts.accept_baseline).await?;
                Ok(Progress::Done)
            }
            StepKind::Soak { duration, gates } => {
                if s.state.soak.as_ref().map(|k| &k.step) != Some(&step.id) {
                    started(self);
                    // The soak keeps the gates it starts with.
                    let kept = gates
                        .iter()
                        .filter_map(|g| self.plan.gate(g))
                        .map(super::gates::spec_of)
                        .collect();
                    self.commit(
                        s,
                        vec![Entry::SoakStarted {
                            step: step.id.clone(),
                            duration: *duration,
                            gates: kept,
                        }],
                    )
                    .await?;
                }
                self.soak_tick(s, step, gates, true, opts.adopt_gates).await
            }
            StepKind::Check { gates, timeout } => {
                started(self);
                self.check_step(s, step, gates, *timeout).await
            }
            StepKind::Approve { message } => {
                let id = &step.id;
                if s.state.approvals.contains_key(id) || approved.contains(id) || opts.yes {
                    started(self);
                    // Approved now (said by its own record), or earlier
                    // by someone the step's note names.
                    let mut entries = Vec::new();
                    let note = match s.state.approvals.get(id) {
                        Some(earlier) => Some(format!("approved by {}", earlier.actor)),
                        None => {
                            entries.push(Entry::Approved { step: id.clone() });
                            None
                        }
                    };
                    entries.push(Entry::StepDone {
                        step: id.clone(),
                        note,
                    });
                    self.commit(s, entries).await?;
                    Ok(Progress::Done)
                } else {
                    self.events.event(&Event::ApprovalNeeded {
                        step: id.clone(),
                        message: message.clone(),
                    });
                    if opts.prompter.is_some() {
                        Ok(Progress::Ask {
                            message: format!("{message} Approve step {id}?"),
                        })
                    } else {
                        Ok(Progress::End(self.waiting_approval(step)))
                    }
                }
            }
            StepKind::Run { .. } | StepKind::Webhook { .. } | StepKind::Reconcile { .. } => {
                self.claimed_step(s, step, started).await
            }
        }
    }

    /// traffic / mirror / flag: baseline, intent, set, verify, done — or,
    /// when the target already holds the value, verified and done.
    async fn change_step(
        &self,
        s: &mut Session,
        step: &Step,
        accept_baseline: bool,
    ) -> Result<(), EngineError> {
        let Some((target, change)) = step_change(step) else {
            return Ok(());
        };
        let purpose = Purpose::Step {
            step,
            accept_baseline,
        };
        self.converge(Some(s), purpose, &target, &change).await?;
        Ok(())
    }

    /// Record a step done (with no note) and say so.
    async fn step_done(&self, s: &mut Session, step: &Step) -> Result<Progress, EngineError> {
        self.commit(
            s,
            vec![Entry::StepDone {
                step: step.id.clone(),
                note: None,
            }],
        )
        .await?;
        Ok(Progress::Done)
    }

    async fn record_failure(
        &self,
        s: &mut Session,
        step: &Step,
        err: &EngineError,
    ) -> Result<(), EngineError> {
        let error = match err {
            EngineError::StepFailed { error, .. } => error.clone(),
            other => other.to_string(),
        };
        self.commit(
            s,
            vec![Entry::StepFailed {
                step: step.id.clone(),
                error: error.clone(),
            }],
        )
        .await?;
        Ok(())
    }

    /// Evaluate the gates that are due, trip the breaker on a breach,
    /// finish the soak when its time is up — unless `finish` is off (a
    /// supervisor that only watches): then the gates keep being evaluated
    /// on their intervals past the soak's end, until someone advances.
    /// The gates are those the soak started with (see [`Self::guard`]).
    pub(super) async fn soak_tick(
        &self,
        s: &mut Session,
        step: &Step,
        gates: &[String],
        finish: bool,
        adopt: bool,
    ) -> Result<Progress, EngineError> {
        if s.state.soak.is_none() {
            return Ok(Progress::Wait {
                until: self.now(),
                reason: "soak starting".into(),
            });
        }
        self.notice_gate_changes(s, adopt).await?;
        let Some(soak) = s.state.soak.clone() else {
            return Ok(Progress::Wait {
                until: self.now(),
                reason: "soak starting".into(),
            });
        };
        let kept = self.kept_gates(&soak, gates);
        let now = self.now();
        let time_up = soak.over(now);
        let finishing = time_up && finish;
        if let Some(p) = self
            .guard_gates(s, &step.id, &soak, &kept, finishing)
            .await?
        {
            return Ok(p);
        }
        if finishing {
            return match without_evidence(&s.state, &kept) {
                None => self.step_done(s, step).await,
                Some(note) => {
                    // The soak served its time, but a comparison never had
                    // the data to reject: say so, in the journal too.
                    self.events.event(&Event::Warning {
                        message: format!("soak {}: {note}", step.id),
                    });
                    self.commit(
                        s,
                        vec![Entry::StepDone {
                            step: step.id.clone(),
                            note: Some(note),
                        }],
                    )
                    .await?;
                    Ok(Progress::Done)
                }
            };
        }
        let next_gate = next_due(&s.state, &kept, self.plan.settings.interval);
        if time_up {
            return Ok(Progress::Wait {
                until: next_gate.unwrap_or(now.plus(self.plan.settings.interval)),
                reason: format!(
                    "soak of {} over; watching its gates until the next advance",
                    crate::plan::describe::duration_words(soak.duration)
                ),
            });
        }
        let end = soak.ends_at(now);
        let until = next_gate.map_or(end, |t| t.min(end));
        let left = soak.remaining(now);
        Ok(Progress::Wait {
            until,
            reason: format!(
                "soaking: {} left of {}",
                crate::plan::describe::duration_words(round_secs(left)),
                crate::plan::describe::duration_words(soak.duration)
            ),
        })
    }

    /// Guard the soak in progress, whatever else holds the migration: a
    /// pause, a plan file edited in ways the migration cannot follow,
    /// drift. Its due gates — the definitions it started with, kept in
    /// the state — are evaluated and a breach trips the breaker, as during
    /// any soak. Never finishes the soak. `Some`: the breaker acted.
    pub(super) async fn guard(
        &self,
        s: &mut Session,
        adopt: bool,
    ) -> Result<Option<Outcome>, EngineError> {
        let Some(soak) = guarded_soak(&s.state).cloned() else {
            return Ok(None);
        };
        let names = self.plan_soak_gates(&soak.step);
        if soak.gates.is_empty() && names.is_empty() {
            return Ok(None);
        }
        self.notice_gate_changes(s, adopt).await?;
        let Some(soak) = guarded_soak(&s.state).cloned() else {
            return Ok(None);
        };
        let kept = self.kept_gates(&soak, &names);
        match self.guard_gates(s, &soak.step, &soak, &kept, false).await? {
            Some(Progress::End(o)) => Ok(Some(o)),
            _ => Ok(None),
        }
    }

    /// When the soak in progress next has a gate due (for a run that waits
    /// while the migration is paused): never later than a poll away.
    pub(super) fn next_guard(&self, st: &State) -> Timestamp {
        let poll = self.now().plus(self.plan.settings.interval);
        let Some(soak) = guarded_soak(st) else {
            return poll;
        };
        let names = self.plan_soak_gates(&soak.step);
        let kept = self.kept_gates(soak, &names);
        next_due(st, &kept, self.plan.settings.interval).map_or(poll, |t| t.min(poll))
    }

    /// The gate names of the plan's soak step `id` (none if the plan has
    /// no such soak step).
    fn plan_soak_gates(&self, id: &str) -> Vec<String> {
        match self.plan.step(id).map(|st| &st.kind) {
            Some(StepKind::Soak { gates, .. }) => gates.clone(),
            _ => Vec::new(),
        }
    }

    /// Journal the gates of the soak in progress whose definition in the
    /// plan differs from the one the soak keeps (once per change), and say
    /// so: the soak keeps its gates, and the plan's apply from the next
    /// soak — or now, with `adopt`.
    async fn notice_gate_changes(&self, s: &mut Session, adopt: bool) -> Result<(), EngineError> {
        let Some(soak) = s.state.soak.clone() else {
            return Ok(());
        };
        if soak.gates.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::new();
        for kept in &soak.gates {
            let now_spec = self.plan.gate(&kept.name).map(super::gates::spec_of);
            let digest = now_spec.as_ref().map(GateSpec::digest).unwrap_or_default();
            if now_spec.as_ref() == Some(kept) {
                continue;
            }
            // Adopted when asked and there is a definition to adopt (a gate
            // removed from the plan is kept); otherwise said once.
            let adopted = now_spec.clone().filter(|_| adopt);
            if adopted.is_none() && soak.changed.get(&kept.name) == Some(&digest) {
                continue;
            }
            let now_words = now_spec
                .as_ref()
                .map_or_else(|| "removed from the plan".to_string(), GateSpec::summary);
            self.events.event(&Event::Warning {
                message: if adopted.is_some() {
                    format!(
                        "gate {} changed in the plan (was: {}; now: {}): adopted for soak {} (--adopt-gates)",
                        kept.name,
                        kept.summary(),
                        now_words,
                        soak.step
                    )
                } else {
                    format!(
                        "gate {} changed in the plan (was: {}; now: {}): soak {} stays guarded by the gate it started with; the change applies from the next soak (`migrate advance --adopt-gates` applies it to this one)",
                        kept.name,
                        kept.summary(),
                        now_words,
                        soak.step
                    )
                },
            });
            entries.push(Entry::GateChanged {
                step: soak.step.clone(),
                gate: kept.name.clone(),
                was: kept.summary(),
                now: now_words,
                digest,
                adopted,
            });
        }
        if !entries.is_empty() {
            self.commit(s, entries).await?;
        }
        Ok(())
    }

    /// Evaluate the kept gates that are due (all of them with `all`),
    /// journal the readings, and trip the breaker when a gate has breached
    /// past its limit in this soak.
    async fn guard_gates(
        &self,
        s: &mut Session,
        step: &str,
        soak: &crate::state::Soak,
        kept: &[Kept],
        all: bool,
    ) -> Result<Option<Progress>, EngineError> {
        let now = self.now();
        let interval = self.plan.settings.interval;
        let due: Vec<&Kept> = kept
            .iter()
            .filter(|k| {
                all || match s.state.gates.get(&k.gate.name) {
                    Some(r) => {
                        r.at < soak.started
                            || now.since(r.at) + Duration::from_millis(5)
                                >= k.gate.interval.unwrap_or(interval)
                    }
                    None => true,
                }
            })
            .collect();
        if due.is_empty() {
            return Ok(None);
        }
        let readings = join_all(due.iter().map(|k| self.evaluate_kept(k, &s.state))).await;
        if let Some(p) = self.record_readings(s, Some(step), &readings).await? {
            return Ok(Some(p));
        }
        // Breaches counted over this soak.
        let tripped = readings
            .iter()
            .find(|r| !r.ok && !r.pause && s.state.soak_breaches(&r.gate) > r.failure_limit);
        if let Some(r) = tripped {
            let r = r.clone();
            return self.trip(s, step, &r).await.map(|o| Some(Progress::End(o)));
        }
        Ok(None)
    }

    /// Journal readings (and any reconciliation run for them); a `pause`
    /// reading pauses the migration (unless it is paused already).
    async fn record_readings(
        &self,
        s: &mut Session,
        step: Option<&str>,
        readings: &[Reading],
    ) -> Result<Option<Progress>, EngineError> {
        let step_id = step;
        let mut entries = Vec::new();
        for r in readings {
            if let Some((name, res)) = &r.reconciled {
                entries.push(res.entry(name));
            }
            entries.push(r.entry(step_id));
        }
        self.commit(s, entries).await?;
        for r in readings {
            self.report_reading(r, step_id, s.state.soak_breaches(&r.gate));
        }
        if s.state.status == Status::Paused {
            return Ok(None);
        }
        if let Some(r) = readings.iter().find(|r| r.pause) {
            // The reading's note is `<why> (no_data: pause)`: the why is
            // said once, and only when it is more than "no data".
            let why = r
                .note
                .as_deref()
                .map(|n| n.strip_suffix(" (no_data: pause)").unwrap_or(n))
                .filter(|w| *w != "no data" && !w.is_empty());
            let reason = match why {
                Some(why) => format!(
                    "gate {} has no data ({why}); held by its no_data: pause policy",
                    r.gate
                ),
                None => format!(
                    "gate {} has no data; held by its no_data: pause policy",
                    r.gate
                ),
            };
            return self
                .pause_on_breach(s, reason)
                .await
                .map(|o| Some(Progress::End(o)));
        }
        Ok(None)
    }

    async fn check_step(
        &self,
        s: &mut Session,
        step: &Step,
        gates: &[String],
        timeout: Option<Duration>,
    ) -> Result<Progress, EngineError> {
        let readings = self.evaluate_all(gates, &s.state).await;
        if let Some(p) = self.record_readings(s, Some(&step.id), &readings).await? {
            return Ok(p);
        }
        let Some(failed) = readings.iter().find(|r| !r.ok).cloned() else {
            return self.step_done(s, step).await;
        };
        if let Some(limit) = timeout {
            // Retry until the timeout, timed from the first try.
            if s.state.soak.as_ref().map(|k| &k.step) != Some(&step.id) {
                self.commit(
                    s,
                    vec![Entry::SoakStarted {
                        step: step.id.clone(),
                        duration: limit,
                        gates: Vec::new(),
                    }],
                )
                .await?;
            }
            if let Some(k) = &s.state.soak {
                let now = self.now();
                if now.since(k.started) < limit {
                    let next = now
                        .plus(self.plan.settings.interval)
                        .min(k.started.plus(limit));
                    return Ok(Progress::Wait {
                        until: next,
                        reason: format!(
                            "check: gate {} not passing yet; trying again",
                            failed.gate
                        ),
                    });
                }
            }
        }
        self.trip(s, &step.id, &failed).await.map(Progress::End)
    }

    /// A gate holds the migration: pause it.
    async fn pause_on_breach(
        &self,
        s: &mut Session,
        reason: String,
    ) -> Result<Outcome, EngineError> {
        self.record_pause(s, &reason, true).await?;
        Ok(Outcome::Paused {
            by: self.actor.clone(),
            reason,
            breach: true,
        })
    }

    /// A gate breached past its limit: the breaker.
    async fn trip(&self, s: &mut Session, step: &str, r: &Reading) -> Result<Outcome, EngineError> {
        let value = crate::providers::fmt_reading(r.value, r.nan);
        let threshold = &r.threshold;
        let reason = match (&r.note, &r.evidence) {
            (Some(n), _) if r.value.is_none() => format!("gate {} breached: {n}", r.gate),
            (_, Some(e)) => format!("gate {} breached: {e}", r.gate),
            _ => format!("gate {} breached: {value} (allowed {threshold})", r.gate),
        };
        self.commit(
            s,
            vec![Entry::Breach {
                step: Some(step.to_string()),
                gate: r.gate.clone(),
                value: r.value,
                reason: reason.clone(),
                evidence: r.evidence.clone(),
            }],
        )
        .await?;
        match self.plan.settings.on_breach {
            OnBreach::Pause => self.pause_on_breach(s, reason).await,
            OnBreach::Rollback => {
                let report = self
                    .rollback_locked(
                        s,
                        &super::rollback::RollbackRequest {
                            to: None,
                            reason: reason.clone(),
                            breach: true,
                            force: false,
                        },
                    )
                    .await?;
                if report.remaining.is_empty() {
                    Ok(Outcome::RolledBack {
                        by: self.actor.clone(),
                        at: self.now(),
                        reason,
                        breach: true,
                        to: report.to.clone(),
                    })
                } else {
                    Ok(Outcome::RollbackIncomplete {
                        remaining: report
                            .remaining
                            .iter()
                            .map(|(t, e)| format!("{t}: {e}"))
                            .collect(),
                    })
                }
            }
        }
    }

    /// run / webhook / reconcile: claimed under the lock; the caller lets
    /// the lock go and calls [`Self::execute_claimed`].
    async fn claimed_step(
        &self,
        s: &mut Session,
        step: &Step,
        started: impl Fn(&Engine<'_>),
    ) -> Result<Progress, EngineError> {
        if let Some(c) = &s.state.claim {
            if c.step == step.id && claim_alive(c) {
                return Ok(Progress::End(Outcome::Busy {
                    step: step.id.clone(),
                    by: format!("{} (pid {} on {})", c.actor, c.pid, c.host),
                }));
            }
            if c.step == step.id {
                self.note_stopped_claim(c, step);
            }
        }
        self.commit(
            s,
            vec![Entry::Claimed {
                step: step.id.clone(),
                host: crate::state::hostname(),
                pid: std::process::id(),
            }],
        )
        .await?;
        started(self);
        Ok(Progress::Execute)
    }

    /// Execute a claimed step without the lock (a long hook or
    /// reconciliation must not keep `rollback` waiting), then record the
    /// result under the lock — unless the migration changed meanwhile.
    async fn execute_claimed(&self, step: &Step) -> Result<Progress, EngineError> {
        let host = crate::state::hostname();
        let pid = std::process::id();
        let result = self.execute(step).await;
        let mut again = self.session(true).await?;
        let ours = again
            .state
            .claim
            .as_ref()
            .is_some_and(|c| c.step == step.id && c.pid == pid && c.host == host);
        if !ours {
            // Someone rolled back or paused meanwhile; what we did is in
            // the events, and the state says what holds now.
            self.events.event(&Event::Warning {
                message: format!(
                    "step {} finished, but the migration changed meanwhile (now {}); its result is not recorded",
                    step.id,
                    again.state.status.words()
                ),
            });
            return Ok(Progress::End(blocked(&again.state).unwrap_or(
                Outcome::Stopped {
                    next: again.state.current().map(|c| c.id.clone()),
                },
            )));
        }
        match result {
            Ok((note, extra)) => {
                let mut entries = extra;
                entries.push(Entry::StepDone {
                    step: step.id.clone(),
                    note: note.clone(),
                });
                self.commit(&mut again, entries).await?;
                Ok(Progress::Done)
            }
            Err(error) if self.interrupt.raised() => {
                self.release_interrupted(&mut again, step, &error).await?;
                Ok(Progress::End(Outcome::Interrupted))
            }
            Err(error) => {
                let err = EngineError::StepFailed {
                    step: step.id.clone(),
                    error,
                };
                self.record_failure(&mut again, step, &err).await?;
                Err(err)
            }
        }
    }

    /// Execute a hook or reconciliation step: a note for the journal and
    /// entries to record with the step.
    async fn execute(&self, step: &Step) -> Result<(Option<String>, Vec<Entry>), String> {
        match &step.kind {
            StepKind::Run { argv, timeout, env } => self
                .run_hook(&step.id, argv, env, *timeout)
                .await
                .map(|note| (note, Vec::new())),
            StepKind::Webhook {
                method,
                url,
                headers,
                body,
                timeout,
            } => self
                .call_webhook(method, url, headers, body.as_ref(), *timeout)
                .await
                .map(|note| (note, Vec::new())),
            StepKind::Reconcile {
                reconciliation,
                repair,
                min_parity,
            } => {
                let r = self
                    .reconciler
                    .reconcile(self.plan, reconciliation, *repair, self.events)
                    .await
                    .map_err(|e| crate::redact::clean(&format!("{e:#}")).into_owned())?;
                let need = min_parity.unwrap_or(1.0);
                let entry = r.entry(reconciliation);
                if r.parity + 1e-12 < need {
                    return Err(format!(
                        "reconciliation {reconciliation}: parity {} is below the required {}{}",
                        crate::providers::fmt_number(r.parity),
                        crate::providers::fmt_number(need),
                        unrepaired_note(&r)
                    ));
                }
                Ok((
                    Some(format!("parity {}", crate::providers::fmt_number(r.parity))),
                    vec![entry],
                ))
            }
            _ => Ok((None, Vec::new())),
        }
    }
}

/// Whether the state stops `advance` before any step, and how.
pub fn blocked(st: &State) -> Option<Outcome> {
    match st.status {
        Status::Completed => Some(Outcome::Completed),
        Status::RolledBack => rolled_back(st).or(Some(Outcome::RolledBack {
            by: String::new(),
            at: Timestamp(std::time::SystemTime::UNIX_EPOCH),
            reason: String::new(),
            breach: false,
            to: None,
        })),

        Status::RollingBack | Status::RollbackIncomplete => Some(Outcome::RollbackIncomplete {
            remaining: st
                .rollback
                .as_ref()
                .map(|r| {
                    if r.remaining.is_empty() {
                        vec!["the rollback did not finish".to_string()]
                    } else {
                        r.remaining.clone()
                    }
                })
                .unwrap_or_default(),
        }),
        Status::Paused => {
            let p = st.paused.as_ref();
            Some(Outcome::Paused {
                by: p.map(|p| p.actor.clone()).unwrap_or_default(),
                reason: p.map(|p| p.reason.clone()).unwrap_or_default(),
                breach: p.is_some_and(|p| p.breach),
            })
        }
        Status::New | Status::Active | Status::Failed => None,
    }
}

/// The state's last rollback as an outcome (`None`: there was none).
fn rolled_back(st: &State) -> Option<Outcome> {
    let rb = st.rollback.as_ref()?;
    Some(Outcome::RolledBack {
        by: rb.actor.clone(),
        at: rb.at,
        reason: rb.reason.clone(),
        breach: rb.breach,
        to: rb.to.clone(),
    })
}

/// Whether the run that claimed a step is still at it.
fn claim_alive(c: &crate::state::Claim) -> bool {
    if c.host != crate::state::hostname() {
        // Another machine: trust the claim (a local state directory shared
        // over a network filesystem is unusual; `unlock --force` clears it).
        return true;
    }
    if c.pid == std::process::id() {
        return false;
    }
    pid_alive(c.pid)
}

/// Whether a process runs (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state is the field after the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_millis() >= 500))
}

/// `; 2 rows could not be repaired (id=2 body: …)`, for the message of a
/// `reconcile` step that fails; empty when every row was.
fn unrepaired_note(r: &ReconcileResult) -> String {
    let failed = r.unrepaired;
    if failed == 0 {
        return String::new();
    }
    let rows = if failed == 1 { "row" } else { "rows" };
    match &r.first_unrepaired {
        Some(u) => format!("; {failed} {rows} could not be repaired (first: {u})"),
        None => format!("; {failed} {rows} could not be repaired"),
    }
}

/// The soak a run guards: the current step's, while the migration runs or
/// is paused (a soak step's; a check step's retries are not guarded).
fn guarded_soak(st: &State) -> Option<&crate::state::Soak> {
    if !matches!(st.status, Status::Active | Status::Paused) {
        return None;
    }
    let current = st.current()?;
    if current.kind != "soak" {
        return None;
    }
    st.soak.as_ref().filter(|k| k.step == current.id)
}

/// The `compare` gates of a soak that ends without the evidence to have
/// rejected (their last reading could not), in words; `None` when every
/// comparison could.
fn without_evidence(st: &State, kept: &[Kept]) -> Option<String> {
    use crate::domain::compare::Verdict;
    let short: Vec<String> = kept
        .iter()
        .filter(|k| matches!(k.gate.source, crate::plan::GateSource::Compare { .. }))
        .filter_map(|k| {
            let e = st.gates.get(&k.gate.name).and_then(|r| r.evidence.as_ref());
            match e {
                Some(e) if matches!(e.verdict, Verdict::Within | Verdict::Breach) => None,
                Some(e) => Some(format!("{} ({})", k.gate.name, e.arms())),
                None => Some(format!("{} (no counters read)", k.gate.name)),
            }
        })
        .collect();
    (!short.is_empty()).then(|| {
        format!(
            "ended without enough evidence to judge {}: the comparison could not have rejected",
            short.join(", ")
        )
    })
}

/// When the first of `kept` is next due.
fn next_due(st: &State, kept: &[Kept], interval: Duration) -> Option<Timestamp> {
    kept.iter()
        .filter_map(|k| {
            let last = st.gates.get(&k.gate.name)?.at;
            Some(last.plus(k.gate.interval.unwrap_or(interval)))
        })
        .min()
}
