//! A small tmpfs mounted on a directory (needs root): a disk that fills
//! up for real (`ENOSPC`), resizable while mounted, unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::run;

pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` (rounded up to whole pages) on `dir`,
    /// creating it. Fails where mounting is not allowed (not root, or a
    /// sandbox without the capability).
    pub fn mount(dir: &Path, bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        run(
            "mount -t tmpfs",
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={bytes},mode=0755"))
                .arg("tmpfs")
                .arg(dir),
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Whether this process may mount (is root, and mounting works here).
    pub fn available() -> bool {
        let Ok(dir) = tempfile::tempdir() else {
            return false;
        };
        Tmpfs::mount(dir.path(), 4096).is_ok()
    }

    /// Grow or shrink it, keeping what it holds.
    pub fn resize(&self, bytes: u64) -> Result<()> {
        run(
            "mount -o remount",
            Command::new("mount")
                .args(["-o"])
                .arg(format!("remount,size={bytes}"))
                .arg(&self.dir),
        )?;
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let status = Command::new("umount").arg("-l").arg(&self.dir).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not unmount {}", self.dir.display());
        }
    }
}

/// Fail unless mounting works, naming why.
pub fn require() -> Result<()> {
    if Tmpfs::available() {
        Ok(())
    } else {
        bail!("mounting a tmpfs is not allowed here (run the tests as root)")
    }
}
