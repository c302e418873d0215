//! The database capability: what a reconciliation needs from PostgreSQL,
//! MySQL/MariaDB and SQLite. The reading and writing is the same for all
//! three ([`SqlDb`]); each engine's file (`postgres.rs`, `mysql.rs`,
//! `sqlite.rs`) holds what is particular to it ([`Engine`]: connecting, the
//! catalog, quoting, binding and decoding values, the upsert clause).
//!
//! Values are read with their real types (never through text casts, which
//! would lose meaning), rows come in key order, and writes are batches in a
//! transaction each, so that dropping a run at any point leaves the target
//! consistent. The connection URL comes from the plan and is never shown:
//! messages name the provider and the URL as written in the plan.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::{FutureExt as _, StreamExt};
use tokio::sync::mpsc;

use super::{CallCtx, Failure, ProviderError};
use crate::domain::sql::{Row, Value};
use crate::plan::Plan;

pub use crate::domain::sql::Kind;

/// A column of a table, as the database describes it.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The type as the database names it (`bigint`, `varchar(32)`).
    pub ty: String,
    pub kind: Kind,
}

/// A table name, optionally schema-qualified (`public.payments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    /// `payments`, `public.payments`, `"odd.schema"."t"`.
    pub fn parse(s: &str) -> Self {
        let parts = split_qualified(s.trim());
        match parts.as_slice() {
            [schema, name] => Self {
                schema: Some(schema.clone()),
                name: name.clone(),
            },
            _ => Self {
                schema: None,
                name: unquote(s.trim()),
            },
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn unquote(s: &str) -> String {
    for q in ['"', '`'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            let inner = &s[1..s.len() - 1];
            return inner.replace(&format!("{q}{q}"), &q.to_string());
        }
    }
    s.to_string()
}

/// Split at dots that are not inside quotes.
fn split_qualified(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '`') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, '.') => parts.push(unquote(&std::mem::take(&mut cur))),
            _ => cur.push(c),
        }
    }
    parts.push(unquote(&cur));
    parts
}

/// Which rows and columns a reconciliation reads from one side: the key
/// columns first, then the compared ones, within an optional `where`.
#[derive(Debug, Clone)]
pub struct Shape {
    pub table: TableName,
    pub columns: Vec<Column>,
    /// How many of `columns` (the first ones) are the key.
    pub keys: usize,
    /// A SQL condition from the plan, in this database's dialect.
    pub filter: Option<String>,
    /// Scans only: start after this key (when the scan is not resuming
    /// after a later one): the first key (exclusive) of a slice.
    pub after: Option<Row>,
    /// Scans only: the last key (inclusive) of a slice of the key space
    /// (the rolling sweep of a continuous reconciliation).
    pub upto: Option<Row>,
    /// Scans only: only rows whose column `.0` (an index into `columns`)
    /// is above `.1` (a watermark).
    pub above: Option<(usize, Value)>,
}

impl Shape {
    pub fn key_columns(&self) -> &[Column] {
        &self.columns[..self.keys.min(self.columns.len())]
    }
}

/// Rows a scan hands over together, with a moment at or after which the
/// read they come from had taken its snapshot: the arrival of that read's
/// first row (a statement's snapshot is taken before its first row is
/// sent). The rows show both tables as they were at that moment or
/// earlier, however long the scan then takes to get to them.
#[derive(Debug)]
pub struct Chunk {
    pub rows: Vec<Row>,
    pub snapshot: Instant,
}

/// Where a scan puts its rows: chunks into a bounded channel (so a scan
/// never holds more than a few chunks), remembering the last key handed
/// over so that a scan broken by a dropped connection resumes after it.
pub struct RowSink {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<Row>,
    chunk: usize,
    keys: usize,
    last: Option<Row>,
    rows: u64,
    /// When the current read's first row arrived.
    snapshot: Option<Instant>,
}

