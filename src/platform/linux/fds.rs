//! Pipes whose ends are not inherited by children.

use std::io;
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;

/// A pipe (read end, write end), both ends `O_CLOEXEC` from the start.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}
