//! Builds the plugins (including the test-only `faults` plugin) and tells
//! the tests where the .wasm files are.

include!("../build-support/plugins.rs");

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest.parent().unwrap().to_path_buf();
    let built = build_plugins(&repo);
    println!("cargo:rustc-env=SLUICE_TEST_PLUGIN_DIR={}", built.display());
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!(
        "cargo:rustc-env=SLUICE_TEST_CACHE_DIR={}",
        out.join("plugin-cache").display()
    );
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build-support/plugins.rs");
}
