//! Continuous reconciliation: keep comparing a live table, a small pass at
//! a time, instead of a full comparison every interval.
//!
//! Each [`Continuous::tick`] is one pass of two parts, both through the
//! one-off reconciliation's own machinery (the key-ordered merge of
//! [`diff`] and the settle re-check of [`settle`], so differences are the
//! same exact, typed ones):
//!
//! 1. **The watermark pass** (with `watermark:`): both sides' rows whose
//!    watermark is above `W - overlap` are compared, where `W` is the
//!    highest source watermark seen at the start of the previous pass (of
//!    this pass, the first time). A row written since then has a higher
//!    watermark, unless its transaction started more than `overlap`
//!    before it committed or its writer's clock is behind by more than
//!    `overlap`: that is what the overlap covers (default 1m for a time
//!    watermark, 0 for an integer one). A row found on one side only is
//!    looked up by key on the other before it counts. Changed and new rows
//!    are caught within one pass.
//! 2. **A slice of the rolling sweep**: the next `sweep_rows` source keys
//!    (or a slice sized so a full sweep takes `sweep_within`), from where
//!    the last slice ended, and every target row in the same key range.
//!    The last slice runs to the end of the key space, and the next one
//!    starts again from the beginning. The sweep catches what the
//!    watermark cannot: deletions, rows changed without moving their
//!    watermark, tables without one.
//!
//! The keys known to differ are kept (at most `max_differing` of them:
//! past that, differences are counted, not remembered, and the reading
//! says `saturated`). A key leaves the set when a pass finds its row equal
//! again, or when the sweep's slice that holds it no longer finds it
//! different (a deleted row). The reading's parity is
//! `1 - differing / rows`, where `rows` is the number of rows (the union
//! of both sides' keys) the last complete sweep counted, or the sweep in
//! progress once it has counted more; 1.0 when there are none.
//!
//! Until the first full sweep is over, parts of the table were never
//! compared: the reading says `complete: false`, and a parity gate takes
//! such a reading for no data (see docs/reconcile.md). A failed pass (a
//! dropped connection, a restarted server) is an error of that tick: the
//! watermark and the sweep's position stay where they were, so the next
//! tick does the same work again.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::columns::Pair;
use super::diff::{self, cmp_keys, DiffKind, Outcome, Tally};
use super::settle;
use super::value::{Row, Value};
use super::NoProgress;
use crate::plan::{self, Overlap, Plan, Sweep};
use crate::providers::db::{Database, Kind};

/// Rows per slice when `sweep_within` is given and the source has no row
/// estimate yet (SQLite), until the first sweep has counted them.
const FALLBACK_SLICE: u64 = 10_000;
/// The smallest slice `sweep_within` makes.
const MIN_SLICE: u64 = 100;

/// A continuous reconciliation of one of the plan's reconciliations.
pub struct Continuous {
    name: String,
    source_label: String,
    target_label: String,
    source: Arc<dyn Database>,
    target: Arc<dyn Database>,
    pair: Pair,
    every: Duration,
    sweep: Sweep,
    settle: Duration,
    batch: usize,
    watermark: Option<Mark>,
    known: Mutex<Known>,
    /// Where the next slice starts (after this key; `None`: the start).
    cursor: Option<Row>,
    /// Rows per slice.
    slice: u64,
    /// Full sweeps completed.
    sweeps: u64,
    /// Rows counted by the sweep in progress.
    swept: u64,
    /// Rows counted by the last complete sweep.
    full_rows: Option<u64>,
    passes: u64,
}

/// The watermark column and where the next pass starts.
struct Mark {
    /// Index in the pair's columns (the same on both sides).
    index: usize,
    column: String,
    overlap: Overlap,
    /// The highest source watermark seen at the start of the last pass
    /// that completed.
    seen: Option<Value>,
}

