//! What the supervisor's page (`/`) shows and its API (`/api/v1/...`)
//! serves: for each watched migration its state, its steps, its targets
//! live (and drift), each gate's readings over time with its thresholds and
//! breaches, each reconciliation's parity over time, and the journal.
//!
//! The loop fills it: the state it reads every round ([`Page::observe`]);
//! while someone looks at the page (a request in the last
//! [`VIEWED_FOR`]), the journal records it has not seen yet
//! ([`Page::after`], [`Page::records`]) and the targets' live values every
//! [`LIVE_EVERY`] ([`Page::live_due`], [`Page::live`]). Requests only read
//! what is kept here: a browser left open neither reads the journal nor
//! calls a proxy itself.
//!
//! Bounded: per gate and per reconciliation the last [`KEPT`] readings are
//! kept and the last [`SENT`] sent; the journal's last [`JOURNAL_SENT`]
//! records (passing gate readings left out, as `history` does). Everything
//! served passes [`crate::redact::clean`]; plan strings are their templates.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value as Json};

use crate::domain::fmt_number;
use crate::engine::inspect::Live;
use crate::plan::describe::duration_words;
use crate::plan::Plan;
use crate::state::{Entry, Record, State, Status, StepStatus, Timestamp};

/// The layout of what `/api/v1/...` serves.
pub const SCHEMA: &str = "migrate.supervise.page/v1";
/// Readings kept per gate, and parity readings per reconciliation.
pub const KEPT: usize = 1000;
/// Readings sent per gate and per reconciliation.
pub const SENT: usize = 300;
/// Spans of time a gate's whole history is summed up in, at most.
pub const BUCKETS: usize = 300;
/// Journal records sent, newest first.
pub const JOURNAL_SENT: usize = 200;
/// The loop keeps the journal and live values fresh this long after the
/// page (or its API) was last asked for.
pub const VIEWED_FOR: Duration = Duration::from_secs(30);
/// How often the targets' live values are read while the page is looked at.
pub const LIVE_EVERY: Duration = Duration::from_secs(5);
/// How long the loop waits for the targets' live values.
pub const LIVE_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How often, at most, the journal is read for new records.
const JOURNAL_EVERY: Duration = Duration::from_secs(1);

/// Fields of a gate record that are not its evidence.
const GATE_FIELDS: &[&str] = &[
    "v",
    "seq",
    "at",
    "actor",
    "migration",
    "event",
    "step",
    "gate",
    "value",
    "nan",
    "ok",
    "note",
];

/// The page's data, shared by the loop and the server.
#[derive(Default)]
pub struct Page {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    viewed: Option<Instant>,
    migrations: BTreeMap<String, View>,
}

impl Inner {
    /// Someone looked in the last [`VIEWED_FOR`].
    fn looked_at(&self) -> bool {
        self.viewed.is_some_and(|t| t.elapsed() < VIEWED_FOR)
    }
}

/// One migration, as the page shows it.
#[derive(Default)]
struct View {
    state: Option<State>,
    /// The gates: the soak's own (what guards it now) and the plan's.
    gates: Vec<(String, Json)>,
    /// What is wrong with it now (an incompatible plan, drift, a look that
    /// failed), as the loop said.
    problem: Option<String>,
    /// The last journal record folded in (0: none; read from the start).
    seq: u64,
    journal_read: Option<Instant>,
    readings: BTreeMap<String, Series>,
    parity: BTreeMap<String, Parity>,
    journal: VecDeque<Json>,
    live: Option<(Timestamp, Vec<Json>)>,
    live_read: Option<Instant>,
}

#[derive(Default)]
struct Series {
    readings: VecDeque<Json>,
    /// Every reading and breached reading folded in, not only those kept.
    total: u64,
    failed: u64,
    /// The breaches that counted (the breaker's, or a pause's).
    trips: VecDeque<Json>,
    /// Every reading since the first, summed up in spans of time.
    history: History,
}

/// Readings over the whole of a long soak in at most [`BUCKETS`] spans of
/// time: a span starts at a minute and doubles (its neighbours merged)
/// whenever there would be more.
#[derive(Default)]
struct History {
    width_ms: u64,
    buckets: VecDeque<Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    start_ms: u64,
    n: u64,
    /// Readings with a value (the others had no data).
    valued: u64,
    min: f64,
    max: f64,
    sum: f64,
    failed: u64,
}

