//! The process table on macOS, through libproc (`proc_listpids`, `proc_pidinfo`,
//! `proc_pidfdinfo`: what `ps` and `lsof` read) and `sysctl(KERN_PROCARGS2)` for an
//! environment. Empty answers where the kernel says no.
//!
//! What differs from Linux: the kernel shows another user's open files and environment to
//! root only, so the listening sockets are those of this user's processes (procmux's own trees
//! are all there: `ready = "tcp:…"` and `status`'s LISTENING work as on Linux), and a port held
//! by another user's program is not named before an instance starts (the program's own error
//! says it). A socket is named by its kernel address (`soi_so`, as `lsof` shows it) where
//! Linux has an inode; start times are microseconds since the epoch, not clock ticks.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use libproc::libproc::bsd_info::BSDInfo;
use libproc::libproc::file_info::{ListFDs, ProcFDType, pidfdinfo};
use libproc::libproc::net_info::{SocketFDInfo, TcpSIState};
use libproc::libproc::proc_pid::{PIDInfo, PidInfoFlavor, listpidinfo, name, pidinfo};
use libproc::libproc::task_info::TaskInfo;
use libproc::processes::{ProcFilter, pids_by_type};
use nix::unistd::Pid;

use super::sys;
use crate::platform::procargs;
pub use crate::platform::table::Proc;
use crate::platform::table::{descendants_in, value_in};

/// `SZOMB` of `<sys/proc.h>`: exited, not yet reaped.
const ZOMBIE: u32 = 5;

/// Every live (non-zombie) descendant of `ancestor`.
pub fn descendants(ancestor: Pid) -> Vec<Proc> {
    let live = pids(ProcFilter::All).into_iter().filter_map(|pid| {
        let info = bsd_info(pid).filter(|info| info.pbi_status != ZOMBIE)?;
        Some(Proc {
            pid,
            ppid: Pid::from_raw(info.pbi_ppid as i32),
            pgid: Pid::from_raw(info.pbi_pgid as i32),
            start: info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec,
        })
    });
    descendants_in(ancestor, live)
}

/// The value of `key` in `pid`'s environment (as it was at its `exec`, or as the program
/// rewrote it in place).
pub fn environ_value(pid: Pid, key: &str) -> Option<String> {
    let buffer = sys::process_arguments(pid)?;
    value_in(procargs::environment(&buffer), key)
}

/// The sockets listening on TCP `port`, IPv4 or IPv6, held by processes procmux may look at.
pub fn listening(port: u16) -> Vec<u64> {
    listening_sockets()
        .into_iter()
        .filter(|&(_, p)| p == port)
        .map(|(socket, _)| socket)
        .collect()
}

/// Every listening TCP socket held by a process procmux may look at: (socket, port).
pub fn listening_sockets() -> Vec<(u64, u16)> {
    let mut found: Vec<(u64, u16)> = pids(ProcFilter::ByUID {
        uid: nix::unistd::getuid().as_raw(),
    })
    .into_iter()
    .flat_map(sockets)
    .filter_map(|info| listening_port(&info).map(|port| (info.psi.soi_so, port)))
    .collect();
    // A socket shared across a fork shows once per holder.
    found.sort_unstable();
    found.dedup();
    found
}

/// The sockets `pid` has open.
pub fn socket_inodes(pid: Pid) -> Vec<u64> {
    sockets(pid).map(|info| info.psi.soi_so).collect()
}

/// A process (among those procmux may look at) holding one of `sockets`, with its name.
pub fn holder(sockets: &[u64]) -> Option<(Pid, String)> {
    pids(ProcFilter::All).into_iter().find_map(|pid| {
        socket_inodes(pid)
            .iter()
            .any(|socket| sockets.contains(socket))
            .then(|| (pid, name(pid.as_raw()).unwrap_or_default()))
    })
}

/// The working directory of `pid` (`proc_pidinfo(PROC_PIDVNODEPATHINFO)`, what `lsof`
/// shows as `cwd`), when the kernel shows it to procmux.
pub fn cwd(pid: Pid) -> Option<PathBuf> {
    let info = pidinfo::<VnodePaths>(pid.as_raw(), 0).ok()?;
    // A C string in a buffer of MAXPATHLEN bytes (libc splits it in rows of 32).
    let bytes: Vec<u8> = info
        .0
        .pvi_cdir
        .vip_path
        .iter()
        .flatten()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    (!bytes.is_empty()).then(|| PathBuf::from(OsString::from_vec(bytes)))
}

/// `struct proc_vnodepathinfo`: the current and root directories of a process.
/// `pidinfo` fills it for the `VNodePathInfo` flavor; all integers and byte arrays, so the
/// zeroed value it starts from is a valid one.
#[repr(transparent)]
struct VnodePaths(nix::libc::proc_vnodepathinfo);

impl PIDInfo for VnodePaths {
    fn flavor() -> PidInfoFlavor {
        PidInfoFlavor::VNodePathInfo
    }
}

/// Every process owned by user `uid`.
pub fn owned_by(uid: u32) -> Vec<Pid> {
    pids(ProcFilter::ByUID { uid })
}

/// True when one of `pid`'s threads is running or waiting for a CPU: busy, not idle.
pub fn is_runnable(pid: Pid) -> bool {
    pidinfo::<TaskInfo>(pid.as_raw(), 0).is_ok_and(|info| info.pti_numrunning > 0)
}

/// True while `pid` exists and is not a zombie.
#[cfg(test)]
pub fn is_alive(pid: Pid) -> bool {
    match nix::sys::signal::kill(pid, None) {
        Err(nix::errno::Errno::ESRCH) => false,
        _ => bsd_info(pid).is_none_or(|info| info.pbi_status != ZOMBIE),
    }
}

fn pids(filter: ProcFilter) -> Vec<Pid> {
    pids_by_type(filter)
        .unwrap_or_default()
        .into_iter()
        .filter(|&pid| pid > 0)
        .map(|pid| Pid::from_raw(pid as i32))
        .collect()
}

fn bsd_info(pid: Pid) -> Option<BSDInfo> {
    pidinfo::<BSDInfo>(pid.as_raw(), 0).ok()
}

/// What the kernel says of each socket `pid` has open.
fn sockets(pid: Pid) -> impl Iterator<Item = SocketFDInfo> {
    let fds = bsd_info(pid)
        .and_then(|info| listpidinfo::<ListFDs>(pid.as_raw(), info.pbi_nfiles as usize).ok())
        .unwrap_or_default();
    fds.into_iter()
        .filter(|fd| matches!(ProcFDType::from(fd.proc_fdtype), ProcFDType::Socket))
        .filter_map(move |fd| pidfdinfo::<SocketFDInfo>(pid.as_raw(), fd.proc_fd).ok())
}

/// The local port of a TCP socket in the LISTEN state.
fn listening_port(info: &SocketFDInfo) -> Option<u16> {
    let tcp = sys::tcp_info(info)?;
    let listens = matches!(TcpSIState::from(tcp.tcpsi_state), TcpSIState::Listen);
    // The kernel keeps the port in network byte order, in an int.
    listens.then(|| u16::from_be(tcp.tcpsi_ini.insi_lport as u16))
}
