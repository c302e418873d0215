//! Where a migration's state lives, decided in one place: `--state-dir` or
//! `--state-url` (`MIGRATE_STATE_URL`), else `settings.state`, else
//! `.migrate` next to the plan.

use std::path::{Path, PathBuf};

use crate::cli::Global;
use crate::error::Error;
use crate::plan::{StateConfig, Validated};
use crate::state::local::LocalStore;
use crate::state::postgres::PgStore;
use crate::state::Store;

/// Where the migration's state lives: `--state-dir` or `--state-url`,
/// else `settings.state`, else `.migrate` next to the plan.
pub fn store_for(global: &Global, plan: &Validated) -> anyhow::Result<Box<dyn Store>> {
    if global.state_dir.is_none() {
        if let Some(store) = postgres_store(global, plan)? {
            return Ok(Box::new(store));
        }
    }
    Ok(Box::new(local_store(global, plan, None)))
}

/// The local state: `dir` (push/pull's `--dir`), else `--state-dir`, else
/// `settings.state.dir` when the plan keeps its state locally, else
/// `.migrate` next to the plan.
pub fn local_store(global: &Global, plan: &Validated, dir: Option<&Path>) -> LocalStore {
    let root = dir.map_or_else(|| local_root(global, &global.file, plan), Path::to_path_buf);
    LocalStore::new(&root, &plan.plan.name)
}

/// The local state directory (holding `<name>/`) of the plan in `file`:
/// `--state-dir`, else `settings.state.dir` (relative to the plan), else
/// `.migrate` next to the plan.
pub fn local_root(global: &Global, file: &Path, plan: &Validated) -> PathBuf {
    let plan_dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if let Some(dir) = global.state_dir.as_deref() {
        return dir.to_path_buf();
    }
    match &plan.plan.settings.state {
        StateConfig::Local { dir: Some(d) } => plan_dir.join(d.expose()),
        StateConfig::Local { dir: None } | StateConfig::Postgres { .. } => {
            plan_dir.join(".migrate")
        }
    }
}

const STATE_URL_ENV: &str = "MIGRATE_STATE_URL";

/// The PostgreSQL state, when `--state-url` (or `MIGRATE_STATE_URL`) or
/// `settings.state` names one.
pub fn postgres_store(global: &Global, plan: &Validated) -> anyhow::Result<Option<PgStore>> {
    let Some((url, shown)) = postgres_url(global, plan)? else {
        return Ok(None);
    };
    PgStore::new(&url, &shown, &plan.plan.name)
        .map(Some)
        .map_err(|e| Error::Usage(e.to_string()).into())
}

/// The PostgreSQL state's URL and how it is shown, when `--state-url`
/// (or `MIGRATE_STATE_URL`) or `settings.state` names one.
pub fn postgres_url(global: &Global, plan: &Validated) -> anyhow::Result<Option<(String, String)>> {
    let (url, shown) = match (&global.state_url, &plan.plan.settings.state) {
        (Some(url), _) => {
            // From the environment, it is shown as the variable (as a plan
            // shows `${VAR}`); typed on the command line, as typed, but for
            // its password.
            let from_env = std::env::var(STATE_URL_ENV).ok().as_deref() == Some(url.as_str());
            let shown = if from_env {
                format!("${{{STATE_URL_ENV}}}")
            } else {
                url.clone()
            };
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                crate::redact::register(url);
                return Err(Error::Usage(format!(
                    "--state-url {}: not a postgres:// URL",
                    crate::redact::clean(&crate::state::postgres::shown_url(&shown))
                ))
                .into());
            }
            (url.clone(), shown)
        }
        (None, StateConfig::Postgres { url }) => (url.expose().to_string(), url.to_string()),
        (None, StateConfig::Local { .. }) => return Ok(None),
    };
    Ok(Some((url, shown)))
}

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
