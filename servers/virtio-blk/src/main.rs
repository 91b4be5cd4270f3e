//! virtio-blk: the disk driver, a server at EL0. It drives the first
//! virtio block device with the `virtio-drivers` crate's transport and
//! virtqueue (`device.rs` has the block requests) and serves the disk's
//! bytes to its clients (the FAT file server). `docs/drivers.md` tells the
//! whole story.
//!
//! Started with, in this order: the service handle of its endpoint, the
//! device's registers, its interrupt, and the DMA right (the manifest's
//! `serve device=virtio-blk irq=virtio-blk dma`).
//!
//! | request | what the server does |
//! | --- | --- |
//! | `READ` at `offset` | reads the disk from byte `offset` into the buffer, up to the disk's end: both multiples of 512 (`EINVAL`); completes with the bytes read (0 at the end) |
//! | `WRITE` at `offset` | writes the buffer to the disk there, the same way; `EPERM` on a read-only disk |
//! | `FSYNC` | completes when every write before it is on the disk itself (a virtio flush request; at once for a disk without a write cache) |
//! | `STAT` | a `FileStatus` whose `size` is the disk's size in bytes |
//! | anything else | `EINVAL` |
//!
//! A device error is `EIO`. Requests are served one at a time, in the
//! order they arrive; each is cut into pieces of at most [`CHUNK`] bytes,
//! one device request each. While the device works, the server waits on
//! its ring for the device's interrupt, and keeps requests that arrive
//! meanwhile for later.
//!
//! On the host this builds to an empty stub.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod hal;

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use super::device::{self, Header, Request};
    use super::hal;
    use alloc::boxed::Box;
    use alloc::collections::VecDeque;
    use alloc::vec;
    use core::ptr::NonNull;
    use libring::abi::{
        Completion, Errno, FileStatus, MAP_BASE, Opcode, RequestMessage, Submission,
        completion_flags, file_kind,
    };
    use libring::ops::{self, SubmissionOptions};
    use libring::println;
    use libring::ring::{Kernel, Ring};
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
    use virtio_drivers::transport::{DeviceType, Transport};
    use zerocopy::IntoBytes;

    libring::entry!(main);

    /// Requests that may wait at once.
    const SLOTS: usize = 16;
    /// Where the device's registers are mapped.
    const DEVICE_ADDRESS: u64 = MAP_BASE + (1 << 30);
    /// The size of a virtio-mmio slot's register block.
    const DEVICE_SIZE: usize = 0x200;
    /// Bytes moved by one device request at most: the DMA data buffer.
    pub const CHUNK: usize = 128 * 1024;
    /// The user data of the `IRQ_WAIT`.
    const IRQ_WAIT_USER_DATA: u64 = 1;
    /// The user data of the watchdog: a multishot `TIMEOUT` every
    /// [`WATCHDOG`] nanoseconds, so that a request whose interrupt never
    /// came is still seen done (and said so).
    const WATCHDOG_USER_DATA: u64 = 3;
    const WATCHDOG: u64 = 100_000_000;

    /// Bytes per sector: what offsets and lengths are multiples of.
    const SECTOR_SIZE: usize = 512;

    type Device = device::Disk<MmioTransport<'static>>;

    struct Disk {
        device: Device,
        interrupt: u32,
        /// Bytes on the disk.
        size: u64,
        /// DMA memory: what the device reads from and writes into.
        data: &'static mut [u8],
        /// The header and status of the device request in flight (copied
        /// to DMA memory through the `Hal`).
        header: Header,
        status: [u8; 1],
        /// Requests that arrived while another was served.
        waiting: VecDeque<RequestMessage>,
    }

    fn main(_arguments: Arguments) -> i32 {
        let [service, registers, interrupt, dma] = *runtime::handles() else {
            println!("virtio-blk: expected the handles [service, device, irq, dma]");
            return 1;
        };
        hal::init(dma);
        let mut disk = match Disk::open(registers, interrupt) {
            Ok(disk) => disk,
            Err(message) => {
                println!("virtio-blk: {message}");
                return 1;
            }
        };
        println!(
            "virtio-blk: a disk of {} KiB{}",
            disk.size / 1024,
            if disk.device.read_only() {
                ", read only"
            } else {
                ""
            }
        );
        let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
        let Ok(mut server) = with_ring(|ring| Server::new(ring, slots, service)) else {
            println!("virtio-blk: cannot serve");
            return 1;
        };
        loop {
            let message = match disk.waiting.pop_front() {
                Some(message) => message,
                None => match with_ring(|ring| server.wait(ring)) {
                    Ok(Event::Request { message, .. }) => message,
                    Ok(Event::Other(completion)) => {
                        // An interrupt with no request in flight.
                        disk.interrupted(completion);
                        continue;
                    }
                    Ok(Event::Stopped(_)) | Err(_) => {
                        println!("virtio-blk: the endpoint is gone; stopping");
                        return 1;
                    }
                },
            };
            let result = disk
                .answer(&mut server, &message)
                .unwrap_or_else(Errno::result);
            with_ring(|ring| server.reply(ring, message.request, result));
        }
    }

    impl Disk {
        /// Maps the device, starts the driver, arms the interrupt.
        fn open(registers: u32, interrupt: u32) -> Result<Disk, &'static str> {
            let offset = with_ring(|ring| ring.run(ops::map_device(registers, DEVICE_ADDRESS)))
                .map_err(|_| "cannot map the device's registers")?;
            let header = NonNull::new((DEVICE_ADDRESS + offset as u64) as *mut VirtIOHeader)
                .ok_or("no registers")?;
            // SAFETY: `header` maps the device's register block (just
            // above), which nothing else in this program touches.
            let transport = unsafe { MmioTransport::new(header, DEVICE_SIZE) }
                .map_err(|_| "not a virtio-mmio device")?;
            if transport.device_type() != DeviceType::Block {
                return Err("not a block device");
            }
            let device = device::Disk::new(transport).map_err(|_| "cannot start the device")?;
            let data = hal::allocate(CHUNK).map_err(|_| "no DMA memory")?;
            let wait = ops::irq_wait(interrupt).with_user_data(IRQ_WAIT_USER_DATA);
            let watchdog = ops::timeout_multishot(WATCHDOG, 0).with_user_data(WATCHDOG_USER_DATA);
            with_ring(|ring| {
                push(ring, wait)?;
                push(ring, watchdog)?;
                ring.submit()
            })
            .map_err(|_| "cannot wait for the interrupt")?;
            let size = device.sectors() * SECTOR_SIZE as u64;
            Ok(Disk {
                device,
                interrupt,
                size,
                data,
                header: Header::default(),
                status: [0],
                waiting: VecDeque::new(),
            })
        }

        fn answer(&mut self, server: &mut Server, message: &RequestMessage) -> Result<i32, Errno> {
            match Opcode::try_from(message.opcode) {
                Ok(Opcode::Read) => self.transfer(server, message, false),
                Ok(Opcode::Write) => self.transfer(server, message, true),
                Ok(Opcode::Fsync) if self.device.has_write_cache() => {
                    self.device_request(server, Request::Flush, 0)?;
                    Ok(0)
                }
                // No write cache: every write was stable when it was done.
                Ok(Opcode::Fsync) => Ok(0),
                Ok(Opcode::Stat) => {
                    let status = FileStatus {
                        size: self.size,
                        kind: file_kind::FILE,
                        ..FileStatus::default()
                    };
                    if (message.length as usize) < status.as_bytes().len() {
                        return Err(Errno::InvalidArgument);
                    }
                    with_ring(|ring| server.copy_out(ring, message, 0, status.as_bytes()))?;
                    Ok(0)
                }
                _ => Err(Errno::InvalidArgument),
            }
        }

        /// `READ` or `WRITE`: piece by piece through the DMA buffer.
        fn transfer(
            &mut self,
            server: &mut Server,
            message: &RequestMessage,
            write: bool,
        ) -> Result<i32, Errno> {
            let sector = SECTOR_SIZE as u64;
            let start = message.offset;
            let length = message.length as u64;
            if !start.is_multiple_of(sector)
                || !length.is_multiple_of(sector)
                || start > self.size
                || length > i32::MAX as u64
            {
                return Err(Errno::InvalidArgument);
            }
            if write && self.device.read_only() {
                return Err(Errno::NotPermitted);
            }
            let length = length.min(self.size - start);
            let mut done = 0;
            while done < length {
                let piece = (length - done).min(CHUNK as u64) as usize;
                let sector = (start + done) / sector;
                if write {
                    let buffer = &mut self.data[..piece];
                    with_ring(|ring| server.copy_in(ring, message, done, buffer))?;
                }
                let request = if write {
                    Request::Write { sector }
                } else {
                    Request::Read { sector }
                };
                self.device_request(server, request, piece)?;
                if !write {
                    let buffer = &self.data[..piece];
                    with_ring(|ring| server.copy_out(ring, message, done, buffer))?;
                }
                done += piece as u64;
            }
            Ok(done as i32)
        }

        /// One device request, with the first `length` bytes of the data
        /// buffer; returns when the device has done it.
        fn device_request(
            &mut self,
            server: &mut Server,
            request: Request,
            length: usize,
        ) -> Result<(), Errno> {
            self.header = Header::new(request);
            let (device, header, data, status) = self.request_buffers(length);
            // SAFETY: `header`, the data and `status` are fields of `self`,
            // which this function holds borrowed until the device has
            // finished with them (the loop below), and passes the same
            // ones to complete it.
            let token = unsafe { device.submit(header, data, status) }.map_err(|_| Errno::Io)?;
            // Watchdog ticks seen while waiting: the first may come at once.
            let mut ticks = 0;
            loop {
                if self.device.finished(token) {
                    break;
                }
                // Clear the device's interrupt status and unmask the line,
                // then look again, before sleeping: a completion after the
                // clearing raises the line anew (and it is unmasked), one
                // before it is in the used ring already. (The kernel masks
                // the line at each interrupt; this is where it is unmasked.)
                self.device.acknowledge_interrupt();
                with_ring(|ring| ring.run(ops::irq_ack(self.interrupt)))?;
                if self.device.finished(token) {
                    break;
                }
                match wait_for_interrupt(server, self.interrupt, &mut self.waiting)? {
                    Woken::Interrupt => {}
                    Woken::Watchdog => {
                        ticks += 1;
                        // A whole period with the request done and no
                        // interrupt: one went missing. Said, then on.
                        if ticks >= 2 && self.device.finished(token) {
                            println!(
                                "virtio-blk: a request ({request:?}) was done with no interrupt"
                            );
                        }
                    }
                }
            }
            let (device, header, data, status) = self.request_buffers(length);
            // SAFETY: the same buffers as the request above, now done.
            unsafe { device.complete(token, header, data, status) }.map_err(|_| Errno::Io)
        }

        /// The device and the three buffers of the request in flight (the
        /// first `length` bytes of the data buffer).
        fn request_buffers(
            &mut self,
            length: usize,
        ) -> (&mut Device, &Header, &mut [u8], &mut [u8; 1]) {
            (
                &mut self.device,
                &self.header,
                &mut self.data[..length],
                &mut self.status,
            )
        }

        /// An interrupt that came when no request was in flight (one whose
        /// request was already seen done): the line stays masked until the
        /// next request unmasks it.
        fn interrupted(&mut self, completion: Completion) {
            if completion.user_data == IRQ_WAIT_USER_DATA {
                rearm(self.interrupt, completion);
            }
        }
    }

    /// What ended a wait for the device.
    enum Woken {
        Interrupt,
        Watchdog,
    }

    /// Waits for the device's interrupt, or the watchdog's next tick;
    /// requests that arrive meanwhile are kept in `waiting`.
    fn wait_for_interrupt(
        server: &mut Server,
        interrupt: u32,
        waiting: &mut VecDeque<RequestMessage>,
    ) -> Result<Woken, Errno> {
        loop {
            match with_ring(|ring| server.wait(ring))? {
                Event::Request { message, .. } => waiting.push_back(message),
                Event::Other(completion) if completion.user_data == IRQ_WAIT_USER_DATA => {
                    rearm(interrupt, completion);
                    return Ok(Woken::Interrupt);
                }
                Event::Other(completion) if completion.user_data == WATCHDOG_USER_DATA => {
                    return Ok(Woken::Watchdog);
                }
                Event::Other(_) => {}
                Event::Stopped(error) => return Err(error),
            }
        }
    }

    /// An `IRQ_WAIT` completion without `MORE` ended it: wait again.
    fn rearm(interrupt: u32, completion: Completion) {
        if completion.flags & completion_flags::MORE == 0 {
            let again = ops::irq_wait(interrupt).with_user_data(IRQ_WAIT_USER_DATA);
            let _ = with_ring(|ring| push(ring, again));
        }
    }

    /// Pushes `submission`, submitting what is queued first if the SQ is
    /// full.
    fn push<K: Kernel>(ring: &mut Ring<K>, submission: Submission) -> Result<(), Errno> {
        if ring.push(submission).is_err() {
            ring.submit()?;
            ring.push(submission).map_err(|_| Errno::Busy)?;
        }
        Ok(())
    }
}