/// One reading: after a pass.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// `1 - differing / rows` (1.0 when `rows` is 0), never below 0.
    pub parity: f64,
    /// Rows of the table (the union of both sides' keys), as counted by
    /// the last complete sweep (or the one in progress, once it has
    /// counted more).
    pub rows: u64,
    /// Rows known to differ (remembered keys, plus those counted past
    /// `max_differing`).
    pub differing: u64,
    /// Whether a full sweep has completed: before that, part of the
    /// table was never compared and the parity says nothing about it.
    pub complete: bool,
    /// More rows differ than `max_differing`: the count is an estimate.
    pub saturated: bool,
    /// Rows compared by the sweep in progress (the first one: before it
    /// completes, the rows compared so far).
    pub swept: u64,
    /// The same, and the pass's details, as recorded in the journal
    /// (schema `migrate.reconcile.continuous/v1`).
    pub summary: serde_json::Value,
}

/// What one pass did, for the summary.
#[derive(Debug, Default, Clone, Serialize)]
struct Pass {
    /// Rows the watermark pass read (source + target).
    watermark_rows: u64,
    /// The watermark the pass read above (`None`: no watermark pass).
    watermark_above: Option<String>,
    /// Source rows in the slice of the sweep.
    slice_rows: u64,
    /// The slice's key range: after `from` (`None`: the start), up to
    /// `to` (`None`: the end).
    slice_from: Option<serde_json::Value>,
    slice_to: Option<serde_json::Value>,
    /// Differences found by this pass (after the re-check).
    found: u64,
    /// Rows re-read after a dropped connection.
    retries: u64,
    seconds: f64,
}

/// A key, ordered as the scans order keys.
#[derive(Debug, Clone)]
struct Key(Row);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        cmp_keys(&self.0, &other.0, self.0.len().max(other.0.len()))
            .then(self.0.len().cmp(&other.0.len()))
    }
}

/// The keys known to differ, at most `cap` of them.
#[derive(Debug, Default)]
struct Known {
    keys: BTreeMap<Key, DiffKind>,
    cap: usize,
    /// Differences found past the cap during the sweep in progress...
    overflow: u64,
    /// ...and during the last complete one.
    overflow_last: u64,
}

impl Known {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    fn insert(&mut self, key: Row, kind: DiffKind) {
        let key = Key(key);
        if self.keys.len() < self.cap || self.keys.contains_key(&key) {
            self.keys.insert(key, kind);
        } else {
            self.overflow += 1;
        }
    }

    fn remove(&mut self, key: &[Value]) {
        if !self.keys.is_empty() {
            self.keys.remove(&Key(key.to_vec()));
        }
    }

    fn differing(&self) -> u64 {
        self.keys.len() as u64 + self.overflow.max(self.overflow_last)
    }

    fn count(&self, kind: DiffKind) -> u64 {
        self.keys.values().filter(|k| **k == kind).count() as u64
    }
}

/// Applies verdicts to a set of keys.
struct Apply<'a>(&'a Mutex<Known>);

impl Apply<'_> {
    fn lock(&self) -> MutexGuard<'_, Known> {
        // A panic while holding the lock cannot leave the set half-changed
        // in a way that matters (one insert or remove): go on with it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Tally for Apply<'_> {
    fn matched(&self, key: &[Value]) {
        self.lock().remove(key);
    }

    fn verdict(&self, key: &[Value], kind: Option<DiffKind>) {
        let mut known = self.lock();
        match kind {
            Some(kind) => known.insert(key.to_vec(), kind),
            None => known.remove(key),
        }
    }
}

fn lock(m: &Mutex<Known>) -> MutexGuard<'_, Known> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key_json(key: &[Value]) -> serde_json::Value {
    serde_json::Value::Array(key.iter().map(Value::to_json).collect())
}

