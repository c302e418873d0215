//! `flagd`: feature flags in a flagd flag-definition file
//! (<https://flagd.dev/reference/flag-definitions/>), the file flagd (or an
//! in-process OpenFeature provider) watches.
//!
//! ```yaml
//! flags-file:
//!   type: flagd
//!   file: /etc/flagd/flags.json
//! ```
//!
//! migrate drives boolean flags with the variants `"on": true` and
//! `"off": false`:
//!
//! | migrate's flag | in the file |
//! |---|---|
//! | on for everyone (or 100%) | `"state": "ENABLED"`, `"defaultVariant": "on"`, no `targeting` |
//! | on for p% (0 ≤ p < 100) | `"state": "ENABLED"`, `"defaultVariant": "off"`, `"targeting": {"fractional": [["on", p], ["off", 100 - p]]}` |
//! | off | `"state": "ENABLED"`, `"defaultVariant": "off"`, no `targeting` |
//! | off, rolling out to p% once on | as off, and `"metadata": {"migrate.rollout": p}` |
//!
//! flagd buckets an evaluation by its targeting key; one without a key
//! cannot be bucketed and gets the default variant, so a partial split
//! defaults to "off": only bucketed keys get "on", about p% of them.
//!
//! Reading:
//! - a flag whose `targeting` is that `fractional` split is on for p% —
//!   whatever its `defaultVariant` (earlier versions of migrate wrote
//!   "on"), since flagd serves the split to every key it can bucket. The
//!   split may start with a bucketing expression (`{"var": "email"}`),
//!   list its two buckets in either order, and use any weights (p is
//!   `on / (on + off)`);
//! - without targeting, the flag is on when `state` is `ENABLED` and
//!   `defaultVariant` is `on`; otherwise it is off, with the rollout kept
//!   in its metadata, if any;
//! - a `DISABLED` flag is off; a split it has is its rollout once on;
//! - a flag missing from the file is off, with no rollout.
//!
//! Writing sets the whole flag to one of the forms above, computed from
//! the change and the flag as read. A flag turned off (or given a percent
//! while off) keeps its rollout in `metadata` (`migrate.rollout`, and
//! `migrate.rolloutBucketBy` for a split's bucketing expression, as JSON
//! text: flagd's schema allows only strings, numbers and booleans there):
//! an off flag with a `fractional` split would serve "on" to its share, so
//! the split itself cannot stay. Turning it on writes the split back; a
//! change that leaves no rollout removes migrate's metadata keys (and a
//! `metadata` object left empty). At 100%, a split with the operator's
//! bucketing expression is kept at 100/0 with `"defaultVariant": "on"`,
//! so that it is not lost. A flag missing from the file is created with
//! the on/off variants. Non-integer percents are written as integer
//! weights over a power of ten (2.5% → `["on", 25], ["off", 975]`), which
//! needs a flagd whose `fractional` takes relative weights; whole percents
//! always sum to 100.
//!
//! What migrate does not own is never touched or lost: other flags,
//! `$schema`, `$evaluators`, `metadata`, a flag's other fields, and key
//! order (the file is re-indented with two spaces). A flag with targeting
//! migrate did not write (any other rule), or with other variants, is an
//! error naming the flag — migrate never overwrites an operator's rules.
//! A file that is not valid JSON is an error too and is left as it is.
//!
//! The file must exist (an empty one is `{"flags": {}}`): flagd is pointed
//! at it by the operator, and a missing file more likely means a wrong
//! path than a wish to start one. Writes are atomic (a temporary file in
//! the same directory, fsynced, renamed over the file; a symlink is
//! followed and its target replaced), keep the file's mode (and owner,
//! when permitted), and are skipped when nothing changes. Concurrent
//! changes from this process are serialized per file.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{config_of, Adapter, CallCtx, Failure, FlagChange, FlagState, Flags, ProviderError};
use crate::fsutil;
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec, Shape};
use crate::plan::{Capability, Provider, Text};

/// A `flagd` provider.
pub struct Flagd {
    file: Text,
    ctx: CallCtx,
}

/// Why a file operation failed, before it is named for the provider.
struct Problem {
    failure: Failure,
    message: String,
}

impl Problem {
    fn new(failure: Failure, message: impl Into<String>) -> Self {
        Self {
            failure,
            message: message.into(),
        }
    }
}

