//! The plan language: text → validated [`Plan`], with every problem reported
//! at its line and column. Pure: no network, files or clock; the environment
//! (for `${VAR}`) is passed in.

pub mod decode;
pub mod describe;
pub mod diag;
pub mod gates;
pub mod jsonpath;
pub mod model;
pub mod providers;
pub mod refs;
pub mod schema;
pub mod spec;
pub mod steps;
pub mod text;
pub mod yaml;

use std::collections::HashSet;
use std::time::Duration;

pub use diag::{Diagnostic, Severity};
pub use model::*;
pub use text::{Env, ProcessEnv, Text};

use decode::Cx;
use diag::Span;
use yaml::{Node, Resolved};

pub const TOP_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "settings",
    "providers",
    "gates",
    "reconciliations",
    "phases",
];
pub const SETTINGS_KEYS: &[&str] = &[
    "interval",
    "timeout",
    "retries",
    "on_breach",
    "rollback_timeout",
    "state",
    "notify",
];
pub const STATE_KEYS: &[&str] = &["backend", "dir", "url"];

/// A plan that passed validation, and the warnings it drew.
#[derive(Debug)]
pub struct Validated {
    pub plan: Plan,
    pub warnings: Vec<Diagnostic>,
}

/// Validate plan text, its providers of the types in `catalog`
/// (`providers::catalog()`). On failure, every error (and warning) found,
/// in document order.
pub fn validate(
    text: &str,
    env: &dyn Env,
    catalog: &spec::Catalog,
) -> Result<Validated, Vec<Diagnostic>> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(vec![Diagnostic::error(
                Span::default(),
                "",
                "the plan is empty",
            )
            .with_hint("a plan starts with `version: 1` and `name: ...`; see `migrate schema` or the examples in plans/")])
        }
        Err(diags) => return Err(diags),
    };
    let mut cx = Cx::new(env, catalog);
    let plan = decode_plan(&mut cx, &root);
    let mut diags = cx.diags;
    diag::sort(&mut diags);
    match plan {
        Some(plan) if !diags.iter().any(Diagnostic::is_error) => Ok(Validated {
            plan,
            warnings: diags,
        }),
        _ => Err(diags),
    }
}

fn decode_plan(cx: &mut Cx<'_>, root: &Node) -> Option<Plan> {
    let Some(mut map) = cx.open_map(root, "", "a plan") else {
        if let Some(d) = cx.diags.last_mut() {
            d.hint = Some("a plan is a map: version, name, providers, gates, phases, ...".into());
        }
        return None;
    };
    map.check_known(cx, TOP_KEYS, "the plan");

    let version = match map.get("version") {
        Some(n) => match n.as_scalar().map(|s| s.resolve()) {
            Some(Resolved::Int(1)) => Some(1),
            Some(Resolved::Str("1")) => {
                cx.error_hint(
                    n.span,
                    "version",
                    "'version' must be the number 1, not the string \"1\"",
                    "remove the quotes: `version: 1`",
                );
                None
            }
            _ => {
                cx.error_hint(
                    n.span,
                    "version",
                    format!(
                        "unsupported plan version {}",
                        n.as_scalar()
                            .map_or_else(|| n.kind_name().to_string(), |s| format!("'{}'", s.text))
                    ),
                    "this migrate reads version 1 plans: write `version: 1`",
                );
                None
            }
        },
        None => {
            cx.error_hint(
                map.key_span(),
                "",
                "the plan has no 'version'",
                "add `version: 1` at the top",
            );
            None
        }
    };
    let name = match map.get("name") {
        Some(n) => cx.name(n, "name", "plan name"),
        None => {
            cx.error_hint(
                map.key_span(),
                "",
                "the plan has no 'name'",
                "add e.g. `name: payments-v2`; the name keys the migration's state",
            );
            None
        }
    };
    let description = map.opt("description").and_then(|(n, p)| cx.literal(n, &p));
    let settings = match section(&map, "settings") {
        Some(n) => settings(cx, n, "settings"),
        None => Some(Settings::default()),
    };
    let providers = section(&map, "providers")
        .map(|n| providers::decode_all(cx, n))
        .unwrap_or_default();
    let notify = match section(&map, "settings") {
        Some(n) => notify(cx, n, &providers),
        None => Some(Vec::new()),
    };
    let reconciliations = section(&map, "reconciliations")
        .map(|n| gates::decode_reconciliations(cx, n, &providers))
        .unwrap_or_default();
    let gates = section(&map, "gates")
        .map(|n| gates::decode_gates(cx, n, &providers, &reconciliations))
        .unwrap_or_default();
    let defs = steps::Defs {
        providers: &providers,
        gates: &gates,
        reconciliations: &reconciliations,
    };
    let phases = match section(&map, "phases") {
        Some(n) => steps::decode_phases(cx, n, &defs),
        None if map.misspelling_of("phases").is_some() => Vec::new(),
        None => {
            cx.error_hint(
                map.key_span(),
                "",
                "the plan has no 'phases'",
                "add `phases:` with at least one phase of steps",
            );
            Vec::new()
        }
    };
    let mut settings = settings?;
    settings.notify = notify?;
    let plan = Plan {
        version: version?,
        name: name?,
        description,
        settings,
        providers,
        gates,
        reconciliations,
        phases,
    };
    // With errors, some definitions were dropped and "unused" would be noise.
    if !cx.diags.iter().any(Diagnostic::is_error) {
        warn_unused(cx, &map, &plan);
    }
    Some(plan)
}

