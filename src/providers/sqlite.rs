//! SQLite files as a reconciliation source or target.
//!
//! SQLite stores each value with its own storage class (integer, real,
//! text, blob); the column's declared type says what it means. A column
//! declared `TIMESTAMP` holding the text `2024-05-01 10:00:00.123456` is a
//! timestamp, `DECIMAL(10,2)` holding `1.5` is the decimal 1.5, `UUID`
//! holding text or 16 bytes is a UUID, `BOOLEAN` holding 1 is true. Text
//! keys are ordered `COLLATE BINARY` (by bytes).

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};

use super::db::{
    cannot_write, db_error, delete_sql, fetch_sql, insert_sql, rows_per_statement, scan_sql,
    scan_timeouts, Column, Database, Dialect, Kind, RowSink, Shape, Statement, TableName,
};
use super::{CallCtx, Failure, ProviderError};
use crate::plan::Text;
use crate::reconcile::value::{float_decimal, parse_decimal, parse_timestamp, Row, Value};

/// SQLite's default limit of bound parameters (since 3.32).
const MAX_PARAMS: usize = 32_766;

pub struct Sqlite {
    ctx: CallCtx,
    pool: SqlitePool,
}

impl Sqlite {
    pub async fn connect(ctx: CallCtx, path: &Text) -> Result<Self, ProviderError> {
        let doing = format!("opening {path}");
        let file = path.expose();
        let file = file.strip_prefix("sqlite://").unwrap_or(file);
        if !std::path::Path::new(file).exists() {
            return Err(ctx.error(Failure::Rejected, &doing, "no such file"));
        }
        let opts = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(false)
            .busy_timeout(ctx.timeout.max(Duration::from_secs(1)));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ctx.timeout)
            .connect_with(opts)
            .await
            .map_err(|e| db_error(&ctx, &doing, &e))?;
        Ok(Self { ctx, pool })
    }

    async fn rows(
        &self,
        doing: &str,
        st: Statement<'_>,
        shape: &Shape,
    ) -> Result<Vec<Row>, ProviderError> {
        let q = bind_all(&self.ctx, sqlx::query(&st.sql), &st.binds)?;
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(&self.ctx, doing, &e))?;
        rows.iter()
            .map(|r| decode_row(&self.ctx, r, &shape.columns))
            .collect()
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl Dialect for Sqlite {
    fn quote(&self, ident: &str) -> String {
        quote(ident)
    }

    fn param(&self, n: usize, _column: &Column) -> String {
        format!("?{n}")
    }

    fn key_expr(&self, column: &Column) -> String {
        match column.kind {
            k if k.is_text() || k == Kind::Uuid => {
                format!("({} COLLATE BINARY)", quote(&column.name))
            }
            _ => quote(&column.name),
        }
    }
}

/// What a declared type means (SQLite's affinity rules, plus the names
/// people use for dates, UUIDs and booleans).
fn kind_of(declared: &str) -> Kind {
    let t = declared.to_ascii_uppercase();
    let has = |s: &str| t.contains(s);
    if has("BOOL") {
        Kind::Bool
    } else if has("TIMESTAMP") || has("DATETIME") {
        Kind::Timestamp
    } else if t.starts_with("DATE") {
        Kind::Date
    } else if t.starts_with("TIME") {
        Kind::Time
    } else if has("UUID") {
        Kind::Uuid
    } else if has("JSON") {
        Kind::Json
    } else if has("INT") {
        Kind::Int
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        Kind::Text
    } else if has("BLOB") {
        Kind::Bytes
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        Kind::Float
    } else if has("DEC") || has("NUMERIC") {
        Kind::Decimal
    } else {
        Kind::Other
    }
}

fn decode_row(ctx: &CallCtx, row: &SqliteRow, columns: &[Column]) -> Result<Row, ProviderError> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        out.push(decode(row, i, c).map_err(|e| {
            ctx.error(
                Failure::Garbage,
                format!("reading column {} ({})", c.name, c.ty),
                e.to_string(),
            )
        })?);
    }
    Ok(out)
}

