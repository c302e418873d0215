//! `migrate validate` on plans that are wrong: every problem at its place,
//! exit 2, never a panic. The corpus under tests/invalid/ is snapshot-tested:
//! one realistic mistake (or a handful) per file.

use std::io::Write as _;

use serde_json::Value;

use crate::support::{files, migrate, root, stderr, stdout};

/// What `migrate -f FILE validate` says: the exit code and stderr (stdout
/// must be empty for an invalid plan).
fn validate_output(path: &std::path::Path) -> String {
    let out = migrate()
        .arg("-f")
        .arg(path)
        .arg("validate")
        .output()
        .expect("run migrate");
    assert!(
        !stderr(&out).contains("panicked"),
        "{}: {}",
        path.display(),
        stderr(&out)
    );
    format!(
        "exit: {}\nstdout: {:?}\n--- stderr\n{}",
        out.status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        stdout(&out),
        stderr(&out)
    )
}

#[test]
fn invalid_plans() {
    insta::glob!("../invalid", "*.yaml", |path| {
        let rel = path.strip_prefix(root()).unwrap_or(path);
        let output = validate_output(rel);
        assert!(
            output.starts_with("exit: 2\nstdout: \"\"\n"),
            "{}: {output}",
            rel.display()
        );
        insta::assert_snapshot!(output);
    });
}

#[test]
fn the_invalid_corpus_is_large_enough() {
    let corpus = files("tests/invalid", ".yaml");
    assert!(corpus.len() >= 35, "only {} invalid plans", corpus.len());
}

/// Every diagnostic of an invalid plan (other than whole-file ones) shows the
/// source line and a caret, and sits on a line of the file.
#[test]
fn every_diagnostic_has_a_place_a_line_and_a_caret() {
    for path in files("tests/invalid", ".yaml") {
        let out = migrate()
            .arg("-f")
            .arg(&path)
            .args(["validate", "-o", "json"])
            .output()
            .expect("run migrate");
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) else {
            // Not text at all: a usage error on stderr, no diagnostics.
            assert!(
                stderr(&out).contains("not a text file"),
                "{}",
                path.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(root().join(&path)).unwrap_or_default();
        let source: Vec<&str> = text.lines().collect();
        let lines = source.len();
        let diags = v["diagnostics"].as_array().expect("diagnostics");
        assert!(!diags.is_empty(), "{}", path.display());
        // The same diagnostics for people: each placed one as
        // `file:line:column:`, its source line, and a caret under it.
        let human = migrate()
            .arg("-f")
            .arg(&path)
            .arg("validate")
            .output()
            .expect("run migrate");
        let shown = stderr(&human);
        let shown_lines: Vec<&str> = shown.lines().collect();
        for d in diags {
            let line = d["line"].as_u64().unwrap_or(0) as usize;
            assert!(
                line <= lines,
                "{}: line {line} of {lines}: {d}",
                path.display()
            );
            if line == 0 {
                continue;
            }
            let column = d["column"].as_u64().unwrap_or(0) as usize;
            assert!(column >= 1, "{d}");
            let place = format!("{}:{line}:{column}: ", path.display());
            let at = shown_lines
                .iter()
                .position(|l| l.starts_with(&place))
                .unwrap_or_else(|| panic!("{place} not shown: {shown}"));
            // The source line, then the caret: under the column.
            let number = format!("{line} |");
            let Some(q) = shown_lines[at..]
                .iter()
                .take(4)
                .position(|l| l.trim_start().starts_with(&number))
            else {
                panic!("{place}: no source line: {shown}");
            };
            let quoted = shown_lines[at + q];
            let caret = shown_lines.get(at + q + 1).copied().unwrap_or_default();
            let gutter = quoted.find(" | ").map(|i| i + 3).or_else(|| {
                // An empty source line: `12 |`.
                quoted.ends_with(" |").then_some(quoted.len() + 1)
            });
            let (Some(gutter), Some(hat)) = (gutter, caret.find('^')) else {
                panic!("{place}: no source line and caret: {shown}");
            };
            assert_eq!(
                quoted.get(gutter..).unwrap_or_default().trim_end(),
                // Tabs are shown as spaces, so that the caret lines up.
                source[line - 1].replace('\t', " ").trim_end(),
                "{place}: the source line: {shown}"
            );
            assert_eq!(
                hat - gutter,
                source[line - 1]
                    .char_indices()
                    .take_while(|(i, _)| *i < column - 1)
                    .count(),
                "{place}: the caret under column {column}: {shown}"
            );
        }
    }
}

#[test]
fn json_diagnostics_have_the_documented_fields() {
    let out = migrate()
        .args([
            "-f",
            "tests/invalid/23-unknown-provider.yaml",
            "validate",
            "-o",
            "json",
        ])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["schema"], "migrate.diagnostics/v1");
    assert_eq!(v["file"], "tests/invalid/23-unknown-provider.yaml");
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 2);
    assert_eq!(v["warnings"], 0);
    let d = &v["diagnostics"][1];
    assert_eq!(d["file"], "tests/invalid/23-unknown-provider.yaml");
    assert_eq!(d["line"], 9);
    assert_eq!(d["column"], 30);
    assert_eq!(d["end_line"], 9);
    assert_eq!(d["end_column"], 33);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "unknown provider 'lbb'");
    assert_eq!(d["hint"], "did you mean 'lb'?");
    assert_eq!(d["path"], "phases[0].steps[1].traffic.provider");
}

