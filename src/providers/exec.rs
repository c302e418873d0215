//! `exec`: any system a command can drive. `set` and `get` are argv
//! templates run without a shell (write `[sh, -c, '...']` to get one); see
//! [`super::template`] for the placeholders and what `get` must print.
//!
//! ```yaml
//! split:
//!   type: exec
//!   set: [sh, -c, 'echo {{percent}} > /run/payments.{{channel}}']
//!   get: [cat, /run/payments.{{channel}}]
//!   env: { CTL_TOKEN: "${CTL_TOKEN}" }
//! ```
//!
//! How a command is run:
//! - in migrate's working directory, with migrate's environment plus the
//!   provider's `env`; stdin is empty (`/dev/null`), stdout and stderr are
//!   captured;
//! - under the provider's timeout: a command still running then is killed,
//!   and the call counts as timed out;
//! - exit status 0 is success. Any other status (or death by a signal) is
//!   an error quoting the end of stderr (secrets masked), and is retried
//!   like any transient failure: every call is a read or an absolute set,
//!   so running it again is safe. A command that cannot be started at all
//!   (not found, not executable) is not retried.
//!
//! Reading a flag prints `{"enabled":true,"percent":5}`; setting only one
//! of a flag's fields when the `set` template also names the other runs
//! `get` first to fill it in.

use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::process::Command;

use super::template::{self, Escape, Vars};
use super::web::quote;
use super::{
    config_of, querying, Adapter, CallCtx, Channel, Failure, FlagChange, FlagState, Flags, Metrics,
    ProviderError, Router,
};
use crate::plan::decode::Cx;
use crate::plan::providers::{check_placeholders, Fields, GET_PLACEHOLDERS, SET_PLACEHOLDERS};
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec, Shape};
use crate::plan::yaml::Node;
use crate::plan::{Capability, Provider, Text};

/// How much of stderr an error message quotes (its end: where the reason
/// usually is).
const STDERR_TAIL: usize = 400;

/// An `exec` provider: a router, a flag store or a metric source.
pub struct Exec {
    set: Option<Vec<Text>>,
    get: Vec<Text>,
    env: Vec<(String, Text)>,
    ctx: CallCtx,
}

impl Exec {
    pub fn new(cfg: &Config, ctx: CallCtx) -> Self {
        Self {
            set: cfg.set.clone(),
            get: cfg.get.clone(),
            env: cfg.env.clone(),
            ctx,
        }
    }

    fn set_template(&self, doing: &str) -> Result<&[Text], ProviderError> {
        self.set.as_deref().ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                "this provider has no 'set' command: it can only be read",
            )
        })
    }

    /// Fill, run (under the timeout, retried when `idempotent`), and
    /// return stdout.
    async fn run(&self, doing: &str, argv: &[Text], vars: &Vars) -> Result<String, ProviderError> {
        let args = argv
            .iter()
            .map(|a| template::fill(a.expose(), vars, Escape::Raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.ctx.error(Failure::Rejected, doing, e))?;
        let program = argv
            .first()
            .map(|a| a.shown().to_string())
            .unwrap_or_default();
        self.ctx
            .call(doing, true, || self.run_once(doing, &program, &args))
            .await
    }

    async fn run_once(
        &self,
        doing: &str,
        program: &str,
        args: &[String],
    ) -> Result<String, ProviderError> {
        let Some((first, rest)) = args.split_first() else {
            return Err(self
                .ctx
                .error(Failure::Rejected, doing, "the command is empty"));
        };
        let mut cmd = Command::new(first);
        cmd.args(rest)
            .envs(self.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = cmd.output().await.map_err(|e| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                format!("cannot run `{program}`: {e}"),
            )
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let how = match (out.status.code(), signal_of(&out.status)) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            (None, None) => "failed".to_string(),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = tail(stderr.trim(), STDERR_TAIL);
        let message = if stderr.is_empty() {
            format!("`{program}` {how} (no output on stderr)")
        } else {
            format!("`{program}` {how}: {}", quote(&stderr))
        };
        Err(self.ctx.error(Failure::Transient, doing, message))
    }

    fn garbage(&self, doing: &str, why: String, output: &str) -> ProviderError {
        let shown = quote(output);
        let message = if shown.is_empty() {
            format!("`get` printed nothing: {why}")
        } else {
            format!("`get` printed \"{shown}\": {why}")
        };
        self.ctx.error(Failure::Garbage, doing, message)
    }
}

fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// The last `max` characters of `s`, marked when cut.
fn tail(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    let cut: String = s.chars().skip(count - max).collect();
    format!("…{cut}")
}

#[async_trait]
impl Router for Exec {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!("setting {channel} to {}%", super::fmt_number(percent));
        let argv = self.set_template(&doing)?;
        self.run(&doing, argv, &Vars::traffic(channel, Some(percent)))
            .await
            .map(drop)
    }

    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        let doing = format!("reading {channel}");
        let out = self
            .run(&doing, &self.get, &Vars::traffic(channel, None))
            .await?;
        template::parse_percent(&out).map_err(|why| self.garbage(&doing, why, &out))
    }
}

