//! Envoy through its admin API's runtime.
//!
//! Traffic: the route's `weighted_clusters` has `runtime_key_prefix:
//! <prefix>`, so the runtime keys `<prefix>.<legacy>` and
//! `<prefix>.<candidate>` hold the clusters' weights. migrate sets both in
//! one `POST /runtime_modify?<prefix>.<legacy>=L&<prefix>.<candidate>=C`,
//! in basis points (L + C = 10000, so 0.01% steps), and reads them back
//! from `GET /runtime`.
//!
//! Mirror: the route's `request_mirror_policies` entry has a
//! `runtime_fraction` whose `runtime_key` is `mirror_key`. Envoy reads an
//! integer runtime value for a `runtime_fraction` as a numerator over
//! HUNDRED, whatever the denominator of the route's `default_value`, so
//! the mirror share is set in whole percents:
//! `POST /runtime_modify?<mirror_key>=P`.
//!
//! Envoy uses a runtime value only when it is an unsigned integer; without
//! one (no key, or a value it cannot read as one) it uses the route's
//! configured value, which `/runtime` does not show: the read then takes it
//! from `GET /config_dump`. A share read while no key is set is the route's
//! own ([`Value::Configured`]); restoring such a baseline removes the keys
//! (`POST /runtime_modify?<key>=` with an empty value) rather than writing
//! the share back, so that a later change of the route is not hidden by
//! an override.
//!
//! Sticky: the route picks its weighted cluster by a hash of the key
//! (`hash_policy` and `use_hash_policy: true`), checked in `/config_dump`
//! before each step and at each read; the weights stay in basis points.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Client;
use serde::Serialize;
use serde_json::Value;

use super::web::{self, Answer};
use super::{
    config_of, fmt_number, same_percent, Adapter, CallCtx, Channel, Failure, ProviderError, Router,
    Value as Share,
};
use crate::plan::decode::Cx;
use crate::plan::providers::{Fields, Reported};
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, Missing, Provider, Sticky, StickyKey, Text, Tls};

/// Traffic weights are basis points: legacy + candidate = this.
pub const TOTAL_WEIGHT: u32 = 10_000;

pub struct EnvoyRouter {
    ctx: CallCtx,
    cfg: Config,
    client: Client,
}

impl EnvoyRouter {
    pub fn new(ctx: CallCtx, cfg: Config) -> Result<Self, ProviderError> {
        let client = web::client(&ctx, &cfg.tls)?;
        Ok(Self { ctx, cfg, client })
    }

    fn key(&self, cluster: &str) -> String {
        format!("{}.{cluster}", self.cfg.runtime_key_prefix)
    }

    fn url(&self, path: &str) -> (String, Text) {
        let url = web::join(self.cfg.admin.expose(), path);
        let shown = Text::literal(web::join(&self.cfg.admin.to_string(), path));
        (url, shown)
    }

