//! `phases:` and their steps. A step is a map with exactly one kind key;
//! `canary` expands here into traffic (or flag) + soak steps.

use std::collections::HashMap;

use super::decode::{did_you_mean, unknown_key, Cx, MapReader};
use super::model::{Capability, Gate, Percent, Phase, Provider, Reconciliation, Step, StepKind};
use super::refs::{resolve_gate, resolve_provider, resolve_reconciliation};
use super::yaml::Node;

pub const PHASE_KEYS: &[&str] = &["name", "steps"];
pub const STEP_KINDS: &[&str] = &[
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
];
pub const COMMON_STEP_KEYS: &[&str] = &["id", "keep_on_rollback", "irreversible"];
pub const TRAFFIC_KEYS: &[&str] = &["provider", "percent"];
pub const FLAG_KEYS: &[&str] = &["provider", "key", "enabled", "percent"];
pub const WEBHOOK_KEYS: &[&str] = &["url", "method", "headers", "body"];
pub const CANARY_KEYS: &[&str] = &["provider", "percents", "soak", "gates", "key"];

/// Keys that go beside a kind key in the step map.
pub fn sibling_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "soak" => &["gates"],
        "check" | "webhook" => &["timeout"],
        "run" => &["timeout", "env"],
        "reconcile" => &["repair", "min_parity"],
        _ => &[],
    }
}

pub struct Defs<'a> {
    pub providers: &'a [Provider],
    pub gates: &'a [Gate],
    pub reconciliations: &'a [Reconciliation],
}

pub fn decode_phases(cx: &mut Cx<'_>, node: &Node, defs: &Defs<'_>) -> Vec<Phase> {
    let Some(items) = cx.seq(node, "phases") else {
        return Vec::new();
    };
    if items.is_empty() {
        cx.error_hint(
            node.span,
            "phases",
            "the plan has no phases",
            "add at least one phase, with a name and its steps: `- name: canary` then `steps: [...]`",
        );
    }
    let mut phases = Vec::new();
    let mut phase_lines: HashMap<String, usize> = HashMap::new();
    let mut id_lines: HashMap<String, usize> = HashMap::new();
    for (pi, pnode) in items.iter().enumerate() {
        let path = format!("phases[{pi}]");
        let Some(map) = cx.map(pnode, &path, "a phase", PHASE_KEYS) else {
            continue;
        };
        let name = map
            .req(cx, "name", "a phase")
            .and_then(|(n, p)| cx.name(n, &p, "phase name").map(|s| (s, n)));
        if let Some((name, n)) = &name {
            if let Some(first) = phase_lines.insert(name.clone(), n.span.start.line) {
                cx.error(
                    n.span,
                    &map.child_path("name"),
                    format!("phase '{name}' is defined twice (first at line {first})"),
                );
            }
        }
        let phase_name = name
            .as_ref()
            .map_or_else(|| format!("phase-{}", pi + 1), |(s, _)| s.clone());
        let Some((snode, spath)) = map.req(cx, "steps", "a phase") else {
            continue;
        };
        let Some(step_nodes) = cx.seq(snode, &spath) else {
            continue;
        };
        if step_nodes.is_empty() {
            cx.error(
                snode.span,
                &spath,
                format!("phase '{phase_name}' has no steps"),
            );
        }
        let mut steps: Vec<Step> = Vec::new();
        for (si, step_node) in step_nodes.iter().enumerate() {
            let path = format!("{spath}[{si}]");
            let decoded = step(cx, step_node, &path, defs);
            // Point at the id where one is written, else at the step.
            let id_span = match &step_node.kind {
                super::yaml::NodeKind::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.as_scalar().is_some_and(|s| s.text == "id"))
                    .map_or(step_node.span, |(_, v)| v.span),
                _ => step_node.span,
            };
            for (explicit_id, kind, flags, line) in decoded {
                let id = explicit_id.unwrap_or_else(|| format!("{phase_name}.{}", steps.len() + 1));
                if let Some(first) = id_lines.insert(id.clone(), line) {
                    cx.error_hint(
                        id_span,
                        &path,
                        format!("step id '{id}' is used twice (first at line {first})"),
                        "step ids must be unique: `advance --to` and `rollback --to` name them",
                    );
                }
                steps.push(Step {
                    id,
                    phase: phase_name.clone(),
                    keep_on_rollback: flags.0,
                    irreversible: flags.1,
                    kind,
                    line,
                });
            }
        }
        phases.push(Phase {
            name: phase_name,
            steps,
        });
    }
    phases
}

