//! Gates: a metric or a parity compared against thresholds. A provider
//! that fails, an empty result and NaN are all "no data", which the gate's
//! `no_data` policy turns into a breach, a pass or a pause (a NaN reading
//! is shown as NaN).

use std::time::Duration;

use futures_util::future::join_all;

use crate::domain::compare::{Counters, Evidence, Track, Verdict};
use crate::plan::{Compare, CompareArm, Gate, GateSource, NoData, Text};
use crate::state::{
    CompareLook, CompareSpec, Entry, GateSpec, GateSpecSource, KeptQuery, ParityRecord, Soak, State,
};

use super::{Engine, Event, ReconcileResult};

/// One evaluation of a gate.
#[derive(Clone, Debug)]
pub struct Reading {
    pub gate: String,
    pub value: Option<f64>,
    /// No data because the source said NaN.
    pub nan: bool,
    /// Within thresholds (or no data with `no_data: pass`).
    pub ok: bool,
    /// No data with `no_data: pause`.
    pub pause: bool,
    pub note: Option<String>,
    /// A reconciliation run to get a parity value, to be recorded.
    pub reconciled: Option<(String, ReconcileResult)>,
    /// The gate's thresholds in words, as evaluated.
    pub threshold: String,
    /// Breaches the gate tolerates in a soak.
    pub failure_limit: u32,
    /// A `compare` gate's counters at this look (journaled, folded into
    /// the soak's evidence).
    pub look: Option<CompareLook>,
    /// A `compare` gate's evidence.
    pub evidence: Option<Evidence>,
}

impl Reading {
    /// The journal entry for this reading.
    pub fn entry(&self, step: Option<&str>) -> Entry {
        Entry::Gate {
            step: step.map(str::to_string),
            gate: self.gate.clone(),
            value: self.value,
            nan: self.nan,
            ok: self.ok,
            note: self.note.clone(),
            look: self.look.clone(),
            evidence: self.evidence.clone(),
        }
    }
}

