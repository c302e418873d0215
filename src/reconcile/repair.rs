//! Repair (backfill): write the source's version of missing and different
//! rows into the target, and delete extra rows when asked.
//!
//! Writes are upserts of whole rows (absolute, so a retried or repeated
//! repair changes nothing more), in batches of one transaction each, only
//! of rows the source read returned — hence inside the `where` bounds.
//! Every written batch is read back and compared again: a row the target
//! cannot hold exactly (a column too narrow, a lower precision) counts as
//! failed, not repaired. A row the target refuses — a value its column's
//! type cannot take (a NUL character in PostgreSQL text), or one the
//! database rejects (a constraint, a length) — is set aside as
//! [`Unrepaired`], with its key, the column when known, and why; every
//! other row of its batch is written all the same. An extra row is deleted
//! only with `delete_extra`, and never when the source has a row with that
//! key outside the bounds.

use serde::Serialize;

use super::columns::Pair;
use super::diff::{differing, DiffKind};
use super::settle::find;
use super::value::{Row, Value};
use crate::providers::db::{Database, Shape};
use crate::providers::Failure;

/// What a repair may do.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub dry_run: bool,
    pub delete_extra: bool,
}

/// Rows written (or, in a dry run, that would be written).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Missing rows inserted.
    pub inserted: u64,
    /// Different rows updated.
    pub updated: u64,
    /// Extra rows deleted.
    pub deleted: u64,
    /// Extra rows left in place (no `delete_extra`, or the source has the
    /// key outside the `where` bounds).
    pub kept: u64,
    /// Rows not repaired: refused by the target, or written but not read
    /// back equal.
    pub failed: u64,
    /// Those rows, each with its key and why (the first [`LISTED`] of a
    /// run, in the summary).
    pub unrepaired: Vec<Unrepaired>,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.deleted += o.deleted;
        self.kept += o.kept;
        self.failed += o.failed;
        let room = LISTED.saturating_sub(self.unrepaired.len());
        self.unrepaired
            .extend(o.unrepaired.iter().take(room).cloned());
    }
}

/// Unrepaired rows kept in the summary (the report file lists them all).
pub const LISTED: usize = 100;

/// A row the repair could not put right. Its values are not kept (they may
/// be personal data): the key, the columns concerned and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Unrepaired {
    /// Key column (source name) → value.
    pub key: serde_json::Map<String, serde_json::Value>,
    /// Source names of the columns concerned; empty when the database
    /// refused the row without naming one.
    pub columns: Vec<String>,
    pub reason: String,
}