#[test]
fn warnings_alone_leave_the_plan_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("warn.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: waits\nphases:\n  - name: hold\n    steps:\n      - soak: 5m\n",
    )
    .expect("write plan");
    let out = migrate()
        .arg("-f")
        .arg(&plan)
        .arg("validate")
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("valid — 1 step in 1 phase, 1 warning\n"));
    assert!(stderr(&out).contains(":6:9: warning: soak without gates: it only waits"));

    let quiet = migrate()
        .arg("-q")
        .arg("-f")
        .arg(&plan)
        .arg("validate")
        .output()
        .expect("run migrate");
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stdout(&quiet), "");
    assert_eq!(stderr(&quiet), "");

    let json = migrate()
        .arg("-f")
        .arg(&plan)
        .args(["validate", "-o", "json"])
        .output()
        .expect("run migrate");
    let v: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["valid"], true);
    assert_eq!(v["warnings"], 1);
    assert_eq!(v["diagnostics"][0]["severity"], "warning");
    assert_eq!(v["diagnostics"][0]["line"], 6);
}

/// A compare gate reads "insufficient evidence" until its data could
/// reject: left to the default `no_data: fail`, that would breach a small
/// canary before any evidence, so it is said; a stated policy is not.
#[test]
fn a_compare_gate_without_a_no_data_policy_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("compare.yaml");
    let text = |policy: &str| {
        format!(
            "version: 1
name: judged
providers:
  lb: {{ type: haproxy, socket: /run/haproxy.sock, backend: payments, legacy: old, candidate: new }}
  prom: {{ type: prometheus, url: 'http://127.0.0.1:9090' }}
gates:
  errors:
    compare:
      provider: prom
      candidate: {{ events: 'errors_total{{arm=\"v2\"}}', total: 'requests_total{{arm=\"v2\"}}' }}
      baseline: {{ events: 'errors_total{{arm=\"legacy\"}}', total: 'requests_total{{arm=\"legacy\"}}' }}
      max_ratio: 1.5
{policy}phases:
  - name: canary
    steps:
      - traffic: {{ provider: lb, percent: 1 }}
      - soak: 1h
        gates: [errors]
"
        )
    };
    let run = |policy: &str| {
        std::fs::write(&plan, text(policy)).expect("write plan");
        migrate()
            .arg("-f")
            .arg(&plan)
            .arg("validate")
            .output()
            .expect("run migrate")
    };
    let out = run("");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("1 warning\n"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("has no 'no_data'") && stderr(&out).contains("no_data: pause"),
        "{}",
        stderr(&out)
    );
    let out = run("    no_data: pause\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn missing_environment_variables_are_all_listed() {
    // Without the dummies, the payments plan lacks three variables.
    let out = migrate()
        .env_remove("UNLEASH_TOKEN")
        .env_remove("LEGACY_DB_URL")
        .env_remove("PAYMENTS_DB_URL")
        .args(["-f", "plans/payments.yaml", "validate"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for (line, var) in [
        (28, "UNLEASH_TOKEN"),
        (36, "LEGACY_DB_URL"),
        (39, "PAYMENTS_DB_URL"),
    ] {
        assert!(
            err.contains(&format!("plans/payments.yaml:{line}:"))
                && err.contains(&format!("environment variable '{var}' is not set")),
            "{var}: {err}"
        );
    }
    assert!(err.ends_with(
        "3 environment variables not set: UNLEASH_TOKEN, LEGACY_DB_URL, PAYMENTS_DB_URL\n"
    ));
}

#[test]
fn unset_variables_hide_no_other_error() {
    // The reconciliation the parity gate reads cannot be decoded without
    // its databases' URLs; the gate's impossible threshold is still said.
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("payments.yaml");
    let text = crate::support::read(std::path::Path::new("plans/payments.yaml"));
    let wrong = text.replacen(
        "    reconcile: payments\n    min: 1.0\n",
        "    reconcile: payments\n    min: 100\n",
        1,
    );
    assert_ne!(wrong, text, "the parity gate of plans/payments.yaml moved");
    std::fs::write(&plan, wrong).expect("write plan");
    let out = migrate()
        .env_remove("LEGACY_DB_URL")
        .env_remove("PAYMENTS_DB_URL")
        .arg("-f")
        .arg(&plan)
        .arg("validate")
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("environment variable 'LEGACY_DB_URL' is not set")
            && err.contains("environment variable 'PAYMENTS_DB_URL' is not set")
            && err.contains("parity is between 0 and 1, so 'min: 100' can never be met as meant"),
        "{err}"
    );
}

#[test]
fn a_default_stands_in_for_a_missing_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("defaults.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: defaults\nproviders:\n  db: { type: postgres, url: \"${MIGRATE_TEST_NOPE:-postgres://localhost/x}\" }\n  other: { type: postgres, url: \"${MIGRATE_TEST_NOPE:-postgres://localhost/y}\" }\nreconciliations:\n  t: { source: { provider: db, table: a }, target: { provider: other, table: a }, key: id }\nphases:\n  - name: sync\n    steps:\n      - reconcile: t\n",
    )
    .expect("write plan");
    migrate()
        .arg("-f")
        .arg(&plan)
        .arg("validate")
        .assert()
        .success();
}

