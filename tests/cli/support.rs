//! Helpers shared by the integration tests: the `migrate` binary with a
//! clean environment, and the files the tests read.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Dummy values for the environment variables the example plans use, each
/// with the scheme its field requires. Nothing connects to them.
pub const PLAN_ENV: &[(&str, &str)] = &[
    ("UNLEASH_TOKEN", "test-unleash-token"),
    ("LEGACY_DB_URL", "mysql://test@127.0.0.1:1/legacy"),
    ("PAYMENTS_DB_URL", "postgres://test@127.0.0.1:1/payments"),
    ("ORDERS_OLD_DB", "postgres://test@127.0.0.1:1/rails"),
    ("ORDERS_NEW_DB", "postgres://test@127.0.0.1:1/orders"),
    ("LD_API_TOKEN", "api-test-token"),
    ("SLACK_WEBHOOK", "https://127.0.0.1:1/hooks/test"),
    ("CTL_TOKEN", "test-ctl-token"),
    ("DEMO_DIR", "/tmp/migrate-demo-test"),
    ("DEMO_METRICS", "http://127.0.0.1:1/metrics"),
];

/// Variables passed through from the test's own environment: what a child
/// process needs to run at all, nothing that configures `migrate`.
const PASS_THROUGH: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"];

/// The repository root (where Cargo.toml is).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `migrate` with a clean environment (no MIGRATE_PLAN, no colors, the
/// example plans' variables set to dummies), run from the repository root
/// so that paths in its output are the relative ones the tests pass.
pub fn migrate() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_migrate"));
    cmd.env_clear();
    for name in PASS_THROUGH {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("NO_COLOR", "1");
    for (name, value) in PLAN_ENV {
        cmd.env(name, value);
    }
    cmd.current_dir(root());
    cmd
}

/// [`PLAN_ENV`] as the map `migrate::plan::validate` takes.
pub fn plan_env() -> HashMap<String, String> {
    PLAN_ENV
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Files in `dir` (relative to the root) whose name ends with `suffix`,
/// sorted, as paths relative to the root.
pub fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .map(|p| Path::new(dir).join(p.file_name().unwrap_or_default()))
        .collect();
    out.sort();
    out
}

/// Every plan that must be valid: the examples and the DESIGN.md fixtures.
pub fn valid_plans() -> Vec<PathBuf> {
    let mut plans = files("plans", ".yaml");
    plans.extend(files("tests/fixtures", ".yaml"));
    assert!(
        plans.len() >= 7,
        "expected the example plans, found {plans:?}"
    );
    plans
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(root().join(path))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// stdout of a finished command, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One PostgreSQL server for the tests that need a database each (store,
/// supervisor); tests that stop or restart a server start their own. It is
/// stopped and removed when the test binary exits.
pub fn shared_postgres() -> &'static testbed::postgres::Postgres {
    static PG: std::sync::OnceLock<Result<testbed::postgres::Postgres, String>> =
        std::sync::OnceLock::new();
    PG.get_or_init(|| {
        let pg = testbed::postgres::Postgres::start().map_err(|e| format!("{e:#}"))?;
        testbed::reap_after(&[
            pg.stop_argv(),
            vec![
                "rm".to_string(),
                "-rf".to_string(),
                pg.dir().display().to_string(),
            ],
        ])
        .map_err(|e| format!("{e:#}"))?;
        Ok(pg)
    })
    .as_ref()
    .unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"))
}
