//! HAProxy through its Runtime API (the admin socket, unix or TCP).
//!
//! The split is held in server weights: `set server <backend>/<server>
//! weight N` for every legacy and candidate server, the share spread evenly
//! over the servers of each side and scaled to the largest weights HAProxy
//! takes, so that the new split is served from the first requests after a
//! change (see [`super::split::Weights::scaled`]). Read back with
//! `show servers state <backend>` (the user weight column). A server that
//! would get traffic while an operator holds it in maintenance or drain is
//! an error naming it: migrate never changes a server's admin state. With
//! `state_file`, the whole `show servers state` is saved there after each
//! change (HAProxy's `server-state-file`), so a reload keeps the weights.
//! With `sticky`, the keyed share is a threshold in a map file, compared
//! in the operator's rules with a hash of the key (see below).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::split::{holding, percent_of};
use super::{config_of, same_percent, Adapter, CallCtx, Channel, Failure, ProviderError, Router};
use crate::plan::decode::Cx;
use crate::plan::providers::{overlap, Fields, Reported};
use crate::plan::spec::{self, Key, ProviderConfig, ProviderSpec, Shape};
use crate::plan::{Capability, Missing, Provider, Sticky, Text};

/// HAProxy accepts absolute weights from 0 to 256.
pub const MAX_WEIGHT: u32 = 256;

/// Largest reply read from the socket; `show servers state` of a big
/// configuration is well below this.
const REPLY_LIMIT: u64 = 16 << 20;

pub struct HaproxyRouter {
    ctx: CallCtx,
    cfg: Config,
    /// One change at a time: the weights of a backend are one setting.
    lock: tokio::sync::Mutex<()>,
}

/// One server's line of `show servers state`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerState {
    pub name: String,
    pub weight: u32,
    pub admin_state: u32,
}

impl ServerState {
    /// Maintenance (forced, inherited, from configuration or from DNS),
    /// or drain, in words; `None` when the server is ready.
    pub fn held(&self) -> Option<&'static str> {
        // SRV_ADMF_FMAINT 0x01, IMAINT 0x02, CMAINT 0x04, RMAINT 0x20,
        // HMAINT 0x40; FDRAIN 0x08, IDRAIN 0x10.
        if self.admin_state & (0x01 | 0x02 | 0x04 | 0x20 | 0x40) != 0 {
            Some("in maintenance (maint)")
        } else if self.admin_state & (0x08 | 0x10) != 0 {
            Some("draining (drain)")
        } else {
            None
        }
    }
}

