//! Lines that redraw themselves: a progress bar's `10%\r20%\r`, a spinner's `ESC[1G ESC[0K`
//! (cursor to column 1, erase the line: esbuild, npm, cargo). Behind a prefix they would
//! overwrite the prefix, and in a pipe they leave every intermediate state; what counts is
//! the text after the last redraw, its **settled** text.
//!
//! A redraw starts at `\r`, `ESC[G`, `ESC[1G` (cursor to column 1) or `ESC[2K` (erase the
//! whole line). `ESC[K`/`ESC[0K` (erase to the end of the line) right after a redraw, or at
//! the start of a line, erase nothing that is kept, and are dropped; elsewhere (`50% ESC[K`)
//! they erase only what follows the cursor, never the prefix, and stay, as every other
//! escape of the child does.
//!
//! Pure and allocation-free: the settled text is a sub-slice of the line.

use std::ops::Range;

use memchr::{memchr2, memchr3_iter};

/// The escape character every redrawing escape begins with.
pub const ESC: u8 = 0x1b;

/// The longest redraw, in bytes (`ESC[1G`, `ESC[2K`).
pub const LONGEST: usize = 4;

/// What an escape at the start of some bytes does to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// `ESC[G`, `ESC[1G`, `ESC[2K`: the line is drawn again from its start.
    Redraw,
    /// `ESC[K`, `ESC[0K`: erase from the cursor to the end of the line.
    EraseRest,
}

/// The line-redrawing escape `bytes` starts with, and its length.
fn escape(bytes: &[u8]) -> Option<(Escape, usize)> {
    match bytes {
        [ESC, b'[', b'G', ..] => Some((Escape::Redraw, 3)),
        [ESC, b'[', b'K', ..] => Some((Escape::EraseRest, 3)),
        [ESC, b'[', b'1', b'G', ..] | [ESC, b'[', b'2', b'K', ..] => Some((Escape::Redraw, 4)),
        [ESC, b'[', b'0', b'K', ..] => Some((Escape::EraseRest, 4)),
        _ => None,
    }
}

/// True when `bytes` holds a redraw (a `\r` or a line-redrawing escape): one scan of a
/// whole read, so that reads without one (nearly all) cost no per-line work, where lines
/// do not take the relay's lane (`--strip-ansi`, a prefix too long for it), which finds
/// redraws itself. It looks for
/// the escapes' last bytes (`G`, `K`), not for ESC: coloured output holds an ESC every few
/// bytes, and stopping at each cost more than the rest of the relay.
pub fn any(bytes: &[u8]) -> bool {
    memchr3_iter(b'\r', b'G', b'K', bytes).any(|at| bytes[at] == b'\r' || ends_escape(bytes, at))
}

/// True when the `G` or `K` at `at` ends a line-redrawing escape.
fn ends_escape(bytes: &[u8], at: usize) -> bool {
    (at.saturating_sub(3)..at.saturating_sub(1))
        .any(|start| escape(&bytes[start..]).is_some_and(|(_, len)| start + len == at + 1))
}

/// True when `bytes` start with what makes a line's settled text differ from the line (see
/// [`settled`]): a `\r` that does not end it (CRLF's does not count), a line-redrawing
/// escape, or, at the line's start (`line_start`), an erasing one. The relay asks at each
/// `\r` and ESC its block copies find; a line with none is its own settled text. An erase
/// elsewhere (`grep --color` and gcc end every coloured run with `ESC[K`) is kept by
/// [`settled`], unless a redraw came before it, which this finds first.
pub fn starts(bytes: &[u8], line_start: bool) -> bool {
    match bytes {
        [b'\r', b'\n', ..] => false,
        [b'\r', ..] => true,
        _ => match escape(bytes) {
            Some((Escape::Redraw, _)) => true,
            Some((Escape::EraseRest, _)) => line_start,
            None => false,
        },
    }
}

/// Where the last redraw in `bytes` is: the range of its `\r` or escape.
pub fn last(bytes: &[u8]) -> Option<Range<usize>> {
    let mut found = None;
    let mut from = 0;
    while let Some(at) = memchr2(b'\r', ESC, &bytes[from..]).map(|i| from + i) {
        from = at + 1;
        if bytes[at] == b'\r' {
            found = Some(at..at + 1);
        } else if let Some((Escape::Redraw, len)) = escape(&bytes[at..]) {
            found = Some(at..at + len);
            from = at + len;
        }
    }
    found
}

/// What a redrawn line finally shows: the text after its last redraw, without the erases
/// that follow it (or start the line: a partial line is kept from its last redraw on). A
/// trailing `\r` (as in CRLF) is kept and does not count.
pub fn settled(line: &[u8]) -> &[u8] {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    let mut text = match last(body) {
        Some(redraw) => &line[redraw.end..],
        None => line,
    };
    while let Some((_, len)) = escape(text) {
        text = &text[len..];
    }
    text
}

