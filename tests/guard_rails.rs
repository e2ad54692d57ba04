//! Guard rails: where load may go, credentials kept out of headers and output, the kill
//! switch.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn drill_with_target(
    dir: &std::path::Path,
    file: &str,
    target: &str,
    extra: &str,
) -> std::path::PathBuf {
    let text = format!(
        r#"
target = "{target}"
{extra}

[[requests]]
name = "r"
path = "/thing"

[[phases]]
name = "p"
executor = "constant-arrival-rate"
rate = 5
duration = "1s"
"#
    );
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write drill");
    path
}

fn validate(path: &std::path::Path, flags: &[&str]) -> Finished {
    let mut args = vec!["validate".into(), path.into()];
    args.extend(flags.iter().map(Into::into));
    run_args(&args)
}

#[test]
fn a_remote_target_needs_an_allow_list_entry_or_the_flag() {
    let dir = scratch("guard-remote");
    let path = drill_with_target(
        &dir,
        "remote.toml",
        "http://orders.staging.example.com:8080",
        "",
    );
    let refused = validate(&path, &[]);
    assert_eq!(refused.code, Some(2), "{refused}");
    assert!(
        refused.stderr.contains("outside loopback and private networks: name it in allow_targets = [\"orders.staging.example.com\"] or pass --allow-remote"),
        "{refused}"
    );
    assert_eq!(validate(&path, &["--allow-remote"]).code, Some(0));
    let allowed = drill_with_target(
        &dir,
        "allowed.toml",
        "http://orders.staging.example.com:8080",
        "allow_targets = [\"orders.staging.example.com\"]",
    );
    assert_eq!(validate(&allowed, &[]).code, Some(0));
    // run refuses it before sending anything: no name lookup, no connection.
    let started = Instant::now();
    let run = run_drill_file(&path, &dir.join("result.json"));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("--allow-remote"), "{run}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_production_looking_target_needs_the_acknowledgement() {
    let dir = scratch("guard-prod");
    let path = drill_with_target(
        &dir,
        "prod.toml",
        "http://api.example.com",
        "allow_targets = [\"api.example.com\"]",
    );
    let refused = validate(&path, &[]);
    assert_eq!(refused.code, Some(2), "{refused}");
    assert!(
        refused.stderr.contains("looks like production"),
        "{refused}"
    );
    assert_eq!(
        validate(&path, &["--i-know-this-is-production"]).code,
        Some(0)
    );
}

#[test]
fn credentials_in_the_target_become_basic_auth_and_are_masked_everywhere() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head += &line;
                    }
                    seen.lock().expect("lock").push(head);
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                }
            });
        }
    });
    let dir = scratch("guard-credentials");
    let path = drill_with_target(
        &dir,
        "credentials.toml",
        &format!("http://user:secret@127.0.0.1:{port}"),
        "",
    );
    let out = dir.join("result.json");
    let run = run_drill_file(&path, &out);
    assert_eq!(run.code, Some(0), "{run}");
    let heads = heads.lock().expect("lock").clone();
    assert!(heads.len() >= 3, "{heads:?}");
    for head in &heads {
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(
            head.contains("authorization: Basic dXNlcjpzZWNyZXQ=")
                || head.contains("Authorization: Basic dXNlcjpzZWNyZXQ="),
            "{head}"
        );
        assert!(!lower.contains("host: user"), "{head}");
    }
    let mut result = String::new();
    std::fs::File::open(&out)
        .expect("result")
        .read_to_string(&mut result)
        .expect("read");
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("result.json", &result),
    ] {
        assert!(
            !text.contains("secret"),
            "{what} shows the password:\n{text}"
        );
    }
    assert!(
        result.contains(&format!("http://user:***@127.0.0.1:{port}")),
        "{result}"
    );
}

