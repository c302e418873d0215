//! `providers:` — named connections to the systems a migration drives.

use super::decode::{did_you_mean, Cx, MapReader};
use super::jsonpath::JsonPath;
use super::model::{
    Database, Endpoint, Envoy, Exec, Flagd, Haproxy, Headers, Http, HttpRequest, LaunchDarkly,
    Nginx, Prometheus, Provider, ProviderKind, Scrape, Sqlite, Tls, Traefik, Unleash,
};
use super::text::Text;
use super::yaml::Node;

pub const TYPES: &[&str] = &[
    "haproxy",
    "nginx",
    "envoy",
    "traefik",
    "http",
    "exec",
    "unleash",
    "flagd",
    "launchdarkly",
    "prometheus",
    "scrape",
    "postgres",
    "mysql",
    "sqlite",
];

/// Keys every provider takes.
pub const COMMON_KEYS: &[&str] = &["type", "timeout"];
/// Keys of providers reached over HTTP(S).
pub const TLS_KEYS: &[&str] = &["insecure_skip_tls_verify", "ca_file"];
/// Keys of an `http` provider's `set` / `get` request.
pub const REQUEST_KEYS: &[&str] = &["method", "url", "body", "headers", "json_path"];

/// The keys a provider of `type` takes besides [`COMMON_KEYS`].
pub fn keys_for(kind: &str) -> &'static [&'static str] {
    match kind {
        "haproxy" => &[
            "socket",
            "address",
            "backend",
            "legacy",
            "candidate",
            "state_file",
        ],
        "nginx" => &[
            "file",
            "reload",
            "test",
            "upstream",
            "legacy",
            "candidate",
            "mirror_variable",
        ],
        "envoy" => &[
            "admin",
            "runtime_key_prefix",
            "legacy",
            "candidate",
            "mirror_key",
            "headers",
            "insecure_skip_tls_verify",
            "ca_file",
        ],
        "traefik" => &["file", "service", "legacy", "candidate", "mirror_service"],
        "http" => &[
            "set",
            "get",
            "headers",
            "insecure_skip_tls_verify",
            "ca_file",
        ],
        "exec" => &["set", "get", "env"],
        "unleash" | "launchdarkly" => &[
            "url",
            "token",
            "project",
            "environment",
            "insecure_skip_tls_verify",
            "ca_file",
        ],
        "flagd" => &["file"],
        "prometheus" | "scrape" => &["url", "headers", "insecure_skip_tls_verify", "ca_file"],
        "postgres" | "mysql" => &["url"],
        "sqlite" => &["path"],
        _ => &[],
    }
}

/// "an nginx", "a haproxy": a provider type with the article it is read with.
pub fn with_article(kind: &str) -> String {
    let an = matches!(
        kind.as_bytes().first(),
        Some(b'a' | b'e' | b'i' | b'o' | b'u')
    ) || matches!(kind, "nginx" | "http");
    format!("{} {kind}", if an { "an" } else { "a" })
}

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
                format!("add type: one of {}", TYPES.join(", ")),
            );
            return None;
        }
    };
    let kind = cx.literal(type_node, &type_path)?;
    if !TYPES.contains(&kind.as_str()) {
        let message = format!("unknown provider type '{kind}'");
        match did_you_mean(&kind, TYPES) {
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
                format!("known types: {}", TYPES.join(", ")),
            ),
        }
        return None;
    }
    let mut known: Vec<&str> = COMMON_KEYS.to_vec();
    known.extend_from_slice(keys_for(&kind));
    map.check_known(cx, &known, &format!("{} provider", with_article(&kind)));

    let timeout = map.opt("timeout").and_then(|(n, p)| cx.duration(n, &p));
    let what = format!("{kind} provider '{name}'");
    let r = Fields {
        map: &map,
        what: &what,
    };
    let kind = match kind.as_str() {
        "haproxy" => haproxy(cx, &r),
        "nginx" => nginx(cx, &r),
        "envoy" => envoy(cx, &r),
        "traefik" => traefik(cx, &r),
        "http" => http(cx, &r),
        "exec" => exec(cx, &r),
        "unleash" => unleash(cx, &r),
        "flagd" => Some(ProviderKind::Flagd(Flagd {
            file: r.text(cx, "file")?,
        })),
        "launchdarkly" => launchdarkly(cx, &r),
        "prometheus" => {
            let (url, headers, tls) = r.http_base(cx)?;
            Some(ProviderKind::Prometheus(Prometheus { url, headers, tls }))
        }
        "scrape" => {
            let (url, headers, tls) = r.http_base(cx)?;
            Some(ProviderKind::Scrape(Scrape { url, headers, tls }))
        }
        "postgres" => Some(ProviderKind::Postgres(Database {
            url: r.url(cx, "url", &["postgres://", "postgresql://"])?,
        })),
        "mysql" => Some(ProviderKind::Mysql(Database {
            url: r.url(cx, "url", &["mysql://", "mariadb://"])?,
        })),
        "sqlite" => Some(ProviderKind::Sqlite(Sqlite {
            path: r.text(cx, "path")?,
        })),
        _ => None,
    }?;
    Some(Provider {
        name: name.to_string(),
        timeout,
        kind,
    })
}

