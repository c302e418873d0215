//! Looking without touching: drift (live values that differ from what the
//! state says), what the next `advance` would change, gate checks, and the
//! small state changes that are not steps (pause, resume).

use futures_util::future::join_all;

use crate::plan::StepKind;
use crate::state::{Entry, State, Status, Target, Value};

use super::gates::Reading;
use super::targets::step_change;
use super::{Engine, EngineError, Event};

/// A changed target as it is live.
#[derive(Clone, Debug)]
pub struct Live {
    pub target: Target,
    pub baseline: Value,
    pub expected: Value,
    /// The value of a change intended and not yet verified (a run died
    /// between setting it and reading it back): live may hold it too.
    pub inflight: Option<Value>,
    pub live: Result<Value, String>,
}

impl Live {
    /// Live and expected disagree (an unreadable target is not drift, nor
    /// one holding the value of the change in flight).
    pub fn drifted(&self) -> bool {
        matches!(&self.live, Ok(v) if !self.expected.matches(v)
            && !self.inflight.as_ref().is_some_and(|i| i.matches(v)))
    }
}

/// A change the next `advance` would make.
#[derive(Clone, Debug)]
pub struct Planned {
    pub step: String,
    pub target: Target,
    pub from: Result<Value, String>,
    pub to: Value,
}

/// What the next `advance` would do.
#[derive(Clone, Debug, Default)]
pub struct Preview {
    pub changes: Vec<Planned>,
    /// The step it would stop at (a soak, an approval, a hook), in words.
    pub then: Option<(String, String)>,
}

impl Engine<'_> {
    /// Every changed target with its live value.
    pub async fn live(&self, st: &State) -> Vec<Live> {
        let recs: Vec<_> = st.targets.values().collect();
        let lives = join_all(recs.iter().map(|r| self.read(&r.target))).await;
        recs.into_iter()
            .zip(lives)
            .map(|(r, live)| Live {
                target: r.target.clone(),
                baseline: r.baseline.clone(),
                expected: r.expected.clone(),
                inflight: st
                    .inflight
                    .as_ref()
                    .filter(|i| i.target == r.target)
                    .map(|i| i.value.clone()),
                live: live.map_err(|e| crate::redact::clean(&format!("{e:#}")).into_owned()),
            })
            .collect()
    }

    /// The targets whose live value differs from what this migration set.
    async fn drifted(&self, st: &State) -> Vec<Live> {
        self.live(st)
            .await
            .into_iter()
            .filter(Live::drifted)
            .collect()
    }

    /// Drift in words (`None`: none), without reporting it: for a
    /// supervisor that says it once and in `/healthz`.
    pub async fn drift_words(&self, st: &State) -> Option<String> {
        let drifted = self.drifted(st).await;
        if drifted.is_empty() {
            return None;
        }
        Some(format!(
            "drift: live values differ from what this migration set:\n{}",
            drift_lines(&drifted).join("\n")
        ))
    }

    /// Refuse to go on over drift, unless forced (then it is reported).
    pub async fn refuse_drift(&self, st: &State, force: bool) -> Result<(), EngineError> {
        let drifted = self.drifted(st).await;
        if drifted.is_empty() {
            return Ok(());
        }
        for d in &drifted {
            self.events.event(&Event::Drift {
                target: d.target.clone(),
                expected: d.expected.clone(),
                live: d.live.clone().ok(),
                error: None,
            });
        }
        if force {
            return Ok(());
        }
        let lines = drift_lines(&drifted);
        Err(EngineError::Drift(format!(
            "live values differ from what this migration set (someone changed them by hand?):\n{}\n  Put them back, or carry on anyway with --force (the next step sets its target absolutely).",
            lines.join("\n")
        )))
    }

    /// What the next `advance` would change, reading live values, and the
    /// step it would then stop at.
    pub async fn preview(&self, st: &State) -> Preview {
        let mut out = Preview::default();
        let mut simulated: Vec<(Target, Result<Value, String>)> = Vec::new();
        for step in self.steps().into_iter().skip(st.position) {
            match &step.kind {
                StepKind::Traffic { .. } | StepKind::Mirror { .. } | StepKind::Flag { .. } => {
                    let Some((target, change)) = step_change(step) else {
                        continue;
                    };
                    let from = match simulated.iter().find(|(t, _)| *t == target) {
                        Some((_, v)) => v.clone(),
                        None => self
                            .read(&target)
                            .await
                            .map_err(|e| crate::redact::clean(&format!("{e:#}")).into_owned()),
                    };
                    let to = match &from {
                        Ok(v) => change.apply(v),
                        Err(_) => change.apply(&Value::Percent(0.0)),
                    };
                    simulated.retain(|(t, _)| *t != target);
                    simulated.push((target.clone(), Ok(to.clone())));
                    out.changes.push(Planned {
                        step: step.id.clone(),
                        target,
                        from,
                        to,
                    });
                }
                _ => {
                    out.then = Some((
                        step.id.clone(),
                        crate::plan::describe::step(self.plan, step),
                    ));
                    break;
                }
            }
        }
        out
    }

    /// Evaluate gates now, recording nothing.
    pub async fn check(&self, names: &[String]) -> Result<Vec<Reading>, EngineError> {
        let st = self
            .peek()
            .await?
            .unwrap_or_else(|| State::empty(&self.plan.name));
        Ok(self.evaluate_all(names, &st).await)
    }

    /// The gates `check` looks at by default: the current step's, or all.
    pub fn default_gates(&self, st: Option<&State>) -> Vec<String> {
        let current = st.and_then(|s| self.step_at(s.position));
        match current.map(|s| &s.kind) {
            Some(StepKind::Soak { gates, .. } | StepKind::Check { gates, .. })
                if !gates.is_empty() =>
            {
                gates.clone()
            }
            _ => self.plan.gates.iter().map(|g| g.name.clone()).collect(),
        }
    }

    pub async fn pause(&self, reason: &str) -> Result<State, EngineError> {
        let mut s = self.session(true).await?;
        match s.state.status {
            Status::New | Status::Active | Status::Failed => {}
            Status::Paused => {
                return Err(EngineError::Refused(
                    "the migration is already paused".into(),
                ))
            }
            other => {
                return Err(EngineError::Refused(format!(
                    "nothing to pause: the migration is {}",
                    other.words()
                )))
            }
        }
        self.record_pause(&mut s, reason, false).await?;
        Ok(s.state)
    }

    pub async fn resume(&self) -> Result<State, EngineError> {
        let mut s = self.session(true).await?;
        if s.state.status != Status::Paused {
            return Err(EngineError::Refused(format!(
                "the migration is not paused (it is {})",
                s.state.status.words()
            )));
        }
        self.commit(&mut s, vec![Entry::Resumed]).await?;
        Ok(s.state)
    }
}

fn drift_lines(drifted: &[Live]) -> Vec<String> {
    drifted
        .iter()
        .map(|d| {
            format!(
                "  {}: expected {}, live {}",
                d.target,
                d.expected,
                d.live
                    .as_ref()
                    .map_or_else(|e| e.clone(), ToString::to_string)
            )
        })
        .collect()
}
