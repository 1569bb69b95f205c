//! The reusable read buffer of one child pipe, and the zero-copy line splitter over it.
//!
//! Bytes are read once into `buf` and written out from it: the writer borrows the complete
//! lines as one slice (`lines`), writes them with their prefixes, and only then the buffer is
//! told to `consume_lines`. The partial tail after the last newline stays where it is until
//! the next `spare` call moves it to the front (at most one partial line is ever copied).
//!
//! Memory is bounded: the buffer starts empty, grows by doubling from `initial` only while a
//! single line does not fit, never beyond `max`, and shrinks back once it is empty again. A line
//! longer than `max` is cut: `spare` returns an empty slice, and the caller writes the `partial`
//! as a piece of its own (`consume_cut`). If the byte right after such a cut is the newline that
//! ends the line, it is dropped, so a line of exactly `max` bytes comes out as one piece and no
//! empty line is invented.

use memchr::memrchr;

#[derive(Debug)]
pub struct LineBuffer {
    /// Storage; `buf.len()` is the current capacity. Bytes past `end` are scratch.
    buf: Vec<u8>,
    /// First byte not yet written out. Invariant: `start <= lines_end <= end <= buf.len()`.
    start: usize,
    /// One past the last newline in `buf[..end]`, or `start` when there is none after it.
    lines_end: usize,
    /// One past the last byte read.
    end: usize,
    /// The last piece was cut because it filled the buffer; a newline arriving next ends it.
    after_cut: bool,
    initial: usize,
    max: usize,
}

impl LineBuffer {
    /// A buffer that allocates nothing until the first read, grows from `initial` to `max`.
    pub fn new(initial: usize, max: usize) -> LineBuffer {
        assert!(
            initial >= 1 && initial <= max,
            "LineBuffer sizes: 1 <= initial <= max"
        );
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            lines_end: 0,
            end: 0,
            after_cut: false,
            initial,
            max,
        }
    }

    /// Room to read into, after moving the partial tail to the front or growing. Empty only
    /// when the buffer holds `max` bytes without a newline: the caller must cut it first.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.lines_end = 0;
            self.end = 0;
            if self.buf.len() > self.initial {
                self.buf = vec![0; self.initial];
            }
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.lines_end -= self.start;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.buf.len() < self.max {
            let grown = (self.buf.len() * 2).clamp(self.initial, self.max);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the slice `spare` returned.
    pub fn commit(&mut self, n: usize) {
        let from = self.end;
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
        if n > 0 && self.after_cut {
            self.after_cut = false;
            if self.buf[from] == b'\n' {
                self.start += 1;
                self.lines_end = self.start;
            }
        }
        let scan_from = from.max(self.start);
        if let Some(i) = memrchr(b'\n', &self.buf[scan_from..self.end]) {
            self.lines_end = scan_from + i + 1;
        }
    }

    /// Every complete line held, each ending in `\n`, as one slice.
    pub fn lines(&self) -> &[u8] {
        &self.buf[self.start..self.lines_end]
    }

    /// Marks the slice `lines` returned as written.
    pub fn consume_lines(&mut self) {
        self.start = self.lines_end;
    }

    /// The bytes after the last newline: a line still being written.
    pub fn partial(&self) -> &[u8] {
        &self.buf[self.lines_end..self.end]
    }

    /// Marks the partial line as written in full (the child closed its pipe or went idle).
    pub fn consume_partial(&mut self) {
        debug_assert_eq!(self.start, self.lines_end, "consume_lines first");
        self.start = self.end;
        self.lines_end = self.end;
    }

    /// Marks the partial line as written because it filled the buffer.
    pub fn consume_cut(&mut self) {
        self.consume_partial();
        self.after_cut = true;
    }

    /// Bytes held for the current capacity, for memory accounting in tests.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of the given sizes (cycled) and returns the pieces emitted, in
    /// the order a writer would see them.
    fn split(input: &[u8], initial: usize, max: usize, chunks: &[usize]) -> Vec<Vec<u8>> {
        let mut lb = LineBuffer::new(initial, max);
        let mut out = Vec::new();
        let mut rest = input;
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let spare = lb.spare();
            if spare.is_empty() {
                out.push(lb.partial().to_vec());
                lb.consume_cut();
                continue;
            }
            let n = (*sizes.next().unwrap())
                .min(spare.len())
                .min(rest.len())
                .max(1);
            spare[..n].copy_from_slice(&rest[..n]);
            lb.commit(n);
            rest = &rest[n..];
            out.extend(
                lb.lines()
                    .split_inclusive(|&b| b == b'\n')
                    .map(|l| l[..l.len() - 1].to_vec()),
            );
            lb.consume_lines();
            assert!(lb.capacity() <= max);
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
    fn splits_lines_and_keeps_the_partial_tail() {
        let mut lb = LineBuffer::new(16, 64);
        let spare = lb.spare();
        spare[..8].copy_from_slice(b"ab\ncd\nef");
        lb.commit(8);
        assert_eq!(lb.lines(), b"ab\ncd\n");
        lb.consume_lines();
        assert_eq!(lb.partial(), b"ef");
        let spare = lb.spare();
        spare[..2].copy_from_slice(b"g\n");
        lb.commit(2);
        assert_eq!(lb.lines(), b"efg\n");
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
    fn grows_for_long_lines_and_shrinks_back() {
        let mut lb = LineBuffer::new(4, 1024);
        let mut rest: &[u8] = &[b'x'; 100];
        while !rest.is_empty() {
            let spare = lb.spare();
            let n = spare.len().min(rest.len()).min(7);
            spare[..n].copy_from_slice(&rest[..n]);
            lb.commit(n);
            rest = &rest[n..];
        }
        assert!(lb.capacity() >= 100);
        let spare = lb.spare();
        spare[0] = b'\n';
        lb.commit(1);
        assert_eq!(lb.lines().len(), 101);
        lb.consume_lines();
        lb.spare();
        assert_eq!(lb.capacity(), 4);
    }

    /// A small deterministic generator, so the randomized test needs no extra crate.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    #[test]
    fn random_chunking_matches_naive_splitter() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
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
            let initial = 1 + rng.below(max as u64);
            let chunks: Vec<usize> = (0..1 + rng.below(5)).map(|_| 1 + rng.below(80)).collect();
            assert_eq!(
                split(&input, initial, max, &chunks),
                naive(&input, max),
                "input {:?} initial {initial} max {max} chunks {chunks:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
