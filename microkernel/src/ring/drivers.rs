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
use crate::process::address_space::UserAccess;
use crate::process::handles::Object;
use crate::process::{ProcessId, SYSTEM, System};
use alloc::vec::Vec;
use boot::boot_info::Interrupt;
use libring::abi::{Errno, PAGE_SIZE};

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
            system
                .routes
                .try_reserve(1)
                .map_err(|_| Errno::OutOfMemory)?;
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

/// `MAP_DEVICE`: maps the registers behind device handle `handle` (the
/// result: their offset in the first page), or the boot image behind a
/// boot-image handle (the result: its size).
pub fn map_device(
    system: &mut System,
    id: ProcessId,
    handle: u32,
    address: u64,
) -> Result<i32, Errno> {
    let process = system.process(id).ok_or(Errno::BadHandle)?;
    let offset = match process.handles.get(handle)? {
        Object::Device { registers } => {
            // Room to remember the device (so that it is reset when the
            // process ends) first: no room, no mapping.
            process
                .mapped_devices
                .try_reserve(1)
                .map_err(|_| Errno::OutOfMemory)?;
            let offset = process.address_space.map_device(address, registers)?;
            if !process.mapped_devices.contains(&registers) {
                process.mapped_devices.push(registers);
            }
            offset
        }
        Object::BootImage { image } => process.address_space.map_boot_image(address, image)?,
        _ => return Err(Errno::NotPermitted),
    };
    Ok(offset as i32)
}

/// `DMA_MAP`: `length` bytes of new memory at `address` in contiguous
/// frames, for the caller's device to read and write by itself (needs a
/// DMA handle). The result is the first frame's number (its physical
/// address / `PAGE_SIZE`), which the driver tells the device.
pub fn dma_map(
    system: &mut System,
    id: ProcessId,
    handle: u32,
    address: u64,
    length: u64,
) -> Result<i32, Errno> {
    let process = system.process(id).ok_or(Errno::BadHandle)?;
    if process.handles.get(handle)? != Object::Dma {
        return Err(Errno::NotPermitted);
    }
    let first = process
        .address_space
        .map_new_contiguous(address, length, UserAccess::ReadWrite)?;
    match i32::try_from(first / PAGE_SIZE) {
        Ok(frame) => Ok(frame),
        Err(_) => {
            // RAM past 8 TiB: a frame number that does not fit the result.
            let _ = process.address_space.unmap(address, length);
            Err(Errno::OutOfMemory)
        }
    }
}

/// A `LOG_READ` waiting for kernel log bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingLogRead {
    pub request: u64,
    pub address: u64,
    pub length: u32,
}

/// `LOG_READ`: process `id` (holding a kernel-log handle) waits for kernel
/// log bytes. The first call turns the kernel log's buffering on.
pub fn log_read(
    system: &mut System,
    id: ProcessId,
    request: u64,
    handle: u32,
    address: u64,
    length: u32,
) -> Result<(), Errno> {
    let process = system.process(id).ok_or(Errno::BadHandle)?;
    if process.handles.get(handle)? != Object::KernelLog {
        return Err(Errno::NotPermitted);
    }
    process
        .address_space
        .check_writable(address, length as usize)?;
    match system.log_reader {
        Some((reader, _)) if reader != id => return Err(Errno::Busy),
        Some((_, Some(_))) => return Err(Errno::Busy),
        _ => {}
    }
    system.log_reader = Some((
        id,
        Some(PendingLogRead {
            request,
            address,
            length,
        }),
    ));
    crate::console::start_buffering();
    deliver_log(system);
    Ok(())
}

/// Gives kept kernel log to the waiting `LOG_READ`, if both exist. Called
/// when one is submitted, after every `LOG`, and on every tick (for what
/// the kernel itself printed).
pub fn deliver_log(system: &mut System) {
    let Some((
        reader,
        Some(PendingLogRead {
            request,
            address,
            length,
        }),
    )) = system.log_reader
    else {
        return;
    };
    // A reader being torn down would take the bytes with it: they wait
    // (and are written out when it is gone, `log_reader_ended`).
    let ending = system
        .process(reader)
        .is_none_or(|process| process.ending.is_some());
    if ending || !crate::console::pending() {
        return;
    }
    let mut piece = [0u8; 256];
    let count = crate::console::take(&mut piece[..(length as usize).min(256)]);
    let copied = system
        .process(reader)
        .map(|process| process.address_space.copy_to_user(address, &piece[..count]));
    system.log_reader = Some((reader, None));
    let result = match copied {
        Some(Ok(())) => count as i32,
        _ => Errno::Fault.result(),
    };
    super::engine::finish(system, reader, request, result);
    super::engine::advance_later(system, reader);
}

/// The `LOG_READ` request `request` of process `id` ended early.
pub fn log_read_ended(system: &mut System, id: ProcessId, request: u64) {
    if let Some((reader, Some(pending))) = system.log_reader
        && reader == id
        && pending.request == request
    {
        system.log_reader = Some((id, None));
    }
}

/// Process `id` is ending: if it read the kernel log, the kernel writes
/// its log to the UART itself again (what was kept first).
pub fn log_reader_ended(system: &mut System, id: ProcessId) {
    if matches!(system.log_reader, Some((reader, _)) if reader == id) {
        system.log_reader = None;
        crate::console::stop_buffering();
    }
}
