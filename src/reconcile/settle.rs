//! Re-checking differences after the settle delay, so that live tables do
//! not raise false alarms.
//!
//! While dual writes run, a row can be caught between the write to the
//! source and its copy to the target. Every difference the merge finds is
//! therefore read again from both sides — by key, each side in one
//! statement — once `settle` has passed since it was seen. Only what still
//! differs is reported (and repaired); a row gone from both sides by then
//! is no longer compared.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::columns::Pair;
use super::diff::{cmp_keys, differing, Diff, DiffKind};
use super::repair::{self, Counts, Mode};
use super::report::ReportFile;
use super::value::Row;
use crate::providers::db::Database;

pub struct Checker<'a> {
    pub source: Arc<dyn Database>,
    pub target: Arc<dyn Database>,
    pub pair: &'a Pair,
    pub settle: Duration,
    /// Keys re-read (and rows repaired) per batch.
    pub batch: usize,
    pub repair: Option<Mode>,
    pub report: Option<ReportFile>,
}

/// The differences that remained after the re-check.
#[derive(Debug, Default, Clone)]
pub struct Checked {
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    /// Differences that were gone when re-checked (rows caught mid-write).
    pub settled: u64,
    /// Rows that differed and then left both sides (deleted meanwhile).
    pub vanished: u64,
    pub repair: Counts,
}

impl Checker<'_> {
    pub async fn run(mut self, mut rx: mpsc::Receiver<Diff>) -> anyhow::Result<Checked> {
        let mut out = Checked::default();
        let mut pending: Vec<Diff> = Vec::new();
        let batch = self.batch.max(1);
        loop {
            let next = match pending.first() {
                None => rx.recv().await,
                Some(first) => {
                    // Wait for more differences, but not past the moment the
                    // oldest one has settled.
                    let deadline = tokio::time::Instant::from_std(first.seen + self.settle);
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(next) => next,
                        Err(_) => {
                            self.process(std::mem::take(&mut pending), &mut out).await?;
                            continue;
                        }
                    }
                }
            };
            match next {
                Some(d) => {
                    pending.push(d);
                    if pending.len() >= batch {
                        self.process(std::mem::take(&mut pending), &mut out).await?;
                    }
                }
                None => break,
            }
        }
        if !pending.is_empty() {
            self.process(pending, &mut out).await?;
        }
        if let Some(report) = self.report.as_mut() {
            report.finish()?;
        }
        Ok(out)
    }

    async fn process(&mut self, batch: Vec<Diff>, out: &mut Checked) -> anyhow::Result<()> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(last.seen + self.settle)).await;
        let pair = self.pair;
        let keys = pair.keys();
        let wanted: Vec<Row> = batch.iter().map(|d| d.key.clone()).collect();
        let (mut src, mut tgt) = tokio::try_join!(
            self.source.fetch(&pair.source, &wanted),
            self.target.fetch(&pair.target, &wanted)
        )?;
        src.sort_by(|a, b| cmp_keys(a, b, keys));
        tgt.sort_by(|a, b| cmp_keys(a, b, keys));
        let mut writes: Vec<(Row, DiffKind)> = Vec::new();
        let mut extras: Vec<Row> = Vec::new();
        for d in &batch {
            let s = find(&src, &d.key, keys);
            let t = find(&tgt, &d.key, keys);
            let (kind, columns) = match (s, t) {
                (Some(s), Some(t)) => {
                    let cols = differing(s, t, keys);
                    if cols.is_empty() {
                        out.settled += 1;
                        continue;
                    }
                    out.different += 1;
                    writes.push((s.clone(), DiffKind::Different));
                    (DiffKind::Different, cols)
                }
                (Some(s), None) => {
                    out.missing += 1;
                    writes.push((s.clone(), DiffKind::Missing));
                    (DiffKind::Missing, Vec::new())
                }
                (None, Some(t)) => {
                    out.extra += 1;
                    extras.push(t[..keys.min(t.len())].to_vec());
                    (DiffKind::Extra, Vec::new())
                }
                (None, None) => {
                    out.vanished += 1;
                    continue;
                }
            };
            if let Some(report) = self.report.as_mut() {
                let names: Vec<&str> = columns.iter().map(|&i| pair.column_name(i)).collect();
                report.write(kind, &pair.key_names(), &d.key, &names)?;
            }
        }
        if let Some(mode) = self.repair {
            let counts = repair::apply(
                mode,
                self.source.as_ref(),
                self.target.as_ref(),
                pair,
                writes,
                extras,
            )
            .await?;
            out.repair.add(&counts);
        }
        Ok(())
    }
}

/// The row with exactly this key in rows sorted by key.
pub fn find<'r>(rows: &'r [Row], key: &[crate::reconcile::value::Value], keys: usize) -> Option<&'r Row> {
    rows.binary_search_by(|r| cmp_keys(r, key, keys))
        .ok()
        .and_then(|i| rows.get(i))
        .filter(|r| cmp_keys(r, key, keys) == Ordering::Equal)
}
