//! The batch: the bytes of one `write`, gathered in the buffer it is lent (the tail's ring,
//! or a spare one), and the relay's fast lane that fills it with lines.
//!
//! Short copies are done as whole blocks: a prefix is copied as 32 or 128 bytes from a padded
//! copy, a line 32 bytes at a time (a text line's first four blocks; its rest, if any, with
//! one `memchr` and one `memcpy`), each block's newlines found in the block just copied
//! ([`platform::bytes::copy_block`](crate::platform::bytes::copy_block)). The bytes a block
//! copies past the end of a line are overwritten by what comes next (or never written out); a
//! line starts only where the batch has room for the longest line the lane takes, with its
//! blocks. JSON lines take the same lane when they are plain ASCII with nothing to escape
//! (the same blocks say so, `copy_block_json`); any other line is left to the caller.
//!
//! callgrind, 4 × 100,000 lines of 100 B into `/dev/null`: text 100 M → 74 M instructions in
//! all (a `memchr` and three `memcpy` calls per line before), JSON 219 M → 117 M (an escape
//! scan and four appends per line before); `cargo bench` for the wall time.

use memchr::memchr;

use crate::platform::bytes::{copy_block, copy_block_json, json_special};

/// Bytes gathered before a `write`: the size of a default pipe.
pub const CAPACITY: usize = 64 * 1024;
/// Lines up to this length are copied into the batch; longer ones are written from the read
/// buffer with `writev`, where the copy would cost more than the extra iovecs.
pub const COPY_LIMIT: usize = 2048;
/// A prefix up to this length takes the fast lane (a JSON line's head, with its time, name,
/// pid and stream, is about 100 bytes).
const PREFIX_BLOCK: usize = 128;
/// A prefix up to this length is copied as this many bytes, not [`PREFIX_BLOCK`]: a text
/// prefix (`12:00:01 web.1  | `, with colour about 30 bytes) takes two stores, not eight.
const SHORT_PREFIX: usize = 32;
/// A line end up to this length takes the fast lane.
const END_BLOCK: usize = 16;
const BLOCK: usize = 32;
/// Blocks without a newline that make a line longer than [`COPY_LIMIT`].
const LONG_BLOCKS: usize = COPY_LIMIT / BLOCK + 1;
/// Blocks a text line is copied in before the rest of it is found with one `memchr` and
/// copied with one `memcpy`: past a few blocks, those cost less than a block at a time
/// (JSON lines stay in blocks, which also find the bytes to escape).
const TEXT_BLOCKS: usize = 4;
/// The most bytes the block copies write past a batch's length (always within
/// [`CAPACITY`]): a line's prefix block, the blocks of a line one block longer than
/// [`COPY_LIMIT`], and the end's block. What holds a batch lets them be overwritten.
pub const OVERSHOOT: usize = PREFIX_BLOCK + LONG_BLOCKS * BLOCK + END_BLOCK;

/// The batch being built, in whichever buffer holds it: the tail's free space or a spare
/// buffer (see `Sink::batch` in `mod.rs`).
pub struct Batch<'a> {
    /// `CAPACITY` bytes; those past `len` mean nothing.
    buf: &'a mut [u8],
    len: &'a mut usize,
}

/// A buffer of [`CAPACITY`] bytes for batches the tail has no room for.
pub fn spare() -> Box<[u8]> {
    // Zeroed pages cost no memory until written.
    vec![0; CAPACITY].into_boxed_slice()
}

/// A prefix and a line end, padded for block copies.
pub struct Framing {
    prefix: [u8; PREFIX_BLOCK],
    prefix_len: usize,
    end: [u8; END_BLOCK],
    end_len: usize,
}

impl Framing {
    /// `None` when either is too long for the fast lane.
    pub fn new(prefix: &[u8], end: &[u8]) -> Option<Framing> {
        if prefix.len() > PREFIX_BLOCK || end.len() > END_BLOCK || end.is_empty() {
            return None;
        }
        let mut framing = Framing {
            prefix: [0; PREFIX_BLOCK],
            prefix_len: prefix.len(),
            end: [0; END_BLOCK],
            end_len: end.len(),
        };
        framing.prefix[..prefix.len()].copy_from_slice(prefix);
        framing.end[..end.len()].copy_from_slice(end);
        Some(framing)
    }
}

/// Where [`Batch::copy_lines`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every line is in the batch.
    Done,
    /// The batch has no room for another line: write it out and go on from here.
    Full(usize),
    /// The line starting here is the caller's: longer than [`COPY_LIMIT`], or, as JSON, with
    /// a byte to escape or to check as UTF-8. It ends at the newline given.
    Aside(usize, usize),
}

