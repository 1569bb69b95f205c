//! Stage four: the one writer of procmux's stdout. Child lines and procmux's own notices,
//! prefixed, timestamped, coloured or as JSON lines, in batched writes.
//!
//! Child lines and procmux's [`Notice`]s all go through [`Output`], so lines never interleave
//! mid-line: each call writes whole lines, and a short write is finished before anything else is
//! written. The prefix is precomputed per output stream of a process, its timestamp patched in
//! place only when the clock's text changes.
//!
//! Text lines take a fast path: short lines are gathered, each behind its prefix, in a 64 KiB
//! batch (`batch.rs`, which copies them in 32-byte blocks and finds their newlines in the
//! blocks it copies) and written with one `write`; the reads of one turn of the loop share
//! batches, whoever's lines they are (`gather_lines`, then `end_lines`). The batch is built
//! in the tail's ring where the next bytes go (`tail.rs`), so keeping it for `procmux logs`
//! costs no second copy.
//! Measured against `writev` of prefix and line slices, this moves the same lines into a pipe
//! at a quarter of the CPU (the kernel's per-iovec cost dominates for 100-byte lines). Lines
//! over 2 KiB are not copied: they go out with `writev` straight from the read buffer. JSON
//! lines and `--strip-ansi` must transform the bytes, so they stream through the same buffer,
//! flushed whenever it fills: a 1 MiB line needs no more memory. Nothing is allocated per line
//! or per batch.
//!
//! For `start`, bytes go to stdout through a writer thread behind a bounded queue
//! (`writer.rs`): a stdout nobody reads never blocks the loop, and once the queue holds its
//! budget the loop reads no child's pipe, so the children block on their full pipes and
//! nothing grows without bound.
//!
//! Text format, byte-identical to foreman without colour: `HH:MM:SS NAME.N<pad> | line`
//! (`!` instead of `|` for stderr lines under `--stderr mark`). With colour the prefix, up to
//! and including the separator, is in the type's colour and every line ends with a reset, so a
//! child's unterminated escape sequence cannot bleed into the next prefix.

mod ansi;
mod batch;
mod color;
mod json;
mod notice;
mod prefix;
pub(crate) mod redraw;
mod status;
mod tail;
mod timestamp;
mod writer;

use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;

use memchr::memchr_iter;
use nix::unistd::Pid;

pub use self::ansi::visible;
pub use self::json::{base64 as json_base64, escape as json_escape};
pub use self::notice::ExitText;
use self::prefix::JSON_END;
pub use self::prefix::{Prefix, Stream};
pub use self::tail::{Piece, Tail};
pub use self::writer::Stdout;

pub use self::timestamp::Clock;
use crate::config::{InstanceSpec, Style, TimestampFormat};
use crate::supervisor::{Notice, State};

use self::status::StatusLine;

use self::batch::{Batch, COPY_LIMIT, Framing, Lane, MIN_CAPACITY, Stop};

/// Writes a whole document (a man page, a status table, an exported file) to stdout, for the
/// commands that print one thing and end. `Ok(false)` when the reader went away (`| head`): a
/// quiet end, as for `start`; anything else (a full disk) is an error.
pub fn print_document(bytes: &[u8]) -> Result<bool, crate::error::Error> {
    let mut stdout = io::stdout().lock();
    // Flushed: std buffers up to a newline, and a prompt (`attach`) has none.
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(e) if Closed::of(&e) == Closed::Reader => Ok(false),
        Err(e) => Err(crate::error::Error::os("writing to stdout", e)),
    }
}

