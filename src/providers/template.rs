//! What the generic providers (`exec`, `http`) share: filling the
//! `{{placeholder}}`s of their templates, and reading the values their
//! commands and endpoints answer with.
//!
//! # Placeholders
//!
//! Every call fills every placeholder; one that means nothing for the call
//! at hand is filled with the empty string, so one script or endpoint can
//! serve several uses and tell them apart by `{{channel}}`:
//!
//! | placeholder | traffic / mirror | flags | metrics |
//! |---|---|---|---|
//! | `{{channel}}` | `traffic` or `mirror` | `flags` | `metrics` |
//! | `{{percent}}` | the share, e.g. `5`, `2.5` (set only) | the rollout (set only; see below) | empty |
//! | `{{key}}` | empty | the flag key | empty |
//! | `{{enabled}}` | empty | `true` / `false` (set only) | empty |
//! | `{{query}}` | empty | empty | the gate's query |
//!
//! Numbers are written without float noise (`5`, not `5.0`; `33.333333`
//! at most six decimals). A flag with no percentage rollout (everyone gets
//! `enabled`) fills `{{percent}}` with `100`: that is what "no rollout"
//! means to a system that always has a percentage, and it keeps meaning it
//! when the flag is turned on later. When a flag change leaves a field
//! untouched that the template needs (only `enabled` changes, but the
//! template also says `{{percent}}`), the adapter reads the flag first and
//! fills in its current value.
//!
//! Escaping depends on where the template is used ([`Escape`]): argv
//! elements get values as they are (there is no shell to misread them),
//! URLs get them percent-encoded, request bodies get them JSON-escaped
//! inside a JSON string (`"{{query}}"`) and as they are elsewhere.
//!
//! # Answers
//!
//! - traffic: a number, `5`, `5.0` or `5%`, whitespace around it ignored,
//!   between 0 and 100.
//! - flags: a JSON object `{"enabled": true, "percent": 5}`; `percent` may
//!   be missing or null (no rollout), or a numeric string.
//! - metrics: a number (`NaN` and an empty answer mean no data; `+Inf` and
//!   `-Inf` are infinite values, which breach thresholds).

use serde_json::Value;

use super::{fmt_number, Channel, FlagChange, FlagState};

/// The placeholder values of one call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vars {
    pub channel: String,
    pub percent: String,
    pub key: String,
    pub enabled: String,
    pub query: String,
}

impl Vars {
    /// Setting (`Some(percent)`) or reading (`None`) a traffic channel.
    pub fn traffic(channel: Channel, percent: Option<f64>) -> Self {
        Self {
            channel: channel.name().to_string(),
            percent: percent.map(fmt_number).unwrap_or_default(),
            ..Self::default()
        }
    }

    /// Reading a flag.
    pub fn flag_get(key: &str) -> Self {
        Self {
            channel: "flags".to_string(),
            key: key.to_string(),
            ..Self::default()
        }
    }

    /// Setting a flag: `change`, completed by `current` (the flag as read
    /// before) for the fields the change leaves untouched.
    pub fn flag_set(key: &str, change: &FlagChange, current: Option<&FlagState>) -> Self {
        let enabled = change
            .enabled
            .or(current.map(|c| c.enabled))
            .map(|e| e.to_string())
            .unwrap_or_default();
        let percent = match (change.percent, current) {
            (Some(p), _) => rollout_percent(p),
            (None, Some(c)) => rollout_percent(c.percent),
            (None, None) => String::new(),
        };
        Self {
            channel: "flags".to_string(),
            key: key.to_string(),
            enabled,
            percent,
            ..Self::default()
        }
    }

    /// Running a metrics query.
    pub fn query(query: &str) -> Self {
        Self {
            channel: "metrics".to_string(),
            query: query.to_string(),
            ..Self::default()
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "channel" => Some(&self.channel),
            "percent" => Some(&self.percent),
            "key" => Some(&self.key),
            "enabled" => Some(&self.enabled),
            "query" => Some(&self.query),
            _ => None,
        }
    }
}

