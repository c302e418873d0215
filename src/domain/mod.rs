//! The bottom layer: the domain's shared types, which every layer above
//! speaks — a share of traffic and how two compare, the channel it is sent
//! on, a flag's state and a change to it, a target migrate changes and its
//! value, the SQL value model ([`sql`]) and where `${VAR}` values come
//! from ([`env`]). It depends on nothing else in the crate.

pub mod compare;
pub mod env;
pub mod notify;
pub mod sql;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Traffic proper, or a mirrored copy of it whose responses are discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Traffic,
    Mirror,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Traffic => "traffic",
            Channel::Mirror => "mirror",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A feature flag as migrate sees it: on or off, and the share of users it
/// is on for when it has a percentage rollout (`None`: no rollout, the flag
/// is simply on or off for everyone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlagState {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
}

impl fmt::Display for FlagState {
    /// `on`, `on at 25%`, `off`, and `off (serves nobody; 5% when turned
    /// on)` for an off flag that keeps a rollout: what it serves now, and
    /// what it will serve.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.enabled, self.percent) {
            (true, Some(p)) => write!(f, "on at {}%", fmt_number(p)),
            (true, None) => f.write_str("on"),
            // Kept at 100%, an off flag serves everyone when turned on, as
            // one that keeps no rollout does: the same state, the same
            // words (a provider may store either).
            (false, Some(p)) if same_percent(p, 100.0) => f.write_str("off"),
            (false, Some(p)) => write!(f, "off (serves nobody; {}% when turned on)", fmt_number(p)),
            (false, None) => f.write_str("off"),
        }
    }
}

/// What to change on a flag; `None` fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlagChange {
    pub enabled: Option<bool>,
    /// `Some(Some(p))`: roll out to p%; `Some(None)`: remove the percentage
    /// rollout (everyone gets `enabled`), used to restore such a baseline.
    pub percent: Option<Option<f64>>,
}

/// `on at 25%`, `off`, `no percentage rollout`, as the change says.
impl fmt::Display for FlagChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut what = Vec::new();
        if let Some(e) = self.enabled {
            what.push(if e { "on" } else { "off" }.to_string());
        }
        match self.percent {
            Some(Some(p)) => what.push(format!("{}%", fmt_number(p))),
            Some(None) => what.push("no percentage rollout".to_string()),
            None => {}
        }
        f.write_str(&what.join(" at "))
    }
}

impl FlagChange {
    /// The change that makes a flag exactly `state`.
    pub fn to(state: &FlagState) -> Self {
        Self {
            enabled: Some(state.enabled),
            percent: Some(state.percent),
        }
    }
}

/// `5`, `2.5`, `33.33`: a percent or metric without float noise.
pub fn fmt_number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// A gate reading as shown: its number, `NaN` (no data, but the source
/// said NaN), or `no data`.
pub fn fmt_reading(value: Option<f64>, nan: bool) -> String {
    match value {
        Some(v) => fmt_number(v),
        None if nan => "NaN".to_string(),
        None => "no data".to_string(),
    }
}

/// Two percents are the same setting when they differ by less than this:
/// proxies store weights as integers and cannot hold every real number.
pub const PERCENT_TOLERANCE: f64 = 0.05;

pub fn same_percent(a: f64, b: f64) -> bool {
    (a - b).abs() < PERCENT_TOLERANCE
}

/// Whether a flag read back matches what was set. An off flag is off for
/// everyone whatever rollout it keeps; some systems drop the rollout when a
/// flag is turned off, so an off flag's percent counts only when both
/// sides have one (a system that keeps it must keep the right one). An on flag without
/// a percentage rollout is on for everyone: the same as a 100% rollout
/// (some systems report one as the other), and not the same as any other
/// percent — a flag restored to "on for everyone" must lose its rollout.
pub fn same_flag(want: &FlagState, live: &FlagState) -> bool {
    if want.enabled != live.enabled {
        return false;
    }
    if !want.enabled {
        return match (want.percent, live.percent) {
            (Some(w), Some(l)) => same_percent(w, l),
            _ => true,
        };
    }
    same_percent(want.percent.unwrap_or(100.0), live.percent.unwrap_or(100.0))
}

/// What a migration changes: a proxy's split (or mirror share), or a flag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    Traffic { provider: String },
    Mirror { provider: String },
    Flag { provider: String, key: String },
}