impl Flagd {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Self {
        Self {
            file: cfg.file.clone(),
            ctx,
        }
    }

    /// Run a blocking file operation under the call policy.
    async fn blocking<T, F>(&self, doing: &str, op: F) -> Result<T, ProviderError>
    where
        T: Send + 'static,
        F: Fn(&Path, &str) -> Result<T, Problem> + Send + Sync + 'static,
    {
        let op = Arc::new(op);
        let path = PathBuf::from(self.file.expose());
        let shown = self.file.shown().to_string();
        self.ctx
            .call(doing, true, || {
                let op = op.clone();
                let path = path.clone();
                let shown = shown.clone();
                async move {
                    let r = tokio::task::spawn_blocking(move || op(&path, &shown)).await;
                    match r {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(p)) => Err(self.ctx.error(p.failure, doing, p.message)),
                        Err(e) => Err(self.ctx.error(Failure::Transient, doing, e.to_string())),
                    }
                }
            })
            .await
    }
}

#[async_trait]
impl Flags for Flagd {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError> {
        let doing = format!("reading flag '{key}'");
        let key = key.to_string();
        self.blocking(&doing, move |path, shown| {
            let doc = load(path, shown)?;
            read_flag(&doc, &key)
                .map_err(|m| Problem::new(Failure::Rejected, format!("{shown}: {m}")))
        })
        .await
    }

    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError> {
        let doing = format!("setting flag '{key}'");
        let key = key.to_string();
        let change = change.clone();
        self.blocking(&doing, move |path, shown| {
            let lock = file_lock(path);
            let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut doc = load(path, shown)?;
            let changed = apply(&mut doc, &key, &change)
                .map_err(|m| Problem::new(Failure::Rejected, format!("{shown}: {m}")))?;
            if changed {
                save(path, shown, &doc)?;
            }
            Ok(())
        })
        .await
    }
}

/// One lock per file, so that two changes from this process never lose
/// each other's edit.
fn file_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut locks = LOCKS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks.entry(key).or_default().clone()
}

fn io_problem(shown: &str, what: &str, e: &std::io::Error) -> Problem {
    let failure = match e.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied => Failure::Rejected,
        _ => Failure::Transient,
    };
    Problem::new(failure, format!("cannot {what} {shown}: {e}"))
}

fn load(path: &Path, shown: &str) -> Result<Value, Problem> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Problem::new(
                Failure::Rejected,
                format!(
                    "the flag file {shown} does not exist; create it where flagd reads it (an empty one is {{\"flags\": {{}}}})"
                ),
            )
        } else {
            io_problem(shown, "read", &e)
        }
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        Problem::new(
            Failure::Garbage,
            format!(
                "{shown} is not valid JSON (line {}, column {}: {e}); fix it by hand, migrate will not overwrite it",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !doc.is_object() {
        return Err(Problem::new(
            Failure::Garbage,
            format!(
                "{shown} is not a flagd flag file: it holds {}, not an object with \"flags\"",
                super::template::kind(&doc)
            ),
        ));
    }
    Ok(doc)
}

fn save(path: &Path, shown: &str, doc: &Value) -> Result<(), Problem> {
    let mut text = serde_json::to_string_pretty(doc)
        .map_err(|e| Problem::new(Failure::Rejected, format!("cannot write {shown}: {e}")))?;
    text.push('\n');
    // Replace the file a symlink points at, not the symlink.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let owner = std::fs::metadata(&target).ok().map(|m| (m.uid(), m.gid()));
    fsutil::write_atomic(&target, text.as_bytes(), None)
        .map_err(|e| io_problem(shown, "write", &e))?;
    if let Some((uid, gid)) = owner {
        // Best effort: only root may give a file away.
        let _ = std::os::unix::fs::chown(&target, Some(uid), Some(gid));
    }
    Ok(())
}

/// The `flags` object of a document, if it has one.
fn flags(doc: &Value) -> Result<Option<&Map<String, Value>>, String> {
    match doc.get("flags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!(
            "\"flags\" must be an object, not {}",
            super::template::kind(other)
        )),
    }
}

