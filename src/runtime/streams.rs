//! Every output stream of every child, and the read queue that shares the loop's time among
//! them.
//!
//! mio is edge-triggered: after an event a stream must be read until `WouldBlock`, but a
//! chatty child read to exhaustion would starve the others. So each stream gets one read per
//! turn (`Source::gather`, which says why one), and a stream with more stays in the read
//! queue (`readable`), which makes the next poll return at once. The lines of all the streams
//! read in one turn share batches (`Output::gather_lines`): one `write` per full batch,
//! whoever's lines are in it.
//!
//! Invariants between turns: the queue lists each stream at most once (`Source::queued`); a
//! stream holds no complete line (lines are written as soon as they are read), only a partial
//! one, whose idle flush is scheduled (`Source::flush_at`).

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use mio::unix::pipe::Receiver;
use mio::{Interest, Registry};

use super::line_buffer::ReadBuffer;
use super::source::{MAX_LINE, Pump, READ_SIZE, Source};
use super::token::Token;
use crate::config::LinePattern;
use crate::output::{Output, Prefix, Stdout};

/// Reads allowed when draining the streams of a process that just exited (bounded: a
/// grandchild may keep writing).
pub const READS_AT_EXIT: usize = 64;
/// Reads allowed per stream in the final drain, after every descendant is gone.
const READS_AT_END: usize = 4096;
/// How long a short partial line (a prompt) may stay idle before it is printed on its own.
pub const PARTIAL_IDLE: Duration = Duration::from_millis(50);
/// Partial lines up to this length count as prompts.
const PROMPT_MAX: usize = 256;
/// A partial line that came in a read of more than this is the end of bulk output whose
/// buffered `write`s ended mid-line (`yes | head` writes 4 KiB at a time), not a prompt: it
/// waits [`LONG_PARTIAL_IDLE`], so a writer the machine leaves unscheduled for a while does not
/// see its line cut. A prompt written in the same write as a long banner shows after that.
const PROMPT_WRITE_MAX: usize = 1024;
/// How long a longer partial line may stay idle: its writer is most likely in the middle of
/// a line that its buffered `write`s split (a busy machine can deschedule it for a while), so
/// cutting it early would break a line that was never meant to be shown in parts.
pub const LONG_PARTIAL_IDLE: Duration = Duration::from_secs(1);
/// In a pipe, a line being redrawn (a progress bar) is written, settled, at most this often
/// while it changes, so that a long download shows progress in a log without a flood.
pub const PIPE_PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub struct Streams {
    /// Every stream ever opened; a [`Token::Stream`] is an index here. Closed slots are
    /// reused by the same instance's restarts.
    sources: Vec<Source>,
    /// Per instance: the indices of its current streams.
    of_instance: Vec<Vec<usize>>,
    /// Per instance: its stream that is a pty master, whose size follows procmux's terminal.
    pty_of: Vec<Option<usize>>,
    /// Streams that may still hold data; `spare` is swapped in while they are pumped.
    readable: Vec<usize>,
    spare: Vec<usize>,
    /// The read buffer every stream is read into.
    scratch: ReadBuffer,
    /// Per instance: a client is attached, so its raw output is kept for it.
    mirrored: Vec<bool>,
}

impl Streams {
    pub fn new(instances: usize) -> Streams {
        Streams {
            sources: Vec::new(),
            of_instance: vec![Vec::new(); instances],
            pty_of: vec![None; instances],
            readable: Vec::new(),
            spare: Vec::new(),
            scratch: ReadBuffer::new(READ_SIZE, MAX_LINE),
            mirrored: vec![false; instances],
        }
    }

    /// Forgets `instance`'s old streams before it starts again (closed ones keep their slot
    /// for reuse, so a process restarting for days does not grow the list every turn walks).
    pub fn reset(&mut self, instance: usize) {
        self.of_instance[instance].clear();
        self.pty_of[instance] = None;
    }

    /// Registers a new stream of `instance` with the poll.
    pub fn add(
        &mut self,
        registry: &Registry,
        instance: usize,
        fd: OwnedFd,
        prefix: Prefix,
        quiet: bool,
        is_pty: bool,
    ) -> io::Result<()> {
        let index = self
            .sources
            .iter()
            .position(|s| s.instance == instance && s.is_retired())
            .unwrap_or(self.sources.len());
        let mut pipe = Receiver::from(fd);
        registry.register(&mut pipe, Token::Stream(index).into(), Interest::READABLE)?;
        let mut source = Source::new(instance, pipe, prefix, quiet);
        if self.mirrored[instance] {
            source.mirror = Some(Vec::new());
        }
        if index == self.sources.len() {
            self.sources.push(source);
        } else {
            self.sources[index] = source;
        }
        self.of_instance[instance].push(index);
        if is_pty {
            self.pty_of[instance] = Some(index);
        }
        Ok(())
    }

