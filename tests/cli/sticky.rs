//! Customer-consistent splits (`sticky`) through real proxies, driven by
//! the real `migrate` binary: at every step of 1, 5, 10, 25, 50 and 100%
//! and after the rollback, 10,000 customers send 3 requests each. No
//! customer's requests are split within a step, no customer goes back from
//! the candidate to legacy as the share grows, the candidate's share of
//! customers is the plan's within a point, the rollback puts every
//! customer back on legacy, and requests without the key follow the plan's
//! `missing` rule. A threshold changed by hand is drift.

use std::path::{Path, PathBuf};

use testbed::envoy::{Envoy, Route};
use testbed::haproxy::{Haproxy, Server as HaServer};
use testbed::keepalive::{load, Upstream};
use testbed::nginx::Nginx;

use crate::support;

/// Where the customer's key travels.
#[derive(Clone, Copy)]
enum Key {
    /// `X-Customer: customer-7`.
    Header,
    /// `Cookie: customer=customer-7`.
    Cookie,
}

impl Key {
    /// The plan's `sticky` key.
    fn plan(self) -> &'static str {
        match self {
            Key::Header => "header: X-Customer",
            Key::Cookie => "cookie: customer",
        }
    }

    /// The request header carrying `key`, and its value.
    fn header(self) -> &'static str {
        match self {
            Key::Header => "X-Customer",
            Key::Cookie => "Cookie",
        }
    }

    fn value(self, key: &str) -> String {
        match self {
            Key::Header => key.to_string(),
            Key::Cookie => format!("customer={key}"),
        }
    }

    /// HAProxy's sample fetch of the key.
    fn haproxy(self) -> &'static str {
        match self {
            Key::Header => "req.hdr(X-Customer)",
            Key::Cookie => "req.cook(customer)",
        }
    }

    /// nginx's variable holding the key.
    fn nginx(self) -> &'static str {
        match self {
            Key::Header => "http_x_customer",
            Key::Cookie => "cookie_customer",
        }
    }
}
const STEPS: [f64; 6] = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0];
const REPEAT: usize = 3;
/// Concurrent kept-alive connections to the proxy.
const CONNECTIONS: usize = 8;

/// A proxy under test, set up as docs/providers.md tells an operator.
trait Proxy {
    fn name(&self) -> &'static str;
    fn port(&self) -> u16;
    fn key(&self) -> Key;
    /// The plan's `providers.lb`.
    fn provider(&self, missing: &str) -> String;
    /// Run `migrate` and wait until the proxy serves what it set.
    fn migrate(&self, plan: &Path, args: &[&str], code: i32) -> String;
    /// Change the sticky threshold by hand, as an operator might.
    fn hand_set(&self, percent: f64);
}

struct Scenario {
    legacy: Upstream,
    candidate: Upstream,
    dir: tempfile::TempDir,
}

impl Scenario {
    fn new() -> Self {
        Self {
            legacy: Upstream::start("legacy").unwrap(),
            candidate: Upstream::start("candidate").unwrap(),
            dir: tempfile::Builder::new()
                .prefix("migrate-sticky-")
                .tempdir()
                .unwrap(),
        }
    }