impl Bucket {
    fn merge(&mut self, o: &Bucket) {
        self.n += o.n;
        self.valued += o.valued;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.failed += o.failed;
    }
}

impl History {
    fn add(&mut self, at: Timestamp, value: Option<f64>, ok: bool) {
        if self.width_ms == 0 {
            self.width_ms = 60_000;
        }
        let at_ms =
            at.0.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let v = value.filter(|v| v.is_finite());
        let one = Bucket {
            start_ms: at_ms - at_ms % self.width_ms,
            n: 1,
            valued: u64::from(v.is_some()),
            min: v.unwrap_or(f64::INFINITY),
            max: v.unwrap_or(f64::NEG_INFINITY),
            sum: v.unwrap_or(0.0),
            failed: u64::from(!ok),
        };
        match self.buckets.back_mut() {
            Some(b) if b.start_ms == one.start_ms => b.merge(&one),
            Some(b) if b.start_ms > one.start_ms => b.merge(&one),
            _ => self.buckets.push_back(one),
        }
        while self.buckets.len() > BUCKETS {
            self.width_ms *= 2;
            let mut merged: VecDeque<Bucket> = VecDeque::with_capacity(BUCKETS);
            for b in self.buckets.drain(..) {
                let start_ms = b.start_ms - b.start_ms % self.width_ms;
                match merged.back_mut() {
                    Some(m) if m.start_ms == start_ms => m.merge(&b),
                    _ => merged.push_back(Bucket { start_ms, ..b }),
                }
            }
            self.buckets = merged;
        }
    }

    fn json(&self) -> Json {
        let buckets: Vec<Json> = self
            .buckets
            .iter()
            .map(|b| {
                let at = Timestamp(SystemTime::UNIX_EPOCH + Duration::from_millis(b.start_ms));
                let valued = b.valued > 0;
                json!({
                    "at": at,
                    "n": b.n,
                    "min": valued.then_some(b.min),
                    "max": valued.then_some(b.max),
                    "mean": valued.then(|| b.sum / b.valued as f64),
                    "failed": b.failed,
                })
            })
            .collect();
        json!({"bucket_ms": self.width_ms, "buckets": buckets})
    }
}

#[derive(Default)]
struct Parity {
    readings: VecDeque<Json>,
    last: Json,
}

fn push(q: &mut VecDeque<Json>, v: Json, cap: usize) {
    q.push_back(v);
    while q.len() > cap {
        q.pop_front();
    }
}

fn last(q: &VecDeque<Json>, n: usize) -> Vec<&Json> {
    q.iter().skip(q.len().saturating_sub(n)).collect()
}

