//! The watchdog: stops every process group even when procmux itself is killed with SIGKILL.
//!
//! procmux starts `procmux __watchdog` once, before anything else, with a pipe as its stdin,
//! and writes into that pipe its cookie (the value every child carries in `PROCMUX_TREE`),
//! the id of every process group it creates (`+PGID`), and of every group it found empty
//! (`-PGID`: its id may be reused by a stranger, so the watchdog forgets it). The watchdog detaches
//! (a first process forks it and exits at once, so it is neither procmux's child nor in its
//! process group, and a terminal's Ctrl-C does not reach it; on Linux that fork happens between
//! fork and exec, so procmux waits only for the watchdog's `exec`), ignores the usual termination
//! signals, and waits. When procmux ends normally it writes `done` first and the watchdog
//! just exits; when the pipe reaches EOF without `done`, procmux died without cleaning up, and
//! the watchdog sends SIGKILL to every group it was told about, then to every process of the
//! same user whose environment carries the cookie (a daemon that detached at any time). Direct children also get
//! `PR_SET_PDEATHSIG` (see `sys::reset_child_state`), which covers a child in the
//! window before its group id reached the watchdog.
//!
//! Where orphans leave procmux's tree (macOS: no subreaper, see `platform::orphans`), a daemon
//! that left its group and lost its parent outlives even a clean stop; so there, on `done`,
//! the watchdog also stops every process of the user carrying the cookie: SIGTERM, then
//! SIGKILL after [`LEFTOVER_GRACE`]. On Linux such a process is procmux's descendant and was
//! stopped before `done`.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use super::{procfs, sys, tree};
use crate::platform;

/// How long leftovers (see the module's documentation) get to stop after SIGTERM.
const LEFTOVER_GRACE: Duration = Duration::from_secs(5);

/// The hidden subcommand that runs the watchdog.
pub const SUBCOMMAND: &str = "__watchdog";
/// Its argument when it was detached as it was spawned (it then does not fork itself).
pub const DETACHED: &str = "detached";

/// The watchdog for this stack, or `None`: none is needed when procmux is its PID
/// namespace's init (the kernel kills every process of the namespace when its init dies,
/// and an orphaned watchdog would be procmux's own, waited for at every stop), and none could
/// start, which is said on stderr: a SIGKILL of procmux would then leave processes running.
pub fn guard(cookie: &str) -> Option<Watchdog> {
    if nix::unistd::getpid().as_raw() == 1 {
        return None;
    }
    match Watchdog::start(cookie) {
        Ok(watchdog) => Some(watchdog),
        Err(error) => {
            let _ = writeln!(
                io::stderr(),
                "procmux: warning: the watchdog did not start ({error}): if procmux is killed \
                 with SIGKILL, its processes keep running"
            );
            None
        }
    }
}

/// procmux's end of the pipe.
pub struct Watchdog {
    pipe: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts the watchdog, tells it this procmux's `cookie`, and waits until it has detached.
    pub fn start(cookie: &str) -> io::Result<Watchdog> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command
            .arg(SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // It never writes; holding procmux's stderr would keep a reader of procmux's
            // stderr waiting after procmux exited.
            .stderr(Stdio::null())
            .process_group(0);
        if platform::orphans::DETACH_IN_SPAWN {
            // Detached between fork and exec: no first procmux to start, fork and exit.
            sys::leave_parent_on_spawn(&mut command);
            command.arg(DETACHED);
        }
        let mut child = command.spawn()?;
        let pipe = child.stdin.take();
        // The first process forks the real watchdog and exits at once. ECHILD: it was reaped
        // already, for SIGCHLD was ignored by whoever started procmux (inherited across exec):
        // gone either way.
        match child.wait() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ECHILD) => {}
            other => {
                other?;
            }
        }
        let mut watchdog = Watchdog { pipe };
        watchdog.send(&Message::Cookie(cookie.to_owned()));
        Ok(watchdog)
    }

    /// Tells the watchdog about a new process group.
    pub fn watch(&mut self, pgid: Pid) {
        self.send(&Message::Watch(pgid));
    }

    /// Tells the watchdog that a group is empty: never to signal it.
    pub fn forget(&mut self, pgid: Pid) {
        self.send(&Message::Forget(pgid));
    }

    fn send(&mut self, message: &Message) {
        if let Some(pipe) = &mut self.pipe
            && pipe.write_all(message.line().as_bytes()).is_err()
        {
            // The watchdog is gone (someone killed it): procmux works on without it.
            self.pipe = None;
        }
    }

    /// procmux is exiting cleanly: nothing for the watchdog to do. Waits (at most a second)
    /// until the watchdog has closed its end, so that it is gone when procmux is.
    pub fn dismiss(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            if pipe.write_all(Message::Done.line().as_bytes()).is_err() {
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

/// One line from procmux to the watchdog.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    Cookie(String),
    Watch(Pid),
    Forget(Pid),
    Done,
}

impl Message {
    /// The line, newline included: one `write` (the pipe is not buffered), so the watchdog
    /// never reads half a message from a procmux killed between two.
    fn line(&self) -> String {
        match self {
            Message::Cookie(cookie) => format!("cookie {cookie}\n"),
            Message::Watch(pgid) => format!("+{pgid}\n"),
            Message::Forget(pgid) => format!("-{pgid}\n"),
            Message::Done => "done\n".to_owned(),
        }
    }

    fn parse(line: &str) -> Option<Message> {
        let pgid = |text: &str| {
            text.parse::<i32>()
                .ok()
                .filter(|&n| n > 1)
                .map(Pid::from_raw)
        };
        match line.trim() {
            "done" => Some(Message::Done),
            line => {
                if let Some(cookie) = line.strip_prefix("cookie ") {
                    Some(Message::Cookie(cookie.to_owned()))
                } else if let Some(rest) = line.strip_prefix('+') {
                    pgid(rest).map(Message::Watch)
                } else {
                    pgid(line.strip_prefix('-')?).map(Message::Forget)
                }
            }
        }
    }
}

/// The watchdog's own `main`: `procmux __watchdog [detached]` (`detached`: it was detached as
/// it was spawned, and does not fork again).
pub fn serve(detached: bool) -> i32 {
    if !detached {
        match sys::fork_detached() {
            Ok(true) => return 0,
            Ok(false) => {}
            // Without a detached watchdog procmux still works; it only loses the SIGKILL guard.
            Err(_) => return 1,
        }
    }
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&ignored));
    }
    let mut groups = HashSet::new();
    let mut cookie: Option<String> = None;
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match Message::parse(&line) {
            Some(Message::Done) => {
                if !platform::orphans::ORPHANS_STAY
                    && let Some(cookie) = &cookie
                {
                    // procmux waits for this end to close: let it go first.
                    let _ = nix::unistd::close(0);
                    stop_leftovers(cookie, LEFTOVER_GRACE);
                }
                return 0;
            }
            Some(Message::Cookie(value)) => cookie = Some(value),
            Some(Message::Watch(pgid)) => {
                groups.insert(pgid);
            }
            Some(Message::Forget(pgid)) => {
                groups.remove(&pgid);
            }
            None => {}
        }
    }
    // procmux died without cleaning up.
    for &pgid in &groups {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    if let Some(cookie) = cookie {
        // Twice: a process forked while the first sweep ran is caught by the second.
        for _ in 0..2 {
            kill_marked(&cookie);
        }
    }
    0
}

