//! The supervisor's page in a real browser: headless Chromium loads the
//! page of a supervisor watching a canary soaking on a real HAProxy, gated
//! by a metric the test controls, and the test reads the DOM the page's
//! script built: the migration, the current step, the gate with its latest
//! value, the live share; then, the metric turned bad, the breach and the
//! rollback. The API serves the same data as JSON, read-only, and behind
//! the token when one is set.
//!
//! `UPDATE_SCREENSHOT=1` saves the screenshot this run takes as
//! docs/images/supervise-page.png.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::supervise::{run, wait, Canary, Supervisor};

/// Debian's `chromium` (scripts/test installs it), or `$CHROMIUM`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: these tests drive a real browser (apt-get install chromium; scripts/test does)",
        path.display()
    );
    path
}

/// Run headless Chromium on `url` with `args` (its output to a file),
/// bounded: killed after a minute. Its stdout.
fn browse(url: &str, args: &[String]) -> String {
    let profile = tempfile::Builder::new()
        .prefix("migrate-chromium-")
        .tempdir()
        .unwrap();
    let out_path = profile.path().join("stdout");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish with {url} in a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&out_path).unwrap_or_default()
}

/// The DOM the page's script built.
fn dom(url: &str) -> String {
    browse(url, &["--dump-dom".to_string()])
}

/// Load the page until `ready` holds for its DOM (bounded); that DOM.
fn dom_until(url: &str, what: &str, mut ready: impl FnMut(&str) -> bool) -> String {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(120) {
        last = dom(url);
        if ready(&last) {
            return last;
        }
    }
    panic!("the page never showed {what}; its last DOM:\n{last}");
}

/// The start tag of the first element whose tag holds `needle`.
fn tag<'a>(dom: &'a str, needle: &str) -> Option<&'a str> {
    let at = dom.find(needle)?;
    let open = dom[..at].rfind('<')?;
    let close = at + dom[at..].find('>')?;
    Some(&dom[open..=close])
}

/// The text of the element whose start tag holds `needle`, up to its
/// first child's end (enough for a leaf).
fn text_of<'a>(dom: &'a str, needle: &str) -> Option<&'a str> {
    let t = tag(dom, needle)?;
    let start = dom.find(t)? + t.len();
    let end = start + dom[start..].find('<')?;
    Some(&dom[start..end])
}

/// A raw HTTP/1.0 request: status, head, body.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn api(port: u16, path: &str) -> Value {
    let (status, _, body) = request(port, "GET", path, &[]);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn current_step(dir: &Path) -> String {
    let (code, text) = run(dir, &[], &["-o", "json", "status"]);
    assert_eq!(code, 0, "{text}");
    let status: Value = text
        .lines()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v["type"] == "status")
        })
        .unwrap();
    status["current"]["id"].as_str().unwrap().to_string()
}

