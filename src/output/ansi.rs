//! `--strip-ansi`: the visible parts of a line, without terminal escape sequences.
//!
//! Removed: CSI sequences (`ESC [` parameters, intermediates, a final byte: colours, cursor
//! moves), OSC sequences (`ESC ]` … up to BEL or `ESC \`: titles, hyperlinks), other `ESC X`
//! pairs, and a lone trailing `ESC`. Everything else passes unchanged, including `\r` and
//! invalid UTF-8. A sequence never takes a newline: one cut off at a line's end (a lone
//! `ESC`, an OSC without its end) ends there, so bytes of many lines can be stripped at once
//! (`procmux logs` into a pipe). The iterator borrows the line: stripping copies nothing by
//! itself.

use memchr::memchr;

/// The runs of `line` outside escape sequences, in order.
pub fn visible(line: &[u8]) -> Visible<'_> {
    Visible { rest: line }
}

pub struct Visible<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Visible<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let Some(esc) = memchr(0x1b, self.rest) else {
                return Some(std::mem::take(&mut self.rest));
            };
            let run = &self.rest[..esc];
            self.rest = &self.rest[esc + sequence_len(&self.rest[esc..])..];
            if !run.is_empty() {
                return Some(run);
            }
        }
    }
}

/// Length of the escape sequence at the start of `bytes` (which starts with ESC), up to the
/// first newline.
fn sequence_len(bytes: &[u8]) -> usize {
    let len = sequence_to_end(bytes);
    memchr(b'\n', &bytes[..len]).unwrap_or(len)
}

/// Length of the escape sequence at the start of `bytes`, newlines not considered.
fn sequence_to_end(bytes: &[u8]) -> usize {
    match bytes.get(1) {
        None => 1,
        Some(b'[') => {
            // Parameters and intermediates (0x20..=0x3f), then one final byte (0x40..=0x7e).
            let body = bytes[2..].iter().position(|b| !(0x20..=0x3f).contains(b));
            match body {
                Some(i) if (0x40..=0x7e).contains(&bytes[2 + i]) => 2 + i + 1,
                Some(i) => 2 + i,
                None => bytes.len(),
            }
        }
        Some(b']') => {
            let mut i = 2;
            while i < bytes.len() {
                match bytes[i] {
                    0x07 => return i + 1,
                    0x1b if bytes.get(i + 1) == Some(&b'\\') => return i + 2,
                    _ => i += 1,
                }
            }
            bytes.len()
        }
        // nF sequences (`ESC ( B`: intermediates 0x20..=0x2f, then a final byte), or a pair.
        Some(_) => {
            let intermediates = bytes[1..]
                .iter()
                .take_while(|b| (0x20..=0x2f).contains(*b))
                .count();
            (1 + intermediates + 1).min(bytes.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(line: &[u8]) -> Vec<u8> {
        visible(line).flatten().copied().collect()
    }

    #[test]
    fn removes_escape_sequences_only() {
        let cases: [(&[u8], &[u8]); 13] = [
            (b"plain", b"plain"),
            (b"\x1b[31mred\x1b[0m", b"red"),
            (b"a\x1b[1;38;5;208mb\x1b[Kc", b"abc"),
            (b"\x1b]0;title\x07text", b"text"),
            (b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", b"link"),
            (b"x\x1b(By", b"xy"),
            (b"end\x1b", b"end"),
            (b"\x1b[", b""),
            (b"\xff\r\x1b[2Jz", b"\xff\rz"),
            // Cut off at a line's end: the newline stays, and the next line with it.
            (b"abc\x1b\nnext\n", b"abc\nnext\n"),
            (b"a\x1b]0;title\nb\n", b"a\nb\n"),
            (b"a\x1b(\nb", b"a\nb"),
            (b"a\x1b[1;3\nb", b"a\nb"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                strip(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
