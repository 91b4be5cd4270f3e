//! console: the PL011 UART driver, at EL0, and the server every process
//! prints through.
//!
//! Started with three handles, in this order (for now from the kernel
//! command line: `run=console+serve=console+device=console+irq=console`):
//! the service handle of the endpoint `console`, the UART's device handle,
//! and its interrupt handle; and, with `+klog` after those, a fourth: the
//! right to read the kernel log, which it then prints too (so the kernel
//! never writes the UART under its feet). Then it loops, taking one event
//! at a time:
//!
//! | event | what the server does |
//! | --- | --- |
//! | `WRITE` | copies the client's bytes in, 256 at a time, to the UART (`\n` as `\r\n`); answers the byte count |
//! | `READ` | queues it behind older `READ`s; answers it with a line (cooked) or bytes (raw) once there is input, see `terminal.rs` |
//! | `CONTROL` | `[0, 0, 0]` cooked input, `[1, 0, 0]` raw (`console::control`); answers 0. `[2, 0, 0]`: held until Ctrl-C is typed in cooked mode, then answered 0 (a shell's job control). `[3, 0, 0]`, `[4, 0, 0]`: a new reader or writer handle (`MINT`ed, moved to the client); `[5, 0, 0]`: reclaims every reader |
//! | anything else | answers `-EINVAL` |
//!
//! Before any of that, the request's badge says whether the handle it came
//! through may ask it (`console::access`): only the terminal handle, the
//! one the system gives its shell, may `CONTROL`; a program's reader or
//! writer handle gets `-EPERM` for anything but printing and (while not
//! reclaimed) reading.
//! | an interrupt | drains the receive FIFO into the line discipline, echoing; clears the interrupt; `IRQ_ACK` |
//! | kernel log bytes (`LOG_READ`) | writes them to the UART, then reads again |
//!
//! One event is handled whole before the next, so a `WRITE` goes out
//! whole: two clients' lines never mix. The server never waits for a
//! client, only for the kernel.
//!
//! On the host this builds to a stub, so that `cargo test -p console`
//! can test the library.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the console server runs on Annulus: try `cargo xtask run`");
}

