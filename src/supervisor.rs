//! The supervision policy as a pure state machine: events in, actions out.
//!
//! The event loop feeds it what happened (a process started, became ready, exited, its group
//! emptied; a signal to procmux; stdout closing; the clock) and carries out the [`Action`]s it
//! returns. Keeping every decision here, free of processes and fds, lets the whole life of a
//! stack be unit-tested with a fake clock, the actions standing in for a fake spawner.
//!
//! Each instance lives through: `Waiting` (for the instances in its `after` to be ready) →
//! `Running` (not yet ready, then ready) → on exit, by its policy: `Done` (may exit),
//! `BackingOff` then `Running` again (restart), `GivenUp`, or the stack's shutdown.
//!
//! Shutdown phases: `Running` until the first trigger; `Stopping`: each instance gets its own
//! stop signal once every instance that depends on it is gone (dependants first), and SIGKILL
//! to its group if it outlives its `stop_timeout`; then `Killing` (SIGKILL to whatever is left,
//! swept again every [`KILL_SWEEP`]); then `Abandoned` if something outlives [`KILL_WAIT`] (a
//! process stuck in the kernel), so procmux itself always ends. The total is bounded by the
//! longest chain of stop timeouts.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// How often the kill is repeated while descendants remain.
pub const KILL_SWEEP: Duration = Duration::from_millis(100);
/// How long after SIGKILL procmux waits for the last descendants before it exits anyway.
pub const KILL_WAIT: Duration = Duration::from_secs(5);
/// procmux's exit code when a process never became ready.
pub const NOT_READY_CODE: i32 = 1;

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

    fn success(self) -> bool {
        self == Exit::Code(0)
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

/// What to do when a process exits while the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// Stop everything (foreman's rule, the default).
    StopAll,
    /// Let it be: the others keep running.
    Ignore,
    /// Start it again, with backoff.
    Restart,
    /// Start it again after a non-zero exit or a death by signal; a clean exit is let be.
    RestartOnFailure,
}

/// What to do when a restarting process exits too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnGiveUp {
    StopAll,
    /// Leave it dead; the others keep running.
    Leave,
}

/// Restart timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay; each consecutive restart doubles it...
    pub initial: Duration,
    /// ...up to this.
    pub max: Duration,
    /// A run at least this long resets the delay to `initial`.
    pub stable_after: Duration,
    /// At most this many restarts within `window`; one more gives up.
    pub max_restarts: u32,
    pub window: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
            max_restarts: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// When a process counts as ready, so that processes `after` it can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// As soon as it started (the default).
    Started,
    /// When the event loop reports it (a TCP connect succeeded, a line matched).
    Reported,
    /// When it exited with code 0 (a one-shot such as a migration).
    ExitZero,
    /// This long after it started.
    Delay(Duration),
}

/// One instance's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub on_exit: OnExit,
    pub backoff: Backoff,
    pub on_give_up: OnGiveUp,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    /// Instances (indices) that must be ready before this one starts.
    pub after: Vec<usize>,
    pub ready: Readiness,
    pub ready_timeout: Duration,
}

