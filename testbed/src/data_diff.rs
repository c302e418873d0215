//! The open-source `data-diff` 0.11.2 (PyPI), for benchmarks that measure
//! against it: installed once into a virtualenv that later runs reuse.
//!
//! `pip install 'data-diff[mysql,postgresql]==0.11.2'` alone does not give
//! a working tool on Python 3.11 today: its `dbt-core>=1,<2` requirement
//! resolves to a dbt-core whose parser package downloads a binary at build
//! time (refused offline), and the newest pydantic (2.x) rejects
//! data-diff's pydantic 1 models at import. The constraints below are the
//! combination that installs and runs: dbt-core 1.7, pydantic 1.10 and
//! mysql-connector-python 8 (psycopg2 builds from source against libpq).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The version measured.
pub const VERSION: &str = "0.11.2";

/// Pins that make the install work (see the module doc).
pub const CONSTRAINTS: &str = "dbt-core<1.8\npydantic<2\nmysql-connector-python<9\n";

/// Where the virtualenv lives: `$DATA_DIFF_VENV`, else
/// `~/.cache/migrate-bench/data-diff-0.11.2`.
pub fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("DATA_DIFF_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache")
        .join("migrate-bench")
        .join(format!("data-diff-{VERSION}"))
}

/// The `data-diff` executable, installing it first when the virtualenv
/// does not have it yet (about 30 s, needs PyPI and `pg_config`).
pub fn install() -> Result<PathBuf> {
    let dir = venv();
    let exe = dir.join("bin").join("data-diff");
    if works(&exe) {
        return Ok(exe);
    }
    crate::require("python3")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::run(
        "python3 -m venv",
        Command::new("python3").args(["-m", "venv"]).arg(&dir),
    )?;
    let constraints = dir.join("constraints.txt");
    std::fs::write(&constraints, CONSTRAINTS)?;
    crate::run(
        "pip install data-diff",
        Command::new(dir.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-c"])
            .arg(&constraints)
            .arg(format!("data-diff[mysql,postgresql]=={VERSION}")),
    )?;
    if !works(&exe) {
        bail!(
            "data-diff was installed into {} but does not run",
            dir.display()
        );
    }
    Ok(exe)
}

fn works(exe: &std::path::Path) -> bool {
    Command::new(exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(VERSION))
}