type Decoded = (Option<String>, StepKind, (bool, bool), usize);

/// One step of the plan, which is several after canary expansion.
fn step(cx: &mut Cx<'_>, node: &Node, path: &str, defs: &Defs<'_>) -> Vec<Decoded> {
    if let Some(s) = node.as_scalar() {
        if !node.is_null() {
            step_as_text(cx, node, path, &s.text);
            return Vec::new();
        }
    }
    let Some(map) = cx.open_map(node, path, "a step") else {
        return Vec::new();
    };
    let kinds: Vec<(&str, &Node)> = map.keys().filter(|(k, _)| STEP_KINDS.contains(k)).collect();
    let kind = match kinds.as_slice() {
        [] => {
            no_kind(cx, &map, path);
            return Vec::new();
        }
        [(k, _)] => *k,
        [(first, _), (second, knode), ..] => {
            cx.error_hint(
                knode.span,
                path,
                format!("a step has exactly one kind, but this one has '{first}' and '{second}'"),
                "split it into two steps, one after the other",
            );
            return Vec::new();
        }
    };
    // Keys beside the kind: common ones, the kind's own, and none of another kind's.
    let own = sibling_keys(kind);
    for (key, knode) in map.keys() {
        if key == kind || COMMON_STEP_KEYS.contains(&key) || own.contains(&key) {
            continue;
        }
        if let Some(owner) = STEP_KINDS.iter().find(|k| sibling_keys(k).contains(&key)) {
            cx.error_hint(
                knode.span,
                &map.child_path(key),
                format!("'{key}' does not go with a {kind} step"),
                format!("'{key}' belongs to {owner} steps"),
            );
        } else {
            let mut known: Vec<&str> = COMMON_STEP_KEYS.to_vec();
            known.extend_from_slice(own);
            known.extend_from_slice(STEP_KINDS);
            unknown_key(
                cx,
                knode,
                &map.child_path(key),
                key,
                &format!("a {kind} step"),
                &known,
            );
        }
    }
    let id = map.opt("id").and_then(|(n, p)| cx.name(n, &p, "step id"));
    let keep = map
        .opt("keep_on_rollback")
        .and_then(|(n, p)| cx.bool(n, &p))
        .unwrap_or(false);
    let irreversible = map
        .opt("irreversible")
        .and_then(|(n, p)| cx.bool(n, &p))
        .unwrap_or(false);
    let line = map.key_span().start.line;
    let value = map.get(kind).unwrap_or(node);
    let vpath = map.child_path(kind);

    let kinds = match kind {
        "canary" => canary(cx, value, &vpath, defs),
        _ => single(cx, kind, value, &vpath, &map, defs)
            .map(|k| vec![k])
            .unwrap_or_default(),
    };
    if kinds.is_empty() {
        return Vec::new();
    }
    if keep && !kinds.iter().any(StepKind::changes_target) {
        if let Some((n, p)) = map.opt("keep_on_rollback") {
            cx.warning(
                n.span,
                &p,
                format!("keep_on_rollback has no effect on a {kind} step"),
                Some("only traffic, mirror and flag steps change what rollback restores"),
            );
        }
    }
    if kind == "canary" {
        let n = kinds.len();
        return kinds
            .into_iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    id.as_ref().map(|base| format!("{base}.{}", i + 1)),
                    k,
                    (keep, irreversible),
                    line,
                )
            })
            .take(n)
            .collect();
    }
    kinds
        .into_iter()
        .map(|k| (id.clone(), k, (keep, irreversible), line))
        .collect()
}

