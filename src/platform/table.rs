//! What the process tables of every OS share: a process as procmux needs it, the walk from an
//! ancestor to its descendants, and the lookup of one variable in an environment block.

use std::collections::HashMap;

use nix::unistd::Pid;

/// A process of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: Pid,
    pub ppid: Pid,
    pub pgid: Pid,
    /// Start time (clock ticks since boot on Linux, microseconds since the epoch on macOS):
    /// with the pid, it names a process for good (a pid alone may be reused).
    pub start: u64,
}

/// The descendants of `ancestor` among the live processes `procs`.
pub fn descendants_in(ancestor: Pid, procs: impl IntoIterator<Item = Proc>) -> Vec<Proc> {
    let mut children: HashMap<Pid, Vec<Proc>> = HashMap::new();
    for proc in procs {
        children.entry(proc.ppid).or_default().push(proc);
    }
    let mut found = Vec::new();
    let mut queue = vec![ancestor];
    while let Some(parent) = queue.pop() {
        for proc in children.get(&parent).into_iter().flatten() {
            found.push(*proc);
            queue.push(proc.pid);
        }
    }
    found
}

/// The value of `key` among `NAME=value` entries, if it is UTF-8.
pub fn value_in<'a>(mut entries: impl Iterator<Item = &'a [u8]>, key: &str) -> Option<String> {
    entries.find_map(|entry| {
        let value = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        String::from_utf8(value.to_vec()).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, ppid: i32) -> Proc {
        let (pid, ppid) = (Pid::from_raw(pid), Pid::from_raw(ppid));
        Proc {
            pid,
            ppid,
            pgid: pid,
            start: 0,
        }
    }

    #[test]
    fn descendants_at_every_depth_and_no_one_else() {
        let table = [
            proc(10, 1),
            proc(11, 10),
            proc(12, 11),
            proc(20, 1),
            proc(13, 10),
        ];
        let mut found: Vec<i32> = descendants_in(Pid::from_raw(10), table)
            .iter()
            .map(|p| p.pid.as_raw())
            .collect();
        found.sort_unstable();
        assert_eq!(found, [11, 12, 13]);
        assert!(descendants_in(Pid::from_raw(12), table).is_empty());
    }

    #[test]
    fn a_value_by_its_whole_name() {
        let block: [&[u8]; 4] = [b"PATHX=no", b"PATH=/bin", b"BAD=\xff", b"EMPTY="];
        assert_eq!(value_in(block.into_iter(), "PATH").as_deref(), Some("/bin"));
        assert_eq!(value_in(block.into_iter(), "EMPTY").as_deref(), Some(""));
        assert_eq!(value_in(block.into_iter(), "BAD"), None);
        assert_eq!(value_in(block.into_iter(), "PAT"), None);
    }
}