    fn mirror_key(&self, doing: &str) -> Result<&str, ProviderError> {
        self.cfg.mirror_key.as_deref().ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                "no mirror_key is configured for this provider (the runtime key of the route's request mirror runtime_fraction)",
            )
        })
    }

    async fn get_json(&self, doing: &str, path: &str) -> Result<Value, ProviderError> {
        let (url, shown) = self.url(path);
        let a = self
            .ctx
            .call(doing, true, || {
                let req = web::with_headers(self.client.get(&url), &self.cfg.headers);
                web::send_ok(&self.ctx, doing, &shown, req)
            })
            .await?;
        json(&self.ctx, doing, &shown, &a)
    }

    /// `POST /runtime_modify` with the given keys; Envoy answers `OK`.
    async fn modify(&self, doing: &str, pairs: &[(String, String)]) -> Result<(), ProviderError> {
        let (url, shown) = self.url("/runtime_modify");
        self.ctx
            .call(doing, true, || {
                let req = web::with_headers(self.client.post(&url).query(pairs), &self.cfg.headers);
                web::send_ok(&self.ctx, doing, &shown, req)
            })
            .await
            .map(|_| ())
    }

    /// Runtime values by key (`entries.<key>.final_value`), absent or empty
    /// ones as `None`.
    async fn runtime(
        &self,
        doing: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<String>>, ProviderError> {
        let v = self.get_json(doing, "/runtime").await?;
        let entries = v.get("entries").and_then(Value::as_object).ok_or_else(|| {
            self.ctx.error(
                Failure::Garbage,
                doing,
                "GET /runtime answered JSON without an 'entries' object",
            )
        })?;
        Ok(keys
            .iter()
            .map(|k| {
                let text = match entries.get(*k).and_then(|e| e.get("final_value"))? {
                    Value::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                };
                (!text.is_empty()).then_some(text)
            })
            .collect())
    }

    /// The route's configured weights of the two clusters, from the
    /// `weighted_clusters` whose `runtime_key_prefix` is ours.
    async fn configured_weights(
        &self,
        doing: &str,
    ) -> Result<(Option<f64>, Option<f64>), ProviderError> {
        let dump = self.get_json(doing, "/config_dump").await?;
        let mut found = None;
        walk(&dump, &mut |v| {
            if found.is_none()
                && v.get("runtime_key_prefix").and_then(Value::as_str)
                    == Some(self.cfg.runtime_key_prefix.as_str())
            {
                found = v.get("clusters").and_then(Value::as_array).cloned();
            }
        });
        let clusters = found.ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                format!(
                    "the runtime keys {} and {} are not set, and no route in /config_dump has weighted_clusters with runtime_key_prefix '{}'",
                    self.key(&self.cfg.legacy),
                    self.key(&self.cfg.candidate),
                    self.cfg.runtime_key_prefix
                ),
            )
        })?;
        let weight = |name: &str| {
            clusters
                .iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
                .map(|c| c.get("weight").and_then(number).unwrap_or(0.0))
        };
        Ok((weight(&self.cfg.legacy), weight(&self.cfg.candidate)))
    }

    async fn configured_mirror(&self, doing: &str, key: &str) -> Result<f64, ProviderError> {
        let dump = self.get_json(doing, "/config_dump").await?;
        let mut found = None;
        walk(&dump, &mut |v| {
            if found.is_none() && v.get("runtime_key").and_then(Value::as_str) == Some(key) {
                found = Some(v.get("default_value").cloned().unwrap_or(Value::Null));
            }
        });
        let Some(default) = found else {
            return Err(self.ctx.error(
                Failure::Rejected,
                doing,
                format!("the runtime key '{key}' is not set, and no runtime_fraction in /config_dump uses it"),
            ));
        };
        let numerator = default.get("numerator").and_then(number).unwrap_or(0.0);
        let denominator = match default.get("denominator").and_then(Value::as_str) {
            None | Some("HUNDRED") => 100.0,
            Some("TEN_THOUSAND") => 10_000.0,
            Some("MILLION") => 1_000_000.0,
            Some(other) => {
                return Err(self.ctx.error(
                    Failure::Garbage,
                    doing,
                    format!("runtime_fraction for '{key}' has an unknown denominator {other}"),
                ))
            }
        };
        Ok((numerator / denominator * 100.0).min(100.0))
    }

    /// With `sticky`, that the route picks its weighted cluster by a hash
    /// of the key and nothing else: `use_hash_policy: true`, and one
    /// `hash_policy`, on the header or cookie. Then the cluster is the
    /// hash modulo the weights' total (10000 as migrate sets them) against
    /// the clusters in their order: a customer's requests go to one side,
    /// and the candidate's range of hashes only grows with its weight.
    async fn check_hashed(&self, doing: &str, sticky: &Sticky) -> Result<(), ProviderError> {
        let dump = self.get_json(doing, "/config_dump").await?;
        let mut found: Option<Value> = None;
        walk(&dump, &mut |v| {
            let wc = v.get("weighted_clusters");
            if found.is_none()
                && wc.and_then(|w| w.get("runtime_key_prefix")).and_then(Value::as_str)
                    == Some(self.cfg.runtime_key_prefix.as_str())
            {
                found = Some(v.clone());
            }
        });
        let fail = |msg: String| {
            Err(self.ctx.error(
                Failure::Rejected,
                doing,
                format!(
                    "{msg}, so a customer's requests are not kept on one side; give the route hash_policy: [{{ {} }}] and weighted_clusters use_hash_policy: true",
                    match &sticky.key {
                        StickyKey::Header(h) => format!("header: {{ header_name: {h} }}"),
                        StickyKey::Cookie(c) => format!("cookie: {{ name: {c} }}"),
                    }
                ),
            ))
        };
        let Some(route) = found else {
            return fail(format!(
                "no route in /config_dump has weighted_clusters with runtime_key_prefix '{}'",
                self.cfg.runtime_key_prefix
            ));
        };
        if route["weighted_clusters"]["use_hash_policy"] != true {
            return fail(format!(
                "the route with runtime_key_prefix '{}' picks its weighted cluster at random (no use_hash_policy)",
                self.cfg.runtime_key_prefix
            ));
        }
        let policies = route["hash_policy"].as_array().cloned().unwrap_or_default();
        let on_key = |p: &Value| match &sticky.key {
            StickyKey::Header(h) => p["header"]["header_name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(h)),
            StickyKey::Cookie(c) => p["cookie"]["name"].as_str() == Some(c.as_str()),
        };
        if policies.len() != 1 || !policies.iter().all(on_key) {
            return fail(format!(
                "the route with runtime_key_prefix '{}' hashes {} rather than the {} alone",
                self.cfg.runtime_key_prefix,
                if policies.is_empty() {
                    "nothing".to_string()
                } else {
                    serde_json::to_string(&policies).unwrap_or_default()
                },
                sticky.key.describe()
            ));
        }
        Ok(())
    }

    /// The traffic share: from the runtime keys Envoy can use, the route's
    /// weights for the others; the route's own when neither key is set.
    async fn traffic(&self, doing: &str) -> Result<Share, ProviderError> {
        if let Some(sticky) = &self.cfg.sticky {
            self.check_hashed(doing, sticky).await?;
        }
        let (lk, ck) = (self.key(&self.cfg.legacy), self.key(&self.cfg.candidate));
        let live = self.runtime(doing, &[&lk, &ck]).await?;
        let (legacy, candidate) = (
            live.first().cloned().flatten(),
            live.get(1).cloned().flatten(),
        );
        let configured = legacy.is_none() && candidate.is_none();
        let (mut l, mut c) = (
            legacy.as_deref().and_then(runtime_integer),
            candidate.as_deref().and_then(runtime_integer),
        );
        if l.is_none() || c.is_none() {
            let (cl, cc) = self.configured_weights(doing).await?;
            l = l.or(cl);
            c = c.or(cc);
        }
        let (l, c) = (l.unwrap_or(0.0), c.unwrap_or(0.0));
        let percent = super::split::percent_of(l, c).ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                format!("both {lk} and {ck} are 0: the route sends no traffic to either"),
            )
        })?;
        Ok(share(percent, configured))
    }

    /// The mirror share: the runtime key's integer as a percent (Envoy
    /// takes one above 100 as 100), or the route's `default_value` when the
    /// key holds none Envoy can use.
    async fn mirror(&self, doing: &str) -> Result<Share, ProviderError> {
        let key = self.mirror_key(doing)?;
        let live = self.runtime(doing, &[key]).await?.into_iter().next().flatten();
        let percent = match live.as_deref().and_then(runtime_integer) {
            Some(n) => n.min(100.0),
            None => self.configured_mirror(doing, key).await?,
        };
        Ok(share(percent, live.is_none()))
    }

    /// The runtime keys of `channel`.
    fn keys(&self, channel: Channel, doing: &str) -> Result<Vec<String>, ProviderError> {
        Ok(match channel {
            Channel::Traffic => vec![
                self.key(&self.cfg.legacy),
                self.key(&self.cfg.candidate),
            ],
            Channel::Mirror => vec![self.mirror_key(doing)?.to_string()],
        })
    }
}

