//! The layout `sysctl(KERN_PROCARGS2)` returns on macOS, parsed: `argc` (a native `int`), the
//! executable's path, NUL padding, `argc` arguments, then the environment, each string ended
//! by a NUL, the environment by an empty string. Pure, so it is unit-tested on every OS.

/// The `NAME=value` entries of a `KERN_PROCARGS2` buffer; none when it is malformed.
pub fn environment(buffer: &[u8]) -> impl Iterator<Item = &[u8]> {
    let strings = buffer
        .get(..4)
        .and_then(|head| {
            let argc = i32::from_ne_bytes(head.try_into().ok()?);
            let argc = usize::try_from(argc).ok()?;
            let rest = &buffer[4..];
            // The path, then its padding: the arguments start at the next non-NUL byte.
            let path_end = rest.iter().position(|&b| b == 0)?;
            let args_start = path_end + rest[path_end..].iter().position(|&b| b != 0)?;
            let mut strings = rest[args_start..].split(|&b| b == 0);
            for _ in 0..argc {
                strings.next()?;
            }
            Some(strings)
        })
        .into_iter()
        .flatten();
    strings.take_while(|entry| !entry.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(argc: i32, rest: &[u8]) -> Vec<u8> {
        let mut bytes = argc.to_ne_bytes().to_vec();
        bytes.extend_from_slice(rest);
        bytes
    }

    #[test]
    fn the_environment_after_the_arguments() {
        let bytes = buffer(
            2,
            b"/bin/sleep\0\0\0\0sleep\x0030\0PATH=/bin\0PROCMUX_TREE=c:1\0\0\0junk",
        );
        let entries: Vec<&[u8]> = environment(&bytes).collect();
        assert_eq!(entries, [&b"PATH=/bin"[..], b"PROCMUX_TREE=c:1"]);
        // No environment, no padding.
        let bytes = buffer(1, b"/bin/true\0true\0\0");
        assert_eq!(environment(&bytes).count(), 0);
    }

    #[test]
    fn malformed_buffers_have_no_environment() {
        for bytes in [
            Vec::new(),
            vec![1, 0],
            buffer(-1, b"/bin/x\0x\0A=1\0"),
            buffer(3, b"/bin/x\0x\0A=1\0"),
            buffer(1, b"/bin/x-no-end"),
            buffer(1, b"/bin/x\0\0\0"),
        ] {
            assert_eq!(environment(&bytes).count(), 0, "{bytes:?}");
        }
    }
}
