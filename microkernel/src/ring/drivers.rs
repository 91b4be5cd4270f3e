//! What driver servers get: interrupts routed to their rings, and their
//! device's registers mapped into their address space.
//!
//! An interrupt handle's line is *routed*: the kernel's handler for it
//! masks the line at the GIC and posts a completion on the driver's
//! multishot `IRQ_WAIT`. The line stays masked until the driver says
//! `IRQ_ACK`, after it has dealt with the device, so a level-triggered
//! device cannot storm the kernel. If the driver's CQ has no free slot the
//! event waits in the request and is posted on a later tick.

use super::engine::post_event;
use crate::interrupts;
use crate::process::handles::Object;
use crate::process::{ProcessId, SYSTEM, System};
use alloc::vec::Vec;
use boot::boot_info::Interrupt;
use libring::abi::Errno;

/// An interrupt line routed to a process.
pub struct Route {
    pub interrupt: Interrupt,
    pub process: ProcessId,
    /// The `IRQ_WAIT` request that gets the events.
    pub request: Option<u64>,
}

fn interrupt_of(system: &mut System, id: ProcessId, handle: u32) -> Result<Interrupt, Errno> {
    match system
        .process(id)
        .ok_or(Errno::BadHandle)?
        .handles
        .get(handle)?
    {
        Object::Interrupt { interrupt } => Ok(interrupt),
        _ => Err(Errno::NotPermitted),
    }
}

/// `IRQ_WAIT`: routes the line to request `request` of process `id`.
pub fn irq_wait(
    system: &mut System,
    id: ProcessId,
    request: u64,
    handle: u32,
) -> Result<(), Errno> {
    let interrupt = interrupt_of(system, id, handle)?;
    match system
        .routes
        .iter_mut()
        .find(|route| route.interrupt.id == interrupt.id)
    {
        Some(route) if route.process != id => return Err(Errno::Busy),
        Some(route) if route.request.is_some() => return Err(Errno::Busy),
        Some(route) => route.request = Some(request),
        None => {
            interrupts::register(interrupt.id, interrupt.trigger, routed_interrupt)
                .map_err(|_| Errno::Busy)?;
            system.routes.push(Route {
                interrupt,
                process: id,
                request: Some(request),
            });
        }
    }
    Ok(())
}

/// `IRQ_ACK`: unmasks the line again.
pub fn irq_ack(system: &mut System, id: ProcessId, handle: u32) -> Result<(), Errno> {
    let interrupt = interrupt_of(system, id, handle)?;
    let routed = system
        .routes
        .iter()
        .any(|route| route.interrupt.id == interrupt.id && route.process == id);
    if !routed {
        return Err(Errno::InvalidArgument);
    }
    interrupts::unmask(interrupt.id, interrupt.trigger);
    Ok(())
}

/// The kernel's handler for every routed line (in the IRQ exception).
fn routed_interrupt(line: u32) {
    interrupts::mask(line);
    let mut system = SYSTEM.lock();
    let target = system
        .routes
        .iter()
        .find(|route| route.interrupt.id == line)
        .and_then(|route| Some((route.process, route.request?)));
    if let Some((process, request)) = target {
        post_event(&mut system, process, request, 0);
    }
}

/// The `IRQ_WAIT` request `request` of process `id` ended (cancelled, or
/// its process is ending): its line is no longer routed there.
pub fn wait_ended(system: &mut System, id: ProcessId, request: u64) {
    for route in system
        .routes
        .iter_mut()
        .filter(|route| route.process == id && route.request == Some(request))
    {
        route.request = None;
        interrupts::mask(route.interrupt.id);
    }
}

/// Process `id` is ending: its lines are unrouted and masked.
pub fn process_ended(system: &mut System, id: ProcessId) {
    let (mine, others): (Vec<Route>, Vec<Route>) = system
        .routes
        .drain(..)
        .partition(|route| route.process == id);
    system.routes = others;
    for route in mine {
        interrupts::unregister(route.interrupt.id);
    }
}

/// `MAP_DEVICE`: maps the registers behind device handle `handle`.
pub fn map_device(
    system: &mut System,
    id: ProcessId,
    handle: u32,
    address: u64,
) -> Result<i32, Errno> {
    let process = system.process(id).ok_or(Errno::BadHandle)?;
    let Object::Device { registers } = process.handles.get(handle)? else {
        return Err(Errno::NotPermitted);
    };
    let offset = process.address_space.map_device(address, registers)?;
    Ok(offset as i32)
}