/// Says `message` (one line) on stderr if stderr takes it now, never waiting: at the end,
/// stderr may be the same blocked terminal or pipe as stdout (`2>&1 | less`).
pub fn say_if_possible(message: &str) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stderr = io::stderr();
    let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLOUT)];
    if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLOUT))
    {
        // One write of less than PIPE_BUF: a pipe that polled writable takes it whole.
        let line = format!("{message}\n");
        let _ = nix::unistd::write(stderr.as_fd(), &line.as_bytes()[..line.len().min(512)]);
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
    /// Per instance: its name on the status line (`web`, or `web.2` beside others).
    status_names: Vec<String>,
    type_indices: Vec<usize>,
    /// The label of `system` lines.
    system: Prefix,
    /// Reused to format procmux's own notices.
    scratch: Vec<u8>,
    /// The stream whose progress line is on screen, not yet ended by a newline.
    live: Option<u32>,
    /// The status line, while it is shown (see `status.rs`), and whether a notice came since
    /// it was drawn (a state may have changed).
    status: Option<StatusLine>,
    status_due: bool,
    /// Ctrl-Z removed it; SIGCONT brings it back.
    status_paused: bool,
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
        Output::new(Stdout::default(), Clock::new(stamp), style, instances)
    }

    /// From now on, writes go through the writer thread (see `writer.rs`); `waker` wakes the
    /// poll loop when a backlog has shrunk.
    pub fn queue_writes(&mut self, waker: mio::Waker) -> io::Result<()> {
        self.sink.inner.queue(waker)
    }

    /// True while the queue to stdout is full: read no child's output until the loop is
    /// woken.
    pub fn backlogged(&self) -> bool {
        self.sink.inner.backlogged()
    }

    /// Notices a write error of the writer thread (a reader gone), as a direct write would.
    pub fn check_writer(&mut self) {
        if !self.sink.closed()
            && let Some(error) = self.sink.inner.failure()
        {
            fail(&mut self.sink.why, error);
        }
    }

    /// At the end: waits, at most until `deadline`, for room in the queue to stdout; false if
    /// there is still none.
    pub fn wait_for_room(&self, deadline: std::time::Instant) -> bool {
        self.sink.inner.wait_for_room(deadline)
    }

    /// Waits, at most until `deadline`, for every queued byte to be written; the bytes that
    /// could not be.
    pub fn finish(&self, deadline: std::time::Instant) -> usize {
        self.sink.inner.finish(deadline)
    }

    /// Ctrl-Z: the status line leaves the terminal to the shell (written before procmux
    /// stops, waiting for the writer at most until `deadline`) until [`Output::resume_status`].
    pub fn pause_status(&mut self, deadline: std::time::Instant) {
        if let Some(bytes) = self.status.as_ref().map(StatusLine::end) {
            self.write_raw(&bytes);
            self.status_paused = true;
            self.sink.inner.finish(deadline);
        }
    }
}

impl<W: Write> Output<W> {
    pub fn new(sink: W, clock: Clock, style: &Style, instances: &[InstanceSpec]) -> Output<W> {
        let label = |text: &str, color| {
            let color = style.color.then_some(color);
            Prefix::text(text, style.width, color, style.timestamp, '|')
        };
        Output {
            sink: Sink::new(sink),
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
            status_names: instances
                .iter()
                .map(|i| {
                    let alone = instances.iter().filter(|o| o.name == i.name).count() == 1;
                    if alone { i.name.clone() } else { i.label() }
                })
                .collect(),
            system: label("system", color::SYSTEM),
            style: style.clone(),
            scratch: Vec::new(),
            live: None,
            status: None,
            status_due: false,
            status_paused: false,
        }
    }

    /// Shows the status line, when the style wants one and a terminal of `size` (rows,
    /// columns) has room.
    pub fn start_status(&mut self, size: Option<(u16, u16)>) {
        let Some((rows, cols)) = size.filter(|_| self.style.status_line) else {
            return;
        };
        let status = StatusLine::new(rows, cols, self.style.color, self.style.bell);
        self.write_raw(&status.begin());
        self.status = Some(status);
        self.status_due = true;
    }

    /// True when a notice came since the status line was drawn: draw it (it is drawn only if
    /// its text changed).
    pub fn status_due(&self) -> bool {
        self.status_due
    }

    /// Draws the status line from each instance's state and restarts (`stopping`: while the
    /// stack is being stopped, when exits ring no bell).
    pub fn draw_status(&mut self, states: &[(State, u32)], stopping: bool) {
        if self.status_paused {
            return;
        }
        self.status_due = false;
        let Some(status) = &mut self.status else {
            return;
        };
        let entries: Vec<status::Entry<'_>> = states
            .iter()
            .zip(&self.status_names)
            .map(|(&(state, restarts), name)| status::Entry {
                name,
                state,
                restarts,
            })
            .collect();
        let bytes = status.draw(&entries, stopping);
        if !bytes.is_empty() {
            self.write_raw(&bytes);
        }
    }