impl Target {
    pub fn router(provider: &str, channel: Channel) -> Self {
        match channel {
            Channel::Traffic => Target::Traffic {
                provider: provider.to_string(),
            },
            Channel::Mirror => Target::Mirror {
                provider: provider.to_string(),
            },
        }
    }

    pub fn provider(&self) -> &str {
        match self {
            Target::Traffic { provider }
            | Target::Mirror { provider }
            | Target::Flag { provider, .. } => provider,
        }
    }

    /// Traffic and mirror targets are restored first, flags after.
    pub fn is_flag(&self) -> bool {
        matches!(self, Target::Flag { .. })
    }

    /// The key under which the state file keeps this target.
    pub fn id(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Traffic { provider } => write!(f, "traffic via {provider}"),
            Target::Mirror { provider } => write!(f, "mirror via {provider}"),
            Target::Flag { provider, key } => write!(f, "flag {key} via {provider}"),
        }
    }
}

/// A target's value: a percent for traffic and mirror, a flag's state.
///
/// A percent is either one the system was given (`Percent`: a weight, a
/// runtime override — what migrate sets), or one it takes from its own
/// configuration because no override is set (`Configured`: Envoy's route
/// default before a runtime key is written). Restoring a `Configured`
/// value removes the override, so that the configuration rules again —
/// also when it changes later. In the journal a `Percent` is a number
/// and a `Configured` is `{"configured": 2.5}`: records written before
/// the difference was kept read as `Percent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Percent(f64),
    Flag(FlagState),
    Configured {
        /// The share the configuration gave when it was read.
        configured: f64,
    },
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Percent(p) => write!(f, "{}%", fmt_number(*p)),
            Value::Flag(s) => write!(f, "{s}"),
            Value::Configured { configured } => {
                write!(f, "{}% (configured, no override)", fmt_number(*configured))
            }
        }
    }
}

impl Value {
    /// Whether a live reading matches what was set (within the tolerance
    /// of integer weights; a flag's rollout only when one was set). A
    /// percent set is matched by the same share, overridden or
    /// configured; "no override" only by no override, whatever share the
    /// configuration gives now (it is the configuration's to change).
    pub fn matches(&self, live: &Value) -> bool {
        match (self, live) {
            (Value::Percent(a), Value::Percent(b) | Value::Configured { configured: b }) => {
                same_percent(*a, *b)
            }
            (Value::Flag(a), Value::Flag(b)) => same_flag(a, b),
            (Value::Configured { .. }, Value::Configured { .. }) => true,
            _ => false,
        }
    }

    /// The share of a traffic or mirror value, overridden or configured
    /// (`None` for a flag).
    pub fn percent(&self) -> Option<f64> {
        match self {
            Value::Percent(p) | Value::Configured { configured: p } => Some(*p),
            Value::Flag(_) => None,
        }
    }
}

/// A short digest of `bytes` (the first 8 bytes of their SHA-256, in hex):
/// enough to notice that a step or a gate definition changed.
pub fn short_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let out = Sha256::digest(bytes);
    out.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_share_is_kept_apart_and_old_records_still_read() {
        // Records written before the difference: a number is a percent.
        let old: Value = serde_json::from_str("2.5").unwrap();
        assert_eq!(old, Value::Percent(2.5));
        let flag: Value = serde_json::from_str(r#"{"enabled": true, "percent": 5}"#).unwrap();
        assert!(matches!(flag, Value::Flag(_)));
        let configured = Value::Configured { configured: 2.5 };
        let text = serde_json::to_string(&configured).unwrap();
        assert_eq!(text, r#"{"configured":2.5}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), configured);
        assert_eq!(configured.to_string(), "2.5% (configured, no override)");
    }

    #[test]
    fn no_override_is_matched_only_by_no_override() {
        let configured = |p| Value::Configured { configured: p };
        // A percent set: the same share, overridden or configured.
        assert!(Value::Percent(10.0).matches(&configured(10.0)));
        assert!(!Value::Percent(10.0).matches(&configured(0.0)));
        // No override: an override of the same share is not it (it would
        // hide a later change of the configuration); the configuration's
        // own share is its to change.
        assert!(!configured(2.5).matches(&Value::Percent(2.5)));
        assert!(configured(2.5).matches(&configured(2.5)));
        assert!(configured(2.5).matches(&configured(50.0)));
    }
}
