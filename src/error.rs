//! Exit codes, in one place. Commands return an [`ExitCode`] on success and
//! an error otherwise; [`exit_code_of`] maps an error to its code.

use std::fmt;

/// The process exit codes of the command line contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done.
    Ok = 0,
    /// A runtime error; the state is consistent and the command safe to retry.
    Runtime = 1,
    /// Invalid usage or an invalid plan.
    Invalid = 2,
    /// A gate breached and the migration was rolled back.
    RolledBack = 3,
    /// Waiting: a soak is running or an approval is needed. Nothing is wrong.
    Waiting = 4,
    /// Locked by another run.
    Locked = 5,
    /// A rollback could not complete: act now.
    RollbackIncomplete = 6,
    /// Checks failed and nothing was changed.
    ChecksFailed = 7,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that carries its exit code. Anything else is a runtime error (1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan has errors; they were already shown with their places.
    #[error("{file}: the plan is invalid ({errors} error{})", if *errors == 1 { "" } else { "s" })]
    InvalidPlan { file: String, errors: usize },
    /// Wrong use of the command line or of a file it names.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Whether the error was already shown in full (diagnostics), so that
    /// `main` prints nothing more.
    pub fn already_reported(&self) -> bool {
        matches!(self, Error::InvalidPlan { .. })
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::InvalidPlan { .. } | Error::Usage(_) => ExitCode::Invalid,
        }
    }
}

/// The exit code for an error that reached `main`.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    use crate::engine::EngineError;
    use crate::state::StoreError;
    let store_code = |e: &StoreError| match e {
        StoreError::Locked(_) | StoreError::LockedUnknown => ExitCode::Locked,
        StoreError::Corrupt { .. }
        | StoreError::JournalDamaged { .. }
        | StoreError::JournalLost { .. }
        | StoreError::Unrecoverable { .. }
        | StoreError::Fenced { .. }
        | StoreError::Io(_) => ExitCode::Runtime,
    };
    for e in err.chain() {
        if let Some(e) = e.downcast_ref::<Error>() {
            return e.exit_code();
        }
        if let Some(e) = e.downcast_ref::<EngineError>() {
            return match e {
                EngineError::Store(s) => store_code(s),
                EngineError::PlanChanged(_) | EngineError::Refused(_) => ExitCode::Invalid,
                EngineError::Drift(_) | EngineError::StepFailed { .. } => ExitCode::Runtime,
            };
        }
        if let Some(e) = e.downcast_ref::<StoreError>() {
            return store_code(e);
        }
    }
    ExitCode::Runtime
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}
