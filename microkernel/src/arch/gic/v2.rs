//! GICv2: distributor and CPU interface, both memory mapped.
//! (Arm IHI 0048B, "GIC Architecture Specification version 2", chapter 4.)

use super::DEFAULT_PRIORITY;
use boot::boot_info::Trigger;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// The distributor (GICD_*).
    pub DistributorRegisters {
        (0x000 => control: ReadWrite<u32>),                    // GICD_CTLR
        (0x004 => type_register: ReadOnly<u32>),               // GICD_TYPER
        (0x008 => _reserved0),
        (0x100 => set_enable: [ReadWrite<u32>; 32]),           // GICD_ISENABLERn
        (0x180 => clear_enable: [ReadWrite<u32>; 32]),         // GICD_ICENABLERn
        (0x200 => _reserved1),
        (0x400 => priority: [ReadWrite<u8>; 1024]),            // GICD_IPRIORITYRn
        (0x800 => targets: [ReadWrite<u8>; 1024]),             // GICD_ITARGETSRn
        (0xc00 => configuration: [ReadWrite<u32>; 64]),        // GICD_ICFGRn
        (0xd00 => _reserved2),
        (0xf00 => software_interrupt: WriteOnly<u32>),         // GICD_SGIR
        (0xf04 => @END),
    }
}

register_structs! {
    /// The CPU interface (GICC_*).
    pub CpuInterfaceRegisters {
        (0x000 => control: ReadWrite<u32>),                    // GICC_CTLR
        (0x004 => priority_mask: ReadWrite<u32>),              // GICC_PMR
        (0x008 => binary_point: ReadWrite<u32>),               // GICC_BPR
        (0x00c => acknowledge: ReadOnly<u32>),                 // GICC_IAR
        (0x010 => end_of_interrupt: WriteOnly<u32>),           // GICC_EOIR
        (0x014 => @END),
    }
}

pub struct GicV2 {
    distributor: &'static DistributorRegisters,
    cpu_interface: &'static CpuInterfaceRegisters,
}

// SAFETY: the distributor is shared machine state, but the kernel runs on
// one core and changes it only at boot and when registering handlers (with
// IRQs masked); the CPU interface registers are this core's own.
unsafe impl Sync for GicV2 {}
// SAFETY: as above.
unsafe impl Send for GicV2 {}

impl GicV2 {
    /// Takes over a GICv2 and turns it on with every interrupt disabled.
    ///
    /// # Safety
    /// The two addresses must be live, exclusive mappings of the GICv2
    /// distributor and CPU interface register blocks.
    pub unsafe fn new(distributor: usize, cpu_interface: usize) -> GicV2 {
        // SAFETY: the caller promises live, exclusive device mappings.
        let gic = unsafe {
            GicV2 {
                distributor: &*(distributor as *const DistributorRegisters),
                cpu_interface: &*(cpu_interface as *const CpuInterfaceRegisters),
            }
        };
        let lines = ((gic.distributor.type_register.get() & 0x1f) + 1) as usize * 32;
        gic.distributor.control.set(0);
        for register in &gic.distributor.clear_enable[..lines / 32] {
            register.set(u32::MAX);
        }
        gic.distributor.control.set(1); // forward interrupts to CPU interfaces
        gic.cpu_interface.priority_mask.set(0xff); // let every priority through
        gic.cpu_interface.binary_point.set(0);
        gic.cpu_interface.control.set(1);
        gic
    }

    pub fn enable(&self, id: u32, trigger: Trigger) {
        let id = id as usize;
        self.distributor.priority[id].set(DEFAULT_PRIORITY);
        if id >= 32 {
            // Shared interrupts: route to core 0, set edge or level. (SGIs
            // and PPIs are private to each core and fixed.)
            self.distributor.targets[id].set(1);
            let register = &self.distributor.configuration[id / 16];
            let edge_bit = 1 << ((id % 16) * 2 + 1);
            match trigger {
                Trigger::Edge => register.set(register.get() | edge_bit),
                Trigger::Level => register.set(register.get() & !edge_bit),
            }
        }
        self.distributor.set_enable[id / 32].set(1 << (id % 32));
    }

    pub fn disable(&self, id: u32) {
        let id = id as usize;
        self.distributor.clear_enable[id / 32].set(1 << (id % 32));
    }

    pub fn acknowledge(&self) -> u32 {
        self.cpu_interface.acknowledge.get() & 0x3ff
    }

    pub fn end(&self, id: u32) {
        self.cpu_interface.end_of_interrupt.set(id);
    }

    pub fn send_to_this_core(&self, id: u32) {
        // TargetListFilter 0b10: only the core that writes.
        self.distributor
            .software_interrupt
            .set((0b10 << 24) | (id & 0xf));
    }
}
