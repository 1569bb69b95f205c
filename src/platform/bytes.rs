//! The one copy of the hot loop that is worth the processor's own instructions: a block of 32
//! bytes copied, and where its newlines (or control characters, or bytes JSON escapes) are,
//! as a bit mask (bit `i` set when byte `i` is one).
//!
//! The relay copies each line into the batch 32 bytes at a time and asks, for each block it
//! copies, whether a newline is in it (`output/batch.rs`). `memchr` per line costs about 70
//! instructions for a 100-byte line (a call through its dispatch, set-up, a tail); this is
//! four: two compares and two mask extractions, on the block loaded for the copy.
//! x86_64 has SSE2 in its baseline, so the instructions are always there; other processors
//! (Apple's arm64) get the plain loop, which the compiler vectorises as well as it can.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
    _mm_or_si128, _mm_set1_epi8, _mm_storeu_si128,
};

/// Copies `from` into `to` as two 16-byte halves, and gives the bit mask of the bytes `mark`
/// sets (to 0xff) in each half.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn copy_and_mark(to: &mut [u8; 32], from: &[u8; 32], mark: impl Fn(__m128i) -> __m128i) -> u32 {
    let (from, to) = (
        from.as_ptr().cast::<__m128i>(),
        to.as_mut_ptr().cast::<__m128i>(),
    );
    // SAFETY: both arrays are 32 bytes long, so each pointer and the one 16 bytes on are
    // valid for a 16-byte unaligned read (`from`) or write (`to`); they cannot overlap, as
    // one is borrowed mutably.
    let halves = unsafe {
        let low = _mm_loadu_si128(from);
        let high = _mm_loadu_si128(from.add(1));
        _mm_storeu_si128(to, low);
        _mm_storeu_si128(to.add(1), high);
        [low, high]
    };
    let [low, high] = halves.map(|half| _mm_movemask_epi8(mark(half)) as u32 & 0xffff);
    low | (high << 16)
}

/// Copies `from` into `to` and says where the newlines are in it: bit `i` of the result is
/// set when `from[i]` is `\n`. One load serves the copy and the search.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn copy_block(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    // SAFETY: `sse2` is part of every x86_64 target's baseline, so the processor has it.
    unsafe { copy_block_sse2(to, from) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn copy_block_sse2(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    let newline = _mm_set1_epi8(b'\n' as i8);
    copy_and_mark(to, from, |half| _mm_cmpeq_epi8(half, newline))
}

/// [`copy_block`] for text lines whose redraws are settled: the mask says which bytes are
/// control characters (below 0x20): the newline, and the `\r` or ESC every redraw starts
/// with, among them. One compare more than the newlines alone, and the relay needs no scan
/// of its own for redraws.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn copy_block_control(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    // SAFETY: `sse2` is part of every x86_64 target's baseline, so the processor has it.
    unsafe { copy_block_control_sse2(to, from) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn copy_block_control_sse2(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    let below_space = _mm_set1_epi8(0x1f);
    // An unsigned "at most 0x1f": the byte is its minimum with 0x1f.
    copy_and_mark(to, from, |half| {
        _mm_cmpeq_epi8(_mm_min_epu8(half, below_space), half)
    })
}

/// [`copy_block`] for JSON lines: the mask says which bytes a JSON string cannot take as they
/// are (a control character, `"`, `\\`) or must be checked as UTF-8 (past ASCII). The newline
/// is among them (a control character), so the caller tells the line's end from a byte to
/// escape by looking at the first byte marked: one mask, not one for newlines beside it.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn copy_block_json(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    // SAFETY: `sse2` is part of every x86_64 target's baseline, so the processor has it.
    unsafe { copy_block_json_sse2(to, from) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn copy_block_json_sse2(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    let (space, quote, backslash) = (
        _mm_set1_epi8(0x20),
        _mm_set1_epi8(b'"' as i8),
        _mm_set1_epi8(b'\\' as i8),
    );
    // A signed compare: bytes past ASCII are negative, so "below 0x20" takes them with the
    // control characters.
    copy_and_mark(to, from, |half| {
        _mm_or_si128(
            _mm_cmplt_epi8(half, space),
            _mm_or_si128(_mm_cmpeq_epi8(half, quote), _mm_cmpeq_epi8(half, backslash)),
        )
    })
}

/// Copies `from` into `to` and says where the newlines are in it: bit `i` of the result is
/// set when `from[i]` is `\n`.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn copy_block(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    *to = *from;
    from.iter()
        .enumerate()
        .fold(0, |mask, (i, &b)| mask | (u32::from(b == b'\n') << i))
}

/// [`copy_block`] for text lines whose redraws are settled: the mask of the control
/// characters (below 0x20).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn copy_block_control(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    *to = *from;
    from.iter()
        .enumerate()
        .fold(0, |mask, (i, &b)| mask | (u32::from(b < 0x20) << i))
}

/// [`copy_block`] for JSON lines: the mask of the bytes a JSON string cannot take as they are
/// or must check (control characters, the newline among them, `"`, `\\`, bytes past ASCII).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn copy_block_json(to: &mut [u8; 32], from: &[u8; 32]) -> u32 {
    *to = *from;
    from.iter()
        .enumerate()
        .fold(0, |mask, (i, &b)| mask | (u32::from(json_special(b)) << i))
}

/// A byte a JSON string cannot take as it is, or must check as UTF-8.
pub fn json_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newlines(block: &[u8; 32]) -> u32 {
        let mut copy = [0; 32];
        let mask = copy_block(&mut copy, block);
        assert_eq!(&copy, block);
        mask
    }

    #[test]
    fn every_newline_is_found_wherever_it_is() {
        for at in 0..32 {
            let mut block = [b'x'; 32];
            block[at] = b'\n';
            assert_eq!(newlines(&block), 1 << at, "newline at {at}");
            // Bytes that differ from '\n' in one bit, and the high bit, are not newlines.
            block[at] = b'\n' | 0x80;
            assert_eq!(newlines(&block), 0);
            block[at] = b'\x0b';
            assert_eq!(newlines(&block), 0);
        }
        assert_eq!(newlines(&[b'\n'; 32]), u32::MAX);
        assert_eq!(newlines(&[0; 32]), 0);
    }

    #[test]
    fn every_control_byte_is_found_wherever_it_is() {
        for b in 0..=255_u8 {
            for at in [0, 15, 16, 31] {
                let mut block = [b'x'; 32];
                block[at] = b;
                let mut copy = [0; 32];
                let control = copy_block_control(&mut copy, &block);
                assert_eq!(copy, block);
                assert_eq!(control, u32::from(b < 0x20) << at, "byte {b:#x} at {at}");
            }
        }
        assert_eq!(copy_block_control(&mut [0; 32], &[0x1f; 32]), u32::MAX);
    }

    #[test]
    fn every_byte_json_cares_about_is_found_wherever_it_is() {
        for b in 0..=255_u8 {
            for at in [0, 15, 16, 31] {
                let mut block = [b'x'; 32];
                block[at] = b;
                let mut copy = [0; 32];
                let special = copy_block_json(&mut copy, &block);
                assert_eq!(copy, block);
                assert_eq!(
                    special,
                    u32::from(json_special(b)) << at,
                    "byte {b:#x} at {at}"
                );
            }
        }
    }
}
