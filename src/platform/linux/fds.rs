//! Pipes whose ends are not inherited by children, writes that never wait, and the pipe
//! procmux writes into grown.

use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// The size [`grow_pipe`] asks for: four batches. Not more: a pipe's pages count against its
/// user's `pipe-user-pages-soft` (64 MiB) from the moment it is grown, full or not, and past
/// that limit every new pipe of the user's holds two pages; at 256 KiB it takes 256
/// procmux stacks with piped output to reach it (at 1 MiB, 64).
pub const GROWN_PIPE: usize = 256 * 1024;

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

/// Grows the pipe `fd` is an end of to [`GROWN_PIPE`] bytes, where the system allows; never
/// shrinks it. Its size after, or `None` when `fd` is not a pipe.
///
/// Why: a pipe holds 64 KiB by default, one batch of procmux's. A reader that takes a pipe's
/// bytes in bursts (`cat`, a log router: each wakes, reads all there is, sleeps) left
/// procmux, with stdout on a pipe, writing part of a batch and handing the rest to its writer
/// thread (a copy and a wake-up) at one batch in eight: 4 writers of 100-byte lines through
/// `| cat` handed 430 pieces to the thread with 64 KiB, 37 with 256 KiB. The kernel fills a
/// pipe's pages as they are written, so a reader that keeps up costs no more memory; one
/// that falls behind holds this much in the kernel before procmux holds the children (its
/// queue's budget, `output::writer::BUDGET`, comes on top).
pub fn grow_pipe(fd: BorrowedFd<'_>) -> Option<usize> {
    let size = usize::try_from(fcntl(fd, FcntlArg::F_GETPIPE_SZ).ok()?).ok()?;
    if size >= GROWN_PIPE {
        return Some(size);
    }
    // Refused past the user's hard limit (EPERM), or above the system's `pipe-max-size`.
    match fcntl(fd, FcntlArg::F_SETPIPE_SZ(GROWN_PIPE as nix::libc::c_int)) {
        Ok(now) => usize::try_from(now).ok(),
        Err(_) => Some(size),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    /// A blocking pipe (as a shell gives procmux's stdout) is written as far as it has room
    /// and never waited on: all of a write that fits, part of one that does not, then
    /// `WouldBlock` until its reader takes some, and the bytes arrive in order.
    #[test]
    fn a_pipe_is_written_as_far_as_it_has_room_and_never_waited_on() {
        let (reader, writer) = pipe().unwrap();
        let capacity = nix::fcntl::fcntl(&writer, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap();
        let capacity = usize::try_from(capacity).unwrap();
        let bytes: Vec<u8> = (0..capacity + 10_000).map(|i| (i % 251) as u8).collect();
        let head = IoSlice::new(&bytes[..100]);
        assert_eq!(write_nowait(writer.as_fd(), &[head]).unwrap(), 100);
        // Two slices, the second past the pipe's room: only what fits is taken.
        let rest = [IoSlice::new(&bytes[100..200]), IoSlice::new(&bytes[200..])];
        let taken = write_nowait(writer.as_fd(), &rest).unwrap();
        assert!(100 < taken && taken < bytes.len() - 100, "took {taken}");
        let full = write_nowait(writer.as_fd(), &[IoSlice::new(b"more")]).unwrap_err();
        assert_eq!(full.kind(), io::ErrorKind::WouldBlock);
        let mut got = vec![0; 100 + taken];
        std::fs::File::from(reader).read_exact(&mut got).unwrap();
        assert_eq!(got, bytes[..100 + taken]);
    }

    /// A pipe grows once, is never shrunk, and only a pipe is touched.
    #[test]
    fn a_pipe_grows_and_nothing_else_is_touched() {
        let (_reader, writer) = pipe().unwrap();
        let grown = grow_pipe(writer.as_fd()).unwrap();
        assert_eq!(grown, GROWN_PIPE);
        let size = fcntl(&writer, FcntlArg::F_GETPIPE_SZ).unwrap();
        assert_eq!(usize::try_from(size).unwrap(), grown);
        assert_eq!(grow_pipe(writer.as_fd()), Some(grown));
        let file = tempfile::tempfile().unwrap();
        assert_eq!(grow_pipe(file.as_fd()), None);
        let pty = nix::pty::openpty(None, None).unwrap();
        assert_eq!(grow_pipe(pty.slave.as_fd()), None);
    }

    /// A file that cannot promise not to wait says so, and the caller writes another way.
    #[test]
    fn a_terminal_cannot_be_written_without_waiting() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let result = write_nowait(pty.slave.as_fd(), &[IoSlice::new(b"x")]);
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Unsupported);
    }
}
