//! Security: secrets never reach output, logs, state or journal, through
//! any command and its error paths; the state directory is private; hooks
//! get no shell unless the plan writes one; TLS certificates are verified
//! unless a provider opts out, loudly.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use testbed::http::{Response, Server};
use testbed::tls::Https;

use crate::rig::Rig;

const TOKEN: &str = "tok+5f3a/9c1e=SECRET";
const PASS: &str = "pw-77c2e-SECRET";

/// Every file under `dir`, recursively, with its text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.push((
                    p.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn secrets_never_reach_output_logs_state_or_journal() {
    let rig = Rig::new("sec");
    // A control API that echoes the request's headers in its errors (as
    // many do), and answers once the test lets it.
    let accept = Arc::new(Mutex::new(false));
    let split = Arc::new(Mutex::new(0.0f64));
    let api = {
        let (accept, split) = (accept.clone(), split.clone());
        Server::start(move |req| {
            let auth = req.header("authorization").unwrap_or_default().to_string();
            if req.method == "GET" {
                return Response::json(format!("{{\"p\": {}}}", *split.lock().unwrap()));
            }
            if !*accept.lock().unwrap() {
                return Response::new(500, format!("denied for Authorization: {auth}"));
            }
            if let Some(p) = req.body.split(':').nth(1) {
                *split.lock().unwrap() = p.trim_end_matches('}').trim().parse().unwrap_or(0.0);
            }
            Response::json("{}")
        })
        .unwrap()
    };
    let closed = testbed::free_port().unwrap();
    let plan = format!(
        r#"version: 1
name: sec
settings: {{ interval: 1s, timeout: 2s, retries: 0, rollback_timeout: 2s }}
providers:
  lb:
    type: exec
    set: [sh, -c, 'echo {{{{percent}}}} > {{DIR}}/lb.pct; echo "set with token=$API_TOKEN" >&2']
    get: [sh, -c, 'cat {{DIR}}/lb.pct 2>/dev/null || echo 0']
    env: {{ API_TOKEN: '${{API_TOKEN}}' }}
  api:
    type: http
    set: {{ method: PUT, url: '{api}/split', body: '{{"p": {{{{percent}}}}}}', headers: {{ Authorization: 'Bearer ${{API_TOKEN}}' }} }}
    get: {{ url: '{api}/split', json_path: '$.p', headers: {{ Authorization: 'Bearer ${{API_TOKEN}}' }} }}
  prom: {{ type: prometheus, url: 'http://admin:${{DB_PASS}}@127.0.0.1:{closed}' }}
  old: {{ type: postgres, url: 'postgres://app:${{DB_PASS}}@127.0.0.1:{closed}/db' }}
  new: {{ type: postgres, url: 'postgres://app:${{DB_PASS}}@127.0.0.1:{closed}/db2' }}
gates:
  up: {{ provider: prom, query: up, min: 1, no_data: pass }}
  strict: {{ provider: prom, query: up, min: 1 }}
reconciliations:
  r: {{ source: {{ provider: old, table: t }}, target: {{ provider: new, table: t }}, key: id }}
phases:
  - name: p
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - check: [up]
      - traffic: {{ provider: api, percent: 20 }}
      - run: [sh, -c, 'echo "token is $T"; echo "token is $T" >&2; test -e {{DIR}}/hook.ok']
        env: {{ T: '${{API_TOKEN}}' }}
      - webhook: {{ url: 'http://hook:${{DB_PASS}}@127.0.0.1:{closed}/x', headers: {{ X-Token: '${{API_TOKEN}}' }} }}
"#,
        api = api.url(""),
    );
    rig.plan(&plan);
    let mut shown = String::new();
    let mut codes = Vec::new();
    let run = |args: &[&str], shown: &mut String, codes: &mut Vec<(String, i32)>| {
        let (code, out, err) = crate::rig::output(
            rig.command(args)
                .env("API_TOKEN", TOKEN)
                .env("DB_PASS", PASS)
                .output()
                .unwrap(),
        );
        shown.push_str(&format!("$ migrate {}\n{out}{err}\n", args.join(" ")));
        codes.push((args.join(" "), code));
    };
    let everywhere = |args: &[&str], shown: &mut String, codes: &mut Vec<(String, i32)>| {
        for prefix in [&[][..], &["-o", "json"], &["-v"], &["-vv", "-o", "json"]] {
            let all: Vec<&str> = prefix.iter().chain(args).copied().collect();
            run(&all, shown, codes);
        }
    };
    everywhere(&["validate"], &mut shown, &mut codes);
    everywhere(&["plan", "--offline"], &mut shown, &mut codes);
    everywhere(&["plan"], &mut shown, &mut codes);
    everywhere(&["check"], &mut shown, &mut codes);
    everywhere(&["check", "strict"], &mut shown, &mut codes);
    everywhere(&["--dry-run", "advance"], &mut shown, &mut codes);
    // The API refuses, quoting the token back: the step fails.
    everywhere(&["advance"], &mut shown, &mut codes);
    *accept.lock().unwrap() = true;
    // The hook prints the token and fails.
    everywhere(&["advance"], &mut shown, &mut codes);
    std::fs::write(rig.path("hook.ok"), "").unwrap();
    // The webhook's URL holds a password and cannot connect.
    everywhere(&["advance"], &mut shown, &mut codes);
    for args in [
        &["status"][..],
        &["history"],
        &["history", "--gates"],
        &["reconcile", "r"],
        &["reconcile", "r", "--repair"],
        &["pause", "--reason", "looking"],
        &["resume"],
        &["unlock"],
        &["unlock", "--force"],
        &["state", "rebuild"],
        &["--dry-run", "rollback"],
        &["rollback"],
        &["--dry-run", "retry"],
        &["retry"],
        &["advance", "--steps", "1"],
        &["rollback", "--reason", "done"],
    ] {
        everywhere(args, &mut shown, &mut codes);
    }
    // The secrets were used: the API got the token, and the run got far.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}"))),
        "the token went on the wire"
    );
    assert!(
        shown.contains("denied for Authorization: Bearer ***"),
        "the echoed token is masked in the error: {shown}"
    );
    assert!(
        shown.contains("token is ***"),
        "the hook's output is masked"
    );
    assert!(
        shown.contains(&format!(
            "step p.5 failed: POST http://hook:${{DB_PASS}}@127.0.0.1:{closed}/x: cannot connect"
        )),
        "the webhook ran, and its URL is said as the plan writes it: {shown}"
    );
    for secret in [TOKEN, PASS] {
        assert!(
            !shown.contains(secret),
            "a secret reached the output:\n{}",
            shown
                .lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
        for (path, text) in files(rig.dir.path()) {
            if path.ends_with("plan.yaml") {
                continue;
            }
            assert!(!text.contains(secret), "a secret reached {path}");
        }
    }
    eprintln!(
        "secrets: {} command lines run, none showed or stored a secret",
        codes.len()
    );
}