fn share(percent: f64, configured: bool) -> Share {
    if configured {
        Share::Configured {
            configured: percent,
        }
    } else {
        Share::Percent(percent)
    }
}

/// A runtime value as Envoy uses it for a weight or a fraction's
/// numerator: only an unsigned integer counts (`2.5`, `-1` or text are
/// ignored, and the route's value is used).
fn runtime_integer(text: &str) -> Option<f64> {
    text.parse::<u64>().ok().map(|n| n as f64)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Visit every object in a JSON tree.
fn walk(v: &Value, f: &mut dyn FnMut(&Value)) {
    match v {
        Value::Object(m) => {
            f(v);
            for x in m.values() {
                walk(x, f);
            }
        }
        Value::Array(a) => {
            for x in a {
                walk(x, f);
            }
        }
        _ => {}
    }
}

fn json(ctx: &CallCtx, doing: &str, url: &Text, a: &Answer) -> Result<Value, ProviderError> {
    serde_json::from_str(&a.body).map_err(|e| {
        ctx.error(
            Failure::Garbage,
            doing,
            format!(
                "{url} answered something that is not JSON ({e}): {}",
                a.quote()
            ),
        )
    })
}

#[async_trait]
impl Router for EnvoyRouter {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!(
            "setting {channel} to {}% through {}",
            fmt_number(percent),
            self.cfg.admin
        );
        let pairs = match channel {
            Channel::Traffic => {
                if let Some(sticky) = &self.cfg.sticky {
                    self.check_hashed(&doing, sticky).await?;
                }
                let c =
                    (percent.clamp(0.0, 100.0) * f64::from(TOTAL_WEIGHT) / 100.0).round() as u32;
                vec![
                    (self.key(&self.cfg.legacy), (TOTAL_WEIGHT - c).to_string()),
                    (self.key(&self.cfg.candidate), c.to_string()),
                ]
            }
            Channel::Mirror => {
                let key = self.mirror_key(&doing)?;
                if percent.fract() != 0.0 {
                    return Err(self.ctx.error(
                        Failure::Rejected,
                        &doing,
                        format!(
                            "Envoy mirrors whole percents (it reads the runtime key's integer over HUNDRED); {}% cannot be set",
                            fmt_number(percent)
                        ),
                    ));
                }
                vec![(
                    key.to_string(),
                    format!("{}", percent.clamp(0.0, 100.0) as u32),
                )]
            }
        };
        self.modify(&doing, &pairs).await?;
        let verify = format!("{doing}: reading back");
        let live = self.get(channel).await.map_err(|mut e| {
            e.doing = verify.clone();
            e
        })?;
        if !same_percent(live, percent) {
            return Err(self.ctx.error(
                Failure::Transient,
                &verify,
                format!(
                    "the runtime says {}% after {}% was set",
                    fmt_number(live),
                    fmt_number(percent)
                ),
            ));
        }
        Ok(())
    }

    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        Ok(self.read(channel).await?.percent().unwrap_or_default())
    }

    async fn read(&self, channel: Channel) -> Result<Share, ProviderError> {
        let doing = format!("reading {channel} through {}", self.cfg.admin);
        match channel {
            Channel::Traffic => self.traffic(&doing).await,
            Channel::Mirror => self.mirror(&doing).await,
        }
    }

    /// `POST /runtime_modify?<key>=` for each key of the channel: Envoy
    /// drops the override and the route's own value rules again.
    async fn unset(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!(
            "removing the {channel} override through {} (back to the route's configuration, {}% when read)",
            self.cfg.admin,
            fmt_number(percent)
        );
        let pairs: Vec<(String, String)> = self
            .keys(channel, &doing)?
            .into_iter()
            .map(|k| (k, String::new()))
            .collect();
        self.modify(&doing, &pairs).await?;
        let verify = format!("{doing}: reading back");
        let live = self.read(channel).await.map_err(|mut e| {
            e.doing = verify.clone();
            e
        })?;
        if let Share::Percent(p) = live {
            return Err(self.ctx.error(
                Failure::Transient,
                &verify,
                format!(
                    "the runtime still overrides the route ({}%) after the override was removed",
                    fmt_number(p)
                ),
            ));
        }
        Ok(())
    }
}