/// A section of the plan by its name or, when that is absent, by the
/// misspelled key (already reported) that was meant for it: its contents are
/// still checked, and references to what it defines don't cascade into
/// "unknown provider" errors.
fn section<'n>(map: &decode::MapReader<'n>, name: &str) -> Option<&'n Node> {
    map.get(name)
        .or_else(|| map.misspelling_of(name).and_then(|key| map.get(key)))
}

fn settings(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Settings> {
    let map = cx.map(node, path, "settings", SETTINGS_KEYS)?;
    let mut s = Settings::default();
    let mut ok = true;
    let mut dur = |cx: &mut Cx<'_>, key: &str, slot: &mut Duration| {
        if let Some((n, p)) = map.opt(key) {
            match cx.duration(n, &p) {
                Some(d) => *slot = d,
                None => ok = false,
            }
        }
    };
    dur(cx, "interval", &mut s.interval);
    dur(cx, "timeout", &mut s.timeout);
    dur(cx, "rollback_timeout", &mut s.rollback_timeout);
    if let Some((n, p)) = map.opt("retries") {
        match cx.uint(n, &p, 0, 100) {
            Some(r) => s.retries = r,
            None => ok = false,
        }
    }
    if let Some((n, p)) = map.opt("on_breach") {
        match cx.choice(
            n,
            &p,
            &[("rollback", OnBreach::Rollback), ("pause", OnBreach::Pause)],
        ) {
            Some(v) => s.on_breach = v,
            None => ok = false,
        }
    }
    if let Some((n, p)) = map.opt("state") {
        match state(cx, n, &p) {
            Some(st) => s.state = st,
            None => ok = false,
        }
    }
    ok.then_some(s)
}

