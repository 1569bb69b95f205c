//! `ready = "tcp:…"`: a connect to 127.0.0.1 every [`PROBE_INTERVAL`] while an instance waits
//! for one. (`ready = "log:…"` is matched by the streams as lines go by.)

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::config::{Ready, Stack};

/// How often `ready = "tcp:…"` is tried.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How long one TCP readiness connect may take (loopback answers at once).
const PROBE_TIMEOUT: Duration = Duration::from_millis(50);

#[derive(Default)]
pub struct Probes {
    /// When the probes run next, while any instance waits for one.
    next: Option<Instant>,
}

impl Probes {
    pub fn next_due(&self) -> Option<Instant> {
        self.next
    }

    /// Probes every instance that `awaits` a TCP readiness, if probing is due; returns those
    /// found ready.
    pub fn run_due(
        &mut self,
        now: Instant,
        stack: &Stack,
        awaits: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        if self.next.is_some_and(|due| due > now) {
            return Vec::new();
        }
        self.next = None;
        let mut ready = Vec::new();
        for (index, spec) in stack.instances.iter().enumerate() {
            let Ready::Tcp(port) = stack.type_of(index).policy.ready else {
                continue;
            };
            if !awaits(index) {
                continue;
            }
            let address = SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(spec.port)));
            if TcpStream::connect_timeout(&address, PROBE_TIMEOUT).is_ok() {
                ready.push(index);
            } else {
                self.next = Some(now + PROBE_INTERVAL);
            }
        }
        ready
    }
}
