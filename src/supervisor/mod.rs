//! Stage two: the supervision policy as a pure state machine, events in, actions out.
//!
//! The runtime feeds it what happened (a process started, became ready, exited, its group
//! emptied; a signal to procmux; a stop or restart asked for; stdout closing; the clock) and
//! carries out the [`Action`]s it returns, among them [`Notice`]s for the output. Keeping
//! every decision here, free of processes, fds and text, lets the whole life of a stack be
//! unit-tested with a fake clock, the actions standing in for a fake spawner. This module
//! never does I/O.
//!
//! Each instance lives through: `Waiting` (for the instances in its `after` to be ready) →
//! `Running` (not yet ready, then ready) → on exit, by its policy: `Done` (may exit),
//! `BackingOff` then `Running` again (restart), `GivenUp`, or the stack's shutdown. A stop the
//! user asks for sends the instance's stop signal, SIGKILL after its stop timeout, and once
//! its group is empty leaves it `Stopped` or starts it again: its exit is never a crash.
//!
//! Shutdown phases: `Running` until the first trigger; `Stopping`: each instance gets its own
//! stop signal once every instance that depends on it is gone (dependants first), and SIGKILL
//! to its group if it outlives its `stop_timeout`; then `Killing` (SIGKILL to whatever is left,
//! swept again every [`KILL_SWEEP`]); then `Abandoned` if something outlives [`KILL_WAIT`] (a
//! process stuck in the kernel), so procmux itself always ends. The total is bounded by the
//! longest chain of stop timeouts.

mod exit;
mod instance;
mod notice;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use self::exit::Exit;
use self::instance::{Budget, Instance, Life, Stop, Then};
pub use self::notice::{CheckEnding, Notice};
use crate::config::{OnExit, OnGiveUp, Ready, SignalSource, Stack, command};

/// How often the kill is repeated while descendants remain.
pub const KILL_SWEEP: Duration = Duration::from_millis(100);
/// How long after SIGKILL procmux waits for the last descendants before it exits anyway.
pub const KILL_WAIT: Duration = Duration::from_secs(5);
/// procmux's exit code when a process never became ready.
pub const NOT_READY_CODE: i32 = 1;

/// What the runtime must do. Indices name instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Tell the user.
    Notify(Notice),
    /// Start instance `.0` (again).
    Spawn(usize),
    /// Send the instance's stop signal to its process group.
    Stop(usize, Signal),
    /// The instance's stop signal to what is left of its tree outside its group (descendants
    /// that left it, such as PostgreSQL's backends): its main process is gone.
    StopEscaped(usize, Signal),
    /// SIGKILL to the instance's process group and its escaped descendants: it outlived its
    /// stop timeout.
    KillGroup(usize),
    /// SIGTERM to every descendant left once every instance is stopped: those whose origin is
    /// unknown (a daemon that double-forked and cleared its environment).
    TerminateStrays,
    /// SIGKILL to every group and every descendant, announcing how many processes remain.
    Kill,
    /// SIGKILL again to whatever is left, silently.
    KillRemaining,
    /// Pass a signal on to every process group.
    Forward(Signal),
}

/// An instance's state as `procmux status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for what it starts after.
    Waiting,
    /// Running, its readiness not seen yet.
    Starting,
    /// Running, and its readiness was seen.
    Ready,
    /// Running (it has no readiness to wait for).
    Running,
    BackingOff,
    Stopping,
    Stopped,
    Exited(Exit),
    GivenUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Stopping,
    /// Every instance is stopped; strays got SIGTERM and have until then.
    Strays {
        until: Instant,
    },
    Killing {
        since: Instant,
        next_sweep: Instant,
    },
    Abandoned,
}

