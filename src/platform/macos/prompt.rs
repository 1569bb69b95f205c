//! Whether an instance waits at a prompt. Linux tells it through `/proc/PID/syscall` (the
//! blocked system call and its arguments); macOS has no such interface for an unprivileged
//! process (reading another task's state needs `task_for_pid`, which needs entitlements), so
//! procmux does not know, and the one-time hint that a prompt waits is never given on macOS.
//! Said in the README's macOS section.

use nix::unistd::Pid;

/// Never known on macOS (see above): false.
pub fn waits_for_input(_pids: &[Pid]) -> bool {
    false
}
