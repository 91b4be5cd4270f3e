//! The build script of every user program (init/, servers/*): links it
//! with libring/user.ld, for the bare-metal target. Each program's
//! Cargo.toml names this file (`build = ".../libring/program_build.rs"`),
//! so there is one copy.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    // The workspace root is the nearest folder above the program that has
    // libring/user.ld.
    let script = manifest
        .ancestors()
        .map(|folder| folder.join("libring/user.ld"))
        .find(|script| script.exists())
        .expect("libring/user.ld above the program's folder");
    println!("cargo:rerun-if-changed={}", script.display());
    if target_os == "none" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        // Segments aligned to pages, not lld's default 64 KiB: smaller files.
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
