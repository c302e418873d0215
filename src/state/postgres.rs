//! State in PostgreSQL, for a team and its CI runners: everyone who runs
//! the plan sees one state. Each migration is a set of rows (keyed by its
//! name) in tables migrate creates and upgrades itself:
//!
//! - `migrate_journal (migration, seq, at, actor, event, record jsonb)`:
//!   the journal, the truth. Its primary key `(migration, seq)` makes a
//!   double append impossible.
//! - `migrate_state (migration, serial, journal_seq, state jsonb, ...)`:
//!   the checkpoint (the fold of the journal), written in the same
//!   transaction as the records it folds in.
//! - `migrate_lock (migration, holder jsonb, token, acquired_at,
//!   expires_at)`: the lock, a **lease** with a **fencing token**.
//! - `migrate_schema (version)`: which of [`MIGRATIONS`] were applied; they
//!   are applied in one transaction under an advisory lock, so two first
//!   runs never race.
//!
//! How the lock behaves:
//! - Taking it succeeds when nobody holds it, when the holder's lease has
//!   expired, or when the holder was a process on this machine that is
//!   gone; each take increments the token. `rollback` (takeover) waits a
//!   few seconds for a live holder to finish, then takes the lock anyway,
//!   and journals whom it took it from (`lock_broken`).
//! - While held, a background task renews the lease every third of its
//!   length (30 s, or `MIGRATE_LEASE_MS`, a knob for tests); every commit
//!   renews it too. Dropping the guard releases the lock.
//! - Every write runs in one transaction that first locks the lock row and
//!   checks it still carries this guard's token, and that the journal ends
//!   where this run read it. A run that stalled past its lease (a stopped
//!   process, a long pause) and lost the lock finds another token there: its
//!   write is refused ([`StoreError::Fenced`]) and changes nothing.
//!
//! Errors name the database as the plan shows its URL (never the
//! password) and pass through [`redact::clean`].

use std::any::Any;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, Row};

use super::model::{Entry, Record, State, Timestamp, JOURNAL_SCHEMA, STATE_SCHEMA};
use super::recover::{self, Checkpoint, Recovery, Skipped};
use super::{Holder, LockGuard, Store, StoreError};
use crate::redact;

/// How long a lock is held without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Overrides the lease, in milliseconds. For tests (short leases make
/// expiry quick to reach); leave it unset in production.
pub const LEASE_ENV: &str = "MIGRATE_LEASE_MS";
/// How long to wait for a connection before giving up on the database.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// How long `rollback` lets a live holder finish before taking over.
const TAKEOVER_GRACE: Duration = Duration::from_secs(5);
/// How long releasing the lock may take when the guard is dropped.
const RELEASE_WAIT: Duration = Duration::from_secs(5);
/// Key of the advisory lock that serialises schema upgrades.
const SCHEMA_LOCK: i64 = 0x6d69_6772_6174_6573; // "migrates"

/// The schema, one entry per version: version `i + 1` is `MIGRATIONS[i]`.
pub const MIGRATIONS: &[&[&str]] = &[&[
    "CREATE TABLE migrate_journal (
        migration text NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        at timestamptz NOT NULL,
        actor text NOT NULL,
        event text NOT NULL,
        record jsonb NOT NULL,
        PRIMARY KEY (migration, seq)
    )",
    "CREATE TABLE migrate_state (
        migration text PRIMARY KEY,
        serial bigint NOT NULL,
        journal_seq bigint NOT NULL,
        state jsonb NOT NULL,
        updated_at timestamptz NOT NULL
    )",
    "CREATE TABLE migrate_lock (
        migration text PRIMARY KEY,
        holder jsonb,
        token bigint NOT NULL DEFAULT 0,
        acquired_at timestamptz,
        expires_at timestamptz
    )",
]];

/// The schema version this build reads and writes.
pub fn schema_version() -> i32 {
    i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX)
}

/// The lease: [`LEASE_ENV`] when set to a number of milliseconds, else
/// [`DEFAULT_LEASE`].
pub fn lease_from_env() -> Duration {
    std::env::var(LEASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms >= 50)
        .map_or(DEFAULT_LEASE, Duration::from_millis)
}

/// A URL as it may be shown: its password, if any, replaced by `***`.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    connect: PgConnectOptions,
    pool: tokio::sync::OnceCell<PgPool>,
    migration: String,
    /// The database as it may be shown (no password).
    shown: String,
    lease: Duration,
    /// Tokens of locks this process let go of but could not release (the
    /// database was away): still ours to take again at once.
    unreleased: std::sync::Mutex<Vec<i64>>,
    /// A second lock every write must also hold (a supervisor's lease):
    /// its row's key and the token this process holds it with.
    also_fenced_by: std::sync::RwLock<Option<(String, i64)>>,
}

impl PgStore {
    /// The store for `migration` in the database at `url`, shown as
    /// `shown` (the plan's display of the URL). Nothing connects yet.
    pub fn new(url: &str, shown: &str, migration: &str) -> Result<Self, StoreError> {
        Self::with_lease(url, shown, migration, lease_from_env())
    }

