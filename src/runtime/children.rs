//! The children table: which process group belongs to which instance, reaping, and
//! signalling groups and the descendants that left them.
//!
//! procmux is a child subreaper, so every descendant that outlives its parent becomes its
//! child. Hence "no descendant left" is exactly "`waitpid` says ECHILD".

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::sys;
use crate::supervisor::Exit;

/// One instance's process groups.
#[derive(Debug, Default)]
struct Groups {
    /// The group of its current (or last) run, kept after the leader exits: other members may
    /// live on.
    current: Option<Pid>,
    /// Groups of earlier runs (restarts) that still had members, signalled too at shutdown.
    old: Vec<Pid>,
    /// The write end of its stdin pipe, held (never written) so that its stdin stays open.
    stdin: Option<OwnedFd>,
}

pub struct Children {
    groups: Vec<Groups>,
    /// Main processes alive, by pid.
    by_pid: HashMap<Pid, usize>,
    /// False once `waitpid` reported that procmux has no child left.
    children_left: bool,
}

impl Children {
    pub fn new(instances: usize) -> Children {
        Children {
            groups: (0..instances).map(|_| Groups::default()).collect(),
            by_pid: HashMap::new(),
            children_left: true,
        }
    }

    /// `instance` starts again: what its previous run left behind in its group gets
    /// `signal` (its stop signal) and, while it lives, is remembered for the shutdown.
    /// Old groups that are already empty are forgotten.
    pub fn retire_group(&mut self, instance: usize, signal: Signal) {
        let groups = &mut self.groups[instance];
        if let Some(old) = groups.current.take() {
            sys::signal_group(old, signal);
            groups.old.push(old);
        }
        groups.old.retain(|&g| sys::group_alive(g));
    }

    /// `instance`'s process `pid` started, leading a group of its own; `stdin` is the write
    /// end of its stdin pipe, if it has one.
    pub fn add(&mut self, instance: usize, pid: Pid, stdin: Option<OwnedFd>) {
        self.by_pid.insert(pid, instance);
        let groups = &mut self.groups[instance];
        groups.current = Some(pid);
        groups.stdin = stdin;
    }

    /// Reaps one exited child: the next exit of an instance's main process, if any. Orphans
    /// adopted as subreaper are reaped silently. Learns on the way whether any child is left.
    pub fn reap(&mut self) -> Option<(usize, Pid, Exit)> {
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal)),
                Ok(WaitStatus::StillAlive) => {
                    self.children_left = true;
                    return None;
                }
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => {
                    // ECHILD: no child at all, and as subreaper no descendant either.
                    self.children_left = false;
                    return None;
                }
            };
            if let Some(instance) = self.by_pid.remove(&pid) {
                return Some((instance, pid, exit));
            }
        }
    }

    /// True until `waitpid` says that no child (so no descendant) is left.
    pub fn any_left(&self) -> bool {
        self.children_left
    }

    /// Sends `signal` to `instance`'s current group.
    pub fn signal(&self, instance: usize, signal: Signal) {
        if let Some(pgid) = self.groups[instance].current {
            sys::signal_group(pgid, signal);
        }
    }

    /// True while `instance`'s current group has a member.
    pub fn group_alive(&self, instance: usize) -> bool {
        self.groups[instance].current.is_some_and(sys::group_alive)
    }

    /// Sends `signal` to every group procmux created.
    pub fn signal_groups(&self, signal: Signal) {
        for pgid in self.all_groups() {
            sys::signal_group(pgid, signal);
        }
    }

    /// Sends `signal` once to every descendant that left its group (a daemon that called
    /// `setsid`, an orphan adopted by procmux).
    pub fn signal_escaped(&self, signal: Signal) {
        let groups: HashSet<Pid> = self.all_groups().collect();
        for descendant in sys::descendants(Pid::this()) {
            if !groups.contains(&descendant.pgid) {
                sys::signal_process(descendant.pid, signal);
            }
        }
    }

    /// Sends `signal` to every group and to every descendant outside them.
    pub fn signal_everything(&self, signal: Signal) {
        self.signal_groups(signal);
        self.signal_escaped(signal);
    }

    /// How many descendants are alive.
    pub fn remaining(&self) -> usize {
        sys::descendants(Pid::this()).len()
    }

    /// Every group procmux created, including those of earlier runs of restarted processes.
    fn all_groups(&self) -> impl Iterator<Item = Pid> + '_ {
        self.groups
            .iter()
            .flat_map(|g| g.current.iter().chain(&g.old).copied())
    }
}
