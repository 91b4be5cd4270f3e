//! The Generic Interrupt Controller: GICv2 or GICv3, whichever the device
//! tree names.
//!
//! Both versions have a *distributor* (one per machine: which shared
//! interrupts, SPIs, are enabled and where they go) and a per-core *CPU
//! interface* (acknowledge an interrupt, signal its end). GICv2 reaches the
//! CPU interface through memory-mapped registers; GICv3 through system
//! registers, and adds a *redistributor* per core for its private
//! interrupts (PPIs and SGIs: the timer is a PPI). See `docs/interrupts.md`.

pub mod v2;
pub mod v3;

use boot::boot_info::Trigger;

/// Interrupt IDs from 1020 up are special (1023: nothing pending).
pub const SPURIOUS: u32 = 1020;

/// The machine's interrupt controller.
pub enum Gic {
    V2(v2::GicV2),
    V3(v3::GicV3),
}

impl Gic {
    /// Lets interrupt `id` through to this core.
    pub fn enable(&self, id: u32, trigger: Trigger) {
        match self {
            Gic::V2(gic) => gic.enable(id, trigger),
            Gic::V3(gic) => gic.enable(id, trigger),
        }
    }

    /// Stops interrupt `id`.
    pub fn disable(&self, id: u32) {
        match self {
            Gic::V2(gic) => gic.disable(id),
            Gic::V3(gic) => gic.disable(id),
        }
    }

    /// Takes the highest-priority pending interrupt; `None` if it was
    /// spurious. Every `Some(id)` must be ended with [`Gic::end`].
    pub fn acknowledge(&self) -> Option<u32> {
        let id = match self {
            Gic::V2(gic) => gic.acknowledge(),
            Gic::V3(gic) => gic.acknowledge(),
        };
        (id < SPURIOUS).then_some(id)
    }

    /// Signals that interrupt `id` has been handled.
    pub fn end(&self, id: u32) {
        match self {
            Gic::V2(gic) => gic.end(id),
            Gic::V3(gic) => gic.end(id),
        }
    }

    /// Makes software-generated interrupt `id` (0-15) pending on this
    /// core.
    pub fn send_to_this_core(&self, id: u32) {
        match self {
            Gic::V2(gic) => gic.send_to_this_core(id),
            Gic::V3(gic) => gic.send_to_this_core(id),
        }
    }

    pub fn version(&self) -> u8 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }
}

/// The priority every enabled interrupt gets (lower is more urgent; all
/// equal, so none preempts another).
const DEFAULT_PRIORITY: u8 = 0xa0;
