//! One instance's life, as the supervisor tracks it: where it is ([`Life`]), whether a stop
//! signal is out for it ([`Stop`]), and its restart budget.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{Policy, Ready};

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    /// Not started yet: waiting for the instances in its `after` to be ready.
    Waiting,
    Running {
        since: Instant,
    },
    BackingOff {
        until: Instant,
    },
    /// Exited and not coming back (it may exit, or the stack is stopping).
    Done,
    GivenUp,
    /// Stopped because the user asked; it stays so until a restart is asked for.
    Stopped,
}

/// What follows once a stopped instance's group is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Leave it stopped (`procmux stop NAME`).
    Stay,
    /// Start it again (`procmux restart NAME`).
    Restart,
    /// Part of the stack's shutdown: what it depends on is stopped next.
    Shutdown,
}

/// An instance's stop: shared by the stack's shutdown and by a stop the user asked for, so a
/// stop that was asked for is never taken for a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Nobody asked it to stop.
    None,
    /// In a shutdown, not signalled yet: waiting for its dependants to be gone.
    Pending,
    /// Its stop signal is out; SIGKILL to its group at `deadline`.
    Signalled { deadline: Instant, then: Then },
    /// A stop asked for, waiting until what depends on it and is being stopped too is gone
    /// (`procmux restart db web` stops web first).
    Queued { then: Then },
    /// In a shutdown: its group is gone, or it was killed after its timeout.
    Finished,
}

#[derive(Debug)]
pub(super) struct Instance {
    pub(super) policy: Policy,
    /// Instances (indices) that must be ready before this one starts.
    pub(super) after: Vec<usize>,
    /// Instances whose restarts it follows (`restart_with`; all in `after` too).
    pub(super) follows: Vec<usize>,
    pub(super) life: Life,
    pub(super) ready: bool,
    /// When the last start happened.
    pub(super) started_at: Option<Instant>,
    /// Where its readiness clock starts: its start, moved later by the time procmux held
    /// its output (a blocked stdout holds the children, so they cannot become ready).
    pub(super) ready_clock: Option<Instant>,
    /// Times of the restarts within the current window.
    restarts: VecDeque<Instant>,
    /// Consecutive quick exits, for the exponential delay.
    streak: u32,
    pub(super) stop: Stop,
    /// How many times it started.
    pub(super) starts: u32,
    /// How its main process last ended.
    pub(super) last_exit: Option<super::Exit>,
}

/// What the restart budget allows after an exit.
pub(super) enum Budget {
    /// Start again after `delay`; this is restart number `attempt` of the window.
    Restart { delay: Duration, attempt: usize },
    /// Too many restarts within the window: `restarts` were made.
    Exhausted { restarts: usize },
}

impl Instance {
    pub(super) fn new(policy: Policy, after: Vec<usize>) -> Instance {
        Instance {
            policy,
            after,
            follows: Vec::new(),
            life: Life::Waiting,
            ready: false,
            started_at: None,
            ready_clock: None,
            restarts: VecDeque::new(),
            streak: 0,
            stop: Stop::None,
            starts: 0,
            last_exit: None,
        }
    }

    pub(super) fn started(&mut self, now: Instant) {
        self.starts += 1;
        self.life = Life::Running { since: now };
        self.started_at = Some(now);
        self.ready_clock = Some(now);
        self.ready = false;
    }

    /// True while a stop signal the user asked for is out.
    pub(super) fn stop_requested(&self) -> bool {
        matches!(
            self.stop,
            Stop::Signalled {
                then: Then::Stay | Then::Restart,
                ..
            } | Stop::Queued { .. }
        )
    }

    /// True while its readiness has yet to be seen and only time can tell it (a delay, the
    /// ready timeout).
    pub(super) fn awaits_readiness(&self) -> bool {
        matches!(self.life, Life::Running { .. })
            && !self.ready
            && !matches!(self.policy.ready, Ready::Started)
    }

    /// When the readiness delay or the ready timeout falls due, while it waits for either.
    pub(super) fn readiness_deadline(&self) -> Option<Instant> {
        if !self.awaits_readiness() {
            return None;
        }
        let started = self.ready_clock?;
        let timeout = started + self.policy.ready_timeout;
        match self.policy.ready {
            Ready::Delay(delay) => Some(timeout.min(started + delay)),
            _ => Some(timeout),
        }
    }

    /// Books a restart after an exit at `now`, unless the window's budget is spent. A run
    /// longer than `stable_after` starts the exponential delay over.
    pub(super) fn book_restart(&mut self, now: Instant) -> Budget {
        let ran_for = match self.life {
            Life::Running { since } => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        };
        let backoff = self.policy.backoff;
        while self
            .restarts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= backoff.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= backoff.max_restarts as usize {
            self.life = Life::GivenUp;
            return Budget::Exhausted {
                restarts: self.restarts.len(),
            };
        }
        self.streak = if ran_for >= backoff.stable_after {
            1
        } else {
            self.streak + 1
        };
        let delay = backoff
            .initial
            .saturating_mul(1 << (self.streak - 1).min(20))
            .min(backoff.max);
        self.restarts.push_back(now);
        self.life = Life::BackingOff { until: now + delay };
        self.ready = false;
        Budget::Restart {
            delay,
            attempt: self.restarts.len(),
        }
    }
}
