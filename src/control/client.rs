//! The client end: connect to a running stack's socket, check it is this user's, send one
//! request, read the answer: a header line (`ok`, or `error\tMESSAGE`), then the body.
//!
//! Every step is bounded by [`ANSWER_TIMEOUT`] (a `logs -f` body excepted: it waits for
//! lines), so a client never hangs on a procmux that is paused or stuck, and says so.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::socket::{connect as connect_fd, setsockopt, sockopt::SendTimeout};
use nix::sys::time::TimeVal;

use super::Request;
use super::protocol::MAX_REQUEST;
use crate::platform;

/// How long a client waits for procmux to take its request and answer it.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Client {
    stream: UnixStream,
    /// The server's pid, for messages.
    pid: i32,
}

/// The header that starts every answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// `ok`, or `ok WORD` (`attach`'s `ok pty`).
    Ok(String),
    Error(String),
}

/// Connects to the stack listening at `name`; `None` when nothing listens there. A socket
/// held by another user is an error: another user may have taken the name first.
pub fn connect(name: &str) -> io::Result<Option<Client>> {
    let Some((stream, uid, pid)) = open(name)? else {
        return Ok(None);
    };
    let me = nix::unistd::getuid().as_raw();
    if uid != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the control socket is held by uid {uid} (pid {pid}), not by you (uid {me})"),
        ));
    }
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(Some(Client { stream, pid }))
}

/// The uid and pid of the process that listens at `name`.
pub fn holder(name: &str) -> io::Result<(u32, i32)> {
    match open(name)? {
        Some((_, uid, pid)) => Ok((uid, pid)),
        None => Err(io::ErrorKind::AddrInUse.into()),
    }
}

/// A connection to `name` (bounded in time: a listener whose backlog is full makes `connect`
/// wait), with its peer's uid and pid.
fn open(name: &str) -> io::Result<Option<(UnixStream, u32, i32)>> {
    let fd = platform::socket::stream_socket()?;
    let timeout = TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0);
    setsockopt(&fd, SendTimeout, &timeout)?;
    let address = platform::socket::address(name)?;
    match connect_fd(fd.as_raw_fd(), &address) {
        Ok(()) => {}
        Err(nix::errno::Errno::ECONNREFUSED | nix::errno::Errno::ENOENT) => return Ok(None),
        Err(nix::errno::Errno::EAGAIN) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "a procmux listens for this stack but took no connection in {} s: is it \
                     paused (Ctrl-Z, SIGSTOP) or stuck?",
                    ANSWER_TIMEOUT.as_secs()
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let (uid, pid) = platform::socket::peer(&fd)?;
    Ok(Some((UnixStream::from(fd), uid, pid)))
}

impl Client {
    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `request` and reads the answer's header; the stream is then the body.
    pub fn ask(mut self, request: &Request) -> io::Result<(Header, UnixStream)> {
        let line = format!("{}\n", request.line());
        self.stream
            .write_all(line.as_bytes())
            .map_err(|e| explain(e, self.pid))?;
        let header = read_line(&mut self.stream).map_err(|e| explain(e, self.pid))?;
        let header = match header.strip_prefix("error\t") {
            Some(message) => Header::Error(message.to_owned()),
            None => match header.strip_prefix("ok") {
                Some(rest) => Header::Ok(rest.trim_start().to_owned()),
                None if header.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("procmux (pid {}) closed the connection", self.pid),
                    ));
                }
                None => Header::Error(format!("unexpected answer {header:?}")),
            },
        };
        Ok((header, self.stream))
    }
}

/// Turns a timeout on the connection to procmux `pid` into a message saying what is likely
/// wrong; other errors pass.
pub fn explain(error: io::Error, pid: i32) -> io::Error {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "procmux (pid {pid}) did not answer in {} s: is it paused (Ctrl-Z, SIGSTOP) or \
                 stuck?",
                ANSWER_TIMEOUT.as_secs()
            ),
        ),
        _ => error,
    }
}

/// One line (without its newline) of at most [`MAX_REQUEST`] bytes, read a byte at a time so
/// that nothing of the body after it is consumed.
fn read_line(stream: &mut impl Read) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < MAX_REQUEST {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
