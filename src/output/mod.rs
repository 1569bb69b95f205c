//! Stage four: the one writer of procmux's stdout. Child lines and procmux's own notices,
//! prefixed, timestamped, coloured or as JSON lines, in batched writes.
//!
//! Child lines and procmux's [`Notice`]s all go through [`Output`], so lines never interleave
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

mod ansi;
mod color;
mod json;
mod notice;
mod prefix;
mod tail;
mod timestamp;

use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;

use memchr::memchr_iter;
use nix::unistd::Pid;

use self::prefix::JSON_END;
pub use self::prefix::{Prefix, Stream};
pub use self::tail::Tail;

/// `bytes` as the inside of a JSON string, appended to `out`.
pub fn escape_json(bytes: &[u8], out: &mut Vec<u8>) {
    json::escape(bytes, &mut |b| out.extend_from_slice(b));
}
pub use self::timestamp::Clock;
use crate::config::{InstanceSpec, Style, TimestampFormat};
use crate::supervisor::Notice;

/// Lines up to this length are copied into the batch buffer; longer ones are written from
/// the read buffer with `writev`, where the copy would cost more than the extra iovecs.
const COPY_LIMIT: usize = 2048;
/// Bytes gathered before a `write`: the size of a default pipe.
const BATCH_CAPACITY: usize = 64 * 1024;

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

/// Why the stream could not be written any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The reader went away (`EPIPE`: `procmux start | head`): a quiet end.
    Reader,
    /// The terminal is gone (`EIO`, `ENXIO`: a closed tab, a dropped SSH connection): the
    /// same as a hang-up.
    Terminal,
    /// Anything else (`ENOSPC`: a full disk): an error, reported on stderr.
    Failed,
}

impl Closed {
    fn of(error: &io::Error) -> Closed {
        match error.raw_os_error() {
            _ if error.kind() == io::ErrorKind::BrokenPipe => Closed::Reader,
            Some(nix::libc::EIO | nix::libc::ENXIO) => Closed::Terminal,
            _ => Closed::Failed,
        }
    }
}

/// The multiplexed stream. After a write error every later write is discarded, and
/// [`Output::closed`] tells why, so that the stack is stopped.
pub struct Output<W: Write = Stdout> {
    sink: Sink<W>,
    clock: Clock,
    style: Style,
    /// Per instance: the label of procmux's own lines about it (`started with pid N`).
    labels: Vec<Prefix>,
    /// Per instance: its type's name, its number and its type's index (its colour).
    names: Vec<(String, usize)>,
    type_indices: Vec<usize>,
    /// The label of `system` lines.
    system: Prefix,
    /// Lines gathered for one `write`; reused, never grown past its capacity.
    batch: Vec<u8>,
    /// Reused to format procmux's own notices.
    scratch: Vec<u8>,
    /// The stream whose progress line is on screen, not yet ended by a newline.
    live: Option<u32>,
}

impl Output<Stdout> {
    /// The writer of procmux's stdout for these instances, in this style.
    pub fn stdout(style: &Style, instances: &[InstanceSpec]) -> Output<Stdout> {
        // JSON lines always carry the full ISO time.
        let stamp = if style.json {
            TimestampFormat::Iso
        } else {
            style.timestamp
        };
        Output::new(Stdout, Clock::new(stamp), style, instances)
    }
}

impl<W: Write> Output<W> {
    pub fn new(sink: W, clock: Clock, style: &Style, instances: &[InstanceSpec]) -> Output<W> {
        let label = |text: &str, color| {
            let color = style.color.then_some(color);
            Prefix::text(text, style.width, color, style.timestamp, '|')
        };
        Output {
            sink: Sink {
                inner: sink,
                closed: false,
                why: None,
                tail: Tail::new(0),
                owner: Some(None),
            },
            clock,
            labels: instances
                .iter()
                .map(|i| label(&i.label(), color::for_index(i.type_index)))
                .collect(),
            names: instances
                .iter()
                .map(|i| (i.name.clone(), i.number))
                .collect(),
            type_indices: instances.iter().map(|i| i.type_index).collect(),
            system: label("system", color::SYSTEM),
            style: style.clone(),
            batch: Vec::with_capacity(BATCH_CAPACITY),
            scratch: Vec::new(),
            live: None,
        }
    }