/// What a line still being redrawn shows now: the text of its last complete update (a
/// redraw at its very end starts the next one).
pub fn settled_partial(partial: &[u8]) -> &[u8] {
    match last(partial) {
        Some(redraw) if redraw.end == partial.len() => settled(&partial[..redraw.start]),
        _ => settled(partial),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_text_of_redrawn_lines() {
        let cases: [(&[u8], &[u8]); 15] = [
            (b"plain", b"plain"),
            (b"10%\r20%\r100%", b"100%"),
            (b"plain\r", b"plain\r"),
            (b"a\rb\r", b"b\r"),
            // esbuild's spinner, then its message.
            (
                b"\x1b[1G\x1b[0K\xe2\xa0\x8b building\x1b[1G\x1b[0K[watch] build finished",
                b"[watch] build finished",
            ),
            (b"\x1b[G\x1b[Kdone", b"done"),
            (b"\x1b[0K| building", b"| building"),
            (b"old\x1b[2K\rnew", b"new"),
            (b"old\x1b[2Knew", b"new"),
            // Erase to the end after the text: it erases nothing shown, and stays.
            (b"50%\x1b[K", b"50%\x1b[K"),
            (b"\r50%\x1b[0K\r", b"50%\x1b[0K\r"),
            // Colours and other escapes are the child's own.
            (b"\x1b[32mok\x1b[0m", b"\x1b[32mok\x1b[0m"),
            (b"\x1b[1G\x1b[32mok\x1b[0m", b"\x1b[32mok\x1b[0m"),
            (b"\x1b[10Gindented", b"\x1b[10Gindented"),
            // Cut short: not an escape.
            (b"a\x1b[1", b"a\x1b[1"),
        ];
        for (line, text) in cases {
            assert_eq!(settled(line), text, "{:?}", String::from_utf8_lossy(line));
        }
    }

    /// A line where `starts` holds at none of its `\r`s and ESCs is its own settled text:
    /// random lines of the bytes redraws are made of.
    #[test]
    fn a_line_without_a_redraw_start_is_its_own_settled_text() {
        let alphabet = b"a\r\x1b[012GKm";
        let mut rng = crate::test_support::XorShift(0x2545_f491_4f6c_dd1d);
        let mut unchanged = 0;
        for _ in 0..20_000 {
            let len = rng.below(9);
            let line: Vec<u8> = (0..=len)
                .map(|i| {
                    if i == len {
                        b'\n'
                    } else {
                        alphabet[rng.below(alphabet.len() as u64)]
                    }
                })
                .collect();
            let text = &line[..line.len() - 1];
            let marked = (0..text.len())
                .any(|i| matches!(text[i], b'\r' | ESC) && starts(&line[i..], i == 0));
            if !marked {
                assert_eq!(settled(text), text, "{:?}", String::from_utf8_lossy(text));
                unchanged += 1;
            }
        }
        assert!(unchanged > 1000, "{unchanged}");
        assert!(!starts(b"\r\n", false));
        assert!(starts(b"\r\r\n", false));
        assert!(starts(b"\x1b[K\n", true));
        assert!(starts(b"\x1b[1G\n", false));
        assert!(!starts(b"\x1b[31m\n", true));
        // grep --color: an erase after the text erases nothing kept; the line is its own.
        let grep = b"f.rs:12: \x1b[01;31m\x1b[Kneedle\x1b[m\x1b[K = v;";
        assert!(!starts(&grep[15..], false));
        assert_eq!(settled(grep), grep);
    }

    #[test]
    fn batches_are_scanned_once_for_any_redraw() {
        assert!(!any(b"a\nb\n\x1b[31mred\x1b[0m\n"));
        assert!(any(b"a\n10%\r20%\n"));
        assert!(any(b"x\n\x1b[1G\x1b[0Kdone\n"));
        assert!(any(b"50%\x1b[K\n"));
        assert!(!any(b"\x1b[10Gcolumn ten\n"));
        assert!(!any(b"GET /ok HTTP/1.1 OK\n\x1b[1mK\x1b[0m G"));
        assert!(any(b"G\x1b[G"));
        assert!(any(b"\x1b[2K"));
        assert!(any(b"x\x1b[0K"));
        assert_eq!(last(b"a\x1b[1Gb\rc\x1b[2Kd"), Some(8..12));
        assert_eq!(last(b"\x1b[0Knothing"), None);
        assert_eq!(settled_partial(b"10%\r20%\r"), b"20%");
        assert_eq!(settled_partial(b"\x1b[0K| building\x1b[1G"), b"| building");
        assert_eq!(settled_partial(b"30%\r40"), b"40");
    }
}