/// Where an off flag keeps the rollout it gets when it is turned on: the
/// percent (a number), and the bucketing expression of its split (JSON
/// text), in the flag's `metadata` (whose values flagd's schema requires
/// to be strings, numbers or booleans).
pub const STORED_ROLLOUT: &str = "migrate.rollout";
pub const STORED_BUCKET_BY: &str = "migrate.rolloutBucketBy";

/// The flag `key` as migrate sees it.
pub fn read_flag(doc: &Value, key: &str) -> Result<FlagState, String> {
    let Some(flag) = flags(doc)?.and_then(|f| f.get(key)) else {
        return Ok(FlagState {
            enabled: false,
            percent: None,
        });
    };
    let Value::Object(flag) = flag else {
        return Err(format!("flag '{key}' is not an object"));
    };
    check_variants(key, flag)?;
    let state_enabled = flag.get("state").and_then(Value::as_str) == Some("ENABLED");
    let split = rollout(key, flag)?;
    let stored = stored(key, flag)?;
    Ok(match split {
        // flagd serves the split to every targeting key, whatever
        // `defaultVariant` says (files of earlier versions of migrate say
        // "on", these say "off").
        Some(s) if state_enabled => FlagState {
            enabled: true,
            percent: Some(s.percent),
        },
        // A DISABLED flag serves nobody; its split is what it serves once
        // it is enabled.
        Some(s) => FlagState {
            enabled: false,
            percent: Some(s.percent),
        },
        None if state_enabled
            && flag.get("defaultVariant").and_then(Value::as_str) == Some("on") =>
        {
            FlagState {
                enabled: true,
                percent: None,
            }
        }
        None => FlagState {
            enabled: false,
            percent: stored.map(|s| s.percent),
        },
    })
}

/// The rollout an off flag keeps in its metadata, if any.
fn stored(key: &str, flag: &Map<String, Value>) -> Result<Option<Split>, String> {
    let Some(Value::Object(meta)) = flag.get("metadata") else {
        return Ok(None);
    };
    let Some(p) = meta.get(STORED_ROLLOUT) else {
        return Ok(None);
    };
    let percent = p
        .as_f64()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| {
            format!(
                "flag '{key}' has metadata \"{STORED_ROLLOUT}\": {p}, which is not a percent (0 to 100); migrate keeps an off flag's rollout there: fix or remove it"
            )
        })?;
    let bucket_by = match meta.get(STORED_BUCKET_BY) {
        None => None,
        Some(Value::String(text)) => Some(serde_json::from_str(text).map_err(|e| {
            format!(
                "flag '{key}' has metadata \"{STORED_BUCKET_BY}\" that is not JSON ({e}); migrate keeps an off flag's bucketing expression there: fix or remove it"
            )
        })?),
        Some(other) => {
            return Err(format!(
                "flag '{key}' has metadata \"{STORED_BUCKET_BY}\": {other}, which is not a JSON text; fix or remove it"
            ))
        }
    };
    Ok(Some(Split { percent, bucket_by }))
}