impl Page {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut i| f(&mut i))
    }

    /// The page or its API was asked for.
    pub fn viewed(&self) {
        self.with(|i| i.viewed = Some(Instant::now()));
    }

    /// Someone looked in the last [`VIEWED_FOR`].
    pub fn wanted(&self) -> bool {
        self.with(|i| i.looked_at()).unwrap_or(false)
    }

    /// The migrations watched now (others are forgotten).
    pub fn watching(&self, names: &[String]) {
        self.with(|i| {
            i.migrations.retain(|k, _| names.contains(k));
            for n in names {
                i.migrations.entry(n.clone()).or_default();
            }
        });
    }

    /// What the loop read of a migration's state, with its plan.
    pub fn observe(&self, name: &str, plan: &Plan, st: Option<&State>) {
        let gates = gate_definitions(plan, st);
        self.with(|i| {
            let v = i.migrations.entry(name.to_string()).or_default();
            v.state = st.cloned();
            v.gates = gates;
        });
    }

    /// What is wrong with migration `name` now (`None`: nothing).
    pub fn problem(&self, name: &str, problem: Option<String>) {
        self.with(|i| i.migrations.entry(name.to_string()).or_default().problem = problem);
    }

    /// The journal records to read next for migration `name` (those after
    /// the returned number), when someone looks and the state went past
    /// what was read; `None`: nothing to read now.
    pub fn after(&self, name: &str, st: Option<&State>) -> Option<u64> {
        let st = st?;
        self.with(|i| {
            if !i.looked_at() {
                return None;
            }
            let v = i.migrations.get_mut(name)?;
            if st.journal_seq < v.seq {
                // The journal was replaced (state push, a rebuild): again.
                *v = View {
                    state: v.state.take(),
                    gates: std::mem::take(&mut v.gates),
                    problem: v.problem.take(),
                    ..View::default()
                };
            }
            if st.journal_seq == v.seq
                || v.journal_read.is_some_and(|t| t.elapsed() < JOURNAL_EVERY)
            {
                return None;
            }
            v.journal_read = Some(Instant::now());
            Some(v.seq)
        })
        .flatten()
    }

    /// The records read after `after` (see [`Page::after`]) folded in.
    pub fn records(&self, name: &str, after: u64, records: &[Record]) {
        self.with(|i| {
            let Some(v) = i.migrations.get_mut(name) else {
                return;
            };
            if v.seq != after {
                return;
            }
            let continues = records.first().is_none_or(|r| r.seq == after + 1);
            let recovered = records
                .iter()
                .any(|r| matches!(r.entry, Entry::Recovered { .. }));
            if after > 0 && (!continues || recovered) {
                // Not the journal folded so far: read it whole next time.
                v.seq = 0;
                v.readings.clear();
                v.parity.clear();
                v.journal.clear();
                v.journal_read = None;
                return;
            }
            for r in records {
                v.fold(r);
            }
        });
    }

    /// Whether the live values of migration `name` are due a read.
    pub fn live_due(&self, name: &str) -> bool {
        self.with(|i| {
            i.looked_at()
                && i.migrations
                    .get(name)
                    .is_some_and(|v| v.live_read.is_none_or(|t| t.elapsed() >= LIVE_EVERY))
        })
        .unwrap_or(false)
    }

    /// The targets of migration `name` as they are live.
    pub fn live(&self, name: &str, live: &[Live]) {
        let at = Timestamp::new(SystemTime::now());
        let rows = live.iter().map(live_json).collect();
        self.with(|i| {
            if let Some(v) = i.migrations.get_mut(name) {
                v.live = Some((at, rows));
                v.live_read = Some(Instant::now());
            }
        });
    }

    /// `/api/v1/migrations`: every migration watched, in brief.
    pub fn overview(&self, supervisor: Json) -> Json {
        let now = Timestamp::new(SystemTime::now());
        self.with(|i| {
            let migrations: Vec<Json> = i
                .migrations
                .iter()
                .map(|(name, v)| v.brief(name, now))
                .collect();
            json!({
                "schema": SCHEMA,
                "now": now,
                "supervisor": supervisor,
                "migrations": migrations,
            })
        })
        .unwrap_or(Json::Null)
    }

    /// `/api/v1/migrations/NAME`: one migration in full (`None`: not
    /// watched).
    pub fn migration(&self, name: &str) -> Option<Json> {
        let now = Timestamp::new(SystemTime::now());
        self.with(|i| i.migrations.get(name).map(|v| v.full(name, now)))
            .flatten()
    }
}

/// The gates to show: the soak's (as it keeps them: what guards it) then
/// the plan's others, each as its definition without its name.
fn gate_definitions(plan: &Plan, st: Option<&State>) -> Vec<(String, Json)> {
    let mut out: Vec<(String, Json)> = Vec::new();
    let strip = |mut d: Json, kept: bool| {
        if let Some(o) = d.as_object_mut() {
            o.remove("name");
            o.insert("kept_by_soak".into(), kept.into());
        }
        d
    };
    if let Some(soak) = st.and_then(|s| s.soak.as_ref()) {
        for g in &soak.gates {
            let d = serde_json::to_value(g).unwrap_or_default();
            out.push((g.name.clone(), strip(d, true)));
        }
    }
    for g in &plan.gates {
        if out.iter().any(|(n, _)| n == &g.name) {
            continue;
        }
        let d = serde_json::to_value(g).unwrap_or_default();
        out.push((g.name.clone(), strip(d, false)));
    }
    out
}

fn threshold_label(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("{} ≤ value ≤ {}", fmt_number(lo), fmt_number(hi)),
        (Some(lo), None) => format!("≥ {}", fmt_number(lo)),
        (None, Some(hi)) => format!("≤ {}", fmt_number(hi)),
        (None, None) => String::new(),
    }
}