impl Continuous {
    /// Connect to both sides of the plan's reconciliation `name` and check
    /// its continuous settings against the real tables (the plan's
    /// defaults when it has none: a rolling sweep of 10,000 rows every
    /// 30s, no watermark). Nothing is compared yet.
    pub async fn new(plan: &Plan, name: &str) -> anyhow::Result<Self> {
        let rec = plan
            .reconciliation(name)
            .ok_or_else(|| anyhow::anyhow!("the plan has no reconciliation '{name}'"))?;
        let settings = rec.continuous.clone().unwrap_or(plan::Continuous {
            every: Duration::from_secs(30),
            watermark: None,
            sweep: Sweep::Rows(10_000),
            max_differing: 100_000,
        });
        let (source, target, pair) = super::open(plan, rec).await?;
        let watermark = match &settings.watermark {
            Some(w) => Some(
                mark(&pair, w).with_context(|| format!("reconciliation '{name}': watermark"))?,
            ),
            None => None,
        };
        let mut this = Self {
            name: name.to_string(),
            source_label: format!("{}:{}", rec.source.provider, rec.source.table),
            target_label: format!("{}:{}", rec.target.provider, rec.target.table),
            source,
            target,
            pair,
            every: settings.every,
            sweep: settings.sweep,
            settle: rec.settle,
            batch: rec.batch_size as usize,
            watermark,
            known: Mutex::new(Known::new(settings.max_differing as usize)),
            cursor: None,
            slice: FALLBACK_SLICE,
            sweeps: 0,
            swept: 0,
            full_rows: None,
            passes: 0,
        };
        this.size_slices().await;
        Ok(this)
    }

    /// How long to wait between ticks (`continuous.every`).
    pub fn every(&self) -> Duration {
        self.every
    }

    /// One pass: re-check rows changed since the watermark, plus the next
    /// slice of the rolling sweep. An error (a dropped connection, a
    /// restart) leaves the watermark and the sweep where they were: the
    /// next tick does the same work again.
    pub async fn tick(&mut self) -> anyhow::Result<Reading> {
        let started = Instant::now();
        let mut pass = Pass::default();
        self.watermark_pass(&mut pass)
            .await
            .with_context(|| format!("reconciliation '{}': watermark pass", self.name))?;
        self.slice_pass(&mut pass)
            .await
            .with_context(|| format!("reconciliation '{}': sweep", self.name))?;
        self.passes += 1;
        pass.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        Ok(self.reading(&pass))
    }

    async fn watermark_pass(&mut self, pass: &mut Pass) -> anyhow::Result<()> {
        let Some(mark) = &self.watermark else {
            return Ok(());
        };
        let index = mark.index;
        // The highest watermark now, before the scans: the next pass reads
        // above it (less the overlap).
        let top = self.source.max_of(&self.pair.source, index).await?;
        let Some(from) = mark.seen.clone().or_else(|| top.clone()) else {
            // An empty table: nothing to re-check yet.
            return Ok(());
        };
        let above =
            lower(&from, mark.overlap).with_context(|| format!("column {}", mark.column))?;
        pass.watermark_above = Some(above.to_string());
        let mut sides = self.pair.clone();
        sides.source.above = Some((index, above.clone()));
        sides.target.above = Some((index, above));
        let outcome = self
            .compare(&sides, &Apply(&self.known))
            .await
            .context("re-checking the rows changed since the last pass")?;
        pass.watermark_rows = outcome.source_rows + outcome.target_rows;
        pass.found += found(&outcome);
        pass.retries += outcome.retries;
        if let (Some(mark), Some(top)) = (self.watermark.as_mut(), top) {
            let higher = mark
                .seen
                .as_ref()
                .is_none_or(|s| top.key_cmp(s) == std::cmp::Ordering::Greater);
            if higher {
                mark.seen = Some(top);
            }
        }
        Ok(())
    }

