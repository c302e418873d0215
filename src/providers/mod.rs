//! Connections to the systems a migration drives, one trait per capability
//! and one module per adapter.
//!
//! - [`Router`]: the share of live (or mirrored) traffic a proxy sends to the
//!   candidate (haproxy, nginx, envoy, traefik, http, exec).
//! - [`Flags`]: a feature flag's on/off and rollout percentage (unleash,
//!   flagd, launchdarkly, http, exec).
//! - [`Metrics`]: a number from a query, or no data (prometheus, scrape,
//!   http, exec).
//! - [`Notifier`]: tells people — alerts (alertmanager) or notices
//!   (webhook).
//!
//! Each adapter declares itself in its own file: its plan-level
//! declaration (a [`ProviderSpec`]: type name, keys, capabilities, decode)
//! and how its runtime object is built, together an [`Adapter`]; the one
//! list of them is [`ADAPTERS`]. The plan layer takes [`catalog()`] as an
//! argument and never names a provider type.
//!
//! Every call is bounded by the provider's timeout; idempotent calls (reads,
//! and absolute sets — adapters never increment) are retried with backoff on
//! transient failures. Errors name the provider and what was being done.

// What the adapters share; the adapters themselves are in `adapters!`.
pub mod db;
pub mod split;
pub mod template;
pub mod web;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use crate::plan::spec::{Catalog, ProviderSpec};
use crate::plan::{Plan, Provider, Settings, Text};

/// Declares each adapter's module (a file of this directory that holds
/// its `ADAPTER`) and lists them all in [`ADAPTERS`].
macro_rules! adapters {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// Every provider type migrate knows, in the order they are listed
        /// in messages and in the schema.
        pub static ADAPTERS: &[&Adapter] = &[$(&$name::ADAPTER),*];
    };
}

// The registry: one line per adapter.
adapters![
    haproxy,
    nginx,
    envoy,
    traefik,
    http,
    exec,
    unleash,
    flagd,
    launchdarkly,
    prometheus,
    scrape,
    postgres,
    mysql,
    sqlite,
    alertmanager,
    webhook,
];

/// The declarations of [`ADAPTERS`], for the plan layer (validation, the
/// schema).
pub fn catalog() -> &'static Catalog {
    static SPECS: LazyLock<Vec<&'static ProviderSpec>> =
        LazyLock::new(|| ADAPTERS.iter().map(|a| a.spec).collect());
    &SPECS
}

/// The adapter that declared provider `p`'s type (`None` for a plan
/// validated against another catalog).
pub fn adapter_of(p: &Provider) -> Option<&'static Adapter> {
    ADAPTERS
        .iter()
        .copied()
        .find(|a| std::ptr::eq(a.spec, p.spec))
}

pub type BuildRouter = fn(&Provider, CallCtx) -> anyhow::Result<Arc<dyn Router>>;
pub type BuildFlags = fn(&Provider, CallCtx) -> anyhow::Result<Arc<dyn Flags>>;
pub type BuildMetrics = fn(&Provider, CallCtx) -> anyhow::Result<Arc<dyn Metrics>>;
pub type BuildNotifier = fn(&Provider, CallCtx) -> anyhow::Result<Arc<dyn Notifier>>;
pub type Connect =
    for<'a> fn(&'a Provider, CallCtx) -> BoxFuture<'a, anyhow::Result<Arc<dyn db::Database>>>;

/// A provider type: its declaration, and how it builds the object behind
/// each capability it has (from its own configuration, see [`config_of`]).
pub struct Adapter {
    pub spec: &'static ProviderSpec,
    pub router: Option<BuildRouter>,
    pub flags: Option<BuildFlags>,
    pub metrics: Option<BuildMetrics>,
    pub database: Option<Connect>,
    pub notifier: Option<BuildNotifier>,
}

impl Adapter {
    /// An adapter that builds nothing yet; fill in its capabilities with
    /// `Adapter { router: Some(..), ..Adapter::of(&SPEC) }`.
    pub const fn of(spec: &'static ProviderSpec) -> Self {
        Self {
            spec,
            router: None,
            flags: None,
            metrics: None,
            database: None,
            notifier: None,
        }
    }
}

/// Provider `p`'s configuration as its adapter's type `T`.
pub fn config_of<T: 'static>(p: &Provider) -> anyhow::Result<&T> {
    p.config::<T>().ok_or_else(|| {
        anyhow::anyhow!(
            "provider '{}' does not hold a {} configuration",
            p.name,
            p.type_name()
        )
    })
}

pub use crate::domain::{
    fmt_number, fmt_reading, same_flag, same_percent, Channel, FlagChange, FlagState, Value,
    PERCENT_TOLERANCE,
};

