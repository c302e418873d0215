//! A seam for crash tests, compiled into debug builds only (release
//! binaries neither read these variables nor carry the code): the process
//! aborts — as abruptly as a SIGKILL: no destructor runs, nothing more is
//! written, an open database transaction is lost with its connection — at
//! a journal boundary of either store.
//!
//! - `MIGRATE_TEST_CRASH_AFTER_RECORD=N`: right after journal record N is
//!   written, before the commit that holds it is complete. In a directory:
//!   appended and fsynced, before `state.json` is written (the checkpoint
//!   lags the journal; when N is not the last record of its commit, the
//!   commit is cut after N). In PostgreSQL: appended, with the checkpoint,
//!   inside the transaction, before it commits (so nothing of the commit
//!   lands).
//! - `MIGRATE_TEST_CRASH_AFTER_CHECKPOINT=N`: right after the commit that
//!   holds record N is complete (journal and checkpoint).

#[cfg(debug_assertions)]
fn var(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

#[cfg(not(debug_assertions))]
fn var(_: &str) -> Option<u64> {
    None
}

pub fn after_record() -> Option<u64> {
    var("MIGRATE_TEST_CRASH_AFTER_RECORD")
}

pub fn after_checkpoint() -> Option<u64> {
    var("MIGRATE_TEST_CRASH_AFTER_CHECKPOINT")
}

pub fn die(when: &str) -> ! {
    eprintln!("migrate: test crash {when}");
    std::process::abort()
}
