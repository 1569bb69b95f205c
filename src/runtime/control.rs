//! The server end of the control channel (see [`crate::control`]): a non-blocking listener on
//! the control socket and its connections, in the same poll as everything else.
//!
//! This part only does I/O: accept, read, write, close. What each connection may send, what
//! it is sent and within which budget is its [`Session`]'s, a pure state machine. Bounds:
//! [`MAX_CLIENTS`] connections, of which at most [`MAX_LONG_LIVED`] stay open (`logs -f`,
//! `attach`), so that `status`, `stop` and `restart` always find a slot; at the cap, a
//! connection that never sent its request, then a reader that does not read, is closed to
//! make room. A client of another user is closed at once (`SO_PEERCRED`).

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry};
use nix::sys::socket::setsockopt;
use nix::sys::socket::sockopt::SndBuf;

use super::token::Token;
use crate::control::{self, Incoming, Reader, Session};
use crate::output::Tail;
use crate::platform;

/// Connections served at once.
const MAX_CLIENTS: usize = 64;
/// Of which at most this many `logs -f` followers and attached clients.
const MAX_LONG_LIVED: usize = 48;
/// The send buffer asked for each connection.
const SOCKET_BUFFER: usize = 64 * 1024;

/// The result of trying to listen.
pub enum Bound {
    Listening(Control),
    /// Another procmux listens on the name already: its uid and pid.
    Taken {
        uid: u32,
        pid: i32,
    },
}

pub struct Control {
    listener: UnixListener,
    /// Connections by slot (`Token::Client(slot)`).
    clients: Vec<Option<Connection>>,
    /// The socket's file where the OS needs one (macOS), removed with the listener.
    _file: platform::socket::SocketFile,
}

struct Connection {
    stream: UnixStream,
    session: Session,
    /// The socket took everything last time: worth writing to. False after `WouldBlock`,
    /// until its next event (mio is edge-triggered), so a client that does not read costs no
    /// syscall per turn.
    writable: bool,
}

/// True when `stream` has bytes waiting to be read.
fn has_bytes(stream: &UnixStream) -> bool {
    let mut byte = [0u8; 1];
    let flags = nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT;
    nix::sys::socket::recv(stream.as_raw_fd(), &mut byte, flags).is_ok_and(|n| n > 0)
}

/// Listens at `name` (an abstract socket on Linux, a socket file on macOS: `platform::socket`).
pub fn bind(name: &str, registry: &Registry) -> io::Result<Bound> {
    let (listener, file) = match platform::socket::bind(name) {
        Ok(bound) => bound,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let (uid, pid) = control::holder(name)?;
            return Ok(Bound::Taken { uid, pid });
        }
        Err(e) => return Err(e),
    };
    listener.set_nonblocking(true)?;
    let mut listener = UnixListener::from_std(listener);
    registry.register(&mut listener, Token::Control.into(), Interest::READABLE)?;
    Ok(Bound::Listening(Control {
        listener,
        clients: Vec::new(),
        _file: file,
    }))
}

