//! The batch: the bytes of one `write`, gathered in the buffer it is lent (the tail's ring,
//! or a spare one), and the relay's fast lane that fills it with lines.
//!
//! Short copies are done as whole blocks: a prefix is copied as 32 or 128 bytes from a padded
//! copy, a line 32 bytes at a time (a text line's first four blocks; its rest, if any, with
//! one `memchr` (`memchr3` when redraws are settled) and one `memcpy`), each block's newlines
//! found in the block just copied
//! ([`platform::bytes::copy_block`](crate::platform::bytes::copy_block)). The bytes a block
//! copies past the end of a line are overwritten by what comes next (or never written out); a
//! line starts only where the batch has room for the longest line the lane takes, with its
//! blocks. Behind a prefix, the blocks also find the control characters, and a line with a
//! redraw among them (`redraw::starts`) is left to the caller to settle
//! (`copy_block_control`): the lane is the only scan for redraws. JSON lines take the same
//! lane when they are plain ASCII with nothing to escape (the same blocks say so,
//! `copy_block_json`); any other line is left to the caller.
//!
//! callgrind, 4 × 100,000 lines of 100 B into `/dev/null`: text 100 M → 74 M instructions in
//! all (a `memchr` and three `memcpy` calls per line before), JSON 219 M → 117 M (an escape
//! scan and four appends per line before); `cargo bench` for the wall time. Finding redraws
//! in the lane, not in a scan of each read before it: 77.3 M → 71.3 M (100 B lines), 38.8 M →
//! 35.0 M (1 KiB lines).

use memchr::{memchr, memchr3_iter};

use crate::output::redraw;
use crate::platform::bytes::{copy_block, copy_block_control, copy_block_json, json_special};

/// Bytes gathered before a `write`: the size of a default pipe.
pub const CAPACITY: usize = 64 * 1024;
/// The least a batch is built in: the tail's ring lends what is left up to its end, when it
/// is this much (see `Tail::space`). Room for [`OVERSHOOT`] and many lines more.
pub const MIN_CAPACITY: usize = 16 * 1024;
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
    /// [`MIN_CAPACITY`] to [`CAPACITY`] bytes; those past `len` mean nothing.
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

/// The lines a lane takes, and those it leaves to the caller (besides those over
/// [`COPY_LIMIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Lane {
    /// Text lines as they are (`--no-prefix`): it takes every line.
    Text = 0,
    /// Text lines that must be their settled text (behind a prefix): it leaves aside a line
    /// with a redraw (`redraw::starts` at one of its control characters), for the caller to
    /// settle.
    Settled = 1,
    /// JSON string bodies: it leaves aside a line with a byte to escape or check.
    Json = 2,
}

impl Lane {
    /// The lane `lane as u8` gives.
    const fn numbered(number: u8) -> Lane {
        match number {
            0 => Lane::Text,
            1 => Lane::Settled,
            _ => Lane::Json,
        }
    }
}

/// Where [`Batch::copy_lines`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every line is in the batch.
    Done,
    /// The batch has no room for another line: write it out and go on from here.
    Full(usize),
    /// The line starting here is the caller's: longer than [`COPY_LIMIT`], or one its
    /// [`Lane`] leaves aside. It ends at the newline given.
    Aside(usize, usize),
}

