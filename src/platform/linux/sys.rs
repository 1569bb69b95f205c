//! Linux's only `unsafe` (`#[allow(unsafe_code)]` on its `mod` line): `pwritev2`, which nix
//! does not wrap, `madvise`, which takes an address, and a raw `fork` between fork and exec.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;

/// One `pwritev2(fd, bufs, -1, RWF_NOWAIT)`: what fits into `fd` now, written without
/// blocking and without touching the file's flags (shared with the shell).
pub fn write_nowait(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // More than IOV_MAX slices is EINVAL, which the caller takes as "write them another way".
    let count = libc::c_int::try_from(bufs.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` (std documents it), `bufs` holds
    // `count` of them and outlives the call, and `fd` is open while it is borrowed.
    let written = unsafe {
        libc::pwritev2(
            fd.as_raw_fd(),
            bufs.as_ptr().cast::<libc::iovec>(),
            count,
            -1,
            libc::RWF_NOWAIT,
        )
    };
    usize::try_from(written).map_err(|_| io::Error::last_os_error())
}

/// `madvise(MADV_DONTNEED)` over `len` bytes at `start`: the mapping's pages leave this
/// process's page tables; a later touch maps them again from the file.
///
/// The caller passes only mappings of files that are not writable and hold no page of
/// their own, resident or swapped out (`Anonymous: 0` and `Swap: 0` in smaps), whose
/// contents a touch brings back unchanged.
pub fn unmap_clean(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: MADV_DONTNEED changes no mapping, only which of its pages are present; on a
    // read-only file mapping with no private page, a page brought back by a touch holds what
    // it held (the file's bytes), so no memory the program reads changes.
    let done = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Between fork and exec: forks again, the calling process exits at once (`_exit(0)`) and the
/// new one returns, to go on to exec. What it execs is then nobody's child but init's (or
/// the nearest subreaper's), and the caller that spawned it waits only for its `exec`.
/// The raw system call, not libc's `fork`: after a fork of a process with threads only
/// async-signal-safe calls may follow, and libc's runs its at-fork handlers.
pub fn fork_and_leave() -> io::Result<()> {
    let flags = libc::c_long::from(libc::SIGCHLD);
    // The flags come first but on s390, where the new stack (none: 0) does; the arguments after
    // these two are all 0 whatever their order.
    let (first, second) = if cfg!(target_arch = "s390x") {
        (0, flags)
    } else {
        (flags, 0)
    };
    // SAFETY: `clone` with only SIGCHLD is a plain fork: it shares nothing with the caller and
    // touches no memory of this process; in the child, which returns 0, the caller only
    // execs (std's spawn after its pre_exec closures); the parent calls only `_exit(2)`,
    // async-signal-safe, which runs no destructor nor at-exit handler.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            first,
            second,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    match pid {
        0 => Ok(()),
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: see above.
        _ => unsafe { libc::_exit(0) },
    }
}
