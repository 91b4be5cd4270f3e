//! The block device itself: its feature negotiation and its requests, on
//! `virtio-drivers`' transport and virtqueue.
//!
//! The crate's own `VirtIOBlk` would do, but its flush only polls: it
//! spins on the queue until the device answers, which may take the host
//! a while (an `fdatasync`). Every request here, flush included, is put
//! in the queue and left there; the server waits for the interrupt on its
//! ring and then completes it (`main.rs`). A virtio-blk request is three
//! buffers (virtio 1.2, 5.2.6): a 16-byte header (kind, sector), the data
//! (none for a flush), and a status byte the device writes last.

use super::hal::AnnulusHal;
use bitflags::bitflags;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::Transport;
use zerocopy::{Immutable, IntoBytes};

bitflags! {
    /// The features this driver knows (virtio 1.2, 5.2.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        /// The disk is read only.
        const READ_ONLY = 1 << 5;
        /// The device has a write cache and takes flush requests.
        const FLUSH = 1 << 9;
        /// A virtio 1.0 (not legacy) device.
        const VERSION_1 = 1 << 32;
    }
}

/// The request queue, and its size.
const QUEUE: u16 = 0;
const QUEUE_SIZE: usize = 16;

/// Request kinds (`type` in the header).
const IN: u32 = 0;
const OUT: u32 = 1;
const FLUSH: u32 = 4;

/// The status byte's value for success.
const OK: u8 = 0;

/// What a request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Read { sector: u64 },
    Write { sector: u64 },
    Flush,
}

/// A request's first buffer.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
pub struct Header {
    kind: u32,
    reserved: u32,
    sector: u64,
}

impl Header {
    pub fn new(request: Request) -> Header {
        let (kind, sector) = match request {
            Request::Read { sector } => (IN, sector),
            Request::Write { sector } => (OUT, sector),
            Request::Flush => (FLUSH, 0),
        };
        Header {
            kind,
            reserved: 0,
            sector,
        }
    }
}

pub struct Disk<T: Transport> {
    transport: T,
    queue: VirtQueue<AnnulusHal, QUEUE_SIZE>,
    sectors: u64,
    features: Features,
}

impl<T: Transport> Disk<T> {
    /// Resets and sets up the device (virtio 1.2, 3.1): features, the
    /// request queue, then "driver OK".
    pub fn new(mut transport: T) -> Result<Disk<T>, virtio_drivers::Error> {
        let features =
            transport.begin_init(Features::READ_ONLY | Features::FLUSH | Features::VERSION_1);
        // The capacity, in 512-byte sectors, is the configuration space's
        // first 8 bytes; read it until it reads the same twice.
        let sectors = transport.read_consistent(|| {
            let low: u32 = transport.read_config_space(0)?;
            let high: u32 = transport.read_config_space(4)?;
            Ok(u64::from(high) << 32 | u64::from(low))
        })?;
        let queue = VirtQueue::new(&mut transport, QUEUE, false, false)?;
        transport.finish_init();
        Ok(Disk {
            transport,
            queue,
            sectors,
            features,
        })
    }

    /// The disk's size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn read_only(&self) -> bool {
        self.features.contains(Features::READ_ONLY)
    }

    /// Whether the device has a write cache to flush. Without one it
    /// writes through (virtio 1.2, 5.2.6.2): a write is stable when done.
    pub fn has_write_cache(&self) -> bool {
        self.features.contains(Features::FLUSH)
    }

    /// Puts a request in the queue and tells the device; returns its token.
    /// `data` is read into (`Read`), written from (`Write`) or empty
    /// (`Flush`).
    ///
    /// # Safety
    /// `header`, `data` and `status` must stay where they are, untouched,
    /// until [`Disk::complete`] is called with the same ones.
    pub unsafe fn submit(
        &mut self,
        header: &Header,
        data: &mut [u8],
        status: &mut [u8; 1],
    ) -> Result<u16, virtio_drivers::Error> {
        // SAFETY: the caller keeps the buffers until `complete`.
        let token = unsafe {
            match header.kind {
                OUT => self
                    .queue
                    .add(&[header.as_bytes(), data], &mut [status.as_mut_slice()])?,
                FLUSH => self
                    .queue
                    .add(&[header.as_bytes()], &mut [status.as_mut_slice()])?,
                _ => self
                    .queue
                    .add(&[header.as_bytes()], &mut [data, status.as_mut_slice()])?,
            }
        };
        if self.queue.should_notify() {
            self.transport.notify(QUEUE);
        }
        Ok(token)
    }

    /// Has the device finished the request `token`? (It finishes them in
    /// order here: the server has one in flight at a time.)
    pub fn finished(&self, token: u16) -> bool {
        self.queue.peek_used() == Some(token)
    }

    /// Takes the finished request `token` out of the queue; `Err` if the
    /// device says it failed.
    ///
    /// # Safety
    /// The same buffers as the [`Disk::submit`] that gave `token`.
    pub unsafe fn complete(
        &mut self,
        token: u16,
        header: &Header,
        data: &mut [u8],
        status: &mut [u8; 1],
    ) -> Result<(), virtio_drivers::Error> {
        // SAFETY: the caller passes the buffers `submit` added.
        unsafe {
            match header.kind {
                OUT => self.queue.pop_used(
                    token,
                    &[header.as_bytes(), data],
                    &mut [status.as_mut_slice()],
                )?,
                FLUSH => self.queue.pop_used(
                    token,
                    &[header.as_bytes()],
                    &mut [status.as_mut_slice()],
                )?,
                _ => self.queue.pop_used(
                    token,
                    &[header.as_bytes()],
                    &mut [data, status.as_mut_slice()],
                )?,
            }
        };
        if status[0] == OK {
            Ok(())
        } else {
            Err(virtio_drivers::Error::IoError)
        }
    }

    /// Reads (and so clears) the device's interrupt status.
    pub fn acknowledge_interrupt(&mut self) {
        let _ = self.transport.ack_interrupt();
    }
}
