//! How an engine's outcome ends a command: its exit code and its words
//! (one mapping, for `advance`, `supervise` and the demo).

use crate::engine::advance::Outcome;
use crate::error::ExitCode;
use crate::plan::describe::duration_words;

pub fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Completed => "completed",
        Outcome::Stopped { .. } => "stopped",
        Outcome::Waiting { .. } => "waiting",
        Outcome::RolledBack { .. } => "rolled_back",
        Outcome::RollbackIncomplete { .. } => "rollback_incomplete",
        Outcome::Paused { .. } => "paused",
        Outcome::Busy { .. } => "busy",
        Outcome::Interrupted => "interrupted",
    }
}

/// The exit code of an outcome, and the outcome in words.
pub fn describe(o: &Outcome) -> (ExitCode, String) {
    match o {
        Outcome::Completed => (ExitCode::Ok, "The migration is complete.".into()),
        Outcome::Stopped { next } => (
            ExitCode::Ok,
            match next {
                Some(n) => format!("Stopped as asked; the next step is {n}."),
                None => "Stopped as asked.".into(),
            },
        ),
        Outcome::Waiting {
            step,
            reason,
            remaining,
        } => {
            let mut text = format!("Waiting at {step}: {reason}.");
            if let Some(r) = remaining {
                text.push_str(&format!(
                    " Run `migrate advance` again in {} (or use --wait).",
                    duration_words(std::time::Duration::from_secs(r.as_secs().max(1)))
                ));
            }
            (ExitCode::Waiting, text)
        }
        Outcome::RolledBack {
            by,
            at,
            reason,
            breach,
            to,
        } => {
            let back = match to {
                Some(step) => format!("back to step {step}"),
                None => "back".to_string(),
            };
            let who = if *breach {
                format!("the breaker rolled the migration {back} ({by}, {at})")
            } else {
                format!("{by} rolled the migration {back} at {at}")
            };
            let next = if to.is_some() {
                "`migrate advance` goes on from the step after it"
            } else {
                "Fix the cause, then `migrate retry`"
            };
            (
                ExitCode::RolledBack,
                format!("Rolled back: {who}: {reason}. {next}."),
            )
        }
        Outcome::RollbackIncomplete { remaining } => (
            ExitCode::RollbackIncomplete,
            format!(
                "ROLLBACK INCOMPLETE — act now. Still wrong:\n  {}\nFix access to these targets and run `migrate rollback` again.",
                remaining.join("\n  ")
            ),
        ),
        Outcome::Paused { by, reason, breach } => {
            if *breach {
                (
                    ExitCode::ChecksFailed,
                    format!("Paused by the gate policy: {reason}. Nothing was rolled back; inspect, then `migrate resume` or `migrate rollback`."),
                )
            } else {
                (
                    ExitCode::Waiting,
                    format!("Paused by {by}: {reason}. `migrate resume` releases it."),
                )
            }
        }
        Outcome::Busy { step, by } => (
            ExitCode::Locked,
            format!("Step {step} is being run by {by}; try again when it finishes."),
        ),
        Outcome::Interrupted => (
            ExitCode::Interrupted,
            "Interrupted; the state is consistent. `migrate advance` carries on.".into(),
        ),
    }
}
