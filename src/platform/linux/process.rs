//! Reading `/proc`: the live descendants of a process (with their parent, group and start
//! time), a process's environment and working directory, and the processes of one user.
//! Empty answers where `/proc` is not available.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::unistd::Pid;

pub use crate::platform::table::Proc;
use crate::platform::table::{descendants_in, value_in};

/// Every live (non-zombie) descendant of `ancestor`: walked down from it through each
/// thread's list of children where the kernel keeps one (`/proc/PID/task/TID/children`,
/// `CONFIG_PROC_CHILDREN`, which the major distributions' kernels have), else, or when a list
/// could not be read whole, from every process's `stat`. A shutdown asks after each exit,
/// and on a workstation with 1,100 processes the scan of them all made a one-process
/// stack's start and stop 25 ms, not 6.
pub fn descendants(ancestor: Pid) -> Vec<Proc> {
    static CHILDREN_LISTED: OnceLock<bool> = OnceLock::new();
    if *CHILDREN_LISTED.get_or_init(|| Path::new("/proc/thread-self/children").exists())
        && let Some(found) = walk_children(ancestor)
    {
        return found;
    }
    scan_descendants(ancestor)
}

/// [`descendants`] from every process's `stat`.
fn scan_descendants(ancestor: Pid) -> Vec<Proc> {
    let live = pids().filter_map(|pid| read_stat(pid).filter(|(state, _)| runs(pid, *state)));
    descendants_in(ancestor, live.map(|(_, proc)| proc))
}

/// [`descendants`] through the `children` lists: only the tree's processes are read. A
/// process is taken when its `stat` still names as parent the one it was listed under, or
/// one found before it (it was reparented meanwhile to procmux, a subreaper): a pid that
/// exited and was reused between the two reads names some other process. `None` when a
/// list may have left a child out (see [`children`]).
fn walk_children(ancestor: Pid) -> Option<Vec<Proc>> {
    walk_children_within(ancestor, &mut [0u8; LIST_READ])
}

/// The most bytes of one `children` list read at once: one page of the kernel's.
const LIST_READ: usize = 8192;

/// [`walk_children`], each list read into `buf`.
fn walk_children_within(ancestor: Pid, buf: &mut [u8]) -> Option<Vec<Proc>> {
    let mut found: Vec<Proc> = Vec::new();
    let mut seen = HashSet::from([ancestor]);
    let mut queue: Vec<(Pid, Pid)> = children(ancestor, buf)?
        .into_iter()
        .map(|c| (c, ancestor))
        .collect();
    while let Some((pid, parent)) = queue.pop() {
        if seen.contains(&pid) {
            continue;
        }
        let Some((state, proc)) = read_stat(pid) else {
            continue;
        };
        if proc.ppid != parent && !seen.contains(&proc.ppid) {
            continue;
        }
        seen.insert(pid);
        // A zombie's children were reparented when it exited: it lists none.
        if runs(pid, state) {
            found.push(proc);
            queue.extend(children(pid, buf)?.into_iter().map(|c| (c, pid)));
        }
    }
    Some(found)
}

/// The children of `pid`, from each of its threads' `children` list (a child is listed
/// under the thread that forked it); none once it is gone. `None` when a list may be
/// incomplete: the kernel gives one page of it per `read` and takes up the next read by
/// position in the list, so children that exited between two reads make it skip live
/// ones (its own comment: "we might miss some children here"), and a thread gone between
/// the listing of threads and the read of its list has handed its children to another.
/// Within one `read` it follows the list itself. So each list must come in one `read` into
/// `buf` (at [`LIST_READ`], some 1,000 children: more than that, and the caller scans every
/// process instead).
fn children(pid: Pid, buf: &mut [u8]) -> Option<Vec<Pid>> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Some(Vec::new());
    };
    let mut found = Vec::new();
    for task in tasks {
        let mut list = File::open(task.ok()?.path().join("children")).ok()?;
        let len = loop {
            match list.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                read => break read.ok()?,
            }
        };
        // More than one read's worth: the rest would be read by position.
        if len == buf.len() || !matches!(list.read(&mut [0u8; 1]), Ok(0)) {
            return None;
        }
        let list = std::str::from_utf8(&buf[..len]).ok()?;
        found.extend(
            list.split_ascii_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .map(Pid::from_raw),
        );
    }
    Some(found)
}

/// True unless `pid`, in `state`, is a zombie: its `stat` says `Z` and no thread of it is
/// left. A process whose first thread has exited (`pthread_exit` in `main`) while others
/// run on also says `Z`, and it is alive: it runs, forks and takes signals.
fn runs(pid: Pid, state: char) -> bool {
    state != 'Z' || fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| tasks.count() > 1)
}

/// The value of `key` in `pid`'s environment (as it was at its `exec`, or as the program
/// rewrote it in place).
pub fn environ_value(pid: Pid, key: &str) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    value_in(environ.split(|&b| b == 0), key)
}

