//! The children table: which process groups and which escaped descendants belong to which
//! instance, reaping, and signalling them.
//!
//! procmux is a child subreaper, so every descendant that outlives its parent becomes its
//! child. Hence "no descendant left" is exactly "`waitpid` says ECHILD", and every member of
//! a group procmux created is procmux's descendant.
//!
//! **Never signal a process that is not procmux's.** A group id is the pid of its first
//! leader, and pids are reused: once a group is empty, its id may name a stranger's group. A
//! group is signalled only while provably procmux's: its leader is still unreaped (its pid
//! cannot be reused), or `/proc` shows a member among procmux's descendants. A group found
//! empty is never signalled again, and is handed to the watchdog to forget.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::procfs::{self, Proc};
use super::sys;
use super::tree::{self, Identity};
use crate::supervisor::Exit;

/// One instance's process groups.
#[derive(Debug, Default)]
struct Groups {
    /// The group of its current (or last) run, kept after the leader exits: other members may
    /// live on. `None` once it is empty.
    current: Option<Pid>,
    /// Groups of earlier runs (restarts) that still had members, signalled too at shutdown.
    old: Vec<Pid>,
    /// The write end of its stdin pipe, held (never written) so that its stdin stays open.
    stdin: Option<OwnedFd>,
}

pub struct Children {
    groups: Vec<Groups>,
    /// Main processes not yet reaped, by pid.
    by_pid: HashMap<Pid, usize>,
    /// False once `waitpid` reported that procmux has no child left.
    children_left: bool,
    /// This procmux's half of `PROCMUX_TREE`, set on every child.
    cookie: String,
    /// Escaped descendants attributed so far: attribution outlives their reparenting.
    remembered: HashMap<Identity, usize>,
    /// Groups found empty, for the watchdog to forget.
    emptied: Vec<Pid>,
    /// Signals for escaped descendants, sent once per turn.
    queued: Vec<(usize, Signal)>,
    /// Readiness checks (`ready = "exec:…"`) not yet reaped, by pid (each leads its group):
    /// procmux's children, never an instance's, and no instance's escaped descendants.
    checks: HashSet<Pid>,
    /// Checks reaped, for the probes to collect.
    check_exits: Vec<(Pid, Exit)>,
}

impl Children {
    pub fn new(instances: usize, cookie: String) -> Children {
        Children {
            groups: (0..instances).map(|_| Groups::default()).collect(),
            by_pid: HashMap::new(),
            children_left: true,
            cookie,
            remembered: HashMap::new(),
            emptied: Vec::new(),
            queued: Vec::new(),
            checks: HashSet::new(),
            check_exits: Vec::new(),
        }
    }

    /// The `PROCMUX_TREE` value for `instance`'s children.
    pub fn tree_value(&self, instance: usize) -> String {
        tree::tree_value(&self.cookie, instance)
    }

    /// `instance` starts again: what its previous run left behind in its group gets
    /// `signal` (its stop signal) and, while it lives, is remembered for the shutdown.
    pub fn retire_group(&mut self, instance: usize, signal: Signal) {
        let snapshot = self.snapshot_if_needed();
        let groups = &mut self.groups[instance];
        if let Some(old) = groups.current.take() {
            groups.old.push(old);
        }
        let by_pid = &self.by_pid;
        let mut kept = Vec::new();
        for pgid in std::mem::take(&mut groups.old) {
            if is_ours(pgid, by_pid, snapshot.as_deref()) {
                sys::signal_group(pgid, signal);
                kept.push(pgid);
            } else {
                self.emptied.push(pgid);
            }
        }
        groups.old = kept;
    }

