//! `ready = "exec:COMMAND"`: readiness by command, as Compose users write a healthcheck
//! (`pg_isready`, `redis-cli ping`, `mysqladmin ping`).
//!
//! The command runs through `/bin/sh -c` in the instance's environment and directory, every
//! `ready_interval` (counted from one start to the next, never two at once), until it exits 0.
//! Each attempt is a child of procmux leading a group of its own, its stdin `/dev/null`, its
//! stdout and stderr one non-blocking pipe registered under [`Token::Probe`]: nothing here
//! blocks the loop. It is reaped by the one `waitpid(-1)` of [`Children`], which knows its pid
//! as a check's (never an instance's exit, nor part of an instance's tree while it runs; it
//! carries the instance's `PROCMUX_TREE`, so what it leaves behind is, and the watchdog
//! finds it by that, not by its group, whose id is reused once it is empty). An attempt that
//! outlives [`ATTEMPT_TIMEOUT`], or whose instance no longer waits for it, is SIGKILLed with
//! its whole group. The last [`OUTPUT_MAX`] bytes an attempt printed are kept, so that when
//! readiness times out the last attempt can be shown.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry};
use nix::unistd::Pid;

use super::children::Children;
use super::spawn::{self, Launch, Wiring};
use super::sys;
use super::token::Token;
use super::tree;
use crate::config::{Ready, Stack};
use crate::supervisor::{CheckEnding, Exit, Notice};

/// How long one attempt may run before it is killed (and counted as failed).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of an attempt's output kept: its end.
const OUTPUT_MAX: usize = 4096;
/// Lines of the last attempt's output shown when readiness times out.
const LINES_SHOWN: usize = 10;

/// Every instance's checks.
pub struct Checks {
    slots: Vec<Slot>,
    /// The open-files limit procmux was started with, which checks get back.
    fd_limit: Option<sys::FdLimit>,
}

#[derive(Default)]
struct Slot {
    running: Option<Attempt>,
    /// When the next attempt may start, while the instance waits.
    next: Option<Instant>,
    /// How the last attempt that ended did, and what it printed.
    last: Option<(CheckEnding, Vec<u8>)>,
}

struct Attempt {
    pid: Pid,
    /// The read end of its output, until EOF.
    reader: Option<OwnedFd>,
    output: Vec<u8>,
    deadline: Instant,
    /// SIGKILL was sent to its group (it overran, or nobody waits for it any more).
    killed: bool,
    /// Killed for overrunning: its end is a time-out, whatever the signal says.
    timed_out: bool,
}

impl Checks {
    pub fn new(instances: usize, fd_limit: Option<sys::FdLimit>) -> Checks {
        Checks {
            slots: (0..instances).map(|_| Slot::default()).collect(),
            fd_limit,
        }
    }

    /// `instance` (re)started: its first attempt is due at `now`.
    pub fn due(&mut self, instance: usize, now: Instant) {
        self.slots[instance].next = Some(now);
        self.slots[instance].last = None;
    }