#[cfg(target_os = "none")]
mod pl011;

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec;

    use console::line_discipline::INPUT_CAPACITY;
    use console::terminal::Terminal;
    use console::{access, control, for_terminal};
    use libring::abi::{
        Completion, Errno, MAP_BASE, Opcode, RECEIVE_SLOTS_MAX, RequestMessage, completion_flags,
    };
    use libring::ops::{self, SubmissionOptions};
    use libring::println;
    use libring::ring::{Kernel, Ring, check_result};
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};

    use crate::pl011::Pl011;

    libring::entry!(main);

    /// Requests in progress at once: one message slot each. `READ`s may
    /// take all but one, so a `WRITE` always gets through.
    const SLOTS: usize = 16;
    const _: () = assert!(SLOTS >= 2 && SLOTS <= RECEIVE_SLOTS_MAX as usize);

    /// Where the UART's registers are mapped: far above the heap, which
    /// grows up from `MAP_BASE`.
    const UART_ADDRESS: u64 = MAP_BASE + (1 << 30);

    /// Bytes copied from a client per `COPY_IN`.
    const WRITE_PIECE: usize = 256;

    /// The most bytes one `WRITE` puts out; a longer one is a short write
    /// (the client writes the rest with another), so one client's huge
    /// `WRITE` does not keep the others waiting.
    const WRITE_MAX: u64 = 4096;

    /// User data of the `IRQ_WAIT`, of each `IRQ_ACK`, of the `LOG_READ`.
    const IRQ_WAIT_USER_DATA: u64 = 1;
    const IRQ_ACK_USER_DATA: u64 = 2;
    const LOG_READ_USER_DATA: u64 = 3;

    /// Kernel log bytes taken per `LOG_READ`.
    const LOG_PIECE: usize = 256;

    fn main(_arguments: Arguments) -> i32 {
        let (service, device, irq, kernel_log) = match *runtime::handles() {
            [service, device, irq] => (service, device, irq, None),
            [service, device, irq, kernel_log] => (service, device, irq, Some(kernel_log)),
            _ => {
                println!(
                    "console: started with handles {:?}, not [service, device, irq(, kernel log)] \
                     (run=console+serve=console+device=console+irq=console+klog)",
                    runtime::handles()
                );
                return 1;
            }
        };
        let uart = match with_ring(|ring| Pl011::map(ring, device, UART_ADDRESS)) {
            Ok(uart) => uart,
            Err(error) => {
                println!("console: cannot map the UART: {}", error.name());
                return 1;
            }
        };
        let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
        let server = match with_ring(|ring| Server::new(ring, slots, service)) {
            Ok(server) => server,
            Err(error) => {
                println!("console: cannot serve: {}", error.name());
                return 1;
            }
        };
        let mut console = Console {
            uart,
            terminal: Terminal::new(SLOTS - 1),
            server,
            service,
            generation: 0,
            irq,
            kernel_log: kernel_log
                .map(|handle| (handle, Box::leak(vec![0u8; LOG_PIECE].into_boxed_slice()))),
        };
        console.uart.enable_receive_interrupts();
        if let Err(error) = with_ring(|ring| push(ring, irq_wait(irq))) {
            println!("console: cannot wait for interrupts: {}", error.name());
        }
        if let Err(error) = with_ring(|ring| console.read_kernel_log(ring)) {
            println!("console: cannot read the kernel log: {}", error.name());
        }

        loop {
            match with_ring(|ring| console.step(ring)) {
                Ok(None) => {}
                Ok(Some(Stop::Serving(error))) => {
                    println!("console: stopped serving: {}", error.name());
                    return 1;
                }
                Ok(Some(Stop::Interrupts(error))) => {
                    println!("console: no more input, interrupts ended: {}", error.name());
                }
                Err(error) => {
                    println!("console: the ring failed: {}", error.name());
                    return 1;
                }
            }
        }
    }

    /// Something that ended, for `main` to report (it cannot print while
    /// the ring is in use).
    enum Stop {
        /// The `RECEIVE` failed: no more requests.
        Serving(Errno),
        /// The `IRQ_WAIT` failed: no more input (output still works).
        Interrupts(Errno),
    }

    /// The server's state.
    struct Console {
        uart: Pl011,
        terminal: Terminal,
        server: Server,
        /// The service handle, for `MINT`ing reader and writer handles.
        service: u32,
        /// The readers' generation: a reader handle made before the last
        /// `RECLAIM` carries an older one, and may no longer read.
        generation: u64,
        irq: u32,
        /// The kernel-log handle and the buffer its `LOG_READ` fills
        /// (leaked: the kernel writes it while the request is pending).
        kernel_log: Option<(u32, &'static mut [u8])>,
    }

    impl Console {
        /// Waits for the next event and handles it.
        fn step<K: Kernel>(&mut self, ring: &mut Ring<K>) -> Result<Option<Stop>, Errno> {
            match self.server.wait(ring)? {
                Event::Request { message, .. } => self.serve(ring, &message),
                Event::Other(completion) if completion.user_data == IRQ_WAIT_USER_DATA => {
                    return Ok(self.interrupt(ring, completion).err().map(Stop::Interrupts));
                }
                Event::Other(completion) if completion.user_data == LOG_READ_USER_DATA => {
                    self.print_kernel_log(completion);
                    self.read_kernel_log(ring)?;
                }
                // IRQ_ACK completions: 0, and nothing to do.
                Event::Other(_) => {}
                Event::Stopped(error) => return Ok(Some(Stop::Serving(error))),
            }
            Ok(None)
        }

        /// Handles one request.
        fn serve<K: Kernel>(&mut self, ring: &mut Ring<K>, message: &RequestMessage) {
            let request = message.request;
            let opcode = Opcode::try_from(message.opcode);
            if let Ok(opcode) = opcode
                && let Err(error) = access::check(message.badge, opcode, self.generation)
            {
                self.server.reply(ring, request, error.result());
                return;
            }
            match opcode {
                Ok(Opcode::Write) => {
                    let result = self.write(ring, message);
                    self.server.reply(ring, request, result);
                }
                Ok(Opcode::Read) => match self.terminal.read(*message) {
                    Ok(()) => self.answer_reads(ring),
                    Err(error) => self.server.reply(ring, request, error.result()),
                },
                Ok(Opcode::Control) if message.arguments == [control::INTERRUPT_WAIT, 0, 0] => {
                    match self.terminal.wait_for_interrupt(*message) {
                        // Held; the one it replaces is answered.
                        Ok(replaced) => {
                            if let Some(old) = replaced {
                                self.server
                                    .reply(ring, old.request, Errno::Cancelled.result());
                            }
                        }
                        Err(error) => self.server.reply(ring, request, error.result()),
                    }
                }
                Ok(Opcode::Control)
                    if matches!(message.arguments, [control::READER | control::WRITER, 0, 0]) =>
                {
                    let badge = if message.arguments[0] == control::READER {
                        access::reader(self.generation)
                    } else {
                        access::WRITER
                    };
                    match ring.run(ops::mint(self.service, badge)) {
                        Ok(handle) => self.server.reply_passing(ring, request, 0, handle as u32),
                        Err(error) => self.server.reply(ring, request, error.result()),
                    }
                }
                Ok(Opcode::Control) if message.arguments == [control::RECLAIM, 0, 0] => {
                    self.generation += 1;
                    let (server, generation) = (&mut self.server, self.generation);
                    self.terminal.drop_reads(
                        |read| !access::may_read(read.badge, generation),
                        |read| server.reply(ring, read.request, Errno::NotPermitted.result()),
                    );
                    self.server.reply(ring, request, 0);
                }
                Ok(Opcode::Control) => {
                    let uart = &mut self.uart;
                    let result = self.terminal.control(message.arguments, &mut |echo| {
                        for_terminal(echo, |byte| uart.write_byte(byte));
                    });
                    // Typed-ahead input made cooked may hold a Ctrl-C.
                    if let Some(waiter) = self.terminal.take_interrupt() {
                        self.server.reply(ring, waiter.request, 0);
                    }
                    self.server
                        .reply(ring, request, result.map_or_else(Errno::result, |()| 0));
                    // Raw mode may have made a half-typed line readable.
                    self.answer_reads(ring);
                }
                _ => self
                    .server
                    .reply(ring, request, Errno::InvalidArgument.result()),
            }
        }

        /// A `WRITE`: the client's bytes to the UART, at most
        /// [`WRITE_MAX`] of them, before any other request. Returns the
        /// result for the client: the bytes written, or the error if none
        /// could be.
        fn write<K: Kernel>(&mut self, ring: &mut Ring<K>, message: &RequestMessage) -> i32 {
            let mut piece = [0u8; WRITE_PIECE];
            let mut written: u64 = 0;
            while written < WRITE_MAX {
                match self.server.copy_in(ring, message, written, &mut piece) {
                    Ok(0) => break,
                    Ok(count) => {
                        for_terminal(&piece[..count], |byte| self.uart.write_byte(byte));
                        written += count as u64;
                    }
                    Err(error) if written == 0 => return error.result(),
                    Err(_) => break, // what was written stays written
                }
            }
            i32::try_from(written).unwrap_or(i32::MAX)
        }

        /// An interrupt from the UART: typed bytes into the line
        /// discipline, the echo out, the line unmasked again, and any
        /// `READ` that can now be answered answered. `Err` if the
        /// `IRQ_WAIT` has ended for good.
        fn interrupt<K: Kernel>(
            &mut self,
            ring: &mut Ring<K>,
            completion: Completion,
        ) -> Result<(), Errno> {
            check_result(completion.result)?;
            // Drain, then clear; and again if a byte came in between: its
            // interrupt went with the clear, so nothing else would
            // announce it.
            loop {
                while let Some(byte) = self.uart.read_byte() {
                    let echo = self.terminal.input(byte);
                    for_terminal(echo.as_bytes(), |byte| self.uart.write_byte(byte));
                }
                self.uart.clear_receive_interrupts();
                if self.uart.receive_empty() {
                    break;
                }
            }
            // A Ctrl-C for the shell waiting for one.
            if let Some(waiter) = self.terminal.take_interrupt() {
                self.server.reply(ring, waiter.request, 0);
            }
            let ack = ops::irq_ack(self.irq).with_user_data(IRQ_ACK_USER_DATA);
            push(ring, ack)?;
            if completion.flags & completion_flags::MORE == 0 {
                // The IRQ_WAIT ended without an error: wait again.
                push(ring, irq_wait(self.irq))?;
            }
            self.answer_reads(ring);
            Ok(())
        }

        /// Asks for the next piece of kernel log (if it may read it).
        fn read_kernel_log<K: Kernel>(&mut self, ring: &mut Ring<K>) -> Result<(), Errno> {
            let Some((handle, buffer)) = self.kernel_log.as_mut() else {
                return Ok(());
            };
            let read = libring::abi::Submission {
                opcode: Opcode::LogRead as u8,
                handle: *handle,
                address: buffer.as_mut_ptr() as u64,
                length: buffer.len() as u32,
                user_data: LOG_READ_USER_DATA,
                ..libring::abi::Submission::default()
            };
            push(ring, read)
        }

        /// Kernel log bytes arrived: out they go, between client requests,
        /// so they never land inside a client's line.
        fn print_kernel_log(&mut self, completion: Completion) {
            let (Ok(count), Some((_, buffer))) =
                (check_result(completion.result), self.kernel_log.as_ref())
            else {
                return;
            };
            let bytes = &buffer[..(count as usize).min(buffer.len())];
            for_terminal(bytes, |byte| self.uart.write_byte(byte));
        }

        /// Answers waiting `READ`s, oldest first, for as long as there is
        /// input for them.
        fn answer_reads<K: Kernel>(&mut self, ring: &mut Ring<K>) {
            let mut buffer = [0u8; INPUT_CAPACITY];
            while let Some(answer) = self.terminal.next_answer(&mut buffer) {
                let bytes = match answer.delivery.outcome {
                    console::line_discipline::Outcome::Bytes(count) => &buffer[..count],
                    _ => &[],
                };
                let request = answer.read.request;
                // An answer of no bytes (end of input, an interrupt) must
                // reach a reader still there, or it is lost: ask.
                let delivered = if bytes.is_empty() {
                    self.server.client_waits(ring, &answer.read)
                } else {
                    self.server
                        .copy_out(ring, &answer.read, 0, bytes)
                        .map(|_| ())
                };
                match delivered {
                    Ok(()) => {
                        self.terminal.answered(answer);
                        self.server.reply(ring, request, answer.result());
                    }
                    // The client has gone, or cancelled: the input waits
                    // for the next reader.
                    Err(error) => {
                        self.terminal.give_up_oldest();
                        self.server.reply(ring, request, error.result());
                    }
                }
            }
        }
    }

    /// The `IRQ_WAIT` on `irq`, tagged.
    fn irq_wait(irq: u32) -> libring::abi::Submission {
        ops::irq_wait(irq).with_user_data(IRQ_WAIT_USER_DATA)
    }

    /// Pushes `submission`, submitting what is queued first if the SQ is
    /// full. It goes to the kernel with the next wait.
    fn push<K: Kernel>(
        ring: &mut Ring<K>,
        submission: libring::abi::Submission,
    ) -> Result<(), Errno> {
        if ring.push(submission).is_err() {
            ring.submit()?;
            ring.push(submission)?;
        }
        Ok(())
    }
}