    /// `instance`'s process `pid` started, leading a group of its own; `stdin` is the write
    /// end of its stdin pipe, if it has one.
    pub fn add(&mut self, instance: usize, pid: Pid, stdin: Option<OwnedFd>) {
        self.by_pid.insert(pid, instance);
        self.children_left = true;
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
            if self.checks.remove(&pid) {
                self.check_exits.push((pid, exit));
            }
        }
    }

    /// A readiness check `pid` started, leading a group of its own.
    pub fn add_check(&mut self, pid: Pid) {
        self.checks.insert(pid);
        self.children_left = true;
    }

    /// The checks reaped since the last call, with how they ended.
    pub fn take_check_exits(&mut self) -> Vec<(Pid, Exit)> {
        std::mem::take(&mut self.check_exits)
    }

    /// True for the group of a readiness check that is not reaped yet.
    pub fn is_check_group(&self, pgid: Pid) -> bool {
        self.checks.contains(&pgid)
    }

    /// SIGKILL to a check's whole group, while its leader is unreaped (so its id is ours).
    pub fn kill_check(&self, pid: Pid) {
        if self.checks.contains(&pid) {
            sys::signal_group(pid, Signal::SIGKILL);
        }
    }

    /// The write end of `instance`'s stdin pipe (an instance on pipes).
    pub fn stdin_of(&self, instance: usize) -> Option<&OwnedFd> {
        self.groups[instance].stdin.as_ref()
    }

    /// The pid of `instance`'s main process, while it runs.
    pub fn pid_of(&self, instance: usize) -> Option<Pid> {
        self.by_pid
            .iter()
            .find(|(_, i)| **i == instance)
            .map(|(pid, _)| *pid)
    }

    /// True until `waitpid` says that no child (so no descendant) is left.
    pub fn any_left(&self) -> bool {
        self.children_left
    }

    /// procmux's live descendants, read from `/proc`; none, without reading it, once
    /// `waitpid` said no child is left (a descendant is a child's, or an orphan adopted by
    /// procmux as subreaper: its child). A shutdown asks several times after the last exit,
    /// and a scan reads every process's `stat` on the machine.
    pub fn snapshot(&self) -> Vec<Proc> {
        if self.children_left {
            procfs::descendants(Pid::this())
        } else {
            Vec::new()
        }
    }

    /// Forgets groups that became empty (after reaping); returns every group found empty
    /// since the last call, for the watchdog.
    pub fn take_emptied(&mut self) -> Vec<Pid> {
        let leaderless = self
            .groups
            .iter()
            .filter_map(|g| g.current)
            .any(|pgid| !self.by_pid.contains_key(&pgid));
        if leaderless {
            let snapshot = self.snapshot();
            for groups in &mut self.groups {
                if let Some(pgid) = groups.current
                    && !is_ours(pgid, &self.by_pid, Some(&snapshot))
                {
                    groups.current = None;
                    self.emptied.push(pgid);
                }
            }
        }
        std::mem::take(&mut self.emptied)
    }

    /// Sends `signal` to `instance`'s current group, if it is still procmux's.
    pub fn signal(&self, instance: usize, signal: Signal) {
        let Some(pgid) = self.groups[instance].current else {
            return;
        };
        let snapshot = (!self.by_pid.contains_key(&pgid)).then(|| self.snapshot());
        if is_ours(pgid, &self.by_pid, snapshot.as_deref()) {
            sys::signal_group(pgid, signal);
        }
    }

    /// Sends `signal` to what is left of `instance`'s tree outside its group: descendants
    /// that escaped it (once its main process is gone, or its stop timeout passed). Queued,
    /// and sent by [`Children::send_queued`], so that a thousand exits in one turn cost one
    /// read of `/proc`, not a thousand.
    pub fn signal_escaped_of(&mut self, instance: usize, signal: Signal) {
        self.queued.push((instance, signal));
    }

    /// Sends the signals [`Children::signal_escaped_of`] queued, from one `/proc` snapshot.
    pub fn send_queued(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let queued = std::mem::take(&mut self.queued);
        let snapshot = self.snapshot();
        let escaped = self.escaped(&snapshot);
        for (instance, signal) in queued {
            for (proc, owner) in &escaped {
                if *owner == Some(instance) {
                    sys::signal_process(proc.pid, signal);
                }
            }
        }
    }

    /// Of `instances`, those whose whole tree is gone: no member left in their group, and no
    /// escaped descendant of theirs. One `/proc` snapshot serves them all, and none is taken
    /// while each of their groups still has its leader.
    pub fn gone_trees(&mut self, instances: &[usize]) -> Vec<usize> {
        let leader_alive = |i: &usize| {
            self.groups[*i]
                .current
                .is_some_and(|pgid| self.by_pid.contains_key(&pgid) && sys::group_alive(pgid))
        };
        let candidates: Vec<usize> = instances
            .iter()
            .copied()
            .filter(|i| !leader_alive(i))
            .collect();
        if candidates.is_empty() {
            return candidates;
        }
        let snapshot = self.snapshot();
        let escaped = self.escaped(&snapshot);
        candidates
            .into_iter()
            .filter(|&i| {
                let group = self.groups[i]
                    .current
                    .is_some_and(|pgid| is_ours(pgid, &self.by_pid, Some(&snapshot)));
                !group && !escaped.iter().any(|(_, owner)| *owner == Some(i))
            })
            .collect()
    }

    /// Sends `signal` to every group procmux created that is still procmux's.
    pub fn signal_groups(&self, signal: Signal) {
        let snapshot = self.snapshot_if_needed();
        for pgid in self.all_groups() {
            if is_ours(pgid, &self.by_pid, snapshot.as_deref()) {
                sys::signal_group(pgid, signal);
            }
        }
    }

    /// Sends `signal` to every group and to every descendant outside them.
    pub fn signal_everything(&mut self, signal: Signal) {
        self.signal_groups(signal);
        let snapshot = self.snapshot();
        for (proc, _) in self.escaped(&snapshot) {
            sys::signal_process(proc.pid, signal);
        }
    }

    /// How many processes `instance`'s tree has: its group's members and its escaped
    /// descendants.
    pub fn tree_size(&mut self, instance: usize) -> usize {
        self.tree_pids(instance).len()
    }

    /// The live processes of `instance`'s tree: its group's members and its escaped
    /// descendants.
    pub fn tree_pids(&mut self, instance: usize) -> Vec<Pid> {
        let snapshot = self.snapshot();
        self.tree_pids_in(&snapshot, instance)
    }

    /// Every instance's tree at once (`procmux status`): one read of `/proc` and one
    /// attribution of escaped descendants, not one per instance.
    pub fn all_trees(&mut self) -> Vec<Vec<Pid>> {
        let snapshot = self.snapshot();
        let mut trees = vec![Vec::new(); self.groups.len()];
        for process in &snapshot {
            if let Some(instance) = self
                .groups
                .iter()
                .position(|g| g.current == Some(process.pgid))
            {
                trees[instance].push(process.pid);
            }
        }
        for (process, owner) in self.escaped(&snapshot) {
            if let Some(tree) = owner.and_then(|i| trees.get_mut(i)) {
                tree.push(process.pid);
            }
        }
        trees
    }

    fn tree_pids_in(&mut self, snapshot: &[Proc], instance: usize) -> Vec<Pid> {
        let group = self.groups[instance].current;
        let mut pids: Vec<Pid> = snapshot
            .iter()
            .filter(|p| Some(p.pgid) == group)
            .map(|p| p.pid)
            .collect();
        let escaped = self.escaped(snapshot);
        pids.extend(
            escaped
                .iter()
                .filter(|(_, owner)| *owner == Some(instance))
                .map(|(p, _)| p.pid),
        );
        pids
    }

    /// How many descendants are alive.
    pub fn remaining(&self) -> usize {
        self.snapshot().len()
    }

    /// Every descendant in `snapshot` outside the instances' groups, with the instance it
    /// belongs to when that is known; remembers the attributions.
    fn escaped(&mut self, snapshot: &[Proc]) -> Vec<(Proc, Option<usize>)> {
        // Readiness checks are procmux's own, not an instance's tree.
        let without_checks: Vec<Proc>;
        let snapshot = if self.checks.is_empty() {
            snapshot
        } else {
            without_checks = snapshot
                .iter()
                .filter(|p| !self.checks.contains(&p.pgid))
                .copied()
                .collect();
            &without_checks
        };
        let owner = |pgid: Pid| self.group_owner(pgid);
        let environ = |pid: Pid| {
            procfs::environ_value(pid, tree::TREE_VARIABLE)
                .and_then(|value| tree::instance_in(&value, &self.cookie))
        };
        let found = tree::attribute(snapshot, &owner, &self.remembered, &environ);
        self.remembered.clear();
        for (proc, owner) in &found {
            if let Some(instance) = owner {
                self.remembered.insert((proc.pid, proc.start), *instance);
            }
        }
        found
    }

    /// Remembers which instance each escaped descendant belongs to, while their ancestry
    /// still shows it (before a stop makes their parents exit).
    pub fn note_escaped(&mut self) {
        self.note_escaped_in(&self.snapshot());
    }

    /// As [`Children::note_escaped`], with a snapshot already taken.
    pub fn note_escaped_in(&mut self, snapshot: &[Proc]) {
        self.escaped(snapshot);
    }

    /// The instance one of whose groups is `pgid`.
    fn group_owner(&self, pgid: Pid) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.current == Some(pgid) || g.old.contains(&pgid))
    }

    /// A `/proc` snapshot, taken only when some group's leader is already reaped (only then
    /// does proving a group procmux's need one).
    fn snapshot_if_needed(&self) -> Option<Vec<Proc>> {
        self.all_groups()
            .any(|pgid| !self.by_pid.contains_key(&pgid))
            .then(|| self.snapshot())
    }

    /// Every group procmux created and has not found empty, including those of earlier runs
    /// of restarted processes.
    fn all_groups(&self) -> impl Iterator<Item = Pid> + '_ {
        self.groups
            .iter()
            .flat_map(|g| g.current.iter().chain(&g.old).copied())
    }
}

/// True while group `pgid` provably holds procmux's descendants: its leader is unreaped
/// (and alive or a zombie, so its id cannot be reused), or the snapshot of procmux's
/// descendants has a member. Without a snapshot the leader must be unreaped.
fn is_ours(pgid: Pid, unreaped: &HashMap<Pid, usize>, descendants: Option<&[Proc]>) -> bool {
    if unreaped.contains_key(&pgid) {
        return sys::group_alive(pgid);
    }
    descendants.is_some_and(|all| all.iter().any(|p| p.pgid == pgid))
}
