//! LaunchDarkly through its REST API v2 (`Authorization: <access token>`).
//!
//! A boolean flag is read with `GET /api/v2/flags/<project>/<key>?env=<env>`:
//! `environments.<env>.on` is `enabled`; the fallthrough (the default
//! rule) gives the percent: a rollout's weight on the `true` variation, in
//! thousandths of a percent; a fixed `true` is no percentage rollout, a
//! fixed `false` is 0%. Changes are one semantic patch
//! (`PATCH /api/v2/flags/<project>/<key>`, `Content-Type: application/json;
//! domain-model=launchdarkly.semanticpatch`) with `turnFlagOn`/`turnFlagOff`
//! and `updateFallthroughVariationOrRollout`, the variation ids read from
//! the flag. Targets and rules are not touched. Every change is read back.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Client, Method};
use serde::Serialize;
use serde_json::{json, Value};

use super::template::url_encode as enc;
use super::{
    config_of, same_flag, web, Adapter, CallCtx, Failure, FlagChange, FlagState, Flags,
    ProviderError,
};
use crate::plan::decode::Cx;
use crate::plan::providers::{check_scheme, Fields};
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, Provider, Text, Tls};

pub const SEMANTIC_PATCH: &str = "application/json; domain-model=launchdarkly.semanticpatch";

/// Rollout weights are thousandths of a percent; they sum to this.
pub const TOTAL_WEIGHT: i64 = 100_000;

pub struct LaunchDarklyFlags {
    ctx: CallCtx,
    cfg: Config,
    client: Client,
}

/// A boolean flag in one environment.
#[derive(Debug, PartialEq)]
struct Live {
    on: bool,
    true_id: String,
    false_id: String,
    percent: Option<f64>,
}

fn live_of(v: &Value, env: &str) -> Result<Live, String> {
    let variations = v
        .get("variations")
        .and_then(Value::as_array)
        .ok_or("the answer has no 'variations'")?;
    let find = |want: bool| {
        variations
            .iter()
            .enumerate()
            .find(|(_, x)| x.get("value").and_then(Value::as_bool) == Some(want))
            .and_then(|(i, x)| Some((i, x.get("_id")?.as_str()?.to_string())))
            .ok_or_else(|| {
                format!("it is not a boolean flag (no variation with value {want} and an _id)")
            })
    };
    let (ti, true_id) = find(true)?;
    let (fi, false_id) = find(false)?;
    let e = v
        .get("environments")
        .and_then(|e| e.get(env))
        .ok_or_else(|| format!("no environment '{env}' in the answer"))?;
    let on = e
        .get("on")
        .and_then(Value::as_bool)
        .ok_or("the environment has no 'on'")?;
    let ft = e
        .get("fallthrough")
        .ok_or("the environment has no 'fallthrough'")?;
    let percent = if let Some(idx) = ft.get("variation").and_then(Value::as_u64) {
        match usize::try_from(idx).ok() {
            Some(i) if i == ti => None,
            Some(i) if i == fi => Some(0.0),
            _ => {
                return Err(format!(
                    "the fallthrough serves variation {idx}, which is neither true nor false"
                ))
            }
        }
    } else if let Some(vars) = ft
        .get("rollout")
        .and_then(|r| r.get("variations"))
        .and_then(Value::as_array)
    {
        let mut total = 0.0;
        let mut on_weight = 0.0;
        for x in vars {
            let w = x.get("weight").and_then(Value::as_f64).unwrap_or(0.0);
            total += w;
            if x.get("variation")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok())
                == Some(ti)
            {
                on_weight += w;
            }
        }
        if total <= 0.0 {
            return Err("the fallthrough rollout has no weight".to_string());
        }
        Some(on_weight / total * 100.0)
    } else {
        return Err("the fallthrough has neither a variation nor a rollout".to_string());
    };
    Ok(Live {
        on,
        true_id,
        false_id,
        percent,
    })
}

