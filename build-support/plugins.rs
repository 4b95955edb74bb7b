// Shared by host/build.rs and tests/build.rs (via `include!`): build the
// plugins workspace for wasm32-wasip2 and return where the .wasm files are.
//
// The nested cargo gets its own target dir (plugins/target) so it never
// waits on the outer build's lock, and a clean environment so the outer
// build's flags (RUSTFLAGS for the host, the jobserver, the target dir) do
// not leak into the wasm build.

#[allow(dead_code)]
fn build_plugins(repo: &std::path::Path) -> std::path::PathBuf {
    use std::process::Command;
    let plugins = repo.join("plugins");
    for dir in ["wit", "sdk/src", "sdk/Cargo.toml", "plugins/Cargo.toml", "plugins/Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", repo.join(dir).display());
    }
    if let Ok(entries) = std::fs::read_dir(&plugins) {
        for e in entries.flatten() {
            let p = e.path();
            if p.join("Cargo.toml").is_file() {
                println!("cargo:rerun-if-changed={}", p.join("Cargo.toml").display());
                println!("cargo:rerun-if-changed={}", p.join("src").display());
            }
        }
    }
    // Packagers (or an offline rebuild) can point at plugins built already.
    println!("cargo:rerun-if-env-changed=SLUICE_PREBUILT_PLUGINS");
    if let Ok(dir) = std::env::var("SLUICE_PREBUILT_PLUGINS") {
        return std::path::PathBuf::from(dir);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    // The wasm target is needed; add it with rustup when it is missing.
    let sysroot = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let has_target = sysroot
        .as_ref()
        .map(|s| std::path::Path::new(s).join("lib/rustlib/wasm32-wasip2").is_dir())
        .unwrap_or(false);
    if !has_target {
        println!("cargo:warning=installing the wasm32-wasip2 target with rustup (needed to build the plugins)");
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            panic!("the wasm32-wasip2 Rust target is missing and `rustup target add wasm32-wasip2` failed; run it by hand, then build again");
        }
    }

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--workspace", "--manifest-path"])
        .arg(plugins.join("Cargo.toml"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_NET_OFFLINE")
            || k == "RUSTFLAGS"
            || k == "RUSTC_WORKSPACE_WRAPPER"
            || k == "RUSTDOCFLAGS"
            || k == "DEBUG"
            || k == "OPT_LEVEL"
            || k == "PROFILE"
            || k == "TARGET"
            || k == "HOST"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CARGO_TARGET_DIR", plugins.join("target"));
    let status = cmd.status().unwrap_or_else(|e| panic!("could not run {cargo} to build the plugins: {e}"));
    if !status.success() {
        panic!("building the plugins in {} failed (see the cargo output above)", plugins.display());
    }
    plugins.join("target/wasm32-wasip2/release")
}
