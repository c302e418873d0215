//! Unleash 7.5.1 (the newest that runs on Node 20) on a PostgreSQL of its
//! own. Installed with npm once into a cache directory that survives
//! between runs (`$MIGRATE_TESTBED_CACHE` or `~/.cache/migrate-testbed`).
//!
//! Unleash takes seconds to start, so a test binary shares one instance
//! ([`Unleash::shared`]); tests stay independent by using distinct flags.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::http::get;
use crate::postgres::Postgres;
use crate::{free_port, reap_after, run, wait_until, Guard};

pub const VERSION: &str = "7.5.1";
/// The admin token Unleash creates at start-up (`INIT_ADMIN_API_TOKENS`).
pub const ADMIN_TOKEN: &str = "*:*.unleash-insecure-admin-api-token";

pub struct Unleash {
    pub port: u16,
    pub postgres: Postgres,
    guard: Guard,
}

/// Where npm installs Unleash.
pub fn install_dir() -> PathBuf {
    crate::cache_dir().join(format!("unleash-{VERSION}"))
}

fn server_js() -> PathBuf {
    install_dir().join("node_modules/unleash-server/dist/server.js")
}

/// Install Unleash with npm unless it is there already.
pub fn install() -> Result<PathBuf> {
    let js = server_js();
    if js.exists() {
        return Ok(js);
    }
    crate::require("npm")?;
    let dir = install_dir();
    std::fs::create_dir_all(&dir)?;
    run(
        "npm install unleash-server",
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg(format!("unleash-server@{VERSION}"))
            .current_dir(&dir),
    )?;
    if !js.exists() {
        bail!(
            "npm installed unleash-server but {} is missing",
            js.display()
        );
    }
    Ok(js)
}

impl Unleash {
    /// A new Unleash on its own PostgreSQL; stopped when dropped.
    pub fn start() -> Result<Self> {
        crate::require("node")?;
        let js = install()?;
        let postgres = Postgres::start()?;
        postgres.psql("postgres", "CREATE ROLE unleash LOGIN PASSWORD 'unleash'")?;
        postgres.psql("postgres", "CREATE DATABASE unleash OWNER unleash")?;
        let port = free_port()?;
        let log = postgres.dir().join("unleash.log");
        let out = std::fs::File::create(&log)?;
        let guard = Guard::spawn(
            "unleash",
            Command::new("node")
                .arg(&js)
                .env(
                    "DATABASE_URL",
                    format!(
                        "postgres://unleash:unleash@127.0.0.1:{}/unleash",
                        postgres.port
                    ),
                )
                .env("DATABASE_SSL", "false")
                .env("HTTP_HOST", "127.0.0.1")
                .env("HTTP_PORT", port.to_string())
                .env("INIT_ADMIN_API_TOKENS", ADMIN_TOKEN)
                .env("CHECK_VERSION", "false")
                .env("SEND_TELEMETRY", "false")
                .env("LOG_LEVEL", "warn")
                .stdout(Stdio::from(out.try_clone()?))
                .stderr(Stdio::from(out)),
        )?;
        let mut u = Self {
            port,
            postgres,
            guard,
        };
        let ready = wait_until("unleash", Duration::from_secs(120), || {
            if u.guard.exited() {
                return true;
            }
            get(port, "/health").is_ok_and(|(status, body)| status == 200 && body.contains("GOOD"))
        });
        if ready.is_err() || u.guard.exited() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("unleash did not start:\n{tail}");
        }
        Ok(u)
    }

    /// One Unleash for the whole test binary, started on first use and
    /// stopped (with its PostgreSQL) once the binary has exited.
    pub fn shared() -> Result<&'static Unleash> {
        static SHARED: OnceLock<std::result::Result<Unleash, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let u = Unleash::start().map_err(|e| format!("{e:#}"))?;
                let mut cleanup = vec![vec!["kill".to_string(), u.guard.pid().to_string()]];
                cleanup.push(u.postgres.stop_argv());
                cleanup.push(vec![
                    "rm".to_string(),
                    "-rf".to_string(),
                    u.postgres.dir().display().to_string(),
                ]);
                reap_after(&cleanup).map_err(|e| format!("{e:#}"))?;
                Ok(u)
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An admin API call with the admin token; the answer's status and body.
    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .context("connecting to unleash")?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status from unleash")?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok((status, body))
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