impl HaproxyRouter {
    pub fn new(ctx: CallCtx, cfg: Config) -> Self {
        Self {
            ctx,
            cfg,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    fn endpoint_label(&self) -> String {
        match &self.cfg.endpoint {
            Endpoint::Socket(p) => format!("admin socket {p}"),
            Endpoint::Address(a) => format!("runtime API at {a}"),
        }
    }

    /// A runtime command that changes something: HAProxy answers nothing
    /// when it took it, and says why when it did not.
    async fn change(&self, step: &str, cmd: &str) -> Result<(), ProviderError> {
        self.ctx
            .call(step, true, || async {
                let reply = self.command(step, cmd).await?;
                let reply = reply.trim();
                if reply.is_empty() {
                    Ok(())
                } else {
                    Err(self.ctx.error(
                        Failure::Rejected,
                        step,
                        format!("HAProxy answered: {}", super::web::quote(reply)),
                    ))
                }
            })
            .await
    }

    /// Send one command and read the reply to EOF. Connection problems
    /// are transient (HAProxy may be reloading); the reply is returned as
    /// is, for the caller to judge.
    async fn command(&self, doing: &str, cmd: &str) -> Result<String, ProviderError> {
        let io_err = |what: &str, e: std::io::Error| {
            self.ctx.error(
                Failure::Transient,
                doing,
                format!("{what} the {}: {e}", self.endpoint_label()),
            )
        };
        match &self.cfg.endpoint {
            Endpoint::Socket(path) => {
                let s = tokio::net::UnixStream::connect(Path::new(path.expose()))
                    .await
                    .map_err(|e| io_err("cannot connect to", e))?;
                exchange(s, cmd).await.map_err(|e| io_err("talking to", e))
            }
            Endpoint::Address(addr) => {
                let s = tokio::net::TcpStream::connect(addr.expose())
                    .await
                    .map_err(|e| io_err("cannot connect to", e))?;
                exchange(s, cmd).await.map_err(|e| io_err("talking to", e))
            }
        }
    }

    /// The backend's servers, by name.
    async fn servers(&self, doing: &str) -> Result<HashMap<String, ServerState>, ProviderError> {
        let cmd = format!("show servers state {}", self.cfg.backend);
        let reply = self
            .ctx
            .call(doing, true, || self.command(doing, &cmd))
            .await?;
        parse_servers_state(&reply, &self.cfg.backend).map_err(|(failure, msg)| {
            self.ctx.error(
                failure,
                doing,
                format!("'{cmd}' on the {}: {msg}", self.endpoint_label()),
            )
        })
    }

    fn find<'a>(
        &self,
        doing: &str,
        servers: &'a HashMap<String, ServerState>,
        name: &str,
    ) -> Result<&'a ServerState, ProviderError> {
        servers.get(name).ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                format!(
                    "backend '{}' has no server '{name}' (it has: {})",
                    self.cfg.backend,
                    sorted_names(servers)
                ),
            )
        })
    }

    fn percent_from(
        &self,
        doing: &str,
        servers: &HashMap<String, ServerState>,
    ) -> Result<f64, ProviderError> {
        let mut legacy = 0.0;
        for s in &self.cfg.legacy {
            legacy += f64::from(self.find(doing, servers, s)?.weight);
        }
        let mut candidate = 0.0;
        for s in &self.cfg.candidate {
            candidate += f64::from(self.find(doing, servers, s)?.weight);
        }
        percent_of(legacy, candidate).ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                format!(
                    "every legacy and candidate server of backend '{}' has weight 0: no traffic goes to either",
                    self.cfg.backend
                ),
            )
        })
    }

    async fn save_state(&self) -> Result<(), ProviderError> {
        let Some(file) = &self.cfg.state_file else {
            return Ok(());
        };
        let doing = format!("saving server state to {file}");
        let reply = self
            .ctx
            .call(&doing, true, || self.command(&doing, "show servers state"))
            .await?;
        if !reply.starts_with('1') {
            return Err(self.ctx.error(
                Failure::Garbage,
                &doing,
                format!(
                    "'show servers state' answered {}",
                    super::web::quote(&reply)
                ),
            ));
        }
        crate::fsutil::write_atomic(Path::new(file.expose()), reply.as_bytes(), None).map_err(|e| {
            self.ctx.error(
                Failure::Rejected,
                &doing,
                format!("cannot write {file}: {e}"),
            )
        })
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    cmd: &str,
) -> std::io::Result<String> {
    s.write_all(format!("{cmd}\n").as_bytes()).await?;
    s.flush().await?;
    let mut buf = Vec::new();
    (&mut s).take(REPLY_LIMIT).read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn sorted_names(servers: &HashMap<String, ServerState>) -> String {
    let mut names: Vec<&str> = servers.keys().map(String::as_str).collect();
    names.sort_unstable();
    if names.is_empty() {
        "no servers".to_string()
    } else {
        names.join(", ")
    }
}

/// Parse `show servers state <backend>`: a version line (`1`), a `#`
/// header naming the columns, then one line per server.
pub fn parse_servers_state(
    reply: &str,
    backend: &str,
) -> Result<HashMap<String, ServerState>, (Failure, String)> {
    let mut lines = reply.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    if first != "1" {
        // Not the state format: an error message such as "Can't find backend."
        let failure = if first.is_empty() {
            Failure::Garbage
        } else {
            Failure::Rejected
        };
        let text = if first.is_empty() {
            "an empty reply".to_string()
        } else {
            super::web::quote(reply)
        };
        return Err((failure, format!("HAProxy answered: {text}")));
    }
    let header = lines.next().and_then(|h| h.strip_prefix('#')).ok_or((
        Failure::Garbage,
        "no column header in the reply".to_string(),
    ))?;
    let cols: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| {
        cols.iter().position(|c| *c == name).ok_or((
            Failure::Garbage,
            format!("the reply has no '{name}' column"),
        ))
    };
    let (be, name, admin, weight) = (
        col("be_name")?,
        col("srv_name")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
    );
    let mut out = HashMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let get = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or((Failure::Garbage, format!("short line in the reply: {line}")))
        };
        if get(be)? != backend {
            continue;
        }
        let number = |i: usize| -> Result<u32, (Failure, String)> {
            let v = get(i)?;
            v.parse().map_err(|_| {
                (
                    Failure::Garbage,
                    format!("'{v}' is not a number in: {line}"),
                )
            })
        };
        let s = ServerState {
            name: get(name)?.to_string(),
            weight: number(weight)?,
            admin_state: number(admin)?,
        };
        out.insert(s.name.clone(), s);
    }
    Ok(out)
}