/// The inodes of the sockets listening on TCP `port`, IPv4 or IPv6, in procmux's network
/// namespace (which its children share).
pub fn listening(port: u16) -> Vec<u64> {
    listening_sockets()
        .into_iter()
        .filter(|&(_, p)| p == port)
        .map(|(inode, _)| inode)
        .collect()
}

/// Every listening TCP socket, IPv4 or IPv6, in procmux's network namespace: (inode, port).
/// Asked of the kernel (`sock_diag`), or read from `/proc/net/tcp{,6}` where it cannot
/// answer.
pub fn listening_sockets() -> Vec<(u64, u16)> {
    super::sock_diag::listening().unwrap_or_else(listening_in_proc_net)
}

/// [`listening_sockets`] as `/proc/net/tcp{,6}` list them.
pub(super) fn listening_in_proc_net() -> Vec<(u64, u16)> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|text| listening_table(&text))
        .collect()
}

/// The listening sockets of one `/proc/net/tcp{,6}` table: (inode, port).
fn listening_table(table: &str) -> Vec<(u64, u16)> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, local_port) = fields.get(1)?.rsplit_once(':')?;
            let port = u16::from_str_radix(local_port, 16).ok()?;
            let inode = fields.get(9)?.parse().ok()?;
            (*fields.get(3)? == LISTEN).then_some((inode, port))
        })
        .collect()
}

/// The inodes of the sockets `pid` has open (`/proc/PID/fd/N` → `socket:[INODE]`).
pub fn socket_inodes(pid: Pid) -> Vec<u64> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// A process (among those procmux may look at) holding one of `inodes`, with its name.
pub fn holder(inodes: &[u64]) -> Option<(Pid, String)> {
    pids().find_map(|pid| {
        socket_inodes(pid)
            .iter()
            .any(|inode| inodes.contains(inode))
            .then(|| {
                let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                (pid, name.trim().to_owned())
            })
    })
}

/// The working directory of `pid` (`/proc/PID/cwd`), when procmux may read it.
pub fn cwd(pid: Pid) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// Every process owned by user `uid`.
pub fn owned_by(uid: u32) -> Vec<Pid> {
    pids()
        .filter(|pid| fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == uid))
        .collect()
}

fn pids() -> impl Iterator<Item = Pid> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
}

/// Reads `/proc/PID/stat` with one `open`, one `read` into a buffer on the stack and one
/// `close`: a scan reads every process's, and `fs::read_to_string` spent four more calls on
/// each (a `statx` for a size `/proc` does not give, then reads growing from 32 bytes).
fn read_stat(pid: Pid) -> Option<(char, Proc)> {
    let mut file = File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 1024];
    let mut len = 0;
    // The kernel writes the whole line at once; it ends with a newline.
    while len < buf.len() && (len == 0 || buf[len - 1] != b'\n') {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    if len == buf.len() && buf[len - 1] != b'\n' {
        // Longer than any line seen: read it all.
        let mut rest = buf.to_vec();
        file.read_to_end(&mut rest).ok()?;
        return parse_stat(pid, &rest);
    }
    parse_stat(pid, &buf[..len])
}

/// Parses `/proc/PID/stat`: the command name may hold any byte but NUL and newline (spaces,
/// parentheses, invalid UTF-8), so the fields are read after the last `)`.
fn parse_stat(pid: Pid, bytes: &[u8]) -> Option<(char, Proc)> {
    let after = &bytes[bytes.iter().rposition(|&b| b == b')')? + 1..];
    let after = std::str::from_utf8(after).ok()?;
    let mut fields = after.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = Pid::from_raw(fields.next()?.parse().ok()?);
    let pgid = Pid::from_raw(fields.next()?.parse().ok()?);
    // After pgid: session, tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime,
    // stime, cutime, cstime, priority, nice, num_threads, itrealvalue, then starttime.
    let start = fields.nth(16)?.parse().ok()?;
    Some((
        state,
        Proc {
            pid,
            ppid,
            pgid,
            start,
        },
    ))
}

/// True when `pid` is running or waiting for a CPU (state `R`), or in an uninterruptible wait
/// (`D`: a lock such as a pipe's, held by the reader at that moment, or a page coming in from
/// disk): busy, not idle. A process idle at a prompt sleeps interruptibly (`S`).
pub fn is_runnable(pid: Pid) -> bool {
    read_stat(pid).is_some_and(|(state, _)| matches!(state, 'R' | 'D'))
}

