//! The control channel on macOS, which has no abstract sockets: a socket file, the one file
//! procmux creates, holding no log — `$TMPDIR/procmux-UID/HASH` (the hash of the name `config`
//! gives), private, removed at the end, replaced when stale (`platform::socket_file`). Both
//! ends check the other's uid (`getpeereid`); the server's pid comes from `LOCAL_PEERPID`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::sockopt::LocalPeerPid;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, getsockopt, socket};

use crate::platform::socket_file;

pub use crate::platform::socket_file::SocketFile;

/// Listens at `name` (blocking; the caller makes it non-blocking), replacing a stale file.
/// `AddrInUse` when a procmux listens there already.
pub fn bind(name: &str) -> io::Result<(UnixListener, SocketFile)> {
    socket_file::bind(&socket_path(name))
}

/// The socket file of `name`: `$TMPDIR/procmux-UID/HASH` (`/tmp` without `TMPDIR`).
fn socket_path(name: &str) -> PathBuf {
    let temporary = std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    socket_file::socket_path(&temporary, nix::unistd::getuid().as_raw(), name)
}

/// macOS has no mount namespaces: nothing to add to the socket's name.
pub fn namespace() -> PathBuf {
    PathBuf::new()
}

/// A new stream socket for a client, not inherited by children.
pub fn stream_socket() -> io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )?;
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(fd)
}

/// The address a client connects to for `name` (nothing listens there if the file is gone).
pub fn address(name: &str) -> io::Result<UnixAddr> {
    Ok(UnixAddr::new(&socket_path(name))?)
}

/// The uid and pid of the process at the other end of a connected Unix socket.
pub fn peer(socket: impl AsFd) -> io::Result<(u32, i32)> {
    let (uid, _) = nix::unistd::getpeereid(&socket)?;
    let pid = getsockopt(&socket, LocalPeerPid)?;
    Ok((uid.as_raw(), pid))
}
