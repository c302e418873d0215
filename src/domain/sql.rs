//! Values as read from a database, with their real types, and how two of
//! them compare by meaning across engines.
//!
//! - Numbers compare by value: `1.50` (DECIMAL(5,2)) equals `1.5` (NUMERIC),
//!   an integer equals the decimal with the same value, a boolean equals 1
//!   or 0 (MySQL has no boolean type, only TINYINT(1)).
//! - Text is byte-exact: case and trailing spaces count, whatever the
//!   collation of the column. Only fixed-width CHAR(n) padding is not data
//!   (both engines drop it on comparison), so it is removed when read.
//! - Timestamps compare as instants to the microsecond; a timestamp without
//!   a time zone (MySQL DATETIME, PostgreSQL `timestamp`) is taken as UTC.
//! - NULL equals only NULL: not `''`, not `'NULL'`, not `'<null>'`.
//! - A UUID equals its text form in any case, and its 16 bytes.
//!
//! [`Value::encode`] writes a value in an unambiguous, canonical byte form
//! (a type tag and a length before every payload), so that two rows encode
//! to the same bytes exactly when they are equal column by column:
//! `('a|b', 'c')` and `('a', 'b|c')` do not collide.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use bigdecimal::num_bigint::BigInt;
use bigdecimal::{BigDecimal, ToPrimitive};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use uuid::Uuid;

/// What kind of value a column holds, as far as comparison is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// Integers of any width, signed.
    Int,
    /// Unsigned integers (MySQL).
    UInt,
    Decimal,
    Float,
    Text,
    /// Fixed-width, blank-padded text (PostgreSQL `char(n)`): the padding is
    /// not data.
    Char,
    Bytes,
    Date,
    Time,
    /// Date and time without a time zone (taken as UTC).
    Timestamp,
    /// An instant (PostgreSQL `timestamptz`, MySQL TIMESTAMP).
    TimestampTz,
    Uuid,
    Json,
    /// A type with no exact reader here: read as the database's own text
    /// form and compared as text.
    Other,
}

impl Kind {
    /// Whether keys of this kind are ordered by their bytes (text), which
    /// the scans must ask for explicitly whatever the column's collation.
    pub fn is_text(self) -> bool {
        matches!(self, Kind::Text | Kind::Char | Kind::Other)
    }
}

/// One column's value of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Any integer type, signed or unsigned, of any width.
    Int(i128),
    Decimal(BigDecimal),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// An instant in UTC (a value without a time zone is taken as UTC).
    Timestamp(NaiveDateTime),
    Uuid(Uuid),
    Json(serde_json::Value),
}