fn state(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<StateConfig> {
    let map = cx.map(node, path, "the state settings", STATE_KEYS)?;
    let backend = match map.opt("backend") {
        Some((n, p)) => cx.choice(n, &p, &[("local", "local"), ("postgres", "postgres")])?,
        None => "local",
    };
    match backend {
        "postgres" => {
            if let Some((n, p)) = map.opt("dir") {
                cx.error(
                    n.span,
                    &p,
                    "'dir' is for the local backend; the postgres backend takes 'url'",
                );
            }
            let (n, p) = map.req(cx, "url", "the postgres state backend")?;
            let url = cx.text(n, &p)?;
            let v = url.expose();
            if !(v.starts_with("postgres://") || v.starts_with("postgresql://")) {
                cx.error(n.span, &p, "'url' must be a postgres:// URL");
                return None;
            }
            Some(StateConfig::Postgres { url })
        }
        _ => {
            if let Some((n, p)) = map.opt("url") {
                cx.error_hint(
                    n.span,
                    &p,
                    "'url' is for the postgres backend",
                    "add `backend: postgres`, or use 'dir' for a local state directory",
                );
            }
            let dir = match map.opt("dir") {
                Some((n, p)) => Some(cx.text(n, &p)?),
                None => None,
            };
            Some(StateConfig::Local { dir })
        }
    }
}

/// `settings.notify`: the providers told about the migration, each one
/// that sends notifications, none twice.
fn notify(cx: &mut Cx<'_>, settings: &Node, providers: &[Provider]) -> Option<Vec<String>> {
    let yaml::NodeKind::Map(entries) = &settings.kind else {
        return Some(Vec::new());
    };
    let Some((_, node)) = entries
        .iter()
        .find(|(k, _)| k.as_scalar().is_some_and(|s| s.text == "notify"))
    else {
        return Some(Vec::new());
    };
    let path = "settings.notify";
    let items = cx.seq(node, path)?;
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match refs::resolve_provider(
            cx,
            item,
            &p,
            providers,
            Capability::Notify,
            "settings.notify",
        ) {
            Some(name) if names.contains(&name) => {
                cx.error_hint(
                    item.span,
                    &p,
                    format!("provider '{name}' is listed twice"),
                    "list each provider once",
                );
                ok = false;
            }
            Some(name) => names.push(name),
            None => ok = false,
        }
    }
    ok.then_some(names)
}

/// Definitions nothing uses are likely mistakes (a gate defined but never
/// watched protects nothing).
fn warn_unused(cx: &mut Cx<'_>, map: &decode::MapReader<'_>, plan: &Plan) {
    let mut used: HashSet<String> = HashSet::new();
    for step in plan.steps() {
        match &step.kind {
            StepKind::Traffic { provider, .. }
            | StepKind::Mirror { provider, .. }
            | StepKind::Flag { provider, .. } => {
                used.insert(format!("provider:{provider}"));
            }
            StepKind::Soak { gates, .. } | StepKind::Check { gates, .. } => {
                used.extend(gates.iter().map(|g| format!("gate:{g}")));
            }
            StepKind::Reconcile { reconciliation, .. } => {
                used.insert(format!("reconciliation:{reconciliation}"));
            }
            _ => {}
        }
    }
    for gate in &plan.gates {
        match &gate.source {
            GateSource::Metric { provider, .. } => {
                used.insert(format!("provider:{provider}"));
            }
            GateSource::Compare { compare } => {
                used.insert(format!("provider:{}", compare.provider));
            }
            GateSource::Parity { reconcile } => {
                used.insert(format!("reconciliation:{reconcile}"));
            }
        }
    }
    for n in &plan.settings.notify {
        used.insert(format!("provider:{n}"));
    }
    for r in &plan.reconciliations {
        used.insert(format!("provider:{}", r.source.provider));
        used.insert(format!("provider:{}", r.target.provider));
    }
    let section = |name: &str| map.get(name);
    let key_span = |section_node: Option<&Node>, key: &str| -> Option<Span> {
        let yaml::NodeKind::Map(entries) = &section_node?.kind else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.text == key))
            .map(|(k, _)| k.span)
    };
    for p in &plan.providers {
        if !used.contains(&format!("provider:{}", p.name)) {
            if let Some(span) = key_span(section("providers"), &p.name) {
                cx.warning(
                    span,
                    &format!("providers.{}", p.name),
                    format!("provider '{}' is never used", p.name),
                    None,
                );
            }
        }
    }
    for g in &plan.gates {
        if !used.contains(&format!("gate:{}", g.name)) {
            if let Some(span) = key_span(section("gates"), &g.name) {
                cx.warning(
                    span,
                    &format!("gates.{}", g.name),
                    format!("gate '{}' is never checked", g.name),
                    Some("list it under a soak's or canary's gates, or in a check step"),
                );
            }
        }
    }
    for r in &plan.reconciliations {
        if !used.contains(&format!("reconciliation:{}", r.name)) {
            if let Some(span) = key_span(section("reconciliations"), &r.name) {
                cx.warning(
                    span,
                    &format!("reconciliations.{}", r.name),
                    format!("reconciliation '{}' is never run by the plan", r.name),
                    Some("`migrate reconcile` can still run it by hand"),
                );
            }
        }
    }
}
