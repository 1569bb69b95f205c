//! Pipes whose ends are not inherited by children, and writes that never wait.

use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;

/// A pipe (read end, write end), both ends `O_CLOEXEC` from the start.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Writes what fits into `fd` now, without blocking and without setting `O_NONBLOCK` (a flag
/// shared with the shell): `WouldBlock` when nothing fits, `Unsupported` where the file
/// cannot do it (a terminal; a pipe before Linux 5.x's `RWF_NOWAIT` for pipes).
pub fn write_nowait(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    super::sys::write_nowait(fd, bufs).map_err(|e| match e.raw_os_error() {
        Some(nix::libc::EOPNOTSUPP | nix::libc::EINVAL | nix::libc::ENOSYS) => {
            io::ErrorKind::Unsupported.into()
        }
        _ => e,
    })
}