impl Engine<'_> {
    /// The interval at which a gate is evaluated during a soak.
    pub fn gate_interval(&self, gate: &Gate) -> Duration {
        gate.interval.unwrap_or(self.plan.settings.interval)
    }

    /// Evaluate one gate now.
    pub async fn evaluate(&self, gate: &Gate, state: &State) -> Reading {
        let mut reconciled = None;
        let measured: Result<Option<f64>, String> = match &gate.source {
            GateSource::Metric { provider, query } => match self.providers.metrics(provider) {
                Ok(m) => m.query(query.expose()).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            GateSource::Compare { compare } => {
                return self.evaluate_compare(gate, compare, state).await;
            }
            GateSource::Parity { reconcile } => match state.parity.get(reconcile) {
                Some(p) => self.recorded_parity(gate, reconcile, p),
                None => {
                    self.events.event(&Event::Note {
                        message: format!(
                            "gate {}: no reconciliation of {reconcile} on record; running one",
                            gate.name
                        ),
                    });
                    match self
                        .reconciler
                        .reconcile(self.plan, reconcile, false, self.events)
                        .await
                    {
                        Ok(r) => {
                            let p = r.parity;
                            reconciled = Some((reconcile.clone(), r));
                            Ok(Some(p))
                        }
                        Err(e) => Err(format!("{e:#}")),
                    }
                }
            },
        };
        judge(gate, measured, reconciled)
    }

    /// One look of a `compare` gate: read the four counters, add their
    /// increases to the soak's evidence, and judge. The evidence is not
    /// kept here: the reading's journaled counters are folded into the
    /// state exactly as they are added here.
    async fn evaluate_compare(&self, gate: &Gate, compare: &Compare, state: &State) -> Reading {
        let measured = match self.providers.metrics(&compare.provider) {
            Ok(m) => {
                let names = [
                    "candidate events",
                    "candidate total",
                    "baseline events",
                    "baseline total",
                ];
                let values = join_all(compare.queries().map(|q| m.query(q.expose()))).await;
                let mut v = [0.0; 4];
                let mut problem = None;
                for (i, r) in values.into_iter().enumerate() {
                    match r {
                        Ok(Some(x)) if x.is_finite() && x >= 0.0 => v[i] = x,
                        Ok(Some(x)) => {
                            problem = Some(format!("{}: {x} is not a counter's value", names[i]));
                        }
                        Ok(None) => problem = Some(format!("{}: no data", names[i])),
                        Err(e) => problem = Some(format!("{}: {e}", names[i])),
                    }
                }
                match problem {
                    Some(p) => Err(p),
                    None => Ok(Counters {
                        candidate_events: v[0],
                        candidate_total: v[1],
                        baseline_events: v[2],
                        baseline_total: v[3],
                    }),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let counters = match measured {
            Ok(c) => c,
            Err(e) => return judge(gate, Err(e), None),
        };
        let test = compare.test();
        // The soak in progress (a soak step's: a check step's retries
        // gather evidence too, but take no free first look).
        let soak = state.soak.as_ref();
        let in_soak_step = soak.is_some_and(|k| {
            state
                .current()
                .is_some_and(|c| c.id == k.step && c.kind == "soak")
        });
        let track = Track::look(
            soak.and_then(|k| k.compare.get(&gate.name)),
            &test,
            counters,
        );
        let evidence = track.evidence(test.alpha);
        let look = Some(CompareLook {
            counters,
            max_ratio: test.max_ratio,
            direction: test.direction,
        });
        let mut reading = match evidence.verdict {
            Verdict::Started if in_soak_step => judged(
                gate,
                None,
                true,
                "counters taken: the comparison counts from here".to_string(),
            ),
            Verdict::Started | Verdict::Insufficient => judge(
                gate,
                Err(format!("insufficient evidence: {}", evidence.arms())),
                None,
            ),
            Verdict::Within | Verdict::Breach => judged(
                gate,
                Some(evidence.e_value),
                evidence.verdict == Verdict::Within,
                format!("{}; {}", evidence.arms(), evidence.ratio_words()),
            ),
        };
        reading.look = look;
        reading.evidence = Some(evidence);
        reading
    }

    /// Evaluate a gate a soak keeps in its state: as the plan's gate
    /// would be, or — when a value it reads from the environment is not
    /// set any more — as no data, saying why.
    pub async fn evaluate_kept(&self, kept: &Kept, state: &State) -> Reading {
        match &kept.unusable {
            None => self.evaluate(&kept.gate, state).await,
            Some(why) => judge(&kept.gate, Err(why.clone()), None),
        }
    }

    /// A recorded parity, unless it is too old for the gate's `max_age`
    /// or comes from a continuous reconciliation whose first full sweep
    /// is not over (part of the table was never compared): those are no
    /// data, with a note saying why.
    fn recorded_parity(
        &self,
        gate: &Gate,
        reconcile: &str,
        p: &ParityRecord,
    ) -> Result<Option<f64>, String> {
        let age = self.now().since(p.at);
        if let Some(max) = gate.max_age.filter(|max| age > *max) {
            return Err(format!(
                "the latest parity of {reconcile} is {} old, recorded at {} (max_age {})",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                p.at,
                humantime::format_duration(max)
            ));
        }
        if !p.is_complete() {
            let swept = p.swept();
            return Err(format!(
                "the continuous reconciliation of {reconcile} has not completed its first sweep{}",
                swept.map_or(String::new(), |n| format!(" ({n} rows compared so far)"))
            ));
        }
        Ok(Some(p.parity))
    }

    /// Evaluate several of the plan's gates at once.
    pub async fn evaluate_all(&self, names: &[String], state: &State) -> Vec<Reading> {
        let gates: Vec<&Gate> = names.iter().filter_map(|n| self.plan.gate(n)).collect();
        join_all(gates.into_iter().map(|g| self.evaluate(g, state))).await
    }

    /// Tell the reporter about a reading.
    pub fn report_reading(&self, r: &Reading, step: Option<&str>, breaches: u32) {
        self.events.event(&Event::Gate {
            step: step.map(str::to_string),
            gate: r.gate.clone(),
            value: r.value,
            nan: r.nan,
            ok: r.ok,
            threshold: r.threshold.clone(),
            breaches,
            failure_limit: r.failure_limit,
            note: r.note.clone(),
            evidence: r.evidence.clone(),
        });
    }

    /// The gates that guard a soak: those it started with, kept in the
    /// state, whatever the plan file says now — or, for a state written
    /// before soaks kept them, the plan's gates of the soak step.
    pub fn kept_gates(&self, soak: &Soak, names: &[String]) -> Vec<Kept> {
        if soak.gates.is_empty() {
            return names
                .iter()
                .filter_map(|n| self.plan.gate(n))
                .map(|g| Kept {
                    gate: g.clone(),
                    unusable: None,
                })
                .collect();
        }
        soak.gates.iter().map(kept).collect()
    }
}

/// A gate's reading from what was measured: within thresholds or not, or
/// — no data (an error, nothing, NaN) — what its `no_data` policy says.
fn judge(
    gate: &Gate,
    measured: Result<Option<f64>, String>,
    reconciled: Option<(String, ReconcileResult)>,
) -> Reading {
    let nan = matches!(measured, Ok(Some(v)) if v.is_nan());
    let (value, error) = match measured {
        Ok(Some(v)) if v.is_nan() => (None, Some("NaN, taken as no data".to_string())),
        Ok(v) => (v, None),
        Err(e) => (None, Some(e)),
    };
    let (ok, pause, note) = match value {
        Some(v) => (!gate.breached_by(v), false, None),
        None => {
            let why = error.unwrap_or_else(|| "no data".to_string());
            let (ok, pause) = match gate.no_data {
                NoData::Fail => (false, false),
                NoData::Pass => (true, false),
                NoData::Pause => (false, true),
            };
            (
                ok,
                pause,
                Some(format!("{why} (no_data: {})", no_data_name(gate.no_data))),
            )
        }
    };
    Reading {
        gate: gate.name.clone(),
        value,
        nan,
        ok,
        pause,
        note: note.map(|n| crate::redact::clean(&n).into_owned()),
        reconciled,
        threshold: gate.threshold_label(),
        failure_limit: gate.failure_limit,
        look: None,
        evidence: None,
    }
}

/// A reading decided by the comparison itself (not by `no_data`).
fn judged(gate: &Gate, value: Option<f64>, ok: bool, note: String) -> Reading {
    Reading {
        gate: gate.name.clone(),
        value,
        nan: false,
        ok,
        pause: false,
        note: Some(note),
        reconciled: None,
        threshold: gate.threshold_label(),
        failure_limit: gate.failure_limit,
        look: None,
        evidence: None,
    }
}

/// A gate a soak is guarded by.
#[derive(Clone, Debug)]
pub struct Kept {
    pub gate: Gate,
    /// Why it cannot be read (a value it takes from the environment is
    /// not set): it reads as no data.
    pub unusable: Option<String>,
}

fn no_data_name(n: NoData) -> &'static str {
    match n {
        NoData::Fail => "fail",
        NoData::Pass => "pass",
        NoData::Pause => "pause",
    }
}

/// A gate's definition as a soak keeps it in the state.
pub fn spec_of(gate: &Gate) -> GateSpec {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    GateSpec {
        name: gate.name.clone(),
        source: match &gate.source {
            GateSource::Metric { provider, query } => GateSpecSource::Metric {
                provider: provider.clone(),
                query: query.shown().to_string(),
                query_secret: query.is_secret(),
            },
            GateSource::Parity { reconcile } => GateSpecSource::Parity {
                reconcile: reconcile.clone(),
            },
            GateSource::Compare { compare } => {
                let q = |t: &Text| KeptQuery {
                    query: t.shown().to_string(),
                    secret: t.is_secret(),
                };
                GateSpecSource::Compare {
                    compare: CompareSpec {
                        provider: compare.provider.clone(),
                        candidate_events: q(&compare.candidate.events),
                        candidate_total: q(&compare.candidate.total),
                        baseline_events: q(&compare.baseline.events),
                        baseline_total: q(&compare.baseline.total),
                        max_ratio: compare.max_ratio,
                        direction: compare.direction,
                        alpha: compare.alpha,
                    },
                }
            }
        },
        max: gate.max,
        min: gate.min,
        failure_limit: gate.failure_limit,
        no_data: no_data_name(gate.no_data).to_string(),
        interval_ms: gate.interval.map(ms),
        max_age_ms: gate.max_age.map(ms),
    }
}

/// The gate a soak keeps, ready to evaluate: a value that came from the
/// environment is read from it again.
pub fn kept(spec: &GateSpec) -> Kept {
    let mut unusable = None;
    let mut text = |query: &str, secret: bool| {
        if !secret {
            return Text::literal(query.to_string());
        }
        match crate::plan::text::interpolate(query, &crate::plan::text::ProcessEnv) {
            Ok(t) => t,
            Err(_) => {
                unusable = Some(format!(
                    "the soak's gate {} reads {query} from the environment, which is not set now",
                    spec.name
                ));
                Text::literal(String::new())
            }
        }
    };
    let source = match &spec.source {
        GateSpecSource::Metric {
            provider,
            query,
            query_secret,
        } => GateSource::Metric {
            provider: provider.clone(),
            query: text(query, *query_secret),
        },
        GateSpecSource::Compare { compare: c } => GateSource::Compare {
            compare: Compare {
                provider: c.provider.clone(),
                candidate: CompareArm {
                    events: text(&c.candidate_events.query, c.candidate_events.secret),
                    total: text(&c.candidate_total.query, c.candidate_total.secret),
                },
                baseline: CompareArm {
                    events: text(&c.baseline_events.query, c.baseline_events.secret),
                    total: text(&c.baseline_total.query, c.baseline_total.secret),
                },
                max_ratio: c.max_ratio,
                direction: c.direction,
                alpha: c.alpha,
            },
        },
        GateSpecSource::Parity { reconcile } => GateSource::Parity {
            reconcile: reconcile.clone(),
        },
    };
    let no_data = match spec.no_data.as_str() {
        "pass" => NoData::Pass,
        "pause" => NoData::Pause,
        _ => NoData::Fail,
    };
    Kept {
        gate: Gate {
            name: spec.name.clone(),
            source,
            max: spec.max,
            min: spec.min,
            failure_limit: spec.failure_limit,
            no_data,
            interval: spec.interval_ms.map(Duration::from_millis),
            max_age: spec.max_age_ms.map(Duration::from_millis),
        },
        unusable,
    }
}