// The declaration: what an `envoy` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "envoy",
    article: "an",
    capabilities: &[Capability::Traffic, Capability::Mirror],
    needs: &[(Capability::Mirror, "with mirror_key")],
    keys: &[
        Key::required(
            "admin",
            Shape::Text,
            "Envoy admin URL, e.g. http://127.0.0.1:9901",
        ),
        Key::required(
            "runtime_key_prefix",
            Shape::Literal,
            "runtime_key_prefix of the route's weighted_clusters",
        ),
        Key::required(
            "legacy",
            Shape::OneOrMany,
            "the weighted cluster that serves the legacy version",
        ),
        Key::required(
            "candidate",
            Shape::OneOrMany,
            "the weighted cluster that serves the candidate",
        ),
        Key::optional(
            "mirror_key",
            Shape::Literal,
            "runtime key of the request mirror policy's runtime_fraction",
        ),
        Key::optional(
            "headers",
            Shape::Headers,
            "HTTP headers sent to the admin API",
        ),
        INSECURE_SKIP_TLS_VERIFY,
        CA_FILE,
        Key::optional(
            "sticky",
            Shape::Sticky,
            "split traffic by customer: the route picks its weighted cluster by a hash of the key (use_hash_policy); missing: split only",
        ),
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    router: Some(router),
    ..Adapter::of(&SPEC)
};