impl RowSink {
    pub fn new(tx: mpsc::Sender<Chunk>, chunk: usize, keys: usize) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(chunk),
            chunk: chunk.max(1),
            keys,
            last: None,
            rows: 0,
            snapshot: None,
        }
    }

    /// A new read (statement) starts: the rows pushed from now on come
    /// from its snapshot. (Rows of the previous read still buffered are
    /// then dated by the new one: later, which is on the safe side.)
    pub fn begin(&mut self) {
        self.snapshot = None;
    }

    /// Hand over a row. False when nobody reads any more (the run was
    /// dropped): the scan should stop.
    pub async fn push(&mut self, row: Row) -> bool {
        if self.snapshot.is_none() {
            self.snapshot = Some(Instant::now());
        }
        self.buf.push(row);
        self.rows += 1;
        if self.buf.len() >= self.chunk {
            return self.flush().await;
        }
        true
    }

    pub async fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        if let Some(last) = self.buf.last() {
            self.last = Some(last[..self.keys.min(last.len())].to_vec());
        }
        let rows = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        let snapshot = *self.snapshot.get_or_insert_with(Instant::now);
        self.tx.send(Chunk { rows, snapshot }).await.is_ok()
    }

    /// The read is over. When it found no rows, the end of the table is
    /// news as of now: say so with an empty chunk dated now.
    pub async fn end(&mut self) -> bool {
        if !self.flush().await {
            return false;
        }
        if self.snapshot.is_some() {
            return true;
        }
        let snapshot = *self.snapshot.get_or_insert_with(Instant::now);
        self.tx
            .send(Chunk {
                rows: Vec::new(),
                snapshot,
            })
            .await
            .is_ok()
    }

    /// The key of the last row pushed: a resumed scan starts after it.
    pub fn resume_after(&self) -> Option<Row> {
        match self.buf.last() {
            Some(last) => Some(last[..self.keys.min(last.len())].to_vec()),
            None => self.last.clone(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// A database a reconciliation reads from (source) or repairs (target).
#[async_trait]
pub trait Database: Send + Sync {
    /// The provider's name and type, for messages.
    fn ctx(&self) -> &CallCtx;

    /// The table's columns, in order. Fails when the table does not exist.
    async fn columns(&self, table: &TableName) -> Result<Vec<Column>, ProviderError>;

    /// A cheap estimate of the table's rows (catalog statistics), for
    /// progress only.
    async fn estimate_rows(&self, table: &TableName) -> Result<Option<u64>, ProviderError>;

    /// Every row of `shape` after the key `after` (all rows when `None`), in
    /// key order (text keys by their bytes), as one consistent read, into
    /// `sink`. Returns when done or when the sink is closed.
    async fn scan(
        &self,
        shape: &Shape,
        after: Option<&[Value]>,
        sink: &mut RowSink,
    ) -> Result<(), ProviderError>;

    /// The rows of `shape` with these keys (rows whose key is not there, or
    /// is outside the filter, are simply absent).
    async fn fetch(&self, shape: &Shape, keys: &[Row]) -> Result<Vec<Row>, ProviderError>;

    /// The first value of `row` (in `shape`'s column order) that its column
    /// cannot take, by the column's type, checked here without the
    /// database: the value's index and why (the message never quotes the
    /// value). [`Database::upsert`] of such a row fails whole.
    fn unwritable(&self, shape: &Shape, row: &[Value]) -> Option<(usize, ProviderError)>;

    /// The key of the `n`th row (from 1) of `shape` after the key `after`
    /// (from the start when `None`), in scan order; `None` when there are
    /// fewer rows. Where a slice of the rolling sweep ends.
    async fn key_at(
        &self,
        shape: &Shape,
        after: Option<&[Value]>,
        n: u64,
    ) -> Result<Option<Row>, ProviderError>;

    /// The highest value of column `column` (an index into
    /// `shape.columns`) within the filter; `None` when there is none.
    async fn max_of(&self, shape: &Shape, column: usize) -> Result<Option<Value>, ProviderError>;

    /// Insert or update these rows (key columns first, as in `shape`), in
    /// one transaction. Absolute, hence safe to retry.
    async fn upsert(&self, shape: &Shape, rows: &[Row]) -> Result<u64, ProviderError>;

    /// Delete the rows with these keys, in one transaction.
    async fn delete(&self, shape: &Shape, keys: &[Row]) -> Result<u64, ProviderError>;
}

/// Connect to the plan's database provider `name`.
pub async fn connect(plan: &Plan, name: &str) -> anyhow::Result<Arc<dyn Database>> {
    let provider = plan
        .provider(name)
        .ok_or_else(|| anyhow::anyhow!("the plan has no provider '{name}'"))?;
    let ctx = CallCtx::new(provider, &plan.settings);
    let db = match super::adapter_of(provider).and_then(|a| a.database) {
        Some(connect) => connect(provider, ctx).await?,
        None => anyhow::bail!(
            "provider '{name}' ({}) is not a database",
            provider.type_name()
        ),
    };
    Ok(db)
}

/// A database URL for messages: the plan's text (a URL from the environment
/// shows as `${VAR}`), with any password masked even when it was written in
/// the plan itself.
pub fn url_label(url: &crate::plan::Text) -> String {
    let shown = url.shown();
    let Some((scheme, rest)) = shown.split_once("://") else {
        return shown.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => shown.to_string(),
        },
        None => shown.to_string(),
    }
}

/// A database error as a provider error: connection trouble, deadlocks and
/// busy databases are transient (worth retrying); the rest is not. The
/// message goes through secret redaction.
pub fn db_error(ctx: &CallCtx, doing: &str, err: &sqlx::Error) -> ProviderError {
    let failure = match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => Failure::Transient,
        sqlx::Error::Database(e)
            if e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|m| {
                    // MySQL/MariaDB error numbers (the SQLSTATE of several is
                    // the catch-all HY000): connection killed, server gone or
                    // lost, shutdown, lock wait timeout, deadlock, too many
                    // connections.
                    matches!(m.number(), 1927 | 2006 | 2013 | 1053 | 1205 | 1213 | 1040)
                }) =>
        {
            Failure::Transient
        }
        sqlx::Error::Database(e) => match e.code().as_deref() {
            // PostgreSQL: connection exceptions, shutdown, serialization,
            // deadlock, too many connections.
            Some(c)
                if c.starts_with("08")
                    || matches!(c, "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300") =>
            {
                Failure::Transient
            }
            // MySQL/MariaDB SQLSTATEs: query interrupted (a killed query).
            Some("70100") => Failure::Transient,
            // SQLite: busy, locked.
            Some("5" | "6" | "517" | "261" | "262") => Failure::Transient,
            _ => Failure::Rejected,
        },
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Failure::Garbage,
        _ => Failure::Rejected,
    };
    let message = match err {
        sqlx::Error::Database(e) => match e.code() {
            Some(code) => format!("{} (code {code})", e.message()),
            None => e.message().to_string(),
        },
        other => other.to_string(),
    };
    ctx.error(failure, doing, message)
}