/// SIGKILL to every process of this user whose `PROCMUX_TREE` names this cookie.
fn kill_marked(cookie: &str) {
    for pid in marked(cookie) {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
}

/// The processes of this user whose `PROCMUX_TREE` names this cookie.
fn marked(cookie: &str) -> Vec<Pid> {
    procfs::owned_by(nix::unistd::getuid().as_raw())
        .into_iter()
        .filter(|&pid| {
            procfs::environ_value(pid, tree::TREE_VARIABLE)
                .is_some_and(|value| tree::instance_in(&value, cookie).is_some())
        })
        .collect()
}

/// After a clean stop: SIGTERM to every process still carrying the cookie, SIGKILL to those
/// left after `grace`.
fn stop_leftovers(cookie: &str, grace: Duration) {
    let leftovers = marked(cookie);
    if leftovers.is_empty() {
        return;
    }
    for &pid in &leftovers {
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !marked(cookie).is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..2 {
        kill_marked(cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What macOS's watchdog does after a clean stop, tried here on real processes: the one
    /// that stops on SIGTERM and the one that ignores it are both gone, a stranger is left.
    #[test]
    fn leftovers_carrying_the_cookie_are_stopped_and_strangers_left() {
        use std::process::Command;
        let cookie = tree::new_cookie();
        let spawn = |script: &str, value: &str| {
            Command::new("/bin/sh")
                .args(["-c", script])
                .env(tree::TREE_VARIABLE, value)
                .spawn()
                .unwrap()
        };
        let mut polite = spawn("exec sleep 30", &tree::tree_value(&cookie, 0));
        let mut stubborn = spawn("trap '' TERM; exec sleep 30", &tree::tree_value(&cookie, 1));
        let mut stranger = spawn("exec sleep 30", &tree::tree_value("other", 0));
        let pids: Vec<Pid> = [&polite, &stubborn, &stranger]
            .iter()
            .map(|c| Pid::from_raw(c.id() as i32))
            .collect();
        // Until they have exec'd `sleep`, the stubborn one may not ignore SIGTERM yet (its
        // shell sets the trap first): wait (bounded) until both are `sleep`.
        let deadline = Instant::now() + Duration::from_secs(5);
        let sleeping = |pid: &Pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        };
        while !(pids[..2].iter().all(sleeping) && marked(&cookie).len() >= 2)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop_leftovers(&cookie, Duration::from_millis(300));
        let polite = polite.wait().unwrap();
        let stubborn = stubborn.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(polite.signal(), Some(Signal::SIGTERM as i32));
        assert_eq!(stubborn.signal(), Some(Signal::SIGKILL as i32));
        assert!(procfs::is_alive(pids[2]));
        stranger.kill().unwrap();
        stranger.wait().unwrap();
    }

    #[test]
    fn messages_round_trip_and_bad_lines_are_ignored() {
        let messages = [
            Message::Cookie("c0ffee".into()),
            Message::Watch(Pid::from_raw(42)),
            Message::Forget(Pid::from_raw(42)),
            Message::Done,
        ];
        for message in messages {
            assert_eq!(Message::parse(&message.line()), Some(message));
        }
        // Never a group id that would signal procmux's own group or every process.
        for bad in ["+0", "+1", "+-1", "-", "42", "+x", ""] {
            assert_eq!(Message::parse(bad), None, "{bad}");
        }
    }
}
