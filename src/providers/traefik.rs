//! Traefik through a dynamic-configuration file (the file provider, with
//! `watch: true`, reloads it on change).
//!
//! Traffic: `http.services.<service>.weighted.services` lists the legacy
//! and candidate services with weights `100-p` and `p` (basis points,
//! `10000-bp` and `bp`, when the percent is not whole). Mirror:
//! `http.services.<mirror_service>.mirroring` sends `percent` of the
//! requests to the candidate, the legacy service answering. The rest of
//! the file's data is kept, in its order (keys migrate adds go last), but
//! not its form: YAML is rewritten from its data, so comments, anchors,
//! flow style (`[a, b]`) and quoting are not kept. The file is replaced
//! atomically, then read back.
//!
//! The file is YAML (Traefik's TOML form is not supported).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use super::split::percent_of;
use super::{
    config_of, file_holds, fmt_number, Adapter, CallCtx, Channel, Failure, ProviderError, Router,
};
use crate::plan::decode::Cx;
use crate::plan::providers::Fields;
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec, Shape};
use crate::plan::{Capability, Provider, Text};

pub struct TraefikRouter {
    ctx: CallCtx,
    cfg: Config,
    /// Traffic and mirror live in the same file: one change at a time.
    lock: tokio::sync::Mutex<()>,
}

fn key(s: &str) -> Yaml {
    Yaml::String(s.to_string())
}

/// `map[name]`, created (at the end) as an empty mapping when missing;
/// `None` when it exists but is not a mapping. An existing entry stays
/// where it is (the map's `entry().or_insert()` would move it to the end).
fn child<'a>(map: &'a mut Hash, name: &str) -> Option<&'a mut Hash> {
    let k = key(name);
    if !map.contains_key(&k) {
        map.insert(k.clone(), Yaml::Hash(Hash::new()));
    }
    let slot = map.get_mut(&k)?;
    if slot.is_null() {
        *slot = Yaml::Hash(Hash::new());
    }
    match slot {
        Yaml::Hash(h) => Some(h),
        _ => None,
    }
}

/// Set `map[name]` to `value`, in place when it exists (the map's
/// `insert` would move it to the end), at the end when it does not.
fn put(map: &mut Hash, name: &str, value: Yaml) {
    match map.get_mut(&key(name)) {
        Some(slot) => *slot = value,
        None => {
            map.insert(key(name), value);
        }
    }
}

/// A service's name inside the file provider's configuration: Traefik
/// takes `a@file` there for the service `a` the file defines.
fn local(name: &str) -> &str {
    name.strip_suffix("@file").unwrap_or(name)
}

/// Whether two references name the same service of the file (`a`,
/// `a@file`).
fn same_service(a: &str, b: &str) -> bool {
    local(a) == local(b)
}

/// How to write `want` where the file already names it: as the file does
/// (`a` stays `a`, `a@file` stays `a@file`), else as the plan does.
fn as_written<'a>(existing: &'a [String], want: &'a str) -> &'a str {
    existing
        .iter()
        .find(|n| same_service(n, want))
        .map_or(want, String::as_str)
}

