//! Re-checking differences after the settle delay, so that live tables do
//! not raise false alarms.
//!
//! While dual writes run, a row can be caught between the write to the
//! source and its copy to the target. Every difference the merge finds is
//! therefore read again from both sides — by key, a batch in one statement
//! per side — once `settle` has passed since it was seen, counted from the
//! snapshot of the reads that saw it: the scans' (when their first rows
//! arrived), not the moment the merge got to the row, since everything in
//! flight at the snapshot has landed `settle` later. On a table that takes
//! longer than `settle` to scan, most differences are re-checked during the
//! scan and the delay adds nothing to the run. A row that now
//! matches is not reported. A row that still differs but changed on either
//! side since it was seen (its digest moved) is still being written: it is
//! given another settle delay, up to three re-checks. Only stable
//! differences are reported (and repaired); a row gone from both sides by
//! then is no longer compared.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::columns::Pair;
use super::diff::{cmp_keys, differing, digest, Diff, DiffKind, Tally};
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
    /// Told the verdict on every difference re-checked.
    pub tally: Option<&'a dyn Tally>,
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

/// Re-checks of a row that keeps changing before it is reported anyway.
const MAX_CHECKS: u32 = 3;

/// While the merge runs, batches that are not full are re-read at most this
/// often, so that differences are re-read in batches rather than one by one
/// as they come. Costs no time overall: what is left when the merge ends is
/// re-read at once.
const GATHER: Duration = Duration::from_millis(200);

/// Put `d` in its place in `queue`, ordered by the time each difference
/// was (last) seen, hence by the time it has settled. Differences from the
/// merge come in that order; re-checked ones may go before them.
fn enqueue(queue: &mut VecDeque<Diff>, d: Diff) {
    let at = queue.partition_point(|q| q.seen <= d.seen);
    queue.insert(at, d);
}

impl Checker<'_> {
    pub async fn run(mut self, mut rx: mpsc::Receiver<Diff>) -> anyhow::Result<Checked> {
        let mut out = Checked::default();
        let mut queue: VecDeque<Diff> = VecDeque::new();
        let batch = self.batch.max(1);
        let mut open = true;
        // When the last batch was re-read: while the merge runs, batches
        // that are not full are re-read at most every GATHER.
        let mut last = Instant::now();
        loop {
            let now = Instant::now();
            let settled = |d: &Diff| d.seen + self.settle <= now;
            // When the settled differences at the front may go as a batch
            // that is not full.
            let partial = queue
                .front()
                .map(|d| (d.seen + self.settle).max(last + GATHER));
            // A full batch (re-read once its last one has settled), what is
            // left once the merge is over, or settled differences that have
            // waited long enough for company.
            let n = if queue.len() >= batch || (!open && !queue.is_empty()) {
                queue.len().min(batch)
            } else if partial.is_some_and(|t| t <= now) {
                queue.iter().take(batch).take_while(|d| settled(d)).count()
            } else {
                0
            };
            if n > 0 {
                let due: Vec<Diff> = queue.drain(..n).collect();
                for d in self.process(due, &mut out).await? {
                    enqueue(&mut queue, d);
                }
                last = Instant::now();
                continue;
            }
            if !open {
                break;
            }
            let next = match partial {
                None => rx.recv().await,
                Some(at) => {
                    let deadline = tokio::time::Instant::from_std(at);
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(next) => next,
                        Err(_) => continue,
                    }
                }
            };
            match next {
                Some(d) => enqueue(&mut queue, d),
                None => open = false,
            }
        }
        if let Some(report) = self.report.as_mut() {
            report.finish()?;
        }
        Ok(out)
    }

    /// Re-read a batch of differences once they have settled. Returns the
    /// ones to look at again later: rows that changed on either side since
    /// they were seen are still being written.
    async fn process(&mut self, batch: Vec<Diff>, out: &mut Checked) -> anyhow::Result<Vec<Diff>> {
        let Some(latest) = batch.iter().map(|d| d.seen).max() else {
            return Ok(Vec::new());
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(latest + self.settle)).await;
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
        let mut again = Vec::new();
        let now = Instant::now();
        for d in batch {
            let s = find(&src, &d.key, keys);
            let t = find(&tgt, &d.key, keys);
            if let (Some(s), Some(t)) = (s, t) {
                if differing(s, t, keys).is_empty() {
                    out.settled += 1;
                    if let Some(tally) = self.tally {
                        tally.verdict(&d.key, None);
                    }
                    continue;
                }
            }
            if s.is_none() && t.is_none() {
                out.vanished += 1;
                if let Some(tally) = self.tally {
                    tally.verdict(&d.key, None);
                }
                continue;
            }
            let (sd, td) = (s.map(|r| digest(r)), t.map(|r| digest(r)));
            let moving = sd != d.source || td != d.target;
            if moving && !self.settle.is_zero() && d.checks + 1 < MAX_CHECKS {
                again.push(Diff {
                    seen: now,
                    source: sd,
                    target: td,
                    checks: d.checks + 1,
                    ..d
                });
                continue;
            }
            let (kind, columns) = match (s, t) {
                (Some(s), Some(t)) => {
                    out.different += 1;
                    writes.push((s.clone(), DiffKind::Different));
                    (DiffKind::Different, differing(s, t, keys))
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
                (None, None) => continue,
            };
            if let Some(tally) = self.tally {
                tally.verdict(&d.key, Some(kind));
            }
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
            if let Some(report) = self.report.as_mut() {
                for u in &counts.unrepaired {
                    report.write_unrepaired(u)?;
                }
            }
            out.repair.add(&counts);
        }
        Ok(again)
    }
}

/// The row with exactly this key in rows sorted by key.
pub fn find<'r>(
    rows: &'r [Row],
    key: &[crate::reconcile::value::Value],
    keys: usize,
) -> Option<&'r Row> {
    rows.binary_search_by(|r| cmp_keys(r, key, keys))
        .ok()
        .and_then(|i| rows.get(i))
        .filter(|r| cmp_keys(r, key, keys) == Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::value::Value;

    fn diff(key: i128, seen: Instant) -> Diff {
        Diff {
            kind: DiffKind::Different,
            key: vec![Value::Int(key)],
            seen,
            source: Some(1),
            target: Some(2),
            checks: 0,
        }
    }

    #[test]
    fn the_queue_stays_ordered_by_the_time_each_difference_settles() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = VecDeque::new();
        enqueue(&mut q, diff(1, t0));
        // A re-checked row, seen again at its re-read...
        enqueue(&mut q, diff(2, t0 + 5 * s));
        // ...and rows the merge found afterwards, dated by the scans'
        // snapshot, which settle before it.
        enqueue(&mut q, diff(3, t0 + s));
        enqueue(&mut q, diff(4, t0 + s));
        enqueue(&mut q, diff(5, t0 + 6 * s));
        let keys: Vec<String> = q.iter().map(|d| d.key[0].to_string()).collect();
        assert_eq!(keys, ["1", "3", "4", "2", "5"]);
    }
}
