//! The watchdog: stops every process group even when procmux itself is killed with SIGKILL.
//!
//! procmux starts `procmux __watchdog` once, before anything else, with a pipe as its stdin,
//! and writes the id of every process group it creates into that pipe. The watchdog detaches
//! (it forks, and its parent exits at once, so it is neither procmux's child nor in its
//! process group, and a terminal's Ctrl-C does not reach it), ignores the usual termination
//! signals, and waits. When procmux ends normally it writes `done` first and the watchdog
//! just exits; when the pipe reaches EOF without `done`, procmux died without cleaning up, and
//! the watchdog sends SIGKILL to every group it was told about. Direct children also get
//! `PR_SET_PDEATHSIG` (see `sys::reset_child_state`), which covers a child in the
//! window before its group id reached the watchdog.

use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use super::sys;

/// The hidden subcommand that runs the watchdog.
pub const SUBCOMMAND: &str = "__watchdog";

/// procmux's end of the pipe.
pub struct Watchdog {
    pipe: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts the watchdog and waits until it has detached.
    pub fn start() -> io::Result<Watchdog> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // It never writes; holding procmux's stderr would keep a reader of procmux's
            // stderr waiting after procmux exited.
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child.stdin.take();
        // The first process forks the real watchdog and exits at once.
        child.wait()?;
        Ok(Watchdog { pipe })
    }

    /// Tells the watchdog about a new process group.
    pub fn watch(&mut self, pgid: Pid) {
        if let Some(pipe) = &mut self.pipe
            && writeln!(pipe, "{pgid}").is_err()
        {
            // The watchdog is gone (someone killed it): procmux works on without it.
            self.pipe = None;
        }
    }

    /// procmux is exiting cleanly: nothing for the watchdog to do. Waits (at most a second)
    /// until the watchdog has closed its end, so that it is gone when procmux is.
    pub fn dismiss(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            if writeln!(pipe, "done").is_err() {
                return;
            }
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            use std::os::fd::AsFd;
            // No events asked for: poll wakes only for POLLERR, when the last reader is gone.
            let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::empty())];
            let _ = poll(&mut fds, PollTimeout::from(1000u16));
        }
    }
}

/// The watchdog's own `main`: `procmux __watchdog`.
pub fn serve() -> i32 {
    match sys::fork_detached() {
        Ok(true) => return 0,
        Ok(false) => {}
        // Without a detached watchdog procmux still works; it only loses the SIGKILL guard.
        Err(_) => return 1,
    }
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&ignored));
    }
    let mut groups = Vec::new();
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line == "done" {
            return 0;
        }
        if let Ok(pgid) = line.trim().parse::<i32>() {
            groups.push(Pid::from_raw(pgid));
        }
    }
    for pgid in groups {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    0
}
