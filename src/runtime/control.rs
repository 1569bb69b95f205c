//! The server end of the control channel (see [`crate::control`]): a non-blocking listener on
//! the abstract socket and its connections, in the same poll as everything else.
//!
//! A broken, slow or hostile client can neither crash procmux nor stall the output loop:
//! every socket is non-blocking, a request is one line of at most [`MAX_REQUEST`] bytes, an
//! answer waits in a bounded buffer, connections are capped, and a client of another user is
//! closed at once (`SO_PEERCRED`). Followers of `logs -f` are fed from the output's tail and
//! told when they fell behind ([`Control::feed`]).

use std::io::{self, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use super::token::Token;
use crate::control::{self, Frame, MAX_REQUEST, Request};
use crate::output::Tail;

/// Connections served at once; more are closed as they come.
const MAX_CLIENTS: usize = 64;
/// Bytes of answer a connection may have waiting.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// The result of trying to listen.
pub enum Bound {
    Listening(Control),
    /// Another procmux listens on the name already; its pid, if it answered.
    Taken(Option<i32>),
}

pub struct Control {
    listener: UnixListener,
    /// Connections by slot (`Token::Client(slot)`).
    clients: Vec<Option<Connection>>,
}

struct Connection {
    stream: UnixStream,
    /// A request line being read.
    input: Vec<u8>,
    /// The answer not yet sent.
    output: Vec<u8>,
    /// The request was answered: close once `output` is sent.
    done: bool,
    /// `logs -f`: instances whose lines it follows, and how far it got in the tail.
    follower: Option<Follower>,
    /// `attach`: the instance whose session this is.
    attached: Option<usize>,
}

/// What a connection brought.
pub enum Incoming {
    Request(Request),
    /// Input for the attached instance.
    Input(usize, Vec<u8>),
    /// The attached client's terminal size.
    Size {
        instance: usize,
        rows: u16,
        cols: u16,
    },
    /// An attached client went away.
    Detached(usize),
}

impl Follower {
    /// True for a write about one of its instances, or about the whole stack.
    pub fn wants(&self, owner: Option<usize>) -> bool {
        self.instances.is_empty() || owner.is_none_or(|i| self.instances.contains(&i))
    }
}

/// A `logs -f` client's place in the output's tail.
pub struct Follower {
    /// Instances whose lines it wants; empty: all. Lines about the whole stack always go.
    pub instances: Vec<usize>,
    /// The number of the next write to send.
    pub next: u64,
}

/// Listens on the abstract socket `name`.
pub fn bind(name: &str, registry: &Registry) -> io::Result<Bound> {
    let address = SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = match std::os::unix::net::UnixListener::bind_addr(&address) {
        Ok(listener) => listener,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            return Ok(Bound::Taken(running_pid(name)));
        }
        Err(e) => return Err(e),
    };
    listener.set_nonblocking(true)?;
    let mut listener = UnixListener::from_std(listener);
    registry.register(&mut listener, Token::Control.into(), Interest::READABLE)?;
    Ok(Bound::Listening(Control {
        listener,
        clients: Vec::new(),
    }))
}

/// Asks the procmux that holds `name` for its pid.
fn running_pid(name: &str) -> Option<i32> {
    let client = control::connect(name).ok()??;
    let mut lines = client.ask(&Request::Pid).ok()?;
    lines.next()?.ok()?.trim().parse().ok()
}

