//! Linux: `/proc`, abstract sockets with `SO_PEERCRED`, `prctl`.

pub mod fds;
pub mod memory;
pub mod orphans;
pub mod process;
pub mod prompt;
mod sock_diag;
pub mod socket;
#[allow(unsafe_code)]
mod sys;
pub mod terminal;
pub mod watch;
