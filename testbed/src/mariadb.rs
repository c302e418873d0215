//! A MariaDB 10.11 server of the test's own, in a temporary directory, on a
//! free loopback port. `--no-defaults` everywhere, so /etc/mysql is never
//! read. Runs as the `mysql` user when the tests run as root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{free_port, run, wait_until, Guard};

pub struct Mariadb {
    pub port: u16,
    dir: tempfile::TempDir,
    server: Option<Guard>,
}

impl Mariadb {
    /// Initialise a data directory and start the server; `root` has no
    /// password and may connect over TCP.
    pub fn start() -> Result<Self> {
        crate::require("mariadbd")?;
        crate::require("mariadb-install-db")?;
        let dir = tempfile::Builder::new()
            .prefix("migrate-mariadb-")
            .tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        let data = dir.path().join("data");
        // A temporary directory of its own: the server's default, /tmp, is
        // shared by every instance and test on the machine.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o777))?;
        run(
            "mariadb-install-db",
            Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg("--user=mysql")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"]),
        )?;
        let mut db = Self {
            port: free_port()?,
            dir,
            server: None,
        };
        db.start_server()?;
        Ok(db)
    }

    fn start_server(&mut self) -> Result<()> {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("server.log"))?;
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-buffer-pool-size=512M",
                "--max-connections=300",
                "--local-infile=1",
            ])
            .arg(format!("--secure-file-priv={}", d.display()))
            .stdout(Stdio::null())
            .stderr(log);
        self.server = Some(Guard::spawn("mariadbd", &mut cmd)?);
        let port = self.port;
        wait_until("mariadb", Duration::from_secs(30), || {
            crate::port_open(port)
                && Command::new("mariadb-admin")
                    .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root", "-P"])
                    .arg(port.to_string())
                    .arg("ping")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        })
        .with_context(|| format!("log: {}", self.log()))
    }

    /// Stop (TERM, wait) and start again on the same port, keeping the data.
    pub fn restart(&mut self) -> Result<()> {
        if let Some(mut s) = self.server.take() {
            s.stop(Duration::from_secs(30));
        }
        self.start_server()
    }

    /// `mysql://root@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// Run SQL with the `mariadb` client (batch mode, no column names);
    /// returns its output.
    pub fn sql(&self, db: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--no-defaults", "-h", "127.0.0.1", "-u", "root", "-N", "-B"])
            .arg("-P")
            .arg(self.port.to_string());
        if !db.is_empty() {
            cmd.arg(db);
        }
        run("mariadb", cmd.arg("-e").arg(sql))
    }

    pub fn create_database(&self, name: &str) -> Result<()> {
        self.sql(
            "",
            &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
        )
        .map(|_| ())
    }

    /// The directory the server may read files from (`LOAD DATA INFILE`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Guard::pid)
    }
}