    async fn slice_pass(&mut self, pass: &mut Pass) -> anyhow::Result<()> {
        let upto = self
            .source
            .key_at(&self.pair.source, self.cursor.as_deref(), self.slice)
            .await?;
        let mut sides = self.pair.clone();
        for shape in [&mut sides.source, &mut sides.target] {
            shape.after.clone_from(&self.cursor);
            shape.upto.clone_from(&upto);
        }
        // The slice's verdicts are gathered apart and replace what was
        // known of its range only once it has been read through.
        let fresh = Mutex::new(Known::new(lock(&self.known).cap));
        let outcome = self.compare(&sides, &Apply(&fresh)).await?;
        let fresh = fresh
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        {
            let mut known = lock(&self.known);
            let lo = match &self.cursor {
                Some(c) => Bound::Excluded(Key(c.clone())),
                None => Bound::Unbounded,
            };
            let hi = match &upto {
                Some(u) => Bound::Included(Key(u.clone())),
                None => Bound::Unbounded,
            };
            let stale: Vec<Key> = known.keys.range((lo, hi)).map(|(k, _)| k.clone()).collect();
            for k in stale {
                known.keys.remove(&k);
            }
            for (k, kind) in fresh.keys {
                known.insert(k.0, kind);
            }
            known.overflow += fresh.overflow;
        }
        pass.slice_rows = outcome.source_rows;
        pass.slice_from = self.cursor.as_deref().map(key_json);
        pass.slice_to = upto.as_deref().map(key_json);
        pass.found += found(&outcome);
        pass.retries += outcome.retries;
        self.swept += compared(&outcome);
        match upto {
            Some(u) => self.cursor = Some(u),
            None => {
                // The end of the key space: a full sweep is over.
                self.cursor = None;
                self.sweeps += 1;
                self.full_rows = Some(self.swept);
                self.swept = 0;
                {
                    let mut known = lock(&self.known);
                    known.overflow_last = known.overflow;
                    known.overflow = 0;
                }
                self.size_slices().await;
            }
        }
        Ok(())
    }

    /// Compare `sides` (bounded shapes) and re-check the differences with
    /// the unbounded ones, telling `tally` the verdicts.
    async fn compare(&self, sides: &Pair, tally: &dyn Tally) -> anyhow::Result<Outcome> {
        diff::compare(
            diff::Sides {
                source: self.source.clone(),
                target: self.target.clone(),
                pair: sides,
                tally: Some(tally),
            },
            settle::Checker {
                source: self.source.clone(),
                target: self.target.clone(),
                pair: &self.pair,
                settle: self.settle,
                batch: self.batch,
                repair: None,
                report: None,
                tally: Some(tally),
            },
            &NoProgress,
        )
        .await
    }

    /// Rows per slice: `sweep_rows`, or what makes a full sweep last
    /// `sweep_within` at one pass per `every`.
    async fn size_slices(&mut self) {
        self.slice = match self.sweep {
            Sweep::Rows(n) => u64::from(n),
            Sweep::Within(within) => {
                let estimate = match self.full_rows {
                    Some(n) => Some(n),
                    None => self
                        .source
                        .estimate_rows(&self.pair.source.table)
                        .await
                        .ok()
                        .flatten(),
                };
                let passes = (within.as_secs_f64() / self.every.as_secs_f64().max(0.001))
                    .floor()
                    .max(1.0) as u64;
                match estimate {
                    Some(rows) => rows.div_ceil(passes).max(MIN_SLICE),
                    None => FALLBACK_SLICE,
                }
            }
        };
    }

    fn reading(&self, pass: &Pass) -> Reading {
        let known = lock(&self.known);
        let differing = known.differing();
        let complete = self.sweeps > 0;
        let rows = self.full_rows.unwrap_or(0).max(self.swept);
        let parity = if rows == 0 {
            if differing == 0 {
                1.0
            } else {
                0.0
            }
        } else {
            (1.0 - differing as f64 / rows as f64).max(0.0)
        };
        let saturated = known.overflow > 0 || known.overflow_last > 0;
        let summary = serde_json::json!({
            "schema": "migrate.reconcile.continuous/v1",
            "reconciliation": self.name,
            "source": self.source_label,
            "target": self.target_label,
            "parity": parity,
            "rows": rows,
            "differing": differing,
            "missing": known.count(DiffKind::Missing),
            "extra": known.count(DiffKind::Extra),
            "different": known.count(DiffKind::Different),
            "complete": complete,
            "saturated": saturated,
            "sweeps": self.sweeps,
            "swept": self.swept,
            "slice": self.slice,
            "passes": self.passes,
            "pass": pass,
        });
        Reading {
            parity,
            rows,
            differing,
            complete,
            saturated,
            swept: self.swept,
            summary,
        }
    }
}

