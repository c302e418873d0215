//! Fuzzing the plan parser on the stable toolchain, without libFuzzer: a
//! generator of hostile inputs — random bytes, YAML token soup, mutations
//! of the example plans, deep nesting, huge scalars, alias bombs, nested
//! mini-languages (queries, JSONPath, `${VAR}`) — each fed to
//! `migrate::plan::validate` and, when it fails, to the diagnostics
//! renderer, under `catch_unwind`. A panic is a failure; so is a crash
//! (a stack overflow aborts the whole test binary).
//!
//! CI runs `FUZZ_INPUTS` (default 10,000) inputs; the long run is
//! `FUZZ_INPUTS=1000000 cargo test --release --test cli fuzz -- --ignored`
//! (RELIABILITY.md records it). `FUZZ_SEED` replays a run.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Mostly small, sometimes large.
    fn size(&mut self, max: usize) -> usize {
        match self.below(10) {
            0 => self.below(max + 1),
            1..=3 => self.below(max / 10 + 1),
            _ => self.below(max / 100 + 2),
        }
    }
}

/// Tokens before the provider type names.
const TOKENS_HEAD: &[&str] = &[
    "version",
    "name",
    "settings",
    "providers",
    "gates",
    "reconciliations",
    "phases",
    "steps",
    "traffic",
    "mirror",
    "flag",
    "soak",
    "check",
    "approve",
    "run",
    "webhook",
    "reconcile",
    "canary",
    "provider",
    "percent",
    "percents",
    "key",
    "enabled",
    "query",
    "max",
    "min",
    "no_data",
    "interval",
    "timeout",
    "failure_limit",
    "type",
    "url",
    "file",
    "socket",
    "backend",
    "legacy",
    "candidate",
    "set",
    "get",
    "json_path",
    "headers",
    "token",
    "source",
    "target",
    "table",
    "columns",
    "where",
    "repair",
    "id",
    "keep_on_rollback",
    "irreversible",
];

/// Tokens after the provider type names.
const TOKENS_TAIL: &[&str] = &[
    ": ",
    ":",
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "-",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "!!str ",
    "!!map ",
    "!x ",
    "'",
    "\"",
    "${",
    "${X}",
    "${X:-d}",
    "${MISSING}",
    "}",
    "%",
    "#",
    "# c\n",
    "---\n",
    "...\n",
    "|\n",
    ">-\n",
    "\t",
    "1",
    "0",
    "-1",
    "100",
    "101",
    "1e999",
    "-0",
    ".nan",
    ".inf",
    "nan",
    "0x1F",
    "5%",
    "50.5",
    "1h",
    "30s",
    "500ms",
    "1h30m",
    "48h",
    "0s",
    "99999999999h",
    "true",
    "false",
    "null",
    "~",
    "yes",
    "\u{0}",
    "\u{7f}",
    "\u{feff}",
    "é",
    "日本",
    "\u{10ffff}",
    "\r\n",
    "\\",
    "?",
    "rate(",
    ")",
    "/",
    "sum(",
    "x{a=\"b\"}",
    "$.a",
    "$[0]",
    "$..b",
    "[*]",
    "{{percent}}",
    "{{key}}",
];

/// The token soup's vocabulary: plan words, every registered provider type
/// (so a new adapter is fuzzed too), YAML punctuation, mini-languages.
fn tokens() -> &'static [&'static str] {
    static TOKENS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        TOKENS_HEAD
            .iter()
            .copied()
            .chain(migrate::plan::spec::names(migrate::providers::catalog()))
            .chain(TOKENS_TAIL.iter().copied())
            .collect()
    });
    &TOKENS
}

fn soup(rng: &mut Rng) -> String {
    let n = rng.size(400);
    (0..n).map(|_| *rng.pick(tokens())).collect()
}

fn bytes(rng: &mut Rng) -> String {
    let n = rng.size(600);
    let v: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    String::from_utf8_lossy(&v).into_owned()
}

