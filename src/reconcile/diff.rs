//! Reading both sides at once and merging them by key.
//!
//! Each side is read by its own task as one key-ordered stream, handed
//! over in chunks through a small bounded channel (memory stays flat). A
//! stream broken by a dropped connection or a restarted server resumes
//! after the last key it handed over: the rows already compared are not
//! read again. Rows that differ go, by key, to the [`Checker`], which
//! re-reads them after the settle delay.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::columns::Pair;
use super::settle::{Checked, Checker};
use super::value::{Row, Value};
use super::Progress;
use crate::providers::db::{Chunk, Database, RowSink, Shape};
use crate::providers::{backoff, ProviderError};

/// Rows per chunk handed from a reading task to the merge.
const CHUNK_ROWS: usize = 4096;
/// Chunks buffered per side.
const CHUNKS_BUFFERED: usize = 4;
/// Differences waiting for their settle delay. Large enough that the merge
/// is not held up while the first ones settle (a backfill into an empty
/// table makes every row a difference), small enough to bound memory.
const DIFFS_QUEUED: usize = 131_072;

/// How a row differs, before and after the re-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    /// In the source, not in the target.
    Missing,
    /// In the target only.
    Extra,
    /// In both, with different values.
    Different,
}

/// A row the merge found different, by key (the side's own key values),
/// with a digest of each side's row as seen (`None`: absent), so that the
/// re-check can tell a stable difference from a row still being written.
#[derive(Debug, Clone)]
pub struct Diff {
    pub kind: DiffKind,
    pub key: Row,
    /// When both sides were certainly as seen: the later of the two reads'
    /// snapshots (for the merge: the arrival of each scan's first row; for
    /// a re-check: the end of its lookups). The settle delay counts from
    /// here, not from the moment the merge got to the row: a write in flight
    /// when the scans started has landed `settle` after they started.
    pub seen: Instant,
    pub source: Option<u64>,
    pub target: Option<u64>,
    /// Re-checks done so far.
    pub checks: u32,
}

/// A digest of a row's canonical, unambiguous encoding (see
/// [`Value::encode`]): equal rows have equal digests, and a change of any
/// value changes it.
pub fn digest(row: &[Value]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut buf = Vec::with_capacity(64);
    for v in row {
        v.encode(&mut buf);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    buf.hash(&mut h);
    h.finish()
}

pub struct Sides<'a> {
    pub source: Arc<dyn Database>,
    pub target: Arc<dyn Database>,
    pub pair: &'a Pair,
    /// Told the key of every row that matches at first sight.
    pub tally: Option<&'a dyn Tally>,
}

/// Told, key by key, what a comparison concluded: a continuous
/// reconciliation keeps the set of keys that differ with it. (A one-off
/// reconciliation needs only the counts, and passes none.)
pub trait Tally: Send + Sync {
    /// A row equal on both sides at first sight.
    fn matched(&self, key: &[Value]);
    /// The re-check's verdict on a row that differed: `Some(kind)` when it
    /// still differs (as reported), `None` when it no longer does (it
    /// settled, or left both sides).
    fn verdict(&self, key: &[Value], kind: Option<DiffKind>);
}

/// What the merge counted, plus what the checker concluded.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Rows equal at first sight.
    pub matched: u64,
    pub source_rows: u64,
    pub target_rows: u64,
    /// Stream re-reads after a failure (dropped connection, restart).
    pub retries: u64,
    pub checked: Checked,
}

/// Compare the two sides; differences are re-checked (and repaired) by
/// `checker` as they are found.
pub async fn compare(
    sides: Sides<'_>,
    checker: Checker<'_>,
    progress: &dyn Progress,
) -> anyhow::Result<Outcome> {
    let (tx, rx) = mpsc::channel(DIFFS_QUEUED);
    let merge = merge(&sides, tx, progress);
    let check = checker.run(rx);
    let (mut outcome, checked) = tokio::try_join!(merge, check)?;
    outcome.checked = checked;
    Ok(outcome)
}