/// The value as stored, then read as the declared type means it.
fn decode(row: &SqliteRow, i: usize, c: &Column) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let stored = match raw.type_info().name() {
        "INTEGER" => Value::Int(row.try_get_unchecked::<i64, _>(i)?.into()),
        "REAL" => Value::Float(row.try_get_unchecked::<f64, _>(i)?),
        "BLOB" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i)?),
        _ => Value::Text(row.try_get_unchecked::<String, _>(i)?),
    };
    Ok(match (c.kind, stored) {
        (Kind::Bool, Value::Int(i @ (0 | 1))) => Value::Bool(i == 1),
        (Kind::Decimal, Value::Float(f)) => {
            float_decimal(f).map_or(Value::Float(f), Value::Decimal)
        }
        (Kind::Decimal, Value::Text(t)) => parse_decimal(&t).map_or(Value::Text(t), Value::Decimal),
        (Kind::Float, Value::Int(i)) => Value::Float(i as f64),
        (Kind::Timestamp, Value::Text(t)) => {
            parse_timestamp(&t).map_or(Value::Text(t), Value::Timestamp)
        }
        (Kind::Timestamp, Value::Int(secs)) => i64::try_from(secs)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map_or(Value::Int(secs), |t| Value::Timestamp(t.naive_utc())),
        (k @ (Kind::Date | Kind::Time | Kind::Uuid | Kind::Json), Value::Text(t)) => {
            let v = Value::Text(t);
            v.coerce(k).unwrap_or(v)
        }
        (Kind::Uuid, Value::Bytes(b)) if b.len() == 16 => {
            let v = Value::Bytes(b);
            v.coerce(Kind::Uuid).unwrap_or(v)
        }
        (_, v) => v,
    })
}

type LiteQuery<'q> = Query<'q, sqlx::Sqlite, SqliteArguments<'q>>;

fn bind_all<'q>(
    ctx: &CallCtx,
    mut q: LiteQuery<'q>,
    binds: &[(&Value, &Column)],
) -> Result<LiteQuery<'q>, ProviderError> {
    for (v, c) in binds {
        q = bind(ctx, q, v, c)?;
    }
    Ok(q)
}

fn bind<'q>(
    ctx: &CallCtx,
    q: LiteQuery<'q>,
    v: &Value,
    c: &Column,
) -> Result<LiteQuery<'q>, ProviderError> {
    // Values of a column's stored kind go in as they are (a key read from
    // this file must be bound as it was stored to be found again).
    let value = match c.kind {
        Kind::Other => v.clone(),
        k => v.coerce(k).ok_or_else(|| cannot_write(ctx, v, c))?,
    };
    let bad = || cannot_write(ctx, v, c);
    Ok(match value {
        Value::Null => q.bind(None::<String>),
        Value::Bool(b) => q.bind(i64::from(b)),
        Value::Int(i) => q.bind(i64::try_from(i).map_err(|_| bad())?),
        Value::Float(f) => q.bind(f),
        Value::Bytes(b) => q.bind(b),
        Value::Text(t) => q.bind(t),
        other => q.bind(other.to_string()),
    })
}

#[async_trait]
impl Database for Sqlite {
    fn ctx(&self) -> &CallCtx {
        &self.ctx
    }