    pub fn with_lease(
        url: &str,
        shown: &str,
        migration: &str,
        lease: Duration,
    ) -> Result<Self, StoreError> {
        let shown = shown_url(shown);
        // The URL is a secret unless it is shown as it is (no password, not
        // from the environment): then masking it would only hide the name
        // of the database from the messages about it.
        if shown != url {
            redact::register(url);
        }
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::Io(
                    redact::clean(&format!(
                        "PostgreSQL state at {shown}: the URL is not usable: {e}"
                    ))
                    .into_owned(),
                )
            })?
            .disable_statement_logging();
        // So that pg_stat_activity says who is connected, unless the URL
        // names itself.
        if connect.get_application_name().is_none() {
            connect = connect.application_name("migrate");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                connect,
                pool: tokio::sync::OnceCell::new(),
                migration: migration.to_string(),
                shown,
                lease,
                unreleased: std::sync::Mutex::new(Vec::new()),
                also_fenced_by: std::sync::RwLock::new(None),
            }),
        })
    }

    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// The migration (or lock row) this store is for.
    pub fn migration(&self) -> &str {
        &self.inner.migration
    }

    /// Make every later write also check that the lock row `key` (a
    /// supervisor's lease, see [`supervisor_key`]) still carries `token`
    /// and has not expired: a supervisor that lost its lease cannot write,
    /// even where it still holds (or takes) the migration's own lock.
    /// `None` lifts that check.
    pub fn fence_with(&self, lease: Option<(String, i64)>) {
        if let Ok(mut f) = self.inner.also_fenced_by.write() {
            *f = lease;
        }
    }
}

/// The key of the lock row that is the lease of the supervisors of
/// `group` (`migrate supervise --group`): not a migration's name, which
/// cannot hold a ':'.
pub fn supervisor_key(group: &str) -> String {
    format!("supervise:{group}")
}

impl PgStore {
    fn guard<'g>(&self, guard: &'g dyn LockGuard) -> Result<&'g PgLock, StoreError> {
        match guard.as_any().downcast_ref::<PgLock>() {
            Some(g) if Arc::ptr_eq(&g.inner, &self.inner) => Ok(g),
            _ => Err(StoreError::Io(format!(
                "PostgreSQL state at {}: the lock passed is not this store's",
                self.inner.shown
            ))),
        }
    }
}

/// Whether an error means the database could not be reached (or went away).
fn is_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// A savepoint-free transaction: rolled back when dropped uncommitted.
type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

impl Inner {
    fn err(&self, doing: &str, e: &sqlx::Error) -> StoreError {
        let why = match e {
            sqlx::Error::PoolTimedOut => format!(
                "no connection within {} s: the database is down, restarting or unreachable",
                CONNECT_WAIT.as_secs()
            ),
            sqlx::Error::Io(io) => format!("the connection to the database failed: {io}"),
            sqlx::Error::Database(d) => {
                let code = d.code().map(|c| c.to_string()).unwrap_or_default();
                let gloss = if code.starts_with("57P") {
                    "the database is shutting down or restarting: "
                } else if code.starts_with("08") {
                    "the connection to the database failed: "
                } else {
                    ""
                };
                if code.is_empty() {
                    format!("{gloss}{}", d.message())
                } else {
                    format!("{gloss}{} (SQLSTATE {code})", d.message())
                }
            }
            sqlx::Error::Tls(t) => format!("TLS: {t}"),
            other => other.to_string(),
        };
        let hint = if is_connection(e) {
            "\n  Nothing half-done was kept: every write is one transaction. Run the command again when the database is back; it carries on from the last completed write."
        } else {
            ""
        };
        StoreError::Io(
            redact::clean(&format!(
                "PostgreSQL state at {}: {doing}: {why}{hint}",
                self.shown
            ))
            .into_owned(),
        )
    }

