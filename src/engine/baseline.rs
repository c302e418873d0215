//! A target's first baseline is what a rollback restores it to: one taken
//! where the candidate already has a share, or of a target another
//! migration of the same store drives, would make that rollback "restore"
//! someone else's change. Such a baseline is refused unless the operator
//! says it really is the starting point (`advance --accept-baseline`),
//! and then journaled as accepted.

use crate::providers::same_percent;
use crate::state::{hostname, Status, StoreError, Target, Value};

use super::{Engine, EngineError, Event};

impl Engine<'_> {
    /// Check a first baseline of `target` at `live`. `Ok(None)`: nothing
    /// wrong; `Ok(Some(note))`: accepted, with the note for the journal;
    /// refused otherwise, with what to do.
    pub(super) async fn check_baseline(
        &self,
        target: &Target,
        live: &Value,
        accept: bool,
    ) -> Result<Option<String>, EngineError> {
        let mut why = Vec::new();
        if let (false, Some(p)) = (target.is_flag(), live.percent()) {
            if !same_percent(p, 0.0) {
                why.push(format!("the candidate already has {live}"));
            }
        }
        let id = target.id();
        let drivers: Vec<String> = self
            .store
            .others()
            .await?
            .into_iter()
            .filter(|o| !matches!(o.status, Status::Completed | Status::RolledBack))
            .filter(|o| o.targets.contains_key(&id))
            .map(|o| {
                format!(
                    "migration '{}' ({}) drives it",
                    o.migration,
                    o.status.words()
                )
            })
            .collect();
        why.extend(drivers.iter().cloned());
        if why.is_empty() {
            return Ok(None);
        }
        let why = why.join("; ");
        if accept {
            let note = format!("accepted by {} with --accept-baseline: {why}", self.actor);
            self.events.event(&Event::Warning {
                message: format!(
                    "BASELINE ACCEPTED (--accept-baseline): {target} starts from {live} ({why}); a rollback of '{}' restores {live}. Journaled.",
                    self.plan.name
                ),
            });
            return Ok(Some(note));
        }
        // A run that lost its lock meanwhile (its lease ran out, another
        // run took over) may be reading what that run set: that is what to
        // say, not a refusal.
        let ours = match self.store.holder().await {
            Ok(Some((h, _))) => h.pid == std::process::id() && h.host == hostname(),
            Ok(None) => false,
            Err(_) => true,
        };
        if !ours {
            return Err(EngineError::Store(StoreError::Fenced(format!(
                "this run no longer holds the lock of migration {} (it was taken over while {target} was being read): nothing was written. Run the command again: it carries on from the state as the other run left it.",
                self.plan.name
            ))));
        }
        let mut causes = vec![
            "the migration was renamed (its state is under its old name)",
            "its state was lost, or is elsewhere (another --state-dir or --state-url)",
        ];
        if drivers.is_empty() {
            causes.push("another migration, or a person, drives this target");
        } else {
            causes.push("another migration drives this target (named above)");
        }
        Err(EngineError::Refused(format!(
            "refusing to take {live} as the baseline of {target}: {why}. Migration '{}' has no record of changing it, so a rollback would \"restore\" {live}. Nothing was changed.\n  Likely: {}.\n  Point migrate at the migration's state (its old name in the plan, --state-dir, --state-url), or finish or roll back the other migration first; if {live} really is the starting point: `migrate advance --accept-baseline` (journaled).",
            self.plan.name,
            causes.join("; or ")
        )))
    }
}
