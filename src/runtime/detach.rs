//! `procmux start --detach`: the procmux that runs the stack, started as a copy of this one
//! (`procmux start --detached-procmux ARGS…`, built by `lib.rs`) in a session of its own,
//! with no terminal:
//! stdin and stdout `/dev/null` (its output lives only in its tail), stderr a pipe this
//! process reads until the stack is up (then it exits, and what the detached procmux says
//! later goes nowhere). When a failure stops the stack first, the detached procmux says on
//! that pipe, as it exits, which instance failed (the release phase named as such) with its
//! last lines, and this process shows it. No file is written: the control channel is an
//! abstract socket.

use std::ffi::OsString;
use std::io::{self, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::sys;

/// The most of its stderr kept to explain an early exit.
const MAX_STDERR: usize = 16 * 1024;

/// The detached procmux, while this one waits for its stack.
pub struct Detached {
    child: Child,
    /// Its stderr, whole, once it closed.
    stderr: Receiver<Vec<u8>>,
}

/// Starts the detached procmux: this program with `args`.
pub fn spawn(args: &[OsString]) -> io::Result<Detached> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    sys::new_session(&mut command);
    let mut child = command.spawn()?;
    let (sender, stderr) = channel();
    if let Some(mut pipe) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = MAX_STDERR.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            let _ = sender.send(kept);
        });
    }
    Ok(Detached { child, stderr })
}

impl Detached {
    /// Why the detached procmux is gone, once it is: its exit and what it said (the failure
    /// that stopped its stack, with the last lines: see `runtime::run`).
    pub fn ended(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(self.said().unwrap_or_else(|| {
            format!("the detached procmux exited ({status}) before the stack was up")
        }))
    }

    /// The failure the detached procmux reports once its stack stopped and it exits, waiting
    /// for that at most `within` (its stack's stop takes up to the longest stop timeout).
    /// `None` when it said nothing, or is still running then.
    pub fn report(&mut self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while self.child.try_wait().ok()?.is_none() {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.said()
    }

    /// What it wrote on stderr, without `procmux: error: `, once (its pipe closed).
    fn said(&mut self) -> Option<String> {
        let said = self.stderr.recv_timeout(Duration::from_secs(1)).ok()?;
        let said = String::from_utf8_lossy(&said);
        let said = said.trim().trim_start_matches("procmux: error: ");
        (!said.is_empty()).then(|| said.to_owned())
    }
}
