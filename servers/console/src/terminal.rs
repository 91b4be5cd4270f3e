//! The terminal: the line discipline, and the `READ`s waiting for it.
//!
//! Several clients may read the console. Their `READ`s wait in arrival
//! order; typed input goes to the oldest (the *foreground* reader), and a
//! later reader waits its turn, as at a Unix terminal where one program
//! at a time has the keyboard. Input typed while nobody reads is kept
//! (see [`crate::line_discipline`]) until a `READ` comes.
//!
//! The server asks [`Terminal::next_answer`] what the oldest `READ` would
//! get now, copies that to the client, and only then says
//! [`Terminal::answered`]. If the copy fails (the client gave up on its
//! request), it says [`Terminal::give_up_oldest`] instead: the input stays
//! for the next reader.
//!
//! Pure: no hardware, no ring. It is unit tested on the host.
//!
//! # Invariants
//! - `reads` holds at most `reads_max` requests, oldest first, less one
//!   while an interrupt wait is held: every request held takes a message
//!   slot, and the server keeps one free for `WRITE`s.

#![forbid(unsafe_code)]

use heapless::Deque;
use libring::abi::{Errno, RECEIVE_SLOTS_MAX, RequestMessage};

use crate::control;
use crate::line_discipline::{Delivery, Echo, INPUT_CAPACITY, LineDiscipline, Mode, Outcome};

/// The most `READ`s that can wait: one per message slot at most.
const READS_CAPACITY: usize = RECEIVE_SLOTS_MAX as usize;

/// What the oldest `READ` gets now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The `READ` (its request id, and how many bytes it wants).
    pub read: RequestMessage,
    /// What it gets: with `Outcome::Bytes(n)`, the first `n` bytes of the
    /// buffer given to `next_answer`.
    pub delivery: Delivery,
}

impl Answer {
    /// The `READ`'s result: the byte count, 0 at end of file, or `-EINTR`.
    pub fn result(&self) -> i32 {
        match self.delivery.outcome {
            // At most INPUT_CAPACITY bytes, so it fits.
            Outcome::Bytes(count) => count as i32,
            Outcome::EndOfFile => 0,
            Outcome::Interrupted => Errno::Interrupted.result(),
        }
    }
}

/// The console's input side.
#[derive(Debug)]
pub struct Terminal {
    discipline: LineDiscipline,
    /// `READ`s not yet answered, oldest first.
    reads: Deque<RequestMessage, READS_CAPACITY>,
    /// How many may wait.
    reads_max: usize,
    /// A `CONTROL [INTERRUPT_WAIT]` held until Ctrl-C, and whether Ctrl-C
    /// has come for it.
    interrupt_wait: Option<RequestMessage>,
    interrupted: bool,
}

/// The most `READ`s one client process may have waiting.
pub const READS_PER_CLIENT: usize = 2;

impl Terminal {
    /// A terminal in cooked mode where at most `reads_max` `READ`s may wait
    /// (keep it below the number of message slots, so a slot stays free
    /// for `WRITE`s even when every client is reading).
    pub fn new(reads_max: usize) -> Terminal {
        Terminal {
            discipline: LineDiscipline::new(),
            reads: Deque::new(),
            reads_max: reads_max.min(READS_CAPACITY),
            interrupt_wait: None,
            interrupted: false,
        }
    }

    /// A `CONTROL [INTERRUPT_WAIT]` arrives: held until Ctrl-C is typed in
    /// cooked mode. Returns the one it replaces (the same process's older
    /// one, to be answered `-ECANCELED`); `EBUSY` if another process holds
    /// the place.
    pub fn wait_for_interrupt(
        &mut self,
        message: RequestMessage,
    ) -> Result<Option<RequestMessage>, Errno> {
        match self.interrupt_wait {
            Some(held) if held.client != message.client => Err(Errno::Busy),
            None if self.reads.len() >= self.reads_max => Err(Errno::Busy),
            held => {
                self.interrupt_wait = Some(message);
                self.interrupted = false;
                Ok(held)
            }
        }
    }

