//! Recent output kept in memory for `procmux logs`: the newest bytes written to stdout, as
//! written, within a byte budget (memory, never disk), each run of bytes tagged with the
//! instance it is about.
//!
//! A ring addressed by stream offset: the byte at offset `o` (counted from the first byte
//! procmux ever wrote) lives at `o % ring.len()` while `start <= o < end`. A write
//! is one copy into the ring, never a copy per line, and a write larger than the ring keeps
//! its newest bytes. What is forgotten goes by whole lines where a newline allows, so `logs`
//! starts at the beginning of a line. Readers (`logs`, `logs -f`) hold an offset: a slow one
//! never slows the main stream, it only finds its offset forgotten, and is told so.
//!
//! The output builds its batches in the ring itself, where the next bytes go
//! ([`Tail::space`]), so recording a batch costs no copy ([`Tail::commit`]); near the ring's
//! end batches are shorter, so as never to cross it. Only a batch begun in the ring's last
//! [`MIN_CAPACITY`] bytes, every batch once a write to stdout failed (one may then be left
//! open, never written), and writes made of other slices (a long line, a notice), are copied
//! in. A batch built there overwrites, as it grows, the oldest bytes kept: those
//! its commit forgets (the ring forgets a byte for each new one). Its block copies also write
//! up to [`OVERSHOOT`] bytes past its length, which the ring's [`OVERSHOOT`] spare bytes past
//! the budget take, so they never reach a byte still kept. Nothing reads the tail while a batch
//! is built: both happen on the loop's thread, and a batch is written out within the call that
//! began it.
//!
//! Each run also carries the time of the write that began it (`procmux logs --since`): a new
//! run begins when the owner changes or the clock (read once per batch by the writer, see
//! [`Tail::stamp`]) moved on. Runs that only mark a new time are capped at one per
//! [`BYTES_PER_TIME`] bytes of budget, so their memory stays below the ring's; past the cap a
//! write keeps the time of the run before it until older runs are forgotten.

use std::collections::VecDeque;
use std::io::IoSlice;

use super::batch::{CAPACITY, MIN_CAPACITY, OVERSHOOT};

/// The most bytes a tail may keep.
const MAX_TAIL_BYTES: usize = crate::config::MAX_TAIL_KIB * 1024;
/// Budget bytes per run that only marks a new time (a run takes 40 bytes).
const BYTES_PER_TIME: usize = 40;

/// Where a run begins, what it is about, and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    at: u64,
    /// `None`: the whole stack.
    owner: Option<usize>,
    /// Milliseconds since the Unix epoch.
    millis: i64,
    /// procmux's own lines (notices), not a process's output.
    own: bool,
}

/// A piece of the tail as a reader gets it: whose, written when, and whether procmux wrote
/// it (a notice) rather than the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub owner: Option<usize>,
    pub millis: i64,
    pub own: bool,
}

pub struct Tail {
    /// Bytes kept at most (0: none).
    budget: usize,
    /// The ring, one byte longer than the budget (so the byte before the oldest kept one
    /// tells whether a line starts there) and [`OVERSHOOT`] more, allocated at the first
    /// write (zeroed pages cost no memory until written).
    ring: Vec<u8>,
    /// Offsets of the oldest byte kept and of the next byte to be written.
    start: u64,
    end: u64,
    /// Where each run about one owner, written at one time, begins, oldest first; a run
    /// lasts until the next one begins. The first may begin before `start`.
    runs: VecDeque<Run>,
    /// The time of the writes being recorded, and whether they are procmux's own (see
    /// [`Tail::stamp`]).
    now: i64,
    own: bool,
}

impl Tail {
    pub fn new(budget: usize) -> Tail {
        Tail {
            budget: budget.min(MAX_TAIL_BYTES),
            ring: Vec::new(),
            start: 0,
            end: 0,
            runs: VecDeque::new(),
            now: 0,
            own: false,
        }
    }

    /// The time of the next writes, in milliseconds since the Unix epoch, and whether they
    /// are procmux's own lines: set by the writer once per batch, when it reads the clock.
    pub fn stamp(&mut self, millis: i64, own: bool) {
        self.now = millis;
        self.own = own;
    }

    /// True when nothing is kept (`tail_kib = 0`).
    pub fn is_off(&self) -> bool {
        self.budget == 0
    }

