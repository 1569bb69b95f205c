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

use std::collections::VecDeque;
use std::io::IoSlice;

/// The most bytes a tail may keep.
const MAX_TAIL_BYTES: usize = crate::config::MAX_TAIL_KIB * 1024;

pub struct Tail {
    /// Bytes kept at most (0: none).
    budget: usize,
    /// The ring, one byte longer than the budget (so the byte before the oldest kept one
    /// tells whether a line starts there), allocated at the first write (zeroed pages cost no
    /// memory until written).
    ring: Vec<u8>,
    /// Offsets of the oldest byte kept and of the next byte to be written.
    start: u64,
    end: u64,
    /// Where each run about one owner begins (`None`: the whole stack), oldest first; a run
    /// lasts until the next one begins. The first may begin before `start`.
    runs: VecDeque<(u64, Option<usize>)>,
}

impl Tail {
    pub fn new(budget: usize) -> Tail {
        Tail {
            budget: budget.min(MAX_TAIL_BYTES),
            ring: Vec::new(),
            start: 0,
            end: 0,
            runs: VecDeque::new(),
        }
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
        if self.ring.is_empty() {
            self.ring = vec![0; self.budget + 1];
        }
        if self.runs.back().is_none_or(|&(_, o)| o != owner) {
            self.runs.push_back((self.end, owner));
        }
        for slice in iov {
            self.append(slice);
        }
        let size = self.budget as u64;
        if self.end - self.start > size {
            self.start = self.end - size;
            self.start = self.next_line_start(self.start);
            while self.runs.len() > 1 && self.runs[1].0 <= self.start {
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
        let until = until.min(self.end);
        let from = from.max(self.start);
        // First where to stop: after the last whole line when `max` cuts one.
        let mut line_end = None;
        let reached = self.walk(from, until, max, &wants, &mut |at, bytes| {
            if let Some(newline) = memchr::memrchr(b'\n', bytes) {
                line_end = Some(at + newline as u64 + 1);
            }
        });
        let stop = match line_end {
            Some(end) if reached < until => end,
            _ => reached,
        };
        self.walk(from, stop, usize::MAX, &wants, &mut |_, bytes| out(bytes))
    }

    /// Hands `visit` (offset, bytes) the kept bytes from `from` up to `until` of the runs
    /// `wants` accepts, at most `max` of them; returns the offset reached.
    fn walk(
        &self,
        from: u64,
        until: u64,
        max: usize,
        wants: &dyn Fn(Option<usize>) -> bool,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> u64 {
        let mut at = from;
        let mut room = max;
        // The run holding `at`: the last one beginning at or before it.
        let mut run = self
            .runs
            .partition_point(|&(o, _)| o <= at)
            .saturating_sub(1);
        while at < until && room > 0 {
            let Some(&(_, owner)) = self.runs.get(run) else {
                break;
            };
            let run_end = self.runs.get(run + 1).map_or(until, |&(o, _)| o.min(until));
            if !wants(owner) {
                at = run_end;
                run += 1;
                continue;
            }
            let chunk = self.chunk(at, run_end);
            let n = chunk.len().min(room);
            visit(at, &chunk[..n]);
            room -= n;
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