/// `- soak 1h`: a step written as text, most often a missing ':'.
fn step_as_text(cx: &mut Cx<'_>, node: &Node, path: &str, text: &str) {
    let text = text.trim();
    let (first, rest) = text
        .split_once(char::is_whitespace)
        .map_or((text, ""), |(a, b)| (a, b.trim()));
    let glued = text
        .split_once(':')
        .filter(|(kind, value)| STEP_KINDS.contains(kind) && !value.starts_with(' '));
    let hint = if let Some((kind, value)) = glued {
        format!("put a space after the ':': `{kind}: {value}`")
    } else if STEP_KINDS.contains(&first) && !rest.is_empty() {
        format!("a ':' is missing: write `{first}: {rest}`")
    } else if STEP_KINDS.contains(&first) {
        format!("write `{first}: ...`")
    } else {
        format!(
            "a step is a map with one of: {}; e.g. `soak: 1h`",
            STEP_KINDS.join(", ")
        )
    };
    cx.error_hint(
        node.span,
        path,
        format!("a step must be a map, not {}", node.kind_name()),
        hint,
    );
}

fn no_kind(cx: &mut Cx<'_>, map: &MapReader<'_>, path: &str) {
    // A typo of a kind key is the likeliest reason: point at it.
    for (key, knode) in map.keys() {
        if COMMON_STEP_KEYS.contains(&key) {
            continue;
        }
        if let Some(s) = did_you_mean(key, STEP_KINDS) {
            cx.error_hint(
                knode.span,
                &map.child_path(key),
                format!("unknown key '{key}' in a step"),
                format!("did you mean '{s}'?"),
            );
            return;
        }
    }
    cx.error_hint(
        map.key_span(),
        path,
        "this step does nothing: it has no step kind",
        format!("a step has one of: {}", STEP_KINDS.join(", ")),
    );
}

fn gate_list(cx: &mut Cx<'_>, node: &Node, path: &str, defs: &Defs<'_>) -> Option<Vec<String>> {
    let names = cx.one_or_many(node, path)?;
    let items: Vec<&Node> = match &node.kind {
        super::yaml::NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        if resolve_gate(cx, item, &format!("{path}[{i}]"), defs.gates).is_none() {
            ok = false;
        }
    }
    ok.then_some(names)
}

