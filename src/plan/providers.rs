//! `providers:` — named connections to the systems a migration drives.
//!
//! What is common to every provider (`type`, `timeout`, the check of its
//! keys) is decoded here; the rest by its type's declaration
//! ([`super::spec::ProviderSpec`]), with the field readers and the shared
//! pieces of the language below (URLs, TLS, HTTP request templates,
//! `{{placeholders}}`).

use super::decode::{did_you_mean, Cx, MapReader};
use super::jsonpath::JsonPath;
use super::model::{Headers, HttpRequest, Missing, Provider, Sticky, StickyKey, Tls};
use super::spec::{self, Config};
use super::text::Text;
use super::yaml::Node;

/// Keys every provider takes.
pub const COMMON_KEYS: &[&str] = &["type", "timeout"];
/// Keys of an `http` provider's `set` / `get` request.
pub const REQUEST_KEYS: &[&str] = &["method", "url", "body", "headers", "json_path"];
/// Keys of a traffic provider's `sticky`.
pub const STICKY_KEYS: &[&str] = &["header", "cookie", "missing"];

/// Placeholders an `exec`/`http` provider may use when setting a value.
pub const SET_PLACEHOLDERS: &[&str] = &["percent", "key", "enabled", "channel"];
/// Placeholders an `exec`/`http` provider may use when reading a value.
pub const GET_PLACEHOLDERS: &[&str] = &["key", "query", "channel"];

pub fn decode_all(cx: &mut Cx<'_>, node: &Node) -> Vec<Provider> {
    let Some(map) = cx.open_map(node, "providers", "providers") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name_node, value) in map.entries {
        let path = map.child_path(name_node.as_scalar().map_or("", |s| s.text.as_str()));
        let Some(name) = cx.definition_name(name_node, &path, "provider") else {
            continue;
        };
        match decode_one(cx, &name, value, &path) {
            Some(p) => out.push(p),
            None => {
                cx.broken.insert(format!("provider:{name}"));
            }
        }
    }
    out
}

fn decode_one(cx: &mut Cx<'_>, name: &str, node: &Node, path: &str) -> Option<Provider> {
    let what = format!("provider '{name}'");
    let mut map = cx.open_map(node, path, &what)?;
    let (type_node, type_path) = match map.get("type") {
        Some(n) => (n, map.child_path("type")),
        None => {
            cx.error_hint(
                map.key_span(),
                path,
                format!("provider '{name}' has no 'type'"),
                format!("add type: one of {}", spec::names(cx.catalog).join(", ")),
            );
            return None;
        }
    };
    let kind = cx.literal(type_node, &type_path)?;
    let types = spec::names(cx.catalog);
    let Some(spec) = spec::find(cx.catalog, &kind) else {
        let message = format!("unknown provider type '{kind}'");
        match did_you_mean(&kind, &types) {
            Some(s) => cx.error_hint(
                type_node.span,
                &type_path,
                message,
                format!("did you mean '{s}'?"),
            ),
            None => cx.error_hint(
                type_node.span,
                &type_path,
                message,
                format!("known types: {}", types.join(", ")),
            ),
        }
        return None;
    };
    let mut known: Vec<&str> = COMMON_KEYS.to_vec();
    known.extend(spec.key_names());
    map.check_known(cx, &known, &format!("{} provider", spec.with_article()));

    let timeout = map.opt("timeout").and_then(|(n, p)| cx.duration(n, &p));
    let what = format!("{kind} provider '{name}'");
    let r = Fields {
        map: &map,
        what: &what,
    };
    let config: Config = (spec.decode)(cx, &r)?;
    Some(Provider {
        name: name.to_string(),
        timeout,
        spec,
        config,
    })
}

/// A problem with a key that was already reported through [`Cx`]: the
/// value is unusable (an absent optional key is `Ok(None)`, not this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported;

/// Field readers for one provider map: "required" means a missing key is
/// reported against the provider.
pub struct Fields<'m, 'n> {
    pub map: &'m MapReader<'n>,
    /// The provider in words: "haproxy provider 'lb'".
    pub what: &'m str,
}

impl Fields<'_, '_> {
    pub fn text(&self, cx: &mut Cx<'_>, key: &str) -> Option<Text> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        cx.text(n, &p)
    }

    pub fn opt_text(&self, cx: &mut Cx<'_>, key: &str) -> Result<Option<Text>, Reported> {
        match self.map.opt(key) {
            Some((n, p)) => cx.text(n, &p).map(Some).ok_or(Reported),
            None => Ok(None),
        }
    }

    pub fn literal(&self, cx: &mut Cx<'_>, key: &str) -> Option<String> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        cx.literal(n, &p)
    }

