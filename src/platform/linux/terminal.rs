//! Terminal request numbers, as `ioctl(2)` takes them here.

/// Makes a terminal the calling session leader's controlling terminal.
pub const SET_CONTROLLING_TERMINAL: nix::libc::Ioctl = nix::libc::TIOCSCTTY;