/// Rows a comparison counted: the union of both sides' keys.
fn compared(o: &Outcome) -> u64 {
    let c = &o.checked;
    o.matched + c.settled + c.missing + c.extra + c.different
}

/// Differences a comparison reported.
fn found(o: &Outcome) -> u64 {
    let c = &o.checked;
    c.missing + c.extra + c.different
}

/// The watermark column in the pair, and its overlap checked against its
/// type.
fn mark(pair: &Pair, w: &plan::Watermark) -> anyhow::Result<Mark> {
    let index = pair
        .source
        .columns
        .iter()
        .enumerate()
        .skip(pair.keys())
        .find(|(_, c)| c.name.eq_ignore_ascii_case(&w.column))
        .map(|(i, _)| i)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "'{}' is not one of the compared columns of {}",
                w.column,
                pair.source.table
            )
        })?;
    let (s, t) = (&pair.source.columns[index], &pair.target.columns[index]);
    let time = |k: Kind| matches!(k, Kind::Timestamp | Kind::TimestampTz | Kind::Date);
    let int = |k: Kind| matches!(k, Kind::Int | Kind::UInt);
    let overlap = match (s.kind, w.overlap) {
        (k, None) if time(k) => Overlap::Time(Duration::from_secs(60)),
        (k, None) if int(k) => Overlap::Units(0),
        (k, Some(o @ Overlap::Time(_))) if time(k) => o,
        (k, Some(o @ Overlap::Units(_))) if int(k) => o,
        (k, Some(Overlap::Time(_))) if int(k) => anyhow::bail!(
            "'{}' is an integer column ({}): give 'overlap' as a number of its units (e.g. overlap: 1000), not a duration",
            s.name,
            s.ty
        ),
        (k, Some(Overlap::Units(_))) if time(k) => anyhow::bail!(
            "'{}' is a time column ({}): give 'overlap' as a duration (e.g. overlap: 1m), not a number",
            s.name,
            s.ty
        ),
        _ => anyhow::bail!(
            "'{}' is {}: a watermark must be a timestamp, a date or an integer column that grows on every write",
            s.name,
            s.ty
        ),
    };
    if !(time(t.kind) || int(t.kind)) || time(t.kind) != time(s.kind) {
        anyhow::bail!(
            "the source's '{}' is {} but the target's '{}' is {}: the watermark must have the same kind of values on both sides",
            s.name,
            s.ty,
            t.name,
            t.ty
        );
    }
    Ok(Mark {
        index,
        column: s.name.clone(),
        overlap,
        seen: None,
    })
}

/// `value - overlap`, in the watermark's units.
fn lower(value: &Value, overlap: Overlap) -> anyhow::Result<Value> {
    Ok(match (value, overlap) {
        (Value::Timestamp(t), Overlap::Time(d)) => {
            let d = chrono::Duration::from_std(d)?;
            Value::Timestamp(
                t.checked_sub_signed(d)
                    .unwrap_or(chrono::NaiveDateTime::MIN),
            )
        }
        (Value::Date(day), Overlap::Time(d)) => {
            let days = d.as_secs().div_ceil(86_400);
            Value::Date(
                day.checked_sub_days(chrono::Days::new(days))
                    .unwrap_or(chrono::NaiveDate::MIN),
            )
        }
        (Value::Int(i), Overlap::Units(u)) => Value::Int(i.saturating_sub(i128::from(u))),
        (v, _) => anyhow::bail!(
            "its highest value is a {} ({v}), which the overlap cannot be taken from",
            v.type_name()
        ),
    })
}