#[test]
fn the_page_shows_a_live_canary_its_gate_and_the_rollback_in_a_real_browser() {
    chromium();
    let canary = Canary::start("");
    let dir = canary.path();
    // An operator starts the canary: 25% and the soak.
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "waiting in the soak: {text}");
    assert_eq!(canary.weight_share(), 25.0);
    let soak = current_step(dir);

    let sup = Supervisor::start(dir, "sup", &[], &[]);
    sup.wait_health("ok active");
    let url = format!("http://127.0.0.1:{}/", sup.port);

    // Healthy readings that move a little, so the chart has a shape.
    let values = [0.012, 0.018, 0.009, 0.021, 0.015, 0.011];
    let mut turn = 0;
    let page = dom_until(&url, "the soak, its gate and the live share", |dom| {
        turn += 1;
        canary.metric.set(values[turn % values.len()]);
        dom.contains("data-migration=\"payments-canary\"")
            && dom.contains(&format!("data-current-step=\"{soak}\""))
            && tag(dom, "data-gate=\"errors\"").is_some_and(|t| t.contains("data-ok=\"true\""))
            && tag(dom, "data-target=\"traffic via lb\"").is_some()
            && dom.contains("class=\"live-value\">25%<")
            && dom.matches("data-event=").count() >= 3
    });
    let migration = tag(&page, "data-migration=\"payments-canary\"").unwrap();
    assert!(
        migration.contains("data-condition=\"soaking\""),
        "{migration}"
    );
    let step = tag(&page, &format!("data-step=\"{soak}\"")).unwrap();
    assert!(step.contains("data-place=\"current\""), "{step}");
    // The gate with its latest value, within the threshold, on a chart.
    let gate = tag(&page, "data-gate=\"errors\"").unwrap();
    let shown: f64 = gate
        .split("data-value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value on the gate: {gate}"));
    assert!(values.contains(&shown) || shown == 0.0, "{gate}");
    assert!(page.contains("threshold ≤ 0.05"), "{page}");
    assert!(page.contains("class=\"chart-threshold\""), "{page}");
    assert!(page.contains("class=\"chart-line\""), "{page}");
    assert!(
        page.contains("data-soak=\""),
        "the soak's remaining time: {page}"
    );
    // The journal, newest first: the soak started after the traffic step.
    let started = page.find("data-event=\"soak_started\"").unwrap();
    let verified = page.find("data-event=\"verified\"").unwrap();
    assert!(started < verified, "newest first");

    // Readings accumulate (a dozen, for the chart and the screenshot).
    wait("a dozen readings of the gate", || {
        turn += 1;
        canary.metric.set(values[turn % values.len()]);
        std::thread::sleep(Duration::from_millis(200));
        let m = api(sup.port, "/api/v1/migrations/payments-canary");
        m["gates"][0]["readings"]
            .as_array()
            .is_some_and(|r| r.len() >= 12)
    });

    // The same data as JSON.
    let list = api(sup.port, "/api/v1/migrations");
    assert_eq!(list["schema"], "migrate.supervise.page/v1");
    assert_eq!(list["supervisor"]["role"], "active");
    assert_eq!(list["migrations"][0]["name"], "payments-canary");
    assert_eq!(list["migrations"][0]["condition"], "soaking");
    let m = api(sup.port, "/api/v1/migrations/payments-canary");
    assert_eq!(m["step"], soak.as_str());
    assert!(m["soak"]["remaining_ms"].as_u64().unwrap() > 0, "{m:#}");
    let g = &m["gates"][0];
    assert_eq!(g["name"], "errors");
    assert_eq!(g["max"], 0.05);
    assert!(!g["readings"].as_array().unwrap().is_empty(), "{g:#}");
    assert_eq!(m["targets"]["items"][0]["live_percent"], 25.0, "{m:#}");
    assert_eq!(m["targets"]["items"][0]["drift"], false, "{m:#}");

    // The metric goes bad: the breach, the rollback, on the page.
    canary.metric.set(0.5);
    wait("HAProxy to send nothing to the candidate", || {
        canary.haproxy.weight("new").unwrap() == 0
    });
    let page = dom_until(&url, "the breach and the rollback", |dom| {
        dom.contains("data-condition=\"rolled_back\"")
            && dom.contains("data-rollback=\"finished\"")
            && dom.contains("data-event=\"rollback_finished\"")
            && dom.contains("class=\"live-value\">0%<")
    });
    let gate = tag(&page, "data-gate=\"errors\"").unwrap();
    assert!(gate.contains("data-ok=\"false\""), "{gate}");
    assert!(gate.contains("data-value=\"0.5\""), "{gate}");
    assert_eq!(
        text_of(&page, "class=\"gate-value\"").map(str::trim),
        Some("0.5")
    );
    assert!(
        page.contains("data-trip=\"errors\""),
        "the trip, marked: {page}"
    );
    assert!(page.contains("class=\"chart-trip\""), "{page}");
    assert!(page.contains("class=\"chart-bad\""), "{page}");
    let rollback = tag(&page, "data-event=\"rollback_started\"").unwrap();
    assert!(rollback.contains("data-mark=\"rollback\""), "{rollback}");
    let breach = tag(&page, "data-event=\"breach\"").unwrap();
    assert!(breach.contains("data-mark=\"breach\""), "{breach}");

    // A screenshot of that page.
    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("page.png");
    browse(
        &url,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1600".to_string(),
        ],
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let to = crate::support::root().join("docs/images/supervise-page.png");
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(&to, &bytes).unwrap();
    }
    let (code, log) = sup.terminate();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn the_page_and_its_api_are_read_only_guarded_and_hold_no_secret() {
    const TOKEN: &str = "page-Tok-51-never-shown";
    let canary = Canary::start("");
    let dir = canary.path();
    let (code, text) = run(dir, &[], &["advance"]);
    assert_eq!(code, 4, "{text}");
    let sup = Supervisor::start(dir, "sup", &[("MIGRATE_SUPERVISE_TOKEN", TOKEN)], &[]);
    sup.wait_health("ok active");
    let port = sup.port;
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];

    // No token: asked for (a browser prompts), everywhere but /healthz.
    for path in ["/", "/api/v1/migrations", "/assets/page.js", "/metrics"] {
        let (status, head, body) = request(port, "GET", path, &[]);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(head.contains("www-authenticate: basic realm="), "{head}");
        assert!(!body.contains(TOKEN));
    }
    let (status, _, _) = request(port, "GET", "/", &[("Authorization", "Bearer wrong")]);
    assert_eq!(status, 401);
    assert_eq!(request(port, "GET", "/healthz", &[]).0, 200);

    // With it: the page, under a strict content security policy.
    let (status, head, body) = request(port, "GET", "/", &auth);
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(body.contains("assets/page.js"), "{body}");
    assert!(!body.contains("<script>"), "no inline script: {body}");
    let (status, head, js) = request(port, "GET", "/assets/page.js", &auth);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(!js.contains("innerHTML"), "data goes in as text only");
    // Basic authentication (what a browser sends): the token as password.
    // "ops:page-Tok-51-never-shown" in base64.
    let basic = [(
        "Authorization",
        "Basic b3BzOnBhZ2UtVG9rLTUxLW5ldmVyLXNob3du",
    )];
    assert_eq!(request(port, "GET", "/api/v1/migrations", &basic).0, 200);

    // Read-only: anything but GET is refused, and changes nothing.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let (status, head, _) = request(port, method, "/api/v1/migrations/payments-canary", &auth);
        assert_eq!(status, 405, "{method}");
        assert!(head.contains("allow: get, head"), "{head}");
    }
    let (status, _, body) = request(port, "GET", "/api/v1/migrations/nothing-here", &auth);
    assert_eq!(status, 404, "{body}");

    // The data holds no secret: the token is nowhere, not in the log either.
    wait("the journal on the API", || {
        let (_, _, body) = request(port, "GET", "/api/v1/migrations/payments-canary", &auth);
        serde_json::from_str::<Value>(&body)
            .is_ok_and(|m| m["journal"].as_array().is_some_and(|j| !j.is_empty()))
    });
    let (_, _, body) = request(port, "GET", "/api/v1/migrations/payments-canary", &auth);
    assert!(!body.contains(TOKEN), "{body}");
    let (code, log) = sup.terminate();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}