#[derive(Debug)]
pub struct Supervisor {
    instances: Vec<Instance>,
    /// Told at the start: instances that wait for a type that is not started (`--no-deps`),
    /// commands the shell will run without some of the environment.
    opening_notices: Vec<Notice>,
    phase: Phase,
    exit_code: i32,
    /// The instance whose exit (or readiness timeout: no exit) started the shutdown, when one
    /// did.
    cause: Option<(usize, Option<Exit>)>,
    /// `--exit-code-from`: this instance's exit decides procmux's code and stops the stack.
    exit_code_from: Option<usize>,
    /// The signal the user stopped the stack with: SIGINT after Ctrl-C (as a terminal would
    /// have delivered it), SIGTERM for everything else. Processes without a stop signal of
    /// their own get it.
    given: Signal,
}

impl Supervisor {
    /// One state machine per instance of `stack`, with `after` turned into instances: an
    /// instance waits for every instance of the types it names.
    pub fn new(stack: &Stack) -> Supervisor {
        let instances: Vec<Instance> = (0..stack.instances.len())
            .map(|i| {
                let kind = stack.type_of(i);
                let after = kind
                    .after
                    .iter()
                    .flat_map(|name| stack.instances_of(name))
                    .collect();
                let mut instance = Instance::new(kind.policy.clone(), after);
                instance.follows = kind
                    .restart_with
                    .iter()
                    .flat_map(|name| stack.instances_of(name))
                    .collect();
                instance
            })
            .collect();
        let exit_code_from = stack
            .exit_code_from
            .as_deref()
            .and_then(|name| stack.instances_of(name).next());
        let mut supervisor = Supervisor::with_instances(instances, exit_code_from);
        for i in 0..stack.instances.len() {
            let first_of_its_type = stack.instances[i].number == 1;
            // Its own variables (the project's, its env_file and env).
            let dropped: Vec<&str> = stack
                .type_of(i)
                .env
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !command::is_shell_name(k))
                .collect();
            if first_of_its_type
                && !dropped.is_empty()
                && !command::is_simple(&stack.type_of(i).command)
            {
                supervisor.opening_notices.push(Notice::NamesDropped {
                    instance: i,
                    names: dropped.join(", "),
                });
            }
            for name in &stack.type_of(i).after {
                if stack.instances_of(name).next().is_none() {
                    supervisor.opening_notices.push(Notice::NotWaiting {
                        instance: i,
                        dependency: name.clone(),
                    });
                }
            }
        }
        supervisor
    }

    fn with_instances(instances: Vec<Instance>, exit_code_from: Option<usize>) -> Supervisor {
        Supervisor {
            instances,
            opening_notices: Vec::new(),
            phase: Phase::Running,
            exit_code: 0,
            cause: None,
            exit_code_from,
            given: Signal::SIGTERM,
        }
    }

    /// The first actions: start every instance that waits for nothing.
    pub fn start(&mut self) -> Vec<Action> {
        let notices = std::mem::take(&mut self.opening_notices).into_iter();
        notices
            .map(Action::Notify)
            .chain(
                (0..self.instances.len())
                    .filter(|&i| self.instances[i].after.is_empty())
                    .map(Action::Spawn),
            )
            .collect()
    }

    /// Instance `i` was started.
    pub fn on_spawned(&mut self, i: usize, now: Instant) -> Vec<Action> {
        let instance = &mut self.instances[i];
        instance.started(now);
        if matches!(instance.policy.ready, Ready::Started) {
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
        let mut actions = Vec::new();
        if !matches!(instance.policy.ready, Ready::Started) {
            actions.push(Action::Notify(Notice::Ready { instance: i }));
        }
        if self.phase != Phase::Running {
            return actions;
        }
        actions.extend(
            (0..self.instances.len())
                .filter(|&j| self.instances[j].after.contains(&i) && self.may_start(j))
                .map(Action::Spawn),
        );
        actions
    }

    /// True when instance `j` waits and everything it waits for is ready.
    fn may_start(&self, j: usize) -> bool {
        let waiting = &self.instances[j];
        waiting.life == Life::Waiting
            && waiting
                .after
                .iter()
                .all(|&d| self.instances[d].ready && self.instances[d].stop == Stop::None)
    }

    /// True when instance `i` awaits a readiness the runtime must detect.
    pub fn awaits_report(&self, i: usize) -> bool {
        let instance = &self.instances[i];
        instance.policy.ready.is_reported()
            && instance.awaits_readiness()
            && self.phase == Phase::Running
    }

    /// Instance `i` exited (or could not start: `Exit::Code(127)`).
    pub fn on_exit(&mut self, i: usize, exit: Exit, now: Instant) -> Vec<Action> {
        // Its main process is gone: if it is being stopped, the rest of its tree is next.
        let rest = match self.instances[i].stop {
            Stop::Signalled { then, .. } => self.stop_rest(i, then),
            _ => Vec::new(),
        };
        let instance = &mut self.instances[i];
        instance.last_exit = Some(exit);
        if self.phase != Phase::Running {
            instance.life = Life::Done;
            if self.exit_code_from == Some(i) {
                self.exit_code = exit.code();
            }
            return rest;
        }
        if instance.stop_requested() {
            // Asked to stop: not a crash. What follows comes once its tree is gone.
            instance.life = Life::Done;
            return rest;
        }
        if self.exit_code_from == Some(i) {
            instance.life = Life::Done;
            return self.shutdown_for(i, Some(exit), exit.code(), now);
        }
        if matches!(instance.policy.ready, Ready::ExitZero) && exit.success() {
            instance.life = Life::Done;
            return self.on_ready(i, now);
        }
        let restart = match instance.policy.on_exit {
            OnExit::StopAll => {
                instance.life = Life::Done;
                return self.shutdown_for(i, Some(exit), exit.code(), now);
            }
            OnExit::Ignore => false,
            OnExit::Restart => true,
            OnExit::RestartOnFailure => !exit.success(),
        };
        if !restart {
            instance.life = Life::Done;
            return self.let_be(i, exit, now);
        }
        let max_attempts = instance.policy.backoff.max_restarts;
        let window = instance.policy.backoff.window;
        match instance.book_restart(now) {
            Budget::Restart { delay, attempt } => {
                // Not ready while it is down: what waits for it (its followers) waits again.
                instance.ready = false;
                let mut actions = vec![Action::Notify(Notice::Restarting {
                    instance: i,
                    exit,
                    delay,
                    attempt,
                    max_attempts,
                })];
                actions.extend(self.restart_followers(i, now));
                actions
            }
            Budget::Exhausted { restarts } => {
                let mut actions = vec![Action::Notify(Notice::GaveUp {
                    instance: i,
                    exit,
                    restarts,
                    window,
                })];
                if self.instances[i].policy.on_give_up == OnGiveUp::StopAll {
                    actions.extend(self.shutdown_for(i, Some(exit), exit.code(), now));
                } else if self.strands_dependants(i) {
                    actions.push(Action::Notify(Notice::WillNotBeReady { instance: i }));
                    actions.extend(self.shutdown_for(
                        i,
                        Some(exit),
                        exit.code().max(NOT_READY_CODE),
                        now,
                    ));
                }
                actions
            }
        }
    }

    /// Instance `i` exited and may: the others keep running, unless some wait for it.
    fn let_be(&mut self, i: usize, exit: Exit, now: Instant) -> Vec<Action> {
        if self.strands_dependants(i) {
            // What waits for it could never start: nothing left to wait for.
            let mut actions = vec![Action::Notify(Notice::ExitedBeforeReady {
                instance: i,
                exit,
            })];
            actions.extend(self.shutdown_for(i, Some(exit), exit.code().max(NOT_READY_CODE), now));
            return actions;
        }
        vec![Action::Notify(Notice::MayExit { instance: i, exit })]
    }

    /// True when instance `i` is gone for good without having become ready while another
    /// instance still waits for it.
    fn strands_dependants(&self, i: usize) -> bool {
        !self.instances[i].ready
            && self
                .instances
                .iter()
                .any(|w| w.life == Life::Waiting && w.after.contains(&i))
    }

    /// The user asks the whole stack to stop (`procmux stop`): as SIGTERM would, exit 143.
    pub fn stop_all(&mut self, now: Instant) -> Vec<Action> {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        let mut actions = vec![Action::Notify(Notice::StopAsked)];
        actions.extend(self.begin_shutdown(128 + Signal::SIGTERM as i32, now));
        actions
    }

    /// The user asks instance `i` to stop and stay stopped; the rest keeps running.
    pub fn stop(&mut self, i: usize, now: Instant) -> Vec<Action> {
        self.request_stop(i, Then::Stay, now)
    }

    /// The user asks instance `i` to stop and start again; the rest keeps running. The
    /// restart is not a crash: it costs no restart budget. A stopped instance just starts.
    pub fn restart(&mut self, i: usize, now: Instant) -> Vec<Action> {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        // Its followers go first: its stop then waits for theirs (they depend on it).
        let mut actions = self.restart_followers(i, now);
        actions.extend(self.request_stop(i, Then::Restart, now));
        actions
    }

    /// `leader` restarts: every running instance that follows it (`restart_with`) and is not
    /// being stopped already is stopped now, to start again once `leader` is ready (it waits
    /// for it).
    fn restart_followers(&mut self, leader: usize, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for f in 0..self.instances.len() {
            let follower = &self.instances[f];
            if follower.follows.contains(&leader)
                && matches!(follower.life, Life::Running { .. })
                && follower.stop == Stop::None
            {
                actions.push(Action::Notify(Notice::Follows {
                    instance: f,
                    leader,
                }));
                actions.extend(self.restart_followers(f, now));
                actions.extend(self.request_stop(f, Then::Restart, now));
            }
        }
        actions
    }

    fn request_stop(&mut self, i: usize, then: Then, now: Instant) -> Vec<Action> {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        if self.dependant_stopping(i) {
            // What depends on it goes first (it is being stopped too).
            if !matches!(self.instances[i].stop, Stop::Signalled { .. }) {
                self.instances[i].stop = Stop::Queued { then };
                return Vec::new();
            }
        }
        let instance = &mut self.instances[i];
        match (instance.life, instance.stop) {
            (_, Stop::Signalled { deadline, .. }) => {
                // A stop is already under way: only what follows it changes.
                instance.stop = Stop::Signalled { deadline, then };
                Vec::new()
            }
            (Life::Running { .. }, _) => {
                let signal = instance.policy.stop_signal_after(Signal::SIGTERM);
                instance.stop = Stop::Signalled {
                    deadline: now + instance.policy.stop_timeout,
                    then,
                };
                vec![
                    Action::Notify(Notice::Stopping {
                        instance: i,
                        signal,
                    }),
                    Action::Stop(i, signal),
                ]
            }
            // Nothing runs: nothing to signal.
            _ => self.after_stop(i, then, now),
        }
    }

    /// True while an instance that depends on `i` is being stopped on request.
    fn dependant_stopping(&self, i: usize) -> bool {
        self.instances
            .iter()
            .any(|d| d.after.contains(&i) && d.stop_requested())
    }

    /// Stops the queued instances whose dependants are gone.
    fn release_queued(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for i in 0..self.instances.len() {
            if let Stop::Queued { then } = self.instances[i].stop
                && !self.dependant_stopping(i)
            {
                self.instances[i].stop = Stop::None;
                actions.extend(self.request_stop(i, then, now));
            }
        }
        actions
    }

    /// The order in which to stop `chosen` so that dependants go first.
    pub fn stop_order(&self, chosen: &[usize]) -> Vec<usize> {
        let mut left: Vec<usize> = chosen.to_vec();
        let mut order = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let free = left
                .iter()
                .position(|&i| {
                    !left
                        .iter()
                        .any(|&j| j != i && self.instances[j].after.contains(&i))
                })
                .unwrap_or(0);
            order.push(left.remove(free));
        }
        order
    }

    /// A stop that was asked for is complete: leave the instance stopped or start it again.
    fn after_stop(&mut self, i: usize, then: Then, now: Instant) -> Vec<Action> {
        let mut actions = self.settle_stop(i, then);
        actions.extend(self.release_queued(now));
        actions
    }

    fn settle_stop(&mut self, i: usize, then: Then) -> Vec<Action> {
        let instance = &mut self.instances[i];
        instance.stop = Stop::None;
        instance.ready = false;
        match then {
            Then::Restart => {
                instance.life = Life::Waiting;
                if self.may_start(i) {
                    vec![Action::Spawn(i)]
                } else {
                    Vec::new()
                }
            }
            Then::Stay | Then::Shutdown => {
                let was_stopped = instance.life == Life::Stopped;
                instance.life = Life::Stopped;
                if was_stopped {
                    Vec::new()
                } else {
                    vec![Action::Notify(Notice::Stopped { instance: i })]
                }
            }
        }
    }

    /// Instance `i`'s process group is empty (checked by the runtime while it is signalled).
    pub fn on_group_gone(&mut self, i: usize, now: Instant) -> Vec<Action> {
        match self.instances[i].stop {
            Stop::Signalled {
                then: Then::Shutdown,
                ..
            } => {
                self.instances[i].stop = Stop::Finished;
                self.advance_stop(now)
            }
            Stop::Signalled { then, .. } => self.after_stop(i, then, now),
            _ => Vec::new(),
        }
    }

    /// Instances whose group the runtime should watch: signalled, not yet gone.
    pub fn signalled(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.instances.len())
            .filter(|&i| matches!(self.instances[i].stop, Stop::Signalled { .. }))
    }

    /// A signal delivered to procmux.
    pub fn on_signal(&mut self, signal: Signal, now: Instant) -> Vec<Action> {
        use Signal::*;
        match (signal, self.phase) {
            (SIGUSR1 | SIGUSR2, Phase::Running | Phase::Stopping | Phase::Strays { .. }) => {
                vec![Action::Forward(signal)]
            }
            (SIGINT | SIGTERM | SIGHUP, Phase::Running) => {
                self.given = if signal == SIGINT { SIGINT } else { SIGTERM };
                let mut actions = vec![Action::Notify(Notice::SignalReceived { signal })];
                actions.extend(self.begin_shutdown(128 + signal as i32, now));
                actions
            }
            (SIGINT | SIGTERM, Phase::Stopping | Phase::Strays { .. }) => {
                let mut actions = vec![Action::Notify(Notice::SignalAgain { signal })];
                actions.extend(self.begin_kill(now));
                actions
            }
            _ => Vec::new(),
        }
    }

    /// procmux's stdout failed: stop quietly (nobody would read it), exiting with `code`
    /// (0 when the reader went away, 129 when the terminal hung up, 1 for a write error).
    /// An exit code already decided (a shutdown under way) is only raised from 0.
    pub fn on_output_closed(&mut self, code: i32, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::Running => {
                let mut actions = self.begin_shutdown(code, now);
                actions.retain(|a| !matches!(a, Action::Notify(_)));
                actions
            }
            _ => {
                if self.exit_code == 0 {
                    self.exit_code = code;
                }
                Vec::new()
            }
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
                    if let Stop::Signalled { deadline, .. } = self.instances[i].stop
                        && now >= deadline
                    {
                        self.instances[i].stop = Stop::Finished;
                        actions.push(Action::KillGroup(i));
                    }
                }
                actions.extend(self.advance_stop(now));
            }
            Phase::Strays { until } if now >= until => actions.extend(self.begin_kill(now)),
            Phase::Strays { .. } => {}
            Phase::Killing { since, .. } if now >= since + KILL_WAIT => {
                self.phase = Phase::Abandoned;
                actions.push(Action::Notify(Notice::Abandoned { after: KILL_WAIT }));
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
        if let Stop::Signalled { deadline, then } = instance.stop
            && now >= deadline
        {
            // A stop that was asked for outlived its timeout: killed, and done with.
            let mut actions = vec![Action::KillGroup(i)];
            actions.extend(self.after_stop(i, then, now));
            return actions;
        }
        match instance.life {
            Life::BackingOff { until } if now >= until => {
                instance.life = Life::Waiting;
                vec![Action::Spawn(i)]
            }
            Life::Running { .. } if instance.awaits_readiness() => {
                let started = instance.ready_clock.unwrap_or(now);
                if let Ready::Delay(delay) = instance.policy.ready
                    && now >= started + delay
                {
                    return self.on_ready(i, now);
                }
                let timeout = instance.policy.ready_timeout;
                if now >= started + timeout {
                    let mut actions = vec![Action::Notify(Notice::NotReady {
                        instance: i,
                        timeout,
                    })];
                    actions.extend(self.shutdown_for(i, None, NOT_READY_CODE, now));
                    return actions;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// procmux held its children's output for `held` (its stdout was blocked): the readiness
    /// clocks of the instances waiting to be ready stop for that long, as they could not run.
    pub fn hold_readiness(&mut self, held: Duration) {
        for instance in &mut self.instances {
            if instance.awaits_readiness()
                && let Some(clock) = &mut instance.ready_clock
            {
                *clock += held;
            }
        }
    }

    /// When `on_tick` next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        let signalled = self
            .instances
            .iter()
            .filter_map(|instance| match instance.stop {
                Stop::Signalled { deadline, .. } => Some(deadline),
                _ => None,
            });
        match self.phase {
            Phase::Running => self
                .instances
                .iter()
                .filter_map(|instance| match instance.life {
                    Life::BackingOff { until } => Some(until),
                    _ => instance.readiness_deadline(),
                })
                .chain(signalled)
                .min(),
            Phase::Stopping => signalled.min(),
            Phase::Strays { until } => Some(until),
            Phase::Killing { next_sweep, .. } => Some(next_sweep),
            Phase::Abandoned => None,
        }
    }

    /// Where instance `i` is, for `procmux status`: its state, when it last started, and how
    /// many times it was started again.
    pub fn status(&self, i: usize) -> (State, Option<Instant>, u32) {
        let instance = &self.instances[i];
        let reported = !matches!(instance.policy.ready, Ready::Started);
        let state = match (instance.life, instance.stop) {
            (_, Stop::Signalled { .. } | Stop::Pending | Stop::Queued { .. }) => State::Stopping,
            (Life::Waiting, _) => State::Waiting,
            (Life::Running { .. }, _) if !instance.ready => State::Starting,
            (Life::Running { .. }, _) if reported => State::Ready,
            (Life::Running { .. }, _) => State::Running,
            (Life::BackingOff { .. }, _) => State::BackingOff,
            (Life::Stopped, _) => State::Stopped,
            (Life::GivenUp, _) => State::GivenUp,
            (Life::Done, _) => match instance.last_exit {
                Some(exit) => State::Exited(exit),
                None => State::Stopped,
            },
        };
        let since = matches!(instance.life, Life::Running { .. })
            .then_some(instance.started_at)
            .flatten();
        (state, since, instance.starts.saturating_sub(1))
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
    /// given up, none restarting (only with policies that let processes exit). An instance
    /// the user stopped keeps the stack up: it waits for a restart.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Running
            && self
                .instances
                .iter()
                .all(|i| matches!(i.life, Life::Done | Life::GivenUp) && i.stop == Stop::None)
    }

    /// Nothing is left: stop (used when every process was allowed to exit).
    pub fn finish(&mut self, now: Instant) -> Vec<Action> {
        self.begin_shutdown(self.exit_code, now)
    }

    /// procmux's exit code: decided by what started the shutdown.
    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }

    /// The signal instance `i` gets for a stop that ends `then`'s way: in a shutdown, its
    /// own for the signal the user gave; for a stop asked for, its own for SIGTERM.
    fn stop_signal(&self, i: usize, then: Then) -> Signal {
        let given = match then {
            Then::Shutdown => self.given,
            Then::Stay | Then::Restart => Signal::SIGTERM,
        };
        self.instances[i].policy.stop_signal_after(given)
    }

    /// Instance `i`'s main process exited during its stop: the rest of its tree is next.
    fn stop_rest(&self, i: usize, then: Then) -> Vec<Action> {
        let signal = self.stop_signal(i, then);
        let leftover = self.leftover_signal(i, then);
        if leftover == signal {
            return vec![Action::StopEscaped(i, signal)];
        }
        // Its group had the first signal, which its leftovers ignore.
        vec![Action::Stop(i, leftover), Action::StopEscaped(i, leftover)]
    }

    /// The signal for what instance `i`'s main process leaves behind: its stop signal, except
    /// after Ctrl-C: a shell's background jobs ignore SIGINT (POSIX), so they get SIGTERM
    /// rather than a wait for SIGKILL.
    fn leftover_signal(&self, i: usize, then: Then) -> Signal {
        match self.stop_signal(i, then) {
            Signal::SIGINT if self.instances[i].policy.stop_signal_from == SignalSource::Given => {
                Signal::SIGTERM
            }
            signal => signal,
        }
    }

    /// What each running instance that is not being stopped yet will be sent.
    fn shutdown_signals(&self) -> Vec<(usize, Signal)> {
        (0..self.instances.len())
            .filter(|&i| {
                let instance = &self.instances[i];
                matches!(instance.life, Life::Running { .. })
                    && !matches!(instance.stop, Stop::Signalled { .. })
            })
            .map(|i| (i, self.stop_signal(i, Then::Shutdown)))
            .collect()
    }

    /// The instance whose exit (or readiness timeout: no exit) started the shutdown, if one
    /// did.
    pub fn cause(&self) -> Option<(usize, Option<Exit>)> {
        self.cause
    }

    /// A shutdown started by instance `i`: its `exit` (which may have given it up), or its
    /// readiness timeout (`None`).
    fn shutdown_for(
        &mut self,
        i: usize,
        exit: Option<Exit>,
        exit_code: i32,
        now: Instant,
    ) -> Vec<Action> {
        if self.phase == Phase::Running {
            self.cause = Some((i, exit));
        }
        self.begin_shutdown(exit_code, now)
    }

    fn begin_shutdown(&mut self, exit_code: i32, now: Instant) -> Vec<Action> {
        let signals = self.shutdown_signals();
        self.exit_code = exit_code;
        self.phase = Phase::Stopping;
        for instance in &mut self.instances {
            // Restarts and waits are off; what never ran has nothing to stop.
            if matches!(instance.life, Life::BackingOff { .. } | Life::Waiting) {
                instance.life = Life::Done;
            }
            instance.stop = match instance.stop {
                // A stop already under way keeps its deadline, and now ends the shutdown's way.
                Stop::Signalled { deadline, .. } => Stop::Signalled {
                    deadline,
                    then: Then::Shutdown,
                },
                _ => Stop::Pending,
            };
        }
        let mut actions = vec![Action::Notify(Notice::ShuttingDown {
            given: self.given,
            signals,
        })];
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
                .filter(|d| d.after.contains(&i))
                .all(|d| d.stop == Stop::Finished);
            if dependants_finished {
                let signal = self.stop_signal(i, Then::Shutdown);
                let instance = &mut self.instances[i];
                instance.stop = Stop::Signalled {
                    deadline: now + instance.policy.stop_timeout,
                    then: Then::Shutdown,
                };
                if matches!(instance.life, Life::Running { .. }) {
                    actions.push(Action::Stop(i, signal));
                } else {
                    // Its main process is gone already: the rest of its tree at once.
                    let leftover = self.leftover_signal(i, Then::Shutdown);
                    actions.push(Action::Stop(i, leftover));
                    actions.push(Action::StopEscaped(i, leftover));
                }
            }
        }
        if self.instances.iter().all(|i| i.stop == Stop::Finished) {
            actions.extend(self.begin_strays(now));
        }
        actions
    }

    /// Every instance is stopped: what is left (of unknown origin) gets SIGTERM, and as long
    /// as the longest stop timeout before SIGKILL.
    fn begin_strays(&mut self, now: Instant) -> Vec<Action> {
        let grace = self
            .instances
            .iter()
            .map(|i| i.policy.stop_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.phase = Phase::Strays { until: now + grace };
        vec![Action::TerminateStrays]
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
mod tests;