impl<'a> Batch<'a> {
    /// The batch of `len` bytes at the start of `buf`, which holds [`CAPACITY`].
    pub fn new(buf: &'a mut [u8], len: &'a mut usize) -> Batch<'a> {
        assert_eq!(buf.len(), CAPACITY, "a batch is built in {CAPACITY} bytes");
        Batch { buf, len }
    }

    /// Appends `bytes`; the caller has made sure they fit ([`CAPACITY`]).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = *self.len + bytes.len();
        assert!(end <= CAPACITY, "a batch holds at most {CAPACITY} bytes");
        self.buf[*self.len..end].copy_from_slice(bytes);
        *self.len = end;
    }

    /// Appends the lines of `lines` from `from` on (every line ends with `\n`), each behind
    /// the framing's prefix and ending with its end instead of the `\n`, until they are all
    /// in, the batch has no room for a line of [`COPY_LIMIT`], or a line is the caller's
    /// (longer than that; with `json`, a line whose bytes are not all plain ASCII that a JSON
    /// string takes as it is).
    pub fn copy_lines(&mut self, framing: &Framing, lines: &[u8], from: usize, json: bool) -> Stop {
        let mut pos = *self.len;
        let mut at = from;
        let blocks = if json { LONG_BLOCKS } else { TEXT_BLOCKS };
        while at < lines.len() {
            // A line starts only where all it may write fits.
            if pos + OVERSHOOT > CAPACITY {
                *self.len = pos;
                return Stop::Full(at);
            }
            let line_pos = pos;
            // One branch, the same way for every line of the call.
            if framing.prefix_len <= SHORT_PREFIX {
                self.buf[pos..pos + SHORT_PREFIX].copy_from_slice(&framing.prefix[..SHORT_PREFIX]);
            } else {
                self.buf[pos..pos + PREFIX_BLOCK].copy_from_slice(&framing.prefix);
            }
            pos += framing.prefix_len;
            let start = at;
            // Up to and including the newline, a block at a time while a whole block is left.
            let (from_blocks, _) = lines[at..].as_chunks::<BLOCK>();
            let (to_blocks, _) = self.buf[pos..].as_chunks_mut::<BLOCK>();
            let mut taken = None;
            let mut copied = 0;
            let mut aside = false;
            for (to, from) in to_blocks.iter_mut().zip(from_blocks).take(blocks) {
                // Text: the newlines. JSON: the bytes to escape or check, the newline among
                // them, so the first one marked is either the line's end or makes it aside.
                let mask = if json {
                    copy_block_json(to, from)
                } else {
                    copy_block(to, from)
                };
                if mask != 0 {
                    let first = mask.trailing_zeros() as usize;
                    if json && from[first] != b'\n' {
                        aside = true;
                        break;
                    }
                    taken = Some(copied + first + 1);
                    break;
                }
                copied += BLOCK;
            }
            let taken = match taken {
                Some(taken) => taken,
                None if aside || copied >= LONG_BLOCKS * BLOCK => copied,
                None => {
                    // The rest: of a text line longer than its blocks, or less than a block
                    // at the end of `lines`; never more than a line of COPY_LIMIT can hold.
                    let rest = &lines[at + copied..];
                    let room = rest.len().min((COPY_LIMIT + 1).saturating_sub(copied));
                    let last = memchr(b'\n', &rest[..room]).map_or(room, |i| i + 1);
                    self.buf[pos + copied..pos + copied + last].copy_from_slice(&rest[..last]);
                    aside = json
                        && rest[..last.saturating_sub(1)]
                            .iter()
                            .any(|&b| json_special(b));
                    copied + last
                }
            };
            pos += taken;
            at += taken;
            // Without its newline, the line is `start..at - 1` once the newline is found.
            if aside || at - start > COPY_LIMIT + 1 || lines[at - 1] != b'\n' {
                *self.len = line_pos;
                let newline = memchr(b'\n', &lines[start..]).map_or(lines.len(), |i| start + i);
                return Stop::Aside(start, newline);
            }
            // The end replaces the newline.
            pos -= 1;
            self.buf[pos..pos + END_BLOCK].copy_from_slice(&framing.end);
            pos += framing.end_len;
        }
        *self.len = pos;
        Stop::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::XorShift;

    /// What the fast lane must produce: each line behind the prefix, its newline replaced by
    /// the end, the caller's lines left out (written elsewhere): those over COPY_LIMIT, and
    /// for JSON those with a byte to escape or check.
    fn reference(prefix: &[u8], end: &[u8], lines: &[u8], json: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines.split_inclusive(|&b| b == b'\n') {
            let line = &line[..line.len() - 1];
            let aside = json && line.iter().any(|&b| json_special(b));
            if line.len() <= COPY_LIMIT && !aside {
                out.extend_from_slice(prefix);
                out.extend_from_slice(line);
                out.extend_from_slice(end);
            }
        }
        out
    }

    /// Runs the lane as `Output::lines` does: flushing when full, skipping the caller's lines.
    fn relay(prefix: &[u8], end: &[u8], lines: &[u8], json: bool) -> (Vec<u8>, usize) {
        let framing = Framing::new(prefix, end).unwrap();
        let (mut buf, mut len) = (spare(), 0);
        let mut out = Vec::new();
        let mut writes = 0;
        let mut from = 0;
        loop {
            match Batch::new(&mut buf, &mut len).copy_lines(&framing, lines, from, json) {
                Stop::Done => break,
                Stop::Full(at) => {
                    assert!(at > from || len > 0, "no progress");
                    out.extend_from_slice(&buf[..len]);
                    len = 0;
                    writes += 1;
                    from = at;
                }
                Stop::Aside(at, newline) => {
                    let line = &lines[at..newline];
                    assert!(
                        line.len() > COPY_LIMIT || (json && line.iter().any(|&b| json_special(b)))
                    );
                    assert_eq!(lines[newline], b'\n');
                    from = newline + 1;
                }
            }
        }
        out.extend_from_slice(&buf[..len]);
        assert!(len <= CAPACITY);
        (out, writes)
    }

    #[test]
    fn lines_of_every_length_match_the_reference() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for round in 0..400 {
            let json = round % 4 >= 2;
            let mut lines = Vec::new();
            let count = rng.below(400);
            for _ in 0..count {
                let len = match rng.below(10) {
                    0 => rng.below(COPY_LIMIT as u64 * 2),
                    1 => COPY_LIMIT - 40 + rng.below(80),
                    _ => rng.below(70),
                };
                // Mostly plain letters; now and then a byte JSON escapes or checks.
                lines.extend((0..len).map(|_| match rng.below(300) {
                    0 => b'"',
                    1 => b'\\',
                    2 => 0x1f,
                    3 => 0xc3,
                    _ => b'a' + rng.below(26) as u8,
                }));
                lines.push(b'\n');
            }
            let prefix: Vec<u8> = (0..rng.below(129)).map(|i| b'0' + (i % 10) as u8).collect();
            let end: &[u8] = match round % 4 {
                0 => b"\n",
                1 => b"\x1b[0m\n",
                _ => b"\"}\n",
            };
            let (out, _) = relay(&prefix, end, &lines, json);
            assert_eq!(out, reference(&prefix, end, &lines, json), "round {round}");
        }
    }

    #[test]
    fn empty_lines_newlines_at_block_edges_and_bytes_that_look_alike() {
        for json in [false, true] {
            for len in [
                0,
                1,
                30,
                31,
                32,
                33,
                63,
                64,
                65,
                127,
                128,
                129,
                COPY_LIMIT,
                COPY_LIMIT + 1,
            ] {
                for filler in [b'a', b'\x0b', b'\x20', b'\x7f'] {
                    let mut lines = vec![filler; len];
                    lines.push(b'\n');
                    lines.extend_from_slice(b"\n\n\x8a\n\"q\"\nend\n");
                    let (out, _) = relay(b"w.1 | ", b"\n", &lines, json);
                    let expected = reference(b"w.1 | ", b"\n", &lines, json);
                    assert_eq!(out, expected, "len {len}, filler {filler:#x}, json {json}");
                }
            }
        }
    }

    #[test]
    fn a_full_batch_is_written_out_and_never_overflows() {
        let line = [b'x'; 99]
            .iter()
            .copied()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        let lines: Vec<u8> = line.iter().copied().cycle().take(100 * 3000).collect();
        for json in [false, true] {
            let (out, writes) = relay(b"12:00:00 w.1 | ", b"\n", &lines, json);
            assert_eq!(out, reference(b"12:00:00 w.1 | ", b"\n", &lines, json));
            assert!(writes >= 5, "{writes} writes for 345 KB");
        }
    }

    #[test]
    fn prefixes_and_ends_too_long_for_the_lane_are_refused() {
        assert!(Framing::new(&[b'p'; 128], b"\n").is_some());
        assert!(Framing::new(&[b'p'; 129], b"\n").is_none());
        assert!(Framing::new(b"p", &[b'e'; 17]).is_none());
        assert!(Framing::new(b"p", b"").is_none());
    }
}