impl std::fmt::Display for Unrepaired {
    /// `id=7 note: why` (for the human summary).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key: Vec<String> = self
            .key
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        write!(f, "{}", key.join(","))?;
        if !self.columns.is_empty() {
            write!(f, " {}", self.columns.join(","))?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl Unrepaired {
    fn new(pair: &Pair, row: &[Value], columns: Vec<String>, reason: String) -> Self {
        let key = pair
            .key_names()
            .iter()
            .zip(row)
            .map(|(name, v)| ((*name).to_string(), v.to_json()))
            .collect();
        Self {
            key,
            columns,
            reason,
        }
    }
}

/// Write `rows` into the target, setting aside the ones it refuses: those
/// with a value their column's type cannot take first, then, when the
/// database rejects a batch, the rows that fail alone, found by halving
/// the batch (a few statements for a few bad rows among many). A
/// connection that fails is an error, as ever (the writes are absolute, so
/// the next run redoes them). Returns the indexes of the rows written.
async fn write_each(
    target: &dyn Database,
    pair: &Pair,
    rows: &[Row],
    unrepaired: &mut Vec<Unrepaired>,
) -> anyhow::Result<Vec<usize>> {
    let mut ok: Vec<usize> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        match target.unwritable(&pair.target, row) {
            Some((col, e)) => unrepaired.push(Unrepaired::new(
                pair,
                row,
                vec![pair.column_name(col).to_string()],
                e.message,
            )),
            None => ok.push(i),
        }
    }
    let mut written = Vec::with_capacity(ok.len());
    let mut todo: Vec<&[usize]> = vec![&ok];
    while let Some(part) = todo.pop() {
        if part.is_empty() {
            continue;
        }
        let batch: Vec<Row> = part.iter().map(|&i| rows[i].clone()).collect();
        match target.upsert(&pair.target, &batch).await {
            Ok(_) => written.extend_from_slice(part),
            Err(e) if e.failure == Failure::Rejected => {
                if let [i] = part {
                    unrepaired.push(Unrepaired::new(pair, &rows[*i], Vec::new(), e.message));
                } else {
                    let (a, b) = part.split_at(part.len() / 2);
                    todo.push(b);
                    todo.push(a);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    written.sort_unstable();
    Ok(written)
}

fn unfiltered(shape: &Shape) -> Shape {
    Shape {
        filter: None,
        ..shape.clone()
    }
}

pub async fn apply(
    mode: Mode,
    source: &dyn Database,
    target: &dyn Database,
    pair: &Pair,
    writes: Vec<(Row, DiffKind)>,
    extras: Vec<Row>,
) -> anyhow::Result<Counts> {
    let keys = pair.keys();
    let mut counts = Counts::default();
    // Extra rows: deletable only when the source has no row with the key
    // at all (a row outside the source's bounds is not extra).
    let mut deletable = Vec::new();
    if mode.delete_extra && !extras.is_empty() {
        let mut present = source.fetch(&unfiltered(&pair.source), &extras).await?;
        present.sort_by(|a, b| super::diff::cmp_keys(a, b, keys));
        for k in extras {
            if find(&present, &k, keys).is_some() {
                counts.kept += 1;
            } else {
                deletable.push(k);
            }
        }
    } else {
        counts.kept += extras.len() as u64;
    }
    let (rows, kinds): (Vec<Row>, Vec<DiffKind>) = writes.into_iter().unzip();
    if mode.dry_run {
        for (row, kind) in rows.iter().zip(&kinds) {
            if let Some((col, e)) = target.unwritable(&pair.target, row) {
                let column = vec![pair.column_name(col).to_string()];
                counts
                    .unrepaired
                    .push(Unrepaired::new(pair, row, column, e.message));
            } else if *kind == DiffKind::Missing {
                counts.inserted += 1;
            } else {
                counts.updated += 1;
            }
        }
        counts.failed = counts.unrepaired.len() as u64;
        counts.deleted += deletable.len() as u64;
        return Ok(counts);
    }
    if !rows.is_empty() {
        let written = write_each(target, pair, &rows, &mut counts.unrepaired).await?;
        let key_rows: Vec<Row> = written
            .iter()
            .map(|&i| rows[i][..keys.min(rows[i].len())].to_vec())
            .collect();
        let mut back = target.fetch(&unfiltered(&pair.target), &key_rows).await?;
        back.sort_by(|a, b| super::diff::cmp_keys(a, b, keys));
        let names = |cols: Vec<usize>| {
            cols.iter()
                .map(|&c| pair.column_name(c).to_string())
                .collect::<Vec<_>>()
        };
        for &i in &written {
            let row = &rows[i];
            let problem = match find(&back, row, keys) {
                None => Some((Vec::new(), "written, but not there when read back")),
                Some(b) => Some(differing(row, b, keys)).filter(|d| !d.is_empty()).map(|d| {
                    (
                        names(d),
                        "written, but the target reads back another value (a narrower type or a lower precision?)",
                    )
                }),
            };
            match (problem, kinds[i]) {
                (None, DiffKind::Missing) => counts.inserted += 1,
                (None, _) => counts.updated += 1,
                (Some((columns, why)), _) => {
                    counts
                        .unrepaired
                        .push(Unrepaired::new(pair, row, columns, why.to_string()))
                }
            }
        }
        counts.failed = counts.unrepaired.len() as u64;
        if counts.failed > 0 {
            tracing::warn!(failed = counts.failed, "rows the target could not take");
        }
    }
    if !deletable.is_empty() {
        counts.deleted += target.delete(&pair.target, &deletable).await?;
    }
    Ok(counts)
}
