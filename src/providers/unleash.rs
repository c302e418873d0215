//! Unleash through its Admin API (`Authorization: <admin token>`).
//!
//! A flag is read with `GET /api/admin/projects/<project>/features/<key>`:
//! the plan's environment gives `enabled`, and its one active
//! `flexibleRollout` strategy gives the percent (none: no percentage
//! rollout; more than one: an error, since migrate would not know which to
//! drive). Setting a percent replaces that strategy's `rollout` parameter
//! (a string) with a JSON patch, or creates the strategy when there is
//! none; on/off is `POST .../environments/<env>/on|off`. Every change is
//! read back.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Client, Method};
use serde::Serialize;
use serde_json::{json, Value};

use super::template::url_encode as enc;
use super::{
    config_of, fmt_number, same_percent, web, Adapter, CallCtx, Failure, FlagChange, FlagState,
    Flags, ProviderError,
};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{
    self, Key, ProviderConfig, ProviderSpec, Shape, CA_FILE, INSECURE_SKIP_TLS_VERIFY,
};
use crate::plan::{Capability, Provider, Text, Tls};

pub struct UnleashFlags {
    ctx: CallCtx,
    cfg: Config,
    client: Client,
}

/// What migrate needs of a flag in one environment.
#[derive(Debug)]
struct Live {
    enabled: bool,
    /// The active flexibleRollout strategy: id and rollout percent.
    rollout: Option<(String, f64)>,
}

impl UnleashFlags {
    pub fn new(ctx: CallCtx, cfg: Config) -> Result<Self, ProviderError> {
        let client = web::client(&ctx, &cfg.tls)?;
        Ok(Self { ctx, cfg, client })
    }

    fn feature_path(&self, key: &str) -> String {
        format!(
            "/api/admin/projects/{}/features/{}",
            enc(&self.cfg.project),
            enc(key)
        )
    }

    fn env_path(&self, key: &str) -> String {
        format!(
            "{}/environments/{}",
            self.feature_path(key),
            enc(&self.cfg.environment)
        )
    }