impl Policy {
    /// foreman's behaviour: any exit stops everything; SIGTERM, then SIGKILL after `timeout`.
    pub fn foreman(timeout: Duration) -> Policy {
        Policy {
            on_exit: OnExit::StopAll,
            backoff: Backoff::default(),
            on_give_up: OnGiveUp::StopAll,
            stop_signal: Signal::SIGTERM,
            stop_timeout: timeout,
            after: Vec::new(),
            ready: Readiness::Started,
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// What the event loop must do. Indices name instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A `system` line.
    Say(String),
    /// Start instance `.0` (again).
    Spawn(usize),
    /// Send the instance's stop signal to its process group.
    Stop(usize, Signal),
    /// SIGKILL to the instance's process group: it outlived its stop timeout.
    KillGroup(usize),
    /// SIGTERM to descendants that left their group (daemons, adopted orphans).
    TerminateEscaped,
    /// SIGKILL to every group and every descendant, announcing how many processes remain.
    Kill,
    /// SIGKILL again to whatever is left, silently.
    KillRemaining,
    /// Pass a signal on to every process group.
    Forward(Signal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Waiting,
    Running {
        since: Instant,
        ready: bool,
    },
    BackingOff {
        until: Instant,
    },
    /// Exited and not coming back; `ready` once it exited successfully as a one-shot.
    Done,
    GivenUp,
}

/// An instance's part in a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Not signalled yet: waiting for its dependants to be gone.
    Pending,
    Signalled {
        deadline: Instant,
    },
    /// Its group is gone, or it was killed after its timeout.
    Finished,
}

#[derive(Debug)]
struct Instance {
    label: String,
    policy: Policy,
    life: Life,
    ready: bool,
    /// When the last start happened, for readiness delays and timeouts.
    started_at: Option<Instant>,
    /// Times of the restarts within the current window.
    restarts: VecDeque<Instant>,
    /// Consecutive quick exits, for the exponential delay.
    streak: u32,
    stop: Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Stopping,
    Killing { since: Instant, next_sweep: Instant },
    Abandoned,
}

#[derive(Debug)]
pub struct Supervisor {
    instances: Vec<Instance>,
    phase: Phase,
    exit_code: i32,
    /// `--exit-code-from`: this instance's exit decides procmux's code and stops the stack.
    exit_code_from: Option<usize>,
}

impl Supervisor {
    /// `labels[i]` (`web.1`) and `policies[i]` describe instance `i`.
    pub fn new(
        labels: Vec<String>,
        policies: Vec<Policy>,
        exit_code_from: Option<usize>,
    ) -> Supervisor {
        let instances = labels
            .into_iter()
            .zip(policies)
            .map(|(label, policy)| Instance {
                label,
                policy,
                life: Life::Waiting,
                ready: false,
                started_at: None,
                restarts: VecDeque::new(),
                streak: 0,
                stop: Stop::Pending,
            })
            .collect();
        Supervisor {
            instances,
            phase: Phase::Running,
            exit_code: 0,
            exit_code_from,
        }
    }

    /// The first actions: start every instance that waits for nothing.
    pub fn start(&mut self) -> Vec<Action> {
        (0..self.instances.len())
            .filter(|&i| self.instances[i].policy.after.is_empty())
            .map(Action::Spawn)
            .collect()
    }

    /// Instance `i` was started.
    pub fn on_spawned(&mut self, i: usize, now: Instant) -> Vec<Action> {
        let instance = &mut self.instances[i];
        instance.life = Life::Running {
            since: now,
            ready: false,
        };
        instance.started_at = Some(now);
        instance.ready = false;
        if instance.policy.ready == Readiness::Started {
            return self.on_ready(i, now);
        }
        Vec::new()
    }

    /// Instance `i` became ready: start whatever waited for it.
    pub fn on_ready(&mut self, i: usize, _now: Instant) -> Vec<Action> {
        let instance = &mut self.instances[i];
        if instance.ready {
            return Vec::new();
        }
        instance.ready = true;
        if let Life::Running { since, .. } = instance.life {
            instance.life = Life::Running { since, ready: true };
        }
        let mut actions = Vec::new();
        if instance.policy.ready != Readiness::Started {
            actions.push(Action::Say(format!("{} is ready", instance.label)));
        }
        if self.phase != Phase::Running {
            return actions;
        }
        for j in 0..self.instances.len() {
            let waiting = &self.instances[j];
            if waiting.life == Life::Waiting
                && waiting.policy.after.contains(&i)
                && waiting
                    .policy
                    .after
                    .iter()
                    .all(|&d| self.instances[d].ready)
            {
                actions.push(Action::Spawn(j));
            }
        }
        actions
    }

    /// True when instance `i` awaits a readiness the event loop must detect.
    pub fn awaits_report(&self, i: usize) -> bool {
        let instance = &self.instances[i];
        instance.policy.ready == Readiness::Reported
            && !instance.ready
            && matches!(instance.life, Life::Running { .. })
            && self.phase == Phase::Running
    }

    /// Instance `i` exited (or could not start: `Exit::Code(127)`).
    pub fn on_exit(&mut self, i: usize, exit: Exit, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let instance = &mut self.instances[i];
        let ran_for = match instance.life {
            Life::Running { since, .. } => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        };
        instance.life = Life::Done;
        if self.phase != Phase::Running {
            if self.exit_code_from == Some(i) {
                self.exit_code = exit.code();
            }
            return actions;
        }
        if self.exit_code_from == Some(i) {
            return self.begin_shutdown(exit.code(), now);
        }
        if instance.policy.ready == Readiness::ExitZero && exit.success() {
            return self.on_ready(i, now);
        }
        let restart = match instance.policy.on_exit {
            OnExit::StopAll => return self.begin_shutdown(exit.code(), now),
            OnExit::Ignore => false,
            OnExit::Restart => true,
            OnExit::RestartOnFailure => !exit.success(),
        };
        if !restart {
            let label = instance.label.clone();
            if self.strands_dependants(i) {
                // What waits for it could never start: nothing left to wait for.
                actions.push(Action::Say(format!("{label} {exit} before it was ready")));
                actions.extend(self.begin_shutdown(exit.code().max(NOT_READY_CODE), now));
                return actions;
            }
            actions.push(Action::Say(format!(
                "{label} {exit}; it may exit, the others keep running"
            )));
            return actions;
        }
        let backoff = instance.policy.backoff;
        while instance
            .restarts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= backoff.window)
        {
            instance.restarts.pop_front();
        }
        if instance.restarts.len() >= backoff.max_restarts as usize {
            instance.life = Life::GivenUp;
            actions.push(Action::Say(format!(
                "{} {exit}, giving up after {} restarts in {}",
                instance.label,
                instance.restarts.len(),
                seconds(backoff.window)
            )));
            if instance.policy.on_give_up == OnGiveUp::StopAll {
                actions.extend(self.begin_shutdown(exit.code(), now));
            } else if self.strands_dependants(i) {
                let label = self.instances[i].label.clone();
                actions.push(Action::Say(format!("{label} will not become ready")));
                actions.extend(self.begin_shutdown(exit.code().max(NOT_READY_CODE), now));
            }
            return actions;
        }
        instance.streak = if ran_for >= backoff.stable_after {
            1
        } else {
            instance.streak + 1
        };
        let delay = backoff
            .initial
            .saturating_mul(1 << (instance.streak - 1).min(20))
            .min(backoff.max);
        instance.restarts.push_back(now);
        instance.life = Life::BackingOff { until: now + delay };
        instance.ready = false;
        actions.push(Action::Say(format!(
            "{} {exit}, restarting in {} (attempt {}/{})",
            instance.label,
            seconds(delay),
            instance.restarts.len(),
            backoff.max_restarts
        )));
        actions
    }

    /// True when instance `i` is gone for good without having become ready while another
    /// instance still waits for it.
    fn strands_dependants(&self, i: usize) -> bool {
        !self.instances[i].ready
            && self
                .instances
                .iter()
                .any(|w| w.life == Life::Waiting && w.policy.after.contains(&i))
    }

    /// Instance `i`'s process group is empty (checked by the loop while it is signalled).
    pub fn on_group_gone(&mut self, i: usize, now: Instant) -> Vec<Action> {
        if matches!(self.instances[i].stop, Stop::Signalled { .. }) {
            self.instances[i].stop = Stop::Finished;
            return self.advance_stop(now);
        }
        Vec::new()
    }

    /// Instances whose group the loop should watch: signalled, not yet gone.
    pub fn signalled(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.instances.len())
            .filter(|&i| matches!(self.instances[i].stop, Stop::Signalled { .. }))
    }