/// Rows per statement so that a statement stays under the database's limit
/// of bound parameters.
pub fn rows_per_statement(columns: usize, max_params: usize, wanted: usize) -> usize {
    (max_params / columns.max(1)).clamp(1, wanted.max(1))
}

/// An identifier quoted the SQL standard's way (PostgreSQL, SQLite).
pub fn double_quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The SQL dialect details the shared statement builders need.
pub trait Dialect {
    fn quote(&self, ident: &str) -> String;
    fn table(&self, t: &TableName) -> String {
        match &t.schema {
            Some(s) => format!("{}.{}", self.quote(s), self.quote(&t.name)),
            None => self.quote(&t.name),
        }
    }
    /// The placeholder for the `n`th (1-based) parameter, written into
    /// `column`.
    fn param(&self, n: usize, column: &Column) -> String;
    /// The expression a key column is ordered and compared by: text keys
    /// by their bytes.
    fn key_expr(&self, column: &Column) -> String;
    /// The expression a column is selected as.
    fn select_expr(&self, column: &Column) -> String {
        self.quote(&column.name)
    }
}

/// A statement and the values to bind, each with the column it goes to.
pub struct Statement<'a> {
    pub sql: String,
    pub binds: Vec<(&'a Value, &'a Column)>,
}

fn push_bind<'a>(
    d: &dyn Dialect,
    binds: &mut Vec<(&'a Value, &'a Column)>,
    value: &'a Value,
    column: &'a Column,
) -> String {
    binds.push((value, column));
    d.param(binds.len(), column)
}

/// `key > after` (`strict`) or `key <= bound` (not `strict`, written as
/// `key < bound OR key = bound`) for a composite key:
/// `(k1 > a) OR (k1 = a AND k2 > b) OR ...` — every engine can use an index
/// for it, unlike row-value comparisons on some versions.
fn key_bound<'a>(
    d: &dyn Dialect,
    keys: &'a [Column],
    bound: &'a [Value],
    after: bool,
    binds: &mut Vec<(&'a Value, &'a Column)>,
) -> Option<String> {
    let n = keys.len().min(bound.len());
    let mut ors = Vec::new();
    for i in 0..n {
        let mut ands = Vec::new();
        for j in 0..i {
            let p = push_bind(d, binds, &bound[j], &keys[j]);
            ands.push(format!("{} = {p}", d.key_expr(&keys[j])));
        }
        let p = push_bind(d, binds, &bound[i], &keys[i]);
        let op = if after { ">" } else { "<" };
        ands.push(format!("{} {op} {p}", d.key_expr(&keys[i])));
        ors.push(format!("({})", ands.join(" AND ")));
    }
    if !after && n > 0 {
        let mut ands = Vec::new();
        for j in 0..n {
            let p = push_bind(d, binds, &bound[j], &keys[j]);
            ands.push(format!("{} = {p}", d.key_expr(&keys[j])));
        }
        ors.push(format!("({})", ands.join(" AND ")));
    }
    (!ors.is_empty()).then(|| format!("({})", ors.join(" OR ")))
}