    async fn request(
        &self,
        doing: &str,
        idempotent: bool,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, ProviderError> {
        let url = web::join(self.cfg.url.expose(), path);
        let shown = Text::literal(web::join(&self.cfg.url.to_string(), path));
        let a = self
            .ctx
            .call(doing, idempotent, || {
                let mut req = self
                    .client
                    .request(method.clone(), &url)
                    .header("Authorization", self.cfg.token.expose())
                    .header("Accept", "application/json");
                if let Some(b) = &body {
                    req = req.json(b);
                }
                web::send_ok(&self.ctx, doing, &shown, req)
            })
            .await?;
        Ok(a.body)
    }

    async fn read(&self, doing: &str, key: &str) -> Result<Live, ProviderError> {
        let body = self
            .request(doing, true, Method::GET, &self.feature_path(key), None)
            .await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            self.ctx.error(
                Failure::Garbage,
                doing,
                format!(
                    "Unleash answered something that is not JSON ({e}): {}",
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

fn live_of(v: &Value, environment: &str) -> Result<Live, String> {
    let envs = v
        .get("environments")
        .and_then(Value::as_array)
        .ok_or("the answer has no 'environments' list")?;
    let env = envs
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(environment))
        .ok_or_else(|| {
            let names: Vec<&str> = envs
                .iter()
                .filter_map(|e| e.get("name").and_then(Value::as_str))
                .collect();
            format!(
                "no environment '{environment}' (it has: {})",
                names.join(", ")
            )
        })?;
    let enabled = env
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or("the environment has no 'enabled'")?;
    let mut rollouts = Vec::new();
    for s in env
        .get("strategies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if s.get("name").and_then(Value::as_str) != Some("flexibleRollout")
            || s.get("disabled").and_then(Value::as_bool) == Some(true)
        {
            continue;
        }
        let id = s
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a flexibleRollout strategy without an id")?;
        let rollout = match s.get("parameters").and_then(|p| p.get("rollout")) {
            Some(Value::String(r)) => r.trim().parse::<f64>().ok(),
            Some(Value::Number(n)) => n.as_f64(),
            _ => None,
        }
        .ok_or_else(|| format!("flexibleRollout strategy {id} has no numeric 'rollout'"))?;
        rollouts.push((id.to_string(), rollout));
    }
    if rollouts.len() > 1 {
        return Err(format!(
            "{} flexibleRollout strategies in environment '{environment}' ({}); migrate drives exactly one: remove the others",
            rollouts.len(),
            rollouts.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Live {
        enabled,
        rollout: rollouts.into_iter().next(),
    })
}

#[async_trait]
impl Flags for UnleashFlags {
    async fn get(&self, key: &str) -> Result<FlagState, ProviderError> {
        let doing = format!("reading flag '{key}' in {}", self.cfg.environment);
        let live = self.read(&doing, key).await?;
        Ok(FlagState {
            enabled: live.enabled,
            percent: live.rollout.map(|r| r.1),
        })
    }

    async fn set(&self, key: &str, change: &FlagChange) -> Result<(), ProviderError> {
        let doing = format!(
            "setting flag '{key}' in {} to {change}",
            self.cfg.environment
        );
        if let Some(Some(p)) = change.percent {
            if p.fract() != 0.0 {
                return Err(self.ctx.error(
                    Failure::Rejected,
                    &doing,
                    format!(
                        "Unleash rolls out whole percents; {}% cannot be set",
                        fmt_number(p)
                    ),
                ));
            }
        }
        let live = self.read(&doing, key).await?;
        let toggle = |on: bool| {
            let path = format!("{}/{}", self.env_path(key), if on { "on" } else { "off" });
            let doing = doing.clone();
            async move {
                self.request(&doing, true, Method::POST, &path, Some(json!({})))
                    .await
                    .map(|_| ())
            }
        };
        // Off before narrowing, rollout before on: never briefly wider.
        if change.enabled == Some(false) && live.enabled {
            toggle(false).await?;
        }
        let rollout = match change.percent {
            Some(Some(p)) => Some(p),
            // No percentage: everyone who gets the flag, i.e. 100%.
            Some(None) if live.rollout.is_some() => Some(100.0),
            _ => None,
        };
        if let Some(p) = rollout {
            let value = fmt_number(p);
            match &live.rollout {
                Some((id, _)) => {
                    let path = format!("{}/strategies/{}", self.env_path(key), enc(id));
                    let patch =
                        json!([{"op": "replace", "path": "/parameters/rollout", "value": value}]);
                    self.request(&doing, true, Method::PATCH, &path, Some(patch))
                        .await?;
                }
                None => {
                    let path = format!("{}/strategies", self.env_path(key));
                    let strategy = json!({
                        "name": "flexibleRollout",
                        "constraints": [],
                        "parameters": {"rollout": value, "stickiness": "default", "groupId": key},
                    });
                    // Creating is not idempotent: never retried blindly.
                    self.request(&doing, false, Method::POST, &path, Some(strategy))
                        .await?;
                }
            }
        }
        if change.enabled == Some(true) {
            toggle(true).await?;
        }
        // Read back.
        let verify = format!("{doing}: reading back");
        let after = self.read(&verify, key).await?;
        let enabled_ok = change.enabled.is_none_or(|e| e == after.enabled);
        let percent_ok = match (rollout, &after.rollout) {
            (Some(p), Some((_, live))) => same_percent(p, *live),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !enabled_ok || !percent_ok {
            return Err(self.ctx.error(
                Failure::Transient,
                &verify,
                format!(
                    "the flag reads {} after the change",
                    FlagState {
                        enabled: after.enabled,
                        percent: after.rollout.map(|r| r.1)
                    }
                ),
            ));
        }
        Ok(())
    }
}

// The declaration: what an `unleash` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "unleash",
    article: "an",
    capabilities: &[Capability::Flags],
    needs: &[],
    keys: &[
        Key::required(
            "url",
            Shape::Text,
            "base URL of the Unleash server, e.g. https://unleash.example.com",
        ),
        Key::required(
            "token",
            Shape::Text,
            "Unleash admin API token; use ${VAR} so it stays out of the plan",
        ),
        Key::optional(
            "project",
            Shape::Literal,
            "Unleash project (default: default)",
        ),
        Key::required(
            "environment",
            Shape::Literal,
            "Unleash environment whose flag strategies migrate sets",
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
    Ok(Arc::new(UnleashFlags::new(
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
    let url = r.url(cx, "url", &["http://", "https://"]);
    let token = r.text(cx, "token");
    let project = r.opt_literal(cx, "project");
    let environment = r.literal(cx, "environment");
    let tls = r.tls(cx);
    spec::config(Config {
        url: url?,
        token: token?,
        project: project.ok()?.unwrap_or_else(|| "default".to_string()),
        environment: environment?,
        tls: tls.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment_and_its_rollout() {
        let v = json!({"name": "x", "environments": [
            {"name": "development", "enabled": false, "strategies": []},
            {"name": "production", "enabled": true, "strategies": [
                {"id": "s1", "name": "default", "parameters": {}},
                {"id": "s2", "name": "flexibleRollout", "parameters": {"rollout": "25", "stickiness": "default"}},
                {"id": "s3", "name": "flexibleRollout", "disabled": true, "parameters": {"rollout": "90"}}
            ]}
        ]});
        let live = live_of(&v, "production").unwrap();
        assert!(live.enabled);
        assert_eq!(live.rollout, Some(("s2".to_string(), 25.0)));
        let dev = live_of(&v, "development").unwrap();
        assert_eq!(dev.rollout, None);
        assert!(live_of(&v, "staging")
            .unwrap_err()
            .contains("development, production"));
    }

    #[test]
    fn two_rollouts_are_an_error() {
        let v = json!({"environments": [{"name": "p", "enabled": true, "strategies": [
            {"id": "a", "name": "flexibleRollout", "parameters": {"rollout": "1"}},
            {"id": "b", "name": "flexibleRollout", "parameters": {"rollout": "2"}}
        ]}]});
        assert!(live_of(&v, "p").unwrap_err().contains("2 flexibleRollout"));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("payments.dual-write"), "payments.dual-write");
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
    }
}