    fn corrupt(&self, what: &str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: format!(
                "{what} of migration {} in the PostgreSQL state at {}",
                self.migration, self.shown
            ),
            detail: redact::clean(&detail.to_string()).into_owned(),
        }
    }

    /// The pool, connected and with the schema up to date (once per
    /// process).
    async fn pool(&self) -> Result<&PgPool, StoreError> {
        self.pool
            .get_or_try_init(|| async {
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(CONNECT_WAIT)
                    .connect_lazy_with(self.connect.clone());
                self.upgrade_schema(&pool).await?;
                Ok(pool)
            })
            .await
    }

    async fn begin(&self, doing: &str) -> Result<Tx, StoreError> {
        let pool = self.pool().await?;
        pool.begin().await.map_err(|e| self.err(doing, &e))
    }

    /// The schema version of the tables (0: none yet), read without DDL,
    /// so that a role without CREATE can use tables that exist.
    async fn current_schema(&self, c: &mut PgConnection) -> Result<i32, sqlx::Error> {
        let exists: bool = sqlx::query("SELECT to_regclass('migrate_schema') IS NOT NULL")
            .fetch_one(&mut *c)
            .await?
            .try_get(0)?;
        if !exists {
            return Ok(0);
        }
        sqlx::query("SELECT coalesce(max(version), 0) FROM migrate_schema")
            .fetch_one(&mut *c)
            .await?
            .try_get(0)
    }

    /// Create or upgrade the tables, in one transaction under an advisory
    /// lock: concurrent first runs wait for each other instead of racing.
    async fn upgrade_schema(&self, pool: &PgPool) -> Result<(), StoreError> {
        let doing = "preparing the state tables";
        let e = |e: sqlx::Error| self.err(doing, &e);
        let known = schema_version();
        {
            let mut c = pool
                .acquire()
                .await
                .map_err(|e| self.err("connecting", &e))?;
            if self.current_schema(&mut c).await.map_err(e)? == known {
                return Ok(());
            }
        }
        let mut tx = pool.begin().await.map_err(|e| self.err("connecting", &e))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS migrate_schema (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        let current = self.current_schema(&mut tx).await.map_err(e)?;
        if current > known {
            return Err(StoreError::Io(format!(
                "PostgreSQL state at {}: the state tables are at schema version {current}, newer than this migrate knows ({known}); upgrade migrate",
                self.shown
            )));
        }
        if current == known {
            return Ok(());
        }
        for (i, statements) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(uint(current.into()) as usize)
        {
            for sql in *statements {
                sqlx::query(sql).execute(&mut *tx).await.map_err(e)?;
            }
            sqlx::query("INSERT INTO migrate_schema (version) VALUES ($1)")
                .bind(i32::try_from(i + 1).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await
                .map_err(e)?;
        }
        tx.commit().await.map_err(e)
    }

    fn journal_damaged(&self, what: &str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::JournalDamaged {
            what: format!(
                "{what} of migration {} in the PostgreSQL state at {}",
                self.migration, self.shown
            ),
            detail: redact::clean(&detail.to_string()).into_owned(),
        }
    }

    /// A row of the journal as a record, or why it is not one (in words
    /// that never quote it).
    fn decode_record(&self, seq: i64, text: &str) -> Result<Record, String> {
        let r: Record =
            serde_json::from_str(text).map_err(|e| recover::reason(text.as_bytes(), &e))?;
        if r.seq != uint(seq) || r.migration != self.migration {
            return Err(format!(
                "it says it is record {} of {}",
                r.seq,
                if r.migration == self.migration {
                    "this migration"
                } else {
                    "another migration"
                }
            ));
        }
        Ok(r)
    }

    fn parse_record(&self, seq: i64, text: &str) -> Result<Record, StoreError> {
        self.decode_record(seq, text).map_err(|why| {
            self.journal_damaged(
                &format!("journal record {seq}"),
                format!("{why} ({} bytes)", text.len()),
            )
        })
    }

    async fn records_after(
        &self,
        c: &mut PgConnection,
        after: u64,
    ) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, record::text FROM migrate_journal WHERE migration = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(&self.migration)
        .bind(int(after))
        .fetch_all(&mut *c)
        .await
        .map_err(|e| self.err("reading the journal", &e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row
                .try_get(0)
                .map_err(|e| self.err("reading the journal", &e))?;
            let text: String = row
                .try_get(1)
                .map_err(|e| self.err("reading the journal", &e))?;
            out.push(self.parse_record(seq, &text)?);
        }
        if let Some(g) = recover::gaps_after(after, &out).first() {
            return Err(self.journal_damaged(
                "the journal",
                format!(
                    "{} missing (record {} follows record {})",
                    recover::range_words(g),
                    g.1 + 1,
                    g.0 - 1
                ),
            ));
        }
        Ok(out)
    }

    /// The checkpoint with the journal records it missed folded in.
    async fn read_state(&self, c: &mut PgConnection) -> Result<Option<State>, StoreError> {
        let doing = "reading the state";
        let row = sqlx::query("SELECT state::text FROM migrate_state WHERE migration = $1")
            .bind(&self.migration)
            .fetch_optional(&mut *c)
            .await
            .map_err(|e| self.err(doing, &e))?;
        let checkpoint = match row {
            Some(row) => {
                let text: String = row.try_get(0).map_err(|e| self.err(doing, &e))?;
                let st: State = serde_json::from_str(&text).map_err(|err| {
                    self.corrupt(
                        "the state checkpoint",
                        recover::state_detail(text.as_bytes(), &err),
                    )
                })?;
                if st.schema != STATE_SCHEMA {
                    return Err(self.corrupt(
                        "the state checkpoint",
                        format!(
                            "state schema {} is not the one this migrate reads ({STATE_SCHEMA})",
                            st.schema
                        ),
                    ));
                }
                if st.migration != self.migration {
                    return Err(self.corrupt(
                        "the state checkpoint",
                        format!("it belongs to migration '{}'", st.migration),
                    ));
                }
                Some(st)
            }
            None => None,
        };
        let seen = checkpoint.as_ref().map_or(0, |s| s.journal_seq);
        let last = self.last_seq(c).await?;
        if seen > last {
            return Err(StoreError::JournalLost {
                what: format!(
                    "the journal of migration {} in the PostgreSQL state at {}",
                    self.migration, self.shown
                ),
                detail: format!(
                    "it ends at record {last}, but the state checkpoint has seen record {seen}"
                ),
            });
        }
        let tail = if seen < last {
            self.records_after(c, seen).await?
        } else {
            Vec::new()
        };
        Ok(match checkpoint {
            Some(mut st) => {
                for r in &tail {
                    st.apply(r);
                }
                Some(st)
            }
            None if tail.is_empty() => None,
            None => Some(State::replay(&self.migration, &tail)),
        })
    }

    /// What a rebuild does, from the rows as they are: the recovery, and
    /// the numbers of the journal rows that do not decode.
    async fn plan_rebuild(
        &self,
        c: &mut PgConnection,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<(Recovery, Vec<i64>)>, StoreError> {
        let doing = "reading the journal";
        let rows = sqlx::query(
            "SELECT seq, record::text FROM migrate_journal WHERE migration = $1 ORDER BY seq",
        )
        .bind(&self.migration)
        .fetch_all(&mut *c)
        .await
        .map_err(|e| self.err(doing, &e))?;
        let mut records = Vec::with_capacity(rows.len());
        let mut skipped = Vec::new();
        let mut damaged = Vec::new();
        for row in rows {
            let seq: i64 = row.try_get(0).map_err(|e| self.err(doing, &e))?;
            let text: String = row.try_get(1).map_err(|e| self.err(doing, &e))?;
            match self.decode_record(seq, &text) {
                Ok(r) => records.push(r),
                Err(reason) => {
                    damaged.push(seq);
                    skipped.push(Skipped {
                        place: format!("record {seq}"),
                        bytes: text.len(),
                        reason,
                        seq: Some(uint(seq)),
                        torn: false,
                    });
                }
            }
        }
        let doing = "reading the state";
        let row = sqlx::query("SELECT state::text FROM migrate_state WHERE migration = $1")
            .bind(&self.migration)
            .fetch_optional(&mut *c)
            .await
            .map_err(|e| self.err(doing, &e))?;
        let checkpoint = match row {
            None => Checkpoint::Missing,
            Some(row) => {
                let text: String = row.try_get(0).map_err(|e| self.err(doing, &e))?;
                let damaged = |why: String| {
                    Checkpoint::Damaged(format!("the state checkpoint is damaged: {why}"))
                };
                match serde_json::from_str::<State>(&text) {
                    Err(err) => damaged(recover::state_detail(text.as_bytes(), &err)),
                    Ok(st) if st.schema != STATE_SCHEMA => damaged(format!(
                        "state schema {} is not the one this migrate reads ({STATE_SCHEMA})",
                        st.schema
                    )),
                    Ok(st) if st.migration != self.migration => {
                        damaged("it belongs to another migration".into())
                    }
                    Ok(st) => Checkpoint::Good(Box::new(st)),
                }
            }
        };
        let location = format!("the PostgreSQL state at {}", self.shown);
        let plan = recover::plan(
            &self.migration,
            &location,
            &records,
            skipped,
            checkpoint,
            actor,
            now,
            by,
        )?;
        Ok(plan.map(|p| (p, damaged)))
    }

    async fn last_seq(&self, c: &mut PgConnection) -> Result<u64, StoreError> {
        sqlx::query("SELECT coalesce(max(seq), 0) FROM migrate_journal WHERE migration = $1")
            .bind(&self.migration)
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .map(uint)
            .map_err(|e| self.err("reading the journal", &e))
    }

    /// Lock the lock row and check it carries `token`; then, when
    /// `read_seq` is given, that the journal ends where this run read it.
    async fn fence(
        &self,
        tx: &mut Tx,
        token: i64,
        read_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        let doing = "checking the lock";
        let row = sqlx::query(
            "SELECT token, holder::text FROM migrate_lock WHERE migration = $1 FOR UPDATE",
        )
        .bind(&self.migration)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| self.err(doing, &e))?;
        let (now_token, holder) = match row {
            Some(row) => (
                row.try_get::<i64, _>(0).map_err(|e| self.err(doing, &e))?,
                row.try_get::<Option<String>, _>(1)
                    .map_err(|e| self.err(doing, &e))?,
            ),
            None => (0, None),
        };
        if now_token != token {
            let who = holder
                .as_deref()
                .and_then(|h| serde_json::from_str::<Holder>(h).ok())
                .map_or_else(
                    || "nobody holds it now".to_string(),
                    |h| format!("it is held by {h} now"),
                );
            return Err(StoreError::Fenced(redact::clean(&format!(
                "this run no longer holds the lock of migration {} (its lease ran out or it was taken over; {who}; fencing token {now_token}, this run's was {token}): its write was refused and nothing was written. Run the command again: it carries on from the state as the other run left it.",
                self.migration
            )).into_owned()));
        }
        let also = self.also_fenced_by.read().ok().and_then(|f| f.clone());
        if let Some((key, token)) = also {
            let row = sqlx::query(
                "SELECT token, holder IS NOT NULL AND coalesce(expires_at > clock_timestamp(), false)
                 FROM migrate_lock WHERE migration = $1 FOR SHARE",
            )
            .bind(&key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| self.err(doing, &e))?;
            let (now_token, live) = match row {
                Some(row) => (
                    row.try_get::<i64, _>(0).map_err(|e| self.err(doing, &e))?,
                    row.try_get::<bool, _>(1).map_err(|e| self.err(doing, &e))?,
                ),
                None => (0, false),
            };
            if now_token != token || !live {
                return Err(StoreError::Fenced(format!(
                    "this supervisor no longer holds its lease ({key}: fencing token {now_token}, this one's was {token}{}): its write to migration {} was refused and nothing was written",
                    if live || now_token != token { "" } else { ", expired" },
                    self.migration
                )));
            }
        }
        if let Some(read) = read_seq {
            let last = self.last_seq(tx).await?;
            if last != read {
                return Err(StoreError::Fenced(format!(
                    "the journal of migration {} changed under this run (it read {read} records, {last} are there now): another run wrote it; nothing was written",
                    self.migration
                )));
            }
        }
        Ok(())
    }

    async fn append(&self, tx: &mut Tx, records: &[Record]) -> Result<(), StoreError> {
        let doing = "appending to the journal";
        for r in records {
            let text = encode(r).map_err(|e| self.err(doing, &e))?;
            sqlx::query(
                "INSERT INTO migrate_journal (migration, seq, at, actor, event, record) VALUES ($1, $2, $3::timestamptz, $4, $5, $6::jsonb)",
            )
            .bind(&self.migration)
            .bind(int(r.seq))
            .bind(r.at.to_string())
            .bind(redact::clean(&r.actor).into_owned())
            .bind(r.entry.name())
            .bind(text)
            .execute(&mut **tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
                    StoreError::Fenced(format!(
                        "journal record {} of migration {} was written by another run meanwhile; nothing was written",
                        r.seq, self.migration
                    ))
                }
                _ => self.err(doing, &e),
            })?;
        }
        Ok(())
    }

    async fn checkpoint(&self, tx: &mut Tx, st: &State) -> Result<(), StoreError> {
        let doing = "writing the state checkpoint";
        let text = encode(st).map_err(|e| self.err(doing, &e))?;
        sqlx::query(
            "INSERT INTO migrate_state (migration, serial, journal_seq, state, updated_at)
             VALUES ($1, $2, $3, $4::jsonb, clock_timestamp())
             ON CONFLICT (migration) DO UPDATE SET serial = EXCLUDED.serial,
               journal_seq = EXCLUDED.journal_seq, state = EXCLUDED.state,
               updated_at = EXCLUDED.updated_at",
        )
        .bind(&self.migration)
        .bind(int(st.serial))
        .bind(int(st.journal_seq))
        .bind(text)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(doing, &e))?;
        Ok(())
    }

    /// Extend the lease of the lock `token`; false when it is not ours.
    async fn renew(&self, c: &mut PgConnection, token: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE migrate_lock SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
             WHERE migration = $1 AND token = $2 AND holder IS NOT NULL",
        )
        .bind(&self.migration)
        .bind(token)
        .bind(lease_ms(self.lease))
        .execute(&mut *c)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, c: &mut PgConnection, token: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE migrate_lock SET holder = NULL, expires_at = NULL WHERE migration = $1 AND token = $2",
        )
        .bind(&self.migration)
        .bind(token)
        .execute(&mut *c)
        .await
        .map(|_| ())
    }

    /// One attempt at the lock.
    async fn try_lock(
        &self,
        holder: &Holder,
        holder_json: &str,
        take_live: bool,
    ) -> Result<Attempt, StoreError> {
        let doing = "taking the lock";
        let e = |e: sqlx::Error| self.err(doing, &e);
        let mut tx = self.begin(doing).await?;
        sqlx::query(
            "INSERT INTO migrate_lock (migration) VALUES ($1) ON CONFLICT (migration) DO NOTHING",
        )
        .bind(&self.migration)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        let row = sqlx::query(
            "SELECT holder::text, coalesce(expires_at > clock_timestamp(), false), token
             FROM migrate_lock WHERE migration = $1 FOR UPDATE",
        )
        .bind(&self.migration)
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
        let previous: Option<String> = row.try_get(0).map_err(e)?;
        let unexpired: bool = row.try_get(1).map_err(e)?;
        let current: i64 = row.try_get(2).map_err(e)?;
        let ours = self
            .unreleased
            .lock()
            .is_ok_and(|tokens| tokens.contains(&current));
        let previous = previous.map(|text| {
            let h = serde_json::from_str::<Holder>(&text).ok();
            let gone = process::gone(&text);
            (h, gone)
        });
        let (stale, displaced) = match previous {
            None => (None, None),
            // Let go of by this process, not released: free.
            Some(_) if ours => (None, None),
            Some((h, gone)) if !unexpired || gone => (h, None),
            Some((h, _)) if take_live => (None, Some(h)),
            Some((h, _)) => return Ok(Attempt::Held(h)),
        };
        let token: i64 = sqlx::query(
            "UPDATE migrate_lock SET holder = $2::jsonb, token = token + 1,
               acquired_at = clock_timestamp(),
               expires_at = clock_timestamp() + $3 * interval '1 millisecond'
             WHERE migration = $1 RETURNING token",
        )
        .bind(&self.migration)
        .bind(holder_json)
        .bind(lease_ms(self.lease))
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(e)?;
        if let Some(h) = displaced {
            // Journal whom the lock was taken from, in the same
            // transaction: the token and the record change together.
            let name = h.map_or_else(
                || "a run whose details could not be read".to_string(),
                |h| h.to_string(),
            );
            let mut st = self
                .read_state(&mut tx)
                .await?
                .unwrap_or_else(|| State::empty(&self.migration));
            let r = Record {
                v: JOURNAL_SCHEMA,
                seq: st.journal_seq + 1,
                at: Timestamp::new(std::time::SystemTime::now()),
                actor: holder.actor.clone(),
                migration: self.migration.clone(),
                entry: Entry::LockBroken { holder: name },
            };
            st.apply(&r);
            self.append(&mut tx, std::slice::from_ref(&r)).await?;
            self.checkpoint(&mut tx, &st).await?;
        }
        tx.commit().await.map_err(e)?;
        Ok(Attempt::Got { token, stale })
    }
}