/// A changed reading is recorded at most this often...
const RECORD_CHANGED: Duration = Duration::from_secs(10);
/// ...and an unchanged one this often (or at half the shortest `max_age`
/// of the plan's parity gates on the reconciliation, when that is sooner),
/// so that gates see a fresh reading and the journal grows by a bounded
/// amount whatever the pass interval.
const RECORD_UNCHANGED: Duration = Duration::from_secs(300);

/// When to record a reading in the migration's journal (`reconcile
/// --follow`, `supervise`).
pub struct Throttle {
    refresh: Duration,
    /// The last reading recorded: when, and what it said.
    last: Option<(Instant, f64, u64)>,
}

impl Throttle {
    pub fn new(plan: &Plan, name: &str) -> Self {
        let shortest = plan
            .gates
            .iter()
            .filter(|g| {
                matches!(&g.source, plan::GateSource::Parity { reconcile } if reconcile == name)
            })
            .filter_map(|g| g.max_age)
            .min();
        let refresh = shortest.map_or(RECORD_UNCHANGED, |m| (m / 2).min(RECORD_UNCHANGED));
        Self {
            refresh: refresh.max(Duration::from_secs(1)),
            last: None,
        }
    }

    /// Readings before the first full sweep are never recorded (part of
    /// the table was never compared); after it, the first is, then any
    /// change (at most every RECORD_CHANGED) and a refresh.
    pub fn due(&self, r: &Reading, now: Instant) -> bool {
        if !r.complete {
            return false;
        }
        match self.last {
            None => true,
            Some((at, parity, differing)) => {
                let since = now.saturating_duration_since(at);
                let changed = parity != r.parity || differing != r.differing;
                (changed && since >= RECORD_CHANGED) || since >= self.refresh
            }
        }
    }

    /// `r` was recorded at `now`.
    pub fn recorded(&mut self, r: &Reading, now: Instant) {
        self.last = Some((now, r.parity, r.differing));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service that keeps a breaker armed spawns its passes.
    #[allow(dead_code)]
    fn passes_can_run_on_any_thread(c: &mut Continuous, plan: &Plan) {
        fn send<T: Send>(_: &T) {}
        send(&c.tick());
        send(&Continuous::new(plan, "r"));
    }

    #[test]
    fn the_overlap_is_taken_in_the_watermarks_units() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_opt(0, 0, 30))
            .map(Value::Timestamp)
            .unwrap();
        assert_eq!(
            lower(&t, Overlap::Time(Duration::from_secs(60)))
                .unwrap()
                .to_string(),
            "2026-01-01 23:59:30"
        );
        assert_eq!(
            lower(&Value::Int(10), Overlap::Units(3)).unwrap(),
            Value::Int(7)
        );
        assert!(lower(&Value::Text("x".into()), Overlap::Units(3)).is_err());
    }

    #[test]
    fn past_the_cap_differences_are_counted_not_kept() {
        let mut k = Known::new(2);
        for i in 0..5 {
            k.insert(vec![Value::Int(i)], DiffKind::Different);
        }
        // The same key again is not a new difference.
        k.insert(vec![Value::Int(0)], DiffKind::Missing);
        assert_eq!(k.keys.len(), 2);
        assert_eq!(k.differing(), 5);
        assert_eq!(k.count(DiffKind::Missing), 1);
        k.remove(&[Value::Int(1)]);
        assert_eq!(k.differing(), 4);
    }

    #[test]
    fn keys_order_as_the_scans_do() {
        let a = Key(vec![Value::Int(2), Value::Text("b".into())]);
        let b = Key(vec![Value::Int(10), Value::Text("a".into())]);
        assert!(a < b);
        let mut m = BTreeMap::new();
        m.insert(b.clone(), 1);
        m.insert(a.clone(), 0);
        let after: Vec<i32> = m
            .range((Bound::Excluded(a), Bound::Unbounded))
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(after, [1]);
    }
}
