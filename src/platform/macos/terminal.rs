//! Terminal request numbers, as `ioctl(2)` takes them here (`unsigned long`; the constants
//! are declared narrower).

/// Makes a terminal the calling session leader's controlling terminal.
pub const SET_CONTROLLING_TERMINAL: nix::libc::c_ulong = nix::libc::TIOCSCTTY as nix::libc::c_ulong;
