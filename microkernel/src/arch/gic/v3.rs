//! GICv3: distributor and redistributors memory mapped, CPU interface
//! through system registers (`ICC_*_EL1`).
//! (Arm IHI 0069, "GIC Architecture Specification version 3 and 4", ch. 12.)

use super::DEFAULT_PRIORITY;
use boot::boot_info::Trigger;
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// The distributor (GICD_*), for shared interrupts (SPIs, IDs 32 up).
    pub DistributorRegisters {
        (0x0000 => control: ReadWrite<u32>),                   // GICD_CTLR
        (0x0004 => type_register: ReadOnly<u32>),              // GICD_TYPER
        (0x0008 => _reserved0),
        (0x0080 => group: [ReadWrite<u32>; 32]),               // GICD_IGROUPRn
        (0x0100 => set_enable: [ReadWrite<u32>; 32]),          // GICD_ISENABLERn
        (0x0180 => clear_enable: [ReadWrite<u32>; 32]),        // GICD_ICENABLERn
        (0x0200 => _reserved1),
        (0x0400 => priority: [ReadWrite<u8>; 1024]),           // GICD_IPRIORITYRn
        (0x0800 => _reserved2),
        (0x0c00 => configuration: [ReadWrite<u32>; 64]),       // GICD_ICFGRn
        (0x0d00 => _reserved3),
        (0x6000 => route: [ReadWrite<u64>; 1024]),             // GICD_IROUTERn
        (0x8000 => @END),
    }
}

register_structs! {
    /// One core's redistributor: the control frame, then 64 KiB on, the
    /// frame for its private interrupts (SGIs 0-15, PPIs 16-31).
    pub RedistributorRegisters {
        (0x00000 => control: ReadWrite<u32>),                  // GICR_CTLR
        (0x00004 => _reserved0),
        (0x00008 => type_register: ReadOnly<u64>),             // GICR_TYPER
        (0x00010 => _reserved1),
        (0x00014 => wake: ReadWrite<u32>),                     // GICR_WAKER
        (0x00018 => _reserved2),
        (0x10080 => group: ReadWrite<u32>),                    // GICR_IGROUPR0
        (0x10084 => _reserved3),
        (0x10100 => set_enable: ReadWrite<u32>),               // GICR_ISENABLER0
        (0x10104 => _reserved4),
        (0x10180 => clear_enable: ReadWrite<u32>),             // GICR_ICENABLER0
        (0x10184 => _reserved5),
        (0x10400 => priority: [ReadWrite<u8>; 32]),            // GICR_IPRIORITYRn
        (0x10420 => _reserved6),
        (0x10c00 => configuration: [ReadWrite<u32>; 2]),       // GICR_ICFGR0/1
        (0x10c08 => _reserved7),
        (0x20000 => @END),
    }
}

/// The size of one redistributor (two 64 KiB frames in GICv3).
pub const REDISTRIBUTOR_STRIDE: usize = 0x20000;
/// `GICR_TYPER.Last`: the last redistributor in its region.
const TYPER_LAST: u64 = 1 << 4;
/// `GICR_WAKER` bits.
const PROCESSOR_SLEEP: u32 = 1 << 1;
const CHILDREN_ASLEEP: u32 = 1 << 2;
/// `GICD_CTLR`: register writes pending.
const WRITE_PENDING: u32 = 1 << 31;

pub struct GicV3 {
    distributor: &'static DistributorRegisters,
    redistributor: &'static RedistributorRegisters,
    /// This core's `MPIDR_EL1` affinity: where its own SGIs are sent.
    core_affinity: u64,
}

/// Why a GICv3 could not be set up.
#[derive(Clone, Copy, Debug)]
pub enum GicV3Error {
    /// No redistributor in the mapped region belongs to this core.
    NoRedistributor,
}

// SAFETY: as for GicV2: one core; the distributor is changed only at boot
// and when registering handlers, with IRQs masked; the redistributor and the
// CPU interface are this core's own.
unsafe impl Sync for GicV3 {}
// SAFETY: as above.
unsafe impl Send for GicV3 {}

impl GicV3 {
    /// Takes over a GICv3 and turns it on with every interrupt disabled.
    /// `redistributors` maps `redistributor_bytes` of the redistributor
    /// region; this core's redistributor is found in it by affinity.
    ///
    /// # Safety
    /// The addresses must be live, exclusive mappings of the GICv3
    /// distributor and (that much of) the redistributor region.
    pub unsafe fn new(
        distributor: usize,
        redistributors: usize,
        redistributor_bytes: usize,
        core_affinity: u64,
    ) -> Result<GicV3, GicV3Error> {
        // SAFETY: the caller promises a live, exclusive device mapping.
        let distributor = unsafe { &*(distributor as *const DistributorRegisters) };
        let mut found = None;
        for index in 0..redistributor_bytes / REDISTRIBUTOR_STRIDE {
            // SAFETY: inside the mapped region (the loop's range).
            let candidate = unsafe {
                &*((redistributors + index * REDISTRIBUTOR_STRIDE) as *const RedistributorRegisters)
            };
            let type_register = candidate.type_register.get();
            if type_register >> 32 == compress_affinity(core_affinity) {
                found = Some(candidate);
                break;
            }
            if type_register & TYPER_LAST != 0 {
                break;
            }
        }
        let redistributor = found.ok_or(GicV3Error::NoRedistributor)?;
        let gic = GicV3 {
            distributor,
            redistributor,
            core_affinity,
        };
        gic.turn_on();
        Ok(gic)
    }