#[async_trait]
impl Router for HaproxyRouter {
    async fn set(&self, channel: Channel, percent: f64) -> Result<(), ProviderError> {
        let doing = format!(
            "setting {channel} of backend '{}' to {}%",
            self.cfg.backend,
            super::fmt_number(percent)
        );
        if channel == Channel::Mirror {
            return Err(no_mirroring(&self.ctx, &doing));
        }
        let _held = self.lock.lock().await;
        if let Some(sticky) = &self.cfg.sticky {
            return self.set_sticky(&doing, sticky, percent).await;
        }
        self.set_weights(&doing, percent).await?;
        self.save_state().await
    }

    async fn get(&self, channel: Channel) -> Result<f64, ProviderError> {
        let doing = format!("reading {channel} of backend '{}'", self.cfg.backend);
        if channel == Channel::Mirror {
            return Err(no_mirroring(&self.ctx, &doing));
        }
        if let Some(sticky) = &self.cfg.sticky {
            return self.get_sticky(&doing, sticky).await;
        }
        let servers = self.servers(&doing).await?;
        self.percent_from(&doing, &servers)
    }
}

impl HaproxyRouter {
    /// Put `percent` of the backend's load-balanced requests on the
    /// candidate servers, by weight, and read the weights back.
    async fn set_weights(&self, doing: &str, percent: f64) -> Result<(), ProviderError> {
        let doing = doing.to_string();
        let servers = self.servers(&doing).await?;
        let w = holding(
            percent,
            self.cfg.legacy.len(),
            self.cfg.candidate.len(),
            MAX_WEIGHT,
            "HAProxy weights (0 to 256)",
        )
        .map_err(|m| self.ctx.error(Failure::Rejected, doing.as_str(), m))?
        .scaled(MAX_WEIGHT);
        let mut changes: Vec<(&str, u32, u32)> = Vec::new();
        for (names, weight) in [
            (&self.cfg.legacy, w.legacy),
            (&self.cfg.candidate, w.candidate),
        ] {
            for name in names {
                let s = self.find(&doing, &servers, name)?;
                if weight > 0 {
                    if let Some(held) = s.held() {
                        return Err(self.ctx.error(
                            Failure::Rejected,
                            &doing,
                            format!(
                                "server {}/{name} is {held}; migrate does not change admin states: make it ready (set server {}/{name} state ready) or take it out of the plan",
                                self.cfg.backend, self.cfg.backend
                            ),
                        ));
                    }
                }
                changes.push((name.as_str(), s.weight, weight));
            }
        }
        // Raise weights before lowering others, so the total never drops to
        // zero half-way.
        changes.sort_by_key(|(_, old, new)| new < old);
        for (name, _, weight) in &changes {
            let target = format!("{}/{name}", self.cfg.backend);
            let cmd = format!("set server {target} weight {weight}");
            let step = format!("setting weight of {target} to {weight}");
            self.change(&step, &cmd).await?;
        }
        // Verify: every weight as set.
        let verify = format!("{doing}: reading back");
        let after = self.servers(&verify).await?;
        for (name, _, weight) in &changes {
            let live = self.find(&verify, &after, name)?.weight;
            if live != *weight {
                return Err(self.ctx.error(
                    Failure::Transient,
                    &verify,
                    format!(
                        "server {}/{name} has weight {live} after it was set to {weight} (someone else changing it?)",
                        self.cfg.backend
                    ),
                ));
            }
        }
        Ok(())
    }
}

// Customer-consistent splits (`sticky`).
//
// HAProxy hashes the key in the operator's configuration (docs/providers.md
// gives the lines): `req.hdr(NAME),xxh32,mod(10000)` is the key's bucket,
// and a request whose bucket is below the backend's threshold goes to the
// candidate (`use-server`). The threshold, in basis points, is the entry
// named after the backend in a map file (`map_str_int(FILE,0)`), which
// migrate changes through the runtime API (`set map`, or `add map` for a
// first entry: no reload) and writes to the file, so a reload keeps it.
// The candidate's buckets at 10% are among its buckets at 25%: the cohort
// only grows. Requests without the key are load-balanced by weight: the
// weights hold 0% (100% at 100%) for `missing: legacy`, the plan's share for
// `missing: split`.

