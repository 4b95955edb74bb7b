//! Builds the plugins in `plugins/` for wasm32-wasip2 and embeds the
//! built-in ones (providers `mock`, `openai`, `anthropic`, `gemini`; transforms
//! `tool-result-normalizer`, `thinking-translator`) in the binary, so `sluice serve` works
//! with no plugin directory at all.

include!("../build-support/plugins.rs");

const BUILTIN: &[&str] = &[
    "mock",
    "openai",
    "anthropic",
    "gemini",
    "tool_result_normalizer",
    "thinking_translator",
];

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest.parent().unwrap().to_path_buf();
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let built = build_plugins(&repo);
    let mut src = String::from(
        "/// Built-in plugins embedded at build time: (name, component bytes).\npub static PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for name in BUILTIN {
        let from = built.join(format!("{name}.wasm"));
        let to = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        src.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            to.display().to_string()
        ));
    }
    src.push_str("];\n");
    std::fs::write(out_dir.join("builtin.rs"), src).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build-support/plugins.rs");
}