/// `{{percent}}` of a flag: its rollout, or 100 without one.
fn rollout_percent(p: Option<f64>) -> String {
    fmt_number(p.unwrap_or(100.0))
}

/// Whether a flag change must read the flag first: the change leaves a
/// field untouched that one of the templates needs.
pub fn needs_current<'a>(
    change: &FlagChange,
    templates: impl IntoIterator<Item = &'a str>,
) -> bool {
    templates.into_iter().any(|t| {
        (change.enabled.is_none() && uses(t, "enabled"))
            || (change.percent.is_none() && uses(t, "percent"))
    })
}

/// How values are written into a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// As they are (argv elements, header values).
    Raw,
    /// Percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`).
    Url,
    /// JSON-escaped inside a JSON string of the template, as they are
    /// outside one.
    Json,
}

/// The `{{name}}`s of a template, in order (names trimmed).
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// Whether `template` has the placeholder `name`.
pub fn uses(template: &str, name: &str) -> bool {
    placeholders(template).contains(&name)
}

/// Fill `template`. An unknown placeholder (validation rejects them, so
/// only a bug gets here) or an unclosed `{{` is an error.
pub fn fill(template: &str, vars: &Vars, escape: Escape) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    loop {
        let Some(start) = rest.find("{{") else {
            out.push_str(rest);
            return Ok(out);
        };
        let before = &rest[..start];
        if escape == Escape::Json {
            for c in before.chars() {
                if escaped {
                    escaped = false;
                } else if c == '\\' && in_string {
                    escaped = true;
                } else if c == '"' {
                    in_string = !in_string;
                }
            }
        }
        out.push_str(before);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("'{{' is not closed by '}}'".to_string());
        };
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .ok_or_else(|| format!("unknown placeholder '{{{{{name}}}}}'"))?;
        match escape {
            Escape::Raw => out.push_str(value),
            Escape::Url => out.push_str(&url_encode(value)),
            Escape::Json if in_string => out.push_str(&json_escape(value)),
            Escape::Json => out.push_str(value),
        }
        rest = &after[end + 2..];
    }
}

/// Percent-encode all but the unreserved characters of RFC 3986.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inside of a JSON string holding `value`.
fn json_escape(value: &str) -> String {
    let quoted = Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

// ---- answers ------------------------------------------------------------

/// A traffic share as a command prints it: `5`, `5.0`, `5%`.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("the answer is empty; expected the candidate's percent, e.g. 5".to_string());
    }
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    let v: f64 = n
        .parse()
        .map_err(|_| "expected the candidate's percent, a number like 5 or 5%".to_string())?;
    check_percent(v)
}

fn check_percent(v: f64) -> Result<f64, String> {
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a percent between 0 and 100"))
    }
}

/// A metric value as text: a number (`NaN` too: the gate takes it as no
/// data and says NaN), or no data (empty).
pub fn parse_metric(text: &str) -> Result<Option<f64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let v: f64 = t
        .parse()
        .map_err(|_| "expected a number (or NaN / nothing for no data)".to_string())?;
    Ok(Some(v))
}

/// A JSON value holding a number: a number, or a string holding one.
/// `Ok(None)` for null; `"NaN"` is NaN.
pub fn json_number(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{n} is not a number migrate can use")),
        Value::String(s) => parse_metric(s).map_err(|_| format!("{v} is not a number")),
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

/// A traffic share in JSON: a number or numeric string (`"5%"` too).
pub fn json_percent(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("{n} is not a percent"))
            .and_then(check_percent),
        Value::String(s) => parse_percent(s),
        other => Err(format!(
            "expected the candidate's percent (a number), found {}",
            kind(other)
        )),
    }
}

