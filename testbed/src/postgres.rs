//! A PostgreSQL 15 server of the test's own, in a temporary directory.
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! server runs as the `postgres` user (`runuser`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{free_port, run, wait_until};

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

fn bin(name: &str) -> PathBuf {
    Path::new(BIN).join(name)
}

fn is_root() -> bool {
    // SAFETY-free: `id -u` avoids a libc dependency.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// initdb + start on a free port, trust authentication for `postgres`.
    pub fn start() -> Result<Self> {
        crate::require(&bin("initdb").display().to_string())?;
        let dir = tempfile::Builder::new().prefix("migrate-pg-").tempdir()?;
        let as_postgres = is_root();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        let port = free_port()?;
        let pg = Self {
            port,
            dir,
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        pg.run_as(
            "initdb",
            pg.cmd(bin("initdb")).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]),
        )?;
        pg.start_server()?;
        Ok(pg)
    }

    fn cmd(&self, program: PathBuf) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run_as(&self, what: &str, cmd: &mut Command) -> Result<String> {
        run(what, cmd)
    }

    fn start_server(&self) -> Result<()> {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.run_as(
            "pg_ctl start",
            self.cmd(bin("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(self.dir.path().join("pg.log"))
                .args(["-w", "-t", "30", "-o", &opts, "start"]),
        )
        .with_context(|| format!("log: {}", self.log()))?;
        let port = self.port;
        wait_until("postgres", Duration::from_secs(15), || {
            crate::port_open(port)
        })
    }

    /// Stop (fast) and start again, keeping the data: a database restart.
    pub fn restart(&self) -> Result<()> {
        self.stop()?;
        self.start_server()
    }

    /// Start the server again after [`Self::stop`].
    pub fn start_again(&self) -> Result<()> {
        self.start_server()
    }

    /// Stop the server (fast shutdown), keeping the data.
    pub fn stop(&self) -> Result<()> {
        let data = self.dir.path().join("data");
        self.run_as(
            "pg_ctl stop",
            self.cmd(bin("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "-w", "stop"]),
        )
        .map(|_| ())
    }

    /// The command line that stops this server (fast), for a clean-up
    /// that runs after the test process is gone (see `crate::reap_after`).
    pub fn stop_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.as_postgres {
            v.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        v.push(bin("pg_ctl").display().to_string());
        v.push("-D".to_string());
        v.push(self.dir.path().join("data").display().to_string());
        v.extend(["-m", "fast", "-w", "stop"].map(String::from));
        v
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Run SQL with psql against `db`; returns psql's unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        run(
            "psql",
            Command::new("psql")
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", "127.0.0.1", "-U", "postgres"])
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-d")
                .arg(db)
                .arg("-c")
                .arg(sql),
        )
    }

    pub fn create_database(&self, name: &str) -> Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .map(|_| ())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