fn lease_ms(lease: Duration) -> f64 {
    lease.as_secs_f64() * 1000.0
}

/// JSON text for a jsonb column, secrets masked. jsonb cannot hold a NUL
/// character; one (in a hook's output, say) is stored as U+FFFD.
fn encode<T: serde::Serialize>(v: &T) -> Result<String, sqlx::Error> {
    let text = serde_json::to_string(v).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok(redact::clean(&text).replace("\\u0000", "\\ufffd"))
}

enum Attempt {
    Got { token: i64, stale: Option<Holder> },
    Held(Option<Holder>),
}

/// The lock, held: the lease is renewed in the background until dropped,
/// and released then.
pub struct PgLock {
    inner: Arc<Inner>,
    token: i64,
    stale: Option<Holder>,
    renewal: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
    /// When the lease was last taken or renewed (as sent: the lease runs
    /// from no earlier than this).
    renewed: Arc<std::sync::Mutex<Instant>>,
}

impl PgLock {
    /// The fencing token: it grows with every take of the lock.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// Whether the renewal found the lock taken by another run.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// How much longer the lease is surely held: zero once it was found
    /// taken, or when no renewal succeeded for a whole lease (the database
    /// away: another process may hold it by now).
    pub fn held_for(&self) -> Duration {
        if self.lost() {
            return Duration::ZERO;
        }
        let since = self
            .renewed
            .lock()
            .map_or(self.inner.lease, |t| t.elapsed());
        self.inner.lease.saturating_sub(since)
    }