    /// The prefix of one output stream of `instance`'s process `pid`: JSON head, bare
    /// (`--no-prefix`), or the label with `|` (or `!` for a marked stderr).
    pub fn stream_prefix(&self, instance: usize, pid: Pid, stream: Stream) -> Prefix {
        let (name, number) = &self.names[instance];
        let prefix = if self.style.json {
            Prefix::json(name, *number, pid, stream)
        } else if !self.style.prefix {
            Prefix::bare()
        } else {
            let color = self
                .style
                .color
                .then(|| color::for_index(self.type_indices[instance]));
            Prefix::text(
                &format!("{name}.{number}"),
                self.style.width,
                color,
                self.style.timestamp,
                stream.separator(),
            )
        };
        prefix.with_id(instance as u32 * 2 + u32::from(stream == Stream::Stderr))
    }

    /// Keeps the last `bytes` of output in memory, for `procmux logs`.
    pub fn keep_tail(&mut self, bytes: usize) {
        self.sink.tail = Tail::new(bytes);
    }

    /// Recent output, for `procmux logs`.
    pub fn tail(&self) -> &Tail {
        &self.sink.tail
    }

    /// Columns the prefix of a child's line takes; see [`Style::prefix_width`].
    pub fn prefix_width(&self) -> usize {
        self.style.prefix_width()
    }

    /// Why writing stopped, once it did.
    pub fn closed(&self) -> Option<Closed> {
        self.sink.why
    }