/// The conditions of a scan: the plan's filter, the slice of the key space
/// (after `after`, up to `shape.upto`) and the watermark (`shape.above`).
fn scan_conditions<'a>(
    d: &dyn Dialect,
    shape: &'a Shape,
    after: Option<&'a [Value]>,
    binds: &mut Vec<(&'a Value, &'a Column)>,
) -> Vec<String> {
    let mut conds = Vec::new();
    if let Some(f) = &shape.filter {
        conds.push(format!("({f})"));
    }
    let keys = shape.key_columns();
    if let Some(after) = after {
        conds.extend(key_bound(d, keys, after, true, binds));
    }
    if let Some(upto) = &shape.upto {
        conds.extend(key_bound(d, keys, upto, false, binds));
    }
    if let Some((i, v)) = &shape.above {
        if let Some(c) = shape.columns.get(*i) {
            let p = push_bind(d, binds, v, c);
            conds.push(format!("{} > {p}", d.quote(&c.name)));
        }
    }
    conds
}

/// `SELECT cols FROM t WHERE (filter) AND key > after [AND key <= upto]
/// [AND watermark > w] ORDER BY key`.
pub fn scan_sql<'a>(
    d: &dyn Dialect,
    shape: &'a Shape,
    after: Option<&'a [Value]>,
) -> Statement<'a> {
    let cols: Vec<String> = shape.columns.iter().map(|c| d.select_expr(c)).collect();
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), d.table(&shape.table));
    let mut binds = Vec::new();
    let conds = scan_conditions(d, shape, after, &mut binds);
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    let order: Vec<String> = shape.key_columns().iter().map(|c| d.key_expr(c)).collect();
    sql.push_str(" ORDER BY ");
    sql.push_str(&order.join(", "));
    Statement { sql, binds }
}

/// `SELECT keys FROM t WHERE (filter) AND key > after ORDER BY key LIMIT 1
/// OFFSET n-1`: the key of the `n`th row after `after` (the same syntax on
/// the three engines). `upto` and `above` do not apply.
pub fn key_at_sql<'a>(
    d: &dyn Dialect,
    shape: &'a Shape,
    after: Option<&'a [Value]>,
    n: u64,
) -> Statement<'a> {
    let keys = shape.key_columns();
    let cols: Vec<String> = keys.iter().map(|c| d.select_expr(c)).collect();
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), d.table(&shape.table));
    let mut binds = Vec::new();
    let mut conds = Vec::new();
    if let Some(f) = &shape.filter {
        conds.push(format!("({f})"));
    }
    if let Some(after) = after {
        conds.extend(key_bound(d, keys, after, true, &mut binds));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    let order: Vec<String> = keys.iter().map(|c| d.key_expr(c)).collect();
    sql.push_str(&format!(
        " ORDER BY {} LIMIT 1 OFFSET {}",
        order.join(", "),
        n.saturating_sub(1)
    ));
    Statement { sql, binds }
}

/// `SELECT MAX(col) FROM t WHERE (filter)`.
pub fn max_sql<'a>(d: &dyn Dialect, shape: &'a Shape, column: &'a Column) -> Statement<'a> {
    let mut sql = format!(
        "SELECT MAX({}) FROM {}",
        d.quote(&column.name),
        d.table(&shape.table)
    );
    if let Some(f) = &shape.filter {
        sql.push_str(&format!(" WHERE ({f})"));
    }
    Statement {
        sql,
        binds: Vec::new(),
    }
}

/// `(k1, k2) IN ((..), ..)` (or `k IN (..)`), binding the keys.
fn key_in<'a>(
    d: &dyn Dialect,
    shape: &'a Shape,
    keys: &'a [Row],
    binds: &mut Vec<(&'a Value, &'a Column)>,
    exact: bool,
) -> String {
    let kcols = shape.key_columns();
    let tuples: Vec<String> = keys
        .iter()
        .map(|k| {
            let ps: Vec<String> = kcols
                .iter()
                .zip(k.iter())
                .map(|(c, v)| push_bind(d, binds, v, c))
                .collect();
            if ps.len() == 1 {
                ps.join("")
            } else {
                format!("({})", ps.join(", "))
            }
        })
        .collect();
    let lhs: Vec<String> = kcols
        .iter()
        .map(|c| {
            if exact {
                d.key_expr(c)
            } else {
                d.quote(&c.name)
            }
        })
        .collect();
    let lhs = if lhs.len() == 1 {
        lhs.join("")
    } else {
        format!("({})", lhs.join(", "))
    };
    format!("{lhs} IN ({})", tuples.join(", "))
}

/// `SELECT cols FROM t WHERE (k1, k2) IN ((..), ..) AND (filter)`. Key
/// columns are compared plainly (so indexes are used); the caller matches
/// the rows to its keys exactly.
pub fn fetch_sql<'a>(d: &dyn Dialect, shape: &'a Shape, keys: &'a [Row]) -> Statement<'a> {
    let cols: Vec<String> = shape.columns.iter().map(|c| d.select_expr(c)).collect();
    let mut binds = Vec::new();
    let cond = key_in(d, shape, keys, &mut binds, false);
    let mut sql = format!(
        "SELECT {} FROM {} WHERE {cond}",
        cols.join(", "),
        d.table(&shape.table),
    );
    if let Some(f) = &shape.filter {
        sql.push_str(&format!(" AND ({f})"));
    }
    Statement { sql, binds }
}

