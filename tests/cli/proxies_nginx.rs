//! The nginx provider against a real NGINX 1.22 and real backends.

use std::collections::HashMap;
use std::sync::Arc;

use migrate::providers::{same_percent, Channel, Failure, Registry, Router};
use testbed::backend::Backend;
use testbed::http::get;
use testbed::nginx::Nginx;

fn yaml_list(argv: &[String]) -> String {
    let items: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
    format!("[{}]", items.join(", "))
}

fn router(provider: &str, timeout: &str) -> Arc<dyn Router> {
    let text = format!(
        "version: 1
name: nginx-test
settings: {{ timeout: {timeout}, retries: 0 }}
providers:
  edge: {provider}
phases:
  - name: shadow
    steps:
      - mirror: {{ provider: edge, percent: 10 }}
      - traffic: {{ provider: edge, percent: 10 }}
"
    );
    let env: HashMap<String, String> = HashMap::new();
    let plan = match migrate::plan::validate(&text, &env, migrate::providers::catalog()) {
        Ok(v) => v.plan,
        Err(d) => panic!("invalid test plan: {d:?}\n{text}"),
    };
    Registry::new(&plan)
        .router("edge")
        .expect("an nginx router")
}

struct Setup {
    legacy: Backend,
    candidate: Backend,
    nginx: Nginx,
}

/// The operator's setup: `upstream.conf` holds their upstream with the
/// legacy server (weight 5); nginx.conf includes it, proxies to it, and
/// (with `mirror`) has the two documented mirror lines.
fn setup(mirror: bool) -> Setup {
    let legacy = Backend::start("legacy").unwrap();
    let candidate = Backend::start("candidate").unwrap();
    let mut nginx = Nginx::prepare().unwrap();
    let mut file = format!(
        "# payments: owned by the platform team\nupstream payments {{\n    server {} weight=5;\n    keepalive 8;\n}}\n",
        legacy.address()
    );
    let mut location = String::new();
    let mut mirror_location = String::new();
    if mirror {
        // The variable must exist before the mirror location refers to it.
        file.push_str("split_clients \"${request_id}\" $migrate_mirror { * \"\"; }\n");
        location = "mirror /_mirror;\n            mirror_request_body on;".to_string();
        mirror_location = format!(
            "location = /_mirror {{
            internal;
            if ($migrate_mirror = \"\") {{ return 204; }}
            proxy_pass http://{}$request_uri;
        }}",
            candidate.address()
        );
    }
    nginx.write("upstream.conf", &file).unwrap();
    nginx
        .start(&format!(
            "include upstream.conf;
    server {{
        listen 127.0.0.1:{{port}};
        location / {{
            {location}
            proxy_pass http://payments;
        }}
        {mirror_location}
    }}"
        ))
        .unwrap();
    Setup {
        legacy,
        candidate,
        nginx,
    }
}

impl Setup {
    fn provider(&self, candidate: &str, test: bool) -> String {
        let test = if test {
            format!(", test: {}", yaml_list(&self.nginx.argv(&["-t", "-q"])))
        } else {
            String::new()
        };
        format!(
            "{{ type: nginx, file: '{}', upstream: payments, legacy: '{}', candidate: '{candidate}', reload: {}{test} }}",
            self.nginx.path("upstream.conf").display(),
            self.legacy.address(),
            yaml_list(&self.nginx.argv(&["-s", "reload"]))
        )
    }

    fn file(&self) -> String {
        std::fs::read_to_string(self.nginx.path("upstream.conf")).unwrap()
    }

    fn send(&self, n: usize) -> (usize, usize) {
        self.legacy.reset();
        self.candidate.reset();
        for _ in 0..n {
            let (status, body) = get(self.nginx.port, "/orders").unwrap();
            assert_eq!(status, 200, "{body}");
        }
        // Mirrored copies are sent alongside the answer and may land a
        // moment after it (much later on a loaded machine): wait until the
        // count has not moved for half a second, or has reached every
        // request, for up to 10 s.
        let mut last = (usize::MAX, usize::MAX);
        let mut still = 0;
        for _ in 0..200 {
            let now = (self.legacy.count(), self.candidate.count());
            if now.1 >= n {
                return now;
            }
            if now == last {
                still += 1;
                if still >= 10 {
                    break;
                }
            } else {
                still = 0;
                last = now;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        last
    }

    async fn set(&self, r: &Arc<dyn Router>, channel: Channel, percent: f64) {
        let before = self.nginx.workers();
        r.set(channel, percent).await.unwrap();
        self.nginx.wait_reloaded(&before).unwrap();
    }
}

#[tokio::test]
async fn nginx_takes_over_the_upstream_splits_and_restores() {
    let s = setup(false);
    let edge = router(&s.provider(&s.candidate.address(), true), "5s");

    // Baseline: the operator's upstream, legacy only.
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 0.0);
    assert_eq!(s.send(10), (10, 0));

    s.set(&edge, Channel::Traffic, 10.0).await;
    assert!(same_percent(
        edge.get(Channel::Traffic).await.unwrap(),
        10.0
    ));
    let file = s.file();
    assert!(file.contains("keepalive 8;"), "{file}");
    assert!(file.contains("weight=9"), "{file}");
    // One worker, smooth weighted round robin: exact.
    assert_eq!(s.send(200), (180, 20));

    s.set(&edge, Channel::Traffic, 100.0).await;
    let file = s.file();
    assert!(
        file.contains(&format!("server {} down;", s.legacy.address())),
        "{file}"
    );
    assert_eq!(s.send(20), (0, 20));

    // Back to the baseline.
    s.set(&edge, Channel::Traffic, 0.0).await;
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
    assert!(!s.file().contains("weight=0"));
    assert_eq!(s.send(20), (20, 0));
}

#[tokio::test]
async fn nginx_mirrors_the_share_set() {
    let s = setup(true);
    let edge = router(&s.provider(&s.candidate.address(), false), "5s");
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 0.0);