impl Control {
    /// Accepts every waiting connection of this user.
    pub fn accept(&mut self, registry: &Registry) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of fds, say: the client sees its connection closed.
                Err(_) => return,
            };
            let me = nix::unistd::getuid().as_raw();
            let same_user = getsockopt(&stream, PeerCredentials).is_ok_and(|c| c.uid() == me);
            let slot = self
                .clients
                .iter()
                .position(Option::is_none)
                .unwrap_or(self.clients.len());
            if !same_user || slot >= MAX_CLIENTS {
                continue; // dropped: closed
            }
            let token = Token::Client(slot).into();
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            let connection = Connection {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                done: false,
                follower: None,
                attached: None,
            };
            if slot == self.clients.len() {
                self.clients.push(Some(connection));
            } else {
                self.clients[slot] = Some(connection);
            }
        }
    }

    /// Reads from connection `slot`: its request once the line is complete, or an attached
    /// session's input. A request that is malformed or too long is answered with an error
    /// and the connection closed.
    pub fn read(&mut self, slot: usize, registry: &Registry) -> Vec<Incoming> {
        let mut incoming = Vec::new();
        let Some(Some(connection)) = self.clients.get_mut(slot) else {
            return incoming;
        };
        let mut buf = [0u8; 4096];
        loop {
            match connection.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if connection.attached.is_some() => {
                    connection.input.extend_from_slice(&buf[..n]);
                    let instance = connection.attached.unwrap_or_default();
                    match control::take_frames(&mut connection.input, MAX_PENDING) {
                        Ok(frames) => incoming.extend(frames.into_iter().map(|f| match f {
                            Frame::Input(bytes) => Incoming::Input(instance, bytes),
                            Frame::Size { rows, cols } => Incoming::Size {
                                instance,
                                rows,
                                cols,
                            },
                        })),
                        Err(_) => break,
                    }
                }
                // Nothing more is read from a client that was answered.
                Ok(_) if connection.follower.is_some() || connection.done => {}
                Ok(n) => {
                    connection.input.extend_from_slice(&buf[..n]);
                    if let Some(end) = connection.input.iter().position(|&b| b == b'\n') {
                        let line = String::from_utf8_lossy(&connection.input[..end]).into_owned();
                        connection.input.drain(..=end);
                        match Request::parse(&line) {
                            Ok(request) => incoming.push(Incoming::Request(request)),
                            Err(message) => {
                                self.answer(
                                    slot,
                                    format!("error\t{message}\n").as_bytes(),
                                    registry,
                                );
                            }
                        }
                        return incoming;
                    }
                    if connection.input.len() > MAX_REQUEST {
                        self.answer(slot, b"error\trequest too long\n", registry);
                        return incoming;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return incoming,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // End of stream, an error, or a malformed session: closed.
        if let Some(instance) = self.close(slot, registry) {
            incoming.push(Incoming::Detached(instance));
        }
        incoming
    }

    /// Makes connection `slot` a session with `instance`, telling the client how to talk
    /// (`ok pty`: keys; `ok pipe`: lines).
    pub fn attach(&mut self, slot: usize, instance: usize, pty: bool, registry: &Registry) {
        if let Some(Some(connection)) = self.clients.get_mut(slot) {
            connection.attached = Some(instance);
            let answer: &[u8] = if pty { b"ok pty\n" } else { b"ok pipe\n" };
            connection.output.extend_from_slice(answer);
        }
        self.flush(slot, registry);
    }

    /// True while some client is attached to `instance`.
    pub fn is_attached(&self, instance: usize) -> bool {
        self.clients
            .iter()
            .flatten()
            .any(|c| c.attached == Some(instance))
    }

    /// Sends `instance`'s raw output to the clients attached to it (what does not fit their
    /// buffer is dropped: a slow client never slows the stack).
    pub fn mirror(&mut self, instance: usize, bytes: &[u8], registry: &Registry) {
        for slot in 0..self.clients.len() {
            if let Some(Some(connection)) = self.clients.get_mut(slot)
                && connection.attached == Some(instance)
            {
                if connection.output.len() + bytes.len() <= MAX_PENDING {
                    connection.output.extend_from_slice(bytes);
                }
                self.flush(slot, registry);
            }
        }
    }

    /// `instance` exited: its sessions end, with `message`.
    pub fn end_sessions(&mut self, instance: usize, message: &str, registry: &Registry) {
        for slot in 0..self.clients.len() {
            if let Some(Some(connection)) = self.clients.get_mut(slot)
                && connection.attached == Some(instance)
            {
                connection.output.extend_from_slice(message.as_bytes());
                connection.attached = None;
                connection.done = true;
                self.flush(slot, registry);
            }
        }
    }

    /// Answers connection `slot` with `text` and closes it once sent.
    pub fn answer(&mut self, slot: usize, text: &[u8], registry: &Registry) {
        if let Some(Some(connection)) = self.clients.get_mut(slot) {
            connection.done = true;
            if connection.output.len() + text.len() <= MAX_PENDING {
                connection.output.extend_from_slice(text);
            }
        }
        self.flush(slot, registry);
    }

    /// Makes connection `slot` a follower of `logs -f`.
    pub fn follow(&mut self, slot: usize, follower: Follower) {
        if let Some(Some(connection)) = self.clients.get_mut(slot) {
            connection.follower = Some(follower);
        }
    }

    /// Sends what connection `slot` has waiting, as far as the socket takes it.
    pub fn flush(&mut self, slot: usize, registry: &Registry) {
        let Some(Some(connection)) = self.clients.get_mut(slot) else {
            return;
        };
        while !connection.output.is_empty() {
            match connection.stream.write(&connection.output) {
                Ok(0) => break,
                Ok(n) => {
                    connection.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // A reader gone: its session (if any) ends when its next read says so.
                    connection.output.clear();
                    connection.done = true;
                    connection.attached = None;
                    break;
                }
            }
        }
        if connection.done && connection.follower.is_none() && connection.attached.is_none() {
            self.close(slot, registry);
        }
    }

    /// Feeds every follower what the tail got since, as far as its buffer allows; one that
    /// fell behind the tail is told it lost lines. The main stream never waits for them.
    pub fn feed(&mut self, tail: &Tail, registry: &Registry) {
        for slot in 0..self.clients.len() {
            let Some(Some(connection)) = self.clients.get_mut(slot) else {
                continue;
            };
            let Some(follower) = &mut connection.follower else {
                continue;
            };
            let (lost, writes) = tail.since(follower.next);
            if lost > 0 {
                follower.next += lost;
                connection
                    .output
                    .extend_from_slice(b"procmux: lines were lost here: this reader fell behind\n");
            }
            for (number, owner, bytes) in writes {
                if follower.wants(owner) {
                    if connection.output.len() + bytes.len() > MAX_PENDING {
                        break;
                    }
                    connection.output.extend_from_slice(bytes);
                }
                follower.next = number + 1;
            }
            self.flush(slot, registry);
        }
    }

    /// Closes connection `slot`; the instance it was attached to, if any.
    fn close(&mut self, slot: usize, registry: &Registry) -> Option<usize> {
        let mut connection = self.clients.get_mut(slot).and_then(Option::take)?;
        let _ = registry.deregister(&mut connection.stream);
        connection.attached
    }
}
