//! What procmux tells the user, as values: the supervisor and the runtime emit [`Notice`]s,
//! and the output stage renders each as a text line or a JSON object with its own `event`
//! kind. Keeping them typed (not preformatted text) is what lets JSON carry the facts
//! (`code`, `delay_ms`, `attempt`) instead of a sentence.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::Exit;

/// Something worth a line of procmux's own. `instance` is an index into the stack's
/// instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `web.1 | started with pid 42`.
    Started { instance: usize, pid: Pid },
    /// `web.1 | exited with code 3`, `terminated by SIGTERM`.
    Exited {
        instance: usize,
        pid: Pid,
        exit: Exit,
    },
    /// The process could not be started (a missing directory, `E2BIG`).
    FailedToStart { instance: usize, error: String },
    /// Its command goes through the shell, which drops these environment names (not shell
    /// identifiers), comma-separated.
    NamesDropped { instance: usize, names: String },
    /// It waits for a type that is not started (`--no-deps`): that readiness is skipped.
    NotWaiting { instance: usize, dependency: String },
    /// Its readiness (a probe, a log line, a delay, a one-shot's success) was seen.
    Ready { instance: usize },
    /// It exited and its policy lets it be.
    MayExit { instance: usize, exit: Exit },
    /// It exited, or gave up, before it was ready, while others wait for it.
    ExitedBeforeReady { instance: usize, exit: Exit },
    /// It exited and starts again after `delay`.
    Restarting {
        instance: usize,
        exit: Exit,
        delay: Duration,
        attempt: usize,
        max_attempts: u32,
    },
    /// It exited too often within `window`.
    GaveUp {
        instance: usize,
        exit: Exit,
        restarts: usize,
        window: Duration,
    },
    /// Given up before it was ready, while others wait for it.
    WillNotBeReady { instance: usize },
    /// Not ready within its `ready_timeout`.
    NotReady { instance: usize, timeout: Duration },
    /// After `NotReady`: how its last `ready = "exec:…"` attempt ended; `silent` when it
    /// printed nothing (else `ReadyCheckOutput` lines follow).
    ReadyCheckFailed {
        instance: usize,
        command: String,
        ending: CheckEnding,
        silent: bool,
    },
    /// One line the last readiness check printed.
    ReadyCheckOutput { instance: usize, line: String },
    /// It sits at a prompt (an idle partial line on its pty) nobody here can answer.
    WaitingForInput { instance: usize, name: String },
    /// A watched file changed: the instance restarts.
    FileChanged { instance: usize, file: String },
    /// `leader` restarts and `instance` follows it (`restart_with`): it is stopped now and
    /// starts again once `leader` is ready.
    Follows { instance: usize, leader: usize },
    /// Watching files failed for part of the tree (the inotify watch limit reached).
    WatchProblem { message: String },
    /// `port = "auto"`: the block of ports this checkout got.
    AutoPorts { first: u16, last: u16 },
    /// A stop was asked for (`procmux stop`, `restart`): its stop signal was sent.
    Stopping { instance: usize, signal: Signal },
    /// A stop that was asked for is complete: its group is empty.
    Stopped { instance: usize },
    /// `procmux stop` started the shutdown.
    StopAsked,
    /// A signal to procmux started the shutdown.
    SignalReceived { signal: Signal },
    /// A second SIGINT or SIGTERM during the shutdown: everything is killed at once.
    SignalAgain { signal: Signal },
    /// The shutdown began: stop signals go out, dependants first. `signals`: what each
    /// running instance will be sent; `given`: the signal of those without one of their own.
    ShuttingDown {
        given: Signal,
        signals: Vec<(usize, Signal)>,
    },
    /// SIGKILL to what is left.
    Killing { remaining: usize },
    /// Processes outlived SIGKILL for `after`; procmux exits anyway.
    Abandoned { after: Duration },
}

/// How a readiness check (`ready = "exec:…"`) attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckEnding {
    Exited(Exit),
    /// It overran this and was killed.
    TimedOut(Duration),
    /// It was still running when readiness timed out (and is killed).
    StillRunning,
    FailedToStart(String),
}

impl Notice {
    /// The instance the notice is about, if any.
    pub fn instance(&self) -> Option<usize> {
        match *self {
            Notice::Started { instance, .. }
            | Notice::Exited { instance, .. }
            | Notice::FailedToStart { instance, .. }
            | Notice::NotWaiting { instance, .. }
            | Notice::WaitingForInput { instance, .. }
            | Notice::FileChanged { instance, .. }
            | Notice::Follows { instance, .. }
            | Notice::NamesDropped { instance, .. }
            | Notice::Ready { instance }
            | Notice::MayExit { instance, .. }
            | Notice::ExitedBeforeReady { instance, .. }
            | Notice::Restarting { instance, .. }
            | Notice::GaveUp { instance, .. }
            | Notice::WillNotBeReady { instance }
            | Notice::NotReady { instance, .. }
            | Notice::ReadyCheckFailed { instance, .. }
            | Notice::ReadyCheckOutput { instance, .. }
            | Notice::Stopping { instance, .. }
            | Notice::Stopped { instance } => Some(instance),
            Notice::StopAsked
            | Notice::WatchProblem { .. }
            | Notice::AutoPorts { .. }
            | Notice::SignalReceived { .. }
            | Notice::SignalAgain { .. }
            | Notice::ShuttingDown { .. }
            | Notice::Killing { .. }
            | Notice::Abandoned { .. } => None,
        }
    }
}
