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
    for (set, keys) in migrate::plan::schema::key_sets() {
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
    for kind in migrate::plan::providers::TYPES {
        if !doc.contains(&format!("### {kind}")) && !doc.contains(&format!("`{kind}`")) {
            missing.push(format!("provider type {kind}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/plan.md does not name: {missing:?}"
    );
}

#[test]
fn the_readme_quick_start_runs() {
    let readme = read(std::path::Path::new("README.md"));
    assert!(readme.contains("cargo run --release -- -f plans/minimal.yaml plan --offline"));
    assert!(readme.contains("./scripts/test"));
    migrate()
        .args(["-f", "plans/minimal.yaml", "plan", "--offline"])
        .assert()
        .success();
}
