//! One output stream of one process (its stdout, stderr, or pty) at run time: the pipe, its
//! partial line and its prefix.

use std::io::{self, Read};
use std::time::Instant;

use mio::Registry;
use mio::unix::pipe::Receiver;

use super::line_buffer::{LineBuffer, ReadBuffer};
use crate::config::LinePattern;
use crate::output::{Output, Prefix};

/// Bytes asked for per read; a pipe holds 64 KiB by default.
pub const READ_SIZE: usize = 64 * 1024;
/// Longest line written whole: 1 MiB plus its newline. Longer lines are cut into pieces.
pub const MAX_LINE: usize = 1024 * 1024 + 1;

/// What one `pump` call left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pump {
    /// The pipe said `WouldBlock`: wait for the next readiness event.
    Drained,
    /// A read brought data (or was interrupted), and more may be left: come back without
    /// waiting.
    More,
    /// EOF (or `EIO`, a pty's EOF) or no pipe: every writer is gone.
    Closed,
}

pub struct Source {
    /// Index of the instance it belongs to.
    pub instance: usize,
    /// A readiness pattern to look for in each line, until it matches.
    watch: Option<LinePattern>,
    /// `watch` matched a line.
    pub matched: bool,
    pipe: Option<Receiver>,
    buffer: LineBuffer,
    prefix: Prefix,
    /// Read, but never written (`--quiet`).
    quiet: bool,
    /// Bytes read so far, to tell whether a read brought anything.
    bytes_read: u64,
    /// Bytes the last read brought: a prompt comes in a small write, bulk output in big ones.
    last_read: usize,
    /// When the partial line is printed if no more bytes arrive.
    pub flush_at: Option<Instant>,
    /// Queued in the event loop's list of pipes with data possibly left.
    pub queued: bool,
    /// Raw bytes read, kept for a client attached to the instance (`procmux attach`).
    pub mirror: Option<Vec<u8>>,
}

impl Source {
    pub fn new(instance: usize, pipe: Receiver, prefix: Prefix, quiet: bool) -> Source {
        Source {
            instance,
            watch: None,
            matched: false,
            pipe: Some(pipe),
            buffer: LineBuffer::new(MAX_LINE),
            prefix,
            quiet,
            bytes_read: 0,
            last_read: 0,
            flush_at: None,
            queued: false,
            mirror: None,
        }
    }

    /// Looks for `pattern` in every line from now on, until a line matches.
    pub fn watch(&mut self, pattern: LinePattern) {
        self.watch = Some(pattern);
        self.matched = false;
    }

    /// Stops looking (the process became ready another way, or is gone).
    pub fn unwatch(&mut self) {
        self.watch = None;
    }

    /// Closed, with nothing pending: its slot can serve a new stream.
    pub fn is_retired(&self) -> bool {
        self.pipe.is_none() && !self.queued && self.flush_at.is_none()
    }

    pub fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// The read end, for pty window-size changes.
    pub fn pipe(&self) -> Option<&Receiver> {
        self.pipe.as_ref()
    }

    /// Reads once into the shared `scratch`, writing every complete line straight from it.
    /// A line that reaches [`MAX_LINE`] is written as a piece of its own. Its lines are
    /// written out when it returns.
    pub fn pump<W: io::Write>(&mut self, scratch: &mut ReadBuffer, output: &mut Output<W>) -> Pump {
        let pumped = self.gather(scratch, output);
        output.end_lines();
        pumped
    }