    pub fn opt_literal(&self, cx: &mut Cx<'_>, key: &str) -> Result<Option<String>, Reported> {
        match self.map.opt(key) {
            Some((n, p)) => cx.literal(n, &p).map(Some).ok_or(Reported),
            None => Ok(None),
        }
    }

    pub fn servers(&self, cx: &mut Cx<'_>, key: &str) -> Option<Vec<String>> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        cx.one_or_many(n, &p)
    }

    pub fn headers(&self, cx: &mut Cx<'_>) -> Result<Vec<(String, Text)>, Reported> {
        match self.map.opt("headers") {
            Some((n, p)) => cx.string_map(n, &p).ok_or(Reported),
            None => Ok(Vec::new()),
        }
    }

    pub fn url(&self, cx: &mut Cx<'_>, key: &str, schemes: &[&str]) -> Option<Text> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        let t = cx.text(n, &p)?;
        check_scheme(cx, n, &p, &t, schemes).then_some(t)
    }

    pub fn tls(&self, cx: &mut Cx<'_>) -> Result<Tls, Reported> {
        let mut tls = Tls::default();
        if let Some((n, p)) = self.map.opt("insecure_skip_tls_verify") {
            tls.insecure_skip_verify = cx.bool(n, &p).ok_or(Reported)?;
            if tls.insecure_skip_verify {
                cx.warning(
                    n.span,
                    &p,
                    format!("TLS certificate verification is off for {}", self.what),
                    Some("anyone on the path can impersonate this system; use ca_file to trust a private CA instead"),
                );
            }
        }
        tls.ca_file = self.opt_text(cx, "ca_file")?;
        Ok(tls)
    }

    pub fn http_base(&self, cx: &mut Cx<'_>) -> Option<(Text, Headers, Tls)> {
        let url = self.url(cx, "url", &["http://", "https://"]);
        let headers = self.headers(cx);
        let tls = self.tls(cx);
        Some((url?, headers.ok()?, tls.ok()?))
    }
}

impl Fields<'_, '_> {
    /// The provider's `sticky` (absent: `Ok(None)`). `cookie` says whether
    /// the proxy can key on a cookie (`Err(why not)` otherwise).
    pub fn sticky(
        &self,
        cx: &mut Cx<'_>,
        cookie: Result<(), &str>,
    ) -> Result<Option<Sticky>, Reported> {
        let Some((node, path)) = self.map.opt("sticky") else {
            return Ok(None);
        };
        let what = format!("the sticky split of {}", self.what);
        let map = cx.map(node, &path, &what, STICKY_KEYS).ok_or(Reported)?;
        let name = |cx: &mut Cx<'_>, key: &str| -> Result<Option<String>, Reported> {
            let Some((n, p)) = map.opt(key) else {
                return Ok(None);
            };
            let v = cx.literal(n, &p).ok_or(Reported)?;
            if v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                Ok(Some(v))
            } else {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("'{v}' is not a {key} name migrate can key on"),
                    "use letters, digits, '-' and '_'",
                );
                Err(Reported)
            }
        };
        let header = name(cx, "header");
        let cookie_name = name(cx, "cookie");
        let missing = match map.opt("missing") {
            Some((n, p)) => cx
                .choice(
                    n,
                    &p,
                    &[("legacy", Missing::Legacy), ("split", Missing::Split)],
                )
                .ok_or(Reported),
            None => Ok(Missing::Legacy),
        };
        let key = match (header?, cookie_name?) {
            (Some(h), None) => StickyKey::Header(h),
            (None, Some(c)) => {
                if let Err(why) = cookie {
                    if let Some((n, p)) = map.opt("cookie") {
                        cx.error_hint(
                            n.span,
                            &p,
                            format!("{} cannot key a sticky split on a cookie: {why}", self.what),
                            "key it on a header (sticky: { header: NAME })",
                        );
                    }
                    return Err(Reported);
                }
                StickyKey::Cookie(c)
            }
            (Some(_), Some(_)) => {
                cx.error_hint(
                    map.key_span(),
                    &path,
                    format!("{what} has both 'header' and 'cookie'"),
                    "a request's key is read from one place: give one of them",
                );
                return Err(Reported);
            }
            (None, None) => {
                cx.error_hint(
                    map.key_span(),
                    &path,
                    format!("{what} names no key"),
                    "e.g. sticky: { header: X-Customer }",
                );
                return Err(Reported);
            }
        };
        Ok(Some(Sticky {
            key,
            missing: missing?,
        }))
    }

    /// Report a `sticky` this provider type cannot honour: `why` names
    /// the guarantee it cannot give, `instead` what to do.
    pub fn refuse_sticky(&self, cx: &mut Cx<'_>, why: &str, instead: &str) -> Option<()> {
        let Some((node, path)) = self.map.opt("sticky") else {
            return Some(());
        };
        let span = self
            .map
            .entries
            .iter()
            .find(|(k, _)| k.as_scalar().is_some_and(|s| s.text == "sticky"))
            .map_or(node.span, |(k, _)| k.span);
        cx.error_hint(
            span,
            &path,
            format!("{} cannot split traffic by customer: {why}", self.what),
            instead.to_string(),
        );
        None
    }
}

