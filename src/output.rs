//! The one writer of procmux's stdout: prefixes, timestamps and batched writes.
//!
//! Child lines and procmux's own messages all go through [`Output`], so lines never interleave
//! mid-line: each call writes whole lines, and a short write is finished before anything else is
//! written. The prefix is precomputed per process, its timestamp patched in place at most once
//! a second. Short lines are gathered, each behind its prefix, in one reused 64 KiB buffer and
//! written with one `write`: measured against `writev` of prefix and line slices, this moves
//! the same lines into a pipe at a quarter of the CPU (the kernel's per-iovec cost dominates
//! for 100-byte lines). Lines over 2 KiB are not copied: they go out with `writev` straight
//! from the read buffer. Nothing is allocated per line or per batch. Stdout stays blocking, so
//! a slow reader stalls procmux and, through the full pipes, the children: nothing grows
//! without bound.
//!
//! Output format, byte-identical to foreman without colour:
//! `HH:MM:SS NAME.N<pad> | line`. With colour the prefix (up to and including ` | `) is in the
//! type's colour and every line ends with a reset, so a child's unterminated escape sequence
//! cannot bleed into the next prefix.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;
use std::time::{SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;
use memchr::memchr_iter;
use nu_ansi_term::Color;

/// Lines up to this length are copied into the batch buffer; longer ones are written from
/// the read buffer with `writev`, where the copy would cost more than the extra iovecs.
const COPY_LIMIT: usize = 2048;
/// Bytes gathered before a `write`: the size of a default pipe.
const BATCH_CAPACITY: usize = 64 * 1024;
const RESET_NEWLINE: &[u8] = b"\x1b[0m\n";
const STAMP_LEN: usize = 8;

/// Local wall-clock seconds, formatted `HH:MM:SS` only when the second changes.
pub struct Clock {
    zone: TimeZone,
    /// Unix second that `text` shows; `i64::MIN` before the first refresh.
    second: i64,
    text: [u8; STAMP_LEN],
    /// A frozen clock (tests) never refreshes.
    frozen: bool,
}

impl Clock {
    /// The system's local time zone, or UTC when it cannot be determined.
    pub fn local() -> Clock {
        let zone = TimeZone::try_system().unwrap_or(TimeZone::UTC);
        Clock {
            zone,
            second: i64::MIN,
            text: *b"00:00:00",
            frozen: false,
        }
    }

    /// A clock that always shows `unix_second` in UTC.
    #[cfg(test)]
    pub fn frozen(unix_second: i64) -> Clock {
        let mut clock = Clock {
            zone: TimeZone::UTC,
            second: i64::MIN,
            text: [0; 8],
            frozen: false,
        };
        clock.set(unix_second);
        clock.frozen = true;
        clock
    }

    fn refresh(&mut self) {
        if self.frozen {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if now != self.second {
            self.set(now);
        }
    }

    fn set(&mut self, unix_second: i64) {
        let offset = jiff::Timestamp::from_second(unix_second)
            .map_or(0, |ts| self.zone.to_offset(ts).seconds());
        self.second = unix_second;
        self.text = hms(unix_second + i64::from(offset));
    }
}

/// `HH:MM:SS` of the time of day of `local_second`.
fn hms(local_second: i64) -> [u8; STAMP_LEN] {
    let of_day = local_second.rem_euclid(86_400);
    let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let digit = |v: i64| b'0' + v as u8;
    [
        digit(h / 10),
        digit(h % 10),
        b':',
        digit(m / 10),
        digit(m % 10),
        b':',
        digit(s / 10),
        digit(s % 10),
    ]
}

/// The bytes written before (and after) each line of one process (or of `system`).
pub struct Prefix {
    bytes: Vec<u8>,
    /// Bytes ending every line: `\n`, or a reset then `\n` when the prefix is coloured.
    line_end: &'static [u8],
    /// Where the `HH:MM:SS` stamp sits in `bytes`, when timestamps are on.
    stamp_at: Option<usize>,
    /// The clock second the stamp shows.
    second: i64,
}

impl Prefix {
    /// `label` (`web.1`, `system`) left-justified to `width`, in `color` when it is set.
    pub fn new(label: &str, width: usize, color: Option<Color>, timestamps: bool) -> Prefix {
        let mut bytes = Vec::new();
        if let Some(color) = color {
            bytes.extend_from_slice(color.prefix().to_string().as_bytes());
        }
        let stamp_at = timestamps.then(|| {
            let at = bytes.len();
            bytes.extend_from_slice(b"00:00:00 ");
            at
        });
        bytes.extend_from_slice(format!("{label:<width$} | ").as_bytes());
        if let Some(color) = color {
            bytes.extend_from_slice(color.suffix().to_string().as_bytes());
        }
        let line_end = if color.is_some() {
            RESET_NEWLINE
        } else {
            b"\n"
        };
        Prefix {
            bytes,
            line_end,
            stamp_at,
            second: i64::MIN,
        }
    }

    /// No prefix at all (`--no-prefix`): lines are written as the child wrote them.
    pub fn bare() -> Prefix {
        Prefix {
            bytes: Vec::new(),
            line_end: b"\n",
            stamp_at: None,
            second: i64::MIN,
        }
    }

    fn sync(&mut self, clock: &Clock) {
        if let Some(at) = self.stamp_at
            && self.second != clock.second
        {
            self.bytes[at..at + STAMP_LEN].copy_from_slice(&clock.text);
            self.second = clock.second;
        }
    }
}

/// Blocks until stdout can take more bytes.
fn wait_writable() -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Where [`Output`] writes: procmux's stdout, or a `Vec<u8>` in tests.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(io::stdout().as_fd(), buf)?)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match nix::sys::uio::writev(io::stdout().as_fd(), bufs) {
                // procmux never sets O_NONBLOCK on stdout, but it may inherit it (the flag
                // belongs to the open file, shared with the shell): wait, as a blocking write would.
                Err(nix::errno::Errno::EAGAIN) => wait_writable()?,
                result => return Ok(result?),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The multiplexed stream. After a write error (a reader that went away) every later write is
/// discarded, and [`Output::is_closed`] tells the supervisor to shut down.
pub struct Output<W: Write = Stdout> {
    sink: Sink<W>,
    clock: Clock,
    /// Short lines with their prefixes, gathered for one `write`; reused, never reallocated.
    batch: Vec<u8>,
    /// Reused for procmux's own messages.
    scratch: Vec<u8>,
}

impl<W: Write> Output<W> {
    pub fn new(sink: W, clock: Clock) -> Output<W> {
        Output {
            sink: Sink {
                inner: sink,
                closed: false,
            },
            clock,
            batch: Vec::with_capacity(BATCH_CAPACITY),
            scratch: Vec::new(),
        }
    }

    /// True once a write failed; output is discarded from then on.
    pub fn is_closed(&self) -> bool {
        self.sink.closed
    }

    /// Writes each `\n`-terminated line of `lines` behind `prefix`: short lines gathered
    /// into one buffer and written with one `write` per [`BATCH_CAPACITY`] bytes, long ones
    /// written straight from `lines` with `writev`.
    pub fn lines(&mut self, prefix: &mut Prefix, lines: &[u8]) {
        if self.sink.closed || lines.is_empty() {
            return;
        }
        self.clock.refresh();
        prefix.sync(&self.clock);
        let mut from = 0;
        for newline in memchr_iter(b'\n', lines) {
            let line = &lines[from..newline];
            from = newline + 1;
            if line.len() > COPY_LIMIT {
                self.flush_batch();
                self.sink.write_all(&mut [
                    IoSlice::new(&prefix.bytes),
                    IoSlice::new(line),
                    IoSlice::new(prefix.line_end),
                ]);
                continue;
            }
            if self.batch.len() + prefix.bytes.len() + line.len() + prefix.line_end.len()
                > BATCH_CAPACITY
            {
                self.flush_batch();
            }
            self.batch.extend_from_slice(&prefix.bytes);
            self.batch.extend_from_slice(line);
            self.batch.extend_from_slice(prefix.line_end);
        }
        debug_assert_eq!(from, lines.len(), "lines() takes only complete lines");
        self.flush_batch();
    }

    /// Writes `bytes` (no newline of its own) as one line behind `prefix`.
    pub fn piece(&mut self, prefix: &mut Prefix, bytes: &[u8]) {
        if self.sink.closed {
            return;
        }
        self.clock.refresh();
        prefix.sync(&self.clock);
        self.sink.write_all(&mut [
            IoSlice::new(&prefix.bytes),
            IoSlice::new(bytes),
            IoSlice::new(prefix.line_end),
        ]);
    }

    /// Writes one of procmux's own messages behind `prefix`.
    pub fn message(&mut self, prefix: &mut Prefix, text: fmt::Arguments<'_>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        // Writing into a Vec cannot fail.
        let _ = scratch.write_fmt(text);
        self.piece(prefix, &scratch);
        self.scratch = scratch;
    }

    fn flush_batch(&mut self) {
        if !self.batch.is_empty() {
            self.sink.write_all(&mut [IoSlice::new(&self.batch)]);
            self.batch.clear();
        }
    }

    #[cfg(test)]
    fn into_sink(self) -> W {
        self.sink.inner
    }
}

/// The writer and whether it failed.
struct Sink<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Sink<W> {
    /// Writes every byte of `iov`, finishing short writes, unless the sink fails.
    fn write_all(&mut self, mut iov: &mut [IoSlice<'_>]) {
        while !iov.is_empty() && !self.closed {
            match self.inner.write_vectored(iov) {
                Ok(0) => self.fail(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut iov, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail(e),
            }
        }
    }

    fn fail(&mut self, error: io::Error) {
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("procmux: error: writing to stdout: {error}");
        }
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_764_158_401; // 2025-11-26T12:00:01Z

    fn render(
        color: bool,
        timestamps: bool,
        f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix),
    ) -> String {
        let mut out = Output::new(Vec::new(), Clock::frozen(NOON));
        let mut prefix = Prefix::new("web.1", 6, color.then_some(Color::Cyan), timestamps);
        f(&mut out, &mut prefix);
        String::from_utf8(out.into_sink()).unwrap()
    }

    #[test]
    fn foreman_format_without_colour() {
        let text = render(false, true, |o, p| o.lines(p, b"hello\n\nworld\r\n"));
        assert_eq!(
            text,
            "12:00:01 web.1  | hello\n12:00:01 web.1  | \n12:00:01 web.1  | world\r\n"
        );
        let text = render(false, false, |o, p| o.piece(p, b"prompt> "));
        assert_eq!(text, "web.1  | prompt> \n");
    }

    #[test]
    fn colour_wraps_the_prefix_and_resets_after_each_line() {
        let text = render(true, true, |o, p| o.lines(p, b"a\x1b[31mred\nb\n"));
        assert_eq!(
            text,
            "\x1b[36m12:00:01 web.1  | \x1b[0ma\x1b[31mred\x1b[0m\n\x1b[36m12:00:01 web.1  | \x1b[0mb\x1b[0m\n"
        );
    }

    #[test]
    fn message_and_many_lines_in_several_batches() {
        let many: Vec<u8> = (0..3000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let text = render(false, false, |o, p| {
            o.message(p, format_args!("started with pid {}", 42));
            o.lines(p, &many);
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "web.1  | started with pid 42");
        assert_eq!(lines.len(), 3001);
        assert_eq!(lines[3000], "web.1  | 2999");
    }

    #[test]
    fn long_lines_bypass_the_batch_in_order() {
        let long = "y".repeat(COPY_LIMIT + 1);
        let input = format!("a\n{long}\nb\n");
        let text = render(true, false, |o, p| o.lines(p, input.as_bytes()));
        let expected: String = ["a", &long, "b"]
            .iter()
            .map(|l| format!("\x1b[36mweb.1  | \x1b[0m{l}\x1b[0m\n"))
            .collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_new_second_allocates_nothing() {
        let mut clock = Clock::local();
        clock.set(NOON);
        let before = crate::alloc_count::this_thread();
        for second in NOON..NOON + 5000 {
            clock.set(second);
        }
        assert_eq!(crate::alloc_count::this_thread() - before, 0);
    }

    #[test]
    fn hms_wraps_days_and_negative_offsets() {
        assert_eq!(&hms(0), b"00:00:00");
        assert_eq!(&hms(86_399), b"23:59:59");
        assert_eq!(&hms(-1), b"23:59:59");
        assert_eq!(&hms(NOON), b"12:00:01");
    }

    /// A sink that accepts at most 7 bytes per call and fails after a budget.
    struct Trickle {
        data: Vec<u8>,
        budget: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(7).min(self.budget);
            self.data.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn short_writes_are_finished_and_a_broken_sink_closes_the_output() {
        let mut out = Output::new(
            Trickle {
                data: Vec::new(),
                budget: 1000,
            },
            Clock::frozen(NOON),
        );
        let mut prefix = Prefix::new("w.1", 6, None, false);
        out.lines(&mut prefix, b"abc\ndef\n");
        assert_eq!(out.sink.inner.data, b"w.1    | abc\nw.1    | def\n");
        assert!(!out.is_closed());
        out.sink.inner.budget = 0;
        out.lines(&mut prefix, b"x\n");
        assert!(out.is_closed());
    }
}