    /// The offset of the oldest byte still kept.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The offset the next write will start at: every byte ever recorded.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Keeps a write of `iov` about `owner` (`None`: the whole stack).
    pub fn record(&mut self, owner: Option<usize>, iov: &[IoSlice<'_>]) {
        let len: u64 = iov.iter().map(|s| s.len() as u64).sum();
        if self.budget == 0 {
            self.end += len;
            self.start = self.end;
            return;
        }
        if len == 0 {
            return;
        }
        self.allocate();
        self.begin_run(owner);
        for slice in iov {
            self.append(slice);
        }
        self.forget_old();
    }

    /// Where in the ring the next write goes, when a batch can be built there: the start
    /// of [`CAPACITY`] bytes, or of those left up to the ring's end when fewer but at least
    /// [`MIN_CAPACITY`] ([`Tail::space_at`]), to build it in and then [`Tail::commit`] it;
    /// `None` when nothing is kept or fewer are left. A batch never crosses the ring's end,
    /// so near it batches are shorter: a batch of [`CAPACITY`] only where the whole of it
    /// fits left every batch that began in the ring's last [`CAPACITY`] bytes to be copied
    /// in, a quarter of the default ring's (callgrind, 1 KiB lines: a third more
    /// instructions with the tail than without).
    pub fn space(&mut self) -> Option<usize> {
        if self.budget == 0 {
            return None;
        }
        self.allocate();
        let at = self.next_at();
        (at + MIN_CAPACITY <= self.ring.len()).then_some(at)
    }

    /// The bytes at `at` a batch is built in: [`CAPACITY`], or fewer up to the ring's end,
    /// from [`Tail::space`] with nothing recorded since but the batch's own parts
    /// ([`Tail::commit`]). Every byte of them may be overwritten, but only the batch's
    /// length and [`OVERSHOOT`] more may be before the commit (see the module's doc).
    pub fn space_at(&mut self, at: usize) -> &mut [u8] {
        // How far the batch's committed parts moved the next byte's place: to the ring's
        // end, and so to its start, when a part ended there. Inside the assertion: release
        // builds, which call this once per line on the slow paths, pay no division.
        debug_assert!(
            (self.next_at() + self.ring.len() - at) % self.ring.len() <= CAPACITY,
            "the tail's space moved under a batch"
        );
        let end = (at + CAPACITY).min(self.ring.len());
        &mut self.ring[at..end]
    }

    /// The `len` bytes at `at`: a batch built from [`Tail::space`] and committed.
    pub fn kept_at(&self, at: usize, len: usize) -> &[u8] {
        &self.ring[at..at + len]
    }

    /// Where the byte at offset `end` goes in the ring.
    fn next_at(&self) -> usize {
        (self.end % self.ring.len() as u64) as usize
    }

    /// Keeps the next `len` bytes of a batch built from [`Tail::space`] (the first, or
    /// those after its parts already committed) as a write about `owner` (`None`: the
    /// whole stack), as [`Tail::record`] would.
    pub fn commit(&mut self, owner: Option<usize>, len: usize) {
        assert!(
            len <= CAPACITY && self.budget > 0,
            "a batch is built in the space"
        );
        if len > 0 {
            self.begin_run(owner);
            self.end += len as u64;
            self.forget_old();
        }
    }

    fn allocate(&mut self) {
        if self.ring.is_empty() {
            self.ring = vec![0; self.budget + 1 + OVERSHOOT];
        }
    }

    /// Begins a run for a write about `owner` at the current time, unless the last run
    /// is already it.
    fn begin_run(&mut self, owner: Option<usize>) {
        let (now, own) = (self.now, self.own);
        let new_run = match self.runs.back() {
            None => true,
            Some(run) if run.owner != owner || run.own != own => true,
            Some(run) => run.millis != now && self.runs.len() < self.budget / BYTES_PER_TIME,
        };
        if new_run {
            self.runs.push_back(Run {
                at: self.end,
                owner,
                millis: now,
                own,
            });
        }
    }

    /// Forgets the oldest bytes past the budget, by whole lines where a newline allows.
    fn forget_old(&mut self) {
        let size = self.budget as u64;
        if self.end - self.start > size {
            self.start = self.end - size;
            self.start = self.next_line_start(self.start);
            while self.runs.len() > 1 && self.runs[1].at <= self.start {
                self.runs.pop_front();
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        let size = self.ring.len();
        // Only the newest `size` bytes can be kept.
        let skip = bytes.len().saturating_sub(size);
        self.end += skip as u64;
        let mut bytes = &bytes[skip..];
        while !bytes.is_empty() {
            let at = (self.end % size as u64) as usize;
            let n = bytes.len().min(size - at);
            self.ring[at..at + n].copy_from_slice(&bytes[..n]);
            self.end += n as u64;
            bytes = &bytes[n..];
        }
    }

    /// The first offset at or after `from` that begins a line (follows a newline), or `from`
    /// itself when no newline is kept after it (one line longer than the whole tail).
    fn next_line_start(&self, from: u64) -> u64 {
        if from == 0 || self.chunk(from - 1, from) == b"\n" {
            return from;
        }
        let mut at = from;
        while at < self.end {
            let chunk = self.chunk(at, self.end);
            if let Some(i) = memchr::memchr(b'\n', chunk) {
                return at + i as u64 + 1;
            }
            at += chunk.len() as u64;
        }
        from
    }

    /// The kept bytes from `from` on, up to `until` and the ring's wrap: one contiguous slice.
    fn chunk(&self, from: u64, until: u64) -> &[u8] {
        let size = self.ring.len() as u64;
        let at = (from % size) as usize;
        let n = (until - from).min(size - at as u64) as usize;
        &self.ring[at..at + n]
    }

    /// Hands `out` the kept bytes from offset `from` (at least [`Tail::start`]) up to
    /// `until`, of the runs whose owner `wants` accepts, at most `max` bytes of them, in
    /// slices; returns the offset reached (runs not wanted are passed over without counting).
    /// When `max` cuts a line, it stops after the last whole line instead, so a reader that
    /// is later skipped forward never shows a cut line as a whole one; only a line longer
    /// than `max` goes in pieces.
    pub fn copy(
        &self,
        from: u64,
        until: u64,
        max: usize,
        wants: impl Fn(Option<usize>) -> bool,
        out: &mut dyn FnMut(&[u8]),
    ) -> u64 {
        self.copy_pieces(from, until, max, 0, wants, &mut |_, bytes| out(bytes))
    }

    /// As [`Tail::copy`], each slice with its [`Piece`] (a slice never spans two runs), and
    /// `overhead` counted against `max` for each slice (what a reader adds to frame it).
    pub fn copy_pieces(
        &self,
        from: u64,
        until: u64,
        max: usize,
        overhead: usize,
        wants: impl Fn(Option<usize>) -> bool,
        out: &mut dyn FnMut(Piece, &[u8]),
    ) -> u64 {
        let until = until.min(self.end);
        let from = from.max(self.start);
        // First where to stop: after the last whole line when `max` cuts one.
        let mut line_end = None;
        let limit = (max, overhead);
        let reached = self.walk(from, until, limit, &wants, &mut |at, _, bytes| {
            if let Some(newline) = memchr::memrchr(b'\n', bytes) {
                line_end = Some(at + newline as u64 + 1);
            }
        });
        let stop = match line_end {
            Some(end) if reached < until => end,
            _ => reached,
        };
        let no_limit = (usize::MAX, 0);
        self.walk(from, stop, no_limit, &wants, &mut |_, piece, bytes| {
            out(piece, bytes)
        })
    }

    /// Hands `visit` (offset, piece, bytes) the kept bytes from `from` up to `until` of the
    /// runs `wants` accepts, at most `max` of them, each slice costing `overhead` more
    /// (`limit` is both); returns the offset reached.
    fn walk(
        &self,
        from: u64,
        until: u64,
        (max, overhead): (usize, usize),
        wants: &dyn Fn(Option<usize>) -> bool,
        visit: &mut dyn FnMut(u64, Piece, &[u8]),
    ) -> u64 {
        let mut at = from;
        let mut room = max;
        // The run holding `at`: the last one beginning at or before it.
        let mut run = self.runs.partition_point(|r| r.at <= at).saturating_sub(1);
        while at < until && room > overhead {
            let Some(&Run {
                owner, millis, own, ..
            }) = self.runs.get(run)
            else {
                break;
            };
            let run_end = self.runs.get(run + 1).map_or(until, |r| r.at.min(until));
            if !wants(owner) {
                at = run_end;
                run += 1;
                continue;
            }
            let chunk = self.chunk(at, run_end);
            let n = chunk.len().min(room - overhead);
            visit(at, Piece { owner, millis, own }, &chunk[..n]);
            room -= n + overhead;
            at += n as u64;
            if at == run_end {
                run += 1;
            }
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tail: &mut Tail, owner: usize, text: &str) {
        tail.record(Some(owner), &[IoSlice::new(text.as_bytes())]);
    }

    fn all(tail: &Tail) -> String {
        let mut out = Vec::new();
        tail.copy(0, u64::MAX, usize::MAX, |_| true, &mut |b| {
            out.extend_from_slice(b)
        });
        String::from_utf8(out).unwrap()
    }

    fn of(tail: &Tail, owner: usize) -> String {
        let mut out = Vec::new();
        let wants = |o| o == Some(owner);
        tail.copy(0, u64::MAX, usize::MAX, wants, &mut |b| {
            out.extend_from_slice(b)
        });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_the_newest_whole_lines_within_its_budget() {
        let mut tail = Tail::new(12);
        record(&mut tail, 0, "aaaa\n");
        record(&mut tail, 1, "bbbb\n");
        assert_eq!(all(&tail), "aaaa\nbbbb\n");
        record(&mut tail, 0, "cccc\n");
        // 15 bytes written, 12 kept at most, cut at a line start.
        assert_eq!(all(&tail), "bbbb\ncccc\n");
        assert_eq!((tail.start(), tail.end()), (5, 15));
        assert_eq!(of(&tail, 0), "cccc\n");
        assert_eq!(of(&tail, 1), "bbbb\n");
    }

    #[test]
    fn a_write_larger_than_the_tail_keeps_its_newest_lines() {
        let mut tail = Tail::new(16);
        record(&mut tail, 0, "old\n");
        let burst: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
        record(&mut tail, 1, &burst);
        assert_eq!(all(&tail), "line 099\n");
        assert_eq!(tail.end(), 4 + burst.len() as u64);
        // One line longer than the tail: its newest bytes, mid-line.
        let mut tail = Tail::new(4);
        record(&mut tail, 0, "abcdefgh");
        assert_eq!(all(&tail), "efgh");
    }

    #[test]
    fn copies_in_bounded_pieces_from_any_offset_across_the_wrap() {
        let mut tail = Tail::new(10);
        for text in ["ab\n", "cd\n", "ef\n", "gh\n", "ij\n"] {
            record(&mut tail, 0, text);
        }
        assert_eq!(all(&tail), "ef\ngh\nij\n");
        let mut out = Vec::new();
        let mut at = tail.start();
        while at < tail.end() {
            at = tail.copy(at, u64::MAX, 2, |_| true, &mut |b| out.extend_from_slice(b));
        }
        assert_eq!(out, b"ef\ngh\nij\n");
        let mut out = Vec::new();
        let reached = tail.copy(0, 11, 100, |_| true, &mut |b| out.extend_from_slice(b));
        assert_eq!(reached, 11);
        assert_eq!(out, b"ef\ngh");
        // A limit that cuts a line stops after the last whole one, across the wrap too.
        for max in [4, 5, 7] {
            let mut out = Vec::new();
            let reached = tail.copy(tail.start(), u64::MAX, max, |_| true, &mut |b| {
                out.extend_from_slice(b)
            });
            let whole = if max == 7 { &b"ef\ngh\n"[..] } else { b"ef\n" };
            assert_eq!(out.as_slice(), whole, "{max}");
            assert_eq!(reached, tail.start() + whole.len() as u64);
        }
        // A line longer than the limit goes in pieces.
        let mut out = Vec::new();
        let reached = tail.copy(tail.start(), u64::MAX, 2, |_| true, &mut |b| {
            out.extend_from_slice(b)
        });
        assert_eq!((out.as_slice(), reached), (&b"ef"[..], tail.start() + 2));
    }

    #[test]
    fn off_keeps_nothing_but_counts() {
        let mut tail = Tail::new(0);
        record(&mut tail, 0, "x\n");
        assert_eq!((tail.start(), tail.end()), (2, 2));
        assert_eq!(all(&tail), "");
    }

    fn pieces(tail: &Tail, max: usize, overhead: usize) -> Vec<(Option<usize>, i64, String)> {
        let mut out = Vec::new();
        let mut at = tail.start();
        while at < tail.end() {
            let before = at;
            at = tail.copy_pieces(at, u64::MAX, max, overhead, |_| true, &mut |p, b| {
                let text = String::from_utf8(b.to_vec()).unwrap();
                out.push((p.owner, p.millis, text));
            });
            assert!(at > before);
        }
        out
    }

    #[test]
    fn runs_carry_the_time_of_their_writes() {
        let mut tail = Tail::new(1024);
        tail.stamp(1000, false);
        record(&mut tail, 0, "a\n");
        record(&mut tail, 0, "b\n");
        record(&mut tail, 1, "x\n");
        tail.stamp(2500, false);
        record(&mut tail, 1, "y\n");
        tail.record(None, &[IoSlice::new(b"sys\n")]);
        assert_eq!(
            pieces(&tail, usize::MAX, 0),
            [
                (Some(0), 1000, "a\nb\n".to_owned()),
                (Some(1), 1000, "x\n".to_owned()),
                (Some(1), 2500, "y\n".to_owned()),
                (None, 2500, "sys\n".to_owned()),
            ]
        );
        // Framing overhead counts against the limit: one piece per call here.
        let one_each = pieces(&tail, 4 + 10, 10);
        assert_eq!(one_each.len(), 4, "{one_each:?}");
    }

    #[test]
    fn runs_that_only_mark_a_time_are_capped_by_the_budget() {
        assert!(std::mem::size_of::<Run>() <= BYTES_PER_TIME);
        let budget = 4 * BYTES_PER_TIME;
        let mut tail = Tail::new(budget);
        for t in 0..100 {
            tail.stamp(t, false);
            record(&mut tail, 0, "l\n");
            assert!(
                tail.runs.len() <= budget / BYTES_PER_TIME,
                "{}",
                tail.runs.len()
            );
        }
        // The cap holds only while old runs are kept: the newest writes still get times
        // close to theirs, never one older than the oldest kept line.
        let kept = pieces(&tail, usize::MAX, 0);
        assert_eq!(kept.iter().map(|p| p.2.len()).sum::<usize>(), budget);
        assert!(
            kept.last().unwrap().1 >= 100 - (budget as i64 / 2),
            "{kept:?}"
        );
        // An owner change always begins a run.
        tail.stamp(500, false);
        record(&mut tail, 1, "o\n");
        assert_eq!(pieces(&tail, usize::MAX, 0).last().unwrap().0, Some(1));
    }

    /// A batch built in the space overwrites no byte still kept after its commit, even with
    /// the most its block copies may write past its length; batches and copied writes mix.
    #[test]
    fn batches_built_in_the_ring_leave_the_kept_bytes_whole() {
        // Lines of 10 bytes and a budget of whole lines: the oldest kept byte always begins
        // a line, so a stray write over it would be kept, not cut away.
        let budget = 200_000;
        let mut tail = Tail::new(budget);
        let mut everything: Vec<u8> = Vec::new();
        let (mut in_space, mut short) = (0, 0);
        for round in 0..200 {
            // Each round's lines its own, so a byte kept in the wrong place shows.
            let mut line = [b'a' + (round % 26) as u8; 10];
            line[9] = b'\n';
            let lines = [7, 6_300, 6_553, 50, 1][round % 5];
            let bytes = line.repeat(lines);
            let at = tail.space().filter(|_| round % 3 != 0);
            let room = at.map_or(0, |at| tail.space_at(at).len());
            match at {
                // Near the ring's end the space is shorter: what does not fit is copied in,
                // as the sink does with a batch too long for it.
                Some(at) if bytes.len() <= room => {
                    short += usize::from(room < CAPACITY);
                    let space = tail.space_at(at);
                    space[..bytes.len()].copy_from_slice(&bytes);
                    let junk = (bytes.len() + OVERSHOOT).min(space.len());
                    space[bytes.len()..junk].fill(b'#');
                    // Now and then in two parts, as a batch about two instances is kept.
                    let part = if round % 2 == 0 { bytes.len() / 3 } else { 0 };
                    tail.commit(Some(0), part);
                    if round % 4 == 0 {
                        // A part's bytes may be read only once the batch is out, but they are
                        // kept from the commit on: the batch's rest is built past them.
                        assert_eq!(tail.kept_at(at, part), &bytes[..part]);
                    }
                    tail.commit(Some(0), bytes.len() - part);
                    assert_eq!(tail.kept_at(at, bytes.len()), bytes.as_slice());
                    in_space += 1;
                }
                _ => tail.record(Some(0), &[IoSlice::new(&bytes)]),
            }
            everything.extend_from_slice(&bytes);
            let kept = &everything[everything.len() - budget.min(everything.len())..];
            assert!(all(&tail).as_bytes() == kept, "round {round}");
        }
        assert!(in_space > 50, "{in_space} batches built in the ring");
        assert!(
            short > 5,
            "{short} batches built in less than a whole batch's space"
        );
    }

    /// A batch that fills the space up to the ring's very end, kept in parts: the next
    /// byte's place wraps to the ring's start, and the batch is still where it was.
    #[test]
    fn a_batch_kept_in_parts_up_to_the_rings_end_stays_in_place() {
        let budget = 200_000;
        let mut tail = Tail::new(budget);
        let ring = budget + 1 + OVERSHOOT;
        let mut filler = b"0123456789".repeat((ring - CAPACITY) / 10 + 1);
        filler.truncate(ring - CAPACITY - 1);
        filler.push(b'\n');
        tail.record(Some(0), &[IoSlice::new(&filler)]);
        let at = tail.space().unwrap();
        assert_eq!(at + CAPACITY, ring);
        let bytes: Vec<u8> = (0..CAPACITY)
            .map(|i| if i % 64 == 63 { b'\n' } else { b'b' })
            .collect();
        tail.space_at(at).copy_from_slice(&bytes);
        tail.commit(Some(1), CAPACITY / 2);
        tail.commit(Some(2), CAPACITY / 2);
        // As the sink asks for the batch again before writing it out.
        assert_eq!(tail.space_at(at).len(), CAPACITY);
        assert_eq!(tail.kept_at(at, CAPACITY), bytes.as_slice());
        assert_eq!(of(&tail, 2).as_bytes(), &bytes[CAPACITY / 2..]);
    }

    /// Near the ring's end the space is what is left up to it, down to [`MIN_CAPACITY`];
    /// below that there is none, and the next write is copied in across the end.
    #[test]
    fn the_space_near_the_rings_end_is_what_is_left() {
        let budget = 200_000;
        let ring = budget + 1 + OVERSHOOT;
        for left in [
            CAPACITY + 1,
            CAPACITY,
            40_000,
            MIN_CAPACITY,
            MIN_CAPACITY - 1,
            10,
        ] {
            let mut tail = Tail::new(budget);
            let mut filler = b"0123456789".repeat((ring - left) / 10 + 1);
            filler.truncate(ring - left - 1);
            filler.push(b'\n');
            tail.record(Some(0), &[IoSlice::new(&filler)]);
            match tail.space() {
                Some(at) => {
                    assert!(left >= MIN_CAPACITY, "{left}");
                    assert_eq!(at, ring - left);
                    assert_eq!(tail.space_at(at).len(), left.min(CAPACITY));
                }
                None => assert!(left < MIN_CAPACITY, "{left}"),
            }
        }
    }

    /// Compared with a naive tail (every byte kept, then the last `budget` cut at a line).
    #[test]
    fn agrees_with_a_naive_tail() {
        let mut seed = 7u64;
        let mut random = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for budget in [1, 3, 16, 100] {
            let mut tail = Tail::new(budget);
            let mut everything: Vec<(usize, u8)> = Vec::new();
            let mut start = 0;
            for _ in 0..300 {
                let owner = random(3) as usize;
                let len = random(40) as usize;
                let mut text: Vec<u8> = (0..len).map(|_| b'a' + random(5) as u8).collect();
                text.push(b'\n');
                tail.record(Some(owner), &[IoSlice::new(&text)]);
                everything.extend(text.iter().map(|&b| (owner, b)));
                if everything.len() - start > budget {
                    let cut = everything.len() - budget;
                    let at_line = everything[cut - 1].1 == b'\n';
                    let newline = everything[cut..].iter().position(|&(_, b)| b == b'\n');
                    start = match newline {
                        Some(i) if !at_line => cut + i + 1,
                        _ => cut,
                    };
                }
                assert_eq!(tail.start() as usize, start);
                let kept = &everything[start..];
                assert!(kept.len() <= budget);
                for wanted in 0..3 {
                    let expected: Vec<u8> = kept
                        .iter()
                        .filter(|&&(o, _)| o == wanted)
                        .map(|&(_, b)| b)
                        .collect();
                    assert_eq!(of(&tail, wanted).into_bytes(), expected);
                }
            }
        }
    }
}
