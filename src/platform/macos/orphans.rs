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
//! stack's `PROCMUX_TREE` cookie, wherever it was reparented. What is not covered: a daemon
//! that left the group with `setsid` and whose parent exited before the first scan saw it, at
//! a normal stop (the watchdog's cookie sweep covers only a procmux that died). Said in the
//! README's macOS section.

use std::io;

/// No subreaper on macOS: nothing to do (see the module's documentation).
pub fn become_subreaper() -> io::Result<()> {
    Ok(())
}

/// No parent-death signal on macOS: nothing to do between fork and exec (the watchdog covers
/// a procmux that dies).
pub fn die_with_parent() -> io::Result<()> {
    Ok(())
}
