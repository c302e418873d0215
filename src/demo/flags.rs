//! The demo application's feature flags, read the way an OpenFeature
//! in-process flagd provider reads them: straight from the flagd JSON file,
//! re-read when it changes (polled every 100 ms), evaluated locally.
//!
//! Evaluation follows flagd's rules for what `migrate` writes:
//! - a flag missing from the file, or `"state": "DISABLED"`, is off (the
//!   application's default);
//! - without `targeting`, the flag takes its `defaultVariant`'s value;
//! - with `{"fractional": [["on", w1], ["off", w2]]}`, each targeting key
//!   falls in a bucket: murmur3 (32-bit, seed 0) of the flag key followed
//!   by the targeting key, as a signed integer, its absolute value over
//!   `i32::MAX`, times 100; the first variant whose running share of the
//!   weights passes the bucket wins. The same key always gets the same
//!   answer (a customer sees one service), and about p% of keys get "on".
//!   This is the bucketing of earlier flagd versions; flagd-core 4 (the
//!   evaluator migrate's tests read the files with) spreads keys over the
//!   buckets differently, so one customer may land on the other side than
//!   under flagd 4, but the shares are the same.
//!
//! Anything else (other targeting rules, a bucketing expression) falls back
//! to the default variant, as flagd does when targeting cannot be
//! evaluated. This module deliberately shares no code with migrate's own
//! `flagd` provider: the application is an independent reader of the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// How often the file is looked at.
pub const POLL: Duration = Duration::from_millis(100);

/// One flag as read from the file.
#[derive(Clone, Debug, PartialEq)]
struct Flag {
    enabled: bool,
    /// The default variant's value.
    default: bool,
    /// `(variant value, weight)` of a fractional split.
    split: Option<Vec<(bool, f64)>>,
}

/// The flags of one version of the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    flags: HashMap<String, Flag>,
}

impl Snapshot {
    /// Parse a flagd file. Flags that cannot be read are left out (they
    /// evaluate to off); a file that is not JSON is an error, and the
    /// previous snapshot stays in force.
    pub fn parse(text: &str) -> Result<Snapshot, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut flags = HashMap::new();
        if let Some(Value::Object(map)) = doc.get("flags") {
            for (key, def) in map {
                if let Some(flag) = read_flag(def) {
                    flags.insert(key.clone(), flag);
                }
            }
        }
        Ok(Snapshot { flags })
    }

    /// The flag's value for `targeting_key`.
    pub fn enabled(&self, key: &str, targeting_key: &str) -> bool {
        let Some(flag) = self.flags.get(key) else {
            return false;
        };
        if !flag.enabled {
            return false;
        }
        match &flag.split {
            Some(split) => fractional(key, targeting_key, split).unwrap_or(flag.default),
            None => flag.default,
        }
    }

    /// The share of keys (0..=100) for which the flag is on.
    pub fn percent(&self, key: &str) -> f64 {
        let Some(flag) = self.flags.get(key).filter(|f| f.enabled) else {
            return 0.0;
        };
        match &flag.split {
            Some(split) => {
                let total: f64 = split.iter().map(|(_, w)| w).sum();
                let on: f64 = split.iter().filter(|(v, _)| *v).map(|(_, w)| w).sum();
                if total > 0.0 {
                    100.0 * on / total
                } else if flag.default {
                    100.0
                } else {
                    0.0
                }
            }
            None if flag.default => 100.0,
            None => 0.0,
        }
    }
}

fn read_flag(def: &Value) -> Option<Flag> {
    let variants = def.get("variants")?.as_object()?;
    let value_of = |name: &str| variants.get(name).and_then(Value::as_bool);
    let default = def
        .get("defaultVariant")
        .and_then(Value::as_str)
        .and_then(value_of)
        .unwrap_or(false);
    let enabled = def.get("state").and_then(Value::as_str) == Some("ENABLED");
    let split = def
        .get("targeting")
        .and_then(|t| t.get("fractional"))
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .map(|b| {
                    let pair = b.as_array()?;
                    let variant = value_of(pair.first()?.as_str()?)?;
                    let weight = pair.get(1).map_or(Some(1.0), Value::as_f64)?;
                    Some((variant, weight))
                })
                .collect::<Option<Vec<_>>>()
        });
    Some(Flag {
        enabled,
        default,
        split,
    })
}

/// flagd's `fractional`: the variant for this key, `None` when the split
/// has no weight at all.
fn fractional(flag_key: &str, targeting_key: &str, split: &[(bool, f64)]) -> Option<bool> {
    let total: f64 = split.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return None;
    }
    let bucket = bucket(&format!("{flag_key}{targeting_key}"));
    let mut end = 0.0;
    for (variant, weight) in split {
        end += 100.0 * weight / total;
        if bucket < end {
            return Some(*variant);
        }
    }
    split.last().map(|(v, _)| *v)
}

