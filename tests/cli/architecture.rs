//! The layering of docs/ARCHITECTURE.md, checked: every top-level module
//! of the library sits in a layer and refers (`crate::…`) only to modules
//! of layers below its own. A back-edge fails here with the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The library's top-level modules, bottom up. A module may use the
/// modules of lower layers only; modules of one layer do not use each
/// other.
const LAYERS: &[&[&str]] = &[
    // The shared domain types, and utilities that know nothing of it.
    &["domain", "fsutil", "table", "http", "cli"],
    // Masking secrets (the values `domain::env` hands out).
    &["redact"],
    &["plan"],
    &["providers"],
    &["reconcile"],
    &["state"],
    &["engine"],
    // Rendering the engine's events and the commands' results.
    &["output"],
    // The errors that decide an exit code.
    &["error"],
    // Opening a migration: plan, store, registry, engine.
    &["app"],
    &["supervise"],
    &["commands"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The line without its `//` comment and string literals (roughly: enough
/// that a path in a message or a doc comment is not taken for a use).
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut prev = ' ';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            if c == '"' && prev != '\\' {
                in_str = false;
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            break;
        }
        if c == '"' {
            in_str = true;
            prev = ' ';
            continue;
        }
        out.push(c);
    }
    out
}

/// The top-level modules a line of code refers to through `crate::`.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // `crate::{a, b::c}`: every first segment of the group.
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
        rest = after;
    }
    out
}

