//! MySQL and MariaDB as a reconciliation source or target.
//!
//! Sessions run with `time_zone = '+00:00'`, so TIMESTAMP columns read as
//! UTC instants and DATETIME values as written. Values come in the binary
//! protocol with their real types; DECIMAL as an exact decimal. Text keys
//! are ordered and compared by their bytes (`CAST(k AS BINARY)`), whatever
//! the column's collation: under a case-insensitive collation `'abc'` and
//! `'ABC'` are still different values here.

use std::str::FromStr;

use async_trait::async_trait;
use bigdecimal::BigDecimal;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use futures_util::StreamExt;
use sqlx::mysql::{MySqlArguments, MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::query::Query;
use sqlx::Row as _;

use super::db::{
    cannot_write, db_error, delete_sql, fetch_sql, insert_sql, rows_per_statement, scan_sql,
    scan_timeouts, Column, Database, Dialect, Kind, RowSink, Shape, Statement, TableName,
};
use super::{CallCtx, Failure, ProviderError};
use crate::plan::Text;
use crate::reconcile::value::{Row, Value};

/// The protocol's limit of bound parameters per statement.
const MAX_PARAMS: usize = 65_535;

pub struct Mysql {
    ctx: CallCtx,
    pool: MySqlPool,
}

impl Mysql {
    pub async fn connect(ctx: CallCtx, url: &Text) -> Result<Self, ProviderError> {
        let doing = format!("connecting to {}", super::db::url_label(url));
        let opts = MySqlConnectOptions::from_str(url.expose())
            .map_err(|e| ctx.error(Failure::Rejected, &doing, format!("invalid URL: {e}")))?
            .timezone(Some("+00:00".to_string()))
            .charset("utf8mb4");
        // One direct connection first, so that a refused or failing
        // connection is reported as it is (the pool would keep retrying until
        // its timeout); the pool then opens its connections as needed.
        ctx.call(&doing, true, || {
            let opts = opts.clone();
            let ctx = ctx.clone();
            let doing = doing.clone();
            async move {
                let conn = <sqlx::mysql::MySqlConnection as sqlx::Connection>::connect_with(&opts)
                    .await
                    .map_err(|e| db_error(&ctx, &doing, &e))?;
                let _ = sqlx::Connection::close(conn).await;
                Ok(())
            }
        })
        .await?;
        let pool = MySqlPoolOptions::new()
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

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

impl Dialect for Mysql {
    fn quote(&self, ident: &str) -> String {
        quote(ident)
    }

    fn param(&self, _n: usize, _column: &Column) -> String {
        "?".to_string()
    }

    fn key_expr(&self, column: &Column) -> String {
        match column.kind {
            Kind::Uuid => format!("CAST(CAST({} AS CHAR) AS BINARY)", quote(&column.name)),
            k if k.is_text() => format!("CAST({} AS BINARY)", quote(&column.name)),
            _ => quote(&column.name),
        }
    }

    fn select_expr(&self, column: &Column) -> String {
        match column.kind {
            Kind::Other | Kind::Uuid => format!("CAST({} AS CHAR)", quote(&column.name)),
            _ => quote(&column.name),
        }
    }
}

fn kind_of(data_type: &str, column_type: &str) -> Kind {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    match data_type.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            if unsigned {
                Kind::UInt
            } else {
                Kind::Int
            }
        }
        "decimal" | "numeric" => Kind::Decimal,
        "float" | "double" | "real" => Kind::Float,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            Kind::Text
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Bytes,
        "date" => Kind::Date,
        "time" => Kind::Time,
        "datetime" => Kind::Timestamp,
        "timestamp" => Kind::TimestampTz,
        "uuid" => Kind::Uuid,
        "json" => Kind::Json,
        _ => Kind::Other,
    }
}

fn decode_row(ctx: &CallCtx, row: &MySqlRow, columns: &[Column]) -> Result<Row, ProviderError> {
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

fn text(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

fn decode(row: &MySqlRow, i: usize, c: &Column) -> Result<Value, sqlx::Error> {
    fn get<'r, T: sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>>(
        row: &'r MySqlRow,
        i: usize,
    ) -> Result<Option<T>, sqlx::Error> {
        row.try_get_unchecked::<Option<T>, _>(i)
    }
    let v = match c.kind {
        Kind::Bool | Kind::Int => get::<i64>(row, i)?.map(|v| Value::Int(v.into())),
        Kind::UInt => get::<u64>(row, i)?.map(|v| Value::Int(v.into())),
        Kind::Decimal => get::<BigDecimal>(row, i)?.map(Value::Decimal),
        Kind::Float => get::<f64>(row, i)?.map(Value::Float),
        Kind::Text | Kind::Char | Kind::Other => get::<Vec<u8>>(row, i)?.map(text),
        Kind::Bytes => get::<Vec<u8>>(row, i)?.map(Value::Bytes),
        Kind::Date => get::<NaiveDate>(row, i)?.map(Value::Date),
        Kind::Time => get::<NaiveTime>(row, i)?.map(Value::Time),
        Kind::Timestamp | Kind::TimestampTz => get::<NaiveDateTime>(row, i)?.map(Value::Timestamp),
        Kind::Uuid => get::<Vec<u8>>(row, i)?.map(|b| {
            let t = text(b);
            t.coerce(Kind::Uuid).unwrap_or(t)
        }),
        Kind::Json => get::<Vec<u8>>(row, i)?.map(|b| {
            let t = text(b);
            t.coerce(Kind::Json).unwrap_or(t)
        }),
    };
    Ok(v.unwrap_or(Value::Null))
}

type MyQuery<'q> = Query<'q, sqlx::MySql, MySqlArguments>;

fn bind_all<'q>(
    ctx: &CallCtx,
    mut q: MyQuery<'q>,
    binds: &[(&Value, &Column)],
) -> Result<MyQuery<'q>, ProviderError> {
    for (v, c) in binds {
        q = bind(ctx, q, v, c)?;
    }
    Ok(q)
}