fn single(
    cx: &mut Cx<'_>,
    kind: &str,
    value: &Node,
    path: &str,
    step: &MapReader<'_>,
    defs: &Defs<'_>,
) -> Option<StepKind> {
    match kind {
        "traffic" | "mirror" => {
            let what = format!("a {kind} step");
            let map = cx.map(value, path, &what, TRAFFIC_KEYS)?;
            let cap = if kind == "traffic" {
                Capability::Traffic
            } else {
                Capability::Mirror
            };
            let provider = map
                .req(cx, "provider", &what)
                .and_then(|(n, p)| resolve_provider(cx, n, &p, defs.providers, cap, &what));
            let percent = map
                .req(cx, "percent", &what)
                .and_then(|(n, p)| Some((cx.percent(n, &p)?, n, p)));
            let (provider, (percent, node, at)) = (provider?, percent?);
            let refused = defs
                .providers
                .iter()
                .find(|pr| pr.name == provider)
                .and_then(|pr| pr.config.refuses_percent(cap, percent.value()));
            if let Some((problem, hint)) = refused {
                cx.error_hint(
                    node.span,
                    &at,
                    format!(
                        "provider '{provider}' cannot {} {percent}: {problem}",
                        cap.verb()
                    ),
                    hint,
                );
                return None;
            }
            Some(if kind == "traffic" {
                StepKind::Traffic { provider, percent }
            } else {
                StepKind::Mirror { provider, percent }
            })
        }
        "flag" => {
            let what = "a flag step";
            let map = cx.map(value, path, what, FLAG_KEYS)?;
            let provider = map.req(cx, "provider", what).and_then(|(n, p)| {
                resolve_provider(cx, n, &p, defs.providers, Capability::Flags, what)
            });
            let key = map
                .req(cx, "key", what)
                .and_then(|(n, p)| cx.literal(n, &p));
            let enabled = match map.opt("enabled") {
                Some((n, p)) => cx.bool(n, &p).map(Some),
                None => Some(None),
            };
            let percent = match map.opt("percent") {
                Some((n, p)) => cx.percent(n, &p).map(Some),
                None => Some(None),
            };
            if !map.has("enabled") && !map.has("percent") {
                cx.error_hint(
                    map.key_span(),
                    path,
                    "a flag step must set 'enabled', 'percent', or both",
                    "e.g. enabled: true",
                );
                return None;
            }
            Some(StepKind::Flag {
                provider: provider?,
                key: key?,
                enabled: enabled?,
                percent: percent?,
            })
        }
        "soak" => {
            let duration = cx.duration(value, path);
            let gates = match step.opt("gates") {
                Some((n, p)) => gate_list(cx, n, &p, defs),
                None => {
                    cx.warning(
                        step.key_span(),
                        &step.path,
                        "soak without gates: it only waits",
                        Some("add gates: [...] so that a breach during the soak stops the rollout"),
                    );
                    Some(Vec::new())
                }
            };
            Some(StepKind::Soak {
                duration: duration?,
                gates: gates?,
            })
        }
        "check" => {
            let gates = gate_list(cx, value, path, defs);
            let timeout = opt_duration(cx, step, "timeout");
            Some(StepKind::Check {
                gates: gates?,
                timeout: timeout?,
            })
        }
        "approve" => {
            let message = cx.literal(value, path)?;
            Some(StepKind::Approve { message })
        }
        "run" => {
            let argv = cx.argv(value, path);
            let timeout = opt_duration(cx, step, "timeout");
            let env = match step.opt("env") {
                Some((n, p)) => cx.string_map(n, &p),
                None => Some(Vec::new()),
            };
            Some(StepKind::Run {
                argv: argv?,
                timeout: timeout?,
                env: env?,
            })
        }
        "webhook" => {
            let what = "a webhook step";
            let map = cx.map(value, path, what, WEBHOOK_KEYS)?;
            let url = map.req(cx, "url", what).and_then(|(n, p)| {
                let t = cx.text(n, &p)?;
                if t.expose().starts_with("http://") || t.expose().starts_with("https://") {
                    Some(t)
                } else {
                    cx.error(n.span, &p, "'url' must start with http:// or https://");
                    None
                }
            });
            // Case does not matter, as in an http provider's requests.
            let method = match map.opt("method") {
                Some((n, p)) => {
                    let upper = n.as_scalar().map(|s| s.text.to_ascii_uppercase());
                    match upper.as_deref() {
                        Some(m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE")) => {
                            Some(m.to_string())
                        }
                        _ => cx
                            .choice(
                                n,
                                &p,
                                &[
                                    ("GET", "GET"),
                                    ("POST", "POST"),
                                    ("PUT", "PUT"),
                                    ("PATCH", "PATCH"),
                                    ("DELETE", "DELETE"),
                                ],
                            )
                            .map(str::to_string),
                    }
                }
                None => Some("POST".to_string()),
            };
            let headers = match map.opt("headers") {
                Some((n, p)) => cx.string_map(n, &p),
                None => Some(Vec::new()),
            };
            let body = match map.opt("body") {
                Some((n, p)) => cx.text(n, &p).map(Some),
                None => Some(None),
            };
            let timeout = opt_duration(cx, step, "timeout");
            Some(StepKind::Webhook {
                method: method?,
                url: url?,
                headers: headers?,
                body: body?,
                timeout: timeout?,
            })
        }
        "reconcile" => {
            let reconciliation = resolve_reconciliation(cx, value, path, defs.reconciliations);
            let repair = match step.opt("repair") {
                Some((n, p)) => cx.bool(n, &p),
                None => Some(false),
            };
            let min_parity = match step.opt("min_parity") {
                Some((n, p)) => cx.number(n, &p).and_then(|v| {
                    if (0.0..=1.0).contains(&v) {
                        Some(Some(v))
                    } else {
                        cx.error_hint(
                            n.span,
                            &p,
                            format!("min_parity {v} is outside 0..1"),
                            "parity is the share of rows that match: 1.0 means all",
                        );
                        None
                    }
                }),
                None => Some(None),
            };
            Some(StepKind::Reconcile {
                reconciliation: reconciliation?,
                repair: repair?,
                min_parity: min_parity?,
            })
        }
        _ => None,
    }
}

