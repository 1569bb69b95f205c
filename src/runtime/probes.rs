//! Readiness that tells the truth, without ever blocking the loop.
//!
//! - `ready = "tcp:PORT"`: the instance's **own** process tree listens on the port, IPv4 or
//!   IPv6: a listening socket in `/proc/net/tcp{,6}` whose inode is one of the tree's open
//!   fds. Another program on the port (a system Redis, a second procmux) does not count, a
//!   server bound to `::1` only does, and nothing connects to the server.
//! - `ready = "http://HOST:PORT/PATH"`: a GET answered 2xx or 3xx. The connection is
//!   non-blocking, registered with the poll under [`Token::Probe`], and bounded by
//!   [`ATTEMPT_TIMEOUT`].
//!
//! Both are tried every [`PROBE_INTERVAL`] while an instance waits for them. `ready =
//! "exec:COMMAND"` is run every `ready_interval` by [`Checks`]. (`ready = "log:…"` is matched
//! by the streams as lines go by.)

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::checks::Checks;
use super::children::Children;
use super::token::Token;
use super::{procfs, sys};
use crate::config::policy::HttpProbe;
use crate::config::{Ready, Stack};

/// How often readiness is tried.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How long one HTTP attempt may take before it is dropped and tried again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes of a response read at most: the status line is all that matters.
const RESPONSE_MAX: usize = 1024;

pub struct Probes {
    /// When the probes run next, while any instance waits for one.
    next: Option<Instant>,
    /// HTTP attempts in flight, by instance.
    attempts: Vec<(usize, Attempt)>,
    /// `exec:` checks.
    pub checks: Checks,
}

struct Attempt {
    stream: TcpStream,
    request: Vec<u8>,
    sent: usize,
    response: Vec<u8>,
    deadline: Instant,
}

/// The port a probe looks at: its own, or the instance's `$PORT`.
pub fn port_of(ready: &Ready, instance_port: u16) -> Option<u16> {
    match ready {
        Ready::Tcp(port) => Some(port.unwrap_or(instance_port)),
        Ready::Http(probe) if probe.ip.is_loopback() => Some(probe.port.unwrap_or(instance_port)),
        _ => None,
    }
}

/// Before an instance with a probe on `port` starts: an error naming the program that holds
/// the port already, where it is visible.
pub fn check_port_free(port: u16) -> io::Result<()> {
    let inodes = procfs::listening(port);
    if inodes.is_empty() {
        return Ok(());
    }
    let message = match procfs::holder(&inodes) {
        Some((pid, name)) => format!("port {port} is already in use by pid {pid} ({name})"),
        None => format!("port {port} is already in use"),
    };
    Err(io::Error::new(io::ErrorKind::AddrInUse, message))
}

impl Probes {
    pub fn new(instances: usize, fd_limit: Option<sys::FdLimit>) -> Probes {
        Probes {
            next: None,
            attempts: Vec::new(),
            checks: Checks::new(instances, fd_limit),
        }
    }

    /// `instance` (re)started and waits for its readiness: its probe or check is due at `now`.
    pub fn due(&mut self, instance: usize, now: Instant) {
        self.next = Some(self.next.map_or(now, |next| next.min(now)));
        self.checks.due(instance, now);
    }

    pub fn next_due(&self) -> Option<Instant> {
        let attempts = self.attempts.iter().map(|(_, a)| a.deadline);
        self.next
            .into_iter()
            .chain(attempts)
            .chain(self.checks.next_due())
            .min()
    }

    /// Runs the probes that are due for every instance that `awaits` one; returns those
    /// found ready.
    pub fn run_due(
        &mut self,
        now: Instant,
        stack: &Stack,
        children: &mut Children,
        registry: &Registry,
        awaits: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        // Attempts for instances that no longer wait, or that took too long, are dropped.
        self.attempts.retain_mut(|(instance, attempt)| {
            let keep = awaits(*instance) && attempt.deadline > now;
            if !keep {
                let _ = registry.deregister(&mut attempt.stream);
            }
            keep
        });
        let mut ready = self.checks.run_due(now, stack, children, registry, &awaits);
        if self.next.is_some_and(|due| due > now) {
            return ready;
        }
        self.next = None;
        for (instance, spec) in stack.instances.iter().enumerate() {
            let policy = &stack.type_of(instance).policy;
            if !policy.ready.is_reported() || !awaits(instance) {
                continue;
            }
            match &policy.ready {
                Ready::Tcp(port) => {
                    if tree_listens(children, instance, port.unwrap_or(spec.port)) {
                        ready.push(instance);
                        continue;
                    }
                }
                Ready::Http(probe) => {
                    if !self.attempts.iter().any(|(i, _)| *i == instance) {
                        let port = probe.port.unwrap_or(spec.port);
                        if let Ok(attempt) = Attempt::start(probe, port, instance, registry, now) {
                            self.attempts.push((instance, attempt));
                        }
                    }
                }
                _ => continue,
            }
            self.next = Some(now + PROBE_INTERVAL);
        }
        ready
    }