/// A proxy that splits traffic between legacy and candidate.
#[async_trait]
pub trait Router: Send + Sync {
    /// Send `percent` (0..=100) of the channel's traffic to the candidate.
    /// Absolute and idempotent: calling it twice is the same as once.
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError>;
    /// The share of the channel's traffic the candidate gets now.
    async fn get(&self, channel: Channel) -> Result<f64, ProviderError>;
    /// The share as the proxy holds it: [`Value::Percent`] when it was
    /// given one, [`Value::Configured`] when no override is set and its own
    /// configuration gives the share (Envoy's route before a runtime key is
    /// written). A proxy without such overrides reads [`Router::get`].
    async fn read(&self, channel: Channel) -> Result<Value, ProviderError> {
        Ok(Value::Percent(self.get(channel).await?))
    }
    /// Remove the channel's override, so that the proxy's own
    /// configuration rules again (it gave `percent` when it was read):
    /// restoring a [`Value::Configured`] baseline. Absolute and idempotent.
    /// A proxy without such overrides sets `percent`.
    async fn unset(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        self.set(channel, percent).await
    }
}

#[async_trait]
pub trait Flags: Send + Sync {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError>;
    /// Apply `change` to the flag. Absolute and idempotent.
    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError>;
}

#[async_trait]
pub trait Metrics: Send + Sync {
    /// The query's value now; `None` when there is no data (an empty result,
    /// no matching series). NaN is passed on as NaN: the gate takes it as no
    /// data, and says NaN.
    async fn query(&self, query: &str) -> Result<Option<f64>, ProviderError>;
}

/// What a notifier is given to send.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// Conditions, firing or resolved (Alertmanager).
    Alerts(&'a [crate::domain::notify::Alert]),
    /// Something that happened, and when (webhooks).
    Notice(&'a crate::domain::notify::Notice, std::time::SystemTime),
}

/// A request a notifier would make: where to (as shown: `${VAR}`s
/// unexpanded), its headers and its body. A body never holds a value from
/// the environment.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub shown: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Tells people about a migration.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The request that carries `message`; `None` when this notifier does
    /// not take that kind of message (Alertmanager takes alerts, webhooks
    /// take notices).
    fn render(&self, message: &Message<'_>) -> Option<Outgoing>;
    /// Send a rendered request; transient failures are retried with
    /// backoff.
    async fn send(&self, request: &Outgoing) -> Result<(), ProviderError>;
}

/// How a call failed, which decides whether it is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Timed out, connection refused or reset, 5xx: may work next time.
    Transient,
    /// Refused for a reason that will not change by itself (4xx, an error
    /// reply, a bad configuration): retrying is pointless.
    Rejected,
    /// An answer that could not be understood.
    Garbage,
}

/// A provider call that failed, naming the provider and what was being done.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind} provider '{provider}': {doing}: {message}")]
pub struct ProviderError {
    pub provider: String,
    pub kind: &'static str,
    pub doing: String,
    pub message: String,
    pub failure: Failure,
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        self.failure == Failure::Transient
    }
}

/// What every adapter call needs: who it is, and its limits.
#[derive(Clone, Debug)]
pub struct CallCtx {
    pub provider: String,
    pub kind: &'static str,
    pub timeout: Duration,
    pub retries: u32,
}

impl CallCtx {
    pub fn new(provider: &Provider, settings: &Settings) -> Self {
        Self {
            provider: provider.name.clone(),
            kind: provider.type_name(),
            timeout: provider.timeout.unwrap_or(settings.timeout),
            retries: settings.retries,
        }
    }

    /// An error of this provider.
    pub fn error(
        &self,
        failure: Failure,
        doing: impl Into<String>,
        message: impl Into<String>,
    ) -> ProviderError {
        ProviderError {
            provider: self.provider.clone(),
            kind: self.kind,
            doing: crate::redact::clean(&doing.into()).into_owned(),
            message: crate::redact::clean(&message.into()).into_owned(),
            failure,
        }
    }

