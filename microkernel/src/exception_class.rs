//! Naming what `ESR_EL1` says, so a fault report reads as words.
//!
//! `ESR_EL1` (the exception syndrome register) holds the exception class
//! (EC, bits 31:26) and a class-specific syndrome (ISS, bits 24:0). For
//! aborts the ISS carries a fault status code (bits 5:0) saying which kind of
//! translation problem it was. ARM ARM, section D17.2.37.

/// The exception class field of an `ESR_EL1` value.
pub fn class_of(syndrome: u64) -> u8 {
    ((syndrome >> 26) & 0x3f) as u8
}

/// Exception classes the kernel acts on.
pub mod class {
    pub const UNKNOWN: u8 = 0x00;
    pub const SVC_AARCH64: u8 = 0x15;
    pub const INSTRUCTION_ABORT_LOWER: u8 = 0x20;
    pub const INSTRUCTION_ABORT_SAME: u8 = 0x21;
    pub const DATA_ABORT_LOWER: u8 = 0x24;
    pub const DATA_ABORT_SAME: u8 = 0x25;
}

/// A human name for an exception class.
pub fn class_name(class: u8) -> &'static str {
    match class {
        0x00 => "Unknown reason (undefined instruction)",
        0x01 => "Trapped WFI/WFE",
        0x07 => "Access to SIMD/floating point (trapped)",
        0x0e => "Illegal execution state",
        0x15 => "SVC from AArch64",
        0x16 => "HVC from AArch64",
        0x17 => "SMC from AArch64",
        0x18 => "Trapped MSR, MRS or system instruction",
        0x19 => "Access to SVE (trapped)",
        0x20 => "Instruction Abort from a lower exception level",
        0x21 => "Instruction Abort from the same exception level",
        0x22 => "PC alignment fault",
        0x24 => "Data Abort from a lower exception level",
        0x25 => "Data Abort from the same exception level",
        0x26 => "SP alignment fault",
        0x2c => "Trapped floating-point exception",
        0x2f => "SError interrupt",
        0x30 | 0x31 => "Breakpoint",
        0x32 | 0x33 => "Software step",
        0x34 | 0x35 => "Watchpoint",
        0x3c => "BRK instruction",
        _ => "Reserved or unhandled exception class",
    }
}

/// What kind of abort a data or instruction abort was, from its fault
/// status code (DFSC/IFSC, `ESR_EL1` bits 5:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Nothing is mapped there (at the given table level).
    Translation {
        level: u8,
    },
    /// The access flag was clear.
    AccessFlag {
        level: u8,
    },
    /// Mapped, but not for this kind of access (write to read-only, execute
    /// from never-execute, EL0 to kernel memory).
    Permission {
        level: u8,
    },
    AddressSize {
        level: u8,
    },
    Alignment,
    Other(u8),
}

impl core::fmt::Display for FaultKind {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FaultKind::Translation { level } => {
                write!(formatter, "translation fault (level {level})")
            }
            FaultKind::AccessFlag { level } => {
                write!(formatter, "access flag fault (level {level})")
            }
            FaultKind::Permission { level } => {
                write!(formatter, "permission fault (level {level})")
            }
            FaultKind::AddressSize { level } => {
                write!(formatter, "address size fault (level {level})")
            }
            FaultKind::Alignment => write!(formatter, "alignment fault"),
            FaultKind::Other(status) => write!(formatter, "fault status {status:#x}"),
        }
    }
}

/// The fault kind of an abort's `ESR_EL1` value.
pub fn fault_kind(syndrome: u64) -> FaultKind {
    let status = (syndrome & 0x3f) as u8;
    let level = status & 0b11;
    match status >> 2 {
        0b0000 => FaultKind::AddressSize { level },
        0b0001 => FaultKind::Translation { level },
        0b0010 => FaultKind::AccessFlag { level },
        0b0011 => FaultKind::Permission { level },
        _ if status == 0b10_0001 => FaultKind::Alignment,
        _ => FaultKind::Other(status),
    }
}

/// For a data abort: was it a write (`WnR`, bit 6)?
pub fn is_write(syndrome: u64) -> bool {
    syndrome & (1 << 6) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_to_read_only_kernel_page_decodes() {
        // EC 0x25, IL, WnR, DFSC 0b001111 (permission fault, level 3).
        let syndrome = (0x25 << 26) | (1 << 25) | (1 << 6) | 0b00_1111;
        assert_eq!(class_of(syndrome), class::DATA_ABORT_SAME);
        assert_eq!(
            class_name(class_of(syndrome)),
            "Data Abort from the same exception level"
        );
        assert_eq!(fault_kind(syndrome), FaultKind::Permission { level: 3 });
        assert!(is_write(syndrome));
    }

    #[test]
    fn fault_kinds_read_as_words() {
        assert_eq!(
            FaultKind::Permission { level: 3 }.to_string(),
            "permission fault (level 3)"
        );
        assert_eq!(
            FaultKind::Translation { level: 0 }.to_string(),
            "translation fault (level 0)"
        );
    }

    #[test]
    fn unmapped_page_is_a_translation_fault() {
        let syndrome = (0x25 << 26) | 0b00_0111;
        assert_eq!(fault_kind(syndrome), FaultKind::Translation { level: 3 });
        assert!(!is_write(syndrome));
    }

    #[test]
    fn every_class_has_a_name() {
        for class in 0..64u8 {
            assert!(!class_name(class).is_empty());
        }
        assert_eq!(class_name(0x15), "SVC from AArch64");
        assert!(class_name(0x00).contains("undefined instruction"));
    }
}
