//! Where a migration's state lives: the journal (the audit trail and the
//! truth), the checkpoint of its fold (`state.json`), and the lock that
//! serialises changes. [`local`] keeps them in a directory, for one
//! operator; [`postgres`] in PostgreSQL tables, for a team and its CI
//! runners, with a leased lock and a fencing token.

mod crash;
pub mod local;
pub mod lock;
pub mod model;
pub mod postgres;
pub mod recover;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use model::*;
pub use recover::Recovery;

/// Who holds (or held) the lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub since: Timestamp,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {} on {}, `{}`, since {})",
            self.actor, self.pid, self.host, self.command, self.since
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the migration is locked by {0}; try again in a moment, or if that run is gone: migrate unlock")]
    Locked(Box<Holder>),
    #[error("the migration is locked by another run (its details could not be read); if it is gone: migrate unlock --force")]
    LockedUnknown,
    #[error("{what} is damaged: {detail}\n  The journal is the source of truth: `migrate state rebuild` rebuilds the state from it (`migrate rollback` does so by itself).")]
    Corrupt { what: String, detail: String },
    /// A journal line or row that is not a record this migrate reads, or
    /// a gap in the numbering.
    #[error("{what} is damaged: {detail}\n  `migrate state rebuild` keeps every valid record, sets the damaged journal aside and reports what it could not keep (`migrate rollback` does so by itself).")]
    JournalDamaged { what: String, detail: String },
    /// The journal ends before the records the checkpoint has seen (it
    /// was deleted, or cut).
    #[error("{what}: {detail}\n  `migrate state rebuild` starts a new journal from the checkpoint; the history it held is lost (`migrate rollback` does so by itself).")]
    JournalLost { what: String, detail: String },
    /// Neither the journal nor the checkpoint can be read: there is no
    /// state to rebuild, or to roll back from.
    #[error("nothing recoverable in {location}: {detail}\n  migrate cannot tell what this migration changed: `migrate rollback --legacy` sends every target of the plan to its legacy side (`--dry-run` shows what it would set).")]
    Unrecoverable { location: String, detail: String },
    /// Another run wrote since this one read (or took its lock): the write
    /// was refused, and nothing was written.
    #[error("{0}")]
    Fenced(String),
    #[error("{0}")]
    Io(String),
}

impl StoreError {
    /// Damage that [`Store::rebuild`] can recover from.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::JournalDamaged { .. }
                | StoreError::JournalLost { .. }
        )
    }
}

/// Proof that the lock is held; released when dropped.
pub trait LockGuard: Send + Sync {
    /// Whoever held the lock before and died without releasing it.
    fn stale_previous(&self) -> Option<&Holder>;

    /// For the store that issued it, to check the guard is its own.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A place to keep a migration's state.
#[async_trait]
pub trait Store: Send + Sync {
    /// Where, in words ("/srv/plans/.migrate/payments-v2").
    fn location(&self) -> String;

    /// Take the lock, waiting up to `wait` for another holder. With
    /// `takeover` (a rollback), a backend that leases its lock may take it
    /// from a live holder, whose later writes are then refused; the local
    /// backend's lock is only ever held briefly, so it just waits.
    async fn lock(
        &self,
        holder: &Holder,
        wait: std::time::Duration,
        takeover: bool,
    ) -> Result<Box<dyn LockGuard>, StoreError>;

    /// The current holder of the lock, if any, and whether it is alive.
    async fn holder(&self) -> Result<Option<(Holder, bool)>, StoreError>;

    /// Remove the lock whoever holds it; returns who held it.
    async fn break_lock(&self) -> Result<Option<Holder>, StoreError>;

    /// The state, with any journal records the checkpoint missed folded in;
    /// `None` for a migration that never started.
    async fn load(&self) -> Result<Option<State>, StoreError>;

    /// Append entries to the journal (durably), fold them into `state`, and
    /// checkpoint it. Must hold the lock.
    async fn commit(
        &self,
        guard: &dyn LockGuard,
        state: &mut State,
        actor: &str,
        now: Timestamp,
        entries: Vec<Entry>,
    ) -> Result<(), StoreError>;

    /// Write the checkpoint again when the last [`Store::load`] found it
    /// behind the journal (a crash between the journal append and the
    /// checkpoint): `state` is what that load returned. Must hold the lock.
    async fn catch_up(&self, _guard: &dyn LockGuard, _state: &State) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every journal record, in order.
    async fn journal(&self) -> Result<Vec<Record>, StoreError>;

    /// The journal records numbered after `seq`, in order: what a reader
    /// that follows the journal (the supervisor's page) has not seen yet.
    async fn journal_after(&self, seq: u64) -> Result<Vec<Record>, StoreError> {
        let mut records = self.journal().await?;
        records.retain(|r| r.seq > seq);
        Ok(records)
    }

    /// The states of the other migrations kept in the same place (the
    /// same state directory, the same database), to tell whether one of
    /// them already drives a target. One that cannot be read is left out.
    async fn others(&self) -> Result<Vec<State>, StoreError>;

    /// What [`Store::rebuild`] would recover, without writing anything
    /// (`None`: the migration has no state here at all).
    async fn recover(
        &self,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<Recovery>, StoreError>;

    /// Rebuild the state from what can be read: every valid journal record
    /// (damaged lines or rows set aside, not deleted), and the checkpoint
    /// where the journal lost records it had seen; a journal that changed
    /// gets a `recovered` record holding the whole state. `by` names the
    /// command, for that record. [`StoreError::Unrecoverable`] when
    /// nothing can be read. Must hold the lock.
    async fn rebuild(
        &self,
        guard: &dyn LockGuard,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<Recovery>, StoreError>;

    /// Replace the migration's journal and checkpoint with `records` and
    /// `state` (their fold), copied from another store (`migrate state
    /// push` / `pull`). Must hold the lock.
    async fn import(
        &self,
        guard: &dyn LockGuard,
        records: &[Record],
        state: &State,
    ) -> Result<(), StoreError>;
}

/// Check that `records` are one migration's whole journal (numbered from
/// 1, no gaps but before a `recovered` record) and that `state` is where
/// they lead, before they are copied into another store.
pub fn check_import(migration: &str, records: &[Record], state: &State) -> Result<(), StoreError> {
    let bad = |detail: String| StoreError::Corrupt {
        what: format!("the journal of {migration} being copied"),
        detail,
    };
    let mut prev = 0;
    for r in records {
        if r.seq <= prev {
            return Err(bad(format!("record {} follows record {prev}", r.seq)));
        }
        prev = r.seq;
        if r.migration != migration {
            return Err(bad(format!(
                "record {} belongs to migration '{}'",
                r.seq, r.migration
            )));
        }
    }
    if let Some(g) = recover::gaps(records).first() {
        return Err(bad(format!("{} missing", recover::range_words(g))));
    }
    let last = records.last().map_or(0, |r| r.seq);
    if state.migration != migration || state.journal_seq != last {
        return Err(bad(format!(
            "the state has seen record {} of '{}', the journal ends at {last}",
            state.journal_seq, state.migration
        )));
    }
    Ok(())
}

/// `user@host`, or `$MIGRATE_ACTOR` (e.g. `ci@runner-7` in CI).
pub fn actor() -> String {
    if let Ok(a) = std::env::var("MIGRATE_ACTOR") {
        if !a.trim().is_empty() {
            return a.trim().to_string();
        }
    }
    let user = whoami::username().unwrap_or_else(|_| "unknown".to_string());
    format!("{user}@{}", hostname())
}

pub fn hostname() -> String {
    whoami::hostname().unwrap_or_else(|_| "localhost".to_string())
}
