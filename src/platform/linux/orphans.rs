//! Orphans stay procmux's: it is their reaper (a process that leaves its group, or whose
//! parent dies, is still found under procmux in `/proc` and stopped), and its direct children
//! die with it even when it is SIGKILLed (the watchdog handles the rest of their trees).

use std::io;

use nix::sys::signal::Signal;

/// Orphans stay procmux's descendants (it reaps them): none outlives a stop unseen.
pub const ORPHANS_STAY: bool = true;

/// Makes procmux the reaper of every orphaned descendant (`PR_SET_CHILD_SUBREAPER`).
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)?;
    Ok(())
}

/// Makes the calling process receive SIGKILL when its parent dies (`PR_SET_PDEATHSIG`). Called
/// in a child between fork and exec: one system call, async-signal-safe, no allocation.
pub fn die_with_parent() -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    Ok(())
}

/// The watchdog is detached as it is spawned ([`leave_parent`] in its `pre_exec`), so procmux
/// waits only for its `exec`, not for a first process to start, fork and exit.
pub const DETACH_IN_SPAWN: bool = true;

/// Between fork and exec: the child forks again and its first process exits, so the program
/// it execs is nobody's child (see `sys::fork_and_leave`).
pub fn leave_parent() -> io::Result<()> {
    super::sys::fork_and_leave()
}
