//! Links the kernel binary with boot/kernel.ld when it is built for the
//! bare-metal target. Host builds (unit tests) link normally.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = manifest.join("../boot/kernel.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if target_os == "none" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
}
