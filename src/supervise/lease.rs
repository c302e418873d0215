//! Which supervisor is the active one.
//!
//! - PostgreSQL: a lease in `migrate_lock`, the same machinery as a
//!   migration's lock (a fencing token that grows with every take, a
//!   background renewal every third of the lease, a holder whose process
//!   is gone on this machine counts as gone), in a row of its own keyed
//!   `supervise:<group>` — never a migration's own lock, which `advance`,
//!   `rollback` and `pause` take only while they change the state.
//!   While active, every write the supervisor makes to a migration's state
//!   also checks that row's token in the same transaction
//!   ([`PgStore::fence_with`]): a supervisor that lost the lease cannot
//!   write, so no step or rollback is recorded (and so applied) twice.
//! - Local state: an advisory `flock` on `<state dir>/supervise.lock`,
//!   held for the supervisor's life; the kernel drops it when the process
//!   dies. A second supervisor of the same directory waits as a standby.

use std::path::PathBuf;
use std::time::Duration;

use crate::state::lock::{self as filelock, FileLock};
use crate::state::postgres::{PgLock, PgStore};
use crate::state::{Holder, LockGuard, Store, StoreError};

/// Where the lease lives.
pub enum Lease {
    Local { path: PathBuf },
    Postgres { store: PgStore },
}

/// The lease, held; released when dropped.
pub enum Held {
    Local(FileLock),
    Postgres(Box<dyn LockGuard>),
}

/// One attempt at the lease.
pub enum Attempt {
    Got(Held),
    /// Someone else is active (when known, who).
    Standby(Option<Holder>),
}

impl Lease {
    /// Where, in words.
    pub fn location(&self) -> String {
        match self {
            Lease::Local { path } => path.display().to_string(),
            Lease::Postgres { store } => format!("{} (lock row {})", store.location(), self.key()),
        }
    }

    /// The key writes are fenced by (PostgreSQL only).
    pub fn key(&self) -> String {
        match self {
            Lease::Local { .. } => String::new(),
            Lease::Postgres { store } => store.migration().to_string(),
        }
    }

    /// How long the lease lasts without renewal (PostgreSQL); `None` for a
    /// lock the kernel holds for as long as the process lives.
    pub fn ttl(&self) -> Option<Duration> {
        match self {
            Lease::Local { .. } => None,
            Lease::Postgres { store } => Some(store.lease()),
        }
    }

    /// Take the lease if nobody (alive) holds it.
    pub async fn try_take(&self, holder: &Holder) -> Result<Attempt, StoreError> {
        match self {
            Lease::Local { path } => {
                if let Some(dir) = path.parent().filter(|d| !d.exists()) {
                    crate::fsutil::create_private_dir(dir, 0o700)
                        .map_err(|e| StoreError::Io(format!("creating {}: {e}", dir.display())))?;
                }
                match filelock::acquire(path, holder, Duration::ZERO) {
                    Ok(l) => Ok(Attempt::Got(Held::Local(l))),
                    Err(StoreError::Locked(h)) => Ok(Attempt::Standby(Some(*h))),
                    Err(StoreError::LockedUnknown) => Ok(Attempt::Standby(None)),
                    Err(e) => Err(e),
                }
            }
            Lease::Postgres { store } => match store.lock(holder, Duration::ZERO, false).await {
                Ok(g) => Ok(Attempt::Got(Held::Postgres(g))),
                Err(StoreError::Locked(h)) => Ok(Attempt::Standby(Some(*h))),
                Err(StoreError::LockedUnknown) => Ok(Attempt::Standby(None)),
                Err(e) => Err(e),
            },
        }
    }
}

impl Held {
    fn pg(&self) -> Option<&PgLock> {
        match self {
            Held::Local(_) => None,
            Held::Postgres(g) => g.as_any().downcast_ref::<PgLock>(),
        }
    }

    /// The fencing token (PostgreSQL).
    pub fn token(&self) -> Option<i64> {
        self.pg().map(PgLock::token)
    }

    /// Whether the lease is surely still held: a PostgreSQL lease found
    /// taken, or not renewed for its whole length, is not. A supervisor
    /// stops acting the moment this turns false.
    pub fn valid(&self) -> bool {
        match self {
            Held::Local(_) => true,
            Held::Postgres(_) => self.pg().is_some_and(|g| !g.held_for().is_zero()),
        }
    }
}