/// A row: the key columns first, then the compared columns.
pub type Row = Vec<Value>;

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Decimal(_) => "decimal",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "json",
        }
    }

    /// Whether two values mean the same, across engines (see the module
    /// documentation).
    pub fn same(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Null, _) | (_, Null) => false,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Decimal(a), Decimal(b)) => a == b,
            (Float(a), Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Text(a), Text(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (Time(a), Time(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Uuid(a), Uuid(b)) => a == b,
            (Json(a), Json(b)) => a == b,
            // Numbers of different types, by value.
            (Bool(_) | Int(_) | Decimal(_), Bool(_) | Int(_) | Decimal(_)) => {
                match (self.as_decimal(), other.as_decimal()) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
            (Float(f), Int(_) | Decimal(_)) | (Int(_) | Decimal(_), Float(f)) => {
                let n = if let Float(_) = self { other } else { self };
                n.as_decimal()
                    .and_then(|d| d.to_f64())
                    .is_some_and(|g| g == *f)
            }
            (Uuid(u), Text(t)) | (Text(t), Uuid(u)) => {
                uuid::Uuid::parse_str(t).is_ok_and(|p| p == *u)
            }
            (Uuid(u), Bytes(b)) | (Bytes(b), Uuid(u)) => b.as_slice() == u.as_bytes(),
            (Bytes(b), Text(t)) | (Text(t), Bytes(b)) => b.as_slice() == t.as_bytes(),
            (Json(j), Text(t)) | (Text(t), Json(j)) => {
                serde_json::from_str::<serde_json::Value>(t).is_ok_and(|p| p == *j)
            }
            _ => false,
        }
    }

    /// The value as an exact decimal, when it is a number (or a boolean).
    pub fn as_decimal(&self) -> Option<BigDecimal> {
        match self {
            Value::Bool(b) => Some(BigDecimal::from(i32::from(*b))),
            Value::Int(i) => Some(BigDecimal::from(BigInt::from(*i))),
            Value::Decimal(d) => Some(d.clone()),
            _ => None,
        }
    }

    /// Order of key values, as the databases return them: numbers by value,
    /// text and bytes by their bytes (the scans order text keys by bytes),
    /// times by time, UUIDs by their bytes (= their lowercase text).
    pub fn key_cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Int(a), Int(b)) => a.cmp(b),
            (Text(a), Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Uuid(a), Uuid(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Uuid(u), Text(t)) => cmp_text(&u.hyphenated().to_string(), t),
            (Text(t), Uuid(u)) => cmp_text(t, &u.hyphenated().to_string()),
            (Date(a), Date(b)) => a.cmp(b),
            (Time(a), Time(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Bool(_) | Int(_) | Decimal(_), Bool(_) | Int(_) | Decimal(_)) => {
                match (self.as_decimal(), other.as_decimal()) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    _ => Ordering::Equal,
                }
            }
            _ => self.to_string().cmp(&other.to_string()),
        }
    }

    /// The value as JSON, for reports: numbers that fit as numbers, exact
    /// decimals and everything else as strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(v), _) => J::from(v),
                (_, Ok(v)) => J::from(v),
                _ => J::String(i.to_string()),
            },
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Json(j) => j.clone(),
            other => J::String(other.to_string()),
        }
    }

    /// Write the value's canonical, unambiguous encoding: a tag byte, then
    /// for variable-length payloads their length (u32, big-endian) and the
    /// bytes. Numbers share one tag and a normalised decimal form, so equal
    /// numbers encode alike whatever their type.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn payload(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
            out.push(tag);
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        match self {
            Value::Null => out.push(b'0'),
            Value::Bool(_) | Value::Int(_) | Value::Decimal(_) => {
                let d = self.as_decimal().unwrap_or_default();
                payload(out, b'n', decimal_text(&d).as_bytes());
            }
            Value::Float(f) => {
                let f = if *f == 0.0 { 0.0 } else { *f };
                out.push(b'f');
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Text(t) => payload(out, b's', t.as_bytes()),
            Value::Bytes(b) => payload(out, b'b', b),
            Value::Uuid(u) => {
                out.push(b'u');
                out.extend_from_slice(u.as_bytes());
            }
            Value::Json(j) => payload(out, b'j', j.to_string().as_bytes()),
            Value::Date(_) | Value::Time(_) | Value::Timestamp(_) => {
                let tag = match self {
                    Value::Date(_) => b'd',
                    Value::Time(_) => b't',
                    _ => b'T',
                };
                payload(out, tag, self.to_string().as_bytes());
            }
        }
    }
}