/// A flag as JSON: `{"enabled": bool, "percent": number | null}`.
pub fn json_flag(v: &Value) -> Result<FlagState, String> {
    let Value::Object(map) = v else {
        return Err(format!(
            r#"expected an object like {{"enabled": true, "percent": 5}}, found {}"#,
            kind(v)
        ));
    };
    let enabled = match map.get("enabled") {
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "'enabled' must be true or false, found {}",
                kind(other)
            ))
        }
        None => {
            return Err(
                r#"the object has no 'enabled'; expected {"enabled": true, "percent": 5}"#
                    .to_string(),
            )
        }
    };
    let percent = match map.get("percent") {
        None | Some(Value::Null) => None,
        Some(p) => Some(json_percent(p).map_err(|e| format!("'percent': {e}"))?),
    };
    Ok(FlagState { enabled, percent })
}

/// A flag as text: the JSON object of [`json_flag`].
pub fn parse_flag(text: &str) -> Result<FlagState, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(r#"the answer is empty; expected {"enabled": true, "percent": 5}"#.to_string());
    }
    let v: Value = serde_json::from_str(t).map_err(|e| format!("not JSON ({e})"))?;
    json_flag(&v)
}

/// "an object", "a string", ...: a JSON value's kind, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_placeholder_with_spaces_allowed() {
        let v = Vars::traffic(Channel::Mirror, Some(2.5));
        assert_eq!(
            fill("echo {{percent}} > /run/{{ channel }}", &v, Escape::Raw).unwrap(),
            "echo 2.5 > /run/mirror"
        );
        // Placeholders of other uses are empty.
        assert_eq!(fill("[{{key}}|{{query}}]", &v, Escape::Raw).unwrap(), "[|]");
        assert_eq!(
            fill("no placeholders", &v, Escape::Raw).unwrap(),
            "no placeholders"
        );
    }

    #[test]
    fn percents_have_no_float_noise() {
        assert_eq!(Vars::traffic(Channel::Traffic, Some(5.0)).percent, "5");
        assert_eq!(
            Vars::traffic(Channel::Traffic, Some(0.1 + 0.2)).percent,
            "0.3"
        );
        assert_eq!(Vars::traffic(Channel::Traffic, Some(100.0)).percent, "100");
    }

    #[test]
    fn rejects_unknown_and_unclosed() {
        let v = Vars::default();
        assert!(fill("{{nope}}", &v, Escape::Raw).is_err());
        assert!(fill("a {{percent", &v, Escape::Raw).is_err());
    }

    #[test]
    fn url_values_are_encoded() {
        let v = Vars::query(r#"rate(x{code="5.."}) / 2"#);
        assert_eq!(
            fill("http://h/q?query={{query}}", &v, Escape::Url).unwrap(),
            "http://h/q?query=rate%28x%7Bcode%3D%225..%22%7D%29%20%2F%202"
        );
        let v = Vars::flag_get("a b/c");
        assert_eq!(
            fill("http://h/flags/{{key}}", &v, Escape::Url).unwrap(),
            "http://h/flags/a%20b%2Fc"
        );
    }

    #[test]
    fn json_bodies_escape_inside_strings_only() {
        let v = Vars::query(r#"x{a="b\c"}"#);
        let body = fill(
            r#"{"q": "{{query}}", "n": "{{channel}}"}"#,
            &v,
            Escape::Json,
        )
        .unwrap();
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["q"], r#"x{a="b\c"}"#);
        assert_eq!(parsed["n"], "metrics");
        let change = FlagChange {
            enabled: Some(true),
            percent: Some(Some(5.0)),
        };
        let v = Vars::flag_set("k", &change, None);
        let body = fill(
            r#"{"key": "{{key}}", "on": {{enabled}}, "p": {{percent}}, "s": "a\"{{key}}"}"#,
            &v,
            Escape::Json,
        )
        .unwrap();
        assert_eq!(body, r#"{"key": "k", "on": true, "p": 5, "s": "a\"k"}"#);
    }

    #[test]
    fn flag_sets_complete_untouched_fields_from_the_current_flag() {
        let current = FlagState {
            enabled: true,
            percent: Some(10.0),
        };
        let only_percent = FlagChange {
            enabled: None,
            percent: Some(Some(25.0)),
        };
        let v = Vars::flag_set("k", &only_percent, Some(&current));
        assert_eq!((v.enabled.as_str(), v.percent.as_str()), ("true", "25"));
        let only_enabled = FlagChange {
            enabled: Some(false),
            percent: None,
        };
        let v = Vars::flag_set("k", &only_enabled, Some(&current));
        assert_eq!((v.enabled.as_str(), v.percent.as_str()), ("false", "10"));
        // No rollout: 100, whether set that way or read that way.
        let remove = FlagChange {
            enabled: Some(true),
            percent: Some(None),
        };
        assert_eq!(Vars::flag_set("k", &remove, None).percent, "100");
        let plain = FlagState {
            enabled: false,
            percent: None,
        };
        assert_eq!(
            Vars::flag_set("k", &only_enabled, Some(&plain)).percent,
            "100"
        );
    }

    #[test]
    fn reads_first_only_when_a_template_needs_an_untouched_field() {
        let only_enabled = FlagChange {
            enabled: Some(true),
            percent: None,
        };
        assert!(needs_current(&only_enabled, ["set {{key}} {{percent}}"]));
        assert!(!needs_current(&only_enabled, ["set {{key}} {{enabled}}"]));
        let both = FlagChange {
            enabled: Some(true),
            percent: Some(Some(1.0)),
        };
        assert!(!needs_current(&both, ["{{enabled}} {{percent}}"]));
    }

    #[test]
    fn percents_are_read_leniently_and_checked() {
        for (text, want) in [("5", 5.0), (" 5.0\n", 5.0), ("5%", 5.0), ("12.5 %", 12.5)] {
            assert_eq!(parse_percent(text), Ok(want), "{text:?}");
        }
        for bad in ["", "five", "150", "-1", "NaN", "inf"] {
            assert!(parse_percent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metrics_read_no_data_and_infinities() {
        assert_eq!(parse_metric(" 0.25\n"), Ok(Some(0.25)));
        assert_eq!(parse_metric(""), Ok(None));
        assert!(parse_metric("NaN").is_ok_and(|v| v.is_some_and(f64::is_nan)));
        assert_eq!(parse_metric("+Inf"), Ok(Some(f64::INFINITY)));
        assert_eq!(parse_metric("-Inf"), Ok(Some(f64::NEG_INFINITY)));
        assert!(parse_metric("ok").is_err());
    }

    #[test]
    fn flags_read_from_json() {
        assert_eq!(
            parse_flag(r#"{"enabled":true,"percent":5}"#),
            Ok(FlagState {
                enabled: true,
                percent: Some(5.0)
            })
        );
        assert_eq!(
            parse_flag(r#" {"enabled":false,"percent":null} "#),
            Ok(FlagState {
                enabled: false,
                percent: None
            })
        );
        assert_eq!(
            parse_flag(r#"{"percent":"7.5","enabled":true}"#).map(|f| f.percent),
            Ok(Some(7.5))
        );
        for bad in [
            "",
            "true",
            r#"{"percent":5}"#,
            r#"{"enabled":"yes"}"#,
            r#"{"enabled":true,"percent":500}"#,
            "{",
        ] {
            assert!(parse_flag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_numbers() {
        assert_eq!(json_number(&serde_json::json!(3)), Ok(Some(3.0)));
        assert_eq!(json_number(&serde_json::json!("0.5")), Ok(Some(0.5)));
        assert!(json_number(&serde_json::json!("NaN")).is_ok_and(|v| v.is_some_and(f64::is_nan)));
        assert_eq!(json_number(&Value::Null), Ok(None));
        assert!(json_number(&serde_json::json!({"a": 1})).is_err());
        assert!(json_number(&serde_json::json!("x")).is_err());
    }
}
