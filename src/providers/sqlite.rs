//! SQLite files as a reconciliation source or target.
//!
//! SQLite stores each value with its own storage class (integer, real,
//! text, blob); the column's declared type says what it means. A column
//! declared `TIMESTAMP` holding the text `2024-05-01 10:00:00.123456` is a
//! timestamp, `DECIMAL(10,2)` holding `1.5` is the decimal 1.5, `UUID`
//! holding text or 16 bytes is a UUID, `BOOLEAN` holding 1 is true. Text
//! keys are ordered `COLLATE BINARY` (by bytes).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteQueryResult, SqliteRow};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};

use super::db::Database;
use super::db::{
    cannot_write, db_error, double_quote as quote, pool_options, Column, Dialect, Engine, Kind,
    SqlDb, SqlQuery, TableName,
};
use super::{config_of, Adapter, CallCtx, Failure, ProviderError};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec};
use crate::plan::{Capability, Provider, Text};
use crate::domain::sql::{float_decimal, parse_decimal, parse_timestamp, Value};

/// SQLite, for [`SqlDb`].
pub struct Sqlite;

impl Sqlite {
    pub async fn connect(ctx: CallCtx, path: &Text) -> Result<SqlDb<Self>, ProviderError> {
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
        let pool = pool_options(&ctx)
            .connect_with(opts)
            .await
            .map_err(|e| db_error(&ctx, &doing, &e))?;
        Ok(SqlDb {
            ctx,
            pool,
            engine: Self,
        })
    }
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

#[async_trait]
impl Engine for Sqlite {
    type Db = sqlx::Sqlite;

    /// SQLite's default limit of bound parameters (since 3.32).
    const MAX_PARAMS: usize = 32_766;

    fn bind<'q>(
        ctx: &CallCtx,
        q: SqlQuery<'q, sqlx::Sqlite>,
        v: &Value,
        c: &Column,
    ) -> Result<SqlQuery<'q, sqlx::Sqlite>, ProviderError> {
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
            (Kind::Decimal, Value::Text(t)) => {
                parse_decimal(&t).map_or(Value::Text(t), Value::Decimal)
            }
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

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn columns(
        db: &SqlDb<Self>,
        table: &TableName,
        doing: &str,
    ) -> Result<Vec<Column>, ProviderError> {
        let sql = match &table.schema {
            Some(_) => "SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid",
            None => "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid",
        };
        let mut q = sqlx::query(sql).bind(table.name.clone());
        if let Some(s) = &table.schema {
            q = q.bind(s.clone());
        }
        let rows = q
            .fetch_all(&db.pool)
            .await
            .map_err(|e| db_error(&db.ctx, doing, &e))?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0).map_err(|e| db_error(&db.ctx, doing, &e))?;
                let ty: String = r.try_get(1).map_err(|e| db_error(&db.ctx, doing, &e))?;
                Ok(Column {
                    name,
                    kind: kind_of(&ty),
                    ty,
                })
            })
            .collect()
    }

    async fn estimate_rows(
        _db: &SqlDb<Self>,
        _table: &TableName,
        _doing: &str,
    ) -> Result<Option<u64>, ProviderError> {
        Ok(None)
    }
}

// The declaration: what a `sqlite` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "sqlite",
    article: "a",
    capabilities: &[Capability::Database],
    needs: &[],
    keys: &[Key::required(
        "path",
        spec::Shape::Text,
        "path of the SQLite database file",
    )],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    database: Some(connect),
    ..Adapter::of(&SPEC)
};

fn connect(p: &Provider, ctx: CallCtx) -> BoxFuture<'_, anyhow::Result<Arc<dyn Database>>> {
    Box::pin(async move {
        let path = &config_of::<Config>(p)?.path;
        let db: Arc<dyn Database> = Arc::new(Sqlite::connect(ctx, path).await?);
        Ok(db)
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub path: Text,
}

impl ProviderConfig for Config {}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    spec::config(Config {
        path: r.text(cx, "path")?,
    })
}
