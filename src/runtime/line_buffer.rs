//! The zero-copy line splitter: one read buffer shared by every process, and the partial
//! line each process has written so far.
//!
//! A read lands in the shared [`ReadBuffer`], right behind a copy of the reading process's
//! partial line, and every complete line is written out straight from there (the writer
//! borrows them as one slice). Only what follows the last newline is copied out again and
//! kept per process. So bytes are read once, lines are never copied, and memory is one read
//! buffer plus one partial line per process — usually a few bytes — instead of a buffer per
//! process.
//!
//! A line longer than `max` is cut: once the partial line holds `max` bytes the caller writes
//! it as a piece of its own (`consume_cut`). If the byte right after such a cut is the newline
//! that ends the line, it is dropped, so a line of exactly `max` bytes comes out as one piece
//! and no empty line is invented.

use std::ops::Range;

use memchr::memrchr;

use crate::output::redraw;

/// Partial lines above this capacity are given back once they are written.
const SHRINK_ABOVE: usize = 64 * 1024;

/// The read buffer every process's reads land in.
pub struct ReadBuffer {
    buf: Vec<u8>,
}

impl ReadBuffer {
    /// Room for a partial line of up to `max_line` bytes plus a read of `read_size` bytes.
    /// Pages that are never touched cost no memory.
    pub fn new(read_size: usize, max_line: usize) -> ReadBuffer {
        ReadBuffer {
            buf: vec![0; read_size + max_line],
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

/// One process's partial line, between reads.
#[derive(Debug)]
pub struct LineBuffer {
    /// Bytes after the last newline seen; never more than `max`.
    tail: Vec<u8>,
    /// The last piece was cut because it reached `max`; a newline arriving next ends it.
    after_cut: bool,
    /// The partial line has been redrawn since it began (see `compact_overwritten`).
    redrawn: bool,
    max: usize,
}

impl LineBuffer {
    pub fn new(max: usize) -> LineBuffer {
        assert!(max >= 1, "LineBuffer max must be at least 1");
        LineBuffer {
            tail: Vec::new(),
            after_cut: false,
            redrawn: false,
            max,
        }
    }

    /// Copies the partial line to the front of `scratch` and returns `(held, room)`: the
    /// caller reads at most `room` bytes into `scratch[held..]`. `room` is at least
    /// `read_size` (more behind a long partial line, so its copies stay linear), never takes
    /// the line past `max`, and is 0 only when the line is full: cut it first.
    pub fn load(&self, scratch: &mut [u8], read_size: usize) -> (usize, usize) {
        let held = self.tail.len();
        scratch[..held].copy_from_slice(&self.tail);
        let room = read_size
            .max(held)
            .min(self.max - held)
            .min(scratch.len() - held);
        (held, room)
    }

    /// Takes the `n` bytes read into `scratch` behind the `held` bytes `load` put there.
    /// Returns the range of `scratch` holding complete lines (each ending in `\n`, possibly
    /// none) and keeps what follows the last newline as the partial line.
    pub fn split(&mut self, scratch: &[u8], held: usize, n: usize) -> Range<usize> {
        let end = held + n;
        let mut start = 0;
        if n > 0 && std::mem::take(&mut self.after_cut) && held == 0 && scratch[0] == b'\n' {
            start = 1;
        }
        let new_from = held.max(start);
        match memrchr(b'\n', &scratch[new_from..end]) {
            Some(i) => {
                let lines_end = new_from + i + 1;
                self.replace_tail(&scratch[lines_end..end]);
                start..lines_end
            }
            None => {
                // No newline: the partial line only grows, by the bytes just read.
                self.tail.extend_from_slice(&scratch[new_from..end]);
                start..start
            }
        }
    }

    /// The line still being written.
    pub fn partial(&self) -> &[u8] {
        &self.tail
    }

    /// Notes whether the `fresh` bytes just read brought a redraw into the partial line (a
    /// progress bar's `10%\r20%\r`, a spinner's `ESC[1G ESC[0K`: see [`redraw`]), and returns
    /// true while it holds one: it is being redrawn in place, not waiting for input. Until
    /// then only the fresh bytes, and an escape they may end, are looked at, so a long line
    /// without a redraw costs one look at each byte, however many reads it comes in.
    ///
    /// When `settles` (the line will be written settled: with a prefix, as JSON), it also
    /// drops what a redraw already overwrote, keeping the last update and a redraw that ends
    /// it, so a bar that redraws for an hour holds a few bytes. Written as it is
    /// (`--no-prefix`), every state is kept, as when the line comes in one read.
    pub fn compact_overwritten(&mut self, fresh: usize, settles: bool) -> bool {
        if !self.redrawn {
            let from = self.tail.len().saturating_sub(fresh + redraw::LONGEST - 1);
            self.redrawn = redraw::last(&self.tail[from..]).is_some();
        }
        if !self.redrawn || !settles {
            return self.redrawn;
        }
        let Some(last) = redraw::last(&self.tail) else {
            return true;
        };
        // A redraw at the very end starts an update still to come: keep the one before it.
        let body = if last.end == self.tail.len() {
            &self.tail[..last.start]
        } else {
            &self.tail[..]
        };
        if let Some(cut) = redraw::last(body) {
            self.tail.drain(..cut.end);
        }
        true
    }

    /// True when the partial line has been redrawn since it began (as last noted by
    /// [`LineBuffer::compact_overwritten`]).
    pub fn is_redrawn(&self) -> bool {
        self.redrawn
    }

    /// True when the partial line reached `max`: the caller must write it as a piece.
    pub fn is_full(&self) -> bool {
        self.tail.len() >= self.max
    }

    /// Marks the partial line as written in full (the child closed its pipe or went idle).
    pub fn consume_partial(&mut self) {
        self.replace_tail(&[]);
    }

    /// Marks the partial line as written because it reached `max`.
    pub fn consume_cut(&mut self) {
        self.consume_partial();
        self.after_cut = true;
    }

    fn replace_tail(&mut self, bytes: &[u8]) {
        if self.tail.capacity() > SHRINK_ABOVE && bytes.len() <= SHRINK_ABOVE / 2 {
            self.tail = Vec::new();
        }
        self.tail.clear();
        self.tail.extend_from_slice(bytes);
        self.redrawn = false;
    }

    /// Bytes held for the partial line, for memory accounting in tests.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.tail.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::XorShift;

    /// Reads `bytes` into `buffer` as the source does, and notes their redraws: whether the
    /// partial line is being redrawn.
    fn feed(buffer: &mut LineBuffer, bytes: &[u8], settles: bool) -> bool {
        let mut scratch = vec![0u8; 256];
        let (held, _) = buffer.load(&mut scratch, 64);
        scratch[held..held + bytes.len()].copy_from_slice(bytes);
        buffer.split(&scratch, held, bytes.len());
        buffer.compact_overwritten(bytes.len(), settles)
    }

    #[test]
    fn overwritten_progress_is_compacted() {
        let mut buffer = LineBuffer::new(64);
        let feed = |buffer: &mut LineBuffer, bytes: &[u8]| feed(buffer, bytes, true);
        assert!(!feed(&mut buffer, b"Downloading"));
        assert!(feed(&mut buffer, b" 10%\r"));
        assert_eq!(buffer.partial(), b"Downloading 10%\r");
        assert!(feed(&mut buffer, b"Downloading 20%\rDownloading 3"));
        assert_eq!(buffer.partial(), b"Downloading 3");
        assert!(!feed(&mut buffer, b"0%\n"));
        assert_eq!(buffer.partial(), b"");
        // A spinner's redraws (esbuild): cursor to column 1, erase the line.
        assert!(feed(&mut buffer, b"\x1b[1G\x1b[0K| building"));
        assert!(feed(
            &mut buffer,
            b"\x1b[1G\x1b[0K/ building\x1b[1G\x1b[0K- build"
        ));
        assert_eq!(buffer.partial(), b"\x1b[0K- build");
        assert!(feed(&mut buffer, b"ing\x1b[1G"));
        assert_eq!(buffer.partial(), b"\x1b[0K- building\x1b[1G");
        // Split inside an escape: recognised once whole.
        assert!(feed(&mut buffer, b"\x1b[0Kdone\x1b["));
        assert!(feed(&mut buffer, b"2Kagain"));
        assert_eq!(buffer.partial(), b"again");
    }

    /// Written as they are (`--no-prefix`), redrawn lines keep every state, and a redraw is
    /// still seen when its escape comes in two reads, or far into a long line.
    #[test]
    fn redraws_are_noted_without_compacting_when_lines_do_not_settle() {
        let mut buffer = LineBuffer::new(64);
        let feed = |buffer: &mut LineBuffer, bytes: &[u8]| feed(buffer, bytes, false);
        assert!(!feed(&mut buffer, b"10%"));
        assert!(feed(&mut buffer, b"\r20%\r30"));
        assert!(feed(&mut buffer, b"%"));
        assert_eq!(buffer.partial(), b"10%\r20%\r30%");
        assert!(!feed(&mut buffer, b"\nplain "));
        assert!(!feed(&mut buffer, b"text \x1b["));
        assert!(feed(&mut buffer, b"1G"));
        assert_eq!(buffer.partial(), b"plain text \x1b[1G");
        buffer.consume_partial();
        assert!(!buffer.is_redrawn());
        for _ in 0..8 {
            assert!(!feed(&mut buffer, b"abcd"));
        }
        assert!(feed(&mut buffer, b"\x1b[2Kx"));
        assert_eq!(buffer.partial().len(), 37);
    }

    /// Feeds `input` in reads of the given sizes (cycled, each capped by the room offered) and
    /// returns the pieces emitted, in the order a writer would see them.
    fn split(input: &[u8], read_size: usize, max: usize, chunks: &[usize]) -> Vec<Vec<u8>> {
        let mut scratch = ReadBuffer::new(read_size, max);
        let scratch = scratch.as_mut_slice();
        let mut lb = LineBuffer::new(max);
        let mut out = Vec::new();
        let mut rest = input;
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            if lb.is_full() {
                out.push(lb.partial().to_vec());
                lb.consume_cut();
                continue;
            }
            let (held, room) = lb.load(scratch, read_size);
            assert!(room > 0);
            let n = (*sizes.next().unwrap()).min(room).min(rest.len());
            scratch[held..held + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            let lines = lb.split(scratch, held, n);
            let lines = &scratch[lines];
            out.extend(
                lines
                    .split_inclusive(|&b| b == b'\n')
                    .map(|l| l[..l.len() - 1].to_vec()),
            );
            assert!(lb.partial().len() <= max);
        }
        if !lb.partial().is_empty() {
            out.push(lb.partial().to_vec());
            lb.consume_partial();
        }
        out
    }

    /// The reference: split on newlines, cut each line into pieces of at most `max` bytes.
    fn naive(input: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        let unterminated = lines.pop().unwrap_or_default();
        for line in lines {
            if line.is_empty() {
                out.push(Vec::new());
            }
            out.extend(line.chunks(max).map(<[u8]>::to_vec));
        }
        out.extend(unterminated.chunks(max).map(<[u8]>::to_vec));
        out
    }

    #[test]
    fn splits_lines_and_keeps_the_partial_line() {
        let mut scratch = ReadBuffer::new(16, 64);
        let scratch = scratch.as_mut_slice();
        let mut lb = LineBuffer::new(64);
        let (held, room) = lb.load(scratch, 16);
        assert_eq!((held, room), (0, 16));
        scratch[..8].copy_from_slice(b"ab\ncd\nef");
        let lines = lb.split(scratch, 0, 8);
        assert_eq!(&scratch[lines], b"ab\ncd\n");
        assert_eq!(lb.partial(), b"ef");
        let (held, _) = lb.load(scratch, 16);
        assert_eq!(held, 2);
        scratch[2..4].copy_from_slice(b"g\n");
        let lines = lb.split(scratch, 2, 2);
        assert_eq!(&scratch[lines], b"efg\n");
        assert_eq!(lb.partial(), b"");
    }

    #[test]
    fn degenerate_sizes() {
        assert_eq!(split(b"ab\n\ncd", 1, 1, &[1]), naive(b"ab\n\ncd", 1));
        assert_eq!(split(b"abcd\n", 2, 4, &[3]), vec![b"abcd".to_vec()]);
        assert_eq!(
            split(b"abcde\n", 2, 4, &[3]),
            vec![b"abcd".to_vec(), b"e".to_vec()]
        );
        assert_eq!(
            split(b"\r\n\0\xff\n", 1, 8, &[1]),
            vec![b"\r".to_vec(), b"\0\xff".to_vec()]
        );
        assert_eq!(split(b"", 1, 8, &[1]), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn long_partial_lines_are_given_back_once_written() {
        let mut lb = LineBuffer::new(1 << 20);
        let mut scratch = ReadBuffer::new(4096, 1 << 20);
        let scratch = scratch.as_mut_slice();
        let mut rest: &[u8] = &[b'x'; 200_000];
        while !rest.is_empty() {
            let (held, room) = lb.load(scratch, 4096);
            let n = room.min(rest.len());
            scratch[held..held + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            lb.split(scratch, held, n);
        }
        assert!(lb.capacity() >= 200_000);
        let (held, _) = lb.load(scratch, 4096);
        scratch[held] = b'\n';
        let lines = lb.split(scratch, held, 1);
        assert_eq!(lines.len(), 200_001);
        assert!(lb.capacity() <= SHRINK_ABOVE);
    }

    #[test]
    fn random_chunking_matches_naive_splitter() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let len = rng.below(300);
            let newline_every = 1 + rng.below(40) as u64;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.next().is_multiple_of(newline_every) {
                        b'\n'
                    } else {
                        b'a' + rng.below(26) as u8
                    }
                })
                .collect();
            let max = 1 + rng.below(64);
            let read_size = 1 + rng.below(80);
            let chunks: Vec<usize> = (0..1 + rng.below(5)).map(|_| 1 + rng.below(80)).collect();
            assert_eq!(
                split(&input, read_size, max, &chunks),
                naive(&input, max),
                "input {:?} read_size {read_size} max {max} chunks {chunks:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