    /// The terminal was resized.
    pub fn resize_status(&mut self, rows: u16, cols: u16) {
        if self.status_paused {
            // The terminal is the shell's: nothing drawn, the size kept for the way back.
            if let Some(status) = &mut self.status {
                status.set_size(rows, cols);
            }
            return;
        }
        if let Some(bytes) = self.status.as_mut().map(|s| s.resize(rows, cols)) {
            self.write_raw(&bytes);
            self.status_due = true;
        }
    }

    /// Rows left to the stream, when the status line takes one.
    pub fn stream_rows(&self) -> Option<u16> {
        self.status.as_ref().and_then(StatusLine::stream_rows)
    }

    /// Back from Ctrl-Z: the status line again, drawn afresh.
    pub fn resume_status(&mut self) {
        if !std::mem::take(&mut self.status_paused) {
            return;
        }
        if let Some(status) = &mut self.status {
            status.forget();
            let begin = status.begin();
            self.write_raw(&begin);
            self.status_due = true;
        }
    }

    /// The status line goes: the terminal as it was.
    pub fn end_status(&mut self) {
        if std::mem::take(&mut self.status_paused) {
            self.status = None;
        }
        if let Some(status) = self.status.take() {
            self.write_raw(&status.end());
        }
    }

    /// Bytes for the terminal, not a line of the stream (the tail does not keep them).
    fn write_raw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.flush_batch();
        let owner = self.sink.owner.take();
        self.sink.write_all(&mut [IoSlice::new(bytes)]);
        self.sink.owner = owner;
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
        self.flush_batch();
        self.sink.tail = Tail::new(bytes);
    }

    /// Recent output, for `procmux logs`.
    pub fn tail(&self) -> &Tail {
        debug_assert_eq!(self.sink.batch_len, 0, "the tail read with a batch open");
        &self.sink.tail
    }

    /// How the stream is shown.
    pub fn style(&self) -> &Style {
        &self.style
    }

    /// Columns the prefix of a child's line takes; see [`Style::prefix_width`].
    pub fn prefix_width(&self) -> usize {
        self.style.prefix_width()
    }

    /// Why writing stopped, once it did.
    pub fn closed(&self) -> Option<Closed> {
        self.sink.why
    }

    /// Writes each `\n`-terminated line of `lines` behind `prefix`, leaving the last batch
    /// open for the lines of the next read to fill, this stream's or another's (the tail
    /// keeps each process's under its own, [`Output::own`]): streams read 64 KiB at a time
    /// then cost one `write` per full batch, not one more per read (a read's lines with
    /// their prefixes are more than a batch holds, so each read's lines ended in a short
    /// batch of their own). The caller ends with [`Output::end_lines`] before it returns to
    /// anything else: an open batch may be built in the tail's ring, over bytes a reader of
    /// the tail would find there, and its lines are not out until then.
    pub fn gather_lines(&mut self, prefix: &mut Prefix, lines: &[u8]) {
        if self.sink.closed() || lines.is_empty() {
            return;
        }
        self.end_progress(Some(prefix.id));
        self.own(Some(prefix.instance()));
        self.put_lines(prefix, lines);
    }

    /// [`Output::gather_lines`]' lines into batches, the last one left open.
    fn put_lines(&mut self, prefix: &mut Prefix, lines: &[u8]) {
        self.refresh_clock();
        prefix.sync(&self.clock);
        let plain = !self.style.json && !self.style.strip_ansi;
        let framing = if self.style.strip_ansi {
            None
        } else {
            Framing::new(&prefix.bytes, prefix.line_end)
        };
        // The lanes leave aside every line with a redraw, and it is settled there. Without a
        // lane, one scan of the whole read first: per-line scans cost more than the rest of
        // the relay.
        if let Some(framing) = framing {
            self.lane_lines(prefix, &framing, lines);
            return;
        }
        let settle = self.settles() && redraw::any(lines);
        let mut from = 0;
        for newline in memchr_iter(b'\n', lines) {
            let mut line = &lines[from..newline];
            from = newline + 1;
            if settle {
                line = redraw::settled(line);
            }
            if plain {
                self.plain_line(prefix, line);
            } else {
                self.transformed_line(prefix, line);
            }
        }
        debug_assert_eq!(
            from,
            lines.len(),
            "gather_lines() takes only complete lines"
        );
    }

    /// Writes out the batch [`Output::gather_lines`] left open.
    pub fn end_lines(&mut self) {
        self.flush_batch();
    }

    /// The fast lane of [`Output::lines`]: text lines that are their own settled text (or
    /// as they are, `--no-prefix`), and JSON lines that need no escape, through the batch's
    /// block copies (`batch.rs`). The lane leaves a line aside when it is over [`COPY_LIMIT`]
    /// (text: settled and written straight from `lines`), holds a redraw (settled here, into
    /// the batch: lines redrawn one by one make no write each), or, as JSON, holds a byte
    /// to escape or check (settled, then escaped into the batch as before: a redraw's `\r`
    /// or ESC is such a byte).
    fn lane_lines(&mut self, prefix: &Prefix, framing: &Framing, lines: &[u8]) {
        let lane = match (self.style.json, self.settles()) {
            (true, _) => Lane::Json,
            (false, true) => Lane::Settled,
            (false, false) => Lane::Text,
        };
        let mut from = 0;
        loop {
            match self.sink.batch().copy_lines(framing, lines, from, lane) {
                Stop::Done => break,
                Stop::Full(at) => {
                    self.flush_batch();
                    from = at;
                }
                Stop::Aside(at, newline) => {
                    let line = &lines[at..newline.min(lines.len())];
                    let line = if lane == Lane::Text {
                        line
                    } else {
                        redraw::settled(line)
                    };
                    if lane == Lane::Json {
                        self.transformed_line(prefix, line);
                    } else {
                        self.plain_line(prefix, line);
                    }
                    from = newline + 1;
                }
            }
            if self.sink.closed() {
                return;
            }
        }
    }

    /// One text line (without its newline) behind `prefix`, into the batch; a long one
    /// (over [`COPY_LIMIT`]) is written from where it is, with `writev`, after the batch.
    fn plain_line(&mut self, prefix: &Prefix, line: &[u8]) {
        let framed = prefix.bytes.len() + line.len() + prefix.line_end.len();
        if line.len() > COPY_LIMIT || framed > MIN_CAPACITY {
            self.flush_batch();
            self.write_plain(prefix, line);
            return;
        }
        if self.sink.batch_len + framed > self.sink.capacity() {
            self.flush_batch();
        }
        let mut batch = self.sink.batch();
        batch.extend_from_slice(&prefix.bytes);
        batch.extend_from_slice(line);
        batch.extend_from_slice(prefix.line_end);
    }

    /// Writes `bytes` (no newline of its own) as one line behind `prefix`.
    pub fn piece(&mut self, prefix: &mut Prefix, bytes: &[u8]) {
        if self.sink.closed() {
            return;
        }
        self.end_progress(Some(prefix.id));
        self.own(Some(prefix.instance()));
        let bytes = if self.settles() {
            redraw::settled(bytes)
        } else {
            bytes
        };
        self.refresh_clock();
        prefix.sync(&self.clock);
        if self.style.json || self.style.strip_ansi {
            self.transformed_line(prefix, bytes);
            self.flush_batch();
        } else {
            self.write_plain(prefix, bytes);
        }
    }

    /// True when a redrawn line (a progress bar's `\r`, a spinner's `ESC[1G ESC[0K`: see
    /// [`redraw`]) keeps only its last state, so the prefix is never overwritten: with a
    /// prefix or as JSON (`--no-prefix` writes lines as they are).
    pub fn settles(&self) -> bool {
        self.style.prefix || self.style.json
    }

    /// True when redrawn partial lines are shown as they change, in place, behind their
    /// prefix: on a terminal, as text.
    pub fn shows_progress(&self) -> bool {
        self.style.terminal && !self.style.json && self.style.prefix
    }

    /// Shows the current state of a partial line that is being redrawn (a progress bar). On
    /// a terminal, in place: `\r`, the prefix, its last state, and clear to the end of the
    /// line, without a newline; the next write ends it (see [`Output::end_progress`]).
    /// Elsewhere (a pipe, JSON), its last state as a line of its own.
    pub fn progress(&mut self, prefix: &mut Prefix, partial: &[u8]) {
        if self.sink.closed() {
            return;
        }
        let text = redraw::settled_partial(partial);
        if !self.shows_progress() {
            return self.piece(prefix, text);
        }
        if self.live.is_some_and(|id| id != prefix.id) {
            self.end_progress(None);
        }
        self.refresh_clock();
        prefix.sync(&self.clock);
        let reset: &[u8] = if self.style.color { b"\x1b[0m" } else { b"" };
        // Redrawn in place: not a line for `procmux logs`.
        self.own(None);
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
        if self.sink.closed() {
            return;
        }
        // A batch left open is child lines: written out before the tail is told that what
        // comes is procmux's own.
        self.flush_batch();
        self.end_progress(None);
        self.status_due = true;
        self.sink.owner = Some(notice.instance());
        let names = notice::Names { names: &self.names };
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        // Writing into a Vec cannot fail.
        let _ = notice::text(notice, &names, &mut text);
        self.clock.refresh();
        self.sink.tail.stamp(self.clock.millis(), true);
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
            let sink = &mut self.sink;
            json::base64(line, &mut |bytes| sink.put(bytes));
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
        let sink = &mut self.sink;
        json::escape(text, &mut |bytes| sink.put(bytes))
    }

    fn put(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    /// Reads the clock once for a batch; the tail keeps its time.
    fn refresh_clock(&mut self) {
        self.clock.refresh();
        self.sink.tail.stamp(self.clock.millis(), false);
    }

    fn flush_batch(&mut self) {
        self.sink.flush_batch();
    }

    /// Says whom the next writes are about. A batch left open about another instance (or
    /// the stack) goes on: the tail keeps its bytes so far under that one
    /// ([`Sink::keep_part`]), so that the lines of the streams read in one turn share
    /// full batches. One that is or will be kept by nobody (a progress line) is written out
    /// first: such bytes must not be built in the tail's ring.
    fn own(&mut self, owner: Option<Option<usize>>) {
        if self.sink.owner != owner {
            if self.sink.owner.is_some() && owner.is_some() {
                self.sink.keep_part();
            } else {
                self.flush_batch();
            }
        }
        self.sink.owner = owner;
    }

    #[cfg(test)]
    fn into_sink(self) -> W {
        self.sink.inner
    }
}

