//! The official flagd evaluator, `@openfeature/flagd-core` (what flagd's
//! in-process OpenFeature providers run), evaluating a flag-definition
//! file for many targeting keys: the share of keys a rollout really
//! serves. Installed with npm once into the testbed's cache directory
//! (`$MIGRATE_TESTBED_CACHE` or `~/.cache/migrate-testbed`, as Unleash);
//! `flagd-eval/eval.js` beside this crate does the evaluating.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::run;

/// 4.0.1 runs on Node 20.
pub const VERSION: &str = "4.0.1";

/// Where npm installs flagd-core.
pub fn install_dir() -> PathBuf {
    crate::cache_dir().join(format!("flagd-core-{VERSION}"))
}

fn package_json(dir: &Path) -> PathBuf {
    dir.join("node_modules/@openfeature/flagd-core/package.json")
}

/// Install flagd-core with npm unless it is there already. The install
/// goes to a directory of its own and is renamed into place, so that an
/// interrupted one is never taken for a finished one.
pub fn install() -> Result<PathBuf> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _held = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = install_dir();
    if package_json(&dir).exists() {
        return Ok(dir);
    }
    crate::require("npm")?;
    let parent = dir
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", dir.display()))?;
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".flagd-core-")
        .tempdir_in(parent)?;
    run(
        "npm install @openfeature/flagd-core",
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg(format!("@openfeature/flagd-core@{VERSION}"))
            .current_dir(staging.path()),
    )?;
    if !package_json(staging.path()).exists() {
        bail!("npm installed @openfeature/flagd-core but its package.json is missing");
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another process may have finished first.
        if !package_json(&dir).exists() {
            return Err(e).with_context(|| format!("moving flagd-core to {}", dir.display()));
        }
    }
    Ok(dir)
}

/// What the evaluator served.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// How many targeting keys were evaluated.
    pub keys: usize,
    /// The indices of the keys that got `true`.
    pub on: Vec<usize>,
    /// The value an evaluation without a targeting key got.
    pub no_key: bool,
    /// The reason flagd-core gave for it (`DEFAULT`, `STATIC`, ...).
    pub no_key_reason: String,
}

impl Evaluation {
    /// The share of keys (0..=100) that got `true`.
    pub fn percent(&self) -> f64 {
        if self.keys == 0 {
            return 0.0;
        }
        100.0 * self.on.len() as f64 / self.keys as f64
    }
}

/// Evaluate the boolean flag `flag` of `file` for the targeting keys
/// `{prefix}0` .. `{prefix}{keys-1}` and once without a key. Fails when
/// the file is not valid by flagd's schema.
pub fn evaluate(file: &Path, flag: &str, keys: usize, prefix: &str) -> Result<Evaluation> {
    crate::require("node")?;
    let dir = install()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("flagd-eval/eval.js");
    let out = run(
        "the flagd-core evaluator",
        Command::new("node")
            .arg(&script)
            .arg(file)
            .arg(flag)
            .arg(keys.to_string())
            .arg(prefix)
            .env("NODE_PATH", dir.join("node_modules")),
    )?;
    let v: Value = serde_json::from_str(out.trim())
        .with_context(|| format!("the evaluator printed {out:?}"))?;
    let on = v["on"]
        .as_array()
        .ok_or_else(|| anyhow!("no \"on\" in {out:?}"))?
        .iter()
        .map(|i| {
            i.as_u64()
                .map(|i| i as usize)
                .ok_or_else(|| anyhow!("a key index {i} is not a number"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Evaluation {
        keys: v["keys"].as_u64().unwrap_or_default() as usize,
        on,
        no_key: v["no_key"]["value"].as_bool() == Some(true),
        no_key_reason: v["no_key"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}
