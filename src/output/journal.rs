//! A journal record in words, for people: what `migrate history` prints
//! and what the supervisor's page shows of the journal.

use crate::state::Entry;

/// A record's step (empty when it has none) and what it says.
pub fn details(e: &Entry) -> (String, String) {
    let opt =
        |v: &Option<crate::state::Value>| v.as_ref().map_or("?".to_string(), ToString::to_string);
    match e {
        Entry::Started { steps } => (String::new(), format!("{} steps", steps.len())),
        Entry::PlanChanged { changed, .. } => {
            (String::new(), format!("changed: {}", changed.join(", ")))
        }
        Entry::StepStarted { step } => (step.clone(), String::new()),
        Entry::Baseline {
            target,
            value,
            note,
        } => (
            String::new(),
            match note {
                Some(n) => format!("{target} was {value} (ACCEPTED: {n})"),
                None => format!("{target} was {value}"),
            },
        ),
        Entry::Intended {
            step,
            target,
            before,
            after,
        } => (step.clone(), format!("{target}: {} → {after}", opt(before))),
        Entry::Applied {
            step,
            target,
            after,
        } => (step.clone(), format!("{target} set to {after}")),
        Entry::Verified {
            step,
            target,
            value,
        } => (step.clone(), format!("{target} reads {value}")),
        Entry::StepDone { step, note } => (step.clone(), note.clone().unwrap_or_default()),
        Entry::StepFailed { step, error } => (step.clone(), error.clone()),
        Entry::Claimed { step, host, pid } => (step.clone(), format!("run by pid {pid} on {host}")),
        Entry::SoakStarted { step, duration, .. } => (
            step.clone(),
            format!("for {}", crate::plan::describe::duration_words(*duration)),
        ),
        Entry::Gate {
            step,
            gate,
            value,
            nan,
            ok,
            note,
            evidence: Some(e),
            ..
        } => (
            step.clone().unwrap_or_default(),
            format!(
                "{gate} = {} {} ({})",
                crate::providers::fmt_reading(*value, *nan),
                if *ok { "pass" } else { "FAIL" },
                match note {
                    Some(n) if value.is_none() => n.clone(),
                    _ => e.to_string(),
                }
            ),
        ),
        Entry::Gate {
            step,
            gate,
            value,
            nan,
            ok,
            note,
            ..
        } => (
            step.clone().unwrap_or_default(),
            format!(
                "{gate} = {} {}{}",
                crate::providers::fmt_reading(*value, *nan),
                if *ok { "pass" } else { "FAIL" },
                note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
            ),
        ),
        Entry::Breach { step, reason, .. } => (step.clone().unwrap_or_default(), reason.clone()),
        Entry::Reconciled { name, parity, .. } => (
            String::new(),
            format!("{name}: parity {}", crate::providers::fmt_number(*parity)),
        ),
        Entry::Approved { step } => (step.clone(), String::new()),
        Entry::Paused { reason, .. } => (String::new(), reason.clone()),
        Entry::Resumed => (String::new(), String::new()),
        Entry::RollbackStarted { reason, to, .. } => (
            to.clone().map(|t| format!("to {t}")).unwrap_or_default(),
            reason.clone(),
        ),
        Entry::Restored {
            target,
            before,
            value,
        } => (
            String::new(),
            format!("{target}: {} → {value}", opt(before)),
        ),
        Entry::GateChanged {
            step,
            gate,
            was,
            now,
            adopted,
            ..
        } => (
            step.clone(),
            format!(
                "gate {gate} changed in the plan: was {was}; now {now}{}",
                if adopted.is_some() {
                    " (adopted for this soak)"
                } else {
                    " (this soak keeps the gate it started with)"
                }
            ),
        ),
        Entry::RestoreFailed { target, error } => (String::new(), format!("{target}: {error}")),
        Entry::RollbackFinished { remaining, .. } => (
            String::new(),
            if remaining.is_empty() {
                "complete".to_string()
            } else {
                format!("INCOMPLETE: {}", remaining.join(", "))
            },
        ),
        Entry::Retried { phase, step } => (step.clone(), format!("again from phase {phase}")),
        Entry::LockBroken { holder } => (String::new(), format!("lock of {holder} broken")),
        Entry::Released { step, reason } => (step.clone(), reason.clone()),
        Entry::Recovered { reason, .. } => (String::new(), reason.clone()),
        Entry::Completed => (String::new(), String::new()),
    }
}