/// `DELETE FROM t WHERE (k1, k2) IN (...)` (the filter does not apply: the
/// keys were chosen within it).
pub fn delete_sql<'a>(d: &dyn Dialect, shape: &'a Shape, keys: &'a [Row]) -> Statement<'a> {
    let mut binds = Vec::new();
    let mut cond = key_in(d, shape, keys, &mut binds, false);
    if shape.key_columns().iter().any(|c| c.kind.is_text()) {
        // Plain equality may ignore case or trailing spaces (MySQL
        // collations): the exact comparison makes sure only these rows go.
        cond = format!("{cond} AND {}", key_in(d, shape, keys, &mut binds, true));
    }
    Statement {
        sql: format!("DELETE FROM {} WHERE {cond}", d.table(&shape.table)),
        binds,
    }
}

/// `INSERT INTO t (cols) VALUES (..), (..)` — the engines add their own
/// conflict clause.
pub fn insert_sql<'a>(d: &dyn Dialect, shape: &'a Shape, rows: &'a [Row]) -> Statement<'a> {
    let cols: Vec<String> = shape.columns.iter().map(|c| d.quote(&c.name)).collect();
    let mut binds = Vec::new();
    let tuples: Vec<String> = rows
        .iter()
        .map(|r| {
            let ps: Vec<String> = shape
                .columns
                .iter()
                .zip(r.iter())
                .map(|(c, v)| push_bind(d, &mut binds, v, c))
                .collect();
            format!("({})", ps.join(", "))
        })
        .collect();
    Statement {
        sql: format!(
            "INSERT INTO {} ({}) VALUES {}",
            d.table(&shape.table),
            cols.join(", "),
            tuples.join(", ")
        ),
        binds,
    }
}

/// How long a scan waits for its first row (a sort may come first) and
/// then for each next one before taking the connection for dead.
pub fn scan_timeouts(ctx: &CallCtx) -> (Duration, Duration) {
    (
        ctx.timeout.max(Duration::from_secs(1)) * 30,
        ctx.timeout.max(Duration::from_secs(1)) * 3,
    )
}

/// A value that cannot go into a column.
pub fn cannot_write(ctx: &CallCtx, value: &Value, column: &Column) -> ProviderError {
    ctx.error(
        Failure::Rejected,
        format!("writing column {} ({})", column.name, column.ty),
        format!("a {} value does not fit", value.type_name()),
    )
}

/// A query for the engine `DB`, its values bound one by one.
pub type SqlQuery<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

/// What differs from one SQL engine to the next: its driver, how values are
/// bound and read back with their real types, its catalog, and its upsert
/// clause. [`SqlDb`] builds the rest of [`Database`] on it (scans, reads by
/// key, batched writes), the same for every engine.
#[async_trait]
pub trait Engine: Dialect + Sized + Send + Sync + 'static {
    type Db: sqlx::Database + Sync;

    /// The engine's limit of bound parameters per statement.
    const MAX_PARAMS: usize;

    /// Bind `value`, on its way into `column`.
    fn bind<'q>(
        ctx: &CallCtx,
        q: SqlQuery<'q, Self::Db>,
        value: &Value,
        column: &Column,
    ) -> Result<SqlQuery<'q, Self::Db>, ProviderError>;

    /// The `i`th value of `row`, read as `column` means it.
    fn decode(
        row: &<Self::Db as sqlx::Database>::Row,
        i: usize,
        column: &Column,
    ) -> Result<Value, sqlx::Error>;

    fn rows_affected(result: &<Self::Db as sqlx::Database>::QueryResult) -> u64;

    /// What follows `INSERT INTO t (cols) VALUES ...` to make it an upsert:
    /// by default `ON CONFLICT (keys) DO UPDATE SET` every other column.
    fn on_conflict(&self, shape: &Shape) -> String {
        let keys: Vec<String> = shape
            .key_columns()
            .iter()
            .map(|c| self.quote(&c.name))
            .collect();
        let sets: Vec<String> = shape.columns[shape.keys.min(shape.columns.len())..]
            .iter()
            .map(|c| format!("{0} = excluded.{0}", self.quote(&c.name)))
            .collect();
        if sets.is_empty() {
            format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
        } else {
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                sets.join(", ")
            )
        }
    }

    /// The table's columns as the catalog has them, in order (none when
    /// there is no such table).
    async fn columns(
        db: &SqlDb<Self>,
        table: &TableName,
        doing: &str,
    ) -> Result<Vec<Column>, ProviderError>;

    /// See [`Database::estimate_rows`].
    async fn estimate_rows(
        db: &SqlDb<Self>,
        table: &TableName,
        doing: &str,
    ) -> Result<Option<u64>, ProviderError>;
}