impl Value {
    /// This value as the natural value of a column of `kind`, for writing
    /// it there or comparing keys with it: `1` into a boolean column is
    /// `true`, a UUID into a text column is its hyphenated text, text into a
    /// UUID column is parsed. `None` when it cannot be done without changing
    /// the meaning.
    pub fn coerce(&self, kind: Kind) -> Option<Value> {
        use Value as V;
        if self.is_null() {
            return Some(V::Null);
        }
        Some(match kind {
            Kind::Bool => match self {
                V::Bool(b) => V::Bool(*b),
                V::Int(0) => V::Bool(false),
                V::Int(1) => V::Bool(true),
                V::Decimal(_) => return V::Int(self.as_decimal()?.to_i128()?).coerce(kind),
                V::Text(t) => match t.as_str() {
                    "true" | "t" | "1" => V::Bool(true),
                    "false" | "f" | "0" => V::Bool(false),
                    _ => return None,
                },
                _ => return None,
            },
            Kind::Int | Kind::UInt => match self {
                V::Int(i) => V::Int(*i),
                V::Bool(b) => V::Int(i128::from(*b)),
                V::Decimal(d) if d.is_integer() => V::Int(d.to_i128()?),
                V::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => V::Int(*f as i128),
                V::Text(t) => V::Int(t.trim().parse().ok()?),
                _ => return None,
            },
            Kind::Decimal => match self {
                V::Float(f) => V::Decimal(float_decimal(*f)?),
                V::Text(t) => V::Decimal(parse_decimal(t)?),
                other => V::Decimal(other.as_decimal()?),
            },
            Kind::Float => match self {
                V::Float(f) => V::Float(*f),
                V::Text(t) => V::Float(t.trim().parse().ok()?),
                other => V::Float(other.as_decimal()?.to_f64()?),
            },
            Kind::Text | Kind::Char | Kind::Other => match self {
                V::Text(t) => V::Text(t.clone()),
                V::Bytes(b) => V::Text(String::from_utf8(b.clone()).ok()?),
                other => V::Text(other.to_string()),
            },
            Kind::Bytes => match self {
                V::Bytes(b) => V::Bytes(b.clone()),
                V::Text(t) => V::Bytes(t.as_bytes().to_vec()),
                V::Uuid(u) => V::Bytes(u.as_bytes().to_vec()),
                _ => return None,
            },
            Kind::Date => match self {
                V::Date(d) => V::Date(*d),
                V::Text(t) => V::Date(NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok()?),
                _ => return None,
            },
            Kind::Time => match self {
                V::Time(t) => V::Time(*t),
                V::Text(t) => V::Time(NaiveTime::parse_from_str(t.trim(), "%H:%M:%S%.f").ok()?),
                _ => return None,
            },
            Kind::Timestamp | Kind::TimestampTz => match self {
                V::Timestamp(t) => V::Timestamp(*t),
                V::Date(d) => V::Timestamp(d.and_hms_opt(0, 0, 0)?),
                V::Text(t) => V::Timestamp(parse_timestamp(t)?),
                _ => return None,
            },
            Kind::Uuid => match self {
                V::Uuid(u) => V::Uuid(*u),
                V::Text(t) => V::Uuid(Uuid::parse_str(t.trim()).ok()?),
                V::Bytes(b) => V::Uuid(Uuid::from_slice(b).ok()?),
                _ => return None,
            },
            Kind::Json => match self {
                V::Json(j) => V::Json(j.clone()),
                V::Text(t) => V::Json(serde_json::from_str(t).ok()?),
                _ => return None,
            },
        })
    }
}

fn cmp_text(a: &str, b: &str) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

/// A decimal in plain notation without trailing fractional zeros: `1.5`,
/// `150`, `-0.001`. Never scientific notation.
pub fn decimal_text(d: &BigDecimal) -> String {
    let (digits, scale) = d.normalized().as_bigint_and_exponent();
    let negative = digits.sign() == bigdecimal::num_bigint::Sign::Minus;
    let mut s = digits.magnitude().to_string();
    if s == "0" {
        return "0".to_string();
    }
    if scale <= 0 {
        s.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
    } else {
        let scale = scale as usize;
        if s.len() <= scale {
            let zeros = "0".repeat(scale - s.len());
            s = format!("0.{zeros}{s}");
        } else {
            s.insert(s.len() - scale, '.');
        }
    }
    if negative {
        s.insert(0, '-');
    }
    s
}

impl fmt::Display for Value {
    /// The canonical text form: what reports show and what text-typed
    /// columns (SQLite) are written with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Decimal(d) => f.write_str(&decimal_text(d)),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(t) => f.write_str(t),
            Value::Bytes(b) => {
                f.write_str("\\x")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Time(t) => f.write_str(&time_text(t)),
            Value::Timestamp(ts) => {
                write!(
                    f,
                    "{} {}",
                    ts.date().format("%Y-%m-%d"),
                    time_text(&ts.time())
                )
            }
            Value::Uuid(u) => write!(f, "{}", u.hyphenated()),
            Value::Json(j) => write!(f, "{j}"),
        }
    }
}

/// `10:00:00`, or `10:00:00.000123` when there is a fraction.
fn time_text(t: &NaiveTime) -> String {
    use chrono::Timelike;
    if t.nanosecond() == 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S%.6f").to_string()
    }
}