pub fn check_scheme(cx: &mut Cx<'_>, node: &Node, path: &str, t: &Text, schemes: &[&str]) -> bool {
    let value = t.expose();
    if schemes.iter().any(|s| value.starts_with(s)) {
        return true;
    }
    cx.error_hint(
        node.span,
        path,
        format!(
            "'{}' must be a URL starting with {}",
            path.rsplit('.').next().unwrap_or(path),
            schemes.join(" or ")
        ),
        if t.is_secret() {
            "the value comes from the environment; check the variable".to_string()
        } else {
            format!("for example {}host:port", schemes[0])
        },
    );
    false
}

pub fn overlap(
    cx: &mut Cx<'_>,
    r: &Fields<'_, '_>,
    legacy: &[String],
    candidate: &[String],
) -> Option<()> {
    if let Some(both) = legacy.iter().find(|s| candidate.contains(s)) {
        if let Some((n, p)) = r.map.opt("candidate") {
            cx.error(
                n.span,
                &p,
                format!("'{both}' is both legacy and candidate in {}", r.what),
            );
        }
        return None;
    }
    Some(())
}

pub fn request(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    default_method: &str,
    placeholders: &[&str],
) -> Option<HttpRequest> {
    let map = cx.map(node, path, "an HTTP request", REQUEST_KEYS)?;
    let what = "an HTTP request";
    let url = map.req(cx, "url", what).and_then(|(n, p)| {
        let t = cx.text(n, &p)?;
        check_placeholders(cx, n, &p, placeholders);
        check_scheme(cx, n, &p, &t, &["http://", "https://"]).then_some(t)
    });
    let method = match map.opt("method") {
        Some((n, p)) => cx.literal(n, &p).and_then(|m| {
            let m = m.to_ascii_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                Some(m)
            } else {
                cx.error(
                    n.span,
                    &p,
                    format!(
                        "'{m}' is not an HTTP method migrate sends (GET, POST, PUT, PATCH, DELETE)"
                    ),
                );
                None
            }
        }),
        None => Some(default_method.to_string()),
    };
    let body = match map.opt("body") {
        Some((n, p)) => cx.text(n, &p).map(|t| {
            check_placeholders(cx, n, &p, placeholders);
            Some(t)
        }),
        None => Some(None),
    };
    let headers = match map.opt("headers") {
        Some((n, p)) => cx.string_map(n, &p),
        None => Some(Vec::new()),
    };
    let json_path = match map.opt("json_path") {
        Some((n, p)) => cx.literal(n, &p).and_then(|t| match JsonPath::parse(&t) {
            Ok(jp) => Some(Some(jp)),
            Err(e) => {
                cx.error_hint(
                    n.span,
                    &p,
                    format!("invalid json_path: {e}"),
                    "e.g. $.data.candidate",
                );
                None
            }
        }),
        None => Some(None),
    };
    Some(HttpRequest {
        method: method?,
        url: url?,
        body: body?,
        headers: headers?,
        json_path: json_path?,
    })
}

/// `{{name}}` placeholders must be ones the provider fills in.
pub fn check_placeholders(cx: &mut Cx<'_>, node: &Node, path: &str, allowed: &[&str]) {
    let Some(text) = node.as_scalar().map(|s| s.text.as_str()) else {
        return;
    };
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            cx.error(node.span, path, "'{{' is not closed by '}}'");
            return;
        };
        let name = after[..end].trim();
        if !allowed.contains(&name) {
            let message = format!("unknown placeholder '{{{{{name}}}}}' here");
            match did_you_mean(name, allowed) {
                Some(s) => cx.error_hint(
                    node.span,
                    path,
                    message,
                    format!("did you mean '{{{{{s}}}}}'?"),
                ),
                None => cx.error_hint(
                    node.span,
                    path,
                    message,
                    format!(
                        "placeholders here: {}",
                        allowed
                            .iter()
                            .map(|a| format!("{{{{{a}}}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        rest = &after[end + 2..];
    }
}
