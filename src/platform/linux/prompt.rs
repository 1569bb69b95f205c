//! Whether an instance waits for someone to type, as the kernel tells: one of its processes is
//! in its terminal's foreground process group and blocked reading that terminal — in `read`
//! on it (Python's `input()`, a shell's `read`), or in `select`/`poll` with it among the fds
//! read (readline: pdb, irb). A spinner sleeps and a watcher waits in `epoll` or a futex:
//! neither gets the hint that a prompt waits.
//!
//! `/proc/PID/stat` gives the controlling terminal and its foreground group, `/proc/PID/syscall`
//! the blocked system call and its arguments, `/proc/PID/fd/N` which file an fd is, and
//! `/proc/PID/mem` (readable by procmux, the ancestor) the `pollfd` array or the `fd_set`.
//! Parsing is pure and unit-tested; anything unreadable counts as "not waiting".

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};

use nix::unistd::Pid;

/// System call numbers that wait for input: Linux's own, per architecture.
#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: &[u64] = &[0, 19]; // read, readv
    pub const POLL: &[u64] = &[7, 271]; // poll, ppoll
    pub const SELECT: &[u64] = &[23, 270]; // select, pselect6
}
#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: &[u64] = &[63, 65]; // read, readv
    pub const POLL: &[u64] = &[73]; // ppoll
    pub const SELECT: &[u64] = &[72]; // pselect6
}
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod nr {
    pub const READ: &[u64] = &[];
    pub const POLL: &[u64] = &[];
    pub const SELECT: &[u64] = &[];
}

/// At most this many fds of a `poll`, or bits of a `select`, are looked at.
const FDS_MAX: u64 = 1024;
const POLLIN: i16 = 0x1;

/// True when one of `pids` is blocked reading its controlling terminal, in the foreground.
pub fn waits_for_input(pids: &[Pid]) -> bool {
    pids.iter().any(|&pid| reads_terminal(pid).unwrap_or(false))
}

fn reads_terminal(pid: Pid) -> Option<bool> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let terminal = foreground_terminal(&stat)?;
    let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let (number, args) = parse_syscall(&syscall)?;
    let is_terminal =
        |fd: u64| fs::metadata(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|m| m.rdev() == terminal);
    if nr::READ.contains(&number) {
        return Some(is_terminal(args[0]));
    }
    let memory = || fs::File::open(format!("/proc/{pid}/mem")).ok();
    if nr::POLL.contains(&number) {
        let count = args[1].min(FDS_MAX) as usize;
        let mut bytes = vec![0u8; count * 8];
        memory()?.read_exact_at(&mut bytes, args[0]).ok()?;
        return Some(polled_fds(&bytes).any(is_terminal));
    }
    if nr::SELECT.contains(&number) && args[1] != 0 {
        let bits = args[0].min(FDS_MAX);
        let mut bytes = vec![0u8; bits.div_ceil(64) as usize * 8];
        memory()?.read_exact_at(&mut bytes, args[1]).ok()?;
        return Some(selected_fds(&bytes, bits).any(is_terminal));
    }
    Some(false)
}

/// The controlling terminal's device number from `/proc/PID/stat`, when the process has one
/// and is in its foreground process group (`pgrp == tpgid`).
fn foreground_terminal(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state ppid pgrp session tty_nr tpgid.
    let pgrp: i64 = fields.get(2)?.parse().ok()?;
    let terminal: u64 = fields.get(4)?.parse().ok()?;
    let foreground: i64 = fields.get(5)?.parse().ok()?;
    (terminal != 0 && pgrp == foreground).then_some(terminal)
}

/// `/proc/PID/syscall` of a blocked process: its number and six arguments (`running` or `-1`
/// for one that is not in a system call).
fn parse_syscall(text: &str) -> Option<(u64, [u64; 6])> {
    let mut words = text.split_whitespace();
    let number = words.next()?.parse().ok()?;
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(words.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some((number, args))
}

/// The fds of a `pollfd` array waited on for input.
fn polled_fds(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).filter_map(|entry| {
        let fd = i32::from_ne_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let events = i16::from_ne_bytes([entry[4], entry[5]]);
        (fd >= 0 && events & POLLIN != 0).then_some(fd as u64)
    })
}

/// The fds set in an `fd_set` of `bits` bits (64-bit words, native order).
fn selected_fds(bytes: &[u8], bits: u64) -> impl Iterator<Item = u64> + '_ {
    (0..bits).filter(move |&fd| {
        let word = (fd / 64) as usize * 8;
        let chunk: [u8; 8] = bytes[word..word + 8].try_into().unwrap_or([0; 8]);
        u64::from_ne_bytes(chunk) & (1 << (fd % 64)) != 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_foreground_terminal_from_stat() {
        let stat = "42 (python3 (x) y) S 1 42 42 34817 42 4194304 0 0";
        assert_eq!(foreground_terminal(stat), Some(34817));
        // In the background of its terminal, or without one.
        assert_eq!(foreground_terminal("42 (sh) S 1 42 42 34817 50 0"), None);
        assert_eq!(foreground_terminal("42 (sh) S 1 42 42 0 -1 0"), None);
        assert_eq!(foreground_terminal("garbage"), None);
    }

    #[test]
    fn syscall_lines() {
        assert_eq!(
            parse_syscall("0 0x0 0x55d0c8 0x400 0x0 0x0 0x0 0x7ffd 0x7f12\n"),
            Some((0, [0, 0x55d0c8, 0x400, 0, 0, 0]))
        );
        assert_eq!(parse_syscall("running\n"), None);
        assert_eq!(parse_syscall("-1 0x7ffd 0x7f12\n"), None);
    }

    #[test]
    fn fds_waited_on() {
        let mut pollfds = Vec::new();
        for (fd, events) in [(3i32, 0x4i16), (0, POLLIN), (-1, POLLIN)] {
            pollfds.extend_from_slice(&fd.to_ne_bytes());
            pollfds.extend_from_slice(&events.to_ne_bytes());
            pollfds.extend_from_slice(&0i16.to_ne_bytes());
        }
        assert_eq!(polled_fds(&pollfds).collect::<Vec<_>>(), [0]);
        let set = ((1u64 << 0) | (1 << 5)).to_ne_bytes();
        assert_eq!(selected_fds(&set, 6).collect::<Vec<_>>(), [0, 5]);
        assert_eq!(selected_fds(&set, 3).collect::<Vec<_>>(), [0]);
    }
}