#[test]
fn the_state_directory_is_private_whatever_the_umask() {
    let rig = Rig::new("perm");
    rig.plan(&format!(
        "version: 1\nname: perm\nproviders:\n{}phases:\n  - name: p\n    steps:\n      - traffic: {{ provider: lb, percent: 10 }}\n      - traffic: {{ provider: lb, percent: 20 }}\n",
        crate::rig::exec_provider("lb")
    ));
    let migrate = env!("CARGO_BIN_EXE_migrate");
    let plan = rig.path("plan.yaml");
    let with_umask = |args: &str| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 000; exec '{migrate}' -f '{}' {args} >/dev/null 2>&1",
                plan.display()
            ))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .status()
            .unwrap();
        assert!(status.success(), "migrate {args}: {status}");
    };
    with_umask("advance --steps 1");
    let check = |when: &str| {
        assert_eq!(
            mode(rig.path(".migrate").as_path()),
            0o700,
            "{when}: .migrate"
        );
        assert_eq!(mode(&rig.state_dir()), 0o700, "{when}: the state directory");
        for (path, _) in files(&rig.state_dir()) {
            assert_eq!(mode(Path::new(&path)), 0o600, "{when}: {path}");
        }
    };
    check("after advance");
    // A damaged state file is moved aside; the rebuilt one is private too.
    std::fs::write(rig.state_file(), "{").unwrap();
    with_umask("state rebuild");
    check("after state rebuild");
    with_umask("advance");
    with_umask("rollback");
    check("after rollback");
    assert!(
        files(&rig.state_dir()).len() >= 4,
        "state, journal, lock, damaged copy"
    );
}