/// The semantic-patch instructions that make `live` into `change`.
fn instructions(live: &Live, change: &FlagChange) -> Vec<Value> {
    let mut out = Vec::new();
    match change.enabled {
        Some(true) => out.push(json!({"kind": "turnFlagOn"})),
        Some(false) => out.push(json!({"kind": "turnFlagOff"})),
        None => {}
    }
    match change.percent {
        Some(Some(p)) => {
            let on = ((p.clamp(0.0, 100.0) / 100.0) * TOTAL_WEIGHT as f64).round() as i64;
            let mut weights = serde_json::Map::new();
            weights.insert(live.true_id.clone(), json!(on));
            weights.insert(live.false_id.clone(), json!(TOTAL_WEIGHT - on));
            out.push(json!({
                "kind": "updateFallthroughVariationOrRollout",
                "rolloutWeights": weights,
            }));
        }
        Some(None) => out.push(json!({
            "kind": "updateFallthroughVariationOrRollout",
            "variationId": live.true_id,
        })),
        None => {}
    }
    out
}

impl LaunchDarklyFlags {
    pub fn new(ctx: CallCtx, cfg: Config) -> Result<Self, ProviderError> {
        let client = web::client(&ctx, &cfg.tls)?;
        Ok(Self { ctx, cfg, client })
    }

    fn flag_path(&self, key: &str) -> String {
        format!("/api/v2/flags/{}/{}", enc(&self.cfg.project), enc(key))
    }

    async fn request(
        &self,
        doing: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, ProviderError> {
        let url = web::join(self.cfg.url.expose(), path);
        let shown = Text::literal(web::join(&self.cfg.url.to_string(), path));
        // Reads and absolute instructions are both safe to repeat.
        let a = self
            .ctx
            .call(doing, true, || {
                let mut req = self
                    .client
                    .request(method.clone(), &url)
                    .header("Authorization", self.cfg.token.expose())
                    .header("Accept", "application/json");
                if let Some(b) = body {
                    req = req
                        .header("Content-Type", SEMANTIC_PATCH)
                        .body(b.to_string());
                }
                web::send_ok(&self.ctx, doing, &shown, req)
            })
            .await?;
        Ok(a.body)
    }

    async fn read(&self, doing: &str, key: &str) -> Result<Live, ProviderError> {
        let path = format!("{}?env={}", self.flag_path(key), enc(&self.cfg.environment));
        let body = self.request(doing, Method::GET, &path, None).await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            self.ctx.error(
                Failure::Garbage,
                doing,
                format!(
                    "LaunchDarkly answered something that is not JSON ({e}): {}",
                    web::quote(&body)
                ),
            )
        })?;
        live_of(&v, &self.cfg.environment).map_err(|m| {
            self.ctx
                .error(Failure::Rejected, doing, format!("flag '{key}': {m}"))
        })
    }
}

#[async_trait]
impl Flags for LaunchDarklyFlags {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError> {
        let doing = format!("reading flag '{key}' in {}", self.cfg.environment);
        let live = self.read(&doing, key).await?;
        Ok(FlagState {
            enabled: live.on,
            percent: live.percent,
        })
    }

    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError> {
        let doing = format!(
            "setting flag '{key}' in {} to {change}",
            self.cfg.environment
        );
        let live = self.read(&doing, key).await?;
        let instructions = instructions(&live, change);
        if instructions.is_empty() {
            return Ok(());
        }
        let body = json!({
            "environmentKey": self.cfg.environment,
            "comment": format!("migrate provider '{}'", self.ctx.provider),
            "instructions": instructions,
        });
        self.request(&doing, Method::PATCH, &self.flag_path(key), Some(&body))
            .await?;
        let verify = format!("{doing}: reading back");
        let after = self.read(&verify, key).await?;
        let want = FlagState {
            enabled: change.enabled.unwrap_or(live.on),
            percent: match change.percent {
                Some(p) => p,
                None => live.percent,
            },
        };
        let got = FlagState {
            enabled: after.on,
            percent: after.percent,
        };
        if !same_flag(&want, &got) || (want.percent.is_none() && got.percent.is_some()) {
            return Err(self.ctx.error(
                Failure::Transient,
                &verify,
                format!("the flag reads {got} after it was set to {want}"),
            ));
        }
        Ok(())
    }
}

