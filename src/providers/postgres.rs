//! PostgreSQL as a reconciliation source or target.
//!
//! Sessions run in UTC; values are read in the binary protocol with their
//! real types (`numeric` as an exact decimal, `timestamptz` as an instant,
//! `uuid` as 16 bytes). Text keys are ordered `COLLATE "C"` (by bytes), so
//! the order does not depend on the database's locale.

use std::str::FromStr;

use async_trait::async_trait;
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures_util::StreamExt;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::Row as _;
use uuid::Uuid;

use super::db::{
    cannot_write, db_error, delete_sql, fetch_sql, insert_sql, rows_per_statement, scan_sql,
    scan_timeouts, Column, Database, Dialect, Kind, RowSink, Shape, Statement, TableName,
};
use super::{CallCtx, Failure, ProviderError};
use crate::plan::Text;
use crate::reconcile::value::{Row, Value};

/// PostgreSQL's limit of bound parameters per statement.
const MAX_PARAMS: usize = 65_535;

pub struct Postgres {
    ctx: CallCtx,
    pool: PgPool,
}

impl Postgres {
    pub async fn connect(ctx: CallCtx, url: &Text) -> Result<Self, ProviderError> {
        let doing = format!("connecting to {}", super::db::url_label(url));
        let opts = PgConnectOptions::from_str(url.expose())
            .map_err(|e| ctx.error(Failure::Rejected, &doing, format!("invalid URL: {e}")))?
            .options([("TimeZone", "UTC"), ("DateStyle", "ISO")])
            .application_name("migrate");
        // One direct connection first, so that a refused or failing
        // connection is reported as it is (the pool would keep retrying until
        // its timeout); the pool then opens its connections as needed.
        ctx.call(&doing, true, || {
            let opts = opts.clone();
            let ctx = ctx.clone();
            let doing = doing.clone();
            async move {
                let conn = <sqlx::postgres::PgConnection as sqlx::Connection>::connect_with(&opts)
                    .await
                    .map_err(|e| db_error(&ctx, &doing, &e))?;
                let _ = sqlx::Connection::close(conn).await;
                Ok(())
            }
        })
        .await?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ctx.timeout)
            .connect_lazy_with(opts);
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

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl Dialect for Postgres {
    fn quote(&self, ident: &str) -> String {
        quote(ident)
    }

    fn param(&self, n: usize, column: &Column) -> String {
        format!("${n}::{}", column.ty)
    }

    fn key_expr(&self, column: &Column) -> String {
        match column.kind {
            Kind::Other => format!("({}::text COLLATE \"C\")", quote(&column.name)),
            k if k.is_text() => format!("({} COLLATE \"C\")", quote(&column.name)),
            _ => quote(&column.name),
        }
    }

    fn select_expr(&self, column: &Column) -> String {
        match column.kind {
            Kind::Other => format!("{}::text", quote(&column.name)),
            _ => quote(&column.name),
        }
    }
}

fn kind_of(typname: &str) -> Kind {
    match typname {
        "bool" => Kind::Bool,
        "int2" | "int4" | "int8" => Kind::Int,
        "numeric" => Kind::Decimal,
        "float4" | "float8" => Kind::Float,
        "text" | "varchar" | "name" => Kind::Text,
        "bpchar" => Kind::Char,
        "bytea" => Kind::Bytes,
        "date" => Kind::Date,
        "time" => Kind::Time,
        "timestamp" => Kind::Timestamp,
        "timestamptz" => Kind::TimestampTz,
        "uuid" => Kind::Uuid,
        "json" | "jsonb" => Kind::Json,
        _ => Kind::Other,
    }
}

fn qualified(t: &TableName) -> String {
    match &t.schema {
        Some(s) => format!("{}.{}", quote(s), quote(&t.name)),
        None => quote(&t.name),
    }
}

fn decode_row(ctx: &CallCtx, row: &PgRow, columns: &[Column]) -> Result<Row, ProviderError> {
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

fn decode(row: &PgRow, i: usize, c: &Column) -> Result<Value, sqlx::Error> {
    fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
        row: &'r PgRow,
        i: usize,
    ) -> Result<Option<T>, sqlx::Error> {
        row.try_get::<Option<T>, _>(i)
    }
    let v = match c.kind {
        Kind::Bool => get::<bool>(row, i)?.map(Value::Bool),
        Kind::Int | Kind::UInt => match c.ty.as_str() {
            "smallint" => get::<i16>(row, i)?.map(|v| Value::Int(v.into())),
            "integer" => get::<i32>(row, i)?.map(|v| Value::Int(v.into())),
            _ => get::<i64>(row, i)?.map(|v| Value::Int(v.into())),
        },
        Kind::Decimal => get::<BigDecimal>(row, i)?.map(Value::Decimal),
        Kind::Float => {
            if c.ty == "real" {
                get::<f32>(row, i)?.map(|v| Value::Float(v.into()))
            } else {
                get::<f64>(row, i)?.map(Value::Float)
            }
        }
        Kind::Text | Kind::Other => get::<String>(row, i)?.map(Value::Text),
        Kind::Char => {
            get::<String>(row, i)?.map(|s| Value::Text(s.trim_end_matches(' ').to_string()))
        }
        Kind::Bytes => get::<Vec<u8>>(row, i)?.map(Value::Bytes),
        Kind::Date => get::<NaiveDate>(row, i)?.map(Value::Date),
        Kind::Time => get::<NaiveTime>(row, i)?.map(Value::Time),
        Kind::Timestamp => get::<NaiveDateTime>(row, i)?.map(Value::Timestamp),
        Kind::TimestampTz => get::<DateTime<Utc>>(row, i)?.map(|t| Value::Timestamp(t.naive_utc())),
        Kind::Uuid => get::<Uuid>(row, i)?.map(Value::Uuid),
        Kind::Json => get::<serde_json::Value>(row, i)?.map(Value::Json),
    };
    Ok(v.unwrap_or(Value::Null))
}

type PgQuery<'q> = Query<'q, sqlx::Postgres, PgArguments>;

fn bind_all<'q>(
    ctx: &CallCtx,
    mut q: PgQuery<'q>,
    binds: &[(&Value, &Column)],
) -> Result<PgQuery<'q>, ProviderError> {
    for (v, c) in binds {
        q = bind(ctx, q, v, c)?;
    }
    Ok(q)
}