/// A database reached through sqlx: the provider's call settings, a small
/// pool of connections, and the engine for what is particular to it.
pub struct SqlDb<E: Engine> {
    pub ctx: CallCtx,
    pub pool: sqlx::Pool<E::Db>,
    pub engine: E,
}

/// The pool every engine uses: a few connections, each waited for at most
/// the provider's timeout.
pub fn pool_options<DB: sqlx::Database>(ctx: &CallCtx) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ctx.timeout)
}

/// Open one connection and close it, so that a refused or failing
/// connection is reported as it is (a pool would keep retrying until its
/// timeout); the pool then opens its connections as needed.
pub async fn probe<C: sqlx::Connection>(
    ctx: &CallCtx,
    doing: &str,
    opts: &C::Options,
) -> Result<(), ProviderError> {
    ctx.call(doing, true, || async {
        let conn = C::connect_with(opts)
            .await
            .map_err(|e| db_error(ctx, doing, &e))?;
        let _ = conn.close().await;
        Ok(())
    })
    .await
}

impl<E: Engine> SqlDb<E>
where
    for<'c> &'c mut <E::Db as sqlx::Database>::Connection: sqlx::Executor<'c, Database = E::Db>,
    for<'q> <E::Db as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, E::Db>,
{
    fn query<'q>(&self, st: &'q Statement<'_>) -> Result<SqlQuery<'q, E::Db>, ProviderError> {
        st.binds.iter().try_fold(sqlx::query(&st.sql), |q, (v, c)| {
            E::bind(&self.ctx, q, v, c)
        })
    }

    fn decode_row(
        &self,
        row: &<E::Db as sqlx::Database>::Row,
        columns: &[Column],
    ) -> Result<Row, ProviderError> {
        let mut out = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            let v = E::decode(row, i, c).map_err(|e| {
                self.ctx.error(
                    Failure::Garbage,
                    format!("reading column {} ({})", c.name, c.ty),
                    e.to_string(),
                )
            })?;
            out.push(v);
        }
        Ok(out)
    }

    async fn rows(
        &self,
        doing: &str,
        st: Statement<'_>,
        shape: &Shape,
    ) -> Result<Vec<Row>, ProviderError> {
        let rows = self
            .query(&st)?
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(&self.ctx, doing, &e))?;
        rows.iter()
            .map(|r| self.decode_row(r, &shape.columns))
            .collect()
    }

    /// One statement per part of `items` (`per` each), all in one
    /// transaction, retried as a whole (the statements are absolute).
    /// Returns the rows affected.
    async fn write<'a>(
        &self,
        doing: &str,
        items: &'a [Row],
        per: usize,
        statement: impl Fn(&'a [Row]) -> Statement<'a> + Sync,
    ) -> Result<u64, ProviderError> {
        if items.is_empty() {
            return Ok(0);
        }
        self.ctx
            .call(doing, true, || async {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| db_error(&self.ctx, doing, &e))?;
                let mut n = 0;
                for part in items.chunks(per) {
                    let st = statement(part);
                    let done = self
                        .query(&st)?
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error(&self.ctx, doing, &e))?;
                    n += E::rows_affected(&done);
                }
                tx.commit()
                    .await
                    .map_err(|e| db_error(&self.ctx, doing, &e))?;
                Ok(n)
            })
            .await
    }
}

