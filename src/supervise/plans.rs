//! Which migrations a supervisor watches: the plan files named on its
//! command line, and the `*.yaml` / `*.yml` files directly inside the
//! directories named there. They are read again while it runs (a changed
//! file is validated again; a new file is picked up; a removed one is no
//! longer watched), and all of them must keep their state in one place.

use std::path::{Path, PathBuf};

use crate::cli::Global;
use crate::commands::context::{local_root, postgres_url};
use crate::plan::{self as planlib, ProcessEnv, Validated};
use crate::redact::SecretEnv;

/// Where a plan keeps its state.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A local state directory (the one holding `<name>/`).
    Local(PathBuf),
    /// PostgreSQL: the URL, and how it may be shown.
    Postgres { url: String, shown: String },
}

impl Backend {
    pub fn same(&self, other: &Backend) -> bool {
        match (self, other) {
            (Backend::Local(a), Backend::Local(b)) => canonical(a) == canonical(b),
            (Backend::Postgres { url: a, .. }, Backend::Postgres { url: b, .. }) => a == b,
            _ => false,
        }
    }

    pub fn shown(&self) -> String {
        match self {
            Backend::Local(dir) => dir.display().to_string(),
            Backend::Postgres { shown, .. } => crate::state::postgres::shown_url(shown),
        }
    }
}

/// A path as the file system names it (made absolute when it does not
/// exist yet).
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// Where the plan in `file` keeps its state (as every other command
/// decides: `--state-dir`, `--state-url`, `settings.state`, `.migrate`).
pub fn backend_of(global: &Global, file: &Path, plan: &Validated) -> anyhow::Result<Backend> {
    if global.state_dir.is_none() {
        if let Some((url, shown)) = postgres_url(global, plan)? {
            return Ok(Backend::Postgres { url, shown });
        }
    }
    Ok(Backend::Local(local_root(global, file, plan)))
}

/// The plan files `paths` name: files as given; directories' `*.yaml`
/// and `*.yml` files, sorted. Errors: a path that cannot be read.
pub fn plan_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    out.dedup();
    Ok(out)
}

/// Validate a plan's text (as `validate` does); the errors in words.
pub fn validate(file: &Path, text: &str) -> Result<Validated, String> {
    planlib::validate(
        text,
        &SecretEnv::new(ProcessEnv),
        crate::providers::catalog(),
    )
    .map_err(|diags| {
        let lines = planlib::diag::Lines::new(text);
        let name = file.display().to_string();
        diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render_in(&name, &lines, false))
            .collect::<Vec<_>>()
            .join("\n")
    })
}