fn bind<'q>(
    ctx: &CallCtx,
    q: MyQuery<'q>,
    v: &Value,
    c: &Column,
) -> Result<MyQuery<'q>, ProviderError> {
    let value = v.coerce(c.kind).ok_or_else(|| cannot_write(ctx, v, c))?;
    let bad = || cannot_write(ctx, v, c);
    Ok(match (c.kind, value) {
        (_, Value::Null) => q.bind(None::<String>),
        (_, Value::Bool(b)) => q.bind(i64::from(b)),
        (Kind::UInt, Value::Int(i)) => q.bind(u64::try_from(i).map_err(|_| bad())?),
        (_, Value::Int(i)) => q.bind(i64::try_from(i).map_err(|_| bad())?),
        (_, Value::Decimal(d)) => q.bind(d),
        (_, Value::Float(f)) => q.bind(f),
        (_, Value::Text(t)) => q.bind(t),
        (_, Value::Bytes(b)) => q.bind(b),
        (_, Value::Date(d)) => q.bind(d),
        (_, Value::Time(t)) => q.bind(t),
        (_, Value::Timestamp(t)) => q.bind(t),
        (_, Value::Uuid(u)) => q.bind(u.hyphenated().to_string()),
        (_, Value::Json(j)) => q.bind(j.to_string()),
    })
}

fn text_at(ctx: &CallCtx, doing: &str, row: &MySqlRow, i: usize) -> Result<String, ProviderError> {
    let b: Option<Vec<u8>> = row
        .try_get_unchecked(i)
        .map_err(|e| db_error(ctx, doing, &e))?;
    Ok(String::from_utf8_lossy(&b.unwrap_or_default()).into_owned())
}

#[async_trait]
impl Database for Mysql {
    fn ctx(&self) -> &CallCtx {
        &self.ctx
    }

    async fn columns(&self, table: &TableName) -> Result<Vec<Column>, ProviderError> {
        let doing = format!("reading the columns of {table}");
        let sql = "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
                   WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                   ORDER BY ORDINAL_POSITION";
        let rows = self
            .ctx
            .call(&doing, true, || async {
                sqlx::query(sql)
                    .bind(table.schema.clone())
                    .bind(table.name.clone())
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
                let name = text_at(&self.ctx, &doing, r, 0)?;
                let data_type = text_at(&self.ctx, &doing, r, 1)?;
                let ty = text_at(&self.ctx, &doing, r, 2)?;
                Ok(Column {
                    name,
                    kind: kind_of(&data_type, &ty),
                    ty,
                })
            })
            .collect()
    }

    async fn estimate_rows(&self, table: &TableName) -> Result<Option<u64>, ProviderError> {
        let doing = format!("estimating the rows of {table}");
        let row = sqlx::query(
            "SELECT TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(table.schema.clone())
        .bind(table.name.clone())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(&self.ctx, &doing, &e))?;
        Ok(row.and_then(|r| r.try_get_unchecked::<Option<u64>, _>(0).ok().flatten()))
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
        // Key columns too: under a case-insensitive collation the row found
        // may be 'ABC' for the key 'abc', and must become 'abc'.
        let sets: Vec<String> = shape
            .columns
            .iter()
            .map(|c| format!("{0} = VALUES({0})", quote(&c.name)))
            .collect();
        let conflict = format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "));
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