/// Field readers for one provider map: "required" means a missing key is
/// reported against the provider.
struct Fields<'m, 'n> {
    map: &'m MapReader<'n>,
    what: &'m str,
}

impl Fields<'_, '_> {
    fn text(&self, cx: &mut Cx<'_>, key: &str) -> Option<Text> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        cx.text(n, &p)
    }

    fn opt_text(&self, cx: &mut Cx<'_>, key: &str) -> Result<Option<Text>, ()> {
        match self.map.opt(key) {
            Some((n, p)) => cx.text(n, &p).map(Some).ok_or(()),
            None => Ok(None),
        }
    }

    fn literal(&self, cx: &mut Cx<'_>, key: &str) -> Option<String> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        cx.literal(n, &p)
    }

    fn opt_literal(&self, cx: &mut Cx<'_>, key: &str) -> Result<Option<String>, ()> {
        match self.map.opt(key) {
            Some((n, p)) => cx.literal(n, &p).map(Some).ok_or(()),
            None => Ok(None),
        }
    }

    fn servers(&self, cx: &mut Cx<'_>, key: &str) -> Option<Vec<String>> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        cx.one_or_many(n, &p)
    }

    fn headers(&self, cx: &mut Cx<'_>) -> Result<Vec<(String, Text)>, ()> {
        match self.map.opt("headers") {
            Some((n, p)) => cx.string_map(n, &p).ok_or(()),
            None => Ok(Vec::new()),
        }
    }

    fn url(&self, cx: &mut Cx<'_>, key: &str, schemes: &[&str]) -> Option<Text> {
        let (n, p) = self.map.req(cx, key, self.what)?;
        let t = cx.text(n, &p)?;
        check_scheme(cx, n, &p, &t, schemes).then_some(t)
    }