#[test]
fn breakerbox_stop_stops_the_running_drills_of_this_user() {
    let dir = scratch("kill-switch");
    let registry = dir.join("runtime");
    std::fs::create_dir_all(&registry).expect("dir");
    let drill = dir.join("long.toml");
    std::fs::write(
        &drill,
        r#"
name = "long"
[parts]
stub = true
demo = true
[[requests]]
name = "item"
path = "/api/item/{{random_int 1 10}}"
[[phases]]
name = "p"
executor = "constant-arrival-rate"
rate = 20
duration = "30s"
"#,
    )
    .expect("drill");
    let out = dir.join("result.json");
    let mut child = breakerbox()
        .env("XDG_RUNTIME_DIR", &registry)
        .arg("run")
        .arg(&drill)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    let entry = registry.join("breakerbox").join(child.id().to_string());
    let started = Instant::now();
    while !entry.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never registered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let stop = breakerbox()
        .env("XDG_RUNTIME_DIR", &registry)
        .arg("stop")
        .output()
        .expect("stop runs");
    let said = String::from_utf8_lossy(&stop.stdout);
    assert!(
        said.contains(&format!("stopping drill long (pid {})", child.id())),
        "{said}"
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the drill did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(read_result(&out)["abort_reason"], "interrupted (SIGTERM)");
    assert!(
        !entry.exists(),
        "the registration is removed when the run ends"
    );
    let again = breakerbox()
        .env("XDG_RUNTIME_DIR", &registry)
        .arg("stop")
        .output()
        .expect("stop runs");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "no running drill"
    );
}

#[test]
fn a_drill_over_the_resource_budget_is_refused_with_its_cost_named() {
    let dir = scratch("budget");
    let mut text = String::from(
        "target = \"http://127.0.0.1:1\"\n[[phases]]\nname = \"crowd\"\nexecutor = \"ramping-vus\"\nstages = [{ duration = \"20s\", target = 2000 }]\n",
    );
    // Workers share their phase's recorders, so what grows past the budget is request
    // groups (each recorder may hold two histograms per group), not users.
    for g in 0..150 {
        text += &format!("[[requests]]\nname = \"r{g}\"\npath = \"/{g}\"\n");
    }
    let path = dir.join("crowd.toml");
    std::fs::write(&path, text).expect("write");
    let refused = validate(&path, &[]);
    assert_eq!(refused.code, Some(2), "{refused}");
    assert!(
        refused.stderr.contains("over the memory budget"),
        "{refused}"
    );
    assert!(
        refused
            .stderr
            .contains("latency histograms: 129 recorders × 150 request groups × 2 × 136 KiB"),
        "{refused}"
    );
    assert_eq!(validate(&path, &["--memory-budget", "16GiB"]).code, Some(0));
    // run refuses it before starting anything.
    let run = run_drill_file(&path, &dir.join("result.json"));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("over the memory budget"), "{run}");
}

#[test]
fn a_profile_with_thousands_of_windows_is_refused() {
    let dir = scratch("many-windows");
    std::fs::create_dir_all(dir.join("fault-profiles")).expect("dir");
    let mut profile = String::new();
    for i in 0..2000 {
        profile += &format!(
            "[[faults]]\nkind = \"latency\"\ndelay = \"1ms\"\nstart = \"{i}ms\"\nduration = \"1ms\"\n"
        );
    }
    std::fs::write(dir.join("fault-profiles/flicker.toml"), profile).expect("profile");
    let path = dir.join("drill.toml");
    std::fs::write(
        &path,
        "target = \"http://127.0.0.1:1\"\n[parts]\nproxy = true\nstub = true\n[[requests]]\nname = \"r\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nduration = \"60s\"\nfaults = [\"flicker\"]\n",
    )
    .expect("drill");
    let refused = validate(&path, &[]);
    assert_eq!(refused.code, Some(2), "{refused}");
    assert!(
        refused
            .stderr
            .contains("2000 fault windows scheduled (profiles × phases); at most 1000"),
        "{refused}"
    );
}
