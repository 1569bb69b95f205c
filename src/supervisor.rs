//! The shutdown policy as a pure state machine: events in, actions out.
//!
//! The event loop feeds it what happened (a signal to procmux, a process exit, stdout closing,
//! the clock) and carries out the [`Action`]s it returns. Keeping the decisions here, free of
//! processes and fds, lets them be unit-tested with a fake clock, and gives later policies
//! (restarts, readiness) one place to grow.
//!
//! Phases: `Running` until the first trigger; then `Terminating` (SIGTERM sent once to every
//! group, waiting at most `timeout` for every descendant to be gone); then `Killing` (SIGKILL,
//! swept again every [`KILL_SWEEP`] to catch processes forked during the kill); then
//! `Abandoned` if something outlives [`KILL_WAIT`] (a process stuck in the kernel), so procmux
//! itself always ends.

use std::fmt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// How often the kill is repeated while descendants remain.
pub const KILL_SWEEP: Duration = Duration::from_millis(100);
/// How long after SIGKILL procmux waits for the last descendants before it exits anyway.
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// How a process ended, as `waitpid` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(Signal),
}

impl Exit {
    /// The shell convention: the exit code, or 128 + N for a death by signal N.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal as i32,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal(signal) => write!(f, "terminated by {}", signal.as_str()),
        }
    }
}

/// A `system` line the supervisor wants printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Received(Signal),
    ReceivedAgain(Signal),
    SendingTerm,
    GivingUp,
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Received(s) => write!(f, "{} received, starting shutdown", s.as_str()),
            Message::ReceivedAgain(s) => {
                write!(f, "{} received again, stopping at once", s.as_str())
            }
            Message::SendingTerm => f.write_str("sending SIGTERM to all processes"),
            Message::GivingUp => write!(
                f,
                "processes survived SIGKILL for {}s, exiting",
                KILL_WAIT.as_secs()
            ),
        }
    }
}

/// What the event loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Say(Message),
    /// SIGTERM to every process group, and to descendants that left their group.
    Terminate,
    /// SIGKILL to every group and every descendant, announcing how many processes remain.
    Kill,
    /// SIGKILL again to whatever is left, silently.
    KillRemaining,
    /// Pass a signal on to every process group.
    Forward(Signal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Terminating { deadline: Instant },
    Killing { since: Instant, next_sweep: Instant },
    Abandoned,
}

#[derive(Debug)]
pub struct Supervisor {
    phase: Phase,
    timeout: Duration,
    exit_code: i32,
}

impl Supervisor {
    pub fn new(timeout: Duration) -> Supervisor {
        Supervisor {
            phase: Phase::Running,
            timeout,
            exit_code: 0,
        }
    }

    /// A signal delivered to procmux.
    pub fn on_signal(&mut self, signal: Signal, now: Instant) -> Vec<Action> {
        use Signal::*;
        match (signal, self.phase) {
            (SIGUSR1 | SIGUSR2, Phase::Running | Phase::Terminating { .. }) => {
                vec![Action::Forward(signal)]
            }
            (SIGINT | SIGTERM | SIGHUP, Phase::Running) => {
                let mut actions = vec![Action::Say(Message::Received(signal))];
                actions.extend(self.begin_shutdown(128 + signal as i32, now));
                actions
            }
            (SIGINT | SIGTERM, Phase::Terminating { .. }) => {
                let mut actions = vec![Action::Say(Message::ReceivedAgain(signal))];
                actions.extend(self.begin_kill(now));
                actions
            }
            _ => Vec::new(),
        }
    }