impl<'a> Batch<'a> {
    /// The batch of `len` bytes at the start of `buf`, which holds [`MIN_CAPACITY`] to
    /// [`CAPACITY`] bytes: its capacity.
    pub fn new(buf: &'a mut [u8], len: &'a mut usize) -> Batch<'a> {
        assert!(
            (MIN_CAPACITY..=CAPACITY).contains(&buf.len()),
            "a batch is built in {MIN_CAPACITY} to {CAPACITY} bytes"
        );
        Batch { buf, len }
    }

    /// Appends `bytes`; the caller has made sure they fit (the capacity `new` was given).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = *self.len + bytes.len();
        assert!(end <= self.buf.len(), "a batch holds at most its capacity");
        self.buf[*self.len..end].copy_from_slice(bytes);
        *self.len = end;
    }

    /// Appends the lines of `lines` from `from` on (every line ends with `\n`), each behind
    /// the framing's prefix and ending with its end instead of the `\n`, until they are all
    /// in, the batch has no room for a line of [`COPY_LIMIT`], or a line is the caller's
    /// (longer than that, or one the `lane` leaves aside).
    pub fn copy_lines(&mut self, framing: &Framing, lines: &[u8], from: usize, lane: Lane) -> Stop {
        // A loop of its own for each lane, with only that lane's compares and branches:
        // with the lane a variable, its branches inside the block loop cost more than the
        // rest of the loop (callgrind, 100 B lines: 77 M instructions in all became 100 M).
        match lane {
            Lane::Text => self.copy_lines_in::<{ Lane::Text as u8 }>(framing, lines, from),
            Lane::Settled => self.copy_lines_in::<{ Lane::Settled as u8 }>(framing, lines, from),
            Lane::Json => self.copy_lines_in::<{ Lane::Json as u8 }>(framing, lines, from),
        }
    }

    /// [`Batch::copy_lines`] in the lane numbered `LANE`.
    #[inline(always)]
    fn copy_lines_in<const LANE: u8>(
        &mut self,
        framing: &Framing,
        lines: &[u8],
        from: usize,
    ) -> Stop {
        let lane = Lane::numbered(LANE);
        let mut pos = *self.len;
        let mut at = from;
        let blocks = if lane == Lane::Json {
            LONG_BLOCKS
        } else {
            TEXT_BLOCKS
        };
        while at < lines.len() {
            // A line starts only where all it may write fits.
            if pos + OVERSHOOT > self.buf.len() {
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
                // Text: the newlines. Settled: the control characters. JSON: the bytes to
                // escape or check. The newline is among them, so each byte marked before it
                // is one to look at (settled: a redraw's start?) or makes the line aside.
                let mut mask = match lane {
                    Lane::Text => copy_block(to, from),
                    Lane::Settled => copy_block_control(to, from),
                    Lane::Json => copy_block_json(to, from),
                };
                while mask != 0 {
                    let first = mask.trailing_zeros() as usize;
                    if from[first] == b'\n' {
                        taken = Some(copied + first + 1);
                        break;
                    }
                    let here = copied + first;
                    if lane == Lane::Json || redraw::starts(&lines[at + here..], here == 0) {
                        aside = true;
                        break;
                    }
                    mask &= mask - 1;
                }
                if taken.is_some() || aside {
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
                    let last = if lane == Lane::Settled {
                        end_or_redraw(rest, room, copied == 0)
                    } else {
                        memchr(b'\n', &rest[..room]).map_or(room, |i| i + 1)
                    };
                    self.buf[pos + copied..pos + copied + last].copy_from_slice(&rest[..last]);
                    aside = match lane {
                        Lane::Text => false,
                        // Stopped short of the line's end, at a redraw.
                        Lane::Settled => last < room && rest[last - 1] != b'\n',
                        Lane::Json => rest[..last.saturating_sub(1)]
                            .iter()
                            .any(|&b| json_special(b)),
                    };
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

/// How much of `bytes` (the rest of a line; all of it when `line_start`) up to `room` a
/// line takes: up to and including its first newline, or its first redraw's first byte
/// (`redraw::starts`), or `room` with neither. One `memchr3` for the rest of a long line: a
/// block at a time costs more past a few blocks.
fn end_or_redraw(bytes: &[u8], room: usize, line_start: bool) -> usize {
    for at in memchr3_iter(b'\n', b'\r', redraw::ESC, &bytes[..room]) {
        if bytes[at] == b'\n' || redraw::starts(&bytes[at..], line_start && at == 0) {
            return at + 1;
        }
    }
    room
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::XorShift;

    /// What the fast lane and its caller must produce: each line behind the prefix, its
    /// newline replaced by the end; settled, in the settled lane, where every line is
    /// written; in the others the caller's lines are left out (written elsewhere): those
    /// over COPY_LIMIT, and for JSON those with a byte to escape or check.
    fn reference(prefix: &[u8], end: &[u8], lines: &[u8], lane: Lane) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines.split_inclusive(|&b| b == b'\n') {
            let line = &line[..line.len() - 1];
            let aside = lane == Lane::Json && line.iter().any(|&b| json_special(b));
            if lane == Lane::Settled {
                out.extend_from_slice(prefix);
                out.extend_from_slice(redraw::settled(line));
                out.extend_from_slice(end);
            } else if line.len() <= COPY_LIMIT && !aside {
                out.extend_from_slice(prefix);
                out.extend_from_slice(line);
                out.extend_from_slice(end);
            }
        }
        out
    }

    /// Runs the lane as `Output::lines` does: flushing when full, skipping the caller's lines
    /// but, in the settled lane, writing them settled.
    fn relay(prefix: &[u8], end: &[u8], lines: &[u8], lane: Lane) -> (Vec<u8>, usize) {
        let framing = Framing::new(prefix, end).unwrap();
        let (mut buf, mut len) = (spare(), 0);
        let mut out = Vec::new();
        let mut writes = 0;
        let mut from = 0;
        loop {
            match Batch::new(&mut buf, &mut len).copy_lines(&framing, lines, from, lane) {
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
                    let special = match lane {
                        Lane::Text => false,
                        Lane::Settled => line.iter().any(|&b| b == b'\r' || b == redraw::ESC),
                        Lane::Json => line.iter().any(|&b| json_special(b)),
                    };
                    assert!(line.len() > COPY_LIMIT || special);
                    assert_eq!(lines[newline], b'\n');
                    if lane == Lane::Settled {
                        out.extend_from_slice(&buf[..len]);
                        len = 0;
                        out.extend_from_slice(prefix);
                        out.extend_from_slice(redraw::settled(line));
                        out.extend_from_slice(end);
                    }
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
        let lanes = [Lane::Text, Lane::Settled, Lane::Json];
        for round in 0..600 {
            let lane = lanes[round % 3];
            let mut lines = Vec::new();
            let count = rng.below(400);
            for _ in 0..count {
                let len = match rng.below(10) {
                    0 => rng.below(COPY_LIMIT as u64 * 2),
                    1 => COPY_LIMIT - 40 + rng.below(80),
                    _ => rng.below(70),
                };
                // Mostly plain letters; now and then a byte JSON escapes or checks, a control
                // character, or a redraw.
                let redraws: [&[u8]; 6] =
                    [b"\r", b"\x1b[1G", b"\x1b[K", b"\x1b[2K", b"\x1b[", b"\t"];
                for _ in 0..len {
                    match rng.below(300) {
                        0 => lines.push(b'"'),
                        1 => lines.push(b'\\'),
                        2 => lines.push(0x1f),
                        3 => lines.push(0xc3),
                        4..6 => lines.extend_from_slice(redraws[rng.below(6)]),
                        _ => lines.push(b'a' + rng.below(26) as u8),
                    }
                }
                if rng.below(10) == 0 {
                    lines.push(b'\r');
                }
                lines.push(b'\n');
            }
            let prefix: Vec<u8> = (0..rng.below(129)).map(|i| b'0' + (i % 10) as u8).collect();
            let end: &[u8] = match (lane, round % 2) {
                (Lane::Json, _) => b"\"}\n",
                (_, 0) => b"\n",
                _ => b"\x1b[0m\n",
            };
            let (out, _) = relay(&prefix, end, &lines, lane);
            assert_eq!(out, reference(&prefix, end, &lines, lane), "round {round}");
        }
    }

    #[test]
    fn empty_lines_newlines_at_block_edges_and_bytes_that_look_alike() {
        for lane in [Lane::Text, Lane::Settled, Lane::Json] {
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
                for filler in [b'a', b'\x0b', b'\x20', b'\x7f', b'\r', 0x1b] {
                    let mut lines = vec![filler; len];
                    lines.push(b'\n');
                    lines.extend_from_slice(b"\n\n\x8a\n\"q\"\nend\r\n\x1b[2K\n");
                    let (out, _) = relay(b"w.1 | ", b"\n", &lines, lane);
                    let expected = reference(b"w.1 | ", b"\n", &lines, lane);
                    assert_eq!(out, expected, "len {len}, filler {filler:#x}, {lane:?}");
                }
            }
        }
    }

    /// `grep --color` and gcc end each coloured run with `ESC[K`, an erase that erases
    /// nothing kept: such lines stay in the settled lane (each was once left aside, and
    /// written on its own), in its blocks and past them; a line that begins with an erase,
    /// or holds a redraw, is left aside.
    #[test]
    fn erases_after_the_text_stay_in_the_lane() {
        let framing = Framing::new(b"w.1 | ", b"\n").unwrap();
        let mut buf = spare();
        let grep = b"src/f.rs:12: let \x1b[01;31m\x1b[Kneedle\x1b[m\x1b[K = v;\n".repeat(100);
        let long = [b"x".repeat(300), b"\x1b[m\x1b[K end\n".to_vec()].concat();
        for lines in [grep, long] {
            let mut len = 0;
            let stop =
                Batch::new(&mut buf, &mut len).copy_lines(&framing, &lines, 0, Lane::Settled);
            assert_eq!(stop, Stop::Done);
        }
        let begins = [b"x".repeat(300), b"\n\x1b[Kdone\n".to_vec()].concat();
        let redrawn = [b"x".repeat(300), b"\x1b[2Kdone\n".to_vec()].concat();
        for (lines, at) in [
            (&b"\x1b[Kdone\n"[..], 0),
            (b"ab\x1b[2Kc\n", 0),
            (&begins, 301),
            (&redrawn, 0),
        ] {
            let mut len = 0;
            let stop = Batch::new(&mut buf, &mut len).copy_lines(&framing, lines, 0, Lane::Settled);
            assert_eq!(
                stop,
                Stop::Aside(at, lines.len() - 1),
                "{:?}",
                String::from_utf8_lossy(lines)
            );
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
        for lane in [Lane::Text, Lane::Settled, Lane::Json] {
            let (out, writes) = relay(b"12:00:00 w.1 | ", b"\n", &lines, lane);
            assert_eq!(out, reference(b"12:00:00 w.1 | ", b"\n", &lines, lane));
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
