//! Property tests: valid plans, mutated the way files get damaged or
//! half-edited (lines deleted or duplicated, values swapped, indentation
//! shifted, random bytes inserted, the file cut short), never make the
//! validator panic. Through the library every result is well formed; through
//! the binary the exit code is always 0 or 2.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::OnceLock;

use proptest::prelude::*;

use crate::support::{migrate, plan_env, read, stderr, valid_plans};

fn plans() -> &'static [String] {
    static PLANS: OnceLock<Vec<String>> = OnceLock::new();
    PLANS.get_or_init(|| valid_plans().iter().map(|p| read(p)).collect())
}

fn env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(plan_env)
}

/// Values that are wrong in interesting ways wherever they land.
const ODD_VALUES: &[&str] = &[
    "",
    "~",
    "-1",
    "1e999",
    ".nan",
    "0x",
    "99999999999999999999999",
    "\"${UNSET_VARIABLE}\"",
    "${",
    "[",
    "{ a: }",
    "&anchor",
    "*alias",
    "!!binary AAAA",
    "|",
    "'",
    "- -",
    "\"%\"",
    "true",
    "1.5h",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapValues(usize, usize),
    Truncate(usize),
    Insert(usize, String),
    Indent(usize, i8),
    ReplaceValue(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapValues(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            "[-:{}\\[\\],#&*!|>'\"\t\n %$a-z0-9\u{0}\u{feff}é]{1,6}"
        )
            .prop_map(|(at, s)| Mutation::Insert(at, s)),
        (any::<usize>(), -4i8..=4).prop_map(|(line, by)| Mutation::Indent(line, by)),
        (any::<usize>(), prop::sample::select(ODD_VALUES))
            .prop_map(|(line, v)| Mutation::ReplaceValue(line, v)),
    ]
}

fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The value part of `key: value` on a line, as a byte range.
fn value_range(line: &str) -> Option<(usize, usize)> {
    let i = line.find(": ")?;
    Some((i + 2, line.len()))
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::DuplicateLine(i) => {
            if let Some(l) = lines.get(i % n).cloned() {
                lines.insert(i % n, l);
            }
        }
        Mutation::SwapValues(a, b) => {
            let (a, b) = (a % n, b % n);
            let va = lines
                .get(a)
                .and_then(|l| value_range(l).map(|(s, e)| l[s..e].to_string()));
            let vb = lines
                .get(b)
                .and_then(|l| value_range(l).map(|(s, e)| l[s..e].to_string()));
            if let (Some(va), Some(vb)) = (va, vb) {
                if let Some((s, _)) = value_range(&lines[a]) {
                    lines[a].replace_range(s.., &vb);
                }
                if let Some((s, _)) = value_range(&lines[b]) {
                    lines[b].replace_range(s.., &va);
                }
            }
        }
        Mutation::Truncate(at) => {
            let cut = floor_boundary(text, at % (text.len() + 1));
            return text[..cut].to_string();
        }
        Mutation::Insert(at, s) => {
            let at = floor_boundary(text, at % (text.len() + 1));
            return format!("{}{s}{}", &text[..at], &text[at..]);
        }
        Mutation::Indent(i, by) => {
            if let Some(l) = lines.get_mut(i % n) {
                if *by >= 0 {
                    l.insert_str(0, &" ".repeat(*by as usize));
                } else {
                    let strip = l
                        .chars()
                        .take(by.unsigned_abs() as usize)
                        .take_while(|c| *c == ' ')
                        .count();
                    l.replace_range(..strip, "");
                }
            }
        }
        Mutation::ReplaceValue(i, v) => {
            if let Some(l) = lines.get_mut(i % n) {
                if let Some((s, _)) = value_range(l) {
                    l.replace_range(s.., v);
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn mutated() -> impl Strategy<Value = String> {
    (0..plans().len(), prop::collection::vec(mutation(), 1..5)).prop_map(|(i, ms)| {
        let mut text = plans()[i].clone();
        for m in &ms {
            text = apply(&text, m);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 768,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_validator_never_panics_and_reports_well(text in mutated()) {
        let lines = text.lines().count().max(1);
        let diags = match migrate::plan::validate(&text, env(), migrate::providers::catalog()) {
            Ok(v) => {
                prop_assert!(v.warnings.iter().all(|d| !d.is_error()));
                v.warnings
            }
            Err(diags) => {
                prop_assert!(diags.iter().any(migrate::plan::Diagnostic::is_error), "{diags:?}");
                diags
            }
        };
        for d in &diags {
            prop_assert!(d.span.start.line <= lines, "{d:?} in a text of {lines} lines");
            prop_assert!(!d.message.is_empty());
            let rendered = d.render("plan.yaml", &text, true);
            prop_assert!(rendered.contains(&d.message));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_binary_exits_0_or_2(text in mutated(), raw in prop::collection::vec(any::<u8>(), 0..16)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.yaml");
        let mut bytes = text.into_bytes();
        // Sometimes not even UTF-8.
        let at = bytes.len() / 2;
        bytes.splice(at..at, raw);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("write plan");
        let out = migrate().arg("-f").arg(&path).arg("validate").output().expect("run migrate");
        let code = out.status.code();
        prop_assert!(code == Some(0) || code == Some(2), "exit {code:?}: {}", stderr(&out));
        prop_assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}
