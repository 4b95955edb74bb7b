//! The `sluice` binary itself: `check` lists every problem of a broken
//! config; `plugin inspect` describes a plugin file.

use std::process::Command;

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("config.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_lists_every_problem_with_its_path_and_exits_1() {
    let cfg = temp(
        "broken",
        r#"
listen: not-an-address
api-keys: ["${SLUICE_TEST_SURELY_UNSET_VAR}"]
timeouts:
  connect: 10
plugins:
  defaults:
    pool-sise: 4
providers:
  - name: a
    plugin: openai
    base-url: ftp://example
    models: [{name: m1}]
  - name: b
    plugin: openai
    models: [{name: m1}]
"#,
    );
    let out = sluice()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "listen",
        "SLUICE_TEST_SURELY_UNSET_VAR",
        "api-keys[0]",
        "timeouts.connect",
        "plugins.defaults.pool-sise",
        "did you mean",
        "providers[0].base-url",
        "providers[1].models[0].name",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn check_reports_a_provider_whose_plugin_is_missing() {
    let cfg = temp(
        "noplugin",
        "providers:\n  - name: x\n    plugin: nosuchplugin\n    models: [{name: m}]\n",
    );
    let out = sluice()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("providers[0].plugin") && text.contains("nosuchplugin"),
        "{text}"
    );
}

#[test]
fn check_accepts_the_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/config.yaml");
    let out = sluice()
        .args(["check", "--config", example])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("OK"), "{text}");
}

/// One HTTP/1.1 exchange on a new connection: the status and the body.
#[cfg(target_os = "linux")]
fn http_post(addr: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         anthropic-version: 2023-06-01\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

/// Under an address-space limit (`ulimit -v`) the pooling allocator cannot
/// reserve its pool and sluice falls back to on-demand instances. Those must
/// reserve what they use, not 4 GiB each: every built-in plugin loads, and a
/// chat and an Anthropic request through the translation chain succeed.
#[cfg(target_os = "linux")]
#[test]
fn serves_under_an_address_space_limit() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fallback-cache");
    let cfg = temp(
        "aslimit",
        &format!(
            "listen: 127.0.0.1:0\nlog: {{level: info, format: json}}\n\
             plugins: {{cache-dir: {}}}\n\
             transforms: [tool-result-normalizer, thinking-translator]\n\
             providers:\n  - name: mock\n    plugin: mock\n    models: [{{name: mock}}]\n",
            cache.display()
        ),
    );
    let mut cmd = sluice();
    cmd.args(["serve", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs before exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 8 << 30,
                rlim_max: 8 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let _guard = Kill(child);
    // The log, line by line, until the line that says where it serves (or
    // its end, when it did not start).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let until = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut log = Vec::new();
    let serving = loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("sluice is serving") => break line,
            Ok(line) => log.push(line),
            Err(_) => panic!("sluice did not start:\n{}", log.join("\n")),
        }
    };
    let v: serde_json::Value = serde_json::from_str(&serving).unwrap();
    let fields = &v["fields"];
    assert_eq!(fields["pooling_allocator"], false, "{serving}");
    let problems: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("\"ERROR\"") || l.contains("could not"))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let addr = fields["listen"].as_str().unwrap().to_string();

    let (status, body) = http_post(
        &addr,
        "/v1/chat/completions",
        r#"{"model":"mock","messages":[{"role":"user","content":"hello"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("chat.completion"), "{body}");
    let (status, body) = http_post(
        &addr,
        "/v1/messages",
        r#"{"model":"mock","max_tokens":64,"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"hello"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"type\":\"message\""), "{body}");
}