    /// The key of the lock row (the migration's name, or a supervisor's
    /// [`supervisor_key`]).
    pub fn key(&self) -> &str {
        &self.inner.migration
    }
}

impl LockGuard for PgLock {
    fn stale_previous(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for PgLock {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.lost() {
            return;
        }
        let inner = self.inner.clone();
        let token = self.token;
        // Release before the process may exit: on a multi-threaded runtime
        // through the pool; elsewhere on a connection of its own, from a
        // thread with a runtime of its own.
        let released = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| {
                    handle.block_on(async {
                        let release = async {
                            let pool = inner.pool().await.ok()?;
                            let mut c = pool.acquire().await.ok()?;
                            inner.release(&mut c, token).await.ok()
                        };
                        tokio::time::timeout(RELEASE_WAIT, release)
                            .await
                            .ok()
                            .flatten()
                            .is_some()
                    })
                })
            }
            _ => {
                let inner = inner.clone();
                std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return false;
                    };
                    rt.block_on(async {
                        let release = async {
                            let mut c = PgConnection::connect_with(&inner.connect).await.ok()?;
                            let done = inner.release(&mut c, token).await.ok();
                            let _ = c.close().await;
                            done
                        };
                        tokio::time::timeout(RELEASE_WAIT, release)
                            .await
                            .ok()
                            .flatten()
                            .is_some()
                    })
                })
                .join()
                .unwrap_or(false)
            }
        };
        if !released {
            // The lease runs out by itself; until then this process may
            // take the lock again at once.
            if let Ok(mut tokens) = inner.unreleased.lock() {
                tokens.push(token);
            }
        }
    }
}

