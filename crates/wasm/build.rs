//! Link args of the threaded module (feature `threads`, built with `+atomics`): shared, imported
//! memory and the TLS exports wasm-bindgen needs to start more instances on the same memory.
//! rustc 1.96 (Debian rustc-web) does not add them by itself: with `+atomics` alone the module
//! exports an unshared memory and wasm-bindgen silently emits single-threaded glue; without
//! `--export=__tls_base` wasm-bindgen fails ("failed to find tls base"). Passed here (the final
//! link of this crate only) rather than in RUSTFLAGS, so that -Zbuild-std's std stays cached.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if arch != "wasm32" || !features.split(',').any(|f| f == "atomics") {
        return;
    }
    // The maximum is the 4 GiB of wasm32 (65536 pages): a shared memory must declare one, and
    // the JS loader creates the Memory with the same maximum (packages/autobalance/src/wasm-threads-node.ts).
    for arg in [
        "--shared-memory",
        "--import-memory",
        "--max-memory=4294967296",
        "--export=__wasm_init_tls",
        "--export=__tls_size",
        "--export=__tls_align",
        "--export=__tls_base",
    ] {
        println!("cargo:rustc-link-arg-cdylib={arg}");
    }
}