fn mutate(rng: &mut Rng, seeds: &[String]) -> String {
    let mut s: Vec<char> = rng.pick(seeds).chars().collect();
    for _ in 0..1 + rng.below(8) {
        let len = s.len();
        match rng.below(7) {
            0 if len > 0 => {
                // delete a span
                let a = rng.below(len);
                let b = (a + rng.size(200)).min(len);
                s.drain(a..b);
            }
            1 if len > 0 => {
                // duplicate a span elsewhere
                let a = rng.below(len);
                let b = (a + rng.size(200)).min(len);
                let span: Vec<char> = s[a..b].to_vec();
                let at = rng.below(len + 1);
                s.splice(at..at, span);
            }
            2 => {
                let at = rng.below(len + 1);
                let tok: Vec<char> = rng.pick(tokens()).chars().collect();
                s.splice(at..at, tok);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                s[at] = char::from_u32(rng.below(0x250) as u32).unwrap_or('?');
            }
            4 => {
                let at = rng.below(len + 1);
                s.truncate(at);
            }
            5 => {
                // swap two lines
                let text: String = s.iter().collect();
                let mut lines: Vec<&str> = text.split('\n').collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                s = lines.join("\n").chars().collect();
            }
            _ => {
                // re-indent a line
                let text: String = s.iter().collect();
                let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
                let i = rng.below(lines.len());
                let pad = " ".repeat(rng.below(9));
                lines[i] = format!("{pad}{}", lines[i].trim_start());
                s = lines.join("\n").chars().collect();
            }
        }
    }
    s.into_iter().collect()
}

/// Structures that break parsers: depth, size, repetition.
fn hostile(rng: &mut Rng, seeds: &[String], max: usize) -> String {
    let n = 1 + rng.size(max);
    match rng.below(14) {
        0 => "[".repeat(n),
        1 => format!("{}x{}", "[".repeat(n), "]".repeat(n)),
        2 => "{a: ".repeat(n),
        3 => (0..n.min(400))
            .map(|i| format!("{}- \n", " ".repeat(i)))
            .collect(),
        4 => (0..n.min(400))
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect(),
        5 => {
            // billion laughs of some width and depth
            let width = 2 + rng.below(9);
            let depth = 2 + rng.below(12);
            let mut s = String::from("a0: &a0 [x, y]\n");
            for d in 1..=depth {
                let refs = vec![format!("*a{}", d - 1); width].join(", ");
                s.push_str(&format!("a{d}: &a{d} [{refs}]\n"));
            }
            s
        }
        6 => format!(
            "version: 1\nname: {}\nphases: []\n",
            "x".repeat(n * 5)
        ),
        7 => format!(
            "version: 1\nname: p\nsettings: {{ interval: {}s }}\nphases: []\n",
            "9".repeat(n.min(5000))
        ),
        8 => format!(
            "version: 1\nname: q\nproviders:\n  m: {{ type: scrape, url: 'http://x/metrics' }}\ngates:\n  g: {{ provider: m, query: '{}x{}', max: 1 }}\nphases: []\n",
            "rate(".repeat(n.min(5000)),
            ")".repeat(n.min(5000))
        ),
        9 => format!(
            "version: 1\nname: j\nproviders:\n  h: {{ type: http, get: {{ url: 'http://x', json_path: '${}' }} }}\nphases: []\n",
            ".a[0]".repeat(n.min(5000))
        ),
        10 => format!(
            "version: 1\nname: v\nproviders:\n  f: {{ type: unleash, url: \"{}\", token: t }}\nphases: []\n",
            "${X:-".repeat(n.min(5000))
        ),
        11 => format!(
            "version: 1\nname: k\nphases:\n  - name: p\n    steps:\n{}",
            "      - traffic: { provider: lb, percent: 1 }\n".repeat(n.min(5000))
        ),
        12 => match rng.below(3) {
            // the same key many times
            0 => (0..n).map(|i| format!("k{}: {i}\n", i % 7)).collect(),
            // many keys (each unknown: as many diagnostics)
            1 => (0..n * 5).map(|i| format!("k{i}: {i}\n")).collect(),
            // many phases of one name
            _ => format!(
                "version: 1\nname: n\nphases:\n{}",
                "  - name: p\n    steps: []\n".repeat(n)
            ),
        },
        _ => {
            let base = rng.pick(seeds).clone();
            base.repeat(1 + rng.below(6))
        }
    }
}

