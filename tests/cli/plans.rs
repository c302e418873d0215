//! Every example plan (plans/) and DESIGN.md fixture (tests/fixtures/)
//! validates, shows with `plan --offline`, and keeps its secrets.

use serde_json::Value;

use crate::support::{migrate, read, stderr, stdout, valid_plans, PLAN_ENV};

#[test]
fn there_are_the_four_promised_examples_and_more() {
    let names: Vec<String> = crate::support::files("plans", ".yaml")
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for want in [
        "plans/payments.yaml",
        "plans/orders-nginx-flagd.yaml",
        "plans/checkout-envoy-launchdarkly.yaml",
        "plans/minimal.yaml",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
}

#[test]
fn every_plan_validates() {
    for plan in valid_plans() {
        let out = migrate()
            .arg("-f")
            .arg(&plan)
            .arg("validate")
            .output()
            .expect("run migrate");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}:\n{}",
            plan.display(),
            stderr(&out)
        );
        assert!(
            stdout(&out).starts_with(&format!("{}: valid — ", plan.display())),
            "{}: {}",
            plan.display(),
            stdout(&out)
        );
        // The examples are meant to be copied: they draw no warnings either.
        assert_eq!(stderr(&out), "", "{}", plan.display());
    }
}

#[test]
fn every_plan_validates_as_json() {
    for plan in valid_plans() {
        let out = migrate()
            .arg("-f")
            .arg(&plan)
            .args(["validate", "-o", "json"])
            .output()
            .expect("run migrate");
        assert_eq!(out.status.code(), Some(0), "{}", plan.display());
        let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert_eq!(v["schema"], "migrate.diagnostics/v1");
        assert_eq!(v["file"], plan.display().to_string());
        assert_eq!(v["valid"], true);
        assert_eq!(v["errors"], 0);
        assert_eq!(v["diagnostics"], Value::Array(vec![]));
    }
}

#[test]
fn every_plan_shows_offline() {
    for plan in valid_plans() {
        let out = migrate()
            .arg("-f")
            .arg(&plan)
            .args(["plan", "--offline"])
            .output()
            .expect("run migrate");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}:\n{}",
            plan.display(),
            stderr(&out)
        );
        let text = stdout(&out);
        let name = read(&plan)
            .lines()
            .find_map(|l| l.strip_prefix("name:"))
            .map(|n| n.split('#').next().unwrap_or("").trim().to_string())
            .expect("a name line");
        assert!(
            text.starts_with(&format!("Plan {name}")),
            "{}: {text}",
            plan.display()
        );
        assert!(text.contains("Minimum duration: "), "{}", plan.display());
    }
}

#[test]
fn every_plan_shows_offline_as_json() {
    for plan in valid_plans() {
        let out = migrate()
            .arg("-f")
            .arg(&plan)
            .args(["plan", "--offline", "-o", "json"])
            .output()
            .expect("run migrate");
        assert_eq!(out.status.code(), Some(0), "{}", plan.display());
        let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert_eq!(v["schema"], "migrate.plan/v1");
        let phases = v["phases"].as_array().expect("phases");
        let steps: usize = phases
            .iter()
            .map(|p| p["steps"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(v["steps"], steps, "{}", plan.display());
        for phase in phases {
            for step in phase["steps"].as_array().into_iter().flatten() {
                for field in ["id", "phase", "kind", "description"] {
                    assert!(
                        step[field].is_string(),
                        "{}: step without {field}: {step}",
                        plan.display()
                    );
                }
            }
        }
        assert!(v["min_duration_seconds"].is_number());
    }
}

/// A value from the environment is a secret: never printed.
#[test]
fn secrets_from_the_environment_are_never_shown() {
    for plan in valid_plans() {
        for args in [
            &["plan", "--offline"][..],
            &["plan", "--offline", "-o", "json"],
            &["validate", "-o", "json"],
            &["-v", "validate"],
        ] {
            let out = migrate()
                .arg("-f")
                .arg(&plan)
                .args(args)
                .output()
                .expect("run migrate");
            let all = stdout(&out) + &stderr(&out);
            for (name, value) in PLAN_ENV {
                assert!(
                    !all.contains(value),
                    "{} {args:?} shows the value of {name}",
                    plan.display()
                );
            }
        }
    }
}