    s.set(&edge, Channel::Mirror, 100.0).await;
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 100.0);
    // Every request is answered by legacy and copied to the candidate.
    assert_eq!(s.send(40), (40, 40));

    s.set(&edge, Channel::Mirror, 25.0).await;
    assert_eq!(edge.get(Channel::Mirror).await.unwrap(), 25.0);
    let (legacy, mirrored) = s.send(400);
    assert_eq!(legacy, 400);
    // Per request at random: 100 expected, far outside 60..140 only by a
    // broken split (more than 4.5 standard deviations).
    assert!(
        (60..=140).contains(&mirrored),
        "25% of 400 mirrored: {mirrored}"
    );

    s.set(&edge, Channel::Mirror, 0.0).await;
    assert_eq!(s.send(40), (40, 0));
    // The traffic split was left alone.
    assert_eq!(edge.get(Channel::Traffic).await.unwrap(), 0.0);
}

#[tokio::test]
async fn nginx_failed_reload_puts_the_previous_file_back() {
    let s = setup(false);
    let before = s.file();
    // A port nginx refuses: the configuration does not load.
    for test in [true, false] {
        let edge = router(&s.provider("127.0.0.1:99999", test), "5s");
        let e = edge.set(Channel::Traffic, 10.0).await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("nginx provider 'edge'"), "{msg}");
        assert!(msg.contains("[emerg]") && msg.contains("99999"), "{msg}");
        assert!(msg.contains("the previous file was put back"), "{msg}");
        assert_eq!(e.failure, Failure::Rejected);
        assert_eq!(s.file(), before, "the file is restored (test: {test})");
    }
    // nginx still serves the operator's configuration.
    assert_eq!(s.send(10), (10, 0));
}

#[tokio::test]
async fn nginx_errors_name_the_file() {
    let s = setup(false);

    // A reload that never finishes: the plan's timeout ends it and the
    // previous file comes back.
    let before = s.file();
    let hang = format!(
        "{{ type: nginx, file: '{}', upstream: payments, legacy: '{}', candidate: '{}', reload: [sleep, '30'] }}",
        s.nginx.path("upstream.conf").display(),
        s.legacy.address(),
        s.candidate.address()
    );
    let edge = router(&hang, "1s");
    let e = edge.set(Channel::Traffic, 10.0).await.unwrap_err();
    assert!(e.to_string().contains("no answer within 1s"), "{e}");
    assert_eq!(s.file(), before);

    // A server in the file that the plan does not know.
    let edge = router(&s.provider(&s.candidate.address(), false), "5s");
    std::fs::write(
        s.nginx.path("upstream.conf"),
        format!(
            "upstream payments {{ server {}; server 10.1.2.3:80; }}\n",
            s.legacy.address()
        ),
    )
    .unwrap();
    let e = edge.get(Channel::Traffic).await.unwrap_err();
    assert!(
        e.to_string().contains("10.1.2.3:80") && e.to_string().contains("upstream.conf"),
        "{e}"
    );

    // No such upstream, and no such file.
    std::fs::write(
        s.nginx.path("upstream.conf"),
        "upstream other { server 10.0.0.1:80; }\n",
    )
    .unwrap();
    let e = edge.get(Channel::Traffic).await.unwrap_err();
    assert!(e.to_string().contains("no 'upstream payments"), "{e}");
    std::fs::remove_file(s.nginx.path("upstream.conf")).unwrap();
    let e = edge.set(Channel::Traffic, 5.0).await.unwrap_err();
    assert!(
        e.to_string().contains("cannot read") && e.to_string().contains("upstream.conf"),
        "{e}"
    );
}
