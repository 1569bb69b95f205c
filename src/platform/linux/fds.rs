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

    /// A file that cannot promise not to wait says so, and the caller writes another way.
    #[test]
    fn a_terminal_cannot_be_written_without_waiting() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let result = write_nowait(pty.slave.as_fd(), &[IoSlice::new(b"x")]);
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Unsupported);
    }
}