    /// Run `op` under the timeout; when `idempotent`, retry transient
    /// failures (and timeouts) with exponential backoff, up to `retries`
    /// more times.
    pub async fn call<T, F, Fut>(
        &self,
        doing: &str,
        idempotent: bool,
        mut op: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 0u32;
        loop {
            let result = match tokio::time::timeout(self.timeout, op()).await {
                Ok(r) => r,
                Err(_) => Err(self.error(
                    Failure::Transient,
                    doing,
                    format!(
                        "no answer within {} (the provider's timeout)",
                        crate::plan::describe::duration_words(self.timeout)
                    ),
                )),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if idempotent && e.is_transient() && attempt < self.retries => {
                    tracing::debug!(provider = %self.provider, attempt, error = %e, "retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(mut e) => {
                    if attempt > 0 {
                        e.message = format!(
                            "{} (after {} attempt{})",
                            e.message,
                            attempt + 1,
                            if attempt == 0 { "" } else { "s" }
                        );
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// 100 ms, 200 ms, 400 ms, ... capped at 2 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(2000))
}

/// `querying "rate(x[1m])"`: what a metrics call is doing, the query
/// shortened.
pub fn querying(query: &str) -> String {
    let q: String = query.chars().take(120).collect();
    if q.len() < query.len() {
        format!("querying \"{q}…\"")
    } else {
        format!("querying \"{q}\"")
    }
}

/// The read-back of a router that writes a file: the share `live` read from
/// `file` must be the `percent` just written into it.
pub fn file_holds(
    ctx: &CallCtx,
    verify: &str,
    file: &Text,
    live: f64,
    percent: f64,
) -> Result<(), ProviderError> {
    if same_percent(live, percent) {
        return Ok(());
    }
    Err(ctx.error(
        Failure::Transient,
        verify,
        format!(
            "{file} holds {}% after {}% was written (changed by someone else?)",
            fmt_number(live),
            fmt_number(percent)
        ),
    ))
}

#[derive(Clone)]
enum Handle {
    Router(Arc<dyn Router>),
    Flags(Arc<dyn Flags>),
    Metrics(Arc<dyn Metrics>),
    Notifier(Arc<dyn Notifier>),
}

/// The plan's providers, connected on first use and shared after.
pub struct Registry {
    providers: HashMap<String, (Provider, CallCtx)>,
    cache: Mutex<HashMap<(String, u8), Handle>>,
}

impl Registry {
    pub fn new(plan: &Plan) -> Self {
        Self {
            providers: plan
                .providers
                .iter()
                .map(|p| (p.name.clone(), (p.clone(), CallCtx::new(p, &plan.settings))))
                .collect(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, name: &str) -> anyhow::Result<&(Provider, CallCtx)> {
        self.providers
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("the plan has no provider '{name}'"))
    }

    fn cached(&self, name: &str, slot: u8) -> Option<Handle> {
        self.cache
            .lock()
            .ok()
            .and_then(|c| c.get(&(name.to_string(), slot)).cloned())
    }

    fn remember(&self, name: &str, slot: u8, h: Handle) {
        if let Ok(mut c) = self.cache.lock() {
            c.insert((name.to_string(), slot), h);
        }
    }

    /// Use `router` for provider `name` instead of building its adapter:
    /// for embedding migrate, and for tests of the engine.
    pub fn set_router(&self, name: &str, router: Arc<dyn Router>) {
        self.remember(name, 0, Handle::Router(router));
    }

    pub fn set_flags(&self, name: &str, flags: Arc<dyn Flags>) {
        self.remember(name, 1, Handle::Flags(flags));
    }

    pub fn set_metrics(&self, name: &str, metrics: Arc<dyn Metrics>) {
        self.remember(name, 2, Handle::Metrics(metrics));
    }

    pub fn set_notifier(&self, name: &str, notifier: Arc<dyn Notifier>) {
        self.remember(name, 3, Handle::Notifier(notifier));
    }

    pub fn router(&self, name: &str) -> anyhow::Result<Arc<dyn Router>> {
        if let Some(Handle::Router(r)) = self.cached(name, 0) {
            return Ok(r);
        }
        let (p, ctx) = self.lookup(name)?;
        let ctx = ctx.clone();
        let r = match adapter_of(p).and_then(|a| a.router) {
            Some(build) => build(p, ctx)?,
            None => anyhow::bail!("provider '{name}' ({}) cannot shift traffic", p.type_name()),
        };
        self.remember(name, 0, Handle::Router(r.clone()));
        Ok(r)
    }

    pub fn flags(&self, name: &str) -> anyhow::Result<Arc<dyn Flags>> {
        if let Some(Handle::Flags(f)) = self.cached(name, 1) {
            return Ok(f);
        }
        let (p, ctx) = self.lookup(name)?;
        let ctx = ctx.clone();
        let f = match adapter_of(p).and_then(|a| a.flags) {
            Some(build) => build(p, ctx)?,
            None => anyhow::bail!(
                "provider '{name}' ({}) cannot set feature flags",
                p.type_name()
            ),
        };
        self.remember(name, 1, Handle::Flags(f.clone()));
        Ok(f)
    }

    pub fn notifier(&self, name: &str) -> anyhow::Result<Arc<dyn Notifier>> {
        if let Some(Handle::Notifier(n)) = self.cached(name, 3) {
            return Ok(n);
        }
        let (p, ctx) = self.lookup(name)?;
        let ctx = ctx.clone();
        let n = match adapter_of(p).and_then(|a| a.notifier) {
            Some(build) => build(p, ctx)?,
            None => anyhow::bail!(
                "provider '{name}' ({}) cannot send notifications",
                p.type_name()
            ),
        };
        self.remember(name, 3, Handle::Notifier(n.clone()));
        Ok(n)
    }

    pub fn metrics(&self, name: &str) -> anyhow::Result<Arc<dyn Metrics>> {
        if let Some(Handle::Metrics(m)) = self.cached(name, 2) {
            return Ok(m);
        }
        let (p, ctx) = self.lookup(name)?;
        let ctx = ctx.clone();
        let m = match adapter_of(p).and_then(|a| a.metrics) {
            Some(build) => build(p, ctx)?,
            None => anyhow::bail!("provider '{name}' ({}) cannot read metrics", p.type_name()),
        };
        self.remember(name, 2, Handle::Metrics(m.clone()));
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An adapter builds exactly what its declaration promises the
    /// validator (a step the plan accepts must find its object), and no
    /// two adapters claim one type name.
    #[test]
    fn every_adapter_builds_what_it_declares() {
        use crate::plan::Capability as C;
        let mut names = std::collections::HashSet::new();
        for a in ADAPTERS {
            let caps = a.spec.capabilities;
            let name = a.spec.name;
            assert!(names.insert(name), "two adapters named {name}");
            assert_eq!(
                caps.contains(&C::Traffic) || caps.contains(&C::Mirror),
                a.router.is_some(),
                "{name}: traffic/mirror and a router go together"
            );
            assert_eq!(caps.contains(&C::Flags), a.flags.is_some(), "{name}: flags");
            assert_eq!(
                caps.contains(&C::Metrics),
                a.metrics.is_some(),
                "{name}: metrics"
            );
            assert_eq!(
                caps.contains(&C::Database),
                a.database.is_some(),
                "{name}: database"
            );
            assert_eq!(
                caps.contains(&C::Notify),
                a.notifier.is_some(),
                "{name}: notify"
            );
            assert!(matches!(a.spec.article, "a" | "an"), "{name}: article");
        }
        assert_eq!(catalog().len(), ADAPTERS.len());
    }

    #[test]
    fn flag_changes_read_as_sentences() {
        let change = |enabled, percent| FlagChange { enabled, percent };
        assert_eq!(
            change(Some(true), Some(Some(2.5))).to_string(),
            "on at 2.5%"
        );
        assert_eq!(change(Some(false), None).to_string(), "off");
        assert_eq!(
            change(None, Some(None)).to_string(),
            "no percentage rollout"
        );
        assert_eq!(flag(false, None).to_string(), "off");
        assert_eq!(
            flag(false, Some(5.0)).to_string(),
            "off (serves nobody; 5% when turned on)"
        );
        assert_eq!(flag(true, Some(5.0)).to_string(), "on at 5%");
        // Kept at 100%, an off flag is said as one that keeps nothing: turned
        // on, both serve everyone (`plan` predicts one, a provider may read
        // back the other).
        assert_eq!(flag(false, Some(100.0)).to_string(), "off");
    }

    fn flag(enabled: bool, percent: Option<f64>) -> FlagState {
        FlagState { enabled, percent }
    }

    #[test]
    fn an_on_flag_without_rollout_is_on_for_everyone() {
        // On for everyone is a 100% rollout, and nothing less.
        assert!(same_flag(&flag(true, None), &flag(true, None)));
        assert!(same_flag(&flag(true, None), &flag(true, Some(100.0))));
        assert!(same_flag(&flag(true, Some(100.0)), &flag(true, None)));
        assert!(!same_flag(&flag(true, None), &flag(true, Some(50.0))));
        assert!(!same_flag(&flag(true, Some(5.0)), &flag(true, None)));
        assert!(same_flag(&flag(true, Some(5.0)), &flag(true, Some(5.0))));
        // Off is off, whatever rollout it keeps; a kept one must be right.
        assert!(same_flag(&flag(false, None), &flag(false, Some(50.0))));
        assert!(same_flag(&flag(false, Some(5.0)), &flag(false, None)));
        assert!(same_flag(&flag(false, Some(5.0)), &flag(false, Some(5.0))));
        assert!(!same_flag(
            &flag(false, Some(5.0)),
            &flag(false, Some(50.0))
        ));
        assert!(!same_flag(&flag(false, None), &flag(true, None)));
    }
}