/// The writer, whether it failed, the tail that records what it writes, and the batch of
/// the next write.
struct Sink<W> {
    inner: W,
    /// Why writing stopped, once it did: every later write is discarded.
    why: Option<Closed>,
    /// Recent writes, for `procmux logs`.
    tail: Tail,
    /// The instance what is being written is about (`None`: the stack); `Some(None)` is
    /// the stack, `None` means "do not keep" (a progress line redrawn in place).
    owner: Option<Option<usize>>,
    /// The bytes gathered for the next `write` (see [`Sink::batch`]).
    batch_len: usize,
    /// How many of them the tail already keeps, under the owners they were about
    /// ([`Sink::keep_part`]).
    batch_kept: usize,
    /// Where in the tail's ring the batch is built ([`Tail::space`]); `None`: in `spare`.
    batch_at: Option<usize>,
    /// How many bytes the batch holds at most ([`Sink::capacity`]).
    batch_capacity: usize,
    /// Where a batch is built when the tail keeps nothing, has no room for it at once, or
    /// writing failed.
    spare: Box<[u8]>,
}

impl<W: Write> Sink<W> {
    /// Writes to `inner`, keeping no tail, about the whole stack until told otherwise.
    fn new(inner: W) -> Sink<W> {
        Sink {
            inner,
            why: None,
            tail: Tail::new(0),
            owner: Some(None),
            batch_len: 0,
            batch_kept: 0,
            batch_at: None,
            batch_capacity: batch::CAPACITY,
            spare: batch::spare(),
        }
    }

