//! Each service's own database: a SQLite file with a `payments` table.
//!
//! The two schemas differ the way real rewrites do: the monolith's
//! `amount_cents` is payments-v2's `amount_minor`. The reconciliation in
//! plans/demo.yaml maps one to the other.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row as _;

/// A payment, as both services' APIs show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub customer: String,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS.ffffff`.
    pub created_at: String,
}

/// A new payment, as a client sends it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NewPayment {
    pub customer: String,
    pub amount_cents: i64,
    pub currency: String,
}

impl NewPayment {
    pub fn check(&self) -> Result<(), String> {
        if self.customer.is_empty() || self.customer.len() > 64 {
            return Err("customer must be 1 to 64 characters".into());
        }
        if self.amount_cents <= 0 {
            return Err("amount_cents must be positive".into());
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err("currency must be three capital letters (EUR)".into());
        }
        Ok(())
    }

    /// The payment this becomes, with a fresh id, now.
    pub fn accept(self) -> Payment {
        Payment {
            id: new_id(),
            customer: self.customer,
            amount_cents: self.amount_cents,
            currency: self.currency,
            status: "authorized".into(),
            created_at: timestamp(SystemTime::now()),
        }
    }
}

/// The database of one service.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The amount column: `amount_cents` (legacy) or `amount_minor`.
    amount: &'static str,
}

impl Store {
    /// Create the database file and its table.
    pub async fn create(path: &Path, amount_column: &'static str) -> anyhow::Result<Store> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // Readers (a reconciliation) never block writers.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS payments (
                id TEXT PRIMARY KEY,
                customer TEXT NOT NULL,
                {amount_column} INTEGER NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL
            )"
        ))
        .execute(&pool)
        .await
        .with_context(|| format!("creating the payments table in {}", path.display()))?;
        Ok(Store {
            pool,
            amount: amount_column,
        })
    }

    pub async fn insert(&self, p: &Payment) -> anyhow::Result<()> {
        self.write(p, "").await
    }

    /// Insert, or replace the row with the same id (a copy is idempotent).
    pub async fn upsert(&self, p: &Payment) -> anyhow::Result<()> {
        let a = self.amount;
        self.write(
            p,
            &format!(
                " ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, {a} = excluded.{a}, \
                 currency = excluded.currency, status = excluded.status, created_at = excluded.created_at"
            ),
        )
        .await
    }

    async fn write(&self, p: &Payment, conflict: &str) -> anyhow::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO payments (id, customer, {}, currency, status, created_at) VALUES (?, ?, ?, ?, ?, ?){conflict}",
            self.amount
        ))
        .bind(&p.id)
        .bind(&p.customer)
        .bind(p.amount_cents)
        .bind(&p.currency)
        .bind(&p.status)
        .bind(&p.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Payment>> {
        let row = sqlx::query(&format!(
            "SELECT id, customer, {} AS amount, currency, status, CAST(created_at AS TEXT) AS created_at FROM payments WHERE id = ?",
            self.amount
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Payment {
                id: r.try_get("id")?,
                customer: r.try_get("customer")?,
                amount_cents: r.try_get("amount")?,
                currency: r.try_get("currency")?,
                status: r.try_get("status")?,
                created_at: canonical(&r.try_get::<String, _>("created_at")?),
            })
        })
        .transpose()
    }

    #[cfg(test)]
    pub async fn count(&self) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Fill the table with `n` payments from the past year (the history
    /// only the monolith has); their ids and customers.
    pub async fn seed_history(
        &self,
        n: usize,
        customers: usize,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let now = SystemTime::now();
        let year = Duration::from_secs(365 * 24 * 3600);
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let r = splitmix64(0x5eed_0000 + i as u64);
            let age = year.mul_f64((n - i) as f64 / n as f64);
            let p = Payment {
                id: format!("pay_{:016x}", splitmix64(r)),
                customer: customer(r as usize % customers.max(1)),
                amount_cents: 100 + (r >> 20) as i64 % 250_000,
                currency: CURRENCIES[(r >> 8) as usize % CURRENCIES.len()].to_string(),
                status: if i % 17 == 0 { "refunded" } else { "settled" }.to_string(),
                created_at: timestamp(now.checked_sub(age).unwrap_or(now)),
            };
            sqlx::query(&format!(
                "INSERT INTO payments (id, customer, {}, currency, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                self.amount
            ))
            .bind(&p.id)
            .bind(&p.customer)
            .bind(p.amount_cents)
            .bind(&p.currency)
            .bind(&p.status)
            .bind(&p.created_at)
            .execute(&mut *tx)
            .await?;
            out.push((p.id, p.customer));
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

/// The name of customer `i`.
pub fn customer(i: usize) -> String {
    format!("cus_{i:04}")
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC: the form SQLite's `TIMESTAMP`
/// columns hold here, and what a reconciliation's repair writes.
pub fn timestamp(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// A stored timestamp in the one form the APIs show: a copy made by a
/// reconciliation writes `10:00:00` where the service wrote
/// `10:00:00.000000`, the same instant.
fn canonical(stored: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(stored, "%Y-%m-%d %H:%M:%S%.f").map_or_else(
        |_| stored.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
    )
}

/// A payment id nobody else has: `pay_` and 16 hex digits.
pub fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        splitmix64(nanos ^ u64::from(std::process::id()).rotate_left(32))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pay_{:016x}", splitmix64(seed.wrapping_add(n)))
}

/// SplitMix64: a fast, well-mixed sequence from a counter.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn payments_round_trip_in_either_schema() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = Store::create(&dir.path().join("l.db"), "amount_cents")
            .await
            .unwrap();
        let candidate = Store::create(&dir.path().join("c.db"), "amount_minor")
            .await
            .unwrap();
        let p = NewPayment {
            customer: customer(7),
            amount_cents: 1299,
            currency: "EUR".into(),
        }
        .accept();
        legacy.insert(&p).await.unwrap();
        assert!(legacy.insert(&p).await.is_err(), "ids are unique");
        candidate.upsert(&p).await.unwrap();
        candidate.upsert(&p).await.unwrap();
        assert_eq!(legacy.get(&p.id).await.unwrap(), Some(p.clone()));
        assert_eq!(candidate.get(&p.id).await.unwrap(), Some(p.clone()));
        assert_eq!(candidate.get("pay_nope").await.unwrap(), None);
        let seeded = legacy.seed_history(50, 10).await.unwrap();
        assert_eq!(seeded.len(), 50);
        assert_eq!(legacy.count().await.unwrap(), 51);
        let first = legacy.get(&seeded[0].0).await.unwrap().unwrap();
        assert_eq!(first.customer, seeded[0].1);
        assert_eq!(first.created_at.len(), "2024-05-01 10:00:00.123456".len());
    }

    #[test]
    fn timestamps_show_in_one_form() {
        assert_eq!(
            canonical("2024-05-01 10:00:00"),
            "2024-05-01 10:00:00.000000"
        );
        assert_eq!(
            canonical("2024-05-01 10:00:00.5"),
            "2024-05-01 10:00:00.500000"
        );
    }

    #[test]
    fn new_ids_differ() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(a.starts_with("pay_") && a.len() == 20, "{a}");
    }

    #[test]
    fn new_payments_are_checked() {
        let ok = NewPayment {
            customer: "c".into(),
            amount_cents: 1,
            currency: "EUR".into(),
        };
        assert!(ok.check().is_ok());
        let bad = NewPayment {
            currency: "euro".into(),
            ..ok
        };
        assert!(bad.check().is_err());
    }
}