    /// A signal delivered to procmux.
    pub fn on_signal(&mut self, signal: Signal, now: Instant) -> Vec<Action> {
        use Signal::*;
        match (signal, self.phase) {
            (SIGUSR1 | SIGUSR2, Phase::Running | Phase::Stopping) => vec![Action::Forward(signal)],
            (SIGINT | SIGTERM | SIGHUP, Phase::Running) => {
                let mut actions = vec![Action::Say(format!(
                    "{} received, starting shutdown",
                    signal.as_str()
                ))];
                actions.extend(self.begin_shutdown(128 + signal as i32, now));
                actions
            }
            (SIGINT | SIGTERM, Phase::Stopping) => {
                let mut actions = vec![Action::Say(format!(
                    "{} received again, stopping at once",
                    signal.as_str()
                ))];
                actions.extend(self.begin_kill(now));
                actions
            }
            _ => Vec::new(),
        }
    }

    /// procmux's stdout failed (the reader went away): stop quietly, exit 0.
    pub fn on_output_closed(&mut self, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::Running => {
                let mut actions = self.begin_shutdown(0, now);
                actions.retain(|a| !matches!(a, Action::Say(_)));
                actions
            }
            _ => Vec::new(),
        }
    }

    /// The clock reached [`Supervisor::deadline`] (or later).
    pub fn on_tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.phase {
            Phase::Running => {
                for i in 0..self.instances.len() {
                    actions.extend(self.tick_instance(i, now));
                    if self.phase != Phase::Running {
                        break;
                    }
                }
            }
            Phase::Stopping => {
                for i in 0..self.instances.len() {
                    if let Stop::Signalled { deadline } = self.instances[i].stop
                        && now >= deadline
                    {
                        self.instances[i].stop = Stop::Finished;
                        actions.push(Action::KillGroup(i));
                    }
                }
                let next = self.advance_stop(now);
                if next == [Action::Kill] {
                    // The last groups: one Kill covers them, and counts what it kills.
                    return next;
                }
                actions.extend(next);
            }
            Phase::Killing { since, .. } if now >= since + KILL_WAIT => {
                self.phase = Phase::Abandoned;
                actions.push(Action::Say(format!(
                    "processes survived SIGKILL for {}s, exiting",
                    KILL_WAIT.as_secs()
                )));
            }
            Phase::Killing { since, next_sweep } if now >= next_sweep => {
                self.phase = Phase::Killing {
                    since,
                    next_sweep: now + KILL_SWEEP,
                };
                actions.push(Action::KillRemaining);
            }
            Phase::Killing { .. } | Phase::Abandoned => {}
        }
        actions
    }

    fn tick_instance(&mut self, i: usize, now: Instant) -> Vec<Action> {
        let instance = &mut self.instances[i];
        match instance.life {
            Life::BackingOff { until } if now >= until => {
                instance.life = Life::Waiting;
                vec![Action::Spawn(i)]
            }
            Life::Running { ready: false, .. } => {
                let started = instance.started_at.unwrap_or(now);
                if let Readiness::Delay(delay) = instance.policy.ready
                    && now >= started + delay
                {
                    return self.on_ready(i, now);
                }
                let timeout = instance.policy.ready_timeout;
                if instance.policy.ready != Readiness::Started && now >= started + timeout {
                    let mut actions = vec![Action::Say(format!(
                        "{} not ready after {}, stopping",
                        instance.label,
                        seconds(timeout)
                    ))];
                    actions.extend(self.begin_shutdown(NOT_READY_CODE, now));
                    return actions;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// When `on_tick` next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Running => self
                .instances
                .iter()
                .filter_map(|instance| match instance.life {
                    Life::BackingOff { until } => Some(until),
                    Life::Running { ready: false, .. } => {
                        let started = instance.started_at?;
                        let timeout = (instance.policy.ready != Readiness::Started)
                            .then(|| started + instance.policy.ready_timeout);
                        let delay = match instance.policy.ready {
                            Readiness::Delay(delay) => Some(started + delay),
                            _ => None,
                        };
                        timeout.into_iter().chain(delay).min()
                    }
                    _ => None,
                })
                .min(),
            Phase::Stopping => self
                .instances
                .iter()
                .filter_map(|instance| match instance.stop {
                    Stop::Signalled { deadline } => Some(deadline),
                    _ => None,
                })
                .min(),
            Phase::Killing { next_sweep, .. } => Some(next_sweep),
            Phase::Abandoned => None,
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

    /// True while the stack has nothing left to run or wait for: every instance is done or
    /// given up, none restarting (only with policies that let processes exit).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Running
            && self
                .instances
                .iter()
                .all(|i| matches!(i.life, Life::Done | Life::GivenUp))
    }

    /// Nothing is left: stop (used when every process was allowed to exit).
    pub fn finish(&mut self, now: Instant) -> Vec<Action> {
        self.begin_shutdown(self.exit_code, now)
    }

    /// procmux's exit code: decided by what started the shutdown.
    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }

    fn begin_shutdown(&mut self, exit_code: i32, now: Instant) -> Vec<Action> {
        self.exit_code = exit_code;
        self.phase = Phase::Stopping;
        for instance in &mut self.instances {
            // Restarts and waits are off; what never ran has nothing to stop.
            if matches!(instance.life, Life::BackingOff { .. } | Life::Waiting) {
                instance.life = Life::Done;
            }
            instance.stop = Stop::Pending;
        }
        let mut actions = vec![
            Action::Say("sending SIGTERM to all processes".to_owned()),
            Action::TerminateEscaped,
        ];
        actions.extend(self.advance_stop(now));
        actions
    }

    /// Signals every instance whose dependants are all finished; when every instance is
    /// finished, sweeps up what is left.
    fn advance_stop(&mut self, now: Instant) -> Vec<Action> {
        if self.phase != Phase::Stopping {
            return Vec::new();
        }
        let mut actions = Vec::new();
        for i in 0..self.instances.len() {
            if self.instances[i].stop != Stop::Pending {
                continue;
            }
            let dependants_finished = self
                .instances
                .iter()
                .filter(|d| d.policy.after.contains(&i))
                .all(|d| d.stop == Stop::Finished);
            if dependants_finished {
                let instance = &mut self.instances[i];
                instance.stop = Stop::Signalled {
                    deadline: now + instance.policy.stop_timeout,
                };
                actions.push(Action::Stop(i, instance.policy.stop_signal));
            }
        }
        if self.instances.iter().all(|i| i.stop == Stop::Finished) {
            actions.extend(self.begin_kill(now));
        }
        actions
    }

    fn begin_kill(&mut self, now: Instant) -> Vec<Action> {
        self.phase = Phase::Killing {
            since: now,
            next_sweep: now + KILL_SWEEP,
        };
        vec![Action::Kill]
    }
}

/// `2s`, `1.5s`, `60s`.
fn seconds(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Signal::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn stack(policies: Vec<Policy>) -> Supervisor {
        let labels = (0..policies.len()).map(|i| format!("p{i}.1")).collect();
        Supervisor::new(labels, policies, None)
    }

    fn foreman(n: usize) -> Supervisor {
        stack(vec![Policy::foreman(TIMEOUT); n])
    }

    /// Starts every instance the supervisor asks for, at `t`.
    fn run_all(s: &mut Supervisor, t: Instant) -> Vec<Action> {
        let mut pending = s.start();
        let mut done = Vec::new();
        while let Some(action) = pending.pop() {
            if let Action::Spawn(i) = action {
                pending.extend(s.on_spawned(i, t));
            }
            done.push(action);
        }
        done
    }

    fn says(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Say(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn first_exit_stops_everything_with_its_code() {
        let t0 = Instant::now();
        let mut s = foreman(2);
        run_all(&mut s, t0);
        let actions = s.on_exit(0, Exit::Code(3), t0);
        assert_eq!(
            actions,
            [
                Action::Say("sending SIGTERM to all processes".into()),
                Action::TerminateEscaped,
                Action::Stop(0, SIGTERM),
                Action::Stop(1, SIGTERM),
            ]
        );
        assert!(s.is_stopping());
        assert_eq!(s.on_exit(1, Exit::Code(0), t0), []);
        assert_eq!(s.exit_code(), 3);
    }

    #[test]
    fn signal_death_is_128_plus_n() {
        let mut s = foreman(1);
        run_all(&mut s, Instant::now());
        s.on_exit(0, Exit::Signal(SIGKILL), Instant::now());
        assert_eq!(s.exit_code(), 137);
        assert_eq!(Exit::Signal(SIGTERM).to_string(), "terminated by SIGTERM");
        assert_eq!(Exit::Code(1).to_string(), "exited with code 1");
    }

    #[test]
    fn stop_timeout_then_kill_sweeps_then_give_up() {
        let t0 = Instant::now();
        let mut s = foreman(1);
        run_all(&mut s, t0);
        let actions = s.on_signal(SIGINT, t0);
        assert_eq!(
            says(&actions),
            [
                "SIGINT received, starting shutdown",
                "sending SIGTERM to all processes"
            ]
        );
        assert_eq!(s.exit_code(), 130);
        assert_eq!(s.on_tick(t0 + TIMEOUT - Duration::from_millis(1)), []);
        let t1 = t0 + TIMEOUT;
        assert_eq!(s.on_tick(t1), [Action::Kill]);
        assert_eq!(s.deadline(), Some(t1 + KILL_SWEEP));
        assert_eq!(s.on_tick(t1 + KILL_SWEEP), [Action::KillRemaining]);
        assert!(!s.is_abandoned());
        assert_eq!(
            says(&s.on_tick(t1 + KILL_WAIT)),
            ["processes survived SIGKILL for 5s, exiting"]
        );
        assert!(s.is_abandoned());
    }

    #[test]
    fn gone_groups_end_the_stop_phase_early() {
        let t0 = Instant::now();
        let mut s = foreman(2);
        run_all(&mut s, t0);
        s.on_signal(SIGTERM, t0);
        assert_eq!(s.signalled().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(s.on_group_gone(0, t0), []);
        assert_eq!(s.on_group_gone(1, t0), [Action::Kill]);
    }

    #[test]
    fn second_interrupt_kills_at_once_and_hup_does_not() {
        let t0 = Instant::now();
        let mut s = foreman(1);
        run_all(&mut s, t0);
        s.on_signal(SIGTERM, t0);
        assert_eq!(s.exit_code(), 143);
        assert_eq!(s.on_signal(SIGHUP, t0), []);
        let actions = s.on_signal(SIGINT, t0);
        assert_eq!(says(&actions), ["SIGINT received again, stopping at once"]);
        assert!(actions.contains(&Action::Kill));
        assert_eq!(s.on_signal(SIGINT, t0), []);
    }

    #[test]
    fn usr_signals_are_forwarded_and_closed_output_stops_quietly() {
        let t0 = Instant::now();
        let mut s = foreman(1);
        run_all(&mut s, t0);
        assert_eq!(s.on_signal(SIGUSR1, t0), [Action::Forward(SIGUSR1)]);
        let actions = s.on_output_closed(t0);
        assert_eq!(says(&actions), Vec::<String>::new());
        assert!(actions.contains(&Action::Stop(0, SIGTERM)));
        assert_eq!(s.exit_code(), 0);
    }

    fn restarting(on_exit: OnExit) -> Policy {
        Policy {
            on_exit,
            ..Policy::foreman(TIMEOUT)
        }
    }

    #[test]
    fn restarts_back_off_exponentially_up_to_the_max() {
        let t0 = Instant::now();
        let mut s = stack(vec![restarting(OnExit::Restart)]);
        run_all(&mut s, t0);
        let mut t = t0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            let actions = s.on_exit(0, Exit::Code(1), t);
            delays.push(says(&actions)[0].clone());
            let until = s.deadline().unwrap();
            assert_eq!(s.on_tick(until - Duration::from_millis(1)), []);
            assert_eq!(s.on_tick(until), [Action::Spawn(0)]);
            s.on_spawned(0, until);
            t = until;
        }
        assert_eq!(
            delays,
            [
                "p0.1 exited with code 1, restarting in 1s (attempt 1/5)",
                "p0.1 exited with code 1, restarting in 2s (attempt 2/5)",
                "p0.1 exited with code 1, restarting in 4s (attempt 3/5)",
                "p0.1 exited with code 1, restarting in 8s (attempt 4/5)",
                "p0.1 exited with code 1, restarting in 16s (attempt 5/5)",
            ]
        );
        // A sixth exit within the window gives up, and by default stops the stack.
        let actions = s.on_exit(0, Exit::Code(1), t);
        assert_eq!(
            says(&actions)[0],
            "p0.1 exited with code 1, giving up after 5 restarts in 60s"
        );
        assert!(s.is_stopping());
        assert_eq!(s.exit_code(), 1);
    }

    #[test]
    fn a_stable_run_resets_the_delay_and_the_window_forgets_old_restarts() {
        let t0 = Instant::now();
        let backoff = Backoff {
            max: Duration::from_secs(3),
            ..Backoff::default()
        };
        let mut s = stack(vec![Policy {
            backoff,
            ..restarting(OnExit::Restart)
        }]);
        run_all(&mut s, t0);
        s.on_exit(0, Exit::Code(1), t0);
        s.on_spawned(0, t0 + Duration::from_secs(1));
        s.on_exit(0, Exit::Code(1), t0 + Duration::from_secs(1));
        s.on_spawned(0, t0 + Duration::from_secs(3));
        let actions = s.on_exit(0, Exit::Code(1), t0 + Duration::from_secs(3));
        assert!(
            says(&actions)[0].contains("restarting in 3s (attempt 3/5)"),
            "capped at max: {actions:?}"
        );
        // Ran 20 s: stable, so the delay starts over; 100 s later the window is empty again.
        s.on_spawned(0, t0 + Duration::from_secs(100));
        let actions = s.on_exit(0, Exit::Code(1), t0 + Duration::from_secs(120));
        assert!(
            says(&actions)[0].contains("restarting in 1s (attempt 1/5)"),
            "{actions:?}"
        );
    }

    #[test]
    fn may_exit_and_restart_on_failure() {
        let t0 = Instant::now();
        let mut s = stack(vec![
            restarting(OnExit::Ignore),
            restarting(OnExit::RestartOnFailure),
            Policy::foreman(TIMEOUT),
        ]);
        run_all(&mut s, t0);
        let actions = s.on_exit(0, Exit::Code(0), t0);
        assert_eq!(
            says(&actions),
            ["p0.1 exited with code 0; it may exit, the others keep running"]
        );
        let actions = s.on_exit(1, Exit::Code(0), t0);
        assert!(says(&actions)[0].contains("it may exit"));
        assert!(!s.is_stopping());
        s.on_spawned(1, t0);
        let actions = s.on_exit(1, Exit::Signal(SIGSEGV), t0);
        assert!(says(&actions)[0].starts_with("p1.1 terminated by SIGSEGV, restarting in 1s"));
        assert!(!s.is_stopping());
    }

    #[test]
    fn give_up_can_leave_the_process_dead() {
        let t0 = Instant::now();
        let backoff = Backoff {
            max_restarts: 0,
            ..Backoff::default()
        };
        let policy = Policy {
            backoff,
            on_give_up: OnGiveUp::Leave,
            ..restarting(OnExit::Restart)
        };
        let mut s = stack(vec![policy, Policy::foreman(TIMEOUT)]);
        run_all(&mut s, t0);
        let actions = s.on_exit(0, Exit::Code(2), t0);
        assert_eq!(
            says(&actions),
            ["p0.1 exited with code 2, giving up after 0 restarts in 60s"]
        );
        assert!(!s.is_stopping());
    }

    #[test]
    fn exit_code_from_decides_and_stops() {
        let t0 = Instant::now();
        let labels = vec!["tests.1".into(), "db.1".into()];
        let mut s = Supervisor::new(
            labels,
            vec![restarting(OnExit::Ignore), restarting(OnExit::Ignore)],
            Some(0),
        );
        run_all(&mut s, t0);
        s.on_exit(1, Exit::Code(0), t0);
        assert!(!s.is_stopping());
        s.on_exit(0, Exit::Code(4), t0);
        assert!(s.is_stopping());
        assert_eq!(s.exit_code(), 4);
    }

    #[test]
    fn after_waits_for_readiness_of_every_dependency() {
        let t0 = Instant::now();
        let db = Policy {
            ready: Readiness::Reported,
            ..Policy::foreman(TIMEOUT)
        };
        let migrate = Policy {
            ready: Readiness::ExitZero,
            after: vec![0],
            ..Policy::foreman(TIMEOUT)
        };
        let web = Policy {
            after: vec![0, 1],
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![db, migrate, web]);
        assert_eq!(s.start(), [Action::Spawn(0)]);
        assert_eq!(s.on_spawned(0, t0), []);
        assert!(s.awaits_report(0));
        let actions = s.on_ready(0, t0);
        assert_eq!(
            actions,
            [Action::Say("p0.1 is ready".into()), Action::Spawn(1)]
        );
        assert_eq!(s.on_spawned(1, t0), []);
        // The migration exits 0: it is ready, nothing stops, web starts.
        let actions = s.on_exit(1, Exit::Code(0), t0);
        assert_eq!(
            actions,
            [Action::Say("p1.1 is ready".into()), Action::Spawn(2)]
        );
        assert!(!s.is_stopping());
    }

    #[test]
    fn a_failed_one_shot_stops_the_stack() {
        let t0 = Instant::now();
        let migrate = Policy {
            ready: Readiness::ExitZero,
            ..Policy::foreman(TIMEOUT)
        };
        let web = Policy {
            after: vec![0],
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![migrate, web]);
        run_all(&mut s, t0);
        s.on_exit(0, Exit::Code(1), t0);
        assert!(s.is_stopping());
        assert_eq!(s.exit_code(), 1);
    }

    #[test]
    fn delay_readiness_and_ready_timeout() {
        let t0 = Instant::now();
        let delayed = Policy {
            ready: Readiness::Delay(Duration::from_secs(2)),
            ..Policy::foreman(TIMEOUT)
        };
        let after = Policy {
            after: vec![0],
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![delayed, after]);
        run_all(&mut s, t0);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(2)));
        let actions = s.on_tick(t0 + Duration::from_secs(2));
        assert!(actions.contains(&Action::Spawn(1)));

        let slow = Policy {
            ready: Readiness::Reported,
            ready_timeout: Duration::from_secs(3),
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![slow]);
        run_all(&mut s, t0);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(3)));
        let actions = s.on_tick(t0 + Duration::from_secs(3));
        assert_eq!(says(&actions)[0], "p0.1 not ready after 3s, stopping");
        assert_eq!(s.exit_code(), NOT_READY_CODE);
    }

    #[test]
    fn shutdown_stops_dependants_first() {
        let t0 = Instant::now();
        let db = Policy {
            stop_signal: SIGINT,
            ..Policy::foreman(TIMEOUT)
        };
        let web = Policy {
            after: vec![0],
            stop_timeout: Duration::from_secs(2),
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![db, web]);
        run_all(&mut s, t0);
        let actions = s.on_signal(SIGTERM, t0);
        assert!(actions.contains(&Action::Stop(1, SIGTERM)));
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Stop(0, _))),
            "db before web: {actions:?}"
        );
        // web's group is gone: db gets its own stop signal.
        assert_eq!(s.on_group_gone(1, t0), [Action::Stop(0, SIGINT)]);

        // Or web outlives its stop timeout: killed, then db.
        let mut s = stack(vec![
            Policy {
                stop_signal: SIGINT,
                ..Policy::foreman(TIMEOUT)
            },
            Policy {
                after: vec![0],
                stop_timeout: Duration::from_secs(2),
                ..Policy::foreman(TIMEOUT)
            },
        ]);
        run_all(&mut s, t0);
        s.on_signal(SIGTERM, t0);
        let actions = s.on_tick(t0 + Duration::from_secs(2));
        assert_eq!(actions, [Action::KillGroup(1), Action::Stop(0, SIGINT)]);
    }

    #[test]
    fn a_dependency_that_exits_before_it_is_ready_stops_the_stack() {
        let t0 = Instant::now();
        let db = Policy {
            ready: Readiness::Reported,
            ..restarting(OnExit::Ignore)
        };
        let web = Policy {
            after: vec![0],
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![db, web]);
        run_all(&mut s, t0);
        let actions = s.on_exit(0, Exit::Code(0), t0);
        assert_eq!(
            says(&actions)[0],
            "p0.1 exited with code 0 before it was ready"
        );
        assert!(s.is_stopping());
        assert_eq!(s.exit_code(), NOT_READY_CODE);
    }

    #[test]
    fn a_dependency_left_dead_before_it_was_ready_stops_the_stack() {
        let t0 = Instant::now();
        let backoff = Backoff {
            max_restarts: 0,
            ..Backoff::default()
        };
        let db = Policy {
            ready: Readiness::Reported,
            backoff,
            on_give_up: OnGiveUp::Leave,
            ..restarting(OnExit::Restart)
        };
        let web = Policy {
            after: vec![0],
            ..Policy::foreman(TIMEOUT)
        };
        let mut s = stack(vec![db, web]);
        run_all(&mut s, t0);
        let actions = s.on_exit(0, Exit::Code(2), t0);
        assert_eq!(says(&actions)[1], "p0.1 will not become ready");
        assert!(s.is_stopping());
        assert_eq!(s.exit_code(), 2);
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(Duration::from_millis(50)), "0.05s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_secs(60)), "60s");
    }

    #[test]
    fn idle_when_every_process_may_exit_and_did() {
        let t0 = Instant::now();
        let mut s = stack(vec![restarting(OnExit::Ignore), restarting(OnExit::Ignore)]);
        run_all(&mut s, t0);
        s.on_exit(0, Exit::Code(0), t0);
        assert!(!s.is_idle());
        s.on_exit(1, Exit::Code(0), t0);
        assert!(s.is_idle());
        let actions = s.finish(t0);
        assert!(s.is_stopping() && actions.contains(&Action::Stop(0, SIGTERM)));
        s.on_group_gone(0, t0);
        assert_eq!(s.on_group_gone(1, t0), [Action::Kill]);
        assert_eq!(s.exit_code(), 0);
    }
}