    fn tls(&self, cx: &mut Cx<'_>) -> Result<Tls, ()> {
        let mut tls = Tls::default();
        if let Some((n, p)) = self.map.opt("insecure_skip_tls_verify") {
            tls.insecure_skip_verify = cx.bool(n, &p).ok_or(())?;
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

    fn http_base(&self, cx: &mut Cx<'_>) -> Option<(Text, Headers, Tls)> {
        let url = self.url(cx, "url", &["http://", "https://"]);
        let headers = self.headers(cx);
        let tls = self.tls(cx);
        Some((url?, headers.ok()?, tls.ok()?))
    }
}

fn check_scheme(cx: &mut Cx<'_>, node: &Node, path: &str, t: &Text, schemes: &[&str]) -> bool {
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

fn haproxy(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let endpoint = match (r.map.opt("socket"), r.map.opt("address")) {
        (Some((n, p)), None) => cx.text(n, &p).map(Endpoint::Socket),
        (None, Some((n, p))) => cx.text(n, &p).map(Endpoint::Address),
        (Some(_), Some((n, p))) => {
            cx.error_hint(
                n.span,
                &p,
                format!("{} has both 'socket' and 'address'", r.what),
                "give the admin socket path or a host:port, not both",
            );
            None
        }
        (None, None) => {
            cx.error_hint(
                r.map.key_span(),
                &r.map.path,
                format!("{} needs 'socket' (admin socket path) or 'address' (host:port of the runtime API)", r.what),
                "e.g. socket: /run/haproxy/admin.sock",
            );
            None
        }
    };
    let backend = r.literal(cx, "backend");
    let legacy = r.servers(cx, "legacy");
    let candidate = r.servers(cx, "candidate");
    let state_file = r.opt_text(cx, "state_file");
    let (legacy, candidate) = (legacy?, candidate?);
    overlap(cx, r, &legacy, &candidate)?;
    Some(ProviderKind::Haproxy(Haproxy {
        endpoint: endpoint?,
        backend: backend?,
        legacy,
        candidate,
        state_file: state_file.ok()?,
    }))
}

fn overlap(
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

fn nginx(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let file = r.text(cx, "file");
    let reload = r
        .map
        .req(cx, "reload", r.what)
        .and_then(|(n, p)| cx.argv(n, &p));
    let test = match r.map.opt("test") {
        Some((n, p)) => cx.argv(n, &p).map(Some),
        None => Some(None),
    };
    let upstream = r.literal(cx, "upstream");
    let legacy = r.servers(cx, "legacy");
    let candidate = r.servers(cx, "candidate");
    let mirror_variable = match r.map.opt("mirror_variable") {
        Some((n, p)) => cx.literal(n, &p).and_then(|v| {
            let v = v.trim_start_matches('$').to_string();
            if v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                Some(v)
            } else {
                cx.error(
                    n.span,
                    &p,
                    "an nginx variable name holds letters, digits and '_'",
                );
                None
            }
        }),
        None => Some("migrate_mirror".to_string()),
    };
    let (legacy, candidate) = (legacy?, candidate?);
    overlap(cx, r, &legacy, &candidate)?;
    Some(ProviderKind::Nginx(Nginx {
        file: file?,
        reload: reload?,
        test: test?,
        upstream: upstream?,
        legacy,
        candidate,
        mirror_variable: mirror_variable?,
    }))
}

fn envoy(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let admin = r.url(cx, "admin", &["http://", "https://"]);
    let prefix = r.literal(cx, "runtime_key_prefix");
    let legacy = r.literal(cx, "legacy");
    let candidate = r.literal(cx, "candidate");
    let mirror_key = r.opt_literal(cx, "mirror_key");
    let headers = r.headers(cx);
    let tls = r.tls(cx);
    Some(ProviderKind::Envoy(Envoy {
        admin: admin?,
        runtime_key_prefix: prefix?,
        legacy: legacy?,
        candidate: candidate?,
        mirror_key: mirror_key.ok()?,
        headers: headers.ok()?,
        tls: tls.ok()?,
    }))
}

fn traefik(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let file = r.text(cx, "file");
    let service = r.literal(cx, "service");
    let legacy = r.literal(cx, "legacy");
    let candidate = r.literal(cx, "candidate");
    let mirror_service = r.opt_literal(cx, "mirror_service");
    Some(ProviderKind::Traefik(Traefik {
        file: file?,
        service: service?,
        legacy: legacy?,
        candidate: candidate?,
        mirror_service: mirror_service.ok()?,
    }))
}

fn request(
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

fn http(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let set = match r.map.opt("set") {
        Some((n, p)) => request(cx, n, &p, "PUT", SET_PLACEHOLDERS).map(Some),
        None => Some(None),
    };
    let get = r
        .map
        .req(cx, "get", r.what)
        .and_then(|(n, p)| request(cx, n, &p, "GET", GET_PLACEHOLDERS));
    let headers = r.headers(cx);
    let tls = r.tls(cx);
    Some(ProviderKind::Http(Box::new(Http {
        set: set?,
        get: get?,
        headers: headers.ok()?,
        tls: tls.ok()?,
    })))
}

fn exec(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let argv = |cx: &mut Cx<'_>, n: &Node, p: &str, allowed: &[&str]| {
        let v = cx.argv(n, p)?;
        if let Some(items) = cx.seq(n, p) {
            for (i, item) in items.iter().enumerate() {
                check_placeholders(cx, item, &format!("{p}[{i}]"), allowed);
            }
        }
        Some(v)
    };
    let set = match r.map.opt("set") {
        Some((n, p)) => argv(cx, n, &p, SET_PLACEHOLDERS).map(Some),
        None => Some(None),
    };
    let get = r
        .map
        .req(cx, "get", r.what)
        .and_then(|(n, p)| argv(cx, n, &p, GET_PLACEHOLDERS));
    let env = match r.map.opt("env") {
        Some((n, p)) => cx.string_map(n, &p),
        None => Some(Vec::new()),
    };
    Some(ProviderKind::Exec(Exec {
        set: set?,
        get: get?,
        env: env?,
    }))
}

fn unleash(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let url = r.url(cx, "url", &["http://", "https://"]);
    let token = r.text(cx, "token");
    let project = r.opt_literal(cx, "project");
    let environment = r.literal(cx, "environment");
    let tls = r.tls(cx);
    Some(ProviderKind::Unleash(Unleash {
        url: url?,
        token: token?,
        project: project.ok()?.unwrap_or_else(|| "default".to_string()),
        environment: environment?,
        tls: tls.ok()?,
    }))
}

fn launchdarkly(cx: &mut Cx<'_>, r: &Fields<'_, '_>) -> Option<ProviderKind> {
    let url = match r.map.opt("url") {
        Some((n, p)) => cx
            .text(n, &p)
            .filter(|t| check_scheme(cx, n, &p, t, &["http://", "https://"])),
        None => Some(Text::literal("https://app.launchdarkly.com")),
    };
    let token = r.text(cx, "token");
    let project = r.literal(cx, "project");
    let environment = r.literal(cx, "environment");
    let tls = r.tls(cx);
    Some(ProviderKind::LaunchDarkly(LaunchDarkly {
        url: url?,
        token: token?,
        project: project?,
        environment: environment?,
        tls: tls.ok()?,
    }))
}

/// `{{name}}` placeholders must be ones the provider fills in.
fn check_placeholders(cx: &mut Cx<'_>, node: &Node, path: &str, allowed: &[&str]) {
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