fn live_json(l: &Live) -> Json {
    let (kind, key) = match &l.target {
        crate::state::Target::Traffic { .. } => ("traffic", None),
        crate::state::Target::Mirror { .. } => ("mirror", None),
        crate::state::Target::Flag { key, .. } => ("flag", Some(key.clone())),
    };
    json!({
        "target": l.target.to_string(),
        "kind": kind,
        "provider": l.target.provider(),
        "key": key,
        "baseline": l.baseline.to_string(),
        "expected": l.expected.to_string(),
        "expected_percent": l.expected.percent(),
        "live": l.live.as_ref().ok().map(ToString::to_string),
        "live_percent": l.live.as_ref().ok().and_then(crate::state::Value::percent),
        "error": l.live.as_ref().err(),
        "drift": l.drifted(),
    })
}

/// What the page calls the migration's condition (as `/metrics` does:
/// `soaking` is active, in a soak).
fn condition(st: Option<&State>) -> &'static str {
    let Some(st) = st else { return "new" };
    match st.status {
        Status::Active if st.soak.is_some() => "soaking",
        Status::New => "new",
        Status::Active => "active",
        Status::Paused => "paused",
        Status::Failed => "failed",
        Status::RollingBack => "rolling_back",
        Status::RolledBack => "rolled_back",
        Status::RollbackIncomplete => "rollback_incomplete",
        Status::Completed => "completed",
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn words(d: Duration) -> String {
    duration_words(Duration::from_secs(d.as_secs()))
}

impl View {
    fn brief(&self, name: &str, now: Timestamp) -> Json {
        let st = self.state.as_ref();
        json!({
            "name": name,
            "condition": condition(st),
            "status": st.map(|s| s.status),
            "words": st.map_or("not started", |s| s.status.words()),
            "position": st.map_or(0, |s| s.position),
            "steps": st.map_or(0, |s| s.steps.len()),
            "step": st.and_then(State::current).map(|c| c.id.clone()),
            "serial": st.map(|s| s.serial),
            "soak_remaining_ms": st.and_then(|s| s.soak.as_ref()).map(|k| ms(k.remaining(now))),
            "problem": self.problem,
            "updated": st.and_then(|s| s.updated.as_ref()).map(|u| u.at),
        })
    }

    fn full(&self, name: &str, now: Timestamp) -> Json {
        let mut out = self.brief(name, now);
        let st = self.state.as_ref();
        let position = st.map_or(0, |s| s.position);
        // A step is current only while the migration is under way.
        let moving = st
            .is_some_and(|s| matches!(s.status, Status::Active | Status::Paused | Status::Failed));
        let steps: Vec<Json> = st
            .map(|s| s.steps.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let place = match s.status {
                    StepStatus::Done => "done",
                    StepStatus::Failed => "failed",
                    _ if moving && i == position => "current",
                    _ if moving && i == position + 1 => "next",
                    _ => "pending",
                };
                json!({
                    "id": s.id,
                    "phase": s.phase,
                    "kind": s.kind,
                    "action": s.action,
                    "status": s.status,
                    "place": place,
                    "started": s.started,
                    "finished": s.finished,
                    "error": s.error,
                    "approved": st.and_then(|st| st.approvals.get(&s.id)),
                })
            })
            .collect();
        let soak = st.and_then(|s| s.soak.as_ref()).map(|k| {
            json!({
                "step": k.step,
                "started": k.started,
                "duration_ms": ms(k.duration),
                "elapsed_ms": ms(k.elapsed(now)),
                "remaining_ms": ms(k.remaining(now)),
                "remaining": words(k.remaining(now)),
                "duration": words(k.duration),
                "clock_held": k.paused_since.is_some(),
                "ends_at": (k.paused_since.is_none()).then(|| k.ends_at(now)),
                "breaches": k.breaches,
                "gates_changed_in_plan": k.changed.keys().collect::<Vec<_>>(),
            })
        });
        let obj = out.as_object_mut();
        let Some(obj) = obj else { return out };
        obj.insert("steps_detail".into(), steps.into());
        obj.insert("soak".into(), soak.unwrap_or(Json::Null));
        obj.insert(
            "paused".into(),
            serde_json::to_value(st.and_then(|s| s.paused.as_ref())).unwrap_or_default(),
        );
        obj.insert(
            "rollback".into(),
            serde_json::to_value(st.and_then(|s| s.rollback.as_ref())).unwrap_or_default(),
        );
        obj.insert(
            "last_change".into(),
            serde_json::to_value(st.and_then(|s| s.updated.as_ref())).unwrap_or_default(),
        );
        obj.insert("targets".into(), self.targets());
        obj.insert("gates".into(), self.gates_json(st).into());
        obj.insert("reconciliations".into(), self.parity_json().into());
        obj.insert(
            "journal".into(),
            self.journal
                .iter()
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        );
        obj.insert("journal_read".into(), (self.seq > 0 || st.is_none()).into());
        out
    }

    /// The targets, live when read, else as the state knows them.
    fn targets(&self) -> Json {
        if let Some((at, rows)) = &self.live {
            return json!({"read_at": at, "items": rows});
        }
        let rows: Vec<Json> = self
            .state
            .iter()
            .flat_map(|s| s.targets.values())
            .map(|r| {
                json!({
                    "target": r.target.to_string(),
                    "provider": r.target.provider(),
                    "baseline": r.baseline.to_string(),
                    "expected": r.expected.to_string(),
                    "live": null,
                    "drift": false,
                })
            })
            .collect();
        json!({"read_at": null, "items": rows})
    }

    fn gates_json(&self, st: Option<&State>) -> Vec<Json> {
        let mut names: Vec<&String> = self.gates.iter().map(|(n, _)| n).collect();
        for n in self.readings.keys() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        if let Some(s) = st {
            for n in s.gates.keys() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let def = self
                    .gates
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, d)| d.clone())
                    .unwrap_or(Json::Null);
                let min = def.get("min").and_then(Json::as_f64);
                let max = def.get("max").and_then(Json::as_f64);
                let series = self.readings.get(name);
                let last = st.and_then(|s| s.gates.get(name));
                let breaches = st
                    .and_then(|s| s.soak.as_ref())
                    .and_then(|k| k.breaches.get(name))
                    .copied();
                json!({
                    "name": name,
                    "definition": def,
                    "min": min,
                    "max": max,
                    "threshold": threshold_label(min, max),
                    "failure_limit": def.get("failure_limit"),
                    "breaches_this_soak": breaches,
                    "last": last,
                    "readings": series.map(|s| last_n(&s.readings, SENT)).unwrap_or_default(),
                    "readings_total": series.map_or(0, |s| s.total),
                    "readings_failed": series.map_or(0, |s| s.failed),
                    "trips": series.map(|s| last_n(&s.trips, SENT)).unwrap_or_default(),
                    "history": series.map(|s| s.history.json()),
                })
            })
            .collect()
    }

    fn parity_json(&self) -> Vec<Json> {
        let mut names: Vec<&String> = self.parity.keys().collect();
        if let Some(s) = &self.state {
            for n in s.parity.keys() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let p = self.parity.get(name);
                let latest = self.state.as_ref().and_then(|s| s.parity.get(name));
                json!({
                    "name": name,
                    "parity": latest.map(|r| r.parity),
                    "at": latest.map(|r| r.at),
                    "complete": latest.map(crate::state::ParityRecord::is_complete),
                    "differences": latest.map(|r| differences(&r.summary)),
                    "readings": p.map(|p| last_n(&p.readings, SENT)).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Fold one journal record in.
    fn fold(&mut self, r: &Record) {
        self.seq = r.seq;
        match &r.entry {
            Entry::Gate {
                gate, value, ok, ..
            } => {
                let mut reading = json!({"at": r.at, "value": value, "ok": ok});
                if let Ok(Json::Object(all)) = serde_json::to_value(r) {
                    let mut evidence = Map::new();
                    for (k, v) in all {
                        match k.as_str() {
                            "nan" | "note" => {
                                reading[k.as_str()] = v;
                            }
                            _ if GATE_FIELDS.contains(&k.as_str()) => {}
                            _ => {
                                evidence.insert(k, v);
                            }
                        }
                    }
                    if !evidence.is_empty() {
                        reading["evidence"] = Json::Object(evidence);
                    }
                }
                let s = self.readings.entry(gate.clone()).or_default();
                s.total += 1;
                if !ok {
                    s.failed += 1;
                }
                s.history.add(r.at, *value, *ok);
                push(&mut s.readings, reading, KEPT);
            }
            Entry::Breach {
                gate,
                value,
                reason,
                ..
            } => {
                let s = self.readings.entry(gate.clone()).or_default();
                push(
                    &mut s.trips,
                    json!({"at": r.at, "value": value, "reason": reason}),
                    KEPT,
                );
            }
            Entry::Reconciled {
                name,
                parity,
                summary,
                ..
            } => {
                let p = self.parity.entry(name.clone()).or_default();
                push(
                    &mut p.readings,
                    json!({"at": r.at, "parity": parity, "differences": differences(summary)}),
                    KEPT,
                );
                p.last = summary.clone();
            }
            _ => {}
        }
        if matches!(&r.entry, Entry::Gate { ok: true, .. }) {
            return;
        }
        let (step, text) = row_words(&r.entry);
        push(
            &mut self.journal,
            json!({
                "seq": r.seq,
                "at": r.at,
                "actor": r.actor,
                "event": r.entry.name(),
                "step": step,
                "text": text,
                "mark": mark(&r.entry),
            }),
            JOURNAL_SENT,
        );
    }
}

fn last_n(q: &VecDeque<Json>, n: usize) -> Vec<Json> {
    last(q, n).into_iter().cloned().collect()
}

/// A reconciliation's differences: counts, and the keys of rows a repair
/// could not write — keys only, never a column's value.
fn differences(summary: &Json) -> Json {
    let mut out = Map::new();
    for k in [
        "rows_compared",
        "rows",
        "matched",
        "missing",
        "extra",
        "different",
        "differing",
        "settled",
        "swept",
    ] {
        if let Some(v) = summary.get(k).filter(|v| v.is_number()) {
            out.insert(k.to_string(), v.clone());
        }
    }
    let keys: Vec<Json> = summary
        .pointer("/repair/unrepaired")
        .and_then(Json::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row.get("key").cloned())
                .take(20)
                .collect()
        })
        .unwrap_or_default();
    if !keys.is_empty() {
        out.insert("unrepaired_keys".into(), keys.into());
    }
    Json::Object(out)
}

/// Which kind of record the journal marks.
fn mark(e: &Entry) -> Option<&'static str> {
    Some(match e {
        Entry::RollbackStarted { .. }
        | Entry::Restored { .. }
        | Entry::RestoreFailed { .. }
        | Entry::RollbackFinished { .. } => "rollback",
        Entry::Approved { .. } => "approval",
        Entry::Breach { .. } | Entry::Gate { ok: false, .. } => "breach",
        Entry::Paused { .. } | Entry::Resumed => "pause",
        Entry::StepFailed { .. } => "failure",
        _ => return None,
    })
}

