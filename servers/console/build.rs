//! Links the server with libring/user.ld (for the bare-metal target).

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = manifest.join("../../libring/user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if target_os == "none" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        // Segments aligned to pages, not lld's default 64 KiB: smaller files.
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
