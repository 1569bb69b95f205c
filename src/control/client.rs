//! The client end: connect to a running stack's socket, check it is this user's, send one
//! request, read the answer.

use std::io::{self, BufRead, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use super::Request;

pub struct Client {
    stream: UnixStream,
}

/// Connects to the stack listening at `name`; `None` when nothing listens there. A socket
/// held by another user is an error: another user may have taken the name first.
pub fn connect(name: &str) -> io::Result<Option<Client>> {
    let address = SocketAddr::from_abstract_name(name.as_bytes())?;
    let stream = match UnixStream::connect_addr(&address) {
        Ok(stream) => stream,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Ok(None),
        Err(e) => return Err(e),
    };
    let peer = getsockopt(&stream, PeerCredentials)?;
    let me = nix::unistd::getuid().as_raw();
    if peer.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the control socket is held by uid {} (pid {}), not by you (uid {me})",
                peer.uid(),
                peer.pid()
            ),
        ));
    }
    Ok(Some(Client { stream }))
}

impl Client {
    /// The connection itself, for a session that is more than one request.
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// Sends `request`, and returns the answer's lines as they come.
    pub fn ask(
        mut self,
        request: &Request,
    ) -> io::Result<impl Iterator<Item = io::Result<String>>> {
        writeln!(self.stream, "{}", request.line())?;
        Ok(BufReader::new(self.stream).lines())
    }
}