    fn closed(&self) -> bool {
        self.why.is_some()
    }

    /// The batch, built where the tail will keep it when it can: recording it is then no
    /// copy (each byte written is otherwise copied once more, into the tail's ring). Not for
    /// bytes the tail must not keep, nor once writing failed: those batches may never be
    /// written out, and one left open in the ring would have overwritten kept bytes.
    fn batch(&mut self) -> Batch<'_> {
        self.begin();
        // Nothing is recorded while a batch is open (`write_all` writes it out first), so a
        // batch begun in the tail's space finds it where it was.
        let buf = match self.batch_at {
            Some(at) => &mut self.tail.space_at(at)[..self.batch_capacity],
            None => &mut self.spare[..self.batch_capacity],
        };
        Batch::new(buf, &mut self.batch_len)
    }

    /// How many bytes the batch holds at most: [`batch::CAPACITY`], or fewer near the end
    /// of the tail's ring (see [`Tail::space`]). With no batch open, of the one begun now.
    fn capacity(&mut self) -> usize {
        self.begin();
        self.batch_capacity
    }

    /// With no batch open, chooses where the next one is built, and so its capacity. One
    /// the tail keeps but has no room for in place is built in the spare buffer, and copied
    /// in: in the least, so as to copy little.
    fn begin(&mut self) {
        if self.batch_len > 0 {
            return;
        }
        let keeps = self.owner.is_some() && !self.closed();
        self.batch_at = if keeps { self.tail.space() } else { None };
        self.batch_capacity = match self.batch_at {
            Some(at) => self.tail.space_at(at).len(),
            None if keeps && !self.tail.is_off() => MIN_CAPACITY,
            None => batch::CAPACITY,
        };
    }

    /// Keeps the bytes of the open batch not yet kept under the owner they are about: in
    /// the ring, where the batch is built, no copy. The batch may then go on about another.
    fn keep_part(&mut self) {
        let (from, to) = (self.batch_kept, self.batch_len);
        if from == to {
            return;
        }
        self.batch_kept = to;
        if self.batch_at.is_some() {
            // The owner is set before a batch begins and kept until it is written out; were it
            // taken away meanwhile, the batch is kept as the stack's: its bytes have replaced
            // kept ones, which must be forgotten.
            self.tail.commit(self.owner.unwrap_or(None), to - from);
        } else if let Some(owner) = self.owner {
            self.tail
                .record(owner, &[IoSlice::new(&self.spare[from..to])]);
        }
    }

    /// Writes the batch out.
    fn flush_batch(&mut self) {
        self.keep_part();
        let len = std::mem::take(&mut self.batch_len);
        self.batch_kept = 0;
        if len == 0 {
            return;
        }
        let bytes = match self.batch_at {
            Some(at) => self.tail.kept_at(at, len),
            None => &self.spare[..len],
        };
        send(&mut self.inner, &mut self.why, &mut [IoSlice::new(bytes)]);
    }

    /// Appends `bytes` to the batch, writing the batch out first when they would not fit;
    /// bytes larger than a whole batch are written as they are.
    fn put(&mut self, bytes: &[u8]) {
        if self.batch_len + bytes.len() > self.capacity() {
            self.flush_batch();
        }
        if bytes.len() > self.capacity() {
            self.write_all(&mut [IoSlice::new(bytes)]);
        } else {
            self.batch().extend_from_slice(bytes);
        }
    }

    /// Writes every byte of `iov` after the batch, finishing short writes, unless the sink
    /// fails.
    fn write_all(&mut self, iov: &mut [IoSlice<'_>]) {
        self.flush_batch();
        if let Some(owner) = self.owner {
            self.tail.record(owner, iov);
        }
        send(&mut self.inner, &mut self.why, iov);
    }
}

/// Writes every byte of `iov` to `inner`, finishing short writes, unless it fails (`why`).
fn send<W: Write>(inner: &mut W, why: &mut Option<Closed>, mut iov: &mut [IoSlice<'_>]) {
    // Nothing left to write is done, not a write of zero bytes (which a terminal answers
    // with 0, read as "stdout is gone": a status line with no room drew nothing, and
    // the whole stack was stopped).
    while iov.iter().any(|s| !s.is_empty()) && why.is_none() {
        match inner.write_vectored(iov) {
            Ok(0) => fail(why, io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut iov, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => fail(why, e),
        }
    }
}

/// Writing failed: said on stderr unless the reader or the terminal went away.
fn fail(why: &mut Option<Closed>, error: io::Error) {
    let closed = Closed::of(&error);
    if closed == Closed::Failed {
        // stderr may be gone too: never panic over a message.
        let _ = writeln!(io::stderr(), "procmux: error: writing to stdout: {error}");
    }
    *why = Some(closed);
}

#[cfg(test)]
mod tests;