/// The key's buckets: a threshold is in basis points.
pub const BUCKETS: u32 = 10_000;

impl HaproxyRouter {
    fn map_file(&self, doing: &str) -> Result<&Text, ProviderError> {
        self.cfg.map.as_ref().ok_or_else(|| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                "a sticky split needs 'map' (the map file holding the threshold)",
            )
        })
    }

    /// The backend's threshold (basis points); `None` when the map has no
    /// entry for it (the configuration's default, 0, applies).
    async fn threshold(&self, doing: &str) -> Result<Option<u32>, ProviderError> {
        let file = self.map_file(doing)?;
        let cmd = format!("show map {}", file.expose());
        let reply = self
            .ctx
            .call(doing, true, || self.command(doing, &cmd))
            .await?;
        parse_map_entry(&reply, &self.cfg.backend).map_err(|msg| {
            self.ctx.error(
                Failure::Rejected,
                doing,
                format!("'show map {file}' on the {}: {msg}", self.endpoint_label()),
            )
        })
    }

    async fn set_threshold(&self, doing: &str, cut: u32) -> Result<(), ProviderError> {
        let file = self.map_file(doing)?;
        let step = format!("setting the threshold of '{}' in {file} to {cut}", self.cfg.backend);
        let exists = self.threshold(doing).await?.is_some();
        let verb = if exists { "set" } else { "add" };
        let cmd = format!("{verb} map {} {} {cut}", file.expose(), self.cfg.backend);
        self.change(&step, &cmd).await?;
        // The file too, so a reload of HAProxy keeps the threshold.
        let path = std::path::Path::new(file.expose());
        let old = std::fs::read_to_string(path).map_err(|e| {
            self.ctx.error(Failure::Rejected, &step, format!("cannot read {file}: {e}"))
        })?;
        let new = with_map_entry(&old, &self.cfg.backend, cut);
        if new != old {
            crate::fsutil::write_atomic(path, new.as_bytes(), None).map_err(|e| {
                self.ctx.error(Failure::Rejected, &step, format!("cannot write {file}: {e}"))
            })?;
        }
        Ok(())
    }

    async fn set_sticky(
        &self,
        doing: &str,
        sticky: &Sticky,
        percent: f64,
    ) -> Result<(), ProviderError> {
        let cut = (percent.clamp(0.0, 100.0) * f64::from(BUCKETS) / 100.0).round() as u32;
        // The requests without the key first: at a rollback, they are back on
        // legacy before the keyed ones are.
        self.set_weights(doing, keyless_share(sticky.missing, percent)).await?;
        self.set_threshold(doing, cut).await?;
        self.save_state().await?;
        let verify = format!("{doing}: reading back");
        let live = self.get_sticky(&verify, sticky).await?;
        if same_percent(live, percent) {
            Ok(())
        } else {
            Err(self.ctx.error(
                Failure::Transient,
                &verify,
                format!(
                    "backend '{}' holds {}% after {}% was set (someone else changing it?)",
                    self.cfg.backend,
                    super::fmt_number(live),
                    super::fmt_number(percent)
                ),
            ))
        }
    }

    /// The keyed share (the threshold), unless the weights do not hold what
    /// the `missing` rule wants for it: then the weights' share, so that a
    /// hand change of either is seen.
    async fn get_sticky(&self, doing: &str, sticky: &Sticky) -> Result<f64, ProviderError> {
        let cut = self.threshold(doing).await?.unwrap_or(0);
        let keyed = f64::from(cut.min(BUCKETS)) * 100.0 / f64::from(BUCKETS);
        let servers = self.servers(doing).await?;
        let keyless = self.percent_from(doing, &servers)?;
        // The file holds what migrate set last: a live threshold that
        // differs from it was changed by hand (through the runtime API);
        // otherwise weights that do not fit the threshold were.
        let file = self.map_file(doing)?;
        let written = std::fs::read_to_string(file.expose())
            .ok()
            .and_then(|t| map_file_entry(&t, &self.cfg.backend));
        if written.is_some_and(|w| w != cut) {
            return Ok(keyed);
        }
        if same_percent(keyless, keyless_share(sticky.missing, keyed)) {
            Ok(keyed)
        } else {
            Ok(keyless)
        }
    }
}

/// The share of requests without the key the candidate gets when the
/// keyed share is `percent`.
pub fn keyless_share(missing: Missing, percent: f64) -> f64 {
    match missing {
        Missing::Split => percent,
        Missing::Legacy if percent >= 100.0 => 100.0,
        Missing::Legacy => 0.0,
    }
}