fn opt_duration(
    cx: &mut Cx<'_>,
    step: &MapReader<'_>,
    key: &str,
) -> Option<Option<std::time::Duration>> {
    match step.opt(key) {
        Some((n, p)) => cx.duration(n, &p).map(Some),
        None => Some(None),
    }
}

/// `canary: {provider, percents, soak, gates}` → for each percent, a
/// traffic step (or a flag step, for a flag provider with `key`) and a soak.
fn canary(cx: &mut Cx<'_>, value: &Node, path: &str, defs: &Defs<'_>) -> Vec<StepKind> {
    let what = "a canary step";
    let Some(map) = cx.map(value, path, what, CANARY_KEYS) else {
        return Vec::new();
    };
    let provider = map.req(cx, "provider", what).and_then(|(n, p)| {
        let name = cx.literal(n, &p)?;
        let is_flags = defs
            .providers
            .iter()
            .find(|pr| pr.name == name)
            .is_some_and(|pr| {
                // A provider that only sets flags, or one that also can and
                // is given a flag key.
                pr.capabilities() == [Capability::Flags]
                    || (map.has("key") && pr.capabilities().contains(&Capability::Flags))
            });
        let cap = if is_flags {
            Capability::Flags
        } else {
            Capability::Traffic
        };
        resolve_provider(cx, n, &p, defs.providers, cap, what).map(|name| (name, is_flags))
    });
    let key = match (map.opt("key"), &provider) {
        (Some((n, p)), Some((name, false))) => {
            cx.error_hint(
                n.span,
                &p,
                format!("'key' only applies to a canary through a flag provider, and '{name}' shifts traffic"),
                "remove 'key', or point the canary at a flag provider",
            );
            None
        }
        (Some((n, p)), _) => cx.literal(n, &p).map(Some),
        (None, Some((name, true))) => {
            cx.error_hint(
                map.key_span(),
                path,
                format!("a canary through flag provider '{name}' needs the flag's 'key'"),
                "add key: <flag name>",
            );
            None
        }
        (None, _) => Some(None),
    };
    let percents = map.req(cx, "percents", what).and_then(|(n, p)| {
        let items = cx.seq(n, &p)?;
        if items.is_empty() {
            cx.error(n.span, &p, "'percents' must list at least one percent");
            return None;
        }
        let mut out: Vec<Percent> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let ip = format!("{p}[{i}]");
            let Some(pc) = cx.percent(item, &ip) else {
                ok = false;
                continue;
            };
            if let Some(prev) = out.last() {
                if pc <= *prev {
                    let message = if pc == *prev {
                        format!("canary percents must go up, but {pc} is listed twice in a row")
                    } else {
                        format!("canary percents must go up: {pc} comes after {prev}")
                    };
                    cx.error_hint(
                        item.span,
                        &ip,
                        message,
                        "list them in increasing order, e.g. [1, 5, 25, 50, 100]",
                    );
                    ok = false;
                }
            }
            out.push(pc);
        }
        ok.then_some(out)
    });
    let soak = map
        .req(cx, "soak", what)
        .and_then(|(n, p)| cx.duration(n, &p));
    let gates = match map.opt("gates") {
        Some((n, p)) => gate_list(cx, n, &p, defs),
        None => {
            cx.warning(
                map.key_span(),
                path,
                "canary without gates: every soak only waits",
                Some("add gates: [...] so that a breach stops the rollout"),
            );
            Some(Vec::new())
        }
    };
    let (Some((provider, is_flags)), Some(key), Some(percents), Some(soak), Some(gates)) =
        (provider, key, percents, soak, gates)
    else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(percents.len() * 2);
    for percent in percents {
        out.push(match (&key, is_flags) {
            (Some(key), true) => StepKind::Flag {
                provider: provider.clone(),
                key: key.clone(),
                enabled: Some(true),
                percent: Some(percent),
            },
            _ => StepKind::Traffic {
                provider: provider.clone(),
                percent,
            },
        });
        out.push(StepKind::Soak {
            duration: soak,
            gates: gates.clone(),
        });
    }
    out
}
