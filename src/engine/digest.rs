//! Step digests: what a step is, reduced to a short hash, so that a plan
//! edited under a running migration is noticed. A step's digest covers its
//! definition and, for steps that change a target, the provider it drives
//! (pointing `lb` at another backend changes what the step did).
//! Secrets count as the template they were written as, never their value.

use sha2::{Digest, Sha256};

use crate::plan::{describe, Plan, Step, StepKind};
use crate::state::StepInfo;

pub fn step_digest(plan: &Plan, step: &Step) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(step).unwrap_or_default());
    let provider = match &step.kind {
        StepKind::Traffic { provider, .. }
        | StepKind::Mirror { provider, .. }
        | StepKind::Flag { provider, .. } => plan.provider(provider),
        _ => None,
    };
    if let Some(p) = provider {
        h.update(b"\0provider\0");
        h.update(serde_json::to_vec(p).unwrap_or_default());
    }
    let out = h.finalize();
    out.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub fn step_infos(plan: &Plan) -> Vec<StepInfo> {
    plan.steps()
        .map(|s| StepInfo {
            id: s.id.clone(),
            phase: s.phase.clone(),
            kind: s.kind.name().to_string(),
            action: describe::step(plan, s),
            digest: step_digest(plan, s),
            keep_on_rollback: s.keep_on_rollback,
            irreversible: s.irreversible,
        })
        .collect()
}
