//! Pipes whose ends are not inherited by children. macOS has no `pipe2`: the flag is set right
//! after `pipe`, on the thread that is the only one to spawn children, so no fork can come
//! between the two calls.

use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};

/// A pipe (read end, write end), both ends `FD_CLOEXEC`.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (reader, writer) = nix::unistd::pipe()?;
    for end in [&reader, &writer] {
        fcntl(end, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    Ok((reader, writer))
}

/// Writes what fits into `fd` now, without blocking: macOS has no `RWF_NOWAIT`, so never
/// (`Unsupported`); the caller's writer thread writes instead.
pub fn write_nowait(_fd: BorrowedFd<'_>, _bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Pipes on macOS grow by themselves as they fill (up to 64 KiB) and cannot be asked to:
/// nothing to do. `None`, as for a file that is not a pipe.
pub fn grow_pipe(_fd: BorrowedFd<'_>) -> Option<usize> {
    None
}
