//! macOS has neither a child subreaper nor a parent-death signal. What that changes:
//!
//! - A descendant whose parent exits (a daemon's double fork) is reparented to launchd, not
//!   to procmux: it leaves procmux's descendants, so the scans that find escaped processes
//!   see it only while its parent lives, and `waitpid` never reports it.
//! - A direct child is not killed by the kernel when procmux is SIGKILLed.
//!
//! How procmux still stops them: a stop signals the instance's whole process group, which a
//! daemon that forked without `setsid` is still in; every group procmux created or saw is told
//! to the watchdog, which learns of procmux's death from the end of its pipe (the kernel
//! closes it whatever killed procmux — what kqueue's `EVFILT_PROC`/`NOTE_EXIT` would say) and
//! then kills those groups and every process of the user whose environment carries the
//! stack's `PROCMUX_TREE` cookie, wherever it was reparented. After a clean stop too (where
//! Linux has nothing left to find), the watchdog stops what still carries the cookie:
//! SIGTERM, then SIGKILL (`runtime::watchdog`). What is not covered: a daemon that rewrote
//! its environment (PostgreSQL's process titles) and also left the group and its parent
//! before procmux's scans saw it. Said in the README's macOS section.

use std::io;

/// Orphans leave procmux's tree (launchd reaps them): the watchdog looks for leftovers
/// by their cookie after a clean stop too.
pub const ORPHANS_STAY: bool = false;

/// No subreaper on macOS: nothing to do (see the module's documentation).
pub fn become_subreaper() -> io::Result<()> {
    Ok(())
}

/// No parent-death signal on macOS: nothing to do between fork and exec (the watchdog covers
/// a procmux that dies).
pub fn die_with_parent() -> io::Result<()> {
    Ok(())
}

/// The watchdog detaches itself once it runs (`fork` there, with no thread yet): a raw fork
/// between fork and exec is Linux's.
pub const DETACH_IN_SPAWN: bool = false;

/// Not used on macOS ([`DETACH_IN_SPAWN`] is false).
pub fn leave_parent() -> io::Result<()> {
    Ok(())
}