    async fn columns(&self, table: &TableName) -> Result<Vec<Column>, ProviderError> {
        let doing = format!("reading the columns of {table}");
        let sql = match &table.schema {
            Some(_) => "SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid",
            None => "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid",
        };
        let mut q = sqlx::query(sql).bind(table.name.clone());
        if let Some(s) = &table.schema {
            q = q.bind(s.clone());
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(&self.ctx, &doing, &e))?;
        if rows.is_empty() {
            return Err(self.ctx.error(
                Failure::Rejected,
                &doing,
                format!("there is no table {table} (or it has no columns)"),
            ));
        }
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0).map_err(|e| db_error(&self.ctx, &doing, &e))?;
                let ty: String = r.try_get(1).map_err(|e| db_error(&self.ctx, &doing, &e))?;
                Ok(Column {
                    name,
                    kind: kind_of(&ty),
                    ty,
                })
            })
            .collect()
    }

    async fn estimate_rows(&self, _table: &TableName) -> Result<Option<u64>, ProviderError> {
        Ok(None)
    }

    async fn scan(
        &self,
        shape: &Shape,
        after: Option<&[Value]>,
        sink: &mut RowSink,
    ) -> Result<(), ProviderError> {
        let doing = format!("reading {}", shape.table);
        let st = scan_sql(self, shape, after);
        let q = bind_all(&self.ctx, sqlx::query(&st.sql), &st.binds)?;
        let mut rows = q.fetch(&self.pool);
        let (first, next) = scan_timeouts(&self.ctx);
        let mut wait = first;
        loop {
            let item = tokio::time::timeout(wait, rows.next()).await.map_err(|_| {
                self.ctx.error(
                    Failure::Transient,
                    &doing,
                    format!("no row within {wait:?}"),
                )
            })?;
            wait = next;
            let Some(row) = item else { break };
            let row = row.map_err(|e| db_error(&self.ctx, &doing, &e))?;
            if !sink
                .push(decode_row(&self.ctx, &row, &shape.columns)?)
                .await
            {
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
        let per = rows_per_statement(shape.keys, MAX_PARAMS, keys.len());
        let mut out = Vec::new();
        for part in keys.chunks(per) {
            let rows = self
                .ctx
                .call(&doing, true, || {
                    self.rows(&doing, fetch_sql(self, shape, part), shape)
                })
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    async fn upsert(&self, shape: &Shape, rows: &[Row]) -> Result<u64, ProviderError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let doing = format!("writing {} rows into {}", rows.len(), shape.table);
        let keys: Vec<String> = shape.key_columns().iter().map(|c| quote(&c.name)).collect();
        let sets: Vec<String> = shape.columns[shape.keys..]
            .iter()
            .map(|c| format!("{0} = excluded.{0}", quote(&c.name)))
            .collect();
        let conflict = if sets.is_empty() {
            format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
        } else {
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                sets.join(", ")
            )
        };
        let per = rows_per_statement(shape.columns.len(), MAX_PARAMS, rows.len());
        self.ctx
            .call(&doing, true, || async {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| db_error(&self.ctx, &doing, &e))?;
                let mut n = 0;
                for part in rows.chunks(per) {
                    let st = insert_sql(self, shape, part);
                    let sql = format!("{}{conflict}", st.sql);
                    let q = bind_all(&self.ctx, sqlx::query(&sql), &st.binds)?;
                    n += q
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error(&self.ctx, &doing, &e))?
                        .rows_affected();
                }
                tx.commit()
                    .await
                    .map_err(|e| db_error(&self.ctx, &doing, &e))?;
                Ok(n)
            })
            .await
    }

    async fn delete(&self, shape: &Shape, keys: &[Row]) -> Result<u64, ProviderError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let doing = format!("deleting {} rows from {}", keys.len(), shape.table);
        let per = rows_per_statement(shape.keys * 2, MAX_PARAMS, keys.len());
        self.ctx
            .call(&doing, true, || async {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| db_error(&self.ctx, &doing, &e))?;
                let mut n = 0;
                for part in keys.chunks(per) {
                    let st = delete_sql(self, shape, part);
                    let q = bind_all(&self.ctx, sqlx::query(&st.sql), &st.binds)?;
                    n += q
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error(&self.ctx, &doing, &e))?
                        .rows_affected();
                }
                tx.commit()
                    .await
                    .map_err(|e| db_error(&self.ctx, &doing, &e))?;
                Ok(n)
            })
            .await
    }
}
