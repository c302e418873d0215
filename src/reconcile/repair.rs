//! Repair (backfill): write the source's version of missing and different
//! rows into the target, and delete extra rows when asked.
//!
//! Writes are upserts of whole rows (absolute, so a retried or repeated
//! repair changes nothing more), in batches of one transaction each, only
//! of rows the source read returned — hence inside the `where` bounds.
//! Every written batch is read back and compared again: a row the target
//! cannot hold exactly (a column too narrow, a lower precision) counts as
//! failed, not repaired. An extra row is deleted only with `delete_extra`,
//! and never when the source has a row with that key outside the bounds.

use serde::Serialize;

use super::columns::Pair;
use super::diff::{differing, DiffKind};
use super::settle::find;
use super::value::Row;
use crate::providers::db::{Database, Shape};

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
    /// Rows written that did not read back equal.
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.deleted += o.deleted;
        self.kept += o.kept;
        self.failed += o.failed;
    }
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
    if mode.dry_run {
        for (_, kind) in &writes {
            match kind {
                DiffKind::Missing => counts.inserted += 1,
                _ => counts.updated += 1,
            }
        }
        counts.deleted += deletable.len() as u64;
        return Ok(counts);
    }
    if !writes.is_empty() {
        let rows: Vec<Row> = writes.iter().map(|(r, _)| r.clone()).collect();
        target.upsert(&pair.target, &rows).await?;
        let key_rows: Vec<Row> = rows
            .iter()
            .map(|r| r[..keys.min(r.len())].to_vec())
            .collect();
        let mut back = target.fetch(&unfiltered(&pair.target), &key_rows).await?;
        back.sort_by(|a, b| super::diff::cmp_keys(a, b, keys));
        for (row, kind) in &writes {
            let ok = find(&back, row, keys).is_some_and(|b| differing(row, b, keys).is_empty());
            match (ok, kind) {
                (false, _) => counts.failed += 1,
                (true, DiffKind::Missing) => counts.inserted += 1,
                (true, _) => counts.updated += 1,
            }
        }
        if counts.failed > 0 {
            tracing::warn!(
                failed = counts.failed,
                "rows written to the target did not read back equal (a narrower type?)"
            );
        }
    }
    if !deletable.is_empty() {
        counts.deleted += target.delete(&pair.target, &deletable).await?;
    }
    Ok(counts)
}
