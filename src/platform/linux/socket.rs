//! The control channel on Linux: an abstract-namespace Unix socket (no file: procmux writes
//! nothing to disk, and it is gone when procmux dies, never stale; a second `bind` of the
//! same name fails, which is how a second `procmux start` learns that one runs). Any user of
//! the network namespace can connect to an abstract socket, so both ends check the other's
//! uid with `SO_PEERCRED`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::PathBuf;

use nix::sys::socket::sockopt::PeerCredentials;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, getsockopt, socket};

/// The listener's file: an abstract socket has none, so there is nothing to remove.
pub struct SocketFile;

/// Listens at `name` (blocking; the caller makes it non-blocking). `AddrInUse` when a
/// procmux listens there already.
pub fn bind(name: &str) -> io::Result<(UnixListener, SocketFile)> {
    let address = SocketAddr::from_abstract_name(name.as_bytes())?;
    Ok((UnixListener::bind_addr(&address)?, SocketFile))
}

/// What names procmux's mount namespace (`/proc/self/ns/mnt`), part of the socket's name:
/// two containers sharing a network namespace get two names.
pub fn namespace() -> PathBuf {
    std::fs::read_link("/proc/self/ns/mnt").unwrap_or_default()
}

/// A new stream socket for a client, not inherited by children (`SOCK_CLOEXEC`).
pub fn stream_socket() -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// The address a client connects to for `name`.
pub fn address(name: &str) -> io::Result<UnixAddr> {
    Ok(UnixAddr::new_abstract(name.as_bytes())?)
}

/// The uid and pid of the process at the other end of a connected Unix socket.
pub fn peer(socket: impl AsFd) -> io::Result<(u32, i32)> {
    let credentials = getsockopt(&socket, PeerCredentials)?;
    Ok((credentials.uid(), credentials.pid()))
}