/// Apply `change` to the flag `key` in `doc`; whether anything changed.
///
/// An on flag at 0 ≤ p < 100 gets `"defaultVariant": "off"` and the split
/// (an evaluation without a targeting key falls back to the default: off);
/// at 100% or without a rollout, `"on"` and no targeting (a split whose
/// bucketing expression is the operator's stays, at 100/0, so that it is
/// not lost). An off flag gets `"off"`, no targeting, and keeps its
/// rollout in `metadata` for when it is turned on.
pub fn apply(doc: &mut Value, key: &str, change: &FlagChange) -> Result<bool, String> {
    let current = read_flag(doc, key)?;
    let enabled = change.enabled.unwrap_or(current.enabled);
    let percent = match change.percent {
        Some(p) => p,
        None => current.percent,
    }
    .map(|p| p.clamp(0.0, 100.0));
    let Value::Object(root) = doc else {
        return Err("the file is not a JSON object".to_string());
    };
    let flags = match root.get_mut("flags") {
        Some(Value::Object(m)) => m,
        _ => {
            root.insert("flags".to_string(), Value::Object(Map::new()));
            match root.get_mut("flags") {
                Some(Value::Object(m)) => m,
                _ => return Err("cannot add \"flags\"".to_string()),
            }
        }
    };
    let before = flags.get(key).cloned();
    let flag = flags.entry(key.to_string()).or_insert_with(|| {
        json!({
            "state": "ENABLED",
            "variants": {"on": true, "off": false},
            "defaultVariant": "off",
        })
    });
    let Value::Object(flag) = flag else {
        return Err(format!("flag '{key}' is not an object"));
    };
    let bucket_by = match rollout(key, flag)? {
        Some(s) => s.bucket_by,
        None => stored(key, flag)?.and_then(|s| s.bucket_by),
    };
    if !enabled && percent.is_some() {
        if let Some(meta) = flag.get("metadata").filter(|m| !m.is_object()) {
            return Err(format!(
                "flag '{key}' has \"metadata\" {}, not an object; migrate keeps an off flag's rollout there",
                super::template::kind(meta)
            ));
        }
    }
    flag.insert("state".to_string(), json!("ENABLED"));
    let (default, targeting) = match (enabled, percent) {
        (true, Some(p)) if p < 100.0 => ("off", Some(fractional(p, bucket_by.clone()))),
        (true, Some(p)) => match &bucket_by {
            Some(b) => ("on", Some(fractional(p, Some(b.clone())))),
            None => ("on", None),
        },
        (true, None) => ("on", None),
        (false, _) => ("off", None),
    };
    flag.insert("defaultVariant".to_string(), json!(default));
    match targeting {
        Some(t) => {
            flag.insert("targeting".to_string(), t);
        }
        None => {
            flag.shift_remove("targeting");
        }
    }
    let keep = match (enabled, percent) {
        (false, Some(percent)) => Some(Split { percent, bucket_by }),
        _ => None,
    };
    set_stored(key, flag, keep)?;
    Ok(before.as_ref() != flags.get(key))
}
/// Keep `split` as the off flag's rollout in its metadata, or (`None`)
/// remove migrate's keys from it; a metadata object left empty by that is
/// removed, so that a flag migrate stored nothing on is as it was.
fn set_stored(
    key: &str,
    flag: &mut Map<String, Value>,
    split: Option<Split>,
) -> Result<(), String> {
    match split {
        Some(s) => {
            let meta = flag
                .entry("metadata".to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(meta) = meta else {
                return Err(format!(
                    "flag '{key}' has \"metadata\" {}, not an object; migrate keeps an off flag's rollout there",
                    super::template::kind(meta)
                ));
            };
            meta.insert(STORED_ROLLOUT.to_string(), number(s.percent));
            match s.bucket_by {
                Some(b) => {
                    meta.insert(STORED_BUCKET_BY.to_string(), json!(b.to_string()));
                }
                None => {
                    meta.shift_remove(STORED_BUCKET_BY);
                }
            }
        }
        None => {
            if let Some(Value::Object(meta)) = flag.get_mut("metadata") {
                let rollout = meta.shift_remove(STORED_ROLLOUT).is_some();
                let bucket_by = meta.shift_remove(STORED_BUCKET_BY).is_some();
                if (rollout || bucket_by) && meta.is_empty() {
                    flag.shift_remove("metadata");
                }
            }
        }
    }
    Ok(())
}

/// A percent as JSON: an integer when it is whole.
fn number(p: f64) -> Value {
    if p.fract() == 0.0 && p.abs() < 1e15 {
        json!(p as i64)
    } else {
        json!(p)
    }
}

fn check_variants(key: &str, flag: &Map<String, Value>) -> Result<(), String> {
    let variants = flag.get("variants");
    let ok = matches!(variants, Some(Value::Object(v))
        if v.get("on") == Some(&Value::Bool(true)) && v.get("off") == Some(&Value::Bool(false)));
    if ok {
        return Ok(());
    }
    let shown = variants.map_or_else(|| "none".to_string(), Value::to_string);
    Err(format!(
        "flag '{key}' has variants {shown}; migrate drives boolean flags with the variants \"on\": true and \"off\": false"
    ))
}

/// A percentage rollout as migrate writes it.
#[derive(Debug, PartialEq)]
struct Split {
    percent: f64,
    /// The bucketing expression the split starts with, if any.
    bucket_by: Option<Value>,
}

/// The flag's rollout: `None` without targeting, an error for targeting
/// migrate does not understand (and so must not overwrite).
fn rollout(key: &str, flag: &Map<String, Value>) -> Result<Option<Split>, String> {
    let targeting = match flag.get("targeting") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(t)) if t.is_empty() => return Ok(None),
        Some(t) => t,
    };
    parse_split(targeting).map(Some).ok_or_else(|| {
        let shown = super::web::quote(&targeting.to_string());
        format!(
            "flag '{key}' has targeting migrate did not write ({shown}); migrate only reads and writes a {{\"fractional\": [[\"on\", p], [\"off\", 100 - p]]}} split and will not overwrite other rules: remove them, or drive this flag another way"
        )
    })
}

