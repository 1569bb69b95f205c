//! The one writer of procmux's stdout: prefixes, timestamps, JSON lines and batched writes.
//!
//! Child lines and procmux's own messages all go through [`Output`], so lines never interleave
//! mid-line: each call writes whole lines, and a short write is finished before anything else is
//! written. The prefix is precomputed per output stream of a process, its timestamp patched in
//! place only when the clock's text changes.
//!
//! Text lines take a fast path: short lines are gathered, each behind its prefix, in one reused
//! 64 KiB buffer and written with one `write`. Measured against `writev` of prefix and line
//! slices, this moves the same lines into a pipe at a quarter of the CPU (the kernel's
//! per-iovec cost dominates for 100-byte lines). Lines over 2 KiB are not copied: they go out
//! with `writev` straight from the read buffer. JSON lines and `--strip-ansi` must transform
//! the bytes, so they stream through the same buffer, flushed whenever it fills: a 1 MiB line
//! needs no more memory. Nothing is allocated per line or per batch.
//!
//! Stdout stays blocking, so a slow reader stalls procmux and, through the full pipes, the
//! children: nothing grows without bound.
//!
//! Text format, byte-identical to foreman without colour: `HH:MM:SS NAME.N<pad> | line`
//! (`!` instead of `|` for stderr lines under `--stderr mark`). With colour the prefix, up to
//! and including the separator, is in the type's colour and every line ends with a reset, so a
//! child's unterminated escape sequence cannot bleed into the next prefix.

use std::fmt::Display;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;

use memchr::memchr_iter;
use nix::unistd::Pid;
use nu_ansi_term::Color;

use crate::ansi;
use crate::json;
use crate::supervisor::Exit;
use crate::timestamp::{Clock, TimestampFormat};

/// Lines up to this length are copied into the batch buffer; longer ones are written from
/// the read buffer with `writev`, where the copy would cost more than the extra iovecs.
const COPY_LIMIT: usize = 2048;
/// Bytes gathered before a `write`: the size of a default pipe.
const BATCH_CAPACITY: usize = 64 * 1024;
const RESET_NEWLINE: &[u8] = b"\x1b[0m\n";
const JSON_END: &[u8] = b"\"}\n";

/// Which output stream of a process a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The text-format separator: `|`, or `!` marking stderr lines.
    pub fn separator(self) -> char {
        match self {
            Stream::Stdout => '|',
            Stream::Stderr => '!',
        }
    }
}

/// The bytes written before (and after) each line of one stream (or of `system`).
pub struct Prefix {
    bytes: Vec<u8>,
    /// Bytes ending every line: `\n`, a reset then `\n` when coloured, `"}\n` for JSON.
    line_end: &'static [u8],
    /// Where the timestamp sits in `bytes`, when there is one.
    stamp_at: Option<usize>,
    /// The clock key the stamp shows.
    key: i64,
}

impl Prefix {
    /// `[time ]label<pad> | `, in `color` when it is set.
    pub fn text(
        label: &str,
        width: usize,
        color: Option<Color>,
        stamp: TimestampFormat,
        separator: char,
    ) -> Prefix {
        let mut bytes = Vec::new();
        if let Some(color) = color {
            bytes.extend_from_slice(color.prefix().to_string().as_bytes());
        }
        let stamp_at = (stamp != TimestampFormat::None).then(|| {
            let at = bytes.len();
            bytes.resize(at + stamp.width(), b'0');
            bytes.push(b' ');
            at
        });
        bytes.extend_from_slice(format!("{label:<width$} {separator} ").as_bytes());
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
            key: i64::MIN,
        }
    }

    /// The constant head of a JSON line: `{"ts":"…","name":…,"line":"`.
    pub fn json(name: &str, instance: usize, pid: Pid, stream: Stream) -> Prefix {
        let mut bytes = b"{\"ts\":\"".to_vec();
        let at = bytes.len();
        bytes.resize(at + TimestampFormat::Iso.width(), b'0');
        let fields = format!(
            "\",\"name\":\"{name}\",\"instance\":{instance},\"pid\":{pid},\"stream\":\"{}\",\"line\":\"",
            stream.name()
        );
        bytes.extend_from_slice(fields.as_bytes());
        Prefix {
            bytes,
            line_end: JSON_END,
            stamp_at: Some(at),
            key: i64::MIN,
        }
    }

    /// No prefix at all (`--no-prefix`): lines are written as the child wrote them.
    pub fn bare() -> Prefix {
        Prefix {
            bytes: Vec::new(),
            line_end: b"\n",
            stamp_at: None,
            key: i64::MIN,
        }
    }

    fn sync(&mut self, clock: &Clock) {
        if let Some(at) = self.stamp_at
            && self.key != clock.key()
        {
            let text = clock.text();
            self.bytes[at..at + text.len()].copy_from_slice(text);
            self.key = clock.key();
        }
    }
}

