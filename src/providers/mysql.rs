//! MySQL and MariaDB as a reconciliation source or target.
//!
//! Sessions run with `time_zone = '+00:00'`, so TIMESTAMP columns read as
//! UTC instants and DATETIME values as written. Values come in the binary
//! protocol with their real types; DECIMAL as an exact decimal. Text keys
//! are ordered and compared by their bytes (`CAST(k AS BINARY)`), whatever
//! the column's collation: under a case-insensitive collation `'abc'` and
//! `'ABC'` are still different values here.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use bigdecimal::BigDecimal;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlQueryResult, MySqlRow};
use sqlx::Row as _;

use super::db::Database;
use super::db::{
    cannot_write, db_error, pool_options, probe, url_label, Column, Dialect, Engine, Kind, Shape,
    SqlDb, SqlQuery, TableName,
};
use super::{config_of, Adapter, CallCtx, Failure, ProviderError};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec};
use crate::plan::{Capability, Provider, Text};
use crate::domain::sql::Value;

/// MySQL or MariaDB, for [`SqlDb`].
pub struct Mysql;

impl Mysql {
    pub async fn connect(ctx: CallCtx, url: &Text) -> Result<SqlDb<Self>, ProviderError> {
        let doing = format!("connecting to {}", url_label(url));
        let opts = MySqlConnectOptions::from_str(url.expose())
            .map_err(|e| ctx.error(Failure::Rejected, &doing, format!("invalid URL: {e}")))?
            .timezone(Some("+00:00".to_string()))
            .charset("utf8mb4");
        probe::<MySqlConnection>(&ctx, &doing, &opts).await?;
        let pool = pool_options(&ctx).connect_lazy_with(opts);
        Ok(SqlDb {
            ctx,
            pool,
            engine: Self,
        })
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
fn text(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}
fn text_at(ctx: &CallCtx, doing: &str, row: &MySqlRow, i: usize) -> Result<String, ProviderError> {
    let b: Option<Vec<u8>> = row
        .try_get_unchecked(i)
        .map_err(|e| db_error(ctx, doing, &e))?;
    Ok(String::from_utf8_lossy(&b.unwrap_or_default()).into_owned())
}

#[async_trait]
impl Engine for Mysql {
    type Db = sqlx::MySql;

    /// The protocol's limit of bound parameters per statement.
    const MAX_PARAMS: usize = 65_535;

    fn bind<'q>(
        ctx: &CallCtx,
        q: SqlQuery<'q, sqlx::MySql>,
        v: &Value,
        c: &Column,
    ) -> Result<SqlQuery<'q, sqlx::MySql>, ProviderError> {
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
            Kind::Timestamp | Kind::TimestampTz => {
                get::<NaiveDateTime>(row, i)?.map(Value::Timestamp)
            }
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

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }

    fn on_conflict(&self, shape: &Shape) -> String {
        // Key columns too: under a case-insensitive collation the row found
        // may be 'ABC' for the key 'abc', and must become 'abc'.
        let sets: Vec<String> = shape
            .columns
            .iter()
            .map(|c| format!("{0} = VALUES({0})", quote(&c.name)))
            .collect();
        format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
    }

    async fn columns(
        db: &SqlDb<Self>,
        table: &TableName,
        doing: &str,
    ) -> Result<Vec<Column>, ProviderError> {
        let sql = "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
                   WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                   ORDER BY ORDINAL_POSITION";
        let rows = db
            .ctx
            .call(doing, true, || async {
                sqlx::query(sql)
                    .bind(table.schema.clone())
                    .bind(table.name.clone())
                    .fetch_all(&db.pool)
                    .await
                    .map_err(|e| db_error(&db.ctx, doing, &e))
            })
            .await?;
        rows.iter()
            .map(|r| {
                let name = text_at(&db.ctx, doing, r, 0)?;
                let data_type = text_at(&db.ctx, doing, r, 1)?;
                let ty = text_at(&db.ctx, doing, r, 2)?;
                Ok(Column {
                    name,
                    kind: kind_of(&data_type, &ty),
                    ty,
                })
            })
            .collect()
    }

    async fn estimate_rows(
        db: &SqlDb<Self>,
        table: &TableName,
        doing: &str,
    ) -> Result<Option<u64>, ProviderError> {
        let row = sqlx::query(
            "SELECT TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(table.schema.clone())
        .bind(table.name.clone())
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| db_error(&db.ctx, doing, &e))?;
        Ok(row.and_then(|r| r.try_get_unchecked::<Option<u64>, _>(0).ok().flatten()))
    }
}

// The declaration: what a `mysql` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "mysql",
    article: "a",
    capabilities: &[Capability::Database],
    needs: &[],
    keys: &[Key::required(
        "url",
        spec::Shape::Text,
        "mysql:// (or mariadb://) URL of the database; use ${VAR} so the password stays out of the plan",
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
        let url = &config_of::<Config>(p)?.url;
        let db: Arc<dyn Database> = Arc::new(Mysql::connect(ctx, url).await?);
        Ok(db)
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub url: Text,
}

impl ProviderConfig for Config {}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    spec::config(Config {
        url: r.url(cx, "url", &["mysql://", "mariadb://"])?,
    })
}