impl Control {
    /// Accepts every waiting connection of this user, making room at the cap.
    pub fn accept(&mut self, registry: &Registry, now: Instant) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of fds, say: the client sees its connection closed.
                Err(_) => return,
            };
            let me = nix::unistd::getuid().as_raw();
            if !platform::socket::peer(&stream).is_ok_and(|(uid, _)| uid == me) {
                continue; // dropped: closed
            }
            let Some(slot) = self.free_slot(registry) else {
                // Every slot holds a client that is being served: say so, then close.
                let _ = stream.write(b"error\tprocmux is serving too many connections\n");
                continue;
            };
            // The kernel's own buffer for a client that does not read: the session's queue
            // is the budget that counts, this only smooths (the kernel doubles it).
            let _ = setsockopt(&stream, SndBuf, &SOCKET_BUFFER);
            let token = Token::Client(slot).into();
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            let connection = Connection {
                stream,
                session: Session::new(now),
                writable: true,
            };
            if slot == self.clients.len() {
                self.clients.push(Some(connection));
            } else {
                self.clients[slot] = Some(connection);
            }
        }
    }

    /// A free slot, closing the connection that matters least when there is none (see
    /// `Session::eviction_rank`, the oldest first). A connection whose request is waiting
    /// in its socket, not read yet, is not taken for a silent one.
    fn free_slot(&mut self, registry: &Registry) -> Option<usize> {
        if let Some(free) = self.clients.iter().position(Option::is_none) {
            return Some(free);
        }
        if self.clients.len() < MAX_CLIENTS {
            return Some(self.clients.len());
        }
        let victim = self
            .clients
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| {
                let c = c.as_ref()?;
                let rank = c.session.eviction_rank(!c.writable)?;
                if rank == 0 && has_bytes(&c.stream) {
                    return None;
                }
                Some((rank, c.session.opened(), slot))
            })
            .min()?
            .2;
        self.close(victim, registry);
        Some(victim)
    }

    /// When the next connection that has not sent its request times out.
    pub fn next_due(&self) -> Option<Instant> {
        self.sessions().filter_map(Session::deadline).min()
    }

    /// Closes the connections that did not send their request in time.
    pub fn expire(&mut self, now: Instant, registry: &Registry) {
        for slot in 0..self.clients.len() {
            let late = self.session(slot).and_then(Session::deadline);
            if late.is_some_and(|due| due <= now) {
                self.close(slot, registry);
            }
        }
    }

    fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.clients.iter().flatten().map(|c| &c.session)
    }

    fn session(&self, slot: usize) -> Option<&Session> {
        self.clients.get(slot)?.as_ref().map(|c| &c.session)
    }

    fn session_mut(&mut self, slot: usize) -> Option<&mut Session> {
        self.clients.get_mut(slot)?.as_mut().map(|c| &mut c.session)
    }

    /// An event for connection `slot`: it may take bytes again.
    pub fn woke(&mut self, slot: usize) {
        if let Some(Some(connection)) = self.clients.get_mut(slot) {
            connection.writable = true;
        }
    }

    /// Reads what connection `slot` sent: its request, or an attached session's input.
    /// `hung_up`: the client closed both ways (it gave up waiting): what it asked is not
    /// done, as nobody would hear the answer and the client already said it failed.
    pub fn read(&mut self, slot: usize, hung_up: bool, registry: &Registry) -> Vec<Incoming> {
        let mut incoming = Vec::new();
        let Some(Some(connection)) = self.clients.get_mut(slot) else {
            return incoming;
        };
        let mut buf = [0u8; 4096];
        let gone = loop {
            match connection.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => incoming.extend(connection.session.received(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if gone {
            // A client that sent its request and closed its end may still read the answer;
            // a silent one, an attached one or a follower has nothing more to wait for.
            let session = &connection.session;
            if hung_up || session.is_long_lived() || session.deadline().is_some() {
                incoming.retain(|i| !matches!(i, Incoming::Request(_)));
                self.close(slot, registry);
                return incoming;
            }
        }
        self.flush(slot, registry);
        incoming
    }

    /// Answers connection `slot` with `text`; it closes once that is sent.
    pub fn answer(&mut self, slot: usize, text: &[u8], registry: &Registry) {
        if let Some(session) = self.session_mut(slot) {
            session.answer(text);
        }
        self.flush(slot, registry);
    }

    /// Answers connection `slot` with an error; it closes once that is sent.
    pub fn refuse(&mut self, slot: usize, message: &str, registry: &Registry) {
        if let Some(session) = self.session_mut(slot) {
            session.error(message);
        }
        self.flush(slot, registry);
    }

    /// Makes connection `slot` a reader of the tail; `Err` with a message at the cap of
    /// long-lived connections.
    pub fn read_tail(&mut self, slot: usize, reader: Reader, tail: &Tail) -> Result<(), String> {
        if reader.until.is_none() {
            self.room_for_long_lived()?;
        }
        if let Some(session) = self.session_mut(slot) {
            session.read(reader);
            session.feed(tail);
        }
        Ok(())
    }

    /// Makes connection `slot` a session with `instance`; `Err` at the cap.
    pub fn attach(&mut self, slot: usize, instance: usize, pty: bool) -> Result<(), String> {
        self.room_for_long_lived()?;
        if let Some(session) = self.session_mut(slot) {
            session.attach(instance, pty);
        }
        Ok(())
    }

    /// `Err` with a message when the long-lived connections are at their cap.
    fn room_for_long_lived(&self) -> Result<(), String> {
        let long_lived = self.sessions().filter(|s| s.is_long_lived()).count();
        if long_lived >= MAX_LONG_LIVED {
            return Err(format!(
                "too many followers and attached clients (at most {MAX_LONG_LIVED})"
            ));
        }
        Ok(())
    }

    /// The instances some client is attached to.
    pub fn attached(&self) -> Vec<usize> {
        self.sessions().filter_map(Session::attached).collect()
    }

    /// Sends `instance`'s raw output to the clients attached to it.
    pub fn mirror(&mut self, instance: usize, bytes: &[u8], registry: &Registry) {
        for slot in 0..self.clients.len() {
            if let Some(session) = self.session_mut(slot)
                && session.attached() == Some(instance)
            {
                session.mirror(bytes);
                self.flush(slot, registry);
            }
        }
    }

    /// `instance` exited: its sessions end, with `message`.
    pub fn end_sessions(&mut self, instance: usize, message: &str, registry: &Registry) {
        for slot in 0..self.clients.len() {
            if let Some(session) = self.session_mut(slot)
                && session.attached() == Some(instance)
            {
                session.end_attached(message);
                self.flush(slot, registry);
            }
        }
    }

    /// Feeds every reader of the tail that can take bytes what it got since, and sends what
    /// fits. A reader whose socket is full gets nothing (and costs nothing) until it reads.
    pub fn feed(&mut self, tail: &Tail, registry: &Registry) {
        for slot in 0..self.clients.len() {
            if let Some(Some(connection)) = self.clients.get_mut(slot)
                && connection.writable
            {
                connection.session.feed(tail);
                self.flush(slot, registry);
            }
        }
    }

    /// Sends what connection `slot` has waiting, as far as the socket takes it; closes it
    /// once it said everything, or when the client is gone.
    pub fn flush(&mut self, slot: usize, registry: &Registry) {
        let Some(Some(connection)) = self.clients.get_mut(slot) else {
            return;
        };
        while connection.writable {
            let pending = connection.session.pending();
            if pending.is_empty() {
                break;
            }
            match connection.stream.write(pending) {
                Ok(0) => break,
                Ok(n) => connection.session.sent(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    connection.writable = false;
                    return;
                }
                // The reader is gone.
                Err(_) => return self.close(slot, registry),
            }
        }
        if connection.session.finished() {
            self.close(slot, registry);
        }
    }

    fn close(&mut self, slot: usize, registry: &Registry) {
        if let Some(mut connection) = self.clients.get_mut(slot).and_then(Option::take) {
            let _ = registry.deregister(&mut connection.stream);
        }
    }
}