/// What procmux reports.
pub enum Event<'a> {
    Started {
        pid: Pid,
    },
    Exited {
        pid: Pid,
        exit: Exit,
    },
    FailedToStart(&'a dyn Display),
    /// A supervisor message (`sending SIGTERM to all processes`).
    Message(&'a dyn Display),
}

/// Whom an [`Event`] is about.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    System,
    Process { name: &'a str, instance: usize },
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
        self.write_vectored(&[IoSlice::new(buf)])
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
    json: bool,
    strip_ansi: bool,
    /// Lines gathered for one `write`; reused, never grown past its capacity.
    batch: Vec<u8>,
    /// Reused to format procmux's own messages.
    scratch: Vec<u8>,
}

impl<W: Write> Output<W> {
    /// `json` writes JSON lines (the clock should then be ISO); `strip_ansi` removes escape
    /// sequences from child lines.
    pub fn new(sink: W, clock: Clock, json: bool, strip_ansi: bool) -> Output<W> {
        Output {
            sink: Sink {
                inner: sink,
                closed: false,
            },
            clock,
            json,
            strip_ansi,
            batch: Vec::with_capacity(BATCH_CAPACITY),
            scratch: Vec::new(),
        }
    }

    /// True once a write failed; output is discarded from then on.
    pub fn is_closed(&self) -> bool {
        self.sink.closed
    }

    /// Writes each `\n`-terminated line of `lines` behind `prefix`.
    pub fn lines(&mut self, prefix: &mut Prefix, lines: &[u8]) {
        if self.sink.closed || lines.is_empty() {
            return;
        }
        self.clock.refresh();
        prefix.sync(&self.clock);
        let plain = !self.json && !self.strip_ansi;
        let mut from = 0;
        for newline in memchr_iter(b'\n', lines) {
            let line = &lines[from..newline];
            from = newline + 1;
            if !plain {
                self.transformed_line(prefix, line);
            } else if line.len() > COPY_LIMIT {
                self.flush_batch();
                self.write_plain(prefix, line);
            } else {
                if self.batch.len() + prefix.bytes.len() + line.len() + prefix.line_end.len()
                    > BATCH_CAPACITY
                {
                    self.flush_batch();
                }
                self.batch.extend_from_slice(&prefix.bytes);
                self.batch.extend_from_slice(line);
                self.batch.extend_from_slice(prefix.line_end);
            }
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
        if self.json || self.strip_ansi {
            self.transformed_line(prefix, bytes);
            self.flush_batch();
        } else {
            self.write_plain(prefix, bytes);
        }
    }

    /// One line exactly as given, behind `prefix`.
    fn write_plain(&mut self, prefix: &Prefix, bytes: &[u8]) {
        self.sink.write_all(&mut [
            IoSlice::new(&prefix.bytes),
            IoSlice::new(bytes),
            IoSlice::new(prefix.line_end),
        ]);
    }

    /// Reports `event` about `subject`: a text line behind `label`, or a JSON object.
    pub fn event(&mut self, label: &mut Prefix, subject: Subject<'_>, event: Event<'_>) {
        if self.sink.closed {
            return;
        }
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        // Writing into a Vec cannot fail.
        let _ = match &event {
            Event::Started { pid } => write!(text, "started with pid {pid}"),
            Event::Exited { exit, .. } => write!(text, "{exit}"),
            Event::FailedToStart(error) => write!(text, "failed to start: {error}"),
            Event::Message(message) => write!(text, "{message}"),
        };
        self.clock.refresh();
        if self.json {
            self.json_event(subject, &event, &text);
        } else {
            // procmux's own words: never stripped, even under --strip-ansi.
            label.sync(&self.clock);
            self.write_plain(label, &text);
        }
        self.scratch = text;
    }

    fn json_event(&mut self, subject: Subject<'_>, event: &Event<'_>, text: &[u8]) {
        let kind = match event {
            Event::Started { .. } => "started",
            Event::Exited { .. } => "exited",
            Event::FailedToStart(_) => "failed",
            Event::Message(_) => "shutdown",
        };
        let mut head = [0u8; 160];
        let mut cursor = io::Cursor::new(&mut head[..]);
        let _ = write!(cursor, "{{\"ts\":\"");
        let _ = cursor.write_all(self.clock.text());
        let _ = write!(cursor, "\",\"name\":\"system\",\"event\":\"{kind}\"");
        if let Subject::Process { name, instance } = subject {
            let _ = write!(cursor, ",\"process\":\"{name}\",\"instance\":{instance}");
        }
        match event {
            Event::Started { pid } => {
                let _ = write!(cursor, ",\"pid\":{pid}");
            }
            Event::Exited {
                pid,
                exit: Exit::Code(code),
            } => {
                let _ = write!(cursor, ",\"pid\":{pid},\"code\":{code}");
            }
            Event::Exited {
                pid,
                exit: Exit::Signal(signal),
            } => {
                let _ = write!(cursor, ",\"pid\":{pid},\"signal\":\"{}\"", signal.as_str());
            }
            Event::FailedToStart(_) | Event::Message(_) => {}
        }
        let _ = write!(cursor, ",\"message\":\"");
        let used = cursor.position() as usize;
        self.put(&head[..used]);
        self.escape(text);
        self.put(b"\"}\n");
        self.flush_batch();
    }

    /// A line that JSON or `--strip-ansi` transforms, streamed through the batch buffer.
    fn transformed_line(&mut self, prefix: &Prefix, line: &[u8]) {
        self.put(&prefix.bytes);
        let mut valid = true;
        if self.strip_ansi {
            for run in ansi::visible(line) {
                valid &= self.write_run(run);
            }
        } else {
            valid = self.write_run(line);
        }
        if valid {
            self.put(prefix.line_end);
        } else {
            // Lossless: the exact bytes the child wrote, next to the readable string.
            self.put(b"\",\"line_base64\":\"");
            let (sink, batch) = (&mut self.sink, &mut self.batch);
            json::base64(line, &mut |bytes| put(sink, batch, bytes));
            self.put(JSON_END);
        }
    }

    /// Writes a run of a line's bytes, escaped for JSON if need be; false when it was not
    /// valid UTF-8 (only JSON cares).
    fn write_run(&mut self, run: &[u8]) -> bool {
        if self.json {
            self.escape(run)
        } else {
            self.put(run);
            true
        }
    }

    fn escape(&mut self, text: &[u8]) -> bool {
        let (sink, batch) = (&mut self.sink, &mut self.batch);
        json::escape(text, &mut |bytes| put(sink, batch, bytes))
    }

    fn put(&mut self, bytes: &[u8]) {
        put(&mut self.sink, &mut self.batch, bytes);
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

/// Appends `bytes` to `batch`, writing the batch out first when they would not fit; bytes
/// larger than the whole batch go straight to the sink.
fn put<W: Write>(sink: &mut Sink<W>, batch: &mut Vec<u8>, bytes: &[u8]) {
    if batch.len() + bytes.len() > BATCH_CAPACITY {
        sink.write_all(&mut [IoSlice::new(batch)]);
        batch.clear();
    }
    if bytes.len() > BATCH_CAPACITY {
        sink.write_all(&mut [IoSlice::new(bytes)]);
    } else {
        batch.extend_from_slice(bytes);
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
    use jiff::tz::TimeZone;

    use super::*;

    /// 2025-11-26T12:00:01.234Z
    const NOON_MS: i64 = 1_764_158_401_234;

    fn clock(format: TimestampFormat) -> Clock {
        Clock::frozen(format, NOON_MS, TimeZone::UTC)
    }

    fn render(
        color: bool,
        stamp: TimestampFormat,
        f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix),
    ) -> String {
        let mut out = Output::new(Vec::new(), clock(stamp), false, false);
        let mut prefix = Prefix::text("web.1", 6, color.then_some(Color::Cyan), stamp, '|');
        f(&mut out, &mut prefix);
        String::from_utf8(out.into_sink()).unwrap()
    }

    #[test]
    fn foreman_format_without_colour() {
        let text = render(false, TimestampFormat::Local, |o, p| {
            o.lines(p, b"hello\n\nworld\r\n")
        });
        assert_eq!(
            text,
            "12:00:01 web.1  | hello\n12:00:01 web.1  | \n12:00:01 web.1  | world\r\n"
        );
        let text = render(false, TimestampFormat::None, |o, p| o.piece(p, b"prompt> "));
        assert_eq!(text, "web.1  | prompt> \n");
    }

    #[test]
    fn other_timestamp_formats_and_the_stderr_marker() {
        let text = render(false, TimestampFormat::Ms, |o, p| o.lines(p, b"x\n"));
        assert_eq!(text, "12:00:01.234 web.1  | x\n");
        let text = render(false, TimestampFormat::Iso, |o, p| o.lines(p, b"x\n"));
        assert_eq!(text, "2025-11-26T12:00:01.234+00:00 web.1  | x\n");
        let mut out = Output::new(Vec::new(), clock(TimestampFormat::None), false, false);
        let mut prefix = Prefix::text(
            "web.1",
            6,
            None,
            TimestampFormat::None,
            Stream::Stderr.separator(),
        );
        out.lines(&mut prefix, b"oops\n");
        assert_eq!(out.into_sink(), b"web.1  ! oops\n");
    }

    #[test]
    fn colour_wraps_the_prefix_and_resets_after_each_line() {
        let text = render(true, TimestampFormat::Local, |o, p| {
            o.lines(p, b"a\x1b[31mred\nb\n")
        });
        assert_eq!(
            text,
            "\x1b[36m12:00:01 web.1  | \x1b[0ma\x1b[31mred\x1b[0m\n\x1b[36m12:00:01 web.1  | \x1b[0mb\x1b[0m\n"
        );
    }

    #[test]
    fn events_and_many_lines_in_several_batches() {
        let many: Vec<u8> = (0..3000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let text = render(false, TimestampFormat::None, |o, p| {
            let subject = Subject::Process {
                name: "web",
                instance: 1,
            };
            o.event(
                p,
                subject,
                Event::Started {
                    pid: Pid::from_raw(42),
                },
            );
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
        let text = render(true, TimestampFormat::None, |o, p| {
            o.lines(p, input.as_bytes())
        });
        let expected: String = ["a", &long, "b"]
            .iter()
            .map(|l| format!("\x1b[36mweb.1  | \x1b[0m{l}\x1b[0m\n"))
            .collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn strip_ansi_removes_escapes_from_child_lines_only() {
        let mut out = Output::new(Vec::new(), clock(TimestampFormat::None), false, true);
        let mut prefix = Prefix::text("web.1", 6, Some(Color::Cyan), TimestampFormat::None, '|');
        out.lines(&mut prefix, b"\x1b[1;31mred\x1b[0m text\n");
        let text = String::from_utf8(out.into_sink()).unwrap();
        assert_eq!(text, "\x1b[36mweb.1  | \x1b[0mred text\x1b[0m\n");
    }

    fn json_output(f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix)) -> String {
        let mut out = Output::new(Vec::new(), clock(TimestampFormat::Iso), true, false);
        let mut prefix = Prefix::json("web", 1, Pid::from_raw(4242), Stream::Stdout);
        f(&mut out, &mut prefix);
        String::from_utf8(out.into_sink()).unwrap()
    }

    #[test]
    fn json_lines() {
        let text = json_output(|o, p| o.lines(p, b"say \"hi\"\tnow\n\xff\xfeok\n"));
        let lines: Vec<&str> = text.lines().collect();
        let head = r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"web","instance":1,"pid":4242,"stream":"stdout","line":""#;
        assert_eq!(lines[0], format!(r#"{head}say \"hi\"\tnow"}}"#));
        assert_eq!(
            lines[1],
            format!("{head}\u{fffd}\u{fffd}ok\",\"line_base64\":\"//5vaw==\"}}")
        );
    }

    #[test]
    fn json_events() {
        let text = json_output(|o, p| {
            let subject = Subject::Process {
                name: "web",
                instance: 2,
            };
            let pid = Pid::from_raw(7);
            o.event(
                p,
                subject,
                Event::Exited {
                    pid,
                    exit: Exit::Signal(nix::sys::signal::Signal::SIGTERM),
                },
            );
            o.event(p, Subject::System, Event::Message(&"sending \"SIGTERM\""));
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"system","event":"exited","process":"web","instance":2,"pid":7,"signal":"SIGTERM","message":"terminated by SIGTERM"}"#
        );
        assert_eq!(
            lines[1],
            r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"system","event":"shutdown","message":"sending \"SIGTERM\""}"#
        );
    }

    #[test]
    fn a_json_line_longer_than_the_batch_streams_through_it() {
        let long = vec![b'"'; 3 * BATCH_CAPACITY];
        let mut input = long.clone();
        input.push(b'\n');
        let text = json_output(|o, p| o.lines(p, &input));
        assert!(text.ends_with("\"}\n"));
        assert_eq!(text.matches("\\\"").count(), long.len());
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
        let sink = Trickle {
            data: Vec::new(),
            budget: 1000,
        };
        let mut out = Output::new(sink, clock(TimestampFormat::None), false, false);
        let mut prefix = Prefix::text("w.1", 6, None, TimestampFormat::None, '|');
        out.lines(&mut prefix, b"abc\ndef\n");
        assert_eq!(out.sink.inner.data, b"w.1    | abc\nw.1    | def\n");
        assert!(!out.is_closed());
        out.sink.inner.budget = 0;
        out.lines(&mut prefix, b"x\n");
        assert!(out.is_closed());
    }
}