    /// The HTTP attempt of `instance` can make progress: true once it got a 2xx or 3xx. (Or
    /// its `exec:` check has output to read.)
    pub fn on_event(&mut self, instance: usize, registry: &Registry) -> bool {
        let Some(at) = self.attempts.iter().position(|(i, _)| *i == instance) else {
            self.checks.on_event(instance, registry);
            return false;
        };
        match self.attempts[at].1.advance() {
            Progress::Pending => false,
            done => {
                let (_, mut attempt) = self.attempts.swap_remove(at);
                let _ = registry.deregister(&mut attempt.stream);
                done == Progress::Ready
            }
        }
    }
}

/// True when one of `instance`'s processes has a socket listening on `port`.
fn tree_listens(children: &mut Children, instance: usize, port: u16) -> bool {
    let listening = procfs::listening(port);
    !listening.is_empty()
        && children.tree_pids(instance).into_iter().any(|pid| {
            procfs::socket_inodes(pid)
                .iter()
                .any(|i| listening.contains(i))
        })
}

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    Pending,
    Ready,
    Failed,
}

impl Attempt {
    fn start(
        probe: &HttpProbe,
        port: u16,
        instance: usize,
        registry: &Registry,
        now: Instant,
    ) -> io::Result<Attempt> {
        let mut stream = TcpStream::connect(SocketAddr::new(probe.ip, port))?;
        registry.register(
            &mut stream,
            Token::Probe(instance).into(),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: procmux\r\nConnection: close\r\n\r\n",
            probe.path, probe.host
        );
        Ok(Attempt {
            stream,
            request: request.into_bytes(),
            sent: 0,
            response: Vec::new(),
            deadline: now + ATTEMPT_TIMEOUT,
        })
    }

    /// Sends what is left of the request, reads what the server answered, until either
    /// would block.
    fn advance(&mut self) -> Progress {
        if let Ok(Some(_)) | Err(_) = self.stream.take_error() {
            return Progress::Failed;
        }
        while self.sent < self.request.len() {
            match self.stream.write(&self.request[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if would_block(&e) => return Progress::Pending,
                Err(_) => return Progress::Failed,
            }
        }
        let mut buf = [0u8; 256];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return status(&self.response),
                Ok(n) => {
                    self.response.extend_from_slice(&buf[..n]);
                    if self.response.contains(&b'\n') || self.response.len() >= RESPONSE_MAX {
                        return status(&self.response);
                    }
                }
                Err(e) if would_block(&e) => return Progress::Pending,
                Err(_) => return Progress::Failed,
            }
        }
    }
}

fn would_block(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::NotConnected
    )
}

/// Ready for a status line `HTTP/1.x 2xx` or `3xx`.
fn status(response: &[u8]) -> Progress {
    let line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    let code = line
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.trim().parse::<u16>().ok());
    match code {
        Some(200..=399) if line.starts_with(b"HTTP/") => Progress::Ready,
        _ => Progress::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.0 200 OK\r\n"), Progress::Ready);
        assert_eq!(status(b"HTTP/1.1 302 Found\r\n"), Progress::Ready);
        assert_eq!(
            status(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Progress::Failed
        );
        assert_eq!(status(b"SSH-2.0-OpenSSH\r\n"), Progress::Failed);
        assert_eq!(status(b""), Progress::Failed);
    }

    #[test]
    fn probes_look_at_their_own_port_or_the_instance_s() {
        assert_eq!(port_of(&Ready::Tcp(None), 5000), Some(5000));
        assert_eq!(port_of(&Ready::Tcp(Some(6379)), 5000), Some(6379));
        assert_eq!(port_of(&Ready::Started, 5000), None);
    }
}
