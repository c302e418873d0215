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

/// Every registered provider type has its section in docs/providers.md and
/// its entry in the schema `migrate schema` prints, naming exactly the keys
/// it declares, each with a description: registering an adapter without
/// documenting it fails here.
#[test]
fn every_registered_provider_type_has_docs_and_a_schema_entry() {
    let doc = read(std::path::Path::new("docs/providers.md"));
    let headings: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("## ") || l.starts_with("### "))
        .map(|l| l.trim_start_matches('#'))
        .collect();
    let out = migrate().arg("schema").output().expect("run migrate");
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entries = schema["$defs"]["provider"]["oneOf"]
        .as_array()
        .expect("$defs.provider.oneOf");
    let mut missing = Vec::new();
    for spec in migrate::providers::catalog() {
        let name = spec.name;
        if !headings
            .iter()
            .any(|h| h.split(',').any(|w| w.trim() == name))
        {
            missing.push(format!(
                "{name}: no section (## {name}) in docs/providers.md"
            ));
        }
        let Some(entry) = entries
            .iter()
            .find(|e| e["properties"]["type"]["const"] == name)
        else {
            missing.push(format!("{name}: no entry in the schema"));
            continue;
        };
        let props = entry["properties"].as_object().expect("properties");
        for key in spec.keys {
            let described = props
                .get(key.name)
                .and_then(|p| p["description"].as_str())
                .is_some_and(|d| !d.is_empty());
            if !described {
                missing.push(format!("{name}.{}: not described in the schema", key.name));
            }
        }
        let declared = spec.keys.len() + migrate::plan::providers::COMMON_KEYS.len();
        if props.len() != declared {
            missing.push(format!(
                "{name}: the schema names {} keys, the type declares {declared}",
                props.len()
            ));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// The documents hold nothing left over from editing them: every line of
/// a script is inside a code block, and every code block is closed.
#[test]
fn the_docs_hold_no_stray_script_lines() {
    let mut files = vec![
        "README.md".to_string(),
        "RELIABILITY.md".to_string(),
        "BENCHMARKS.md".to_string(),
    ];
    for entry in std::fs::read_dir(crate::support::root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(format!(
                "docs/{}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let mut stray = Vec::new();
    for file in &files {
        let text = read(std::path::Path::new(file));
        let mut fenced = false;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.starts_with("```") {
                fenced = !fenced;
                continue;
            }
            let script = t == "\"\"\""
                || t == "EOF"
                || t.contains("<<'EOF'")
                || t.contains("<<EOF")
                || t.starts_with("python3 -");
            if !fenced && script {
                stray.push(format!("{file}:{}: {line}", i + 1));
            }
        }
        assert!(!fenced, "{file}: a code block is never closed");
    }
    assert!(stray.is_empty(), "lines outside any code block: {stray:#?}");
}

/// Split a command line as a shell would (quotes, no expansion).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// Every `migrate ...` command the README and the guides show in a shell
/// block is one the command line accepts (its verb, its flags and their
/// values), not only a verb whose `--help` runs.
#[test]
fn the_commands_the_docs_show_are_accepted() {
    let mut docs = vec![std::path::PathBuf::from("README.md")];
    docs.extend(crate::support::files("docs", ".md"));
    let mut checked = 0;
    let mut refused = Vec::new();
    for doc in docs {
        let text = read(&doc);
        let mut in_sh = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("```") {
                in_sh = t == "```sh" || t == "```bash" || t == "```console";
                continue;
            }
            let t = t.trim_start_matches("$ ");
            if !in_sh || !t.starts_with("migrate ") {
                continue;
            }
            // The command alone: no comment, pipe, redirection or chain;
            // lines with placeholders are synopses, not commands.
            let t = t.split(" #").next().unwrap_or(t);
            let t = t.split(['|', '>', '&', ';']).next().unwrap_or(t).trim();
            if ["[", "<", "…", "...", "$(", "`"]
                .iter()
                .any(|p| t.contains(p))
            {
                continue;
            }
            let argv = words(t);
            checked += 1;
            if let Err(e) = migrate::cli::command().try_get_matches_from(&argv) {
                refused.push(format!("{}: {t}: {}", doc.display(), e.kind()));
            }
        }
    }
    assert!(checked >= 20, "only {checked} commands found");
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

/// docs/supervise/compose.yaml runs as written: every plan it mounts is
/// valid with exactly the variables it passes (dummies here), so that
/// `supervise` does not refuse a plan for an unset variable.
#[test]
fn the_compose_example_passes_what_its_plans_read() {
    let compose = read(std::path::Path::new("docs/supervise/compose.yaml"));
    let plans: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ../../"))
        .filter_map(|l| l.split(':').next())
        .filter(|p| p.starts_with("plans/"))
        .collect();
    let vars: Vec<&str> = compose
        .lines()
        .filter_map(|l| {
            let (name, value) = l.trim().split_once(": ")?;
            (value.starts_with("${") && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .then_some(name)
        })
        .collect();
    // The image listens off loopback, where supervise needs a token.
    assert!(
        !plans.is_empty()
            && vars.contains(&"MIGRATE_STATE_URL")
            && vars.contains(&"MIGRATE_SUPERVISE_TOKEN"),
        "{plans:?} {vars:?}"
    );
    for plan in plans {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_migrate"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(crate::support::root())
            .args(["-f", plan, "validate"]);
        for var in &vars {
            let dummy = crate::support::PLAN_ENV
                .iter()
                .find(|(n, _)| n == var)
                .map_or("postgres://migrate@127.0.0.1:1/ops", |(_, v)| *v);
            cmd.env(var, dummy);
        }
        let out = cmd.output().expect("run migrate");
        assert!(
            out.status.success(),
            "{plan} with the compose file's variables: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
