//! Interrupt routing: from the GIC to the handler registered for each line.
//!
//! The GIC driver (`arch::gic`) is chosen from the device tree at boot. A
//! kernel subsystem registers a handler for an interrupt ID; on an IRQ
//! exception [`handle_irq`] acknowledges each pending interrupt, calls its
//! handler, and signals the end of it. Later issues route interrupts to
//! driver servers in user space instead (see `docs/interrupts.md`).
//!
//! # Invariants
//! - Handlers run with IRQs masked, and must not block.
//! - Every acknowledged interrupt is ended, handled or not.

use crate::arch::gic::{Gic, v2::GicV2, v3};
use crate::sync::IrqMutex;
use crate::{kprintln, mm, scheduler};
use boot::boot_info::{InterruptController, Trigger};

/// The most interrupt lines with a handler at once.
const MAX_HANDLERS: usize = 16;

static GIC: spin::Once<Gic> = spin::Once::new();
/// A handler: called with the interrupt's ID, IRQs masked; must not block.
pub type Handler = fn(u32);

static HANDLERS: IrqMutex<heapless::Vec<(u32, Handler), MAX_HANDLERS>> =
    IrqMutex::new(heapless::Vec::new());

/// Why interrupt routing could not start.
#[derive(Debug)]
pub enum InterruptError {
    /// The GIC's registers could not be mapped.
    Map(mm::setup::DeviceMapError),
    /// A GICv3 without a redistributor for this core.
    NoRedistributor,
    /// More handlers than the table holds, or an ID the GIC cannot have.
    BadRegistration(u32),
}

/// Finds, maps and turns on the interrupt controller.
pub fn init(controller: &InterruptController, cpu_count: usize) -> Result<(), InterruptError> {
    let gic = match *controller {
        InterruptController::GicV2 {
            distributor,
            cpu_interface,
        } => {
            let distributor = mm::map_device(distributor).map_err(InterruptError::Map)?;
            let cpu_interface = mm::map_device(cpu_interface).map_err(InterruptError::Map)?;
            // SAFETY: both blocks were just mapped, for the GIC driver only.
            Gic::V2(unsafe { GicV2::new(distributor, cpu_interface) })
        }
        InterruptController::GicV3 {
            distributor,
            redistributors,
        } => {
            // Map only the redistributors of the cores that exist: the region
            // in the device tree is sized for far more.
            let wanted = (cpu_count.max(1) * v3::REDISTRIBUTOR_STRIDE) as u64;
            let region = boot::boot_info::PhysicalRange {
                size: redistributors.size.min(wanted),
                ..redistributors
            };
            let distributor = mm::map_device(distributor).map_err(InterruptError::Map)?;
            let mapped = mm::map_device(region).map_err(InterruptError::Map)?;
            // SAFETY: both blocks were just mapped, for the GIC driver only.
            let gic = unsafe {
                v3::GicV3::new(
                    distributor,
                    mapped,
                    region.size as usize,
                    crate::arch::cpu::core_affinity(),
                )
            };
            Gic::V3(gic.map_err(|_| InterruptError::NoRedistributor)?)
        }
    };
    GIC.call_once(|| gic);
    Ok(())
}

/// The GIC version in use (2 or 3), once `init` has run.
pub fn gic_version() -> Option<u8> {
    GIC.get().map(Gic::version)
}

/// Calls `handler` whenever interrupt `id` fires, and enables it.
pub fn register(id: u32, trigger: Trigger, handler: Handler) -> Result<(), InterruptError> {
    let gic = GIC.get().ok_or(InterruptError::BadRegistration(id))?;
    if id >= crate::arch::gic::SPURIOUS {
        return Err(InterruptError::BadRegistration(id));
    }
    let mut handlers = HANDLERS.lock();
    if handlers.iter().any(|(registered, _)| *registered == id) {
        return Err(InterruptError::BadRegistration(id));
    }
    handlers
        .push((id, handler))
        .map_err(|_| InterruptError::BadRegistration(id))?;
    drop(handlers);
    gic.enable(id, trigger);
    Ok(())
}

/// Called on every IRQ exception, with IRQs masked.
pub fn handle_irq() {
    let Some(gic) = GIC.get() else { return };
    while let Some(id) = gic.acknowledge() {
        let handler = HANDLERS
            .lock()
            .iter()
            .find(|(registered, _)| *registered == id)
            .map(|(_, handler)| *handler);
        match handler {
            Some(handler) => handler(id),
            None => {
                kprintln!("interrupts: no handler for interrupt {}; disabling it", id);
                gic.disable(id);
            }
        }
        gic.end(id);
    }
    // The tick may have used up the running thread's time slice.
    scheduler::preempt_if_needed();
}

/// Sends software-generated interrupt `id` (0-15) to this core.
pub fn send_to_this_core(id: u32) {
    if let Some(gic) = GIC.get() {
        gic.send_to_this_core(id);
    }
}

/// Removes the handler of interrupt `id` and disables it.
pub fn unregister(id: u32) {
    HANDLERS.lock().retain(|(registered, _)| *registered != id);
    if let Some(gic) = GIC.get() {
        gic.disable(id);
    }
}

/// Masks interrupt `id` at the GIC (it stays pending until unmasked).
pub fn mask(id: u32) {
    if let Some(gic) = GIC.get() {
        gic.disable(id);
    }
}

/// Unmasks interrupt `id` at the GIC.
pub fn unmask(id: u32, trigger: Trigger) {
    if let Some(gic) = GIC.get() {
        gic.enable(id, trigger);
    }
}