    /// A supervised process ended (or could not start: `Exit::Code(127)`). For now any exit
    /// stops everything, as in foreman.
    pub fn on_exit(&mut self, exit: Exit, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::Running => self.begin_shutdown(exit.code(), now),
            _ => Vec::new(),
        }
    }

    /// procmux's stdout failed (the reader went away): stop quietly, exit 0.
    pub fn on_output_closed(&mut self, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::Running => {
                self.phase = Phase::Terminating {
                    deadline: now + self.timeout,
                };
                vec![Action::Terminate]
            }
            _ => Vec::new(),
        }
    }

    /// The clock reached [`Supervisor::deadline`] (or later).
    pub fn on_tick(&mut self, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::Terminating { deadline } if now >= deadline => self.begin_kill(now),
            Phase::Killing { since, .. } if now >= since + KILL_WAIT => {
                self.phase = Phase::Abandoned;
                vec![Action::Say(Message::GivingUp)]
            }
            Phase::Killing { since, next_sweep } if now >= next_sweep => {
                self.phase = Phase::Killing {
                    since,
                    next_sweep: now + KILL_SWEEP,
                };
                vec![Action::KillRemaining]
            }
            _ => Vec::new(),
        }
    }

    /// When `on_tick` next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Terminating { deadline } => Some(deadline),
            Phase::Killing { next_sweep, .. } => Some(next_sweep),
            Phase::Running | Phase::Abandoned => None,
        }
    }

    /// True once a shutdown started: procmux exits as soon as no descendant is left.
    pub fn is_stopping(&self) -> bool {
        self.phase != Phase::Running
    }

    /// True when procmux must exit even though descendants remain.
    pub fn is_abandoned(&self) -> bool {
        self.phase == Phase::Abandoned
    }

    /// procmux's exit code: decided by what started the shutdown.
    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }

    fn begin_shutdown(&mut self, exit_code: i32, now: Instant) -> Vec<Action> {
        self.exit_code = exit_code;
        self.phase = Phase::Terminating {
            deadline: now + self.timeout,
        };
        vec![Action::Say(Message::SendingTerm), Action::Terminate]
    }

    fn begin_kill(&mut self, now: Instant) -> Vec<Action> {
        self.phase = Phase::Killing {
            since: now,
            next_sweep: now + KILL_SWEEP,
        };
        vec![Action::Kill]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Signal::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    #[test]
    fn first_exit_stops_everything_with_its_code() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(TIMEOUT);
        assert!(!s.is_stopping());
        assert_eq!(
            s.on_exit(Exit::Code(3), t0),
            [Action::Say(Message::SendingTerm), Action::Terminate]
        );
        assert!(s.is_stopping());
        assert_eq!(s.on_exit(Exit::Code(0), t0), []);
        assert_eq!(s.exit_code(), 3);
        assert_eq!(s.deadline(), Some(t0 + TIMEOUT));
    }

    #[test]
    fn signal_death_is_128_plus_n() {
        let mut s = Supervisor::new(TIMEOUT);
        s.on_exit(Exit::Signal(SIGKILL), Instant::now());
        assert_eq!(s.exit_code(), 137);
        assert_eq!(Exit::Signal(SIGTERM).to_string(), "terminated by SIGTERM");
        assert_eq!(Exit::Code(1).to_string(), "exited with code 1");
    }

    #[test]
    fn signal_to_procmux_then_timeout_then_kill_sweeps_then_give_up() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(TIMEOUT);
        assert_eq!(
            s.on_signal(SIGINT, t0),
            [
                Action::Say(Message::Received(SIGINT)),
                Action::Say(Message::SendingTerm),
                Action::Terminate
            ]
        );
        assert_eq!(s.exit_code(), 130);
        assert_eq!(s.on_tick(t0 + TIMEOUT - Duration::from_millis(1)), []);
        let t1 = t0 + TIMEOUT;
        assert_eq!(s.on_tick(t1), [Action::Kill]);
        assert_eq!(s.deadline(), Some(t1 + KILL_SWEEP));
        assert_eq!(s.on_tick(t1 + KILL_SWEEP), [Action::KillRemaining]);
        assert!(!s.is_abandoned());
        assert_eq!(s.on_tick(t1 + KILL_WAIT), [Action::Say(Message::GivingUp)]);
        assert!(s.is_abandoned());
        assert_eq!(s.deadline(), None);
        assert_eq!(s.exit_code(), 130);
    }

    #[test]
    fn second_interrupt_kills_at_once_and_hup_does_not() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(TIMEOUT);
        s.on_signal(SIGTERM, t0);
        assert_eq!(s.exit_code(), 143);
        assert_eq!(s.on_signal(SIGHUP, t0), []);
        assert_eq!(
            s.on_signal(SIGINT, t0),
            [Action::Say(Message::ReceivedAgain(SIGINT)), Action::Kill]
        );
        assert_eq!(s.on_signal(SIGINT, t0), []);
        assert_eq!(s.exit_code(), 143);
    }

    #[test]
    fn hup_starts_a_shutdown_and_usr_signals_are_forwarded() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(TIMEOUT);
        assert_eq!(s.on_signal(SIGUSR1, t0), [Action::Forward(SIGUSR1)]);
        s.on_signal(SIGHUP, t0);
        assert_eq!(s.exit_code(), 129);
        assert_eq!(s.on_signal(SIGUSR2, t0), [Action::Forward(SIGUSR2)]);
    }

    #[test]
    fn closed_output_stops_quietly_with_zero() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(TIMEOUT);
        assert_eq!(s.on_output_closed(t0), [Action::Terminate]);
        assert_eq!(s.exit_code(), 0);
        assert_eq!(s.on_exit(Exit::Code(9), t0), []);
        assert_eq!(s.exit_code(), 0);
    }
}
