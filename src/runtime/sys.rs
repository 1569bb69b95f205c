//! Thin wrappers over the OS calls the runtime needs: subreaping, fd limits, signalling
//! groups, code that runs between fork and exec, terminal ioctls, detaching. What differs by
//! OS among them is `platform`'s.
//!
//! This is the crate's one `unsafe` gate (`#[allow(unsafe_code)]` on its `mod` line, denied
//! everywhere else by `Cargo.toml`): each block says why it is sound in a `// SAFETY:`
//! comment, which clippy's `undocumented_unsafe_blocks` enforces.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, killpg, sigaction};
use nix::unistd::Pid;

use crate::platform;

/// Makes procmux the reaper of every orphaned descendant where the OS has one (see
/// `platform::orphans`), so a process that leaves its group, or whose parent dies, is still
/// ours to find and stop.
pub fn become_subreaper() -> io::Result<()> {
    platform::orphans::become_subreaper()
}

/// An open-files limit, as procmux found it.
#[derive(Debug, Clone, Copy)]
pub struct FdLimit {
    soft: u64,
    hard: u64,
}

/// Raises procmux's soft limit of open files to the hard limit (each process holds a few
/// fds), and returns the limit it was started with, which children get back: a program that
/// uses `select()` breaks above 1024.
pub fn raise_fd_limit() -> Option<FdLimit> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        // Best effort: with the old limit procmux still works for smaller formations.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    Some(FdLimit { soft, hard })
}

/// True when `signal` is ignored (`nohup` ignores SIGHUP; a script's `cmd &` ignores SIGINT):
/// procmux must then leave it ignored rather than install a handler.
pub fn is_ignored(signal: Signal) -> bool {
    let mut old = std::mem::MaybeUninit::<nix::libc::sigaction>::zeroed();
    // SAFETY: with a null new action, sigaction(2) only writes the current one into `old`,
    // a valid, writable `struct sigaction`.
    let result = unsafe { nix::libc::sigaction(signal as i32, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: zero-initialised, and filled in by the kernel when the call succeeded.
    let old = unsafe { old.assume_init() };
    result == 0 && old.sa_sigaction == nix::libc::SIG_IGN
}

/// Stops procmux itself, as the terminal's Ctrl-Z would have (its handler replaced that).
pub fn stop_self() {
    let _ = nix::sys::signal::raise(Signal::SIGSTOP);
}

pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Gives `command`'s child a clean start, whatever procmux inherited or changed for itself:
/// every signal at its default disposition (a script's `procmux start &` ignores SIGINT and
/// SIGQUIT, `nohup` ignores SIGHUP, and `exec` would pass that on), an empty signal mask, and
/// the open-files limit procmux was started with (`fd_limit`). It also dies with procmux
/// where the OS can say so (`platform::orphans::die_with_parent`; the watchdog handles the
/// rest of its tree).
pub fn reset_child_state(command: &mut Command, fd_limit: Option<FdLimit>) {
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called: it only builds plain values on the stack and
    // calls die_with_parent (prctl(2), or nothing), sigaction(2), sigprocmask(2) and
    // setrlimit(2), all plain system calls, and it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            platform::orphans::die_with_parent()?;
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            for signal in Signal::iterator() {
                if signal != Signal::SIGKILL && signal != Signal::SIGSTOP {
                    // Failure would leave one disposition as inherited; nothing better to do.
                    let _ = sigaction(signal, &default);
                }
            }
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&SigSet::empty()),
                None,
            )?;
            if let Some(limit) = fd_limit {
                use nix::sys::resource::{Resource, setrlimit};
                setrlimit(Resource::RLIMIT_NOFILE, limit.soft, limit.hard)?;
            }
            Ok(())
        });
    }
}

/// Forks, letting the parent return `true` (it should exit at once) and the child `false`:
/// the child is then neither its caller's child nor (after the caller's exit) in anybody's
/// wait list, which is how the watchdog detaches. Must be called before any thread starts.
pub fn fork_detached() -> io::Result<bool> {
    // SAFETY: only called by the watchdog right after it started, before it spawned any
    // thread: after fork the child may call anything a single-threaded process may.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { .. } => Ok(true),
        nix::unistd::ForkResult::Child => Ok(false),
    }
}

/// Makes `command`'s program nobody's child: its first process forks and exits between fork
/// and exec (`platform::orphans::leave_parent`), so `spawn` returns once the program is
/// exec'd, and `wait` reaps that first process at once.
pub fn leave_parent_on_spawn(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and makes one raw system
    // call (fork), then either `_exit`s or returns to exec; it allocates nothing.
    unsafe {
        command.pre_exec(platform::orphans::leave_parent);
    }
}

/// Sets `FD_CLOEXEC`, so the fd does not leak into other children.
pub fn set_cloexec(fd: impl AsFd) -> io::Result<()> {
    use nix::fcntl::FdFlag;
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

/// Makes `command`'s child the leader of a new session with no controlling terminal: a
/// terminal closing (SIGHUP to its sessions) or Ctrl-C there does not reach it.
pub fn new_session(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and calls only setsid(2),
    // async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
}

/// Makes `command`'s child the leader of a new session whose controlling terminal is its
/// stdin (a pty slave): closing the pty then hangs up the whole session, and the child's
/// process group is the session's (the child must not also ask for `process_group(0)`:
/// `setsid` refuses a group leader).
pub fn make_controlling_terminal(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and calls only setsid(2)
    // and ioctl(2), both async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            if nix::libc::ioctl(0, platform::terminal::SET_CONTROLLING_TERMINAL, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The window size of the terminal on `fd`, if it is one.
pub fn window_size(fd: impl AsFd) -> Option<nix::pty::Winsize> {
    let mut size = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively borrowed `size`.
    let result = unsafe {
        nix::libc::ioctl(
            fd.as_fd().as_raw_fd(),
            nix::libc::TIOCGWINSZ,
            &mut size as *mut _,
        )
    };
    (result == 0 && size.ws_col > 0).then_some(size)
}

/// The size (rows, columns) of the terminal on stdin, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    window_size(std::io::stdin()).map(|s| (s.ws_row, s.ws_col))
}

/// Sets the window size of the pty whose master is `fd`; the kernel sends SIGWINCH to the
/// pty's foreground process group.
pub fn set_window_size(fd: impl AsFd, size: &nix::pty::Winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one `winsize` from the valid `size`.
    let result = unsafe {
        nix::libc::ioctl(
            fd.as_fd().as_raw_fd(),
            nix::libc::TIOCSWINSZ,
            size as *const _,
        )
    };
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub fn signal_group(pgid: Pid, signal: Signal) {
    // ESRCH (group empty) is the expected race; EPERM cannot happen for our own children.
    let _ = killpg(pgid, signal);
}

/// True while process group `pgid` has a member (zombies included until reaped).
pub fn group_alive(pgid: Pid) -> bool {
    killpg(pgid, None).is_ok()
}

/// Sends `signal` to one process, ignoring one that is already gone.
pub fn signal_process(pid: Pid, signal: Signal) {
    let _ = kill(pid, signal);
}

/// Counts heap allocations per thread, so unit tests can prove the hot path allocates nothing.
#[cfg(test)]
pub(crate) mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    /// Allocations made so far on the calling thread.
    pub(crate) fn this_thread() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }

    struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
    // const-initialised thread-local `Cell`, which itself never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            // SAFETY: same contract as ours, passed through.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours, passed through.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            // SAFETY: same contract as ours, passed through.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;
}