    fn plan(&self, provider: &str) -> PathBuf {
        let steps: String = STEPS
            .iter()
            .map(|p| format!("      - traffic: {{ provider: lb, percent: {p} }}\n"))
            .collect();
        let text = format!(
            "version: 1
name: sticky
settings: {{ timeout: 10s, retries: 1 }}
providers:
  lb: {provider}
phases:
  - name: canary
    steps:
{steps}"
        );
        let path = self.dir.path().join("plan.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn run(plan: &Path, args: &[&str], code: i32) -> String {
    let out = support::migrate()
        .arg("-f")
        .arg(plan)
        .args(args)
        .assert()
        .code(code);
    let o = out.get_output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One look at the proxy: which side each customer was served by (`None`
/// if its requests went to both), and the candidate's share of the
/// requests without a key.
struct Look {
    sides: Vec<Option<bool>>,
    keyless_candidate: usize,
    keyless: usize,
}

fn look(proxy: &dyn Proxy, customers: usize, keyless: usize) -> Look {
    let key = proxy.key();
    let mut keys: Vec<Option<String>> = (0..customers)
        .map(|i| Some(key.value(&format!("customer-{i}"))))
        .collect();
    keys.extend((0..keyless).map(|_| None));
    let answers = load(proxy.port(), key.header(), &keys, REPEAT, CONNECTIONS).unwrap();
    let mut sides = Vec::with_capacity(customers);
    let mut keyless_candidate = 0;
    for (key, seen) in keys.iter().zip(&answers) {
        for s in seen {
            assert!(s == "legacy" || s == "candidate", "answered by {s:?}");
        }
        let on_candidate = seen.iter().filter(|s| *s == "candidate").count();
        if key.is_some() {
            sides.push(match on_candidate {
                0 => Some(false),
                n if n == seen.len() => Some(true),
                _ => None,
            });
        } else {
            keyless_candidate += on_candidate;
        }
    }
    Look {
        sides,
        keyless_candidate,
        keyless: keyless * REPEAT,
    }
}

/// The whole canary through `proxy` with the `missing` rule.
fn canary(proxy: &dyn Proxy, s: &Scenario, missing: &str, customers: usize) {
    let plan = s.plan(&proxy.provider(missing));
    let keyless = 700;
    let split = missing == "split";
    let check_keyless = |l: &Look, percent: f64| {
        let share = 100.0 * l.keyless_candidate as f64 / l.keyless as f64;
        let want = match (split, percent) {
            (_, p) if p >= 100.0 => 100.0,
            (false, _) => 0.0,
            (true, p) => p,
        };
        if want == 0.0 || want == 100.0 || !split {
            assert_eq!(
                share, want,
                "requests without the key at {percent}% ({missing})"
            );
        } else {
            // Split per request: a sample of 2,100 requests.
            assert!(
                (share - want).abs() <= 5.0,
                "requests without the key at {percent}% ({missing}): {share}%"
            );
        }
    };

    // The plan says the split is by customer.
    let shown = run(&plan, &["plan"], 0);
    let by = match proxy.key() {
        Key::Header => "header X-Customer",
        Key::Cookie => "cookie customer",
    };
    assert!(
        shown.contains(&format!("send 1% of customers (by {by}) to")),
        "{shown}"
    );

    // Before the first step: everyone on legacy.
    let before = look(proxy, customers, keyless);
    assert!(before.sides.iter().all(|s| *s == Some(false)));
    check_keyless(&before, 0.0);

    let mut cohort = vec![false; customers];
    for (i, percent) in STEPS.iter().enumerate() {
        proxy.migrate(&plan, &["advance", "--steps", "1"], 0);
        let started = std::time::Instant::now();
        let l = look(proxy, customers, keyless);
        eprintln!(
            "sticky {}: {} requests in {:.1}s",
            proxy.name(),
            (customers + keyless) * REPEAT,
            started.elapsed().as_secs_f64()
        );
        let split_keys = l.sides.iter().filter(|s| s.is_none()).count();
        assert_eq!(
            split_keys, 0,
            "customers served by both sides at {percent}%"
        );
        let back = cohort
            .iter()
            .zip(&l.sides)
            .filter(|(was, now)| **was && **now == Some(false))
            .count();
        assert_eq!(back, 0, "customers moved back to legacy at {percent}%");
        cohort = l.sides.iter().map(|s| *s == Some(true)).collect();
        let share = 100.0 * cohort.iter().filter(|c| **c).count() as f64 / customers as f64;
        // The figures of BENCHMARKS.md (with --nocapture).
        eprintln!(
            "sticky {} ({missing}): {percent}% -> {share}% of {customers} customers, {:.2}% of {} requests without the key",
            proxy.name(),
            100.0 * l.keyless_candidate as f64 / l.keyless as f64,
            l.keyless
        );
        assert!(
            (share - percent).abs() <= 1.0,
            "{share}% of the customers on the candidate at {percent}%"
        );
        check_keyless(&l, *percent);

        if i == 3 {
            // A threshold changed by hand is drift: shown, and advance
            // refuses to carry on over it.
            proxy.hand_set(40.0);
            let status = run(&plan, &["status"], 0);
            assert!(status.contains("DRIFT"), "{status}");
            let refused = run(&plan, &["advance"], 1);
            assert!(
                refused.contains("traffic via lb") && refused.contains("expected 25%"),
                "{refused}"
            );
            proxy.hand_set(25.0);
            let status = run(&plan, &["status"], 0);
            assert!(!status.contains("DRIFT"), "{status}");
        }
    }

    proxy.migrate(&plan, &["rollback", "--reason", "test"], 0);
    let after = look(proxy, customers, keyless);
    assert!(
        after.sides.iter().all(|s| *s == Some(false)),
        "every customer is back on legacy"
    );
    check_keyless(&after, 0.0);
}

// ---------------------------------------------------------------------------
// HAProxy: the documented rules in the backend, the threshold in a map file.

struct HaproxyProxy {
    haproxy: Haproxy,
    map: PathBuf,
    key: Key,
}

impl HaproxyProxy {
    fn start(s: &Scenario, key: Key) -> Self {
        Self::start_with_map(s, key, "# sticky thresholds, in basis points\npayments 0\n")
    }

    /// With the map file's first contents.
    fn start_with_map(s: &Scenario, key: Key, initial: &str) -> Self {
        let fetch = key.haproxy();
        let haproxy = Haproxy::start_with_rules(
            "payments",
            &[
                HaServer {
                    name: "old",
                    port: s.legacy.port,
                    weight: 1,
                },
                HaServer {
                    name: "new",
                    port: s.candidate.port,
                    weight: 0,
                },
            ],
            |dir| {
                let map = dir.join("migrate.map");
                std::fs::write(&map, initial).unwrap();
                format!(
                    "    http-request set-var(txn.migrate_bucket) {fetch},xxh32,mod(10000) if {{ {fetch} -m len gt 0 }}
    http-request set-var(txn.migrate_cut) str(payments),map_str_int({},0)
    acl migrate_keyed var(txn.migrate_bucket) -m found
    acl migrate_candidate var(txn.migrate_bucket),sub(txn.migrate_cut) -m int lt 0
    use-server new if migrate_keyed migrate_candidate
    use-server old if migrate_keyed !migrate_candidate
",
                    map.display()
                )
            },
        )
        .unwrap();
        let map = haproxy.dir().join("migrate.map");
        Self { haproxy, map, key }
    }
}

impl Proxy for HaproxyProxy {
    fn name(&self) -> &'static str {
        "haproxy"
    }

    fn port(&self) -> u16 {
        self.haproxy.port
    }

    fn key(&self) -> Key {
        self.key
    }

    fn provider(&self, missing: &str) -> String {
        format!(
            "{{ type: haproxy, socket: '{}', backend: payments, legacy: old, candidate: new, map: '{}', sticky: {{ {}, missing: {missing} }} }}",
            self.haproxy.socket().display(),
            self.map.display(),
            self.key.plan()
        )
    }

    fn migrate(&self, plan: &Path, args: &[&str], code: i32) -> String {
        // The runtime API changes take effect at once.
        run(plan, args, code)
    }

    fn hand_set(&self, percent: f64) {
        let reply = self
            .haproxy
            .command(&format!(
                "set map {} payments {}",
                self.map.display(),
                (percent * 100.0) as u32
            ))
            .unwrap();
        assert_eq!(reply.trim(), "", "set map answered {reply:?}");
    }
}

#[test]
fn haproxy_sticky_split_keeps_customers_on_one_side_and_the_cohort_grows() {
    let s = Scenario::new();
    let proxy = HaproxyProxy::start(&s, Key::Header);
    canary(&proxy, &s, "legacy", 10_000);
    // The threshold is in the map file too: a reload keeps it.
    let file = std::fs::read_to_string(&proxy.map).unwrap();
    assert!(
        file.contains("payments 0\n") && file.starts_with("# sticky"),
        "{file}"
    );
}

#[test]
fn haproxy_sticky_split_sends_requests_without_the_key_by_weight() {
    let s = Scenario::new();
    let proxy = HaproxyProxy::start(&s, Key::Header);
    canary(&proxy, &s, "split", 10_000);
}

// ---------------------------------------------------------------------------
// nginx: migrate writes the side upstreams, split_clients and the map.

struct NginxProxy {
    nginx: Nginx,
    key: Key,
}

impl NginxProxy {
    fn start(s: &Scenario, key: Key) -> Self {
        let mut nginx = Nginx::prepare().unwrap();
        // The operator's upstream, and the placeholder of the variable the
        // location proxies to, until migrate writes it.
        nginx
            .write(
                "upstream.conf",
                &format!(
                    "upstream payments {{\n    server {} max_fails=3;\n    server {} down;\n    keepalive 16;\n}}\nmap \"\" $migrate_payments_upstream {{\n    default payments;\n}}\n",
                    s.legacy.address(),
                    s.candidate.address()
                ),
            )
            .unwrap();
        nginx
            .start(
                "include upstream.conf;
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass http://$migrate_payments_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
        keepalive_requests 100000;
    }",
            )
            .unwrap();
        Self { nginx, key }
    }

    fn file(&self) -> PathBuf {
        self.nginx.path("upstream.conf")
    }

    fn reload(&self) {
        let before = self.nginx.workers();
        let argv = self.nginx.argv(&["-s", "reload"]);
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .status()
            .unwrap();
        assert!(status.success());
        self.nginx.wait_reloaded(&before).unwrap();
    }
}

fn yaml_list(argv: &[String]) -> String {
    let items: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
    format!("[{}]", items.join(", "))
}

impl Proxy for NginxProxy {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn port(&self) -> u16 {
        self.nginx.port
    }

    fn key(&self) -> Key {
        self.key
    }

    fn provider(&self, missing: &str) -> String {
        let upstream = std::fs::read_to_string(self.file()).unwrap();
        let addresses: Vec<&str> = upstream
            .lines()
            .filter_map(|l| l.trim().strip_prefix("server "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        format!(
            "{{ type: nginx, file: '{}', upstream: payments, legacy: '{}', candidate: '{}', reload: {}, test: {}, sticky: {{ {}, missing: {missing} }} }}",
            self.file().display(),
            addresses[0],
            addresses[1],
            yaml_list(&self.nginx.argv(&["-s", "reload"])),
            yaml_list(&self.nginx.argv(&["-t", "-q"])),
            self.key.plan(),
        )
    }

    fn migrate(&self, plan: &Path, args: &[&str], code: i32) -> String {
        // A reload is asynchronous: wait until new workers serve.
        let before = self.nginx.workers();
        let out = run(plan, args, code);
        self.nginx.wait_reloaded(&before).unwrap();
        out
    }

    fn hand_set(&self, percent: f64) {
        let text = std::fs::read_to_string(self.file()).unwrap();
        let var = self.key.nginx();
        let start = text
            .find(&format!("split_clients \"${{{var}}}\""))
            .expect("the keyed split_clients");
        let open = start + text[start..].find(" {\n").unwrap();
        let end = open + text[open..].find('}').unwrap();
        let changed = format!(
            "{}split_clients \"${{{var}}}\" $migrate_payments_keyed {{\n    {percent}% migrate_payments_candidate;\n    * migrate_payments_legacy;\n{}",
            &text[..start],
            &text[end..]
        );
        std::fs::write(self.file(), changed).unwrap();
        self.reload();
    }
}

#[test]
fn nginx_sticky_split_keeps_customers_on_one_side_and_the_cohort_grows() {
    let s = Scenario::new();
    let proxy = NginxProxy::start(&s, Key::Header);
    canary(&proxy, &s, "legacy", 10_000);
    let file = std::fs::read_to_string(proxy.file()).unwrap();
    // The operator's upstream is kept as written: it is the template.
    assert!(file.contains("max_fails=3"), "{file}");
    assert!(
        file.contains("upstream migrate_payments_candidate"),
        "{file}"
    );
}

#[test]
fn nginx_sticky_split_splits_requests_without_the_key_per_request() {
    let s = Scenario::new();
    let proxy = NginxProxy::start(&s, Key::Header);
    canary(&proxy, &s, "split", 10_000);
}

// ---------------------------------------------------------------------------
// The key in a cookie.

#[test]
fn haproxy_sticky_split_by_cookie() {
    let s = Scenario::new();
    let proxy = HaproxyProxy::start(&s, Key::Cookie);
    canary(&proxy, &s, "legacy", 10_000);
}

#[test]
fn nginx_sticky_split_by_cookie() {
    let s = Scenario::new();
    let proxy = NginxProxy::start(&s, Key::Cookie);
    canary(&proxy, &s, "legacy", 10_000);
}

/// A map without an entry for the backend reads as 0% (the rules'
/// default); the first change adds the entry at runtime and to the file,
/// so a reload of HAProxy keeps the threshold.
#[test]
fn haproxy_sticky_threshold_is_added_and_survives_a_reload() {
    let s = Scenario::new();
    let proxy = HaproxyProxy::start_with_map(&s, Key::Header, "# other backends\nsearch 500\n");
    let plan = s.plan(&proxy.provider("legacy"));
    let status = run(&plan, &["status"], 0);
    assert!(!status.contains("DRIFT"), "{status}");
    proxy.migrate(&plan, &["advance", "--steps", "2"], 0);
    let file = std::fs::read_to_string(&proxy.map).unwrap();
    assert_eq!(file, "# other backends\nsearch 500\npayments 500\n");
    proxy.haproxy.reload().unwrap();
    let l = look(&proxy, 10_000, 0);
    let on = l.sides.iter().filter(|s| **s == Some(true)).count();
    assert!(
        (on as f64 / 100.0 - 5.0).abs() <= 1.0,
        "{on} of 10,000 customers"
    );
    let status = run(&plan, &["status"], 0);
    assert!(!status.contains("DRIFT"), "{status}");

    // Requests without the key go by weight: a candidate weight raised by
    // hand under `missing: legacy` is drift too.
    proxy
        .haproxy
        .command("set server payments/new weight 100")
        .unwrap();
    let status = run(&plan, &["status"], 0);
    assert!(status.contains("DRIFT"), "{status}");
    proxy
        .haproxy
        .command("set server payments/new weight 0")
        .unwrap();
    let status = run(&plan, &["status"], 0);
    assert!(!status.contains("DRIFT"), "{status}");
}

// ---------------------------------------------------------------------------
// Envoy: the route picks its weighted cluster by a hash of the header
// (`use_hash_policy`), migrate sets the weights in basis points.

struct EnvoyProxy {
    envoy: Envoy,
}

impl EnvoyProxy {
    fn start(s: &Scenario, route: &Route) -> Self {
        Self {
            envoy: Envoy::start(&s.legacy.address(), &s.candidate.address(), route).unwrap(),
        }
    }
}

impl Proxy for EnvoyProxy {
    fn name(&self) -> &'static str {
        "envoy"
    }

    fn port(&self) -> u16 {
        self.envoy.port
    }

    fn key(&self) -> Key {
        Key::Header
    }

    fn provider(&self, missing: &str) -> String {
        format!(
            "{{ type: envoy, admin: '{}', runtime_key_prefix: {}, legacy: {}, candidate: {}, sticky: {{ header: X-Customer, missing: {missing} }} }}",
            self.envoy.admin_url(),
            testbed::envoy::PREFIX,
            testbed::envoy::LEGACY,
            testbed::envoy::CANDIDATE
        )
    }

    fn migrate(&self, plan: &Path, args: &[&str], code: i32) -> String {
        // Runtime changes take effect at once.
        run(plan, args, code)
    }

    fn hand_set(&self, percent: f64) {
        let c = (percent * 100.0) as u32;
        let (l, c) = ((10_000 - c).to_string(), c.to_string());
        let legacy = format!("{}.{}", testbed::envoy::PREFIX, testbed::envoy::LEGACY);
        let candidate = format!("{}.{}", testbed::envoy::PREFIX, testbed::envoy::CANDIDATE);
        self.envoy
            .runtime_modify(&[
                (legacy.as_str(), l.as_str()),
                (candidate.as_str(), c.as_str()),
            ])
            .unwrap();
    }
}

#[test]
fn envoy_sticky_split_by_a_hashed_route_keeps_customers_on_one_side() {
    let s = Scenario::new();
    let proxy = EnvoyProxy::start(
        &s,
        &Route::new(100, 0, 0, "HUNDRED").hashed_by("X-Customer"),
    );
    canary(&proxy, &s, "split", 10_000);
}

/// A route that picks its cluster at random cannot keep a customer on one
/// side: the step is refused before anything changes, naming what the
/// route lacks.
#[test]
fn envoy_sticky_split_is_refused_on_a_route_without_a_hash() {
    let s = Scenario::new();
    let proxy = EnvoyProxy::start(&s, &Route::new(100, 0, 0, "HUNDRED"));
    let plan = s.plan(&proxy.provider("split"));
    let out = run(&plan, &["advance", "--steps", "1"], 1);
    assert!(
        out.contains("picks its weighted cluster at random")
            && out.contains("use_hash_policy: true"),
        "{out}"
    );
    let runtime = proxy.envoy.runtime().unwrap();
    let key = format!("{}.{}", testbed::envoy::PREFIX, testbed::envoy::CANDIDATE);
    assert!(!runtime.contains_key(&key), "nothing was set: {runtime:?}");
}