    /// A readiness event for stream `index`.
    pub fn queue(&mut self, index: usize) {
        if let Some(source) = self.sources.get_mut(index)
            && !source.queued
        {
            source.queued = true;
            self.readable.push(index);
        }
    }

    /// The earliest time a stream needs the loop: now while one is queued, else the first
    /// idle flush of a partial line; never while the output is `backlogged` (the writer
    /// thread wakes the loop when it has room again).
    pub fn next_due(&self, now: Instant, backlogged: bool) -> Option<Instant> {
        if backlogged {
            return None;
        }
        if !self.readable.is_empty() {
            return Some(now);
        }
        self.sources.iter().filter_map(|s| s.flush_at).min()
    }

    /// Reads every queued stream, within its budget, writing whole lines, their batches
    /// shared and the last written out before it returns; stops while the output is
    /// backlogged (what is left stays queued).
    pub fn pump_readable(&mut self, output: &mut Output<Stdout>, registry: &Registry) {
        std::mem::swap(&mut self.readable, &mut self.spare);
        let mut batch = std::mem::take(&mut self.spare);
        let mut now = None;
        for (at, &index) in batch.iter().enumerate() {
            if output.backlogged() {
                // Those not reached go first next turn, before those read in this one (queued
                // again as they were read, having more). Behind them, the same streams would
                // come first every turn while stdout is slow, and a stream behind them never
                // be read: a process printing now and then, behind four that flood.
                let served = self.readable.len();
                self.readable.extend_from_slice(&batch[at..]);
                self.readable.rotate_left(served);
                break;
            }
            let source = &mut self.sources[index];
            match source.gather(&mut self.scratch, output) {
                Pump::More => {
                    self.readable.push(index);
                    continue;
                }
                Pump::Drained => source.queued = false,
                Pump::Closed => {
                    source.queued = false;
                    source.close(registry, output);
                }
            }
            if source.partial_len() == 0 {
                source.flush_at = None;
            } else {
                let now = *now.get_or_insert_with(Instant::now);
                schedule_flush(source, now, output.shows_progress());
            }
        }
        output.end_lines();
        batch.clear();
        self.spare = batch;
    }

    /// `instance`'s process exited: write what its streams hold before its exit line, and
    /// stop looking for its readiness pattern. At most `reads` reads in all (a grandchild may
    /// keep writing), and none while the output is backlogged: false, to be called again
    /// when it has room (the exit line waits meanwhile). At the `end`, it waits for room
    /// instead, until that deadline.
    pub fn drain_instance(
        &mut self,
        instance: usize,
        output: &mut Output<Stdout>,
        registry: &Registry,
        reads: &mut usize,
        end: Option<Instant>,
    ) -> bool {
        for &index in &self.of_instance[instance] {
            let source = &mut self.sources[index];
            while *reads > 0 {
                if output.backlogged() {
                    match end {
                        // The end: nothing else to serve, so wait for room (bounded).
                        Some(deadline) if output.wait_for_room(deadline) => {}
                        Some(_) => *reads = 0,
                        None => return false,
                    }
                    continue;
                }
                match source.pump(&mut self.scratch, output) {
                    Pump::More => *reads -= 1,
                    Pump::Drained => break,
                    Pump::Closed => {
                        source.close(registry, output);
                        break;
                    }
                }
            }
        }
        for &index in &self.of_instance[instance] {
            let source = &mut self.sources[index];
            source.flush_partial(output);
            source.unwatch();
        }
        true
    }

    /// Prints partial lines that stayed idle until their flush time.
    /// Returns the instances whose partial line was printed as an idle prompt.
    /// `busy(instance)`: one of its processes is running or waiting for a CPU right now, so a
    /// partial line, short or long, is a line still being written (a loaded machine can
    /// deschedule a writer between two writes of one line for longer than PARTIAL_IDLE), not
    /// a prompt: a prompt's writer sleeps, waiting for input. Asked only when a partial line
    /// is due and nothing more came.
    pub fn flush_idle(
        &mut self,
        now: Instant,
        output: &mut Output<Stdout>,
        registry: &Registry,
        busy: &mut dyn FnMut(usize) -> bool,
    ) -> Vec<usize> {
        let mut prompts = Vec::new();
        for index in 0..self.sources.len() {
            let source = &mut self.sources[index];
            if source.flush_at.is_none_or(|due| due > now) {
                continue;
            }
            // Those left stay due: the writer wakes the loop when it has room.
            if output.backlogged() {
                break;
            }
            // The deadline may have passed while procmux was busy (a slow stdout reader), not
            // while the child was idle: read first, and print the partial line only if the
            // child really wrote nothing more. A progress line is shown as it is now, at most
            // every PARTIAL_IDLE on a terminal and every PIPE_PROGRESS_EVERY in a pipe, however
            // often it is redrawn.
            let before = source.bytes_read();
            let progress = output.shows_progress();
            match source.pump(&mut self.scratch, output) {
                Pump::Closed => source.close(registry, output),
                Pump::Drained if source.is_overwritten() => source.show_progress(output),
                Pump::More if source.is_overwritten() => {
                    source.show_progress(output);
                    self.queue(index);
                }
                Pump::Drained if source.bytes_read() == before && busy(source.instance) => {
                    schedule_flush(source, now, progress);
                }
                Pump::Drained if source.bytes_read() == before => {
                    source.flush_partial(output);
                    prompts.push(source.instance);
                }
                Pump::Drained => schedule_flush(source, now, progress),
                Pump::More => {
                    schedule_flush(source, now, progress);
                    self.queue(index);
                }
            }
        }
        prompts
    }