/// A task aborted when dropped, so that dropping a run stops its reads.
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Read `shape` into `tx`, resuming after the last key handed over when
/// the read fails transiently. Returns the number of resumptions.
async fn read_side(
    db: Arc<dyn Database>,
    shape: Shape,
    tx: mpsc::Sender<Chunk>,
) -> Result<u64, ProviderError> {
    let mut sink = RowSink::new(tx, CHUNK_ROWS, shape.keys);
    let limit = db.ctx().retries.max(3);
    let mut failures = 0u32;
    let mut resumed = 0u64;
    loop {
        let before = sink.rows();
        // (A slice of the rolling sweep starts after its first key.)
        let after = sink.resume_after().or_else(|| shape.after.clone());
        sink.begin();
        match db.scan(&shape, after.as_deref(), &mut sink).await {
            Ok(()) => {
                sink.end().await;
                return Ok(resumed);
            }
            Err(e) if e.is_transient() => {
                if sink.rows() > before {
                    failures = 0;
                }
                if failures >= limit {
                    return Err(e);
                }
                tracing::warn!(error = %e, rows = sink.rows(), "read interrupted; resuming after the last row received");
                tokio::time::sleep(backoff(failures)).await;
                failures += 1;
                resumed += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One side of the merge: the current row, and the order check.
struct Stream {
    rx: mpsc::Receiver<Chunk>,
    chunk: std::vec::IntoIter<Row>,
    cur: Option<Row>,
    prev: Option<Row>,
    task: Option<Task<Result<u64, ProviderError>>>,
    keys: usize,
    what: String,
    rows: u64,
    retries: u64,
    /// The snapshot of the rows read so far (the latest read's).
    snapshot: Option<Instant>,
}

impl Stream {
    fn start(db: Arc<dyn Database>, shape: &Shape, what: &str) -> Self {
        let (tx, rx) = mpsc::channel(CHUNKS_BUFFERED);
        let keys = shape.keys;
        let task = Task(tokio::spawn(read_side(db, shape.clone(), tx)));
        Self {
            rx,
            chunk: Vec::new().into_iter(),
            cur: None,
            prev: None,
            task: Some(task),
            keys,
            what: what.to_string(),
            rows: 0,
            retries: 0,
            snapshot: None,
        }
    }

    /// The current row, reading the next chunk when needed.
    async fn current(&mut self) -> anyhow::Result<Option<&Row>> {
        if self.cur.is_none() {
            loop {
                if let Some(row) = self.chunk.next() {
                    self.check_order(&row)?;
                    self.cur = Some(row);
                    break;
                }
                match self.rx.recv().await {
                    Some(chunk) => {
                        self.snapshot = self.snapshot.max(Some(chunk.snapshot));
                        self.chunk = chunk.rows.into_iter();
                    }
                    None => {
                        // (Every read dates its chunks; a stream that sent
                        // none at all is dated now.)
                        self.snapshot.get_or_insert_with(Instant::now);
                        if let Some(mut task) = self.task.take() {
                            let handle = &mut task.0;
                            match handle.await {
                                Ok(Ok(n)) => self.retries = n,
                                Ok(Err(e)) => return Err(e.into()),
                                Err(e) => anyhow::bail!("reading the {}: {e}", self.what),
                            }
                        }
                        break;
                    }
                }
            }
        }
        Ok(self.cur.as_ref())
    }

    fn take(&mut self) -> Option<Row> {
        let row = self.cur.take()?;
        self.rows += 1;
        self.prev = Some(row[..self.keys.min(row.len())].to_vec());
        Some(row)
    }

    fn check_order(&self, row: &Row) -> anyhow::Result<()> {
        if let Some(prev) = &self.prev {
            if cmp_keys(prev, row, self.keys) != Ordering::Less {
                anyhow::bail!(
                    "the rows of the {} do not come in strictly increasing key order ({} then {}): \
                     the key must be unique (a primary key or unique index)",
                    self.what,
                    fmt_key(prev),
                    fmt_key(&row[..self.keys.min(row.len())])
                );
            }
        }
        Ok(())
    }
}

fn fmt_key(key: &[Value]) -> String {
    let parts: Vec<String> = key.iter().map(|v| v.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// Order of two rows by their first `keys` values.
pub fn cmp_keys(a: &[Value], b: &[Value], keys: usize) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()).take(keys) {
        match x.key_cmp(y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

/// Indexes of the compared (non-key) columns whose values differ.
pub fn differing(a: &[Value], b: &[Value], keys: usize) -> Vec<usize> {
    (keys..a.len().min(b.len()))
        .filter(|&i| !a[i].same(&b[i]))
        .collect()
}

fn same_row(a: &[Value], b: &[Value], keys: usize) -> bool {
    a.iter().zip(b.iter()).skip(keys).all(|(x, y)| x.same(y))
}

async fn merge(
    sides: &Sides<'_>,
    tx: mpsc::Sender<Diff>,
    progress: &dyn Progress,
) -> anyhow::Result<Outcome> {
    let pair = sides.pair;
    let keys = pair.keys();
    let mut src = Stream::start(sides.source.clone(), &pair.source, "source");
    let mut tgt = Stream::start(sides.target.clone(), &pair.target, "target");
    let mut out = Outcome::default();
    let mut unreported = 0u64;
    loop {
        src.current().await?;
        tgt.current().await?;
        let order = match (src.cur.as_ref(), tgt.cur.as_ref()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => cmp_keys(a, b, keys),
        };
        let diff = match order {
            Ordering::Less => src
                .take()
                .map(|r| (DiffKind::Missing, Some(digest(&r)), None, r)),
            Ordering::Greater => tgt
                .take()
                .map(|r| (DiffKind::Extra, None, Some(digest(&r)), r)),
            Ordering::Equal => {
                let (a, b) = (src.take(), tgt.take());
                match (a, b) {
                    (Some(a), Some(b)) if same_row(&a, &b, keys) => {
                        out.matched += 1;
                        if let Some(t) = sides.tally {
                            t.matched(&a[..keys.min(a.len())]);
                        }
                        None
                    }
                    (Some(a), Some(b)) => {
                        Some((DiffKind::Different, Some(digest(&a)), Some(digest(&b)), a))
                    }
                    _ => None,
                }
            }
        };
        if order != Ordering::Greater {
            unreported += 1;
            if unreported >= CHUNK_ROWS as u64 {
                progress.advanced(unreported);
                unreported = 0;
            }
        }
        if let Some((kind, source, target, mut row)) = diff {
            row.truncate(keys);
            let now = Instant::now();
            let seen = src.snapshot.max(tgt.snapshot).map_or(now, |s| s.min(now));
            let d = Diff {
                kind,
                key: row,
                seen,
                source,
                target,
                checks: 0,
            };
            if tx.send(d).await.is_err() {
                // The checker stopped (it failed): its error is the one
                // reported.
                break;
            }
        }
    }
    progress.advanced(unreported);
    out.source_rows = src.rows;
    out.target_rows = tgt.rows;
    out.retries = src.retries + tgt.retries;
    Ok(out)
}