/// True while `pid` exists and is not a zombie.
#[cfg(test)]
pub fn is_alive(pid: Pid) -> bool {
    match nix::sys::signal::kill(pid, None) {
        Err(nix::errno::Errno::ESRCH) => false,
        _ => read_stat(pid).is_none_or(|(state, _)| runs(pid, state)),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use nix::sys::signal::{Signal, kill};

    use super::*;

    #[test]
    fn stat_fields_after_a_strange_name() {
        let text = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let (state, proc) = parse_stat(Pid::from_raw(42), text.as_bytes()).unwrap();
        assert_eq!(state, 'S');
        assert_eq!(
            (proc.ppid.as_raw(), proc.pgid.as_raw(), proc.start),
            (1, 42, 987654)
        );
    }

    #[test]
    fn a_descendant_whose_name_is_not_utf8_is_still_found() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // Its name, the first 15 bytes of the file's, becomes the command name in `stat`.
        let program = dir.path().join(OsStr::from_bytes(b"\xff\xfe) (x"));
        fs::copy("/bin/sleep", &program).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(&program).arg("30").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let start = std::time::Instant::now();
        // Until the child has exec'd, /proc shows procmux's test binary's name: wait (bounded).
        while fs::read(format!("/proc/{pid}/comm")).is_ok_and(|name| !name.starts_with(b"\xff"))
            && start.elapsed() < std::time::Duration::from_secs(5)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            fs::read(format!("/proc/{pid}/comm"))
                .unwrap()
                .starts_with(b"\xff")
        );
        let found = descendants(Pid::this()).iter().any(|d| d.pid == pid);
        kill(pid, Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(found, "a command name that is not UTF-8 hid the process");
    }

    #[test]
    fn listening_sockets_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1076 1 0 100 0 0 10 0\n\
           1: 0100007F:1F90 0100007F:4737 01 00000000:00000000 03:000011F6 00000000     0        0 2000 3 0\n\
           2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3000 1 0\n";
        // Only the listening ones (state 0A), both on 8080 and 8081; the connection is left out.
        assert_eq!(listening_table(table), [(1076, 8080), (3000, 8081)]);
    }

    #[test]
    fn a_listener_is_found_with_its_holder() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inodes = listening(port);
        assert_eq!(
            cwd(Pid::this()),
            std::env::current_dir().ok(),
            "a process's working directory"
        );
        assert_eq!(cwd(Pid::from_raw(i32::MAX)), None);
        assert_eq!(inodes.len(), 1);
        assert!(socket_inodes(Pid::this()).contains(&inodes[0]));
        assert_eq!(holder(&inodes).map(|(pid, _)| pid), Some(Pid::this()));
    }

    /// The walk through the `children` lists finds what the scan of every process finds: a
    /// child forked by another thread than the main one (listed under that thread) and its
    /// children, with the same parents, groups and start times.
    #[test]
    fn the_walk_through_children_lists_finds_what_the_full_scan_finds() {
        // The thread lives on while the tree is looked for: at its exit its children would
        // be handed to another thread.
        let (started, done) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let thread = std::thread::spawn(move || {
            let mut child = Command::new("sh")
                .args(["-c", "sleep 30 & sleep 30 & wait"])
                .spawn()
                .unwrap();
            started.0.send(child.id()).unwrap();
            let _ = done.1.recv();
            child.wait().unwrap();
        });
        let sh = Pid::from_raw(started.1.recv().unwrap() as i32);
        assert!(
            children(Pid::this(), &mut [0; LIST_READ])
                .unwrap()
                .contains(&sh),
            "listed under its thread"
        );
        let scan = || scan_descendants(Pid::this());
        let tree = |found: Vec<Proc>| {
            let mut tree: Vec<(i32, i32, i32, u64)> = found
                .iter()
                .filter(|p| p.pid == sh || p.ppid == sh)
                .map(|p| (p.pid.as_raw(), p.ppid.as_raw(), p.pgid.as_raw(), p.start))
                .collect();
            tree.sort();
            tree
        };
        // The shell forks its two sleeps after it started: wait for them (bounded).
        let start = std::time::Instant::now();
        while tree(scan()).len() < 3 && start.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let scanned = tree(scan());
        assert_eq!(scanned.len(), 3, "the shell and its two sleeps");
        assert_eq!(tree(walk_children(Pid::this()).unwrap()), scanned);
        assert_eq!(tree(descendants(Pid::this())), scanned);
        // A list that does not come whole in one read may have skipped a child: the walk
        // gives up, for the full scan to answer.
        let sh_list = children(sh, &mut [0; LIST_READ]).unwrap();
        assert_eq!(sh_list.len(), 2, "{sh_list:?}");
        let mut short = [0u8; 8];
        assert_eq!(children(sh, &mut short), None, "two pids in 8 bytes");
        assert!(walk_children_within(Pid::this(), &mut short).is_none());
        for (pid, ..) in &scanned {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        done.0.send(()).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn finds_own_descendants_their_groups_and_environment() {
        let mut child = Command::new("sleep")
            .arg("30")
            .env("PROCMUX_TEST_KEY", "a:1")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let found = descendants(Pid::this());
        assert!(
            found
                .iter()
                .any(|d| d.pid == pid && d.ppid == Pid::this() && d.pgid == nix::unistd::getpgrp())
        );
        assert!(is_alive(pid));
        // Until the child has exec'd, /proc shows the parent's environment: wait (bounded).
        let start = std::time::Instant::now();
        while environ_value(pid, "PROCMUX_TEST_KEY").is_none()
            && start.elapsed() < std::time::Duration::from_secs(5)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            environ_value(pid, "PROCMUX_TEST_KEY").as_deref(),
            Some("a:1")
        );
        assert!(owned_by(nix::unistd::getuid().as_raw()).contains(&pid));
        kill(pid, Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }
}