#[async_trait]
impl<E: Engine> Database for SqlDb<E>
where
    for<'c> &'c mut <E::Db as sqlx::Database>::Connection: sqlx::Executor<'c, Database = E::Db>,
    for<'q> <E::Db as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, E::Db>,
{
    fn ctx(&self) -> &CallCtx {
        &self.ctx
    }

    async fn columns(&self, table: &TableName) -> Result<Vec<Column>, ProviderError> {
        let doing = format!("reading the columns of {table}");
        let columns = E::columns(self, table, &doing).await?;
        if columns.is_empty() {
            return Err(self.ctx.error(
                Failure::Rejected,
                &doing,
                format!("there is no table {table} (or it has no columns)"),
            ));
        }
        Ok(columns)
    }

    async fn estimate_rows(&self, table: &TableName) -> Result<Option<u64>, ProviderError> {
        let doing = format!("estimating the rows of {table}");
        E::estimate_rows(self, table, &doing).await
    }

    async fn scan(
        &self,
        shape: &Shape,
        after: Option<&[Value]>,
        sink: &mut RowSink,
    ) -> Result<(), ProviderError> {
        let doing = format!("reading {}", shape.table);
        let st = scan_sql(&self.engine, shape, after);
        let mut rows = self.query(&st)?.fetch(&self.pool);
        let (first, next) = scan_timeouts(&self.ctx);
        let mut wait = first;
        loop {
            // A row already received is taken without arming a timer (one
            // per row costs more than decoding it).
            let item = match rows.next().now_or_never() {
                Some(item) => item,
                None => tokio::time::timeout(wait, rows.next()).await.map_err(|_| {
                    self.ctx.error(
                        Failure::Transient,
                        &doing,
                        format!("no row within {wait:?}"),
                    )
                })?,
            };
            wait = next;
            let Some(row) = item else { break };
            let row = row.map_err(|e| db_error(&self.ctx, &doing, &e))?;
            if !sink.push(self.decode_row(&row, &shape.columns)?).await {
                return Ok(());
            }
        }
        sink.flush().await;
        Ok(())
    }

    async fn fetch(&self, shape: &Shape, keys: &[Row]) -> Result<Vec<Row>, ProviderError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let doing = format!("reading {} rows of {} by key", keys.len(), shape.table);
        let per = rows_per_statement(shape.keys, E::MAX_PARAMS, keys.len());
        let mut out = Vec::new();
        for part in keys.chunks(per) {
            let rows = self
                .ctx
                .call(&doing, true, || {
                    self.rows(&doing, fetch_sql(&self.engine, shape, part), shape)
                })
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    fn unwritable(&self, shape: &Shape, row: &[Value]) -> Option<(usize, ProviderError)> {
        row.iter()
            .zip(&shape.columns)
            .enumerate()
            .find_map(|(i, (v, c))| {
                E::bind(&self.ctx, sqlx::query(""), v, c)
                    .err()
                    .map(|e| (i, e))
            })
    }

    async fn key_at(
        &self,
        shape: &Shape,
        after: Option<&[Value]>,
        n: u64,
    ) -> Result<Option<Row>, ProviderError> {
        let doing = format!("finding the end of a slice of {}", shape.table);
        let keys = Shape {
            columns: shape.key_columns().to_vec(),
            after: None,
            upto: None,
            above: None,
            ..shape.clone()
        };
        let rows = self
            .ctx
            .call(&doing, true, || {
                self.rows(&doing, key_at_sql(&self.engine, &keys, after, n), &keys)
            })
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn max_of(&self, shape: &Shape, column: usize) -> Result<Option<Value>, ProviderError> {
        let Some(c) = shape.columns.get(column) else {
            return Ok(None);
        };
        let doing = format!("reading the highest {} of {}", c.name, shape.table);
        let one = Shape {
            columns: vec![c.clone()],
            keys: 0,
            after: None,
            upto: None,
            above: None,
            ..shape.clone()
        };
        let rows = self
            .ctx
            .call(&doing, true, || {
                self.rows(&doing, max_sql(&self.engine, &one, c), &one)
            })
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .filter(|v| !v.is_null()))
    }

    async fn upsert(&self, shape: &Shape, rows: &[Row]) -> Result<u64, ProviderError> {
        let doing = format!("writing {} rows into {}", rows.len(), shape.table);
        let conflict = self.engine.on_conflict(shape);
        let per = rows_per_statement(shape.columns.len(), E::MAX_PARAMS, rows.len());
        self.write(&doing, rows, per, |part| {
            let mut st = insert_sql(&self.engine, shape, part);
            st.sql.push_str(&conflict);
            st
        })
        .await
    }

    async fn delete(&self, shape: &Shape, keys: &[Row]) -> Result<u64, ProviderError> {
        let doing = format!("deleting {} rows from {}", keys.len(), shape.table);
        let per = rows_per_statement(shape.keys * 2, E::MAX_PARAMS, keys.len());
        self.write(&doing, keys, per, |part| {
            delete_sql(&self.engine, shape, part)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pg;
    impl Dialect for Pg {
        fn quote(&self, ident: &str) -> String {
            double_quote(ident)
        }
        fn param(&self, n: usize, _c: &Column) -> String {
            format!("${n}")
        }
        fn key_expr(&self, c: &Column) -> String {
            self.quote(&c.name)
        }
    }

    fn col(name: &str) -> Column {
        Column {
            name: name.into(),
            ty: "bigint".into(),
            kind: Kind::Int,
        }
    }

    #[test]
    fn url_passwords_are_never_shown() {
        let t =
            crate::plan::Text::literal("postgres://app:hunter2@db:5432/payments?sslmode=require");
        assert_eq!(
            url_label(&t),
            "postgres://app:***@db:5432/payments?sslmode=require"
        );
        let t = crate::plan::Text::literal("mysql://root@127.0.0.1:3306/legacy");
        assert_eq!(url_label(&t), "mysql://root@127.0.0.1:3306/legacy");
    }

    #[test]
    fn table_names() {
        assert_eq!(
            TableName::parse("public.payments"),
            TableName {
                schema: Some("public".into()),
                name: "payments".into()
            }
        );
        assert_eq!(TableName::parse("payments").schema, None);
        assert_eq!(
            TableName::parse("\"a.b\".\"c\"").schema.as_deref(),
            Some("a.b")
        );
        assert_eq!(TableName::parse("`x`").name, "x");
    }

    #[test]
    fn scans_resume_after_a_composite_key() {
        let shape = Shape {
            table: TableName::parse("s.t"),
            columns: vec![col("a"), col("b"), col("v")],
            keys: 2,
            filter: Some("v > 0".into()),
            after: None,
            upto: None,
            above: None,
        };
        let after = [Value::Int(1), Value::Int(2)];
        let st = scan_sql(&Pg, &shape, Some(&after));
        assert_eq!(
            st.sql,
            "SELECT \"a\", \"b\", \"v\" FROM \"s\".\"t\" WHERE (v > 0) AND ((\"a\" > $1) OR (\"a\" = $2 AND \"b\" > $3)) ORDER BY \"a\", \"b\""
        );
        assert_eq!(st.binds.len(), 3);
        let keys = vec![vec![Value::Int(1), Value::Int(2)]];
        let f = fetch_sql(&Pg, &shape, &keys);
        assert_eq!(
            f.sql,
            "SELECT \"a\", \"b\", \"v\" FROM \"s\".\"t\" WHERE (\"a\", \"b\") IN (($1, $2)) AND (v > 0)"
        );
        let d = delete_sql(&Pg, &shape, &keys);
        assert_eq!(
            d.sql,
            "DELETE FROM \"s\".\"t\" WHERE (\"a\", \"b\") IN (($1, $2))"
        );
    }

    #[test]
    fn slices_and_watermarks_bound_a_scan() {
        let shape = Shape {
            table: TableName::parse("t"),
            columns: vec![col("a"), col("b"), col("w")],
            keys: 2,
            filter: None,
            after: None,
            upto: Some(vec![Value::Int(5), Value::Int(6)]),
            above: Some((2, Value::Int(100))),
        };
        let after = [Value::Int(1), Value::Int(2)];
        let st = scan_sql(&Pg, &shape, Some(&after));
        assert_eq!(
            st.sql,
            "SELECT \"a\", \"b\", \"w\" FROM \"t\" WHERE ((\"a\" > $1) OR (\"a\" = $2 AND \"b\" > $3)) \
             AND ((\"a\" < $4) OR (\"a\" = $5 AND \"b\" < $6) OR (\"a\" = $7 AND \"b\" = $8)) \
             AND \"w\" > $9 ORDER BY \"a\", \"b\""
        );
        let bound: Vec<String> = st.binds.iter().map(|(v, _)| v.to_string()).collect();
        assert_eq!(bound, ["1", "1", "2", "5", "5", "6", "5", "6", "100"]);
        let k = key_at_sql(&Pg, &shape, Some(&after[..1]), 1000);
        assert_eq!(
            k.sql,
            "SELECT \"a\", \"b\" FROM \"t\" WHERE ((\"a\" > $1)) ORDER BY \"a\", \"b\" LIMIT 1 OFFSET 999"
        );
        let m = max_sql(&Pg, &shape, &shape.columns[2]);
        assert_eq!(m.sql, "SELECT MAX(\"w\") FROM \"t\"");
    }

    #[test]
    fn chunks_are_dated_by_the_first_row_of_their_read() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(16);
            let mut sink = RowSink::new(tx, 2, 1);
            let row = |k: i128| vec![Value::Int(k), Value::Null];
            sink.begin();
            let before = Instant::now();
            for k in 1..=3 {
                assert!(sink.push(row(k)).await);
            }
            let after = Instant::now();
            assert!(sink.end().await);
            let a = rx.recv().await.unwrap();
            let b = rx.recv().await.unwrap();
            assert_eq!((a.rows.len(), b.rows.len()), (2, 1));
            assert!(a.snapshot >= before && a.snapshot <= after);
            assert_eq!(a.snapshot, b.snapshot, "one read, one snapshot");
            // A resumed read that finds nothing more says so, dated by
            // its own end.
            sink.begin();
            let resumed = Instant::now();
            assert!(sink.end().await);
            let c = rx.recv().await.unwrap();
            assert!(c.rows.is_empty());
            assert!(c.snapshot >= resumed);
            assert_eq!(sink.resume_after(), Some(vec![Value::Int(3)]));
            drop(sink);
            assert!(rx.recv().await.is_none());
        });
    }

    #[test]
    fn statements_stay_under_the_parameter_limit() {
        assert_eq!(rows_per_statement(7, 65535, 1000), 1000);
        assert_eq!(rows_per_statement(100, 32766, 1000), 327);
        assert_eq!(rows_per_statement(100_000, 10, 1000), 1);
    }
}