/// Parse a timestamp written as text (SQLite): `2024-05-01 10:00:00`,
/// with an optional fraction, `T` instead of the space, and an optional
/// `Z` or `+hh:mm` offset (converted to UTC).
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.naive_utc());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt);
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(dt.naive_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

pub fn parse_decimal(s: &str) -> Option<BigDecimal> {
    let s = s.trim();
    if s.is_empty() || s.contains(['e', 'E']) && s.len() > 40 {
        return None;
    }
    BigDecimal::from_str(s).ok()
}

/// A float's exact decimal meaning, for comparison with decimals (`1.5`
/// from a REAL column of SQLite is the decimal 1.5).
pub fn float_decimal(f: f64) -> Option<BigDecimal> {
    if !f.is_finite() {
        return None;
    }
    BigDecimal::from_str(&format!("{f}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(BigDecimal::from_str(s).unwrap())
    }

    fn ts(s: &str) -> Value {
        Value::Timestamp(parse_timestamp(s).unwrap())
    }

    fn t(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    #[test]
    fn decimals_compare_by_value_whatever_the_scale() {
        assert!(dec("1.50").same(&dec("1.5")));
        assert!(dec("150").same(&Value::Int(150)));
        assert!(dec("150.000").same(&Value::Int(150)));
        assert!(!dec("1.51").same(&dec("1.5")));
        assert!(Value::Bool(true).same(&Value::Int(1)));
        assert!(!Value::Bool(false).same(&Value::Int(2)));
        assert_eq!(decimal_text(&BigDecimal::from_str("1.50").unwrap()), "1.5");
        assert_eq!(decimal_text(&BigDecimal::from_str("1500").unwrap()), "1500");
        assert_eq!(decimal_text(&BigDecimal::from_str("1E+3").unwrap()), "1000");
        assert_eq!(
            decimal_text(&BigDecimal::from_str("-0.0010").unwrap()),
            "-0.001"
        );
        assert_eq!(decimal_text(&BigDecimal::from_str("0.00").unwrap()), "0");
    }

    #[test]
    fn text_is_byte_exact_and_null_is_nothing_else() {
        assert!(!t("abc").same(&t("ABC")));
        assert!(!t("abc").same(&t("abc ")));
        for s in ["NULL", "<null>", "", "null"] {
            assert!(!Value::Null.same(&t(s)), "{s:?}");
            assert!(!t(s).same(&Value::Null), "{s:?}");
        }
        assert!(Value::Null.same(&Value::Null));
    }

    #[test]
    fn timestamps_count_every_microsecond() {
        assert!(ts("2024-05-01 10:00:00.123456").same(&ts("2024-05-01T10:00:00.123456Z")));
        assert!(ts("2024-05-01 12:00:00.5+02:00").same(&ts("2024-05-01 10:00:00.500000")));
        assert!(!ts("2024-05-01 10:00:00.123456").same(&ts("2024-05-01 10:00:00.123457")));
    }

    #[test]
    fn uuids_match_their_text_and_bytes() {
        let u = Uuid::parse_str("6f1c6a1e-1d2b-4c3a-9e8f-0123456789ab").unwrap();
        assert!(Value::Uuid(u).same(&t("6F1C6A1E-1D2B-4C3A-9E8F-0123456789AB")));
        assert!(Value::Uuid(u).same(&Value::Bytes(u.as_bytes().to_vec())));
        assert!(!Value::Uuid(u).same(&t("not a uuid")));
    }

    fn row_bytes(row: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in row {
            v.encode(&mut out);
        }
        out
    }

    #[test]
    fn encoding_is_unambiguous() {
        assert_ne!(
            row_bytes(&[t("a|b"), t("c")]),
            row_bytes(&[t("a"), t("b|c")])
        );
        assert_ne!(row_bytes(&[t("ab"), t("")]), row_bytes(&[t("a"), t("b")]));
        assert_ne!(row_bytes(&[Value::Null]), row_bytes(&[t("NULL")]));
        assert_ne!(row_bytes(&[Value::Null]), row_bytes(&[t("")]));
        assert_ne!(row_bytes(&[t("1")]), row_bytes(&[Value::Int(1)]));
        assert_eq!(row_bytes(&[dec("1.50")]), row_bytes(&[dec("1.5")]));
        assert_eq!(row_bytes(&[Value::Int(7)]), row_bytes(&[dec("7.00")]));
    }

    #[test]
    fn keys_order_like_the_scans() {
        assert_eq!(Value::Int(2).key_cmp(&Value::Int(10)), Ordering::Less);
        assert_eq!(t("B").key_cmp(&t("a")), Ordering::Less);
        assert_eq!(t("a").key_cmp(&t("a ")), Ordering::Less);
        assert_eq!(Value::Int(5).key_cmp(&dec("5.0")), Ordering::Equal);
    }

    #[test]
    fn json_of_keys() {
        assert_eq!(Value::Int(4334).to_json(), serde_json::json!(4334));
        assert_eq!(t("x").to_json(), serde_json::json!("x"));
        assert_eq!(dec("1.50").to_json(), serde_json::json!("1.5"));
    }
}
