//! macOS: libproc and `sysctl`, a socket file in a private directory with `getpeereid` and
//! `LOCAL_PEERPID`, FSEvents (through `notify`). Compiled and linted for both Apple targets by
//! `.ci/run`; not yet run (see the README's macOS section).

pub mod fds;
pub mod memory;
pub mod orphans;
pub mod process;
pub mod prompt;
pub mod socket;
#[allow(unsafe_code)]
mod sys;
pub mod terminal;
pub mod watch;