#[test]
fn a_missing_plan_file_is_a_usage_error() {
    let out = migrate()
        .args(["-f", "does/not/exist.yaml", "validate"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: cannot read plan does/not/exist.yaml: No such file or directory (os error 2) (pass -f PLAN or set MIGRATE_PLAN)\n"
    );
}

#[test]
fn the_plan_file_comes_from_migrate_plan_too() {
    migrate()
        .env("MIGRATE_PLAN", "plans/minimal.yaml")
        .arg("validate")
        .assert()
        .success()
        .stdout("plans/minimal.yaml: valid — 6 steps in 1 phase\n");
}

#[test]
fn a_directory_is_not_a_plan() {
    let out = migrate()
        .args(["-f", "plans", "validate"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: cannot read plan plans: "));
}

/// Random bytes, text or not, are answered with exit 2 and a message.
#[test]
fn binary_garbage_is_refused_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..8 {
        let mut bytes = Vec::with_capacity(512);
        for _ in 0..512 {
            // xorshift: deterministic noise, no extra crate
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push((seed >> 24) as u8);
        }
        if i % 2 == 1 {
            // Valid UTF-8 but full of control characters.
            bytes = bytes.iter().map(|b| b % 32).collect();
        }
        let path = dir.path().join(format!("garbage-{i}.yaml"));
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(&bytes).expect("write");
        drop(f);
        let out = migrate()
            .arg("-f")
            .arg(&path)
            .arg("validate")
            .output()
            .expect("run migrate");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("error"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn no_colors_in_captured_output() {
    let out = migrate()
        .args(["-f", "tests/invalid/23-unknown-provider.yaml", "validate"])
        .output()
        .expect("run migrate");
    assert!(!stderr(&out).contains('\u{1b}'));
}