    fn turn_on(&self) {
        // Distributor: off while we set it up, all SPIs disabled and in
        // group 1 (the one the non-secure kernel uses), then on with
        // affinity routing (ARE) and group 1 enabled.
        let lines = ((self.distributor.type_register.get() & 0x1f) + 1) as usize * 32;
        self.distributor.control.set(0);
        self.wait_for_distributor();
        for index in 1..lines / 32 {
            self.distributor.clear_enable[index].set(u32::MAX);
            self.distributor.group[index].set(u32::MAX);
        }
        self.distributor.control.set((1 << 4) | (1 << 1) | 1); // ARE, EnableGrp1, EnableGrp0
        self.wait_for_distributor();

        // Redistributor: wake it, then private interrupts disabled, group 1.
        self.redistributor
            .wake
            .set(self.redistributor.wake.get() & !PROCESSOR_SLEEP);
        while self.redistributor.wake.get() & CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        self.redistributor.clear_enable.set(u32::MAX);
        self.redistributor.group.set(u32::MAX);

        // CPU interface: system registers on, all priorities, group 1 on.
        // SAFETY: ICC_* writes configure this core's interrupt delivery only.
        unsafe {
            asm!(
                "msr icc_sre_el1, {sre}",
                "isb",
                "msr icc_pmr_el1, {mask}",
                "msr icc_bpr1_el1, xzr",
                "msr icc_igrpen1_el1, {one}",
                "isb",
                sre = in(reg) 0b111u64, // SRE | DFB | DIB
                mask = in(reg) 0xffu64,
                one = in(reg) 1u64,
                options(nostack),
            );
        }
    }

    fn wait_for_distributor(&self) {
        while self.distributor.control.get() & WRITE_PENDING != 0 {
            core::hint::spin_loop();
        }
    }

    pub fn enable(&self, id: u32, trigger: Trigger) {
        let index = id as usize;
        let edge_bit = 1 << ((index % 16) * 2 + 1);
        if index < 32 {
            self.redistributor.priority[index].set(DEFAULT_PRIORITY);
            if index >= 16 {
                let register = &self.redistributor.configuration[1];
                set_edge(register, edge_bit, trigger);
            }
            self.redistributor.set_enable.set(1 << index);
        } else {
            self.distributor.priority[index].set(DEFAULT_PRIORITY);
            set_edge(
                &self.distributor.configuration[index / 16],
                edge_bit,
                trigger,
            );
            self.distributor.route[index].set(0); // to affinity 0.0.0.0, the boot core
            self.distributor.set_enable[index / 32].set(1 << (index % 32));
        }
    }

    pub fn disable(&self, id: u32) {
        let index = id as usize;
        if index < 32 {
            self.redistributor.clear_enable.set(1 << index);
        } else {
            self.distributor.clear_enable[index / 32].set(1 << (index % 32));
        }
    }

    pub fn acknowledge(&self) -> u32 {
        let id: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges the interrupt; the
        // caller ends it.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) id, options(nomem, nostack)) };
        (id & 0xff_ffff) as u32
    }

    pub fn end(&self, id: u32) {
        // SAFETY: ends an interrupt this core acknowledged.
        unsafe { asm!("msr icc_eoir1_el1, {}", "isb", in(reg) id as u64, options(nomem, nostack)) };
    }

    pub fn send_to_this_core(&self, id: u32) {
        // ICC_SGI1R_EL1: Aff3 [55:48], Aff2 [39:32], INTID [27:24],
        // Aff1 [23:16], a target list of Aff0 values [15:0].
        let affinity = self.core_affinity;
        let aff0 = affinity & 0xf;
        let value = (((affinity >> 32) & 0xff) << 48)
            | (((affinity >> 16) & 0xff) << 32)
            | (u64::from(id & 0xf) << 24)
            | (((affinity >> 8) & 0xff) << 16)
            | (1 << aff0);
        // SAFETY: raises an SGI on this core only.
        unsafe { asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nomem, nostack)) };
    }
}

fn set_edge(register: &ReadWrite<u32>, edge_bit: u32, trigger: Trigger) {
    match trigger {
        Trigger::Edge => register.set(register.get() | edge_bit),
        Trigger::Level => register.set(register.get() & !edge_bit),
    }
}

/// `MPIDR_EL1` affinity (Aff3 in bits 39:32) as `GICR_TYPER` holds it
/// (Aff3.Aff2.Aff1.Aff0 in 32 bits).
fn compress_affinity(affinity: u64) -> u64 {
    ((affinity >> 8) & 0xff00_0000) | (affinity & 0xff_ffff)
}