/// The `name`s of a list of service references.
fn names(list: Option<&Yaml>) -> Vec<String> {
    match list {
        Some(Yaml::Array(a)) => a
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn lookup<'a>(doc: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(doc, |v, p| &v[*p])
}

fn as_number(v: &Yaml) -> Option<f64> {
    match v {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(_) => v.as_f64(),
        Yaml::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl TraefikRouter {
    pub fn new(ctx: CallCtx, cfg: Config) -> Self {
        Self {
            ctx,
            cfg,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    fn err(&self, failure: Failure, doing: &str, msg: impl Into<String>) -> ProviderError {
        self.ctx.error(failure, doing, msg)
    }

    /// The file's document; a missing or empty file is an empty mapping.
    fn load(&self, doing: &str) -> Result<Yaml, ProviderError> {
        let file = &self.cfg.file;
        let text = match std::fs::read_to_string(file.expose()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(self.err(Failure::Rejected, doing, format!("cannot read {file}: {e}")))
            }
        };
        let docs = YamlLoader::load_from_str(&text).map_err(|e| {
            self.err(
                Failure::Rejected,
                doing,
                format!("{file} is not valid YAML: {e}"),
            )
        })?;
        match docs.len() {
            0 => Ok(Yaml::Hash(Hash::new())),
            1 => match docs.into_iter().next() {
                Some(Yaml::Null) | None => Ok(Yaml::Hash(Hash::new())),
                Some(d @ Yaml::Hash(_)) => Ok(d),
                Some(_) => Err(self.err(
                    Failure::Rejected,
                    doing,
                    format!("{file} does not hold a mapping at the top"),
                )),
            },
            n => Err(self.err(
                Failure::Rejected,
                doing,
                format!("{file} holds {n} YAML documents; Traefik reads one"),
            )),
        }
    }

    fn traffic_of(&self, doing: &str, doc: &Yaml) -> Result<f64, ProviderError> {
        let services = lookup(
            doc,
            &[
                "http",
                "services",
                local(&self.cfg.service),
                "weighted",
                "services",
            ],
        );
        let list = match services {
            Yaml::BadValue | Yaml::Null => return Ok(0.0),
            Yaml::Array(a) => a,
            _ => {
                return Err(self.err(
                    Failure::Rejected,
                    doing,
                    format!(
                        "{}: http.services.{}.weighted.services is not a list",
                        self.cfg.file, self.cfg.service
                    ),
                ))
            }
        };
        let (mut legacy, mut candidate) = (0.0, 0.0);
        for entry in list {
            let name = entry["name"].as_str().unwrap_or_default();
            // Traefik's default weight is 1.
            let weight = match &entry["weight"] {
                Yaml::BadValue | Yaml::Null => 1.0,
                w => as_number(w).ok_or_else(|| {
                    self.err(
                        Failure::Rejected,
                        doing,
                        format!(
                            "{}: weight of '{name}' in service {} is not a number",
                            self.cfg.file, self.cfg.service
                        ),
                    )
                })?,
            };
            if same_service(name, &self.cfg.legacy) {
                legacy += weight;
            } else if same_service(name, &self.cfg.candidate) {
                candidate += weight;
            } else {
                return Err(self.err(
                    Failure::Rejected,
                    doing,
                    format!(
                        "{}: service {} also sends traffic to '{name}', which is neither legacy nor candidate in the plan",
                        self.cfg.file, self.cfg.service
                    ),
                ));
            }
        }
        percent_of(legacy, candidate).ok_or_else(|| {
            self.err(
                Failure::Rejected,
                doing,
                format!(
                    "{}: service {} gives every service weight 0",
                    self.cfg.file, self.cfg.service
                ),
            )
        })
    }

    fn mirror_of(&self, doing: &str, doc: &Yaml) -> Result<f64, ProviderError> {
        let Some(ms) = &self.cfg.mirror_service else {
            return Err(no_mirror(&self.ctx, doing));
        };
        let mirrors = lookup(doc, &["http", "services", local(ms), "mirroring", "mirrors"]);
        let Yaml::Array(list) = mirrors else {
            return Ok(0.0);
        };
        Ok(list
            .iter()
            .filter(|m| {
                m["name"]
                    .as_str()
                    .is_some_and(|n| same_service(n, &self.cfg.candidate))
            })
            .filter_map(|m| as_number(&m["percent"]))
            .sum())
    }

    fn edit(
        &self,
        doing: &str,
        doc: &mut Yaml,
        channel: Channel,
        percent: f64,
    ) -> Result<(), ProviderError> {
        let file = &self.cfg.file;
        let not_map = |what: &str| {
            self.err(
                Failure::Rejected,
                doing,
                format!("{file}: {what} is not a mapping"),
            )
        };
        let Yaml::Hash(root) = doc else {
            return Err(not_map("the document"));
        };
        let http = child(root, "http").ok_or_else(|| not_map("http"))?;
        let services = child(http, "services").ok_or_else(|| not_map("http.services"))?;
        match channel {
            Channel::Traffic => {
                let (l, c) = if percent.fract() == 0.0 {
                    (100 - percent as i64, percent as i64)
                } else {
                    let bp = (percent * 100.0).round() as i64;
                    (10_000 - bp, bp)
                };
                let name = local(&self.cfg.service);
                let svc = child(services, name)
                    .ok_or_else(|| not_map(&format!("http.services.{name}")))?;
                let weighted = child(svc, "weighted")
                    .ok_or_else(|| not_map(&format!("http.services.{name}.weighted")))?;
                let existing = names(weighted.get(&key("services")));
                let entry = |name: &str, w: i64| {
                    let mut h = Hash::new();
                    h.insert(key("name"), key(name));
                    h.insert(key("weight"), Yaml::Integer(w));
                    Yaml::Hash(h)
                };
                put(
                    weighted,
                    "services",
                    Yaml::Array(vec![
                        entry(as_written(&existing, &self.cfg.legacy), l),
                        entry(as_written(&existing, &self.cfg.candidate), c),
                    ]),
                );
            }
            Channel::Mirror => {
                let Some(ms) = &self.cfg.mirror_service else {
                    return Err(no_mirror(&self.ctx, doing));
                };
                if percent.fract() != 0.0 {
                    return Err(self.err(
                        Failure::Rejected,
                        doing,
                        format!(
                            "Traefik mirrors whole percents; {}% cannot be set",
                            fmt_number(percent)
                        ),
                    ));
                }
                let ms = local(ms);
                let svc =
                    child(services, ms).ok_or_else(|| not_map(&format!("http.services.{ms}")))?;
                let mirroring = child(svc, "mirroring")
                    .ok_or_else(|| not_map(&format!("http.services.{ms}.mirroring")))?;
                let mut existing = names(mirroring.get(&key("mirrors")));
                existing.extend(
                    mirroring
                        .get(&key("service"))
                        .and_then(Yaml::as_str)
                        .map(str::to_string),
                );
                put(
                    mirroring,
                    "service",
                    key(as_written(&existing, &self.cfg.legacy)),
                );
                let mut m = Hash::new();
                m.insert(
                    key("name"),
                    key(as_written(&existing, &self.cfg.candidate)),
                );
                m.insert(key("percent"), Yaml::Integer(percent as i64));
                put(mirroring, "mirrors", Yaml::Array(vec![Yaml::Hash(m)]));
            }
        }
        Ok(())
    }

    fn render(&self, doing: &str, doc: &Yaml) -> Result<String, ProviderError> {
        let mut out = String::new();
        YamlEmitter::new(&mut out)
            .dump(doc)
            .map_err(|e| self.err(Failure::Rejected, doing, format!("cannot write YAML: {e}")))?;
        let mut out = out
            .strip_prefix("---\n")
            .or_else(|| out.strip_prefix("---"))
            .unwrap_or(&out)
            .to_string();
        out.push('\n');
        Ok(out)
    }
}

fn no_mirror(ctx: &CallCtx, doing: &str) -> ProviderError {
    ctx.error(
        Failure::Rejected,
        doing,
        "no mirror_service is configured for this provider (the name of the mirroring service to write)",
    )
}

#[async_trait]
impl Router for TraefikRouter {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!(
            "setting {channel} to {}% in {}",
            fmt_number(percent),
            self.cfg.file
        );
        let _held = self.lock.lock().await;
        let mut doc = self.load(&doing)?;
        self.edit(&doing, &mut doc, channel, percent)?;
        let text = self.render(&doing, &doc)?;
        crate::fsutil::write_atomic(Path::new(self.cfg.file.expose()), text.as_bytes(), None)
            .map_err(|e| {
                self.err(
                    Failure::Rejected,
                    &doing,
                    format!("cannot write {}: {e}", self.cfg.file),
                )
            })?;
        let verify = format!("{doing}: reading back");
        let doc = self.load(&verify)?;
        let live = match channel {
            Channel::Traffic => self.traffic_of(&verify, &doc)?,
            Channel::Mirror => self.mirror_of(&verify, &doc)?,
        };
        file_holds(&self.ctx, &verify, &self.cfg.file, live, percent)
    }

    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        let doing = format!("reading {channel} from {}", self.cfg.file);
        let doc = self.load(&doing)?;
        match channel {
            Channel::Traffic => self.traffic_of(&doing, &doc),
            Channel::Mirror => self.mirror_of(&doing, &doc),
        }
    }
}

// The declaration: what a `traefik` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "traefik",
    article: "a",
    capabilities: &[Capability::Traffic, Capability::Mirror],
    needs: &[(Capability::Mirror, "with mirror_service")],
    keys: &[
        Key::required(
            "file",
            Shape::Text,
            "the dynamic configuration file (of Traefik's file provider) migrate writes (atomically)",
        ),
        Key::required(
            "service",
            Shape::Literal,
            "the weighted Traefik service migrate owns",
        ),
        Key::required(
            "legacy",
            Shape::OneOrMany,
            "the service that serves the legacy version",
        ),
        Key::required(
            "candidate",
            Shape::OneOrMany,
            "the service that serves the candidate",
        ),
        Key::optional(
            "mirror_service",
            Shape::Literal,
            "the mirroring Traefik service migrate owns",
        ),
        Key::optional(
            "sticky",
            Shape::Sticky,
            "refused for traefik: its sticky cookie pins a client to the side it first landed on (see docs/providers.md)",
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
    Ok(Arc::new(TraefikRouter::new(
        ctx,
        config_of::<Config>(p)?.clone(),
    )))
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub file: Text,
    pub service: String,
    pub legacy: String,
    pub candidate: String,
    pub mirror_service: Option<String>,
}

impl ProviderConfig for Config {
    fn candidate_label(&self) -> String {
        self.candidate.clone()
    }

    fn missing_for(&self, cap: Capability) -> Option<&'static str> {
        (cap == Capability::Mirror && self.mirror_service.is_none()).then_some("mirror_service")
    }

    fn refuses_percent(&self, cap: Capability, percent: f64) -> Option<(String, String)> {
        (cap == Capability::Mirror && percent.fract() != 0.0).then(|| {
            (
                "Traefik mirrors whole percents (a mirror's `percent` is an integer)".to_string(),
                format!(
                    "use a whole percent: {} or {}",
                    fmt_number(percent.floor()),
                    fmt_number(percent.ceil())
                ),
            )
        })
    }
}

/// Why `sticky` is refused. A weighted service picks a child at random by
/// weight for each request; its `sticky.cookie` then pins the client to the
/// child it landed on, whatever the weights become. So the side is not
/// decided by the customer's key (a customer on two devices can be on both
/// sides), a pinned customer does not follow the share as it grows, and a
/// rollback to weight 0 leaves every customer pinned to the candidate there.
const STICKY_REFUSED: &str = "its weighted service picks a side per request at random by weight, and its sticky cookie only pins a client to the side it first landed on, so the side is not decided by the customer's key and a rollback leaves pinned customers on the candidate";
const STICKY_INSTEAD: &str = "split by customer with a flag service that buckets by key (unleash, flagd, launchdarkly), or with an nginx, haproxy or envoy provider";

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let file = r.text(cx, "file");
    let service = r.literal(cx, "service");
    let legacy = r.literal(cx, "legacy");
    let candidate = r.literal(cx, "candidate");
    let mirror_service = r.opt_literal(cx, "mirror_service");
    r.refuse_sticky(cx, STICKY_REFUSED, STICKY_INSTEAD)?;
    spec::config(Config {
        file: file?,
        service: service?,
        legacy: legacy?,
        candidate: candidate?,
        mirror_service: mirror_service.ok()?,
    })
}
