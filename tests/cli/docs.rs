//! docs/plan.md is the plan reference: it names every key, provider type and
//! step kind the validator accepts. README.md shows commands that exist.

use crate::support::{migrate, read};

fn plan_md() -> String {
    read(std::path::Path::new("docs/plan.md"))
}

#[test]
fn the_reference_names_every_key() {
    let doc = plan_md();
    let mut missing = Vec::new();
    for (set, keys) in migrate::plan::schema::key_sets(migrate::providers::catalog()) {
        for key in keys {
            if !doc.contains(&format!("`{key}`")) {
                missing.push(format!("{set}.{key}"));
            }
        }
    }
    for kind in migrate::plan::steps::STEP_KINDS {
        if !doc.contains(&format!("`{kind}`")) {
            missing.push(format!("step kind {kind}"));
        }
        for key in migrate::plan::steps::sibling_keys(kind) {
            if !doc.contains(&format!("`{key}`")) {
                missing.push(format!("{kind} step: {key}"));
            }
        }
    }
    for kind in migrate::plan::spec::names(migrate::providers::catalog()) {
        if !doc.contains(&format!("### {kind}")) && !doc.contains(&format!("`{kind}`")) {
            missing.push(format!("provider type {kind}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/plan.md does not name: {missing:?}"
    );
}

/// The README opens with exactly two commands: run the demo, run the tests.
#[test]
fn the_readme_quick_start_is_the_demo_and_the_tests() {
    let readme = read(std::path::Path::new("README.md"));
    let quick = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("a Quick start section with a sh block");
    let commands: Vec<&str> = quick.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(commands, ["cargo run --release -- demo", "./scripts/test"]);
    // The demo itself runs in tests/cli/demo.rs; here, that it exists.
    migrate().args(["demo", "--help"]).assert().success();
    assert!(root_file("scripts/test"), "scripts/test exists");
}

/// Commands the README tells a reader to run exist.
#[test]
fn the_readme_names_real_commands() {
    let readme = read(std::path::Path::new("README.md"));
    for verb in [
        "validate",
        "plan",
        "advance",
        "status",
        "history",
        "rollback",
        "retry",
        "pause",
        "resume",
        "check",
        "reconcile",
        "unlock",
        "schema",
        "completions",
        "demo",
    ] {
        assert!(
            readme.contains(&format!("`{verb}`")) || readme.contains(&format!("migrate {verb}")),
            "README.md does not mention {verb}"
        );
        migrate().arg(verb).arg("--help").assert().success();
    }
    assert!(readme.contains("--keep"));
    assert!(readme.contains("plans/demo.yaml"));
}

fn root_file(path: &str) -> bool {
    crate::support::root().join(path).is_file()
}
