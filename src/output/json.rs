//! JSON-lines output: string escaping and base64, writing into a caller's sink without
//! allocating.
//!
//! A line that is valid UTF-8 becomes a JSON string as is (with `"`, `\` and control
//! characters escaped). A line that is not keeps the string readable, each invalid byte
//! sequence replaced by U+FFFD, and carries its exact bytes in a `line_base64` field, so the
//! log is lossless.

/// Appends `text` as the inside of a JSON string (no quotes) through `put`, invalid UTF-8
/// replaced by U+FFFD. Returns true when `text` was valid UTF-8.
pub fn escape(text: &[u8], put: &mut dyn FnMut(&[u8])) -> bool {
    // The common case: nothing to escape at all.
    let clean = match scan(text) {
        Scan::Ascii => true,
        Scan::NonAscii => std::str::from_utf8(text).is_ok(),
        Scan::Escape => false,
    };
    if clean {
        put(text);
        return true;
    }
    let mut valid = true;
    for chunk in text.utf8_chunks() {
        escape_str(chunk.valid().as_bytes(), put);
        if !chunk.invalid().is_empty() {
            valid = false;
            put("\u{fffd}".as_bytes());
        }
    }
    valid
}

enum Scan {
    /// Nothing to escape, all ASCII: valid as it is.
    Ascii,
    /// Nothing to escape, but bytes past ASCII: valid if they are UTF-8.
    NonAscii,
    /// A quote, a backslash or a control character.
    Escape,
}

/// One pass over `text`, a block of 32 bytes at a time with no early exit inside a block, so
/// the compiler turns each block into a few vector instructions (a byte-at-a-time `any`
/// cost ten instructions a byte, more than the rest of the JSON relay together).
fn scan(text: &[u8]) -> Scan {
    fn specials(block: &[u8]) -> u8 {
        block.iter().fold(0, |acc, &b| {
            acc | u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\')
        })
    }
    let mut blocks = text.chunks_exact(32);
    let mut high = 0;
    for block in &mut blocks {
        if specials(block) != 0 {
            return Scan::Escape;
        }
        high |= block.iter().fold(0, |acc, &b| acc | b);
    }
    let rest = blocks.remainder();
    if specials(rest) != 0 {
        return Scan::Escape;
    }
    high |= rest.iter().fold(0, |acc, &b| acc | b);
    if high & 0x80 == 0 {
        Scan::Ascii
    } else {
        Scan::NonAscii
    }
}

fn escape_str(bytes: &[u8], put: &mut dyn FnMut(&[u8])) {
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => {
                put(&bytes[from..i]);
                put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
                from = i + 1;
                continue;
            }
            _ => continue,
        };
        put(&bytes[from..i]);
        put(escaped);
        from = i + 1;
    }
    put(&bytes[from..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the standard, padded base64 of `bytes` through `put`.
pub fn base64(bytes: &[u8], put: &mut dyn FnMut(&[u8])) {
    let mut out = [0u8; 4 * 256];
    for block in bytes.chunks(3 * 256) {
        let mut n = 0;
        for group in block.chunks(3) {
            let b = [
                group[0],
                *group.get(1).unwrap_or(&0),
                *group.get(2).unwrap_or(&0),
            ];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            out[n] = BASE64[(v >> 18) as usize & 63];
            out[n + 1] = BASE64[(v >> 12) as usize & 63];
            out[n + 2] = if group.len() > 1 {
                BASE64[(v >> 6) as usize & 63]
            } else {
                b'='
            };
            out[n + 3] = if group.len() > 2 {
                BASE64[v as usize & 63]
            } else {
                b'='
            };
            n += 4;
        }
        put(&out[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &[u8]) -> (String, bool) {
        let mut out = Vec::new();
        let valid = escape(text, &mut |b| out.extend_from_slice(b));
        (String::from_utf8(out).unwrap(), valid)
    }

    fn encoded(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        base64(bytes, &mut |b| out.extend_from_slice(b));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(escaped(b"plain"), ("plain".into(), true));
        assert_eq!(
            escaped(b"a\"b\\c\n\r\t"),
            ("a\\\"b\\\\c\\n\\r\\t".into(), true)
        );
        assert_eq!(
            escaped(b"\x00\x1b[1m\x7f"),
            ("\\u0000\\u001b[1m\x7f".into(), true)
        );
        assert_eq!(escaped("é€😀".as_bytes()), ("é€😀".into(), true));
    }

    #[test]
    fn every_special_byte_is_found_wherever_it_is() {
        // Positions in the first block, across a block boundary and in the remainder.
        for len in [1, 31, 32, 33, 64, 100] {
            for at in 0..len {
                for special in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    assert!(matches!(scan(&text), Scan::Escape), "{len} {at} {special}");
                    let (out, _) = escaped(&text);
                    assert!(out.len() > len, "{len} {at} {special}: {out:?}");
                }
                let mut text = vec![b'a'; len];
                text[at] = 0x80;
                assert!(matches!(scan(&text), Scan::NonAscii), "{len} {at}");
                assert!(!escaped(&text).1, "a lone 0x80 is not UTF-8");
            }
            assert!(matches!(scan(&vec![0x7f; len]), Scan::Ascii));
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_reported() {
        assert_eq!(escaped(b"a\xffb\xc3"), ("a\u{fffd}b\u{fffd}".into(), false));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(encoded(input.as_bytes()), expected);
        }
        let long: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        assert_eq!(encoded(&long).len(), 5000usize.div_ceil(3) * 4);
    }
}
