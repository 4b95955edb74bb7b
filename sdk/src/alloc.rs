//! The plugin's global allocator in WebAssembly: Talc instead of the
//! dlmalloc that Rust's standard library uses on `wasm32-wasip2`.
//!
//! Every value the host passes into a plugin call (each string and list of
//! the request envelope) is one allocation through `cabi_realloc`, freed
//! again when the call returns, and the plugin's own work allocates more: a
//! provider's `prepare` makes some thirty allocations per request, a
//! dialect's decode hundreds. Counted with callgrind, one request at a time,
//! the `openai` adapter's call took 35.5k instructions with Talc against
//! 37.6k with dlmalloc, and the four calls of an Anthropic client's request
//! to an OpenAI upstream with two transforms 346k against 361k. The
//! component grows by ~3 KB.
//!
//! It is on by default (feature `allocator`). A plugin that wants an
//! allocator of its own depends on the SDK with `default-features = false`
//! and declares its `#[global_allocator]` itself.

#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
