//! Input from procmux's own terminal: `--stdin NAME` sends what is typed there to one
//! instance, line by line (the terminal stays in its usual line mode, so Ctrl-C still stops
//! the stack). Without it, an instance on a pty that sits at a prompt (an idle partial line,
//! and the kernel says it reads its terminal: see `prompt.rs`) gets one `system` line saying
//! how to reach it (`procmux attach`).
//!
//! procmux's stdin is shared with the shell, so it is never made non-blocking: after the
//! poll says it is readable, it is read while a zero-timeout `poll` says there is more.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::token::Token;

pub struct Input {
    /// The instance `--stdin` names.
    pub target: Option<usize>,
    /// procmux's stdin is a terminal: a prompt can be answered by a person.
    interactive: bool,
    /// Per instance: told once how to reach its prompt.
    hinted: Vec<bool>,
    /// Still reading stdin (not at EOF).
    open: bool,
}

impl Input {
    pub fn new(target: Option<usize>, instances: usize, registry: &Registry) -> io::Result<Input> {
        let stdin = io::stdin();
        let interactive = nix::unistd::isatty(stdin.as_fd()).unwrap_or(false);
        let mut open = false;
        if target.is_some() {
            let fd = stdin.as_raw_fd();
            registry
                .register(&mut SourceFd(&fd), Token::Stdin.into(), Interest::READABLE)
                .map_err(|e| match e.raw_os_error() {
                    // epoll takes terminals, pipes and sockets, not files.
                    Some(nix::libc::EPERM) => io::Error::new(
                        e.kind(),
                        "procmux's stdin is a file, not a terminal or a pipe",
                    ),
                    _ => e,
                })?;
            open = true;
        }
        Ok(Input {
            target,
            interactive,
            hinted: vec![false; instances],
            open,
        })
    }

    /// Reads what stdin holds now, without blocking; empty at EOF (then it is not read
    /// again).
    pub fn read(&mut self, registry: &Registry) -> Vec<u8> {
        let stdin = io::stdin();
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        while self.open {
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
                break;
            }
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    self.open = false;
                    let fd = stdin.as_raw_fd();
                    let _ = registry.deregister(&mut SourceFd(&fd));
                }
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
        bytes
    }

    /// True the first time `instance` (on a pty) sits at a prompt nobody here can answer:
    /// procmux's stdin is a terminal and `--stdin` does not name it.
    pub fn should_hint(&mut self, instance: usize, on_pty: bool) -> bool {
        if !on_pty || !self.interactive || self.target == Some(instance) || self.hinted[instance] {
            return false;
        }
        self.hinted[instance] = true;
        true
    }
}