    /// [`Source::pump`]'s read, whose lines may be left in an open batch for the lines of
    /// the next reads, this stream's or another's, to fill (see [`Output::gather_lines`]).
    /// The caller ends with [`Output::end_lines`].
    ///
    /// One read a call, as a plain relay does. A read right after another finds the pipe
    /// being refilled: a writer copying into it holds the pipe's lock, and the reader spins
    /// on it (`mutex_spin_on_owner`, 6.5 % of the machine's samples with four reads a turn,
    /// writers of 1 KiB lines). procmux's own CPU with 4 writers into `/dev/null` went down
    /// 14 % (1 KiB lines) and 7 % (100 B) with one. A pty likewise: a read from its master
    /// takes at most what its line discipline holds (4095 bytes) and sends the kernel's
    /// worker to refill it, so a read right after finds little or nothing yet (4 writers ×
    /// 500,000 lines of 100 B on ptys took 1,096 ms with four reads a turn, 823 ms with one,
    /// 1,180 ms with sixteen, medians of 8).
    pub fn gather<W: io::Write>(
        &mut self,
        scratch: &mut ReadBuffer,
        output: &mut Output<W>,
    ) -> Pump {
        let Some(pipe) = &self.pipe else {
            return Pump::Closed;
        };
        let scratch = scratch.as_mut_slice();
        if self.buffer.is_full() {
            if !self.quiet {
                output.piece(&mut self.prefix, self.buffer.partial());
            }
            self.buffer.consume_cut();
        }
        let (held, room) = self.buffer.load(scratch, READ_SIZE);
        match (&*pipe).read(&mut scratch[held..held + room]) {
            Ok(0) => Pump::Closed,
            Ok(n) => {
                self.bytes_read += n as u64;
                self.last_read = n;
                if let Some(mirror) = &mut self.mirror {
                    mirror.extend_from_slice(&scratch[held..held + n]);
                }
                let lines = self.buffer.split(scratch, held, n);
                self.buffer.compact_overwritten(n, output.settles());
                if let Some(pattern) = &self.watch
                    && scratch[lines.clone()]
                        .split(|&b| b == b'\n')
                        .any(|l| pattern.is_match(l))
                {
                    self.matched = true;
                    self.watch = None;
                }
                if !self.quiet {
                    output.gather_lines(&mut self.prefix, &scratch[lines]);
                }
                Pump::More
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Pump::Drained,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Pump::More,
            // Any other read error (a pty's EIO once the child side closed) is EOF.
            Err(_) => Pump::Closed,
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes the last read brought.
    pub fn last_read(&self) -> usize {
        self.last_read
    }

    /// Bytes of the line still waiting for its newline.
    pub fn partial_len(&self) -> usize {
        self.buffer.partial().len()
    }

    /// True while the partial line is being redrawn with `\r` (a progress bar): it is not
    /// an idle prompt, and in a pipe only its final state is written.
    pub fn is_overwritten(&self) -> bool {
        self.buffer.is_redrawn() && self.partial_len() > 0
    }

    /// Shows the partial line's current state (a progress bar): in place on a terminal, as a
    /// line of its own in a pipe; it stays the partial line. Written as it is
    /// (`--no-prefix`), it is written whole, as a piece: its states are not settled.
    pub fn show_progress<W: io::Write>(&mut self, output: &mut Output<W>) {
        if !output.settles() {
            return self.flush_partial(output);
        }
        if !self.quiet {
            output.progress(&mut self.prefix, self.buffer.partial());
        }
        self.flush_at = None;
    }

    /// Writes the partial line as a line of its own (idle prompt, exit, EOF).
    pub fn flush_partial<W: io::Write>(&mut self, output: &mut Output<W>) {
        if self.partial_len() > 0 {
            if !self.quiet {
                output.piece(&mut self.prefix, self.buffer.partial());
            }
            self.buffer.consume_partial();
        }
        self.flush_at = None;
    }

    /// Closes the pipe after EOF: flushes the partial line and stops polling it.
    pub fn close<W: io::Write>(&mut self, registry: &Registry, output: &mut Output<W>) {
        if let Some(mut pipe) = self.pipe.take() {
            // Deregistering a pipe that is about to be closed cannot meaningfully fail.
            let _ = registry.deregister(&mut pipe);
        }
        self.flush_partial(output);
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use jiff::tz::TimeZone;
    use nu_ansi_term::Color;

    use super::*;
    use crate::config::{Style, TimestampFormat};
    use crate::output::Clock;
    use crate::runtime::sys::{self, alloc_count};

    fn style(json: bool) -> Style {
        Style {
            color: true,
            timestamp: TimestampFormat::Local,
            json,
            prefix: true,
            strip_ansi: false,
            width: 6,
            terminal: false,
            status_line: false,
            bell: false,
        }
    }

    /// A sink that only counts bytes, so the sink itself never allocates.
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            let n = bufs.iter().map(|b| b.len()).sum();
            self.0 += n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn source_on_pipe() -> (Source, OwnedFd) {
        let (reader, writer) = crate::platform::fds::pipe().unwrap();
        sys::set_nonblocking(&reader).unwrap();
        let prefix = Prefix::text("w.1", 6, Some(Color::Cyan), TimestampFormat::Local, '|');
        (
            Source::new(0, Receiver::from(reader), prefix, false),
            writer,
        )
    }

    /// Lines of 100 bytes that do not end on a line boundary, so partial lines are carried.
    fn chunk() -> Vec<u8> {
        let line: Vec<u8> = [b'x'; 99].iter().copied().chain([b'\n']).collect();
        line.iter().copied().cycle().take(50_050).collect()
    }

    #[test]
    fn pumping_lines_allocates_nothing_per_line() {
        let (mut source, writer) = source_on_pipe();
        let mut scratch = ReadBuffer::new(READ_SIZE, MAX_LINE);
        let mut output = Output::new(
            Counter(0),
            Clock::new(TimestampFormat::Local),
            &style(false),
            &[],
        );
        let chunk = chunk();
        let mut pump_all = |source: &mut Source, output: &mut Output<Counter>| {
            nix::unistd::write(&writer, &chunk).unwrap();
            while source.pump(&mut scratch, output) == Pump::More {}
        };
        // Warm up: the partial line gets its capacity, the clock its first second.
        pump_all(&mut source, &mut output);
        pump_all(&mut source, &mut output);
        let before = alloc_count::this_thread();
        for _ in 0..200 {
            pump_all(&mut source, &mut output);
        }
        let allocations = alloc_count::this_thread() - before;
        assert_eq!(allocations, 0, "allocations while relaying 100,100 lines");
    }

    #[test]
    fn json_lines_allocate_nothing_either() {
        let (reader, writer) = crate::platform::fds::pipe().unwrap();
        sys::set_nonblocking(&reader).unwrap();
        let prefix = Prefix::json(
            "w",
            1,
            nix::unistd::Pid::this(),
            crate::output::Stream::Stdout,
        );
        let mut source = Source::new(0, Receiver::from(reader), prefix, false);
        let mut scratch = ReadBuffer::new(READ_SIZE, MAX_LINE);
        let clock = Clock::frozen(TimestampFormat::Iso, 0, TimeZone::UTC);
        let mut output = Output::new(Counter(0), clock, &style(true), &[]);
        let chunk = chunk();
        nix::unistd::write(&writer, &chunk).unwrap();
        while source.pump(&mut scratch, &mut output) == Pump::More {}
        let before = alloc_count::this_thread();
        for _ in 0..50 {
            nix::unistd::write(&writer, &chunk).unwrap();
            while source.pump(&mut scratch, &mut output) == Pump::More {}
        }
        assert_eq!(alloc_count::this_thread() - before, 0);
    }
}
