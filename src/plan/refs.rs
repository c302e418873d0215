//! Resolving names used in the plan (providers, gates, reconciliations) to
//! their definitions, checking that a provider can do what is asked of it.

use super::decode::{did_you_mean, Cx};
use super::model::{Capability, Gate, Provider, Reconciliation};
use super::spec;
use super::yaml::Node;

fn unknown(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    what: &str,
    name: &str,
    section: &str,
    known: &[&str],
) {
    let message = format!("unknown {what} '{name}'");
    match did_you_mean(name, known) {
        Some(s) => cx.error_hint(node.span, path, message, format!("did you mean '{s}'?")),
        None if known.is_empty() => cx.error_hint(
            node.span,
            path,
            message,
            format!("the plan defines no {what}s: add one under '{section}:'"),
        ),
        None => cx.error_hint(
            node.span,
            path,
            message,
            format!("defined under '{section}:': {}", known.join(", ")),
        ),
    }
}

/// The name of a provider that exists and offers `cap`; `user` says what
/// needs it ("a traffic step").
pub fn resolve_provider(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    providers: &[Provider],
    cap: Capability,
    user: &str,
) -> Option<String> {
    let name = cx.literal(node, path)?;
    let Some(provider) = providers.iter().find(|p| p.name == name) else {
        if cx.broken.contains(&format!("provider:{name}")) {
            return None;
        }
        let known: Vec<&str> = providers
            .iter()
            .filter(|p| p.capabilities().contains(&cap))
            .map(|p| p.name.as_str())
            .collect();
        unknown(cx, node, path, "provider", &name, "providers", &known);
        return None;
    };
    if !provider.capabilities().contains(&cap) {
        let why = provider
            .config
            .limited_because()
            .map_or_else(String::new, |w| format!("; {w}"));
        cx.error_hint(
            node.span,
            path,
            format!(
                "provider '{name}' is {} provider, which {}{why}; {user} needs one that {}",
                provider.spec.with_article(),
                provider
                    .capabilities()
                    .first()
                    .map_or("does nothing", |c| c.noun()),
                cap.noun()
            ),
            format!(
                "provider types that can: {}",
                spec::types_with(cx.catalog, cap)
            ),
        );
        return None;
    }
    if let Some(key) = provider.config.missing_for(cap) {
        cx.error_hint(
            node.span,
            path,
            format!("provider '{name}' cannot {}: it has no '{key}'", cap.verb()),
            format!("add {key} to provider '{name}'"),
        );
        return None;
    }
    Some(name)
}

pub fn resolve_gate(cx: &mut Cx<'_>, node: &Node, path: &str, gates: &[Gate]) -> Option<String> {
    let name = cx.literal(node, path)?;
    if gates.iter().any(|g| g.name == name) {
        return Some(name);
    }
    if cx.broken.contains(&format!("gate:{name}")) {
        return None;
    }
    let known: Vec<&str> = gates.iter().map(|g| g.name.as_str()).collect();
    unknown(cx, node, path, "gate", &name, "gates", &known);
    None
}

pub fn resolve_reconciliation(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    reconciliations: &[Reconciliation],
) -> Option<String> {
    let name = cx.literal(node, path)?;
    if reconciliations.iter().any(|r| r.name == name) {
        return Some(name);
    }
    if cx.broken.contains(&format!("reconciliation:{name}")) {
        return None;
    }
    let known: Vec<&str> = reconciliations.iter().map(|r| r.name.as_str()).collect();
    unknown(
        cx,
        node,
        path,
        "reconciliation",
        &name,
        "reconciliations",
        &known,
    );
    None
}
