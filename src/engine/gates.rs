//! Gates: a metric or a parity compared against thresholds. A provider
//! that fails, an empty result and NaN are all "no data", which the gate's
//! `no_data` policy turns into a breach, a pass or a pause (a NaN reading
//! is shown as NaN).

use std::time::Duration;

use futures_util::future::join_all;

use crate::plan::{Gate, GateSource, NoData};
use crate::state::{Entry, ParityRecord, State};

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
                match gate.no_data {
                    NoData::Fail => (false, false, Some(format!("{why} (no_data: fail)"))),
                    NoData::Pass => (true, false, Some(format!("{why} (no_data: pass)"))),
                    NoData::Pause => (false, true, Some(format!("{why} (no_data: pause)"))),
                }
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
        if p.summary.get("complete") == Some(&serde_json::Value::Bool(false)) {
            let swept = p.summary.get("swept").and_then(serde_json::Value::as_u64);
            return Err(format!(
                "the continuous reconciliation of {reconcile} has not completed its first sweep{}",
                swept.map_or(String::new(), |n| format!(" ({n} rows compared so far)"))
            ));
        }
        Ok(Some(p.parity))
    }

    /// Evaluate several gates at once.
    pub async fn evaluate_all(&self, names: &[String], state: &State) -> Vec<Reading> {
        let gates: Vec<&Gate> = names.iter().filter_map(|n| self.plan.gate(n)).collect();
        join_all(gates.into_iter().map(|g| self.evaluate(g, state))).await
    }

    /// Tell the reporter about a reading.
    pub fn report_reading(&self, r: &Reading, step: Option<&str>, breaches: u32) {
        let Some(gate) = self.plan.gate(&r.gate) else {
            return;
        };
        self.events.event(&Event::Gate {
            step: step.map(str::to_string),
            gate: r.gate.clone(),
            value: r.value,
            nan: r.nan,
            ok: r.ok,
            threshold: gate.threshold_label(),
            breaches,
            failure_limit: gate.failure_limit,
            note: r.note.clone(),
        });
    }
}
