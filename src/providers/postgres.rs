//! PostgreSQL as a reconciliation source or target.
//!
//! Sessions run in UTC; values are read in the binary protocol with their
//! real types (`numeric` as an exact decimal, `timestamptz` as an instant,
//! `uuid` as 16 bytes). Text keys are ordered `COLLATE "C"` (by bytes), so
//! the order does not depend on the database's locale.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult, PgRow};
use sqlx::Row as _;
use uuid::Uuid;

use super::db::Database;
use super::db::{
    cannot_write, db_error, double_quote as quote, pool_options, probe, url_label, Column, Dialect,
    Engine, Kind, SqlDb, SqlQuery, TableName,
};
use super::{config_of, Adapter, CallCtx, Failure, ProviderError};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec};
use crate::plan::{Capability, Provider, Text};
use crate::domain::sql::Value;

/// PostgreSQL, for [`SqlDb`].
pub struct Postgres;

impl Postgres {
    pub async fn connect(ctx: CallCtx, url: &Text) -> Result<SqlDb<Self>, ProviderError> {
        let doing = format!("connecting to {}", url_label(url));
        let opts = PgConnectOptions::from_str(url.expose())
            .map_err(|e| ctx.error(Failure::Rejected, &doing, format!("invalid URL: {e}")))?
            .options([("TimeZone", "UTC"), ("DateStyle", "ISO")])
            .application_name("migrate");
        probe::<PgConnection>(&ctx, &doing, &opts).await?;
        let pool = pool_options(&ctx).connect_lazy_with(opts);
        Ok(SqlDb {
            ctx,
            pool,
            engine: Self,
        })
    }
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

#[async_trait]
impl Engine for Postgres {
    type Db = sqlx::Postgres;

    /// PostgreSQL's limit of bound parameters per statement.
    const MAX_PARAMS: usize = 65_535;

    /// Every value of a column is bound as the one Rust type of its kind,
    /// NULL included. sqlx prepares a statement once per SQL text, with the
    /// parameter types of its first execution, and caches it: a NULL bound
    /// as text would make the parameter `text` for good, and the next row's
    /// binary `numeric` or `bool` would then be read as (invalid) text.
    fn bind<'q>(
        ctx: &CallCtx,
        q: SqlQuery<'q, sqlx::Postgres>,
        v: &Value,
        c: &Column,
    ) -> Result<SqlQuery<'q, sqlx::Postgres>, ProviderError> {
        let value = v.coerce(c.kind).ok_or_else(|| cannot_write(ctx, v, c))?;
        let bad = || cannot_write(ctx, v, c);
        /// `Some(x)` for the kind's variant, `None` for NULL, else an error.
        macro_rules! typed {
            ($variant:ident($x:ident) => $conv:expr) => {
                match value {
                    Value::Null => None,
                    Value::$variant($x) => Some($conv),
                    _ => return Err(bad()),
                }
            };
        }
        Ok(match c.kind {
            Kind::Bool => q.bind(typed!(Bool(b) => b)),
            Kind::Int | Kind::UInt => {
                q.bind(typed!(Int(i) => i64::try_from(i).map_err(|_| bad())?))
            }
            Kind::Decimal => q.bind(typed!(Decimal(d) => d)),
            Kind::Float => q.bind(typed!(Float(f) => f)),
            Kind::Text | Kind::Char | Kind::Other => q.bind(typed!(Text(t) => {
                // PostgreSQL text cannot hold NUL (0x00), whatever the
                // encoding: say which column, before the server refuses
                // the whole statement.
                if t.contains('\0') {
                    return Err(ctx.error(
                        Failure::Rejected,
                        format!("writing column {} ({})", c.name, c.ty),
                        "the text holds a NUL character (0x00), which PostgreSQL text cannot store",
                    ));
                }
                t
            })),
            Kind::Bytes => q.bind(typed!(Bytes(b) => b)),
            Kind::Date => q.bind(typed!(Date(d) => d)),
            Kind::Time => q.bind(typed!(Time(t) => t)),
            Kind::Timestamp => q.bind(typed!(Timestamp(t) => t)),
            Kind::TimestampTz => q.bind(typed!(Timestamp(t) => t.and_utc())),
            Kind::Uuid => q.bind(typed!(Uuid(u) => u)),
            Kind::Json => q.bind(typed!(Json(j) => j)),
        })
    }

    fn decode(row: &PgRow, i: usize, c: &Column) -> Result<Value, sqlx::Error> {
        fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
            row: &'r PgRow,
            i: usize,
        ) -> Result<Option<T>, sqlx::Error> {
            // The decoded type follows the column's catalog type (its
            // kind), so sqlx's per-value type check is redundant, and costs
            // as much as the decoding.
            row.try_get_unchecked::<Option<T>, _>(i)
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
            Kind::TimestampTz => {
                get::<DateTime<Utc>>(row, i)?.map(|t| Value::Timestamp(t.naive_utc()))
            }
            Kind::Uuid => get::<Uuid>(row, i)?.map(Value::Uuid),
            Kind::Json => get::<serde_json::Value>(row, i)?.map(Value::Json),
        };
        Ok(v.unwrap_or(Value::Null))
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn columns(
        db: &SqlDb<Self>,
        table: &TableName,
        doing: &str,
    ) -> Result<Vec<Column>, ProviderError> {
        let sql = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                   t.typname::text \
                   FROM pg_catalog.pg_attribute a \
                   JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                   WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                   ORDER BY a.attnum";
        let name = Self.table(table);
        let rows = db
            .ctx
            .call(doing, true, || async {
                sqlx::query(sql)
                    .bind(&name)
                    .fetch_all(&db.pool)
                    .await
                    .map_err(|e| db_error(&db.ctx, doing, &e))
            })
            .await?;
        rows.iter()
            .map(|r| {
                let get = |i| {
                    r.try_get::<String, _>(i)
                        .map_err(|e| db_error(&db.ctx, doing, &e))
                };
                let (name, ty, typname) = (get(0)?, get(1)?, get(2)?);
                Ok(Column {
                    name,
                    kind: kind_of(&typname),
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
        let n: Option<f32> = sqlx::query_scalar(
            "SELECT reltuples FROM pg_catalog.pg_class WHERE oid = to_regclass($1)",
        )
        .bind(Self.table(table))
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| db_error(&db.ctx, doing, &e))?;
        Ok(n.filter(|n| *n >= 0.0).map(|n| n as u64))
    }
}

// The declaration: what a `postgres` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "postgres",
    article: "a",
    capabilities: &[Capability::Database],
    needs: &[],
    keys: &[Key::required(
        "url",
        spec::Shape::Text,
        "postgres:// URL of the database; use ${VAR} so the password stays out of the plan",
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
        let db: Arc<dyn Database> = Arc::new(Postgres::connect(ctx, url).await?);
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
        url: r.url(cx, "url", &["postgres://", "postgresql://"])?,
    })
}
