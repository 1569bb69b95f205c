//! Code that only start-up ran, let go of.
//!
//! The kernel maps a program's code and read-only data in 64 KiB blocks around each page
//! touched, and keeps them mapped for the life of the process. The dynamic loader and libc's
//! start-up, clap's parse of the command line and the reading of the project touch about
//! 2 MiB of code that a running supervisor never runs again; mapped, it is most of procmux's
//! resident memory. `MADV_DONTNEED` on those mappings drops their pages from procmux's page
//! tables (the page cache keeps them, shared with every other process using them); a page
//! touched again is mapped again, from the page cache, at the cost of a minor fault.
//!
//! Only mappings whose pages are all the file's are let go: read-only, of a file, with no page
//! of their own, resident or swapped out (`Anonymous: 0 kB` and `Swap: 0 kB`; relocated
//! read-only data has some, and keeps them: under memory pressure its pages are in swap, not
//! resident, and dropping them would bring back the file's unrelocated bytes). A page brought
//! back by a touch then holds exactly what it held. These are the pages the kernel itself
//! takes away from a process whenever memory runs short, and brings back the same way:
//! letting them go sooner adds no new way to fail.

use std::fs;

/// Drops every page of procmux's clean file mappings (see the module's doc). Best effort:
/// any failure leaves the pages mapped, which costs memory, never correctness.
pub fn release_code() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in clean_file_mappings(&smaps) {
        let _ = super::sys::unmap_clean(start, end - start);
    }
}