/// `show map FILE`: one `<id> <key> <value>` line per entry. The value of
/// `key`, as a threshold.
pub fn parse_map_entry(reply: &str, key: &str) -> Result<Option<u32>, String> {
    for line in reply.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [id, k, v] if id.starts_with("0x") => {
                if *k == key {
                    return v
                        .parse()
                        .map(Some)
                        .map_err(|_| format!("the entry '{key}' holds '{v}', not a number of basis points"));
                }
            }
            _ => return Err(format!("HAProxy answered: {}", super::web::quote(reply))),
        }
    }
    Ok(None)
}

/// `key`'s value in a map file's text.
pub fn map_file_entry(text: &str, key: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(key))
            .then(|| words.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

/// A map file's text with `key`'s entry set to `value` (added at the end
/// when missing); comments and other entries kept.
pub fn with_map_entry(text: &str, key: &str, value: u32) -> String {
    let mut out = String::new();
    let mut found = false;
    for line in text.lines() {
        let first = line.split_whitespace().next();
        if first == Some(key) && !found {
            out.push_str(&format!("{key} {value}\n"));
            found = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !found {
        out.push_str(&format!("{key} {value}\n"));
    }
    out
}

fn no_mirroring(ctx: &CallCtx, doing: &str) -> ProviderError {
    ctx.error(
        Failure::Rejected,
        doing,
        "HAProxy has no request mirroring; mirror with an nginx, envoy or traefik provider",
    )
}

// The declaration: what a `haproxy` provider is in a plan, and what it builds.

pub static SPEC: ProviderSpec = ProviderSpec {
    name: "haproxy",
    article: "a",
    capabilities: &[Capability::Traffic],
    needs: &[],
    keys: &[
        Key::optional(
            "socket",
            Shape::Text,
            "HAProxy admin socket path (stats socket ... level admin)",
        ),
        Key::optional(
            "address",
            Shape::Text,
            "host:port of HAProxy's runtime API over TCP",
        ),
        Key::required(
            "backend",
            Shape::Literal,
            "the HAProxy backend holding legacy and candidate servers",
        ),
        Key::required(
            "legacy",
            Shape::OneOrMany,
            "the backend's server(s) that serve the legacy version",
        ),
        Key::required(
            "candidate",
            Shape::OneOrMany,
            "the backend's server(s) that serve the candidate",
        ),
        Key::optional(
            "state_file",
            Shape::Text,
            "HAProxy server-state-file to save runtime weights to, so they survive a reload",
        ),
        Key::optional(
            "sticky",
            Shape::Sticky,
            "split traffic by customer: a hash of the key against a threshold held in 'map'",
        ),
        Key::optional(
            "map",
            Shape::Text,
            "HAProxy map file whose entry named after the backend holds the sticky threshold (with sticky)",
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
    Ok(Arc::new(HaproxyRouter::new(
        ctx,
        config_of::<Config>(p)?.clone(),
    )))
}

/// Where HAProxy's runtime API is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Socket(Text),
    Address(Text),
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub backend: String,
    pub legacy: Vec<String>,
    pub candidate: Vec<String>,
    pub state_file: Option<Text>,
    /// Absent from the JSON form when unset, so that step digests of
    /// plans without it stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// Absent from the JSON form when unset, so that step digests of
    /// plans without it stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<Text>,
}

impl ProviderConfig for Config {
    fn candidate_label(&self) -> String {
        self.candidate.join(", ")
    }

    fn split_by(&self) -> Option<String> {
        self.sticky.as_ref().map(|s| s.key.describe())
    }
}

fn decode(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<spec::Config> {
    let endpoint = match (r.map.opt("socket"), r.map.opt("address")) {
        (Some((n, p)), None) => cx.text(n, &p).map(Endpoint::Socket),
        (None, Some((n, p))) => cx.text(n, &p).map(Endpoint::Address),
        (Some(_), Some((n, p))) => {
            cx.error_hint(
                n.span,
                &p,
                format!("{} has both 'socket' and 'address'", r.what),
                "give the admin socket path or a host:port, not both",
            );
            None
        }
        (None, None) => {
            cx.error_hint(
                r.map.key_span(),
                &r.map.path,
                format!("{} needs 'socket' (admin socket path) or 'address' (host:port of the runtime API)", r.what),
                "e.g. socket: /run/haproxy/admin.sock",
            );
            None
        }
    };
    let backend = r.literal(cx, "backend");
    let legacy = r.servers(cx, "legacy");
    let candidate = r.servers(cx, "candidate");
    let state_file = r.opt_text(cx, "state_file");
    let sticky = r.sticky(cx, Ok(()));
    let map = r.opt_text(cx, "map").and_then(|m| match (&m, r.map.opt("map")) {
        // The runtime API reads a command as words.
        (Some(t), Some((n, p))) if t.expose().contains(char::is_whitespace) => {
            cx.error_hint(
                n.span,
                &p,
                "the map file's path cannot hold spaces: HAProxy's runtime API reads it as words",
                "move the map file to a path without spaces",
            );
            Err(Reported)
        }
        _ => Ok(m),
    });
    let (sticky, map) = (sticky.ok()?, map.ok()?);
    match (&sticky, &map) {
        (Some(_), None) => {
            if let Some((n, p)) = r.map.opt("sticky") {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("{} has 'sticky' but no 'map'", r.what),
                    "name the map file whose entry holds the threshold: map: /etc/haproxy/migrate.map",
                );
            }
            return None;
        }
        (None, Some(_)) => {
            if let Some((n, p)) = r.map.opt("map") {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("{} has 'map' but no 'sticky'", r.what),
                    "the map holds a sticky split's threshold: add sticky: { header: NAME }",
                );
            }
            return None;
        }
        _ => {}
    }
    let (legacy, candidate) = (legacy?, candidate?);
    overlap(cx, r, &legacy, &candidate)?;
    spec::config(Config {
        endpoint: endpoint?,
        backend: backend?,
        legacy,
        candidate,
        state_file: state_file.ok()?,
        sticky,
        map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 web 1 old 127.0.0.1 2 0 9 1 12 1 0 0 0 0 0 0 - 8080 - 0 0 - - 0
3 web 2 new 127.0.0.1 2 1 1 1 12 1 0 0 0 0 0 0 - 8081 - 0 0 - - 0
4 other 1 x 127.0.0.1 2 0 1 1 12 1 0 0 0 0 0 0 - 8082 - 0 0 - - 0
";

    #[test]
    fn parses_weights_and_admin_state_of_one_backend() {
        let s = parse_servers_state(STATE, "web").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s["old"].weight, 9);
        assert_eq!(s["old"].held(), None);
        assert_eq!(s["new"].weight, 1);
        assert_eq!(s["new"].held(), Some("in maintenance (maint)"));
    }

    #[test]
    fn error_text_is_rejected_and_quoted() {
        let (f, msg) = parse_servers_state("Can't find backend.\n", "web").unwrap_err();
        assert_eq!(f, Failure::Rejected);
        assert!(msg.contains("Can't find backend."), "{msg}");
        let (f, _) = parse_servers_state("", "web").unwrap_err();
        assert_eq!(f, Failure::Garbage);
        let (f, _) = parse_servers_state("1\n# be_name srv_name\n", "web").unwrap_err();
        assert_eq!(f, Failure::Garbage);
    }

    #[test]
    fn map_entries_are_read_and_written() {
        let reply = "0x55d0c1 other 10\n0x55d0c2 payments 2500\n\n";
        assert_eq!(parse_map_entry(reply, "payments"), Ok(Some(2500)));
        assert_eq!(parse_map_entry(reply, "nope"), Ok(None));
        assert_eq!(parse_map_entry("", "payments"), Ok(None));
        assert!(parse_map_entry("Unknown map identifier.\n", "p").is_err());
        assert!(parse_map_entry("0x1 payments x\n", "payments").is_err());
        let file = "# thresholds\nother 10\npayments 0\n";
        assert_eq!(
            with_map_entry(file, "payments", 100),
            "# thresholds\nother 10\npayments 100\n"
        );
        assert_eq!(with_map_entry("", "payments", 5), "payments 5\n");
        assert_eq!(map_file_entry(file, "payments"), Some(0));
        assert_eq!(map_file_entry(file, "nope"), None);
        assert_eq!(keyless_share(Missing::Legacy, 50.0), 0.0);
        assert_eq!(keyless_share(Missing::Legacy, 100.0), 100.0);
        assert_eq!(keyless_share(Missing::Split, 5.0), 5.0);
    }

    #[test]
    fn drain_is_reported() {
        let s = ServerState {
            name: "a".into(),
            weight: 1,
            admin_state: 0x08,
        };
        assert_eq!(s.held(), Some("draining (drain)"));
    }
}