/// Renew the lease every third of it, until the lock is found taken.
async fn renew_loop(
    inner: Arc<Inner>,
    token: i64,
    lost: Arc<AtomicBool>,
    renewed_at: Arc<std::sync::Mutex<Instant>>,
) {
    let every = inner.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let sent = Instant::now();
        let renewed = async {
            let pool = inner.pool().await.map_err(|e| e.to_string())?;
            let mut c = pool.acquire().await.map_err(|e| e.to_string())?;
            inner
                .renew(&mut c, token)
                .await
                .map_err(|e| inner.err("renewing the lease", &e).to_string())
        };
        match renewed.await {
            Ok(true) => {
                if let Ok(mut t) = renewed_at.lock() {
                    *t = sent;
                }
            }
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                tracing::warn!(
                    migration = %inner.migration,
                    "the lock was taken by another run; this run's writes will be refused"
                );
                return;
            }
            // The database is away: try again; if the lease runs out
            // meanwhile and another run takes the lock, this run's next
            // write is refused.
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

#[async_trait]
impl Store for PgStore {
    fn location(&self) -> String {
        self.inner.shown.clone()
    }

    async fn lock(
        &self,
        holder: &Holder,
        wait: Duration,
        takeover: bool,
    ) -> Result<Box<dyn LockGuard>, StoreError> {
        let inner = &self.inner;
        let holder_json = process::holder_json(holder)
            .map_err(|e| StoreError::Io(format!("encoding the lock holder: {e}")))?;
        let holder_json = redact::clean(&holder_json).into_owned();
        let start = Instant::now();
        let grace = wait.min(TAKEOVER_GRACE);
        // Spread the polling of concurrent waiters.
        let poll = Duration::from_millis(40 + u64::from(std::process::id() % 40));
        loop {
            let take_live = takeover && start.elapsed() >= grace;
            let sent = Instant::now();
            match inner.try_lock(holder, &holder_json, take_live).await? {
                Attempt::Got { token, stale } => {
                    let lost = Arc::new(AtomicBool::new(false));
                    let renewed = Arc::new(std::sync::Mutex::new(sent));
                    let renewal = tokio::spawn(renew_loop(
                        inner.clone(),
                        token,
                        lost.clone(),
                        renewed.clone(),
                    ));
                    return Ok(Box::new(PgLock {
                        inner: inner.clone(),
                        token,
                        stale,
                        renewal,
                        lost,
                        renewed,
                    }));
                }
                Attempt::Held(h) => {
                    if !takeover && start.elapsed() >= wait {
                        return Err(match h {
                            Some(h) => StoreError::Locked(Box::new(h)),
                            None => StoreError::LockedUnknown,
                        });
                    }
                    tokio::time::sleep(poll).await;
                }
            }
        }
    }

    async fn holder(&self) -> Result<Option<(Holder, bool)>, StoreError> {
        let inner = &self.inner;
        let doing = "reading the lock";
        let pool = inner.pool().await?;
        let row = sqlx::query(
            "SELECT holder::text, coalesce(expires_at > clock_timestamp(), false)
             FROM migrate_lock WHERE migration = $1 AND holder IS NOT NULL",
        )
        .bind(&inner.migration)
        .fetch_optional(pool)
        .await
        .map_err(|e| inner.err(doing, &e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.try_get(0).map_err(|e| inner.err(doing, &e))?;
        let unexpired: bool = row.try_get(1).map_err(|e| inner.err(doing, &e))?;
        let h: Holder =
            serde_json::from_str(&text).map_err(|e| inner.corrupt("the lock holder", e))?;
        Ok(Some((h, unexpired && !process::gone(&text))))
    }

    async fn break_lock(&self) -> Result<Option<Holder>, StoreError> {
        let inner = &self.inner;
        let doing = "breaking the lock";
        let pool = inner.pool().await?;
        // A new token: the broken holder's writes are refused from now on.
        let row = sqlx::query(
            "WITH old AS (
               SELECT migration, holder FROM migrate_lock
               WHERE migration = $1 AND holder IS NOT NULL FOR UPDATE)
             UPDATE migrate_lock l SET holder = NULL, expires_at = NULL, token = l.token + 1
             FROM old WHERE l.migration = old.migration
             RETURNING old.holder::text",
        )
        .bind(&inner.migration)
        .fetch_optional(pool)
        .await
        .map_err(|e| inner.err(doing, &e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.try_get(0).map_err(|e| inner.err(doing, &e))?;
        Ok(serde_json::from_str(&text).ok())
    }

    async fn load(&self) -> Result<Option<State>, StoreError> {
        let inner = &self.inner;
        let doing = "reading the state";
        let mut tx = inner.begin(doing).await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| inner.err(doing, &e))?;
        let st = inner.read_state(&mut tx).await?;
        tx.commit().await.map_err(|e| inner.err(doing, &e))?;
        Ok(st)
    }

    async fn commit(
        &self,
        guard: &dyn LockGuard,
        state: &mut State,
        actor: &str,
        now: Timestamp,
        entries: Vec<Entry>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let g = self.guard(guard)?;
        let inner = &self.inner;
        let now = Timestamp::new(now.0);
        let mut next = state.clone();
        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            let r = Record {
                v: JOURNAL_SCHEMA,
                seq: next.journal_seq + 1,
                at: now,
                actor: actor.to_string(),
                migration: inner.migration.clone(),
                entry,
            };
            next.apply(&r);
            records.push(r);
        }
        let doing = "writing the state";
        let mut tx = inner.begin(doing).await?;
        inner
            .fence(&mut tx, g.token, Some(state.journal_seq))
            .await?;
        inner.append(&mut tx, &records).await?;
        inner.checkpoint(&mut tx, &next).await?;
        inner
            .renew(&mut tx, g.token)
            .await
            .map_err(|e| inner.err("renewing the lease", &e))?;
        let (first, last) = (state.journal_seq + 1, next.journal_seq);
        if let Some(n) = super::crash::after_record().filter(|n| (first..=last).contains(n)) {
            // Written in the transaction, not committed: the process dies
            // and the transaction with its connection.
            super::crash::die(&format!(
                "after appending journal record {n}, before the commit"
            ));
        }
        tx.commit().await.map_err(|e| inner.err(doing, &e))?;
        if super::crash::after_checkpoint().is_some_and(|n| (first..=last).contains(&n)) {
            super::crash::die(&format!(
                "after committing journal records {first}..={last}"
            ));
        }
        *state = next;
        Ok(())
    }

    async fn journal(&self) -> Result<Vec<Record>, StoreError> {
        let inner = &self.inner;
        let pool = inner.pool().await?;
        let mut c = pool
            .acquire()
            .await
            .map_err(|e| inner.err("reading the journal", &e))?;
        inner.records_after(&mut c, 0).await
    }

    async fn journal_after(&self, seq: u64) -> Result<Vec<Record>, StoreError> {
        let inner = &self.inner;
        let pool = inner.pool().await?;
        let mut c = pool
            .acquire()
            .await
            .map_err(|e| inner.err("reading the journal", &e))?;
        inner.records_after(&mut c, seq).await
    }

    async fn others(&self) -> Result<Vec<State>, StoreError> {
        let inner = &self.inner;
        let doing = "reading the other migrations";
        let pool = inner.pool().await?;
        // The checkpoint is written in the transaction that appends the
        // records it folds in: it is the state.
        let rows = sqlx::query(
            "SELECT migration, state::text FROM migrate_state WHERE migration <> $1 ORDER BY migration",
        )
        .bind(&inner.migration)
        .fetch_all(pool)
        .await
        .map_err(|e| inner.err(doing, &e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get(0).map_err(|e| inner.err(doing, &e))?;
            let text: String = row.try_get(1).map_err(|e| inner.err(doing, &e))?;
            match serde_json::from_str::<State>(&text) {
                Ok(st) if st.schema == STATE_SCHEMA && st.migration == name => out.push(st),
                Ok(_) => {
                    tracing::warn!(migration = %name, "skipping a state of another schema or name")
                }
                Err(e) => {
                    tracing::warn!(migration = %name, error = %e, "skipping a state that cannot be read")
                }
            }
        }
        Ok(out)
    }

    async fn recover(
        &self,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<Recovery>, StoreError> {
        let inner = &self.inner;
        let doing = "reading the state";
        let mut tx = inner.begin(doing).await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| inner.err(doing, &e))?;
        let plan = inner.plan_rebuild(&mut tx, actor, now, by).await?;
        tx.commit().await.map_err(|e| inner.err(doing, &e))?;
        Ok(plan.map(|(r, _)| r))
    }

    async fn rebuild(
        &self,
        guard: &dyn LockGuard,
        actor: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<Option<Recovery>, StoreError> {
        let g = self.guard(guard)?;
        let inner = &self.inner;
        let doing = "rebuilding the state";
        let e = |e: sqlx::Error| inner.err(doing, &e);
        let mut tx = inner.begin(doing).await?;
        inner.fence(&mut tx, g.token, None).await?;
        let Some((mut rec, damaged)) = inner.plan_rebuild(&mut tx, actor, now, by).await? else {
            tx.commit().await.map_err(e)?;
            return Ok(None);
        };
        // Damaged rows and a damaged checkpoint are kept, under another
        // migration name, not deleted.
        let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        let aside = format!("{}#damaged-{stamp}", inner.migration);
        if !damaged.is_empty() {
            sqlx::query(
                "UPDATE migrate_journal SET migration = $2 WHERE migration = $1 AND seq = ANY($3)",
            )
            .bind(&inner.migration)
            .bind(&aside)
            .bind(&damaged)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
            rec.aside.push(format!(
                "the damaged journal rows under migration '{aside}' in migrate_journal"
            ));
        }
        if rec.checkpoint_replaced.is_some() {
            let moved = sqlx::query(
                "INSERT INTO migrate_state (migration, serial, journal_seq, state, updated_at)
                 SELECT $2, serial, journal_seq, state, updated_at FROM migrate_state WHERE migration = $1",
            )
            .bind(&inner.migration)
            .bind(&aside)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
            if moved.rows_affected() > 0 {
                rec.aside.push(format!(
                    "the old checkpoint under migration '{aside}' in migrate_state"
                ));
            }
        }
        if let Some(r) = &rec.record {
            inner.append(&mut tx, std::slice::from_ref(r)).await?;
        }
        inner.checkpoint(&mut tx, &rec.state).await?;
        tx.commit().await.map_err(e)?;
        Ok(Some(rec))
    }

    async fn import(
        &self,
        guard: &dyn LockGuard,
        records: &[Record],
        state: &State,
    ) -> Result<(), StoreError> {
        let g = self.guard(guard)?;
        let inner = &self.inner;
        super::check_import(&inner.migration, records, state)?;
        let doing = "copying the state in";
        let e = |e: sqlx::Error| inner.err(doing, &e);
        let mut tx = inner.begin(doing).await?;
        inner.fence(&mut tx, g.token, None).await?;
        sqlx::query("DELETE FROM migrate_journal WHERE migration = $1")
            .bind(&inner.migration)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        sqlx::query("DELETE FROM migrate_state WHERE migration = $1")
            .bind(&inner.migration)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        inner.append(&mut tx, records).await?;
        if !records.is_empty() {
            inner.checkpoint(&mut tx, state).await?;
        }
        tx.commit().await.map_err(e)
    }
}

/// Which process holds a lock, precisely enough to tell, on the same
/// machine, that it is gone: the kernel's boot id, the pid namespace, and
/// the process's start time (a reused pid starts later).
mod process {
    use super::Holder;

    fn boot_id() -> Option<String> {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn pid_namespace() -> Option<String> {
        std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .map(|p| p.display().to_string())
    }

    /// The start time of `pid` (clock ticks since boot), from its stat.
    fn start_time(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace();
        let state = fields.next()?;
        if state == "Z" || state == "X" {
            return None;
        }
        // Field 22 of stat; `rest` starts at field 3.
        fields.nth(18)?.parse().ok()
    }

    /// The holder as stored in the lock row: its details, and where it
    /// runs.
    pub fn holder_json(h: &Holder) -> Result<String, serde_json::Error> {
        let mut v = serde_json::to_value(h)?;
        if let (Some(obj), Some(boot), Some(ns), Some(start)) = (
            v.as_object_mut(),
            boot_id(),
            pid_namespace(),
            start_time(h.pid),
        ) {
            obj.insert(
                "process".into(),
                serde_json::json!({"boot": boot, "pid_ns": ns, "start": start}),
            );
        }
        serde_json::to_string(&v)
    }

    /// Whether the holder stored as `text` was a process of this machine
    /// (and of this pid namespace) that no longer runs. Anything unknown
    /// counts as running: only the lease decides then.
    pub fn gone(text: &str) -> bool {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            return false;
        };
        let p = &v["process"];
        let (Some(boot), Some(ns), Some(start), Some(pid)) = (
            p["boot"].as_str(),
            p["pid_ns"].as_str(),
            p["start"].as_u64(),
            v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
        ) else {
            return false;
        };
        if boot_id().as_deref() != Some(boot) || pid_namespace().as_deref() != Some(ns) {
            return false;
        }
        start_time(pid) != Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_never_has_its_password() {
        assert_eq!(
            shown_url("postgres://ci:s3cret@db:5432/migrate?sslmode=require"),
            "postgres://ci:***@db:5432/migrate?sslmode=require"
        );
        assert_eq!(
            shown_url("postgres://ci@db/migrate"),
            "postgres://ci@db/migrate"
        );
        assert_eq!(shown_url("${STATE_URL}"), "${STATE_URL}");
        // An '@' in the password (written raw) still masks all of it.
        assert_eq!(
            shown_url("postgresql://u:p@ss@h/d"),
            "postgresql://u:***@h/d"
        );
    }

    #[test]
    fn the_schema_version_is_the_number_of_migrations() {
        assert_eq!(schema_version(), 1);
    }

    #[test]
    fn a_holder_whose_process_is_gone_is_recognised() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let h = Holder {
            actor: "a@h".into(),
            host: "h".into(),
            pid: child.id(),
            command: "advance".into(),
            since: Timestamp::new(std::time::SystemTime::now()),
        };
        let text = process::holder_json(&h).unwrap();
        assert!(text.contains("\"process\""), "{text}");
        assert!(!process::gone(&text));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(process::gone(&text));
        // Details from elsewhere (no process identity) never count as gone.
        assert!(!process::gone(&serde_json::to_string(&h).unwrap()));
    }
}
