//! What the tests and the benchmark do differently by OS, in one place (as `src/platform/` is
//! for procmux; `tests/tidy.rs` allows `#[cfg]` in the tests only here). Shared by the tests
//! and the benchmark (`#[path]`). Only the Linux side has run: on macOS the suite compiles.

use std::os::unix::net::SocketAddr;

use nix::unistd::Pid;

/// The address of the control socket procmux `pid` listens on, found from outside as a user
/// would: on Linux its abstract name in `/proc/net/unix`.
#[cfg(target_os = "linux")]
pub fn control_address(pid: Pid) -> Option<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    let name = super::socket::abstract_name_of(pid)?;
    SocketAddr::from_abstract_name(&name.as_bytes()[1..]).ok()
}

/// The address of the control socket procmux `pid` listens on: on macOS the socket file in
/// `$TMPDIR/procmux-UID/` whose listener is `pid` (`LOCAL_PEERPID`).
#[cfg(target_os = "macos")]
pub fn control_address(pid: Pid) -> Option<SocketAddr> {
    use std::os::unix::net::UnixStream;
    let temporary = std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into());
    let dir = std::path::Path::new(&temporary).join(format!("procmux-{}", nix::unistd::getuid()));
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let stream = UnixStream::connect(entry.path()).ok()?;
        let peer = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::LocalPeerPid);
        (peer.ok()? == pid.as_raw())
            .then(|| SocketAddr::from_pathname(entry.path()).ok())
            .flatten()
    })
}

/// Waits until child `pid` has exited, leaving it unreaped (its zombie keeps its CPU time).
#[cfg(target_os = "linux")]
pub fn wait_exited_unreaped(pid: Pid) {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let _ = waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT);
}

/// Waits until child `pid` has exited, leaving it unreaped: macOS has no `waitid` in `nix`,
/// so `ps` is asked every 10 ms whether it is a zombie (or gone).
#[cfg(target_os = "macos")]
pub fn wait_exited_unreaped(pid: Pid) {
    loop {
        let state = std::process::Command::new("ps")
            .args(["-o", "stat=", "-p", &pid.to_string()])
            .output();
        match state {
            Ok(out) if out.stdout.trim_ascii().starts_with(b"Z") || out.stdout.is_empty() => {
                return;
            }
            Err(_) => return,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// How many bytes the pipe `end` is an end of holds, where the OS says (Linux).
#[cfg(target_os = "linux")]
pub fn pipe_size(end: &impl std::os::fd::AsFd) -> Option<usize> {
    let size = nix::fcntl::fcntl(end.as_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ).ok()?;
    usize::try_from(size).ok()
}

/// macOS does not say how many bytes a pipe holds.
#[cfg(target_os = "macos")]
pub fn pipe_size(_end: &impl std::os::fd::AsFd) -> Option<usize> {
    None
}