fn bind<'q>(
    ctx: &CallCtx,
    q: PgQuery<'q>,
    v: &Value,
    c: &Column,
) -> Result<PgQuery<'q>, ProviderError> {
    let value = v.coerce(c.kind).ok_or_else(|| cannot_write(ctx, v, c))?;
    let bad = || cannot_write(ctx, v, c);
    Ok(match (c.kind, value) {
        (_, Value::Null) => q.bind(None::<String>),
        (_, Value::Bool(b)) => q.bind(b),
        (_, Value::Int(i)) => q.bind(i64::try_from(i).map_err(|_| bad())?),
        (_, Value::Decimal(d)) => q.bind(d),
        (_, Value::Float(f)) => q.bind(f),
        (_, Value::Text(t)) => q.bind(t),
        (_, Value::Bytes(b)) => q.bind(b),
        (_, Value::Date(d)) => q.bind(d),
        (_, Value::Time(t)) => q.bind(t),
        (Kind::TimestampTz, Value::Timestamp(t)) => q.bind(t.and_utc()),
        (_, Value::Timestamp(t)) => q.bind(t),
        (_, Value::Uuid(u)) => q.bind(u),
        (_, Value::Json(j)) => q.bind(j),
    })
}

#[async_trait]
impl Database for Postgres {
    fn ctx(&self) -> &CallCtx {
        &self.ctx
    }

    async fn columns(&self, table: &TableName) -> Result<Vec<Column>, ProviderError> {
        let doing = format!("reading the columns of {table}");
        let sql = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                   t.typname::text \
                   FROM pg_catalog.pg_attribute a \
                   JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                   WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                   ORDER BY a.attnum";
        let name = qualified(table);
        let rows = self
            .ctx
            .call(&doing, true, || async {
                sqlx::query(sql)
                    .bind(&name)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error(&self.ctx, &doing, &e))
            })
            .await?;
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
                let typname: String = r.try_get(2).map_err(|e| db_error(&self.ctx, &doing, &e))?;
                Ok(Column {
                    name,
                    kind: kind_of(&typname),
                    ty,
                })
            })
            .collect()
    }

    async fn estimate_rows(&self, table: &TableName) -> Result<Option<u64>, ProviderError> {
        let doing = format!("estimating the rows of {table}");
        let name = qualified(table);
        let n: Option<f32> = sqlx::query_scalar(
            "SELECT reltuples FROM pg_catalog.pg_class WHERE oid = to_regclass($1)",
        )
        .bind(&name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(&self.ctx, &doing, &e))?;
        Ok(n.filter(|n| *n >= 0.0).map(|n| n as u64))
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
            .map(|c| format!("{0} = EXCLUDED.{0}", quote(&c.name)))
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