    /// Looks for `pattern` in `instance`'s lines from now on (`ready = "log:…"`).
    pub fn watch(&mut self, instance: usize, pattern: &LinePattern) {
        for &index in &self.of_instance[instance] {
            self.sources[index].watch(pattern.clone());
        }
    }

    /// An instance one of whose lines matched its readiness pattern, once per match.
    pub fn take_match(&mut self) -> Option<usize> {
        self.sources.iter_mut().find(|s| s.matched).map(|source| {
            source.matched = false;
            source.instance
        })
    }

    /// True while `instance`'s raw output is kept for an attached client.
    pub fn is_mirrored(&self, instance: usize) -> bool {
        self.mirrored[instance]
    }

    /// The instances whose raw output is kept.
    pub fn mirrored(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.mirrored.len()).filter(|&i| self.mirrored[i])
    }

    /// Keeps (or stops keeping) `instance`'s raw output for an attached client.
    pub fn set_mirror(&mut self, instance: usize, on: bool) {
        self.mirrored[instance] = on;
        for &index in &self.of_instance[instance] {
            self.sources[index].mirror = on.then(Vec::new);
        }
    }

    /// Hands out the raw output kept for attached clients since the last call.
    pub fn take_mirrored(&mut self, mut deliver: impl FnMut(usize, &[u8])) {
        for source in &mut self.sources {
            if let Some(mirror) = &mut source.mirror
                && !mirror.is_empty()
            {
                deliver(source.instance, mirror);
                mirror.clear();
            }
        }
    }

    /// Where input for `instance` goes when it has a pty: its master.
    pub fn pty_of(&self, instance: usize) -> Option<&Receiver> {
        self.pty_of[instance].and_then(|index| self.sources[index].pipe())
    }

    /// The pty masters of running instances.
    pub fn ptys(&self) -> impl Iterator<Item = &Receiver> {
        self.pty_of
            .iter()
            .flatten()
            .filter_map(|&index| self.sources[index].pipe())
    }

    /// After the last descendant is gone: write what the streams still hold.
    /// Never past the queue's budget: it waits for room, until `deadline`; what the pipes
    /// still hold then is not read.
    pub fn drain_all(
        &mut self,
        output: &mut Output<Stdout>,
        registry: &Registry,
        deadline: Instant,
    ) {
        for source in &mut self.sources {
            let mut reads = READS_AT_END;
            while source.is_open() && reads > 0 {
                if output.backlogged() && !output.wait_for_room(deadline) {
                    break;
                }
                match source.pump(&mut self.scratch, output) {
                    Pump::More => reads -= 1,
                    Pump::Drained | Pump::Closed => break,
                }
            }
            if source.is_open() {
                source.close(registry, output);
            }
        }
    }
}

/// Sets when `source`'s partial line is printed if nothing more arrives: soon for a short
/// one (a prompt), later for a longer one, whose writer is most likely still writing. With no
/// partial line there is nothing to schedule. A line being redrawn is not a prompt: it is
/// shown, settled, PARTIAL_IDLE after its first redraw on a terminal (`progress`), and
/// PIPE_PROGRESS_EVERY after it in a pipe; a deadline later redraws do not push back.
fn schedule_flush(source: &mut Source, now: Instant, progress: bool) {
    source.flush_at = match source.partial_len() {
        0 => None,
        _ if source.is_overwritten() && !progress => {
            source.flush_at.or(Some(now + PIPE_PROGRESS_EVERY))
        }
        _ if source.is_overwritten() => source.flush_at.or(Some(now + PARTIAL_IDLE)),
        1..=PROMPT_MAX if source.last_read() <= PROMPT_WRITE_MAX => Some(now + PARTIAL_IDLE),
        _ => Some(now + LONG_PARTIAL_IDLE),
    };
}
