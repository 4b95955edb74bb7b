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