    /// The next attempt to start (never while one runs: its exit wakes the loop) or to kill.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| match &s.running {
                None => s.next,
                Some(attempt) if !attempt.killed => Some(attempt.deadline),
                Some(_) => None,
            })
            .min()
    }

    /// Collects the checks reaped, kills those overdue or no longer waited for, starts those
    /// due; returns the instances whose check passed.
    pub fn run_due(
        &mut self,
        now: Instant,
        stack: &Stack,
        children: &mut Children,
        registry: &Registry,
        awaits: &impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut ready = Vec::new();
        for (pid, exit) in children.take_check_exits() {
            if let Some(instance) = self.slot_of(pid)
                && self.finish(instance, exit, registry)
                && awaits(instance)
            {
                ready.push(instance);
            }
        }
        for (instance, slot) in self.slots.iter_mut().enumerate() {
            let waiting = awaits(instance);
            if let Some(attempt) = &mut slot.running
                && !attempt.killed
                && (!waiting || now >= attempt.deadline)
            {
                children.kill_check(attempt.pid);
                attempt.killed = true;
                attempt.timed_out = waiting;
            }
            let Ready::Exec(command) = &stack.type_of(instance).policy.ready else {
                continue;
            };
            if !waiting || ready.contains(&instance) {
                slot.next = None;
                continue;
            }
            let due = slot.next.is_none_or(|next| next <= now);
            if slot.running.is_none() && due {
                slot.next = Some(now + stack.type_of(instance).policy.ready_interval);
                // Marked as the instance's: what it leaves behind is stopped with the
                // instance, and the watchdog kills it if procmux is SIGKILLed.
                let tree = children.tree_value(instance);
                let kind = stack.type_of(instance);
                let mut extra_env = vec![(tree::TREE_VARIABLE, tree.as_str())];
                let ports = stack.port_env.iter();
                extra_env.extend(ports.map(|(name, port)| (name.as_str(), port.as_str())));
                let launch = Launch {
                    root: &kind.dir,
                    env: stack.env_of(instance),
                    extra_env: &extra_env,
                    port: stack.instances[instance].port,
                    ps: &stack.instances[instance].label(),
                    fd_limit: self.fd_limit,
                };
                match start(command, &launch, instance, registry, now) {
                    Ok(attempt) => {
                        children.add_check(attempt.pid);
                        slot.running = Some(attempt);
                    }
                    Err(error) => {
                        let ending = CheckEnding::FailedToStart(error.to_string());
                        slot.last = Some((ending, Vec::new()));
                    }
                }
            }
        }
        ready
    }

    /// The output pipe of `instance`'s attempt is readable.
    pub fn on_event(&mut self, instance: usize, registry: &Registry) {
        if let Some(attempt) = &mut self.slots[instance].running {
            attempt.read(registry);
        }
    }

    /// What to tell the user about `instance`'s last attempt once readiness timed out: how
    /// it ended (or that it was still running) and the last lines it printed.
    pub fn report(&self, instance: usize, command: &str) -> Vec<Notice> {
        let slot = &self.slots[instance];
        let (ending, output) = match (&slot.running, &slot.last) {
            (Some(attempt), _) if attempt.timed_out => {
                (CheckEnding::TimedOut(ATTEMPT_TIMEOUT), &attempt.output)
            }
            (Some(attempt), _) => (CheckEnding::StillRunning, &attempt.output),
            (None, Some((ending, output))) => (ending.clone(), output),
            (None, None) => return Vec::new(),
        };
        let text = String::from_utf8_lossy(output);
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                l.chars()
                    .filter(|c| !c.is_control() || *c == '\t')
                    .collect::<String>()
            })
            .filter(|l| !l.trim().is_empty())
            .collect();
        let shown = &lines[lines.len().saturating_sub(LINES_SHOWN)..];
        let mut notices = vec![Notice::ReadyCheckFailed {
            instance,
            command: command.to_owned(),
            ending,
            silent: shown.is_empty(),
        }];
        notices.extend(shown.iter().map(|line| Notice::ReadyCheckOutput {
            instance,
            line: line.clone(),
        }));
        notices
    }

    fn slot_of(&self, pid: Pid) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.running.as_ref().is_some_and(|a| a.pid == pid))
    }

    /// `instance`'s attempt was reaped: true when it passed.
    fn finish(&mut self, instance: usize, exit: Exit, registry: &Registry) -> bool {
        let slot = &mut self.slots[instance];
        let Some(mut attempt) = slot.running.take() else {
            return false;
        };
        // What it wrote before exiting is in the pipe already.
        attempt.read(registry);
        attempt.close(registry);
        let ending = if attempt.timed_out {
            CheckEnding::TimedOut(ATTEMPT_TIMEOUT)
        } else {
            CheckEnding::Exited(exit)
        };
        slot.last = Some((ending, attempt.output));
        !attempt.timed_out && exit.success()
    }
}

/// Starts one attempt of `command`.
fn start(
    command: &str,
    launch: &Launch<'_>,
    instance: usize,
    registry: &Registry,
    now: Instant,
) -> io::Result<Attempt> {
    let spawned = spawn::spawn(command, launch, Wiring::Check)?;
    let reader = spawned.outputs.into_iter().next().map(|(_, fd)| fd);
    if let Some(fd) = &reader {
        let token = Token::Probe(instance).into();
        if let Err(error) =
            registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)
        {
            // Unwatched, it would run on unseen: its group goes, and the reap takes it.
            spawn::kill_unwatched(spawned.pid);
            return Err(error);
        }
    }
    Ok(Attempt {
        pid: spawned.pid,
        reader,
        output: Vec::new(),
        deadline: now + ATTEMPT_TIMEOUT,
        killed: false,
        timed_out: false,
    })
}

impl Attempt {
    /// Reads what the pipe holds, keeping the last [`OUTPUT_MAX`] bytes; closes it at EOF.
    fn read(&mut self, registry: &Registry) {
        let Some(fd) = &self.reader else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => return self.close(registry),
                Ok(n) => {
                    self.output.extend_from_slice(&buf[..n]);
                    let excess = self.output.len().saturating_sub(OUTPUT_MAX);
                    self.output.drain(..excess);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // EAGAIN: all read for now. Anything else: nothing more to read.
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => return self.close(registry),
            }
        }
    }

    fn close(&mut self, registry: &Registry) {
        if let Some(fd) = self.reader.take() {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }
}

/// The instance's `exec:` command, if its readiness is one.
pub fn command_of(stack: &Stack, instance: usize) -> Option<&str> {
    match &stack.type_of(instance).policy.ready {
        Ready::Exec(command) => Some(command),
        _ => None,
    }
}