#[test]
fn hooks_run_without_a_shell_unless_the_plan_writes_one() {
    let rig = Rig::new("hooks");
    let dir = rig.dir.path().display().to_string();
    rig.plan(&format!(
        r#"version: 1
name: hooks
providers:
  lb:
    type: exec
    set: [sh, -c, 'echo "$1" > {dir}/lb.pct; printf "%s|" "$@" > {dir}/lb.argv', set, '{{{{percent}}}}', '$(touch {dir}/pwned-set)', '; touch {dir}/pwned-set2', '`touch {dir}/pwned-set3`']
    get: [cat, '{dir}/lb.pct']
phases:
  - name: p
    steps:
      - traffic: {{ provider: lb, percent: 10 }}
      - run: [printf, '%s|', 'a;b', '$(touch {dir}/pwned)', '`touch {dir}/pwned2`', '&& touch {dir}/pwned3', '*', '$HOME', '> {dir}/pwned4']
      - run: [sh, -c, 'echo $((6 * 7)) > {dir}/asked-for-a-shell']
"#
    ));
    std::fs::write(rig.path("lb.pct"), "0").unwrap();
    let (code, out, err) = rig.run(&["-o", "json", "advance"]);
    assert_eq!(code, 0, "{out}{err}");
    let expected = format!(
        "a;b|$(touch {dir}/pwned)|`touch {dir}/pwned2`|&& touch {dir}/pwned3|*|$HOME|> {dir}/pwned4|"
    );
    let journal = std::fs::read_to_string(rig.journal_file()).unwrap();
    assert!(
        out.contains(&serde_json::to_string(&expected).unwrap()[1..expected.len()])
            || journal.contains(&serde_json::to_string(&expected).unwrap()[1..expected.len()]),
        "each argument reached the program as written: {out}\n{journal}"
    );
    for name in ["pwned", "pwned2", "pwned3", "pwned4"] {
        assert!(!rig.path(name).exists(), "{name}: a shell ran");
    }
    assert_eq!(rig.read("asked-for-a-shell").trim(), "42");
    // The exec provider's argv is not read by a shell either: the traffic
    // step's set got each argument as written, the percent filled in.
    assert_eq!(
        rig.read("lb.argv"),
        format!("10|$(touch {dir}/pwned-set)|; touch {dir}/pwned-set2|`touch {dir}/pwned-set3`|")
    );
    for name in ["pwned-set", "pwned-set2", "pwned-set3"] {
        assert!(!rig.path(name).exists(), "{name}: a shell ran");
    }
    let (code, out, err) = rig.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
}

fn tls_plan(rig: &Rig, url: &str, tls: &str) {
    rig.plan(&format!(
        "version: 1\nname: tls\nsettings: {{ timeout: 5s, retries: 0 }}\nproviders:\n  prom: {{ type: prometheus, url: '{url}'{tls} }}\ngates:\n  up: {{ provider: prom, query: up, min: 1 }}\nphases:\n  - name: p\n    steps:\n      - check: [up]\n"
    ));
}

#[test]
fn tls_certificates_are_verified_unless_a_provider_opts_out_loudly() {
    let server = Https::start(|_| {
        Response::json(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"1"]}]}}"#,
        )
    })
    .unwrap();
    let rig = Rig::new("tls");
    // Verification on by default: a certificate from an unknown CA fails.
    tls_plan(&rig, &server.url(""), "");
    let (code, out, err) = rig.run(&["check"]);
    let shown = format!("{out}{err}");
    eprintln!(
        "untrusted certificate: {}",
        shown
            .lines()
            .filter(|l| l.contains("certificate"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    assert_eq!(code, 7, "{shown}");
    assert!(
        shown.contains("certificate") && shown.contains("prom"),
        "a clear certificate error naming the provider: {shown}"
    );
    assert!(
        server.requests().is_empty(),
        "no request went over an unverified connection"
    );

    // Trusting the private CA: works, silently.
    tls_plan(
        &rig,
        &server.url(""),
        &format!(", ca_file: '{}'", server.ca_file.display()),
    );
    let (code, out, err) = rig.run(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.to_lowercase().contains("warning"), "{err}");
    assert_eq!(server.requests().len(), 1);

    // Opting out: works, and says so loudly, at validation and at run time.
    tls_plan(&rig, &server.url(""), ", insecure_skip_tls_verify: true");
    let (code, out, err) = rig.run(&["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("insecure_skip_tls_verify"),
        "validate warns: {out}{err}"
    );
    let (code, out, err) = rig.run(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("TLS certificate verification is OFF for provider 'prom'"),
        "{err}"
    );
    let (code, out, err) = rig.run(&["-o", "json", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("verification is OFF"),
        "also with -o json (on stderr): {err}"
    );

    // A webhook has no opt-out: an untrusted certificate fails the step.
    let rig = Rig::new("hook");
    rig.plan(&format!(
        "version: 1\nname: hook\nphases:\n  - name: p\n    steps:\n      - webhook: {{ url: '{}' }}\n",
        server.url("/notify")
    ));
    let (code, out, err) = rig.run(&["advance"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(format!("{out}{err}").contains("certificate"), "{out}{err}");
}