fn router(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Router>> {
    Ok(Arc::new(EnvoyRouter::new(
        ctx,
        config_of::<Config>(p)?.clone(),
    )?))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub admin: Text,
    pub runtime_key_prefix: String,
    pub legacy: String,
    pub candidate: String,
    pub mirror_key: Option<String>,
    pub headers: Vec<(String, Text)>,
    pub tls: Tls,
    /// Absent from the JSON form when unset, so that step digests of
    /// plans without it stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
}

impl ProviderConfig for Config {
    fn insecure_tls(&self) -> bool {
        self.tls.insecure_skip_verify
    }

    fn candidate_label(&self) -> String {
        self.candidate.clone()
    }

    fn split_by(&self) -> Option<String> {
        self.sticky.as_ref().map(|s| s.key.describe())
    }

    fn missing_for(&self, cap: Capability) -> Option<&'static str> {
        (cap == Capability::Mirror && self.mirror_key.is_none()).then_some("mirror_key")
    }

    fn refuses_percent(&self, cap: Capability, percent: f64) -> Option<(String, String)> {
        (cap == Capability::Mirror && percent.fract() != 0.0).then(|| {
            (
                format!(
                    "Envoy mirrors whole percents (it reads the runtime key '{}' as an integer over HUNDRED)",
                    self.mirror_key.as_deref().unwrap_or_default(),
                ),
                format!(
                    "use a whole percent: {} or {}",
                    fmt_number(percent.floor()),
                    fmt_number(percent.ceil())
                ),
            )
        })
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let admin = r.url(cx, "admin", &["http://", "https://"]);
    let prefix = r.literal(cx, "runtime_key_prefix");
    let legacy = r.literal(cx, "legacy");
    let candidate = r.literal(cx, "candidate");
    let mirror_key = r.opt_literal(cx, "mirror_key");
    let headers = r.headers(cx);
    let tls = r.tls(cx);
    // A request without the key has no hash: Envoy picks its cluster with
    // the request's random value, a split per request.
    let sticky = r.sticky(cx, Ok(())).and_then(|s| match &s {
        Some(Sticky {
            missing: Missing::Legacy,
            ..
        }) => {
            if let Some((n, p)) = r.map.opt("sticky") {
                cx.error_hint(
                    n.span,
                    &p,
                    format!(
                        "{} cannot send requests without the key to legacy: Envoy picks their cluster at random by weight",
                        r.what
                    ),
                    "write missing: split (requests without the key split per request), or use an nginx or haproxy provider",
                );
            }
            Err(Reported)
        }
        _ => Ok(s),
    });
    spec::config(Config {
        admin: admin?,
        runtime_key_prefix: prefix?,
        legacy: legacy?,
        candidate: candidate?,
        mirror_key: mirror_key.ok()?,
        headers: headers.ok()?,
        tls: tls.ok()?,
        sticky: sticky.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_nested_json() {
        let v: Value = serde_json::json!({"a": [{"b": {"runtime_key_prefix": "x"}}]});
        let mut n = 0;
        walk(&v, &mut |o| {
            if o.get("runtime_key_prefix").is_some() {
                n += 1
            }
        });
        assert_eq!(n, 1);
    }
}