/// The library's files by top-level module (`src/plan/…` and `src/plan.rs`
/// are `plan`), without the binary's own (`main.rs`, `demo/`).
fn library() -> BTreeMap<String, Vec<PathBuf>> {
    let src = crate::support::root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let mut out = BTreeMap::new();
    for m in modules {
        let mut files = Vec::new();
        let file = src.join(format!("{m}.rs"));
        if file.exists() {
            files.push(file);
        }
        rust_files(&src.join(&m), &mut files);
        out.insert(m, files);
    }
    out
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let lib = library();
    let mut problems = Vec::new();
    for (module, files) in &lib {
        let Some(own) = layer_of(module) else {
            problems.push(format!(
                "src/{module}: not in a layer: add it to LAYERS here and to docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for target in crate_refs(&code_of(line)) {
                    if &target == module || target == "self" {
                        continue;
                    }
                    match layer_of(&target) {
                        Some(l) if l < own => {}
                        Some(l) => {
                            problems.push(format!(
                            "{}:{}: {module} (layer {own}) uses crate::{target} (layer {l}): {}",
                            file.strip_prefix(crate::support::root()).unwrap_or(file).display(),
                            n + 1,
                            line.trim()
                        ))
                        }
                        None if lib.contains_key(&target) => {}
                        None => {}
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "back-edges between layers (docs/ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
}

/// Every line of code (comments and strings left out) of the files under
/// `src/DIR`, with its place.
fn code_lines(dir: &str) -> Vec<(String, usize, String)> {
    let mut files = Vec::new();
    rust_files(&crate::support::root().join("src").join(dir), &mut files);
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(crate::support::root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            out.push((name.clone(), n + 1, code_of(line)));
        }
    }
    out
}

#[test]
fn only_the_application_layer_builds_an_engine() {
    let builds: Vec<String> = ["engine", "state", "supervise", "commands", "output", "demo"]
        .iter()
        .flat_map(|d| code_lines(d))
        .filter(|(file, _, code)| {
            code.contains("Engine {")
                && !code.contains("impl")
                && !code.contains("struct Engine")
                && !file.ends_with("src/engine/tests.rs")
        })
        .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
        .collect();
    assert!(
        builds.is_empty(),
        "an Engine built outside src/app (use app::EngineParts):\n{}",
        builds.join("\n")
    );
}

#[test]
fn only_converge_writes_a_target() {
    let writes: Vec<String> = code_lines("engine")
        .into_iter()
        .filter(|(file, _, code)| code.contains("self.write(") && !file.ends_with("converge.rs"))
        .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
        .collect();
    assert!(
        writes.is_empty(),
        "a target written outside src/engine/converge.rs:\n{}",
        writes.join("\n")
    );
}

#[test]
fn the_core_never_prints() {
    let prints: Vec<String> = [
        "domain",
        "plan",
        "providers",
        "reconcile",
        "state",
        "engine",
    ]
    .iter()
    .flat_map(|d| code_lines(d))
    .filter(|(_, _, code)| {
        ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("]
            .iter()
            .any(|m| code.contains(m))
    })
    // The crash-injection seam's last words (`migrate: test crash …`),
    // said only by a process a test asked to die.
    .filter(|(file, _, code)| {
        !(file.ends_with("src/state/crash.rs") && code.trim() == "eprintln!();")
    })
    .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
    .collect();
    assert!(
        prints.is_empty(),
        "the core prints (emit an event, or return the text):\n{}",
        prints.join("\n")
    );
}

/// Every place under `src/` (the binary's demo included) whose code
/// holds `what`, but for the files `allowed`.
fn uses_outside(what: &str, allowed: &[&str]) -> Vec<String> {
    code_lines("")
        .into_iter()
        .filter(|(file, _, code)| code.contains(what) && !allowed.iter().any(|a| file.ends_with(a)))
        .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
        .collect()
}

#[test]
fn signals_are_caught_in_one_place_and_exits_go_through_main() {
    let signals = uses_outside("tokio::signal", &["src/app/interrupt.rs"]);
    assert!(
        signals.is_empty(),
        "a signal caught outside src/app/interrupt.rs (use app::interrupt::catch):\n{}",
        signals.join("\n")
    );
    let exits = uses_outside("process::exit(", &["src/app/interrupt.rs", "src/main.rs"]);
    assert!(
        exits.is_empty(),
        "an exit that bypasses main (return an ExitCode):\n{}",
        exits.join("\n")
    );
}

#[test]
fn a_journaled_change_is_told_only_by_the_commit() {
    // Events with a journal twin (`Event::of`): the engine emits them only
    // from `Engine::commit`, a dry run's would-be change and a restore
    // still being retried aside.
    let twins = [
        "Event::Baseline {",
        "Event::Verified {",
        "Event::StepDone {",
        "Event::StepFailed {",
        "Event::SoakStarted {",
        "Event::Breach {",
        "Event::Approved {",
        "Event::Paused {",
        "Event::Resumed {",
        "Event::RollbackStarted {",
        "Event::RollbackFinished {",
        "Event::Retried {",
        "Event::Completed {",
    ];
    let told: Vec<String> = code_lines("engine")
        .into_iter()
        .filter(|(file, _, code)| {
            !file.ends_with("src/engine/events.rs")
                && !file.ends_with("src/engine/tests.rs")
                && twins.iter().any(|t| code.contains(t))
        })
        .map(|(file, n, code)| format!("{file}:{n}: {}", code.trim()))
        .collect();
    assert!(
        told.is_empty(),
        "an event with a journal twin emitted by hand (journal the entry: Engine::commit tells it):\n{}",
        told.join("\n")
    );
}

#[test]
fn the_architecture_document_names_every_module() {
    let doc = std::fs::read_to_string(crate::support::root().join("docs/ARCHITECTURE.md")).unwrap();
    for module in library().keys() {
        assert!(
            doc.contains(&format!("`src/{module}")),
            "docs/ARCHITECTURE.md does not describe src/{module}"
        );
    }
}

#[test]
fn the_checker_sees_uses_and_ignores_comments_and_strings() {
    assert_eq!(crate_refs(&code_of("use crate::plan::Plan;")), ["plan"]);
    assert_eq!(
        crate_refs(&code_of("use crate::{engine::Event, state::State};")),
        ["engine", "state"]
    );
    assert!(crate_refs(&code_of("// see crate::engine")).is_empty());
    assert!(crate_refs(&code_of(r#"let s = "crate::engine";"#)).is_empty());
    assert_eq!(
        crate_refs(&code_of(r#"f("x", crate::output::x())"#)),
        ["output"]
    );
}
