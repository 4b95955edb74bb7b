//! The plugins compiled into the binary (built by `build.rs` from `plugins/`).

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