    /// The held interrupt wait, once Ctrl-C has come for it: the server
    /// answers it with 0.
    pub fn take_interrupt(&mut self) -> Option<RequestMessage> {
        if !self.interrupted {
            return None;
        }
        self.interrupted = false;
        self.interrupt_wait.take()
    }

    /// A client's `READ` arrives: it waits behind the older ones. Fails
    /// with [`Errno::Busy`] when `reads_max` are waiting already, or
    /// [`READS_PER_CLIENT`] of the same client process: so one process
    /// cannot take every place and leave the others (the shell) none.
    pub fn read(&mut self, message: RequestMessage) -> Result<(), Errno> {
        let held = self.reads.len() + usize::from(self.interrupt_wait.is_some());
        if held >= self.reads_max {
            return Err(Errno::Busy);
        }
        let own = self
            .reads
            .iter()
            .filter(|read| read.client == message.client)
            .count();
        if own >= READS_PER_CLIENT {
            return Err(Errno::Busy);
        }
        self.reads.push_back(message).map_err(|_| Errno::Busy)
    }

    /// A `CONTROL` request's arguments: `[control::COOKED or control::RAW,
    /// 0, 0]` sets the mode; anything else is [`Errno::InvalidArgument`].
    ///
    /// From raw to cooked, the bytes typed and not yet read are typed
    /// again, in cooked mode, and `echo` gets what to show for them: a
    /// shell that hands the console to a job (cooked) gives the job what
    /// was typed after the command's Enter, as a Unix terminal would, and a
    /// Ctrl-C among them goes to the interrupt waiter.
    pub fn control(
        &mut self,
        arguments: [u64; 3],
        echo: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Errno> {
        let mode = match arguments {
            [control::COOKED, 0, 0] => Mode::Cooked,
            [control::RAW, 0, 0] => Mode::Raw,
            _ => return Err(Errno::InvalidArgument),
        };
        let typed_ahead = self.discipline.take_raw_bytes();
        self.discipline.set_mode(mode);
        for byte in typed_ahead {
            let shown = self.input(byte);
            echo(shown.as_bytes());
        }
        Ok(())
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.discipline.mode()
    }

    /// A byte typed at the terminal; returns what to echo. Ctrl-C in
    /// cooked mode, with an interrupt wait held, is for the waiter
    /// ([`Self::take_interrupt`]), not for a reader.
    pub fn input(&mut self, byte: u8) -> Echo {
        let control_c = byte == 0x03;
        if control_c && self.mode() == Mode::Cooked && self.interrupt_wait.is_some() {
            self.interrupted = true;
            return self.discipline.interrupt_quietly();
        }
        self.discipline.input(byte)
    }

    /// How many `READ`s are waiting.
    pub fn waiting_reads(&self) -> usize {
        self.reads.len()
    }

    /// What the oldest `READ` gets now, with its bytes at the start of
    /// `buffer`; `None` if there is no `READ` or nothing for it yet. Uses
    /// nothing up: call [`Self::answered`] or [`Self::give_up_oldest`].
    pub fn next_answer(&self, buffer: &mut [u8; INPUT_CAPACITY]) -> Option<Answer> {
        let read = *self.reads.front()?;
        // No answer can be longer than the input kept.
        let wanted = (read.length as usize).min(INPUT_CAPACITY);
        let delivery = self.discipline.peek(&mut buffer[..wanted])?;
        Some(Answer { read, delivery })
    }

    /// The oldest `READ` has got `answer` (from [`Self::next_answer`],
    /// nothing typed since): it is done, and its input used up.
    pub fn answered(&mut self, answer: Answer) {
        self.reads.pop_front();
        self.discipline.consume(answer.delivery);
    }

    /// Drops every waiting `READ` that `doomed` picks (a reclaimed
    /// reader's), oldest first, handing each to `removed` to be answered;
    /// the others keep their order, and the input stays for them.
    pub fn drop_reads(
        &mut self,
        doomed: impl Fn(&RequestMessage) -> bool,
        mut removed: impl FnMut(RequestMessage),
    ) {
        for _ in 0..self.reads.len() {
            let Some(read) = self.reads.pop_front() else {
                break;
            };
            if doomed(&read) {
                removed(read);
            } else {
                // Room: it was just taken out.
                let _ = self.reads.push_back(read);
            }
        }
    }

    /// The oldest `READ` could not be answered: drops it, input untouched.
    pub fn give_up_oldest(&mut self) -> Option<RequestMessage> {
        self.reads.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `READ` request `request` for `length` bytes, from a client
    /// process of its own (numbered like the request).
    fn read_request(request: u64, length: u32) -> RequestMessage {
        RequestMessage {
            request,
            length,
            client: request as u32,
            ..RequestMessage::default()
        }
    }

    fn type_keys(terminal: &mut Terminal, keys: &[u8]) {
        for &key in keys {
            terminal.input(key);
        }
    }

    /// Answers the oldest `READ` if it can: (its request, its result, the
    /// bytes it got).
    fn answer(terminal: &mut Terminal) -> Option<(u64, i32, Vec<u8>)> {
        let mut buffer = [0; INPUT_CAPACITY];
        let answer = terminal.next_answer(&mut buffer)?;
        terminal.answered(answer);
        let bytes = match answer.delivery.outcome {
            Outcome::Bytes(count) => buffer[..count].to_vec(),
            _ => Vec::new(),
        };
        Some((answer.read.request, answer.result(), bytes))
    }

    #[test]
    fn input_goes_to_the_oldest_read_and_a_later_one_waits_its_turn() {
        let mut terminal = Terminal::new(4);
        terminal.read(read_request(1, 64)).unwrap();
        terminal.read(read_request(2, 64)).unwrap();
        assert_eq!(answer(&mut terminal), None, "nothing typed");
        type_keys(&mut terminal, b"first\n");
        assert_eq!(answer(&mut terminal), Some((1, 6, b"first\n".to_vec())));
        assert_eq!(answer(&mut terminal), None, "the second waits for a line");
        type_keys(&mut terminal, b"second\n");
        assert_eq!(answer(&mut terminal), Some((2, 7, b"second\n".to_vec())));
        assert_eq!(terminal.waiting_reads(), 0);
    }

    #[test]
    fn input_typed_with_no_read_waits_for_one() {
        let mut terminal = Terminal::new(4);
        type_keys(&mut terminal, b"early\nbird\n");
        assert_eq!(answer(&mut terminal), None, "no READ yet");
        terminal.read(read_request(5, 64)).unwrap();
        terminal.read(read_request(6, 64)).unwrap();
        assert_eq!(answer(&mut terminal), Some((5, 6, b"early\n".to_vec())));
        assert_eq!(answer(&mut terminal), Some((6, 5, b"bird\n".to_vec())));
    }

    #[test]
    fn an_answer_is_at_most_the_length_asked_for() {
        let mut terminal = Terminal::new(4);
        terminal.read(read_request(1, 3)).unwrap();
        terminal.read(read_request(2, 100_000)).unwrap();
        type_keys(&mut terminal, b"abcdef\n");
        assert_eq!(answer(&mut terminal), Some((1, 3, b"abc".to_vec())));
        assert_eq!(answer(&mut terminal), Some((2, 4, b"def\n".to_vec())));
    }

    #[test]
    fn control_c_and_control_d_give_their_results() {
        let mut terminal = Terminal::new(4);
        for request in 1..=3 {
            terminal.read(read_request(request, 64)).unwrap();
        }
        type_keys(&mut terminal, b"lost\x03");
        assert_eq!(
            answer(&mut terminal),
            Some((1, Errno::Interrupted.result(), vec![]))
        );
        type_keys(&mut terminal, b"\x04");
        assert_eq!(answer(&mut terminal), Some((2, 0, vec![])));
        assert_eq!(answer(&mut terminal), None);
    }

    #[test]
    fn a_read_given_up_leaves_the_input_for_the_next() {
        let mut terminal = Terminal::new(4);
        terminal.read(read_request(1, 64)).unwrap();
        terminal.read(read_request(2, 64)).unwrap();
        type_keys(&mut terminal, b"keep me\n");
        let mut buffer = [0; INPUT_CAPACITY];
        assert!(terminal.next_answer(&mut buffer).is_some());
        assert_eq!(terminal.give_up_oldest().map(|read| read.request), Some(1));
        assert_eq!(answer(&mut terminal), Some((2, 8, b"keep me\n".to_vec())));
    }

    #[test]
    fn one_client_cannot_take_every_place() {
        let mut terminal = Terminal::new(8);
        let from = |request, client| RequestMessage {
            client,
            ..read_request(request, 8)
        };
        terminal.read(from(1, 7)).unwrap();
        terminal.read(from(2, 7)).unwrap();
        assert_eq!(terminal.read(from(3, 7)), Err(Errno::Busy));
        // Another process still gets its place, sharing the badge or not.
        terminal.read(from(4, 9)).unwrap();
        assert_eq!(terminal.waiting_reads(), 3);
    }

    #[test]
    fn a_held_interrupt_wait_counts_against_the_places() {
        let mut terminal = Terminal::new(2);
        let wait = RequestMessage {
            client: 50,
            ..read_request(50, 0)
        };
        terminal.wait_for_interrupt(wait).unwrap();
        terminal.read(read_request(1, 8)).unwrap();
        // One place left for WRITEs: the second READ is refused.
        assert_eq!(terminal.read(read_request(2, 8)), Err(Errno::Busy));
        // And with every place taken by READs, no wait is held either.
        let mut full = Terminal::new(2);
        full.read(read_request(1, 8)).unwrap();
        full.read(read_request(2, 8)).unwrap();
        assert_eq!(full.wait_for_interrupt(wait), Err(Errno::Busy));
    }

    #[test]
    fn dropped_reads_leave_the_others_in_order_with_the_input() {
        let mut terminal = Terminal::new(8);
        for request in 1..=4 {
            terminal.read(read_request(request, 64)).unwrap();
        }
        let mut removed = Vec::new();
        terminal.drop_reads(
            |read| read.request % 2 == 1,
            |read| removed.push(read.request),
        );
        assert_eq!(removed, [1, 3]);
        type_keys(&mut terminal, b"for two\n");
        assert_eq!(answer(&mut terminal), Some((2, 8, b"for two\n".to_vec())));
        type_keys(&mut terminal, b"four\n");
        assert_eq!(answer(&mut terminal), Some((4, 5, b"four\n".to_vec())));
        assert_eq!(answer(&mut terminal), None);
    }

    #[test]
    fn reads_beyond_the_limit_are_busy() {
        let mut terminal = Terminal::new(2);
        terminal.read(read_request(1, 8)).unwrap();
        terminal.read(read_request(2, 8)).unwrap();
        assert_eq!(terminal.read(read_request(3, 8)), Err(Errno::Busy));
        assert_eq!(terminal.waiting_reads(), 2);
        let mut huge = Terminal::new(usize::MAX);
        for request in 0..READS_CAPACITY as u64 {
            huge.read(read_request(request, 8)).unwrap();
        }
        assert_eq!(huge.read(read_request(99, 8)), Err(Errno::Busy));
    }

    #[test]
    fn control_sets_the_mode_and_refuses_anything_else() {
        let mut terminal = Terminal::new(2);
        assert_eq!(terminal.control([control::RAW, 0, 0], &mut |_| {}), Ok(()));
        assert_eq!(terminal.mode(), Mode::Raw);
        terminal.read(read_request(1, 8)).unwrap();
        type_keys(&mut terminal, b"k");
        assert_eq!(answer(&mut terminal), Some((1, 1, b"k".to_vec())));
        assert_eq!(
            terminal.control([control::COOKED, 0, 0], &mut |_| {}),
            Ok(())
        );
        assert_eq!(terminal.mode(), Mode::Cooked);
        for bad in [
            [control::INTERRUPT_WAIT, 0, 0],
            [3, 0, 0],
            [control::RAW, 1, 0],
            [control::COOKED, 0, 7],
            [u64::MAX; 3],
        ] {
            assert_eq!(
                terminal.control(bad, &mut |_| {}),
                Err(Errno::InvalidArgument),
                "{bad:?}"
            );
        }
        assert_eq!(
            terminal.mode(),
            Mode::Cooked,
            "a refused CONTROL changes nothing"
        );
    }

    #[test]
    fn control_c_goes_to_the_interrupt_waiter_in_cooked_mode_only() {
        let mut terminal = Terminal::new(4);
        let waiter = read_request(7, 0);
        assert_eq!(terminal.wait_for_interrupt(waiter), Ok(None));
        // Another process may not take the place; the same one replaces it.
        assert_eq!(
            terminal.wait_for_interrupt(read_request(8, 0)),
            Err(Errno::Busy)
        );
        let again = RequestMessage {
            request: 70,
            ..waiter
        };
        assert_eq!(terminal.wait_for_interrupt(again), Ok(Some(waiter)));
        terminal.read(read_request(1, 16)).unwrap();
        type_keys(&mut terminal, b"half");
        assert_eq!(terminal.input(0x03).as_bytes(), b"^C\n");
        assert_eq!(terminal.take_interrupt(), Some(again));
        assert_eq!(terminal.take_interrupt(), None);
        // The line went to nobody: the reader still waits, and gets the
        // next one.
        assert_eq!(answer(&mut terminal), None);
        type_keys(&mut terminal, b"next\r");
        assert_eq!(answer(&mut terminal), Some((1, 5, b"next\n".to_vec())));
        // With no waiter, Ctrl-C interrupts the reader, as before.
        terminal.read(read_request(2, 16)).unwrap();
        type_keys(&mut terminal, b"\x03");
        assert_eq!(terminal.take_interrupt(), None);
        // In raw mode, with a waiter, it is a byte like the others.
        terminal.wait_for_interrupt(waiter).unwrap();
        terminal.control([control::RAW, 0, 0], &mut |_| {}).unwrap();
        type_keys(&mut terminal, b"\x03");
        assert_eq!(terminal.take_interrupt(), None);
    }

    #[test]
    fn bytes_typed_ahead_in_raw_mode_are_typed_again_when_cooked() {
        let mut terminal = Terminal::new(4);
        terminal.control([control::RAW, 0, 0], &mut |_| {}).unwrap();
        type_keys(&mut terminal, b"ab\x08c\r");
        let mut shown = Vec::new();
        terminal
            .control([control::COOKED, 0, 0], &mut |echo| {
                shown.extend_from_slice(echo)
            })
            .unwrap();
        assert_eq!(shown, b"ab\x08 \x08c\n");
        terminal.read(read_request(1, 16)).unwrap();
        assert_eq!(answer(&mut terminal), Some((1, 3, b"ac\n".to_vec())));
        // A Ctrl-C typed ahead is the interrupt waiter's once cooked.
        let waiter = read_request(9, 0);
        terminal.wait_for_interrupt(waiter).unwrap();
        terminal.control([control::RAW, 0, 0], &mut |_| {}).unwrap();
        type_keys(&mut terminal, b"x\x03");
        assert_eq!(terminal.take_interrupt(), None);
        terminal
            .control([control::COOKED, 0, 0], &mut |_| {})
            .unwrap();
        assert_eq!(terminal.take_interrupt(), Some(waiter));
        terminal.read(read_request(2, 16)).unwrap();
        assert_eq!(answer(&mut terminal), None);
    }

    #[test]
    fn switching_to_raw_answers_a_waiting_read_with_the_half_typed_line() {
        let mut terminal = Terminal::new(2);
        terminal.read(read_request(1, 8)).unwrap();
        type_keys(&mut terminal, b"ab");
        assert_eq!(answer(&mut terminal), None);
        terminal.control([control::RAW, 0, 0], &mut |_| {}).unwrap();
        assert_eq!(answer(&mut terminal), Some((1, 2, b"ab".to_vec())));
    }
}
