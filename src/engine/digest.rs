//! Step digests: what a step is, reduced to a short hash, so that a plan
//! edited under a running migration is noticed. A step's digest covers its
//! definition and, for steps that change a target, the provider it drives
//! (pointing `lb` at another backend changes what the step did).
//! Secrets count as the template they were written as, never their value.

use crate::plan::{describe, Plan, Step, StepKind};
use crate::state::StepInfo;

pub fn step_digest(plan: &Plan, step: &Step) -> String {
    let mut bytes = serde_json::to_vec(step).unwrap_or_default();
    let provider = match &step.kind {
        StepKind::Traffic { provider, .. }
        | StepKind::Mirror { provider, .. }
        | StepKind::Flag { provider, .. } => plan.provider(provider),
        _ => None,
    };
    if let Some(p) = provider {
        bytes.extend_from_slice(b"\0provider\0");
        bytes.extend_from_slice(&serde_json::to_vec(p).unwrap_or_default());
    }
    crate::domain::short_digest(&bytes)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::step_digest;

    /// Every step digest of an example plan, as "id=digest" lines.
    fn digests(file: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("plans")
            .join(file);
        let text = std::fs::read_to_string(&path).expect("read the example plan");
        // The example plans' variables; the values are dummies (a secret
        // counts in a digest as the template it was written as).
        let env: HashMap<String, String> = [
            ("UNLEASH_TOKEN", "t"),
            ("LEGACY_DB_URL", "mysql://t@127.0.0.1:1/legacy"),
            ("PAYMENTS_DB_URL", "postgres://t@127.0.0.1:1/payments"),
            ("ORDERS_OLD_DB", "postgres://t@127.0.0.1:1/rails"),
            ("ORDERS_NEW_DB", "postgres://t@127.0.0.1:1/orders"),
            ("LD_API_TOKEN", "t"),
            ("SLACK_WEBHOOK", "https://127.0.0.1:1/hooks/t"),
            ("CTL_TOKEN", "t"),
            ("DEMO_DIR", "/tmp/migrate-demo-digest"),
            ("DEMO_METRICS", "http://127.0.0.1:1/metrics"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let plan = crate::plan::validate(&text, &env, crate::providers::catalog())
            .unwrap_or_else(|d| panic!("{file} is valid: {d:?}"))
            .plan;
        plan.steps()
            .map(|s| format!("{}={}", s.id, step_digest(&plan, s)))
            .collect()
    }

    /// A digest that changes makes every running migration of that plan
    /// report "the plan changed": how a provider is represented inside
    /// migrate must not move them. These were computed by the release
    /// that introduced digests' current form.
    #[test]
    fn digests_of_the_example_plans_do_not_move() {
        for (file, want) in PINNED {
            assert_eq!(digests(file), *want, "step digests of plans/{file}");
        }
    }

    const PINNED: &[(&str, &[&str])] = &[
        (
            "payments.yaml",
            &[
                "dual-write.1=f095f5fabe49081e",
                "dual-write.2=8352d089d2358a09",
                "backfill.1=b230fe98cedc9ee0",
                "shadow.1=11755b6344fa7974",
                "shadow.2=b223dd91367245d7",
                "verify.1=dfbfcb4d5de390e6",
                "canary.1=47a359d54ce8a9ed",
                "canary.2=7fd334dfa3a71f46",
                "canary.3=2a2c7cc0e4f44ad1",
                "canary.4=9db412c22992e11b",
                "canary.5=2e0999d97c671bc8",
                "canary.6=cd69b6fe4a804d25",
                "canary.7=dc40e9f6d639abcb",
                "canary.8=84de98d2b403d8a4",
                "canary.9=ddc61659fb9447bc",
                "canary.10=6f3f558ef8e664a7",
                "canary.11=1076faa2631946e3",
                "canary.12=b3a65dce7e2384c8",
                "cleanup.1=618737c0e3bf94d0",
                "cleanup.2=7aaefb4a6c1852a6",
                "cleanup.3=da0500d9ed7bc8d2",
            ],
        ),
        (
            "checkout-envoy-launchdarkly.yaml",
            &[
                "prepare.1=cbf789637488cb55",
                "prepare.2=651f15080b19767b",
                "shadow.1=2e4e0cd2b95c27be",
                "shadow.2=1510aa5f7dac5f37",
                "shadow.3=2bab13792cc6b482",
                "canary.1=00613674e5161d0e",
                "canary.2=8abcd438c3dfe927",
                "canary.3=1bc9c5eebc6a4b74",
                "canary.4=c83ca8cf3d9c5336",
                "canary.5=5706f76b2b6ac006",
                "canary.6=0efe4e59b0ceaf64",
                "canary.7=2baf9a710ba1de2c",
                "canary.8=74e84ae35d6d5f4c",
                "canary.9=b525588f5b5e1a7a",
                "canary.10=eb65cdc4f975a04e",
                "canary.11=d085245cb84a809e",
                "canary.12=73b856290fb4a3ee",
                "canary.13=bfd2c361c183870f",
                "done.1=23d690422f934827",
                "done.2=f7c72ce6284cc034",
            ],
        ),
        (
            "orders-nginx-flagd.yaml",
            &[
                "dual-write.1=d5be66979700be08",
                "dual-write.2=0abefbbbff591dec",
                "backfill.1=fb194e791eac7ea5",
                "backfill.2=2b52a3779cb2d40b",
                "shadow.1=3928ba9fae5af4b3",
                "shadow.2=bb26147f118a37cc",
                "shadow.3=24daab362f98fbc4",
                "shadow.4=a5c280a47f9281de",
                "verify.1=787b1d2195f1c066",
                "canary.1=1283c5b9af7195fc",
                "ramp.1=1d4bc7912e75e12d",
                "ramp.2=22addeb761bc84d3",
                "ramp.3=86a25038c80a0f57",
                "ramp.4=849b045b799ea0b5",
                "ramp.5=8d136e264036e6fe",
                "ramp.6=b8a6be18e5b76c07",
                "ramp.7=f53d50ec3abc1a7c",
                "ramp.8=1b3649ce1eea56d8",
                "ramp.9=54f412dcc7f19c6e",
                "ramp.10=94bf3bb3b348b1e6",
                "cleanup.1=18b2ad5ae68d5a4b",
                "cleanup.2=6f65088efa84f3c6",
                "cleanup.3=f87c3389639f336a",
            ],
        ),
        (
            "search-traefik-http.yaml",
            &[
                "sync.1=91f1ec712a200a19",
                "sync.2=5074899ae6cf5674",
                "shadow.1=fe6b1724359c6f1f",
                "shadow.2=bf96090dcc1b4383",
                "shadow.3=72230e6cb5760d97",
                "rollout.1=2a568340f1f953f0",
                "rollout.2=cedf241b774bdd08",
                "rollout.3=b9a6a9691b1e5efb",
                "rollout.4=df3b38c14335fb9c",
                "rollout.5=d76e28c9ad0c56cd",
                "rollout.6=791c4ffa384c4773",
                "rollout.7=0f39ed4f7a6974f1",
                "pin-weights=5b01d6fd5db489a6",
            ],
        ),
        (
            "minimal.yaml",
            &[
                "canary.1=f04da5bb41ed9fd9",
                "canary.2=ee7f5611b5e27e77",
                "canary.3=bd6fe9255eb92a63",
                "canary.4=a45baa89b708ad4a",
                "canary.5=6b2c15ca0130bfb0",
                "canary.6=7cfc42db350cd762",
            ],
        ),
        (
            "demo.yaml",
            &[
                "dual-write.1=864c2fbf0e0c8de8",
                "dual-write.2=1ac48c6e6316e14a",
                "backfill.1=b230fe98cedc9ee0",
                "shadow.1=969a3bbd25e6cc0b",
                "shadow.2=f486bcdc742dc7b9",
                "verify.1=77b08c96470ec1fd",
                "canary.1=90ebc4a405e7c882",
                "canary.2=ebac61fa94149d5a",
                "canary.3=e0a039bbd037f87c",
                "canary.4=711387419bc2ce51",
                "canary.5=26ddb307ec9bb6ba",
                "canary.6=1ae3b1b1e0208c9a",
                "canary.7=e6b050de9d4038cf",
                "canary.8=f983ea34f3cbec50",
                "canary.9=80d52bb217fbac8c",
                "canary.10=76c76fa84c700e13",
                "cleanup.1=65fe38294e4be9b8",
                "cleanup.2=b78e2ee09ec4002b",
                "cleanup.3=bf622982c0d6f176",
                "cleanup.4=dd9be6fd220d6ece",
            ],
        ),
    ];
}
