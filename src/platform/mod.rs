//! What differs by operating system, in one place: the rest of the crate calls these modules
//! and sees no `#[cfg]` (`tests/tidy.rs` checks that the source has none outside `platform/`).
//!
//! - [`process`] — the process table: a process's live descendants with their group and start
//!   time, a process's environment, a user's processes, the TCP sockets listening and who
//!   holds them, whether a process is busy on a CPU;
//! - [`prompt`] — whether an instance waits at a prompt (blocked reading its terminal);
//! - [`socket`] — the control channel's address, and the uid and pid of the process at the
//!   other end of a connection;
//! - [`orphans`] — what keeps orphans procmux's: becoming a child subreaper, and a child's
//!   death with procmux (`PR_SET_PDEATHSIG`);
//! - [`terminal`] — the terminal requests whose numbers differ;
//! - [`watch`] — file events under a tree, for restarts on change (the rules are the
//!   runtime's).
//!
//! Each OS has a folder with one file per concern, under the same names, with the same
//! functions and signatures.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use self::linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("procmux runs on Linux (and, compiled and reviewed only, macOS)");
