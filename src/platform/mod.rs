//! What differs by operating system, in one place: the rest of the crate calls these modules
//! and sees no `#[cfg]` (`tests/tidy.rs` checks that the source has none outside `platform/`).
//!
//! - [`process`] — the process table: a process's live descendants with their group and start
//!   time, a process's environment and working directory, a user's processes, the TCP sockets listening and who
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
//! - [`fds`] — pipes not inherited by children, a write that never waits (a pipe's
//!   `pwritev2(RWF_NOWAIT)` on Linux; none on macOS), and stdout's pipe grown (Linux's
//!   `F_SETPIPE_SZ`; nothing on macOS).
//! - [`memory`] — the code only start-up ran, let go of (`MADV_DONTNEED` on Linux; nothing
//!   on macOS).
//! - [`bytes`] — a block of bytes copied and its newlines found, with the processor's vector
//!   instructions: this one differs by processor, not by OS.
//!
//! Each OS has a folder with one file per concern, under the same names, with the same
//! functions and signatures: `linux/` (run and tested) and `macos/` (compiled and linted for
//! `x86_64-apple-darwin` and `aarch64-apple-darwin` by `.ci/run`, not yet run). The seam's
//! `unsafe` is in `macos/sys.rs`, `linux/sys.rs` and `bytes.rs`, each behind an
//! `#[allow(unsafe_code)]` on its `mod` line.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use self::linux::*;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub use self::macos::*;

// The newline search of the relay: by processor, not by OS; its SSE2 calls are `unsafe`.
#[allow(unsafe_code)]
pub mod bytes;
// What `sysctl(KERN_PROCARGS2)` returns, parsed: macOS's, but pure, so it is compiled and
// unit-tested on every OS.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod procargs;
mod table;
// The control socket as a file in a private directory: macOS's, but plain std, so compiled and
// unit-tested on every OS.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod socket_file;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!("procmux runs on Linux and macOS");