// The declaration: what a `launchdarkly` provider is in a plan, and what it
// builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "launchdarkly",
    article: "a",
    capabilities: &[Capability::Flags],
    needs: &[],
    keys: &[
        Key::optional(
            "url",
            Shape::Text,
            "LaunchDarkly API base URL (default https://app.launchdarkly.com)",
        ),
        Key::required(
            "token",
            Shape::Text,
            "LaunchDarkly API access token; use ${VAR} so it stays out of the plan",
        ),
        Key::required("project", Shape::Literal, "LaunchDarkly project key"),
        Key::required(
            "environment",
            Shape::Literal,
            "LaunchDarkly environment key whose targeting migrate sets",
        ),
        INSECURE_SKIP_TLS_VERIFY,
        CA_FILE,
    ],
    decode,
    check_query: None,
};

pub static ADAPTER: Adapter = Adapter {
    flags: Some(flags),
    ..Adapter::of(&SPEC)
};

fn flags(p: &Provider, ctx: CallCtx) -> anyhow::Result<Arc<dyn Flags>> {
    Ok(Arc::new(LaunchDarklyFlags::new(
        ctx,
        config_of::<Config>(p)?.clone(),
    )?))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub url: Text,
    pub token: Text,
    pub project: String,
    pub environment: String,
    pub tls: Tls,
}

impl ProviderConfig for Config {
    fn insecure_tls(&self) -> bool {
        self.tls.insecure_skip_verify
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let url = match r.map.opt("url") {
        Some((n, p)) => cx
            .text(n, &p)
            .filter(|t| check_scheme(cx, n, &p, t, &["http://", "https://"])),
        None => Some(Text::literal("https://app.launchdarkly.com")),
    };
    let token = r.text(cx, "token");
    let project = r.literal(cx, "project");
    let environment = r.literal(cx, "environment");
    let tls = r.tls(cx);
    spec::config(Config {
        url: url?,
        token: token?,
        project: project?,
        environment: environment?,
        tls: tls.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(fallthrough: Value) -> Value {
        json!({
            "key": "checkout-v2-ui",
            "variations": [
                {"_id": "var-true", "value": true},
                {"_id": "var-false", "value": false}
            ],
            "environments": {"production": {"on": true, "fallthrough": fallthrough, "offVariation": 1}}
        })
    }

    #[test]
    fn reads_fallthroughs() {
        let l = live_of(&flag(json!({"variation": 0})), "production").unwrap();
        assert_eq!(l.percent, None);
        assert!(l.on);
        let l = live_of(&flag(json!({"variation": 1})), "production").unwrap();
        assert_eq!(l.percent, Some(0.0));
        let l = live_of(
            &flag(json!({"rollout": {"variations": [
                {"variation": 0, "weight": 25000}, {"variation": 1, "weight": 75000}
            ]}})),
            "production",
        )
        .unwrap();
        assert_eq!(l.percent, Some(25.0));
        assert!(live_of(&flag(json!({})), "production").is_err());
        assert!(live_of(&flag(json!({"variation": 0})), "staging").is_err());
    }

    #[test]
    fn weights_sum_to_100000() {
        let l = live_of(&flag(json!({"variation": 0})), "production").unwrap();
        let i = instructions(
            &l,
            &FlagChange {
                enabled: Some(true),
                percent: Some(Some(33.3)),
            },
        );
        assert_eq!(i[0], json!({"kind": "turnFlagOn"}));
        assert_eq!(
            i[1],
            json!({"kind": "updateFallthroughVariationOrRollout",
                   "rolloutWeights": {"var-true": 33300, "var-false": 66700}})
        );
    }
}