/// The address ranges of the mappings in `smaps` (`/proc/PID/smaps`' format) that are of a
/// file (a path), not writable, and hold no anonymous page, resident (`Anonymous:`) or
/// swapped out (`Swap:`): both fields must be there and say 0.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    // The mapping whose fields are being read, while it may still qualify, and which of
    // its two fields have said 0 so far.
    let mut current = None;
    let (mut no_anonymous, mut no_swap) = (false, false);
    for line in smaps.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(first) = fields.next() else { continue };
        if first.ends_with(':') {
            let zero = fields.next() == Some("0");
            match first {
                "Anonymous:" => no_anonymous = zero,
                "Swap:" => no_swap = zero,
                _ => continue,
            }
            if !zero {
                current = None;
            } else if no_anonymous
                && no_swap
                && let Some(range) = current.take()
            {
                ranges.push(range);
            }
            continue;
        }
        // A mapping's header: range, permissions, offset, device, inode, path.
        (no_anonymous, no_swap) = (false, false);
        let (perms, path) = (fields.next(), fields.nth(3));
        current = match (first.split_once('-'), perms, path) {
            (Some((start, end)), Some(perms), Some(path))
                if path.starts_with('/') && perms.as_bytes().get(1) == Some(&b'-') =>
            {
                match (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                ) {
                    (Ok(start), Ok(end)) if start < end => Some((start, end)),
                    _ => None,
                }
            }
            _ => None,
        };
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a00a1000 r--p 00000000 fe:01 1234 /usr/bin/procmux
Size:                644 kB
Rss:                 312 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me sd
55d0a00a1000-55d0a0374000 r-xp 000a1000 fe:01 1234 /usr/bin/procmux
Rss:                1040 kB
Anonymous:             0 kB
Swap:                  0 kB
55d0a0374000-55d0a039d000 r--p 00374000 fe:01 1234 /usr/bin/procmux
Rss:                 168 kB
Anonymous:           168 kB
Swap:                  0 kB
55d0a039d000-55d0a039f000 rw-p 0039d000 fe:01 1234 /usr/bin/procmux
Anonymous:             8 kB
Swap:                  0 kB
55d0a1000000-55d0a1021000 rw-p 00000000 00:00 0 [heap]
Anonymous:           132 kB
Swap:                  0 kB
7f0000000000-7f0000010000 r-xp 00000000 fe:01 99 /opt/with space/lib.so (deleted)
Anonymous:             0 kB
Swap:                  0 kB
7f0000010000-7f0000020000 r-xp 00000000 fe:01 99 /opt/lib.so
Anonymous:             4 kB
Swap:                  0 kB
7f0000020000-7f0000030000 rw-s 00000000 00:01 7 /dev/zero
Anonymous:             0 kB
Swap:                  0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
Swap:                  0 kB
7f0000040000-7f0000050000 r--p 00000000 00:00 0
Anonymous:             0 kB
Swap:                  0 kB
55d0a0400000-55d0a0429000 r--p 00374000 fe:01 1234 /usr/bin/procmux
Rss:                   0 kB
Anonymous:             0 kB
Swap:                168 kB
";

    #[test]
    fn only_clean_read_only_file_mappings_are_taken() {
        assert_eq!(
            clean_file_mappings(SMAPS),
            vec![
                (0x55d0a0000000, 0x55d0a00a1000),
                (0x55d0a00a1000, 0x55d0a0374000),
                (0x7f0000000000, 0x7f0000010000),
            ]
        );
    }

    /// Relocated read-only data (RELRO) whose private pages are in swap shows no resident
    /// anonymous page: dropping it would bring back the file's unrelocated bytes (a crash on
    /// the next use of a vtable), so its `Swap:` keeps it, in either order of the fields.
    #[test]
    fn a_mapping_with_pages_in_swap_is_not_taken() {
        for fields in [
            "Anonymous: 0 kB\nSwap: 8 kB\n",
            "Swap: 8 kB\nAnonymous: 0 kB\n",
            "Anonymous: 4 kB\nSwap: 0 kB\n",
        ] {
            let smaps =
                format!("7f0000000000-7f0000010000 r--p 00000000 fe:01 99 /lib.so\n{fields}");
            assert!(clean_file_mappings(&smaps).is_empty(), "{fields:?}");
        }
        let clean = "7f0000000000-7f0000010000 r--p 00000000 fe:01 99 /lib.so\n\
                     Swap: 0 kB\nAnonymous: 0 kB\n";
        assert_eq!(
            clean_file_mappings(clean),
            vec![(0x7f0000000000, 0x7f0000010000)]
        );
    }

    #[test]
    fn a_mapping_whose_fields_are_cut_off_is_not_taken() {
        let cut = "7f0000000000-7f0000010000 r-xp 00000000 fe:01 99 /lib.so\nRss: 4 kB\n\
                   7f0000010000-7f0000020000 r-xp 00000000 fe:01 99 /lib.so\n\
                   Anonymous: 0 kB\n\
                   7f0000020000-7f0000030000 r-xp 00000000 fe:01 99 /lib.so\nSwap: 0 kB\n";
        assert!(clean_file_mappings(cut).is_empty());
        for garbage in [
            "",
            "\n\n",
            "zz-yy r-xp 0 0 0 /x\nAnonymous: 0 kB",
            "Anonymous: 0 kB",
        ] {
            assert!(clean_file_mappings(garbage).is_empty(), "{garbage:?}");
        }
    }

    /// The pages of this test binary's own code, let go, come back when run: the program
    /// goes on, and what was resident before is counted again only as it is touched.
    #[test]
    fn code_let_go_is_mapped_again_when_run() {
        let resident = || -> usize {
            let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
            let mut total = 0;
            let mut in_clean = false;
            let clean = clean_file_mappings(&smaps);
            for line in smaps.lines() {
                let first = line.split_ascii_whitespace().next().unwrap_or("");
                if let Some((start, _)) = first.split_once('-') {
                    let start = usize::from_str_radix(start, 16).unwrap_or(0);
                    in_clean = clean.iter().any(|&(s, _)| s == start);
                } else if in_clean && first == "Rss:" {
                    total += line
                        .split_ascii_whitespace()
                        .nth(1)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap();
                }
            }
            total
        };
        // Read-only data and code the release will take, used before and after it.
        let checksum = || {
            SMAPS
                .bytes()
                .fold(0_u32, |sum, b| sum.rotate_left(5) ^ u32::from(b))
        };
        let (sum, mappings) = (checksum(), clean_file_mappings(SMAPS));
        let before = resident();
        release_code();
        let after = resident();
        assert!(
            after < before,
            "{after} KiB resident after, {before} before"
        );
        // Mapped again when touched: the data reads as it did, the code computes as it did.
        assert_eq!(checksum(), sum);
        assert_eq!(clean_file_mappings(SMAPS), mappings);
    }
}
