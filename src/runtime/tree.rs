//! Whose is an escaped descendant? A process that left its instance's process group (a
//! PostgreSQL backend in a session of its own, a daemon) still belongs to the instance whose
//! tree it came from, and is stopped in that instance's turn, not before.
//!
//! Attribution, first match wins: its nearest ancestor (through the parent links of one
//! `/proc` snapshot) that is in an instance's group; a process attributed earlier and still
//! the same process (same pid and start time: its ancestry may be gone since, as orphans are
//! reparented to procmux); the instance named in its environment (`PROCMUX_TREE`, set on
//! every child, kept through `fork` and `exec` unless the program clears it). Otherwise its
//! origin is unknown: it is stopped after every instance.
//!
//! Pure: the snapshot and the lookups come in as values and functions.

use std::collections::HashMap;

use nix::unistd::Pid;

use super::procfs::Proc;

/// The environment variable procmux sets on every child: `COOKIE:INSTANCE`.
pub const TREE_VARIABLE: &str = "PROCMUX_TREE";

/// A fresh, unguessable cookie for this procmux (from std's randomly keyed hasher).
pub fn new_cookie() -> String {
    use std::hash::{BuildHasher, RandomState};
    let key = RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()));
    format!("{key:016x}")
}

/// The value of [`TREE_VARIABLE`] for instance `instance` of the procmux with `cookie`.
pub fn tree_value(cookie: &str, instance: usize) -> String {
    format!("{cookie}:{instance}")
}

/// The instance a [`TREE_VARIABLE`] value names, if it is this procmux's (`cookie`).
pub fn instance_in(value: &str, cookie: &str) -> Option<usize> {
    let (theirs, instance) = value.rsplit_once(':')?;
    (theirs == cookie).then(|| instance.parse().ok()).flatten()
}

/// A process, for good: a pid with its start time.
pub type Identity = (Pid, u64);

/// For each process of `snapshot` outside every instance's group: the instance it belongs
/// to, if known. `group_owner` names the instance owning a process group; `remembered` holds
/// earlier attributions; `environ` reads a process's instance from its environment.
pub fn attribute(
    snapshot: &[Proc],
    group_owner: &dyn Fn(Pid) -> Option<usize>,
    remembered: &HashMap<Identity, usize>,
    environ: &dyn Fn(Pid) -> Option<usize>,
) -> Vec<(Proc, Option<usize>)> {
    let by_pid: HashMap<Pid, &Proc> = snapshot.iter().map(|p| (p.pid, p)).collect();
    snapshot
        .iter()
        .filter(|p| group_owner(p.pgid).is_none())
        .map(|p| {
            let owner = ancestor_owner(p, &by_pid, group_owner)
                .or_else(|| remembered.get(&(p.pid, p.start)).copied())
                .or_else(|| environ(p.pid));
            (*p, owner)
        })
        .collect()
}

/// The instance owning the group of `p`'s nearest ancestor in an instance's group.
fn ancestor_owner(
    p: &Proc,
    by_pid: &HashMap<Pid, &Proc>,
    group_owner: &dyn Fn(Pid) -> Option<usize>,
) -> Option<usize> {
    let mut current = by_pid.get(&p.ppid)?;
    // Bounded by the snapshot's size: parent links cannot cycle, but a snapshot read while
    // processes come and go could in theory hold a stale loop.
    for _ in 0..by_pid.len() {
        if let Some(owner) = group_owner(current.pgid) {
            return Some(owner);
        }
        current = by_pid.get(&current.ppid)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, ppid: i32, pgid: i32) -> Proc {
        Proc {
            pid: Pid::from_raw(pid),
            ppid: Pid::from_raw(ppid),
            pgid: Pid::from_raw(pgid),
            start: pid as u64 * 10,
        }
    }

    #[test]
    fn escaped_descendants_belong_to_the_instance_they_came_from() {
        // procmux is 1. db (instance 0) leads group 10, its backend 11 left for a session of
        // its own, and forked 12; web (instance 1) leads group 20; 30 is an orphan daemon
        // reparented to procmux; 40 too, but remembered; 50 carries its cookie.
        let snapshot = [
            proc(10, 1, 10),
            proc(11, 10, 11),
            proc(12, 11, 11),
            proc(20, 1, 20),
            proc(21, 20, 20),
            proc(30, 1, 30),
            proc(40, 1, 40),
            proc(50, 1, 50),
        ];
        let groups = |pgid: Pid| match pgid.as_raw() {
            10 => Some(0),
            20 => Some(1),
            _ => None,
        };
        let remembered = HashMap::from([((Pid::from_raw(40), 400), 1)]);
        let environ = |pid: Pid| (pid.as_raw() == 50).then_some(0);
        let found: Vec<(i32, Option<usize>)> = attribute(&snapshot, &groups, &remembered, &environ)
            .iter()
            .map(|(p, owner)| (p.pid.as_raw(), *owner))
            .collect();
        assert_eq!(
            found,
            [
                (11, Some(0)),
                (12, Some(0)),
                (30, None),
                (40, Some(1)),
                (50, Some(0))
            ]
        );
    }

    #[test]
    fn a_remembered_pid_with_another_start_time_is_another_process() {
        let snapshot = [proc(40, 1, 40)];
        let remembered = HashMap::from([((Pid::from_raw(40), 1), 1)]);
        let found = attribute(&snapshot, &|_| None, &remembered, &|_| None);
        assert_eq!(found[0].1, None);
    }

    #[test]
    fn tree_values_name_this_procmux_only() {
        let value = tree_value("c0ffee", 3);
        assert_eq!(instance_in(&value, "c0ffee"), Some(3));
        assert_eq!(instance_in(&value, "other"), None);
        assert_eq!(instance_in("garbage", "c0ffee"), None);
    }
}