fn parse_split(targeting: &Value) -> Option<Split> {
    let Value::Object(t) = targeting else {
        return None;
    };
    if t.len() != 1 {
        return None;
    }
    let Some(Value::Array(items)) = t.get("fractional") else {
        return None;
    };
    let (bucket_by, buckets) = match items.split_first() {
        Some((first, rest)) if !first.is_array() => (Some(first.clone()), rest),
        _ => (None, items.as_slice()),
    };
    let [a, b] = buckets else {
        return None;
    };
    let (mut on, mut off) = (None, None);
    for bucket in [a, b] {
        let Value::Array(pair) = bucket else {
            return None;
        };
        let [Value::String(name), Value::Number(w)] = pair.as_slice() else {
            return None;
        };
        let w = w.as_f64().filter(|w| w.is_finite() && *w >= 0.0)?;
        match name.as_str() {
            "on" if on.is_none() => on = Some(w),
            "off" if off.is_none() => off = Some(w),
            _ => return None,
        }
    }
    let (on, off) = (on?, off?);
    if on + off <= 0.0 {
        return None;
    }
    Some(Split {
        percent: 100.0 * on / (on + off),
        bucket_by,
    })
}

/// `{"fractional": [(bucket_by,) ["on", w], ["off", total - w]]}` with
/// integer weights: out of 100 for whole percents, else out of 100 × 10^k.
fn fractional(percent: f64, bucket_by: Option<Value>) -> Value {
    let p = percent.clamp(0.0, 100.0);
    let mut scale: u64 = 1;
    for _ in 0..6 {
        let scaled = p * scale as f64;
        if (scaled - scaled.round()).abs() < 1e-6 {
            break;
        }
        scale *= 10;
    }
    let total = 100 * scale;
    let on = ((p * scale as f64).round() as u64).min(total);
    let mut items = Vec::new();
    if let Some(b) = bucket_by {
        items.push(b);
    }
    items.push(json!(["on", on]));
    items.push(json!(["off", total - on]));
    json!({ "fractional": items })
}

// The declaration: what a `flagd` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "flagd",
    article: "a",
    capabilities: &[Capability::Flags],
    needs: &[],
    keys: &[Key::required(
        "file",
        Shape::Text,
        "the flag definitions file flagd watches; migrate rewrites it (atomically)",
    )],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    flags: Some(build_flags),
    ..Adapter::of(&SPEC)
};

