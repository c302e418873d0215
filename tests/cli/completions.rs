//! The shell completions under completions/ and the man page under man/ are
//! generated from the command line definition; this fails when they are
//! stale. Regenerate them with:
//!
//!     UPDATE_COMPLETIONS=1 cargo test --test cli completions

use crate::support::{migrate, root};

const SHELLS: &[(&str, &str)] = &[
    ("bash", "completions/migrate.bash"),
    ("zsh", "completions/_migrate"),
    ("fish", "completions/migrate.fish"),
    ("powershell", "completions/_migrate.ps1"),
    ("elvish", "completions/migrate.elv"),
];

fn updating() -> bool {
    std::env::var_os("UPDATE_COMPLETIONS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Compare `generated` with the checked-in `file`, or rewrite the file when
/// UPDATE_COMPLETIONS is set. Returns a complaint when stale.
fn check(file: &str, generated: &[u8]) -> Option<String> {
    let path = root().join(file);
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create directory");
        }
        std::fs::write(&path, generated).expect("write generated file");
        return None;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    (current != generated).then(|| format!("{file} is stale or missing"))
}

#[test]
fn completions_and_man_page_are_current() {
    let mut stale = Vec::new();
    for (shell, file) in SHELLS {
        let out = migrate()
            .args(["completions", shell])
            .output()
            .expect("run migrate");
        assert_eq!(out.status.code(), Some(0), "completions {shell}");
        assert!(
            !out.stdout.is_empty(),
            "completions {shell} printed nothing"
        );
        // The binary prints what the library generates.
        let shell_value: clap_complete::Shell = shell.parse().expect("a shell");
        let mut lib = Vec::new();
        migrate::commands::completions::write(shell_value, &mut lib);
        assert_eq!(out.stdout, lib, "completions {shell}");
        stale.extend(check(file, &out.stdout));
    }
    let mut man = Vec::new();
    migrate::commands::completions::man_page(&mut man).expect("render the man page");
    stale.extend(check("man/migrate.1", &man));
    assert!(
        stale.is_empty(),
        "{}\nregenerate with: UPDATE_COMPLETIONS=1 cargo test --test cli completions",
        stale.join("\n")
    );
}

#[test]
fn every_verb_is_completed() {
    let mut bash = Vec::new();
    migrate::commands::completions::write(clap_complete::Shell::Bash, &mut bash);
    let bash = String::from_utf8_lossy(&bash);
    for verb in ["validate", "plan", "schema", "completions"] {
        assert!(bash.contains(verb), "bash completions lack {verb}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = migrate()
        .args(["completions", "tcsh"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
}
