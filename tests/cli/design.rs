//! A plan written from DESIGN.md's plan-language section alone validates;
//! the same plan with a mistake on each of a dozen lines has every mistake
//! reported, each at its own line, in one run.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{migrate, read, stderr};

const FRESH: &str = "tests/fixtures/design-fresh.yaml";
const MISTAKES: &str = "tests/fixtures/mistakes/design-fresh-mistakes.yaml";

#[test]
fn a_plan_written_from_the_design_validates() {
    migrate()
        .args(["-f", FRESH, "validate"])
        .assert()
        .success()
        .stderr("");
}

#[test]
fn each_mistake_is_reported_at_its_own_line() {
    let text = read(std::path::Path::new(MISTAKES));
    let marked: BTreeSet<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("# mistake:"))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert!(marked.len() >= 6, "only {} mistakes marked", marked.len());

    let out = migrate()
        .args(["-f", MISTAKES, "validate", "-o", "json"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let diags = v["diagnostics"].as_array().expect("diagnostics");
    let errors: Vec<u64> = diags
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["line"].as_u64().unwrap_or(0))
        .collect();
    let reported: BTreeSet<u64> = errors.iter().copied().collect();
    assert_eq!(reported, marked, "diagnostics: {diags:#?}");
    assert_eq!(
        errors.len(),
        marked.len(),
        "one error per mistake, no echoes: {diags:#?}"
    );
}