    /// Writes each `\n`-terminated line of `lines` behind `prefix`.
    pub fn lines(&mut self, prefix: &mut Prefix, lines: &[u8]) {
        if self.sink.closed || lines.is_empty() {
            return;
        }
        self.end_progress(Some(prefix.id));
        self.sink.owner = Some(prefix.instance());
        self.clock.refresh();
        prefix.sync(&self.clock);
        let plain = !self.style.json && !self.style.strip_ansi;
        // One scan of the whole batch: per-line scans cost more than the rest of the relay.
        let settle = self.settles() && memchr::memchr(b'\r', lines).is_some();
        let mut from = 0;
        for newline in memchr_iter(b'\n', lines) {
            let mut line = &lines[from..newline];
            from = newline + 1;
            if settle {
                line = settled(line);
            }
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
        self.end_progress(Some(prefix.id));
        let bytes = if self.settles() {
            settled(bytes)
        } else {
            bytes
        };
        self.clock.refresh();
        prefix.sync(&self.clock);
        if self.style.json || self.style.strip_ansi {
            self.transformed_line(prefix, bytes);
            self.flush_batch();
        } else {
            self.write_plain(prefix, bytes);
        }
    }

    /// True when a line redrawn with `\r` (a progress bar) keeps only its last state, so the
    /// prefix is never overwritten: with a prefix or as JSON (`--no-prefix` writes lines as
    /// they are).
    fn settles(&self) -> bool {
        self.style.prefix || self.style.json
    }

    /// True when partial lines redrawn with `\r` are shown as they change, in place, behind
    /// their prefix: on a terminal, as text.
    pub fn shows_progress(&self) -> bool {
        self.style.terminal && !self.style.json && self.style.prefix
    }

    /// Shows the current state of a partial line that is being redrawn (a progress bar), in
    /// place: `\r`, the prefix, its last state, and clear to the end of the line, without a
    /// newline. The next write ends it (see [`Output::end_progress`]).
    pub fn progress(&mut self, prefix: &mut Prefix, partial: &[u8]) {
        if self.sink.closed {
            return;
        }
        if self.live.is_some_and(|id| id != prefix.id) {
            self.end_progress(None);
        }
        self.clock.refresh();
        prefix.sync(&self.clock);
        let text = settled(partial);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let reset: &[u8] = if self.style.color { b"\x1b[0m" } else { b"" };
        // Redrawn in place: not a line for `procmux logs`.
        self.sink.owner = None;
        self.sink.write_all(&mut [
            IoSlice::new(b"\r"),
            IoSlice::new(&prefix.bytes),
            IoSlice::new(text),
            IoSlice::new(reset),
            IoSlice::new(b"\x1b[K"),
        ]);
        self.live = Some(prefix.id);
    }

    /// Before writing anything else: a progress line on screen is cleared when its own stream
    /// writes next (its line is about to be written whole), or ended with a newline, its last
    /// state kept, when anything else does.
    fn end_progress(&mut self, writer: Option<u32>) {
        if let Some(live) = self.live.take() {
            let end: &[u8] = if writer == Some(live) {
                b"\r\x1b[K"
            } else {
                b"\n"
            };
            self.sink.write_all(&mut [IoSlice::new(end)]);
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

    /// Reports a notice: a text line behind the instance's label or `system`'s, or a JSON
    /// object, any length, through the batch buffer.
    pub fn notice(&mut self, notice: &Notice) {
        if self.sink.closed {
            return;
        }
        self.end_progress(None);
        self.sink.owner = Some(notice.instance());
        let names = notice::Names { names: &self.names };
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        // Writing into a Vec cannot fail.
        let _ = notice::text(notice, &names, &mut text);
        self.clock.refresh();
        if self.style.json {
            let mut head = Vec::new();
            head.extend_from_slice(b"{\"ts\":\"");
            head.extend_from_slice(self.clock.text());
            head.extend_from_slice(b"\",\"name\":\"system\"");
            let _ = notice::json_fields(notice, &names, &mut head);
            head.extend_from_slice(b",\"message\":\"");
            self.put(&head);
            self.escape(&text);
            self.put(JSON_END);
            self.flush_batch();
        } else {
            // procmux's own words: never stripped, even under --strip-ansi.
            let label = match notice.instance() {
                Some(instance) if notice::under_own_label(notice) => &mut self.labels[instance],
                _ => &mut self.system,
            };
            label.sync(&self.clock);
            let (bytes, line_end) = (&label.bytes, label.line_end);
            self.sink.write_all(&mut [
                IoSlice::new(bytes),
                IoSlice::new(&text),
                IoSlice::new(line_end),
            ]);
        }
        self.scratch = text;
    }

    /// A line that JSON or `--strip-ansi` transforms, streamed through the batch buffer.
    fn transformed_line(&mut self, prefix: &Prefix, line: &[u8]) {
        self.put(&prefix.bytes);
        let mut valid = true;
        if self.style.strip_ansi {
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
        if self.style.json {
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

/// What a line redrawn with carriage returns finally shows: the text after its last `\r`
/// (a trailing `\r`, as in CRLF, is kept and does not count).
fn settled(line: &[u8]) -> &[u8] {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    match memchr::memrchr(b'\r', body) {
        Some(at) => &line[at + 1..],
        None => line,
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
    why: Option<Closed>,
    /// Recent writes, for `procmux logs`.
    tail: Tail,
    /// The instance what is being written is about (`None`: the stack); `Some(None)` is
    /// the stack, `None` means "do not keep" (a progress line redrawn in place).
    owner: Option<Option<usize>>,
}

impl<W: Write> Sink<W> {
    /// Writes every byte of `iov`, finishing short writes, unless the sink fails.
    fn write_all(&mut self, mut iov: &mut [IoSlice<'_>]) {
        if let Some(owner) = self.owner {
            self.tail.record(owner, iov);
        }
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
        let why = Closed::of(&error);
        if why == Closed::Failed {
            // stderr may be gone too: never panic over a message.
            let _ = writeln!(io::stderr(), "procmux: error: writing to stdout: {error}");
        }
        self.closed = true;
        self.why = Some(why);
    }
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;
    use nu_ansi_term::Color;

    use super::*;
    use crate::supervisor::Exit;

    /// 2025-11-26T12:00:01.234Z
    const NOON_MS: i64 = 1_764_158_401_234;

    fn clock(format: TimestampFormat) -> Clock {
        Clock::frozen(format, NOON_MS, TimeZone::UTC)
    }

    fn style(color: bool, timestamp: TimestampFormat, json: bool, strip_ansi: bool) -> Style {
        Style {
            color,
            timestamp,
            json,
            prefix: true,
            strip_ansi,
            width: 6,
            terminal: false,
        }
    }

    fn web(name: &str, number: usize) -> InstanceSpec {
        InstanceSpec {
            type_index: 0,
            name: name.to_owned(),
            number,
            port: 5000,
        }
    }

    /// An output into a `Vec` for one instance, `web.1`.
    fn output<W: Write>(sink: W, stamp: TimestampFormat, json: bool, strip: bool) -> Output<W> {
        Output::new(
            sink,
            clock(stamp),
            &style(false, stamp, json, strip),
            &[web("web", 1)],
        )
    }

    fn render(
        color: bool,
        stamp: TimestampFormat,
        f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix),
    ) -> String {
        let mut out = output(Vec::new(), stamp, false, false);
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
        let mut out = output(Vec::new(), TimestampFormat::None, false, false);
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
            o.notice(&Notice::Started {
                instance: 0,
                pid: Pid::from_raw(42),
            });
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
        let mut out = output(Vec::new(), TimestampFormat::None, false, true);
        let mut prefix = Prefix::text("web.1", 6, Some(Color::Cyan), TimestampFormat::None, '|');
        out.lines(&mut prefix, b"\x1b[1;31mred\x1b[0m text\n");
        let text = String::from_utf8(out.into_sink()).unwrap();
        assert_eq!(text, "\x1b[36mweb.1  | \x1b[0mred text\x1b[0m\n");
    }

    fn json_output(f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix)) -> String {
        let mut out = output(Vec::new(), TimestampFormat::Iso, true, false);
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
        let text = json_output(|o, _| {
            let pid = Pid::from_raw(7);
            let exit = Exit::Signal(nix::sys::signal::Signal::SIGTERM);
            o.notice(&Notice::Exited {
                instance: 0,
                pid,
                exit,
            });
            o.notice(&Notice::ShuttingDown);
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"system","event":"exited","process":"web","instance":1,"pid":7,"signal":"SIGTERM","message":"terminated by SIGTERM"}"#
        );
        assert_eq!(
            lines[1],
            r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"system","event":"shutdown","message":"sending SIGTERM to all processes"}"#
        );
    }

    /// Any name length, every notice its own kind, always valid JSON (a fixed head buffer
    /// once cut long names and labelled every supervisor message "shutdown").
    #[test]
    fn json_notices_with_a_long_name_are_valid_and_typed() {
        let name = "w".repeat(200);
        let mut out = Output::new(
            Vec::new(),
            clock(TimestampFormat::Iso),
            &style(false, TimestampFormat::Iso, true, false),
            &[web(&name, 1)],
        );
        out.notice(&Notice::Restarting {
            instance: 0,
            exit: Exit::Code(1),
            delay: std::time::Duration::from_millis(1500),
            attempt: 2,
            max_attempts: 5,
        });
        out.notice(&Notice::FailedToStart {
            instance: 0,
            error: "cannot cd to \"/gone\"".to_owned(),
        });
        let text = String::from_utf8(out.into_sink()).unwrap();
        let objects: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let restart = &objects[0];
        assert_eq!(restart["event"], "restarting");
        assert_eq!(restart["process"], name.as_str());
        assert_eq!(
            (restart["code"].as_i64(), restart["delay_ms"].as_i64()),
            (Some(1), Some(1500))
        );
        assert_eq!(
            (
                restart["attempt"].as_i64(),
                restart["max_attempts"].as_i64()
            ),
            (Some(2), Some(5))
        );
        assert_eq!(
            restart["message"],
            format!("{name}.1 exited with code 1, restarting in 1.5s (attempt 2/5)")
        );
        assert_eq!(objects[1]["event"], "failed");
        assert_eq!(
            objects[1]["message"],
            "failed to start: cannot cd to \"/gone\""
        );
    }

    #[test]
    fn supervisor_notices_are_system_lines_and_lifecycle_lines_are_the_instance_s() {
        let mut out = output(Vec::new(), TimestampFormat::None, false, false);
        out.notice(&Notice::Exited {
            instance: 0,
            pid: Pid::from_raw(9),
            exit: Exit::Code(3),
        });
        out.notice(&Notice::MayExit {
            instance: 0,
            exit: Exit::Code(3),
        });
        out.notice(&Notice::Killing { remaining: 2 });
        let text = String::from_utf8(out.into_sink()).unwrap();
        assert_eq!(
            text,
            "web.1  | exited with code 3\n\
             system | web.1 exited with code 3; it may exit, the others keep running\n\
             system | sending SIGKILL to 2 processes\n"
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
        let mut out = output(sink, TimestampFormat::None, false, false);
        let mut prefix = Prefix::text("w.1", 6, None, TimestampFormat::None, '|');
        out.lines(&mut prefix, b"abc\ndef\n");
        assert_eq!(out.sink.inner.data, b"w.1    | abc\nw.1    | def\n");
        assert_eq!(out.closed(), None);
        out.sink.inner.budget = 0;
        out.lines(&mut prefix, b"x\n");
        assert_eq!(out.closed(), Some(Closed::Reader));
    }

    #[test]
    fn lines_redrawn_with_carriage_returns_keep_their_last_state() {
        let text = render(false, TimestampFormat::None, |o, p| {
            o.lines(p, b"10%\r20%\r100%\nplain\r\n\r\n")
        });
        assert_eq!(text, "web.1  | 100%\nweb.1  | plain\r\nweb.1  | \r\n");
        assert_eq!(settled(b"a\rb\r"), b"b\r");
    }

    #[test]
    fn a_progress_line_is_redrawn_in_place_and_ended_by_the_next_write() {
        let mut style = style(false, TimestampFormat::None, false, false);
        style.terminal = true;
        let mut out = Output::new(
            Vec::new(),
            clock(TimestampFormat::None),
            &style,
            &[web("web", 1), web("worker", 1)],
        );
        assert!(out.shows_progress());
        let mut web_prefix = out.stream_prefix(0, Pid::from_raw(1), Stream::Stdout);
        let mut worker_prefix = out.stream_prefix(1, Pid::from_raw(2), Stream::Stdout);
        out.progress(&mut web_prefix, b"10%\r");
        out.progress(&mut web_prefix, b"20%");
        // Another process writes: the progress line is ended, its last state kept.
        out.lines(&mut worker_prefix, b"hello\n");
        out.progress(&mut web_prefix, b"50%\r");
        // Its own line comes: the progress line is cleared and the line written whole.
        out.lines(&mut web_prefix, b"50%\r100%\n");
        let text = String::from_utf8(out.into_sink()).unwrap();
        assert_eq!(
            text,
            "\rweb.1  | 10%\x1b[K\rweb.1  | 20%\x1b[K\n\
             worker.1 | hello\n\
             \rweb.1  | 50%\x1b[K\r\x1b[Kweb.1  | 100%\n"
        );
    }

    #[test]
    fn why_the_output_closed() {
        let of = |errno| Closed::of(&io::Error::from_raw_os_error(errno));
        assert_eq!(of(nix::libc::EPIPE), Closed::Reader);
        assert_eq!(of(nix::libc::EIO), Closed::Terminal);
        assert_eq!(of(nix::libc::ENOSPC), Closed::Failed);
    }
}