#[async_trait]
impl Flags for Exec {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError> {
        let doing = format!("reading flag '{key}'");
        let out = self.run(&doing, &self.get, &Vars::flag_get(key)).await?;
        template::parse_flag(&out).map_err(|why| self.garbage(&doing, why, &out))
    }

    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError> {
        let doing = format!("setting flag '{key}'");
        let argv = self.set_template(&doing)?;
        let current = if template::needs_current(change, argv.iter().map(Text::expose)) {
            Some(Flags::get(self, key).await?)
        } else {
            None
        };
        let vars = Vars::flag_set(key, change, current.as_ref());
        self.run(&doing, argv, &vars).await.map(drop)
    }
}

#[async_trait]
impl Metrics for Exec {
    async fn query(&self, query: &str) -> Result<Option<f64>, ProviderError> {
        let doing = querying(query);
        let out = self.run(&doing, &self.get, &Vars::query(query)).await?;
        template::parse_metric(&out).map_err(|why| self.garbage(&doing, why, &out))
    }
}

// The declaration: what an `exec` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "exec",
    article: "an",
    capabilities: &[
        Capability::Traffic,
        Capability::Mirror,
        Capability::Flags,
        Capability::Metrics,
    ],
    needs: &[],
    keys: &[
        Key::optional(
            "set",
            Shape::Argv,
            "argv template; {{percent}}, {{key}}, {{enabled}}, {{channel}} when setting, {{key}}, {{query}}, {{channel}} when reading",
        ),
        Key::required(
            "get",
            Shape::Argv,
            "argv template; {{percent}}, {{key}}, {{enabled}}, {{channel}} when setting, {{key}}, {{query}}, {{channel}} when reading",
        ),
        Key::optional(
            "env",
            Shape::Headers,
            "environment variables of the commands (values may use ${VAR})",
        ),
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    router: Some(router),
    flags: Some(flags),
    metrics: Some(metrics),
    ..Adapter::of(&SPEC)
};

fn build(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<Exec>> {
    Ok(Arc::new(Exec::new(config_of::<Config>(p)?, ctx)))
}

fn router(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Router>> {
    Ok(build(p, ctx)?)
}

fn flags(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Flags>> {
    Ok(build(p, ctx)?)
}

fn metrics(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Metrics>> {
    Ok(build(p, ctx)?)
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub set: Option<Vec<Text>>,
    pub get: Vec<Text>,
    pub env: Vec<(String, Text)>,
}

impl ProviderConfig for Config {
    fn capabilities(&self) -> Option<&'static [Capability]> {
        self.set.is_none().then_some(&[Capability::Metrics])
    }

    fn limited_because(&self) -> Option<&'static str> {
        self.set
            .is_none()
            .then_some("it has no 'set', so it can only read metrics")
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let argv = |cx: &mut Cx<'_>, n: &Node, p: &str, allowed: &[&str]| {
        let v = cx.argv(n, p)?;
        if let Some(items) = cx.seq(n, p) {
            for (i, item) in items.iter().enumerate() {
                check_placeholders(cx, item, &format!("{p}[{i}]"), allowed);
            }
        }
        Some(v)
    };
    let set = match r.map.opt("set") {
        Some((n, p)) => argv(cx, n, &p, SET_PLACEHOLDERS).map(Some),
        None => Some(None),
    };
    let get = r
        .map
        .req(cx, "get", r.what)
        .and_then(|(n, p)| argv(cx, n, &p, GET_PLACEHOLDERS));
    let env = match r.map.opt("env") {
        Some((n, p)) => cx.string_map(n, &p),
        None => Some(Vec::new()),
    };
    spec::config(Config {
        set: set?,
        get: get?,
        env: env?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ctx() -> CallCtx {
        CallCtx {
            provider: "split".into(),
            kind: "exec",
            timeout: Duration::from_secs(5),
            retries: 0,
        }
    }

    fn argv(words: &[&str]) -> Vec<Text> {
        words.iter().map(|w| Text::literal(*w)).collect()
    }

    #[test]
    fn tails_keep_the_end() {
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("abc", 3), "abc");
    }

    #[tokio::test]
    async fn an_empty_template_is_an_error_not_a_panic() {
        let e = Exec::new(
            &Config {
                set: None,
                get: Vec::new(),
                env: Vec::new(),
            },
            ctx(),
        );
        let err = Router::get(&e, Channel::Traffic).await.unwrap_err();
        assert_eq!(err.failure, Failure::Rejected);
        let err = Router::set(&e, Channel::Traffic, 5.0).await.unwrap_err();
        assert!(err.message.contains("no 'set'"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_is_rejected_and_named() {
        let e = Exec::new(
            &Config {
                set: None,
                get: argv(&["/nonexistent/migrate-test-program"]),
                env: Vec::new(),
            },
            ctx(),
        );
        let err = Metrics::query(&e, "q").await.unwrap_err();
        assert_eq!(err.failure, Failure::Rejected);
        assert!(
            err.to_string()
                .contains("/nonexistent/migrate-test-program"),
            "{err}"
        );
    }
}