/// The bucket (0..=100) of a bucketing value.
pub fn bucket(value: &str) -> f64 {
    // The hash read as a signed 32-bit integer, as flagd does.
    let hash = murmur3_32(value.as_bytes(), 0) as i32;
    let ratio = f64::from(hash).abs() / f64::from(i32::MAX);
    (ratio * 100.0).floor()
}

/// MurmurHash3, x86 32-bit.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The application's view of the flag file, kept current by a background
/// task.
#[derive(Clone)]
pub struct FlagClient {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl FlagClient {
    /// Read `file` now and every [`POLL`] from now on (until the returned
    /// task is aborted).
    pub fn watch(file: &Path) -> (FlagClient, tokio::task::JoinHandle<()>) {
        let first = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| Snapshot::parse(&t).ok())
            .unwrap_or_default();
        let client = FlagClient {
            current: Arc::new(RwLock::new(Arc::new(first))),
        };
        let task = tokio::spawn(poll(client.clone(), file.to_path_buf()));
        (client, task)
    }

    /// The flags as last read.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn replace(&self, snap: Snapshot) {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if **cur != snap {
            *cur = Arc::new(snap);
        }
    }
}

async fn poll(client: FlagClient, file: PathBuf) {
    let mut seen: Option<(SystemTime, u64, u64)> = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        // migrate replaces the file by a rename: a new inode, and usually
        // a new mtime and size.
        let meta = tokio::fs::metadata(&file).await.ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                m.len(),
                m.ino(),
            )
        });
        if meta.is_none() || meta == seen {
            continue;
        }
        if let Ok(text) = tokio::fs::read_to_string(&file).await {
            if let Ok(snap) = Snapshot::parse(&text) {
                client.replace(snap);
                seen = meta;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
    }

    const FILE: &str = r#"{
      "flags": {
        "dual-write": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" },
        "shadow": { "state": "DISABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" },
        "candidate": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on",
                       "targeting": { "fractional": [["on", 25], ["off", 75]] } },
        "fine": { "state": "ENABLED", "variants": { "on": true, "off": false }, "defaultVariant": "off",
                  "targeting": { "fractional": [["on", 25], ["off", 975]] } }
      }
    }"#;

    #[test]
    fn evaluates_on_off_disabled_and_missing_flags() {
        let s = Snapshot::parse(FILE).unwrap();
        assert!(s.enabled("dual-write", "anyone"));
        assert!(!s.enabled("shadow", "anyone"));
        assert!(!s.enabled("missing", "anyone"));
        assert_eq!(s.percent("dual-write"), 100.0);
        assert_eq!(s.percent("shadow"), 0.0);
        assert_eq!(s.percent("candidate"), 25.0);
        assert_eq!(s.percent("fine"), 2.5);
    }

    #[test]
    fn a_fractional_split_is_sticky_and_near_its_share() {
        let s = Snapshot::parse(FILE).unwrap();
        let keys: Vec<String> = (0..4000).map(|i| format!("cus_{i:04}")).collect();
        let on = keys.iter().filter(|k| s.enabled("candidate", k)).count();
        assert!((900..=1100).contains(&on), "{on} of 4000 at 25%");
        for k in &keys[..50] {
            assert_eq!(s.enabled("candidate", k), s.enabled("candidate", k));
        }
        // Buckets follow the flag key too: another flag splits differently.
        let same = keys
            .iter()
            .filter(|k| bucket(&format!("candidate{k}")) == bucket(&format!("other{k}")))
            .count();
        assert!(same < 200, "{same}");
    }

    #[test]
    fn a_bigger_share_keeps_the_keys_of_a_smaller_one() {
        let at = |p: u32| {
            let text = format!(
                r#"{{"flags": {{"c": {{"state": "ENABLED", "variants": {{"on": true, "off": false}},
                   "defaultVariant": "off", "targeting": {{"fractional": [["on", {p}], ["off", {}]]}}}}}}}}"#,
                100 - p
            );
            let s = Snapshot::parse(&text).unwrap();
            (0..2000)
                .map(|i| format!("cus_{i}"))
                .filter(|k| s.enabled("c", k))
                .collect::<Vec<_>>()
        };
        let five = at(5);
        let fifty = at(50);
        assert!(five.iter().all(|k| fifty.contains(k)));
        assert!(at(0).is_empty());
        assert_eq!(at(100).len(), 2000);
    }

    #[test]
    fn targeting_it_does_not_know_falls_back_to_the_default() {
        let s = Snapshot::parse(
            r#"{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false},
               "defaultVariant": "on", "targeting": {"if": [true, "off", "on"]}}}}"#,
        )
        .unwrap();
        assert!(s.enabled("f", "k"));
        assert!(Snapshot::parse("not json").is_err());
    }
}