fn build_flags(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Flags>> {
    Ok(Arc::new(Flagd::new(config_of::<Config>(p)?, ctx)))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub file: Text,
}

impl ProviderConfig for Config {}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    spec::config(Config {
        file: r.text(cx, "file")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(enabled: Option<bool>, percent: Option<Option<f64>>) -> FlagChange {
        FlagChange { enabled, percent }
    }

    fn state(enabled: bool, percent: Option<f64>) -> FlagState {
        FlagState { enabled, percent }
    }

    const FILE: &str = r##"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "zeta-banner": {
      "state": "ENABLED",
      "variants": { "red": "#f00", "blue": "#00f" },
      "defaultVariant": "red",
      "targeting": { "if": [{ "in": ["@example.com", { "var": "email" }] }, "blue"] }
    },
    "orders.dual-write": {
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off",
      "metadata": { "owner": "orders" }
    },
    "alpha": { "state": "DISABLED", "variants": { "on": true, "off": false }, "defaultVariant": "on" }
  },
  "$evaluators": { "staff": { "in": ["@example.com", { "var": "email" }] } },
  "metadata": { "version": "7" }
}"##;

    fn doc() -> Value {
        serde_json::from_str(FILE).unwrap()
    }

    #[test]
    fn reads_the_three_forms_and_missing_flags() {
        let d = doc();
        assert_eq!(read_flag(&d, "orders.dual-write"), Ok(state(false, None)));
        assert_eq!(read_flag(&d, "alpha"), Ok(state(false, None)));
        assert_eq!(read_flag(&d, "nope"), Ok(state(false, None)));
        let on: Value = serde_json::from_str(
            r#"{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}"#,
        )
        .unwrap();
        assert_eq!(read_flag(&on, "f"), Ok(state(true, None)));
        let split: Value = serde_json::from_str(
            r#"{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                "targeting": {"fractional": [{"var": "email"}, ["off", 975], ["on", 25]]}}}}"#,
        )
        .unwrap();
        assert_eq!(read_flag(&split, "f"), Ok(state(true, Some(2.5))));
        assert_eq!(read_flag(&json!({}), "f"), Ok(state(false, None)));
    }

    #[test]
    fn refuses_other_targeting_and_variants() {
        let d = doc();
        let err = read_flag(&d, "zeta-banner").unwrap_err();
        assert!(
            err.contains("'zeta-banner'") && err.contains("variants"),
            "{err}"
        );
        let mut custom = doc();
        custom["flags"]["orders.dual-write"]["targeting"] =
            json!({"if": [{"var": "beta"}, "on", "off"]});
        let before = custom.clone();
        let err = apply(&mut custom, "orders.dual-write", &change(Some(true), None)).unwrap_err();
        assert!(err.contains("did not write"), "{err}");
        assert_eq!(custom, before, "nothing is changed on error");
        let three = json!({"fractional": [["on", 1], ["off", 1], ["on", 1]]});
        assert_eq!(parse_split(&three), None);
        let extra = json!({"fractional": [["on", 5], ["off", 95]], "if": []});
        assert_eq!(parse_split(&extra), None);
    }

    #[test]
    fn writes_round_trip_and_keep_everything_else() {
        let mut d = doc();
        assert_eq!(
            apply(
                &mut d,
                "orders.dual-write",
                &change(Some(true), Some(Some(5.0)))
            ),
            Ok(true)
        );
        assert_eq!(
            read_flag(&d, "orders.dual-write"),
            Ok(state(true, Some(5.0)))
        );
        let f = &d["flags"]["orders.dual-write"];
        // Partial: an evaluation without a targeting key gets the default.
        assert_eq!(f["defaultVariant"], "off");
        assert_eq!(
            f["targeting"],
            json!({"fractional": [["on", 5], ["off", 95]]})
        );
        assert_eq!(f["metadata"], json!({"owner": "orders"}));
        // Everything else is as it was, in the same order.
        let original = doc();
        assert_eq!(d["flags"]["zeta-banner"], original["flags"]["zeta-banner"]);
        assert_eq!(d["$evaluators"], original["$evaluators"]);
        let keys: Vec<_> = d.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["$schema", "flags", "$evaluators", "metadata"]);
        let flag_keys: Vec<_> = d["flags"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(flag_keys, ["zeta-banner", "orders.dual-write", "alpha"]);
        // The same change again changes nothing.
        assert_eq!(
            apply(
                &mut d,
                "orders.dual-write",
                &change(Some(true), Some(Some(5.0)))
            ),
            Ok(false)
        );
        // Percent alone keeps enabled; enabled alone keeps the rollout.
        apply(&mut d, "orders.dual-write", &change(None, Some(Some(50.0)))).unwrap();
        assert_eq!(
            read_flag(&d, "orders.dual-write"),
            Ok(state(true, Some(50.0)))
        );
        // Removing the rollout: on for everyone.
        apply(&mut d, "orders.dual-write", &change(None, Some(None))).unwrap();
        assert_eq!(read_flag(&d, "orders.dual-write"), Ok(state(true, None)));
        assert!(d["flags"]["orders.dual-write"].get("targeting").is_none());
    }

    #[test]
    fn an_off_flag_keeps_its_rollout_for_when_it_is_turned_on() {
        let mut d = doc();
        let original = d["flags"]["orders.dual-write"].clone();
        // A percent on an off flag is stored, and serves nobody.
        assert_eq!(
            apply(&mut d, "orders.dual-write", &change(None, Some(Some(5.0)))),
            Ok(true)
        );
        assert_eq!(
            read_flag(&d, "orders.dual-write"),
            Ok(state(false, Some(5.0)))
        );
        let f = &d["flags"]["orders.dual-write"];
        assert_eq!(f["defaultVariant"], "off");
        assert!(f.get("targeting").is_none());
        assert_eq!(
            f["metadata"],
            json!({"owner": "orders", "migrate.rollout": 5})
        );
        // Turned on, it serves the stored share.
        apply(&mut d, "orders.dual-write", &change(Some(true), None)).unwrap();
        assert_eq!(
            read_flag(&d, "orders.dual-write"),
            Ok(state(true, Some(5.0)))
        );
        let f = &d["flags"]["orders.dual-write"];
        assert_eq!(
            f["targeting"],
            json!({"fractional": [["on", 5], ["off", 95]]})
        );
        assert_eq!(f["metadata"], json!({"owner": "orders"}));
        // Turned off again, the rollout is kept.
        apply(&mut d, "orders.dual-write", &change(Some(false), None)).unwrap();
        assert_eq!(
            read_flag(&d, "orders.dual-write"),
            Ok(state(false, Some(5.0)))
        );
        // Restoring the baseline (off, no rollout) puts the flag back as
        // it was.
        apply(
            &mut d,
            "orders.dual-write",
            &FlagChange::to(&state(false, None)),
        )
        .unwrap();
        assert_eq!(d["flags"]["orders.dual-write"], original);
        // A flag without metadata gets none back.
        let mut e = json!({"flags": {}});
        apply(&mut e, "f", &change(Some(false), Some(Some(2.5)))).unwrap();
        assert_eq!(e["flags"]["f"]["metadata"], json!({"migrate.rollout": 2.5}));
        apply(&mut e, "f", &change(None, Some(None))).unwrap();
        assert_eq!(
            e["flags"]["f"],
            json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"})
        );
    }

    #[test]
    fn on_for_everyone_has_no_targeting_and_off_without_rollout_stores_none() {
        let mut d = doc();
        apply(
            &mut d,
            "orders.dual-write",
            &change(Some(true), Some(Some(100.0))),
        )
        .unwrap();
        let f = &d["flags"]["orders.dual-write"];
        assert_eq!(f["defaultVariant"], "on");
        assert!(f.get("targeting").is_none());
        assert_eq!(read_flag(&d, "orders.dual-write"), Ok(state(true, None)));
        apply(&mut d, "orders.dual-write", &change(Some(false), None)).unwrap();
        assert_eq!(read_flag(&d, "orders.dual-write"), Ok(state(false, None)));
        let f = &d["flags"]["orders.dual-write"];
        assert_eq!(f["defaultVariant"], "off");
        assert!(f.get("targeting").is_none());
        assert_eq!(f["metadata"], json!({"owner": "orders"}));
    }

    #[test]
    fn files_of_the_earlier_format_read_back_and_are_rewritten() {
        // `defaultVariant: on` with a split: on at the split's share.
        let mut d = json!({"flags": {"f": {
            "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
            "targeting": {"fractional": [["on", 25], ["off", 75]]}
        }}});
        assert_eq!(read_flag(&d, "f"), Ok(state(true, Some(25.0))));
        // The same state written again: the default becomes off.
        assert_eq!(
            apply(&mut d, "f", &FlagChange::to(&state(true, Some(25.0)))),
            Ok(true)
        );
        assert_eq!(d["flags"]["f"]["defaultVariant"], "off");
        assert_eq!(read_flag(&d, "f"), Ok(state(true, Some(25.0))));
        // A DISABLED flag with a split serves nobody, and its split once
        // enabled (it is not widened to everyone).
        let mut d = json!({"flags": {"f": {
            "state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
            "targeting": {"fractional": [["on", 10], ["off", 90]]}
        }}});
        assert_eq!(read_flag(&d, "f"), Ok(state(false, Some(10.0))));
        apply(&mut d, "f", &change(Some(true), None)).unwrap();
        assert_eq!(read_flag(&d, "f"), Ok(state(true, Some(10.0))));
        assert_eq!(d["flags"]["f"]["state"], "ENABLED");
    }

    #[test]
    fn the_bucketing_expression_survives_off_and_100_percent() {
        let email = json!({"var": "email"});
        let mut d = json!({"flags": {"f": {
            "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
            "targeting": {"fractional": [email, ["on", 10], ["off", 90]]}
        }}});
        apply(&mut d, "f", &change(Some(false), None)).unwrap();
        assert_eq!(
            d["flags"]["f"]["metadata"],
            json!({"migrate.rollout": 10, "migrate.rolloutBucketBy": "{\"var\":\"email\"}"})
        );
        apply(&mut d, "f", &change(Some(true), None)).unwrap();
        assert_eq!(
            d["flags"]["f"]["targeting"],
            json!({"fractional": [email, ["on", 10], ["off", 90]]})
        );
        assert!(d["flags"]["f"].get("metadata").is_none());
        // At 100% the operator's expression is kept, with everyone on.
        apply(&mut d, "f", &change(None, Some(Some(100.0)))).unwrap();
        assert_eq!(d["flags"]["f"]["defaultVariant"], "on");
        assert_eq!(
            d["flags"]["f"]["targeting"],
            json!({"fractional": [email, ["on", 100], ["off", 0]]})
        );
        apply(&mut d, "f", &change(None, Some(Some(50.0)))).unwrap();
        assert_eq!(
            d["flags"]["f"]["targeting"],
            json!({"fractional": [email, ["on", 50], ["off", 50]]})
        );
    }

    #[test]
    fn a_stored_rollout_that_is_not_a_percent_is_an_error() {
        let mut d = json!({"flags": {"f": {
            "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
            "metadata": {"migrate.rollout": "lots"}
        }}});
        let err = read_flag(&d, "f").unwrap_err();
        assert!(
            err.contains("migrate.rollout") && err.contains("'f'"),
            "{err}"
        );
        let before = d.clone();
        assert!(apply(&mut d, "f", &change(Some(true), None)).is_err());
        assert_eq!(d, before);
        let mut e = json!({"flags": {"f": {
            "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
            "metadata": "x"
        }}});
        let err = apply(&mut e, "f", &change(None, Some(Some(5.0)))).unwrap_err();
        assert!(err.contains("not an object"), "{err}");
        assert_eq!(e["flags"]["f"]["metadata"], "x");
    }

    #[test]
    fn enabling_a_disabled_flag_sets_state() {
        let mut d = doc();
        apply(&mut d, "alpha", &change(Some(true), None)).unwrap();
        assert_eq!(d["flags"]["alpha"]["state"], "ENABLED");
        assert_eq!(read_flag(&d, "alpha"), Ok(state(true, None)));
    }

    #[test]
    fn creates_missing_flags_and_flags_objects() {
        let mut d = json!({"$schema": "x"});
        apply(&mut d, "new", &change(Some(true), Some(Some(10.0)))).unwrap();
        assert_eq!(
            d["flags"]["new"],
            json!({
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "targeting": {"fractional": [["on", 10], ["off", 90]]}
            })
        );
        assert_eq!(read_flag(&d, "new"), Ok(state(true, Some(10.0))));
    }

    #[test]
    fn keeps_the_bucketing_expression_and_writes_fractions_as_integers() {
        let mut d = json!({"flags": {"f": {
            "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
            "targeting": {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}, ["on", 10], ["off", 90]]}
        }}});
        apply(&mut d, "f", &change(None, Some(Some(2.5)))).unwrap();
        assert_eq!(
            d["flags"]["f"]["targeting"],
            json!({"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}, ["on", 25], ["off", 975]]})
        );
        assert_eq!(read_flag(&d, "f"), Ok(state(true, Some(2.5))));
        assert_eq!(
            fractional(0.0, None),
            json!({"fractional": [["on", 0], ["off", 100]]})
        );
        assert_eq!(
            fractional(100.0, None),
            json!({"fractional": [["on", 100], ["off", 0]]})
        );
        assert_eq!(
            fractional(33.125, None),
            json!({"fractional": [["on", 33125], ["off", 66875]]})
        );
    }

    #[test]
    fn a_flags_entry_of_the_wrong_kind_is_an_error() {
        let mut d = json!({"flags": []});
        assert!(read_flag(&d, "f").is_err());
        let mut e = json!({"flags": {"f": 3}});
        assert!(apply(&mut e, "f", &change(Some(true), None)).is_err());
        // `flags: []` is replaced only if read succeeded; it did not.
        assert!(apply(&mut d, "f", &change(Some(true), None)).is_err());
    }
}
