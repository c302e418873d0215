//! Strings from the plan, with `${VAR}` / `${VAR:-default}` taken from the
//! environment. A string that used the environment is a secret: it shows as
//! the template it was written as (`Bearer ${CTL_TOKEN}`), never as its value.

use std::fmt;

use serde::{Serialize, Serializer};

pub use crate::domain::env::{Env, ProcessEnv};

/// A string value of the plan.
#[derive(Clone, PartialEq, Eq)]
pub struct Text {
    value: String,
    /// As written in the plan; what is shown when `secret`.
    template: String,
    secret: bool,
}

impl Text {
    /// A string that used no environment variable.
    pub fn literal(value: impl Into<String>) -> Self {
        let value = value.into();
        Self {
            template: value.clone(),
            value,
            secret: false,
        }
    }

    /// The real value, for talking to a system. Never print it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// What may be shown, logged or stored: the value itself, or for a secret
    /// the template it was written as.
    pub fn shown(&self) -> &str {
        if self.secret {
            &self.template
        } else {
            &self.value
        }
    }

    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.shown(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum InterpError {
    /// `${NAME}` with NAME unset and no default.
    Missing(String),
    /// A malformed reference; the message says how.
    Syntax(String),
}

/// Expand `${VAR}` and `${VAR:-default}` (the default is used when VAR is
/// unset or empty, as in POSIX shells); `$${` stands for a literal `${`.
/// Every problem in the string is returned, not just the first.
pub fn interpolate(raw: &str, env: &dyn Env) -> Result<Text, Vec<InterpError>> {
    if !raw.contains("${") {
        return Ok(Text::literal(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut errors = Vec::new();
    let mut used_env = false;
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(close) = body_start.find('}') else {
            errors.push(InterpError::Syntax("'${' is not closed by '}'".to_string()));
            rest = "";
            break;
        };
        let body = &body_start[..close];
        rest = &body_start[close + 1..];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        if !is_var_name(name) {
            errors.push(InterpError::Syntax(format!(
                "'${{{body}}}' is not a variable reference: names are letters, digits and '_', not starting with a digit"
            )));
            continue;
        }
        used_env = true;
        match (env.var(name), default) {
            (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => errors.push(InterpError::Missing(name.to_string())),
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Text {
            value: out,
            template: raw.to_string(),
            secret: used_env,
        })
    } else {
        Err(errors)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn plain_strings_are_not_secret() {
        let t = interpolate("http://prom:9090", &env(&[])).unwrap();
        assert_eq!(t.expose(), "http://prom:9090");
        assert!(!t.is_secret());
    }

    #[test]
    fn variables_expand_and_hide() {
        let t = interpolate("Bearer ${TOKEN}", &env(&[("TOKEN", "s3cr3t")])).unwrap();
        assert_eq!(t.expose(), "Bearer s3cr3t");
        assert_eq!(t.to_string(), "Bearer ${TOKEN}");
        assert_eq!(format!("{t:?}"), "\"Bearer ${TOKEN}\"");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"Bearer ${TOKEN}\"");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let e = env(&[("EMPTY", "")]);
        assert_eq!(interpolate("${NOPE:-x}", &e).unwrap().expose(), "x");
        assert_eq!(interpolate("${EMPTY:-y}", &e).unwrap().expose(), "y");
        assert_eq!(interpolate("${EMPTY}", &e).unwrap().expose(), "");
    }

    #[test]
    fn every_missing_variable_is_reported() {
        let err = interpolate("${A}/${B:-ok}/${C}", &env(&[])).unwrap_err();
        assert_eq!(
            err,
            vec![
                InterpError::Missing("A".into()),
                InterpError::Missing("C".into())
            ]
        );
    }

    #[test]
    fn escapes_and_syntax_errors() {
        let t = interpolate("echo $${HOME} $5", &env(&[])).unwrap();
        assert_eq!(t.expose(), "echo ${HOME} $5");
        assert!(matches!(
            interpolate("${1X}", &env(&[])).unwrap_err()[0],
            InterpError::Syntax(_)
        ));
        assert!(matches!(
            interpolate("${OPEN", &env(&[])).unwrap_err()[0],
            InterpError::Syntax(_)
        ));
    }
}
