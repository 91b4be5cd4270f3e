//! Where things live: the workspace root, cargo's target directory, and the
//! files xtask produces under `target/annulus/`.
//!
//! Every path the other modules use comes from here, so moving an output is a
//! one-line change.

use std::path::{Path, PathBuf};

/// The Rust target the kernel is built for. "softfloat" because the kernel
/// must not touch the floating-point registers (see the house style).
pub const KERNEL_TARGET: &str = "aarch64-unknown-none-softfloat";

/// Cargo's build profile: unoptimised with full debug checks, or optimised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    #[default]
    Debug,
    Release,
}

impl Profile {
    /// The folder cargo names after the profile (`target/<triple>/debug`).
    pub fn directory_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// The workspace this xtask belongs to.
pub struct Workspace {
    /// The folder with the workspace's `Cargo.toml`.
    pub root: PathBuf,
    /// Cargo's output folder: `$CARGO_TARGET_DIR`, or `<root>/target`.
    pub target_directory: PathBuf,
}

impl Workspace {
    /// Finds the workspace from where xtask's own sources are: xtask is the
    /// `xtask/` folder of the workspace root.
    pub fn locate() -> Workspace {
        let xtask_directory = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = xtask_directory
            .parent()
            .unwrap_or(xtask_directory)
            .to_path_buf();
        // Cargo reads a relative CARGO_TARGET_DIR from its working directory,
        // which for the cargo runs xtask starts is the workspace root. An
        // absolute one replaces `root` entirely in `join`.
        let target_directory = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(directory) if !directory.is_empty() => root.join(directory),
            _ => root.join("target"),
        };
        Workspace {
            root,
            target_directory,
        }
    }

    /// The kernel ELF that cargo links.
    pub fn kernel_elf(&self, profile: Profile) -> PathBuf {
        self.target_directory
            .join(KERNEL_TARGET)
            .join(profile.directory_name())
            .join("microkernel")
    }

    /// A user program's ELF, as cargo builds it from the `init` crate.
    pub fn program_elf(&self, profile: Profile, name: &str) -> PathBuf {
        self.target_directory
            .join(KERNEL_TARGET)
            .join(profile.directory_name())
            .join(name)
    }

    /// `target/annulus/`: everything xtask itself writes.
    pub fn annulus_directory(&self) -> PathBuf {
        self.target_directory.join("annulus")
    }

    /// The raw kernel image QEMU loads with `-kernel`.
    pub fn kernel_image(&self, profile: Profile) -> PathBuf {
        self.annulus_directory()
            .join(profile.directory_name())
            .join("Image")
    }

    /// The files that become the initrd.
    pub fn initrd_source(&self) -> PathBuf {
        self.root.join("boot").join("initrd")
    }

    /// The packed initrd QEMU loads with `-initrd`.
    pub fn initrd(&self) -> PathBuf {
        self.annulus_directory().join("initrd.cpio")
    }

    /// One serial log per QEMU test configuration goes here.
    pub fn test_log_directory(&self) -> PathBuf {
        self.annulus_directory().join("test-logs")
    }

    /// A path as the user should see it: relative to the workspace root when
    /// it is inside it, so messages stay short.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_the_workspace_are_shown_relative() {
        let workspace = Workspace {
            root: PathBuf::from("/work/annulus"),
            target_directory: PathBuf::from("/work/annulus/target"),
        };
        let image = workspace.kernel_image(Profile::Release);
        assert_eq!(workspace.show(&image), "target/annulus/release/Image");
        assert_eq!(workspace.show(Path::new("/elsewhere/x")), "/elsewhere/x");
    }
}