fn seeds() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["plans", "tests/fixtures", "tests/fixtures/mistakes"] {
        for path in crate::support::files(dir, ".yaml") {
            if let Ok(text) = std::fs::read_to_string(crate::support::root().join(&path)) {
                out.push(text);
            }
        }
    }
    assert!(out.len() >= 8, "the example plans are the seeds");
    out
}

fn env() -> HashMap<String, String> {
    let mut env = crate::support::plan_env();
    env.insert("X".into(), "x-value".into());
    env
}

/// Validate `text`; render its diagnostics. Returns whether it was valid.
fn feed(text: &str, env: &HashMap<String, String>) -> bool {
    match migrate::plan::validate(text, env, migrate::providers::catalog()) {
        Ok(v) => {
            for w in &v.warnings {
                let _ = w.render("plan.yaml", text, false);
            }
            // What `plan` shows of a valid plan.
            for step in v.plan.steps() {
                let _ = migrate::plan::describe::step(&v.plan, step);
            }
            true
        }
        Err(diags) => {
            let lines = migrate::plan::diag::Lines::new(text);
            for d in &diags {
                let _ = d.render_in("plan.yaml", &lines, true);
                let _ = serde_json::to_string(&d.to_json("plan.yaml"));
            }
            false
        }
    }
}

/// `max`: the largest repeat count of the hostile structures.
fn run(inputs: u64, seed: u64, max: usize) {
    let seeds = seeds();
    let env = env();
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let valid = AtomicU64::new(0);
    let bytes_fed = AtomicU64::new(0);
    let panics: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // Time spent per kind of input: bytes, soup, mutations, hostile.
    let spent: [AtomicU64; 4] = Default::default();
    // A panic's message is collected, not printed a million times.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= inputs {
                    break;
                }
                if i > 0 && i.is_multiple_of(100_000) {
                    eprintln!(
                        "fuzz: {i} inputs after {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                let mut rng = Rng(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
                let kind = match rng.below(10) {
                    0 | 1 => 0,
                    2 | 3 => 1,
                    4..=7 => 2,
                    _ => 3,
                };
                let text = match kind {
                    0 => bytes(&mut rng),
                    1 => soup(&mut rng),
                    2 => mutate(&mut rng, &seeds),
                    _ => hostile(&mut rng, &seeds, max),
                };
                let t0 = Instant::now();
                bytes_fed.fetch_add(text.len() as u64, Ordering::Relaxed);
                let result = catch_unwind(AssertUnwindSafe(|| feed(&text, &env)));
                spent[kind].fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                match result {
                    Ok(true) => {
                        valid.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        let shown: String = text.chars().take(300).collect();
                        panics
                            .lock()
                            .unwrap()
                            .push(format!("input {i} (seed {seed}): {msg}\n  {shown:?}"));
                    }
                }
            });
        }
    });
    std::panic::set_hook(hook);
    let panics = panics.into_inner().unwrap();
    let ms: Vec<u64> = spent
        .iter()
        .map(|a| a.load(Ordering::Relaxed) / 1000)
        .collect();
    eprintln!(
        "fuzz: ms spent on random bytes {}, token soup {}, mutated plans {}, hostile structures {}",
        ms[0], ms[1], ms[2], ms[3]
    );
    eprintln!(
        "fuzz: {inputs} inputs (hostile structures up to {max} deep or long, {} MB, {} valid plans) in {:.1} s with FUZZ_SEED={seed}: {} panics",
        bytes_fed.into_inner() / 1_000_000,
        valid.into_inner(),
        started.elapsed().as_secs_f64(),
        panics.len()
    );
    assert!(
        panics.is_empty(),
        "{} inputs panicked; the first:\n{}",
        panics.len(),
        panics
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn seed() -> u64 {
    setting("FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
    })
}

#[test]
fn the_plan_parser_survives_hostile_input() {
    run(setting("FUZZ_INPUTS").unwrap_or(10_000), seed(), 2_000);
}

#[test]
#[ignore = "the long run (a million inputs): see RELIABILITY.md"]
fn fuzz_the_plan_parser_long() {
    run(setting("FUZZ_INPUTS").unwrap_or(1_000_000), seed(), 20_000);
}