/// A journal record in words: its step, and what it says (as `history`
/// says it).
fn row_words(e: &Entry) -> (Option<String>, String) {
    let (step, text) = crate::output::journal::details(e);
    let text = match e {
        Entry::Approved { .. } => "approved".to_string(),
        Entry::Completed => "completed".to_string(),
        _ => text,
    };
    (Some(step).filter(|s| !s.is_empty()), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, entry: Entry) -> Record {
        record_at(seq, Timestamp::new(SystemTime::now()), entry)
    }

    fn record_at(seq: u64, at: Timestamp, entry: Entry) -> Record {
        Record {
            v: 1,
            seq,
            at,
            actor: "ops@test".into(),
            migration: "m".into(),
            entry,
        }
    }

    fn gate(ok: bool, value: f64) -> Entry {
        Entry::Gate {
            step: Some("soak".into()),
            gate: "errors".into(),
            value: Some(value),
            nan: false,
            ok,
            note: None,
            look: None,
            evidence: None,
        }
    }

    fn page_with(records: &[Record]) -> Page {
        let page = Page::default();
        page.watching(&["m".to_string()]);
        page.viewed();
        page.records("m", 0, records);
        page
    }

    #[test]
    fn readings_are_bounded_and_passing_ones_stay_out_of_the_journal() {
        let mut records: Vec<Record> = (1..=(KEPT as u64 + 50))
            .map(|i| record(i, gate(true, 0.01)))
            .collect();
        let n = records.len() as u64;
        records.push(record(n + 1, gate(false, 0.5)));
        records.push(record(
            n + 2,
            Entry::Breach {
                step: Some("soak".into()),
                gate: "errors".into(),
                value: Some(0.5),
                reason: "errors 0.5 > 0.05".into(),
                evidence: None,
            },
        ));
        records.push(record(n + 3, Entry::Approved { step: "go".into() }));
        let page = page_with(&records);
        let m = page.migration("m").unwrap();
        let g = &m["gates"][0];
        assert_eq!(g["name"], "errors");
        assert_eq!(g["readings"].as_array().unwrap().len(), SENT);
        assert_eq!(g["readings_total"], KEPT as u64 + 51);
        assert_eq!(g["readings_failed"], 1);
        assert_eq!(g["trips"][0]["reason"], "errors 0.5 > 0.05");
        let journal = m["journal"].as_array().unwrap();
        // Newest first; passing readings left out.
        assert_eq!(journal.len(), 3, "{journal:#?}");
        assert_eq!(journal[0]["mark"], "approval");
        assert_eq!(journal[1]["mark"], "breach");
        assert_eq!(journal[1]["event"], "breach");
        assert_eq!(journal[2]["event"], "gate");
    }

    #[test]
    fn a_journal_that_does_not_continue_is_read_again() {
        let page = page_with(&[record(1, gate(true, 0.1)), record(2, gate(true, 0.2))]);
        // Records that skip ahead: another journal.
        page.records("m", 2, &[record(7, gate(true, 0.3))]);
        let m = page.migration("m").unwrap();
        assert_eq!(m["gates"].as_array().map(Vec::len), Some(0), "{m:#}");
        assert!(page.with(|i| i.migrations["m"].seq).unwrap() == 0);
    }

    #[test]
    fn what_is_sent_stays_small_however_long_the_soak() {
        // Three gates read 5,000 times each over two weeks (every 4 min;
        // at 30 s there are more readings, and the same bounds), a
        // reconciliation recorded as often.
        let start = Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let mut records = Vec::new();
        let mut seq = 0;
        for i in 0..5_000u32 {
            let at = start.plus(Duration::from_secs(242 * u64::from(i)));
            for g in ["errors", "latency_p99", "saturation"] {
                seq += 1;
                records.push(record_at(
                    seq,
                    at,
                    Entry::Gate {
                        step: Some("soak".into()),
                        gate: g.into(),
                        value: Some(f64::from(i % 97) / 1000.0),
                        nan: false,
                        ok: i != 4_321,
                        note: None,
                        look: None,
                        evidence: None,
                    },
                ));
            }
            seq += 1;
            records.push(record_at(
                seq,
                at,
                Entry::Reconciled {
                    name: "orders".into(),
                    parity: 1.0,
                    complete: Some(true),
                    swept: None,
                    summary: json!({"missing": 0, "extra": 0, "different": 0}),
                },
            ));
        }
        let page = page_with(&records);
        let m = page.migration("m").unwrap();
        let size = m.to_string().len();
        // About 160 KB.
        assert!(size < 250_000, "{size} bytes");
        assert_eq!(m["gates"].as_array().unwrap().len(), 3);
        for g in m["gates"].as_array().unwrap() {
            assert_eq!(g["readings"].as_array().unwrap().len(), SENT);
            assert_eq!(g["readings_total"], 5_000);
            // The whole two weeks, summed up: every reading, the breach.
            let buckets = g["history"]["buckets"].as_array().unwrap();
            assert!(
                buckets.len() <= BUCKETS && buckets.len() > BUCKETS / 4,
                "{}",
                buckets.len()
            );
            let n: u64 = buckets.iter().map(|b| b["n"].as_u64().unwrap()).sum();
            assert_eq!(n, 5_000);
            let failed: u64 = buckets.iter().map(|b| b["failed"].as_u64().unwrap()).sum();
            assert_eq!(failed, 1);
            assert_eq!(buckets[0]["min"], 0.0);
            let first = humantime::parse_rfc3339(buckets[0]["at"].as_str().unwrap()).unwrap();
            assert!(first <= start.0, "the first span holds the first reading");
        }
        let r = &m["reconciliations"][0];
        assert_eq!(r["name"], "orders");
        assert_eq!(r["readings"].as_array().unwrap().len(), SENT);
        assert_eq!(r["readings"][0]["differences"]["missing"], 0);
        // Recorded reconciliations are journal rows; passing readings not.
        assert_eq!(m["journal"].as_array().unwrap().len(), JOURNAL_SENT);
        assert!(m["journal"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("orders: parity 1"));
    }

    #[test]
    fn differences_keep_keys_and_counts_only() {
        let summary = json!({
            "missing": 2, "extra": 0, "different": 1, "source": "pg: orders",
            "repair": {"unrepaired": [{"key": {"id": 7}, "columns": ["note"], "reason": "value 'secret' too long"}]}
        });
        let d = differences(&summary);
        assert_eq!(d["missing"], 2);
        assert_eq!(d["unrepaired_keys"], json!([{"id": 7}]));
        assert!(!d.to_string().contains("secret"), "{d}");
    }
}
