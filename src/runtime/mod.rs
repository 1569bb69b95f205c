//! Stage three: run the stack. The poll loop and its parts, the only code that touches
//! processes and fds (and `sys`, the only code that holds `unsafe`).
//!
//! # Theory of operation
//!
//! One thread, one `mio::Poll`. Registered, each with its [`Token`]: the read end of every
//! output stream of every child (a pipe, or a pty master), signal-hook's self-pipe for
//! SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2 and SIGWINCH (registered before the first
//! spawn, so no exit is missed), the control socket and its connections, and a waker of the
//! stdout writer thread (`Token::Output`).
//!
//! The loop never blocks on stdout: writes go to the writer thread's queue (see
//! `output/writer.rs`). While that queue is full, the streams are not pumped and do not make
//! the poll return (the children wait on their full pipes); everything else — signals, the
//! control channel, timers — goes on, and the writer wakes the loop once it has room.
//!
//! Each turn:
//! 1. poll, with a timeout only when something is due: a stream still holding data (zero), a
//!    partial line waiting for its idle flush, a supervisor deadline (restart, readiness,
//!    stop), a TCP readiness probe, or a scan for detached daemons (a few after each start).
//!    Idle children cost no wake-ups.
//! 2. pump the streams with data ([`Streams`]: a bounded number of reads each, so a chatty
//!    child cannot starve the others). Lines matching a `ready = "log:…"` pattern are noted.
//! 3. handle signals: SIGCHLD reaps every exited child ([`Children`]); an exit is final when
//!    `waitpid` says so, not at EOF, because a grandchild may hold the pipe open. Before the
//!    exit line is printed, what the pipe holds is drained; while stdout's queue is full
//!    that waits, and exits are reported in the order they happened. SIGWINCH resizes the ptys.
//! 4. run due timers: idle partial lines, supervisor deadlines, [`Probes`], [`Escapes`] scans.
//! 5. hand every event to the [`Supervisor`] (a pure state machine) and carry out its
//!    actions: spawn, signal a group, kill, tell the user. While an instance is being stopped,
//!    tell it when its group is empty, so that what comes next (its dependencies' turn, a
//!    restart) can happen.
//!
//! Every process group (and every detached daemon's group a scan finds) is also told to the
//! watchdog, which kills them all if procmux dies without cleaning up.
//!
//! Once a shutdown started, the loop ends when `waitpid` says ECHILD (no descendant left, as
//! procmux is a subreaper) or the supervisor gives up on survivors. What the streams still
//! hold is then drained and written.

mod checks;
mod children;
mod control;
pub mod detach;
mod escapes;
pub mod foreground;
mod input;
mod line_buffer;
mod ports;
pub use self::ports::held_by_another_stack;
mod probes;
mod requests;
pub mod shell;
mod source;
mod spawn;
mod streams;
#[allow(unsafe_code)]
pub(crate) mod sys;
mod token;
mod tree;
mod watch;
pub mod watchdog;

// The process table and the prompt check are the platform's (`procfs` is the name the
// runtime knew the process table by when it was Linux's `/proc` only).
use crate::platform::process as procfs;
use crate::platform::prompt;

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll};
use nix::pty::Winsize;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use signal_hook::consts::{
    SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2, SIGWINCH,
};
use signal_hook_mio::v1_0::Signals;

use self::children::Children;
use self::control::{Bound, Control};
use self::escapes::Escapes;
use self::input::Input;
use self::probes::Probes;
use self::spawn::{Launch, Wiring};
use self::streams::Streams;
use self::token::Token;
use self::watch::Watcher;
use crate::config::{Ready, Stack};
use crate::error::{Error, Result};
use crate::output::{Closed, ExitText, Output, Stdout};
use crate::supervisor::{Action, Exit, Notice, Supervisor};

/// The size (rows, columns) of the terminal on stdin, if it is one (for `procmux attach`).
pub fn terminal_size() -> Option<(u16, u16)> {
    sys::terminal_size()
}

/// A pty's size when procmux's stdout is not a terminal and `COLUMNS`/`LINES` are not set.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// Runs the stack to the end, writing through `output`; returns procmux's exit code.
pub fn supervise(stack: Stack, mut output: Output<Stdout>) -> Result<i32> {
    let poll = Poll::new().map_err(|e| Error::os("creating the poll instance", e))?;
    // First: a second procmux for the same Procfile stops here, before it starts anything.
    let control = match &stack.control {
        Some(name) => match control::bind(name, poll.registry()) {
            Ok(Bound::Listening(control)) => Some(control),
            Ok(Bound::Taken { uid, pid }) => {
                let me = nix::unistd::getuid().as_raw();
                return Err(Error::Usage(if uid == me {
                    format!("procmux is already running {} (pid {pid})", stack.procfile)
                } else {
                    format!(
                        "the control socket of {} is held by another user (uid {uid}, pid \
                         {pid}); --control off runs without it",
                        stack.procfile
                    )
                }));
            }
            Err(e) => {
                return Err(Error::os(
                    "opening the control socket (an abstract Unix socket; --control off does without)",
                    e,
                ));
            }
        },
        None => None,
    };
    if control.is_some() {
        output.keep_tail(stack.tail_bytes);
    }
    if let Some(error) = ports::held_by_another_stack(&stack) {
        return Err(error);
    }
    let waker = mio::Waker::new(poll.registry(), Token::Output.into())
        .map_err(|e| Error::os("creating the poll waker", e))?;
    output
        .queue_writes(waker)
        .map_err(|e| Error::os("starting the stdout writer", e))?;
    let fd_limit = sys::raise_fd_limit();
    let cookie = tree::new_cookie();
    // Before procmux becomes a subreaper, so the detached watchdog is not adopted back.
    let watchdog = watchdog::guard(&cookie);
    sys::become_subreaper().map_err(|e| Error::os("becoming a child subreaper", e))?;
    let mut handled = vec![
        SIGINT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2, SIGWINCH, SIGTSTP, SIGCONT,
    ];
    // `nohup procmux start &`: a hang-up procmux inherited as ignored stays ignored.
    if !sys::is_ignored(Signal::SIGHUP) {
        handled.push(SIGHUP);
    }
    let mut signals =
        Signals::new(handled).map_err(|e| Error::os("installing signal handlers", e))?;
    poll.registry()
        .register(&mut signals, Token::Signals.into(), Interest::READABLE)
        .map_err(|e| Error::os("registering signals", e))?;
    let input = Input::new(stack.stdin, stack.instances.len(), poll.registry())
        .map_err(|e| Error::os("reading stdin (--stdin)", e))?;
    let watcher =
        Watcher::start(&stack, poll.registry()).map_err(|e| Error::os("watching files", e))?;
    // Reading the project and setting up ran code the loop never runs again.
    crate::platform::memory::release_code();
    let mut event_loop = EventLoop {
        supervisor: Supervisor::new(&stack),
        streams: Streams::new(stack.instances.len()),
        children: Children::new(stack.instances.len(), cookie),
        probes: Probes::new(stack.instances.len(), fd_limit),
        escapes: Escapes::new(watchdog),
        output_closed_seen: false,
        fd_limit,
        control,
        input,
        watcher,
        reaped: false,
        held_since: None,
        release_at: None,
        exits: std::collections::VecDeque::new(),
        stack,
        output,
        poll,
        signals,
    };
    let size = sys::window_size(io::stdout()).map(|s| (s.ws_row, s.ws_col));
    event_loop.output.start_status(size);
    if let Some((first, last)) = event_loop.stack.auto_ports {
        event_loop.output.notice(&Notice::AutoPorts { first, last });
    }
    let actions = event_loop.supervisor.start();
    event_loop.execute(actions);
    let end = event_loop.turn_until_done()?;
    if event_loop.stack.detached
        && event_loop.supervisor.exit_code() != 0
        && let Some(report) = event_loop.failure_report()
    {
        // For `start --detach`, which reads it while it waits (a failure before its first
        // look would otherwise be only an exit status).
        crate::output::say_if_possible(&format!("procmux: error: {report}"));
    }
    event_loop.output.end_status();
    event_loop.escapes.dismiss();
    // A stdout nobody reads does not keep procmux: the longest stop timeout, then it goes.
    let undelivered = event_loop.output.finish(end);
    if undelivered > 0 {
        crate::output::say_if_possible(&format!(
            "procmux: {undelivered} bytes of output were not delivered: stdout was still blocked \
             {:.1} s after the stack stopped",
            event_loop.stop_wait().as_secs_f64()
        ));
    }
    Ok(event_loop.supervisor.exit_code())
}

/// A main process's exit, waiting for its streams to be written.
struct PendingExit {
    instance: usize,
    pid: Pid,
    exit: Exit,
    /// Reads left to drain its streams.
    reads: usize,
}

struct EventLoop {
    stack: Stack,
    supervisor: Supervisor,
    output: Output<Stdout>,
    poll: Poll,
    signals: Signals,
    streams: Streams,
    children: Children,
    probes: Probes,
    escapes: Escapes,
    /// The closed stdout was reported to the supervisor.
    output_closed_seen: bool,
    /// The open-files limit procmux was started with, which children get back.
    fd_limit: Option<sys::FdLimit>,
    /// The control channel, unless `--control off`.
    control: Option<Control>,
    /// procmux's own stdin: `--stdin NAME`, and prompt hints.
    input: Input,
    /// Restart on file change, when a type has `watch` globs.
    watcher: Option<Watcher>,
    /// A main process was reaped this turn: groups may have emptied.
    reaped: bool,
    /// Exits not reported yet, oldest first: their streams still hold output and the output
    /// is backlogged.
    exits: std::collections::VecDeque<PendingExit>,
    /// Since when stdout's queue has been full (the children's output held), as of the last
    /// turn: the readiness clocks stop meanwhile.
    held_since: Option<Instant>,
    /// When the code that served the control channel's last requests is let go of: pushed
    /// back by every event of a client (a request, a follower's writes), so it comes once
    /// the channel has been quiet for [`RELEASE_AFTER`].
    release_at: Option<Instant>,
}

/// How long the control channel stays quiet before the code its requests ran is let go of
/// (`platform::memory`): `wait` asks every 100 ms, a person now and then; a stack queried
/// once should not keep that code resident all day.
const RELEASE_AFTER: Duration = Duration::from_secs(10);

impl EventLoop {
    /// Runs until the stack is down and its output drained; when procmux stops waiting for a
    /// blocked stdout.
    fn turn_until_done(&mut self) -> Result<Instant> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.finished() {
                break;
            }
            let timeout = self.next_timeout(Instant::now());
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::os("polling", error));
            }
            let mut signalled = false;
            for event in events.iter() {
                match Token::from(event.token()) {
                    Token::Signals => signalled = true,
                    Token::Stream(index) => self.streams.queue(index),
                    Token::Control => {
                        if let Some(control) = &mut self.control {
                            control.accept(self.poll.registry(), Instant::now());
                        }
                    }
                    Token::Client(slot) => {
                        self.serve(slot, event.is_write_closed());
                        self.release_at = Some(Instant::now() + RELEASE_AFTER);
                    }
                    Token::Watch => {
                        let problems = match &mut self.watcher {
                            Some(watcher) => watcher.read(Instant::now()),
                            None => Vec::new(),
                        };
                        for message in problems {
                            self.output.notice(&Notice::WatchProblem { message });
                        }
                    }
                    // The writer thread has room again: the streams are pumped below.
                    Token::Output => {}
                    Token::Stdin => {
                        let bytes = self.input.read(self.poll.registry());
                        if let Some(target) = self.input.target
                            && !bytes.is_empty()
                        {
                            self.send_input(target, &bytes);
                        }
                    }
                    Token::Probe(instance) => {
                        if self.probes.on_event(instance, self.poll.registry()) {
                            let actions = self.supervisor.on_ready(instance, Instant::now());
                            self.execute(actions);
                        }
                    }
                }
            }
            self.hold_readiness_while_backlogged(Instant::now());
            self.report_exits(None);
            self.streams
                .pump_readable(&mut self.output, self.poll.registry());
            self.collect_log_readiness();
            if signalled {
                self.handle_signals();
            }
            self.run_timers(Instant::now());
            if self.supervisor.is_idle() {
                // Every process was allowed to exit and did: nothing left to supervise.
                let actions = self.supervisor.finish(Instant::now());
                self.execute(actions);
            }
            self.output.check_writer();
            if let Some(closed) = self.output.closed()
                && !self.output_closed_seen
            {
                self.output_closed_seen = true;
                let code = match closed {
                    Closed::Reader => 0,
                    Closed::Terminal => 128 + Signal::SIGHUP as i32,
                    Closed::Failed => 1,
                };
                let actions = self.supervisor.on_output_closed(code, Instant::now());
                self.execute(actions);
            }
            // Once a turn: what needs a read of /proc.
            self.children.send_queued();
            if std::mem::take(&mut self.reaped) {
                for pgid in self.children.take_emptied() {
                    self.escapes.forget(pgid);
                }
            }
            if self.supervisor.signalled().next().is_some() {
                self.report_gone_groups();
            }
            if let Some(control) = &mut self.control {
                let registry = self.poll.registry();
                control.expire(Instant::now(), registry);
                control.feed(self.output.tail(), registry);
                self.streams
                    .take_mirrored(|instance, bytes| control.mirror(instance, bytes, registry));
            }
            self.sync_mirrors();
            if self.output.status_due() {
                self.draw_status();
            }
        }
        // The stack is down: what is left is written, waiting for stdout at most the
        // longest stop timeout.
        let end = Instant::now() + self.stop_wait();
        self.report_exits(Some(end));
        self.streams
            .drain_all(&mut self.output, self.poll.registry(), end);
        Ok(end)
    }

    /// How long procmux waits for a blocked stdout once the stack is down: the longest stop
    /// timeout.
    fn stop_wait(&self) -> Duration {
        self.stack.longest_stop()
    }

    /// While stdout's queue is full the children's output is held, and with it the children:
    /// their readiness clocks stop for as long.
    fn hold_readiness_while_backlogged(&mut self, now: Instant) {
        if let Some(since) = self.held_since.take() {
            self.supervisor
                .hold_readiness(now.saturating_duration_since(since));
        }
        if self.output.backlogged() {
            self.held_since = Some(now);
        }
    }

    /// Once a shutdown started: true when no descendant is left (catching exits whose SIGCHLD
    /// is still in flight), or when the supervisor gave up on survivors.
    fn finished(&mut self) -> bool {
        if !self.supervisor.is_stopping() {
            return false;
        }
        self.reap();
        self.children.send_queued();
        !self.children.any_left() || self.supervisor.is_abandoned()
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        self.streams
            .next_due(now, self.output.backlogged())
            .into_iter()
            .chain(self.supervisor.deadline())
            .chain(self.probes.next_due())
            .chain(self.escapes.next_due())
            .chain(self.watcher.as_ref().and_then(Watcher::next_due))
            .chain(self.control.as_ref().and_then(Control::next_due))
            .chain(self.release_at)
            .min()
            .map(|due| due.saturating_duration_since(now))
    }

    fn handle_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGCHLD => self.reap(),
                SIGWINCH => self.follow_terminal_size(),
                SIGTSTP => {
                    // Ctrl-Z pauses the whole stack, as a shell pauses a job: every process
                    // (SIGSTOP: a pty's orphaned group would discard SIGTSTP), then procmux.
                    // The terminal is the shell's meanwhile: the status line goes first.
                    self.output.pause_status(Instant::now() + PAUSE_FLUSH);
                    self.children.signal_everything(Signal::SIGSTOP);
                    sys::stop_self();
                }
                // `fg`, or a plain SIGCONT: everything resumes.
                SIGCONT => {
                    // No SIGWINCH reaches a stopped job: the terminal may have been resized
                    // while the shell had it.
                    self.follow_terminal_size();
                    self.output.resume_status();
                    self.children.signal_everything(Signal::SIGCONT);
                }
                _ => {
                    let Ok(signal) = Signal::try_from(signal) else {
                        continue;
                    };
                    let actions = self.supervisor.on_signal(signal, Instant::now());
                    self.execute(actions);
                }
            }
        }
    }

    /// Reaps every exited child and reports the exits of main processes; groups found empty
    /// are forgotten by the watchdog.
    fn reap(&mut self) {
        while let Some((instance, pid, exit)) = self.children.reap() {
            self.on_exit(instance, pid, exit);
            self.reaped = true;
        }
    }

    /// An instance's main process exited. Its exit is reported once what its streams hold is
    /// written (lines before their exit line), in the order the exits happened; while the
    /// output is backlogged, that waits (the supervisor learns of the exit then).
    fn on_exit(&mut self, instance: usize, pid: Pid, exit: Exit) {
        self.exits.push_back(PendingExit {
            instance,
            pid,
            exit,
            reads: streams::READS_AT_EXIT,
        });
        self.report_exits(None);
    }

    /// Reports the exits whose streams are drained; at the `end`, all of them (waiting for
    /// stdout's room until then).
    fn report_exits(&mut self, end: Option<Instant>) {
        while let Some(pending) = self.exits.front_mut() {
            let registry = self.poll.registry();
            let (instance, reads) = (pending.instance, &mut pending.reads);
            if !self
                .streams
                .drain_instance(instance, &mut self.output, registry, reads, end)
            {
                return;
            }
            if let Some(done) = self.exits.pop_front() {
                self.report_exit(done.instance, done.pid, done.exit);
            }
        }
    }

    fn report_exit(&mut self, instance: usize, pid: Pid, exit: Exit) {
        if let Some(control) = &mut self.control {
            let registry = self.poll.registry();
            self.streams
                .take_mirrored(|i, bytes| control.mirror(i, bytes, registry));
            let label = self.stack.instances[instance].label();
            let message = format!("\r\nprocmux: {label} {}\r\n", ExitText(exit));
            control.end_sessions(instance, &message, registry);
        }
        self.sync_mirrors();
        self.output.notice(&Notice::Exited {
            instance,
            pid,
            exit,
        });
        let actions = self.supervisor.on_exit(instance, exit, Instant::now());
        self.execute(actions);
    }

    fn run_timers(&mut self, now: Instant) {
        let children = &mut self.children;
        // Any process of its tree, not only its first: in `sh -c 'yes | head'` the writer is
        // `head`, and the shell sleeps in `wait`. One read of /proc for all the partial lines
        // due in this turn, made only if one is.
        let mut trees: Option<Vec<Vec<nix::unistd::Pid>>> = None;
        let mut busy = |instance: usize| {
            let trees = trees.get_or_insert_with(|| children.all_trees());
            trees
                .get(instance)
                .is_some_and(|tree| tree.iter().copied().any(procfs::is_runnable))
        };
        let prompts =
            self.streams
                .flush_idle(now, &mut self.output, self.poll.registry(), &mut busy);
        for instance in prompts {
            let kind = self.stack.type_of(instance);
            // A prompt only if the kernel says one of its processes reads its terminal: not
            // a spinner's or a watcher's last words.
            if self.control.is_some()
                && kind.pty
                && prompt::waits_for_input(&self.children.tree_pids(instance))
                && self.input.should_hint(instance, kind.pty)
            {
                let spec = &self.stack.instances[instance];
                let name = if kind.count == 1 {
                    spec.name.clone()
                } else {
                    spec.label()
                };
                self.output
                    .notice(&Notice::WaitingForInput { instance, name });
            }
        }
        if self.release_at.is_some_and(|due| due <= now) {
            self.release_at = None;
            crate::platform::memory::release_code();
        }
        if self.supervisor.deadline().is_some_and(|due| due <= now) {
            let actions = self.supervisor.on_tick(now);
            self.execute(actions);
        }
        let supervisor = &self.supervisor;
        let ready = self.probes.run_due(
            now,
            &self.stack,
            &mut self.children,
            self.poll.registry(),
            |i| supervisor.awaits_report(i),
        );
        for instance in ready {
            let actions = self.supervisor.on_ready(instance, now);
            self.execute(actions);
        }
        let changes = match &mut self.watcher {
            Some(watcher) => watcher.settled(now),
            None => Vec::new(),
        };
        for change in changes {
            if self.supervisor.is_stopping() {
                break;
            }
            let instances: Vec<usize> = (0..self.stack.instances.len())
                .filter(|&i| self.stack.instances[i].type_index == change.type_index)
                .collect();
            for instance in instances {
                self.output.notice(&Notice::FileChanged {
                    instance,
                    file: change.file.clone(),
                });
                let actions = self.supervisor.restart(instance, now);
                self.execute(actions);
            }
        }
        if self.escapes.scan_due(now) && !self.supervisor.is_stopping() {
            let mut descendants = self.children.snapshot();
            self.children.note_escaped_in(&descendants);
            // A readiness check's group is gone in a moment, its id free for a stranger: the
            // watchdog finds checks by their PROCMUX_TREE instead.
            descendants.retain(|p| !self.children.is_check_group(p.pgid));
            self.escapes.found(&descendants);
        }
    }

    /// Tells the supervisor about instances whose output matched their `ready = "log:…"`.
    fn collect_log_readiness(&mut self) {
        while let Some(instance) = self.streams.take_match() {
            let actions = self.supervisor.on_ready(instance, Instant::now());
            self.execute(actions);
        }
    }

    /// Tells the supervisor which signalled instances' trees are gone, so that what comes
    /// after their stop can happen.
    fn report_gone_groups(&mut self) {
        // An exit not reported yet comes first.
        let signalled: Vec<usize> = self
            .supervisor
            .signalled()
            .filter(|&i| !self.exits.iter().any(|e| e.instance == i))
            .collect();
        for instance in self.children.gone_trees(&signalled) {
            let actions = self.supervisor.on_group_gone(instance, Instant::now());
            self.execute(actions);
        }
    }

    fn execute(&mut self, actions: Vec<Action>) {
        if actions.iter().any(|a| matches!(a, Action::Stop(..))) {
            // Before a stop makes parents exit, note whose tree each escaped descendant is
            // (once reparented to procmux, its ancestry no longer tells).
            self.children.note_escaped();
        }
        for action in actions {
            match action {
                Action::Notify(notice) => {
                    self.output.notice(&notice);
                    if let Notice::NotReady { instance, .. } = notice
                        && let Some(command) = checks::command_of(&self.stack, instance)
                    {
                        for notice in self.probes.checks.report(instance, command) {
                            self.output.notice(&notice);
                        }
                    }
                }
                // Nothing starts once the shutdown began (a start that failed may have begun
                // it while other starts of the same batch were still to come).
                Action::Spawn(_) if self.supervisor.is_stopping() => {}
                Action::Spawn(instance) => self.spawn(instance),
                Action::Stop(instance, signal) => self.children.signal(instance, signal),
                Action::StopEscaped(instance, signal) => {
                    self.children.signal_escaped_of(instance, signal);
                }
                Action::KillGroup(instance) => {
                    let remaining = self.children.tree_size(instance);
                    if remaining > 0 {
                        self.output.notice(&Notice::Killing { remaining });
                    }
                    self.children.signal(instance, Signal::SIGKILL);
                    self.children.signal_escaped_of(instance, Signal::SIGKILL);
                }
                Action::TerminateStrays => self.children.signal_everything(Signal::SIGTERM),
                Action::Kill => {
                    let remaining = self.children.remaining();
                    if remaining > 0 {
                        self.output.notice(&Notice::Killing { remaining });
                    }
                    self.children.signal_everything(Signal::SIGKILL);
                }
                Action::KillRemaining => self.children.signal_everything(Signal::SIGKILL),
                Action::Forward(signal) => self.children.signal_groups(signal),
            }
        }
    }

    /// Starts `instance` (again, after a restart) and tells the supervisor how it went.
    fn spawn(&mut self, instance: usize) {
        let now = Instant::now();
        let stop_signal = self.stack.type_of(instance).policy.stop_signal;
        self.children.retire_group(instance, stop_signal);
        let actions = match self.spawn_one(instance) {
            Ok(()) => self.supervisor.on_spawned(instance, now),
            Err(error) => {
                self.output.notice(&Notice::FailedToStart {
                    instance,
                    error: error.to_string(),
                });
                self.supervisor.on_exit(instance, Exit::Code(127), now)
            }
        };
        self.execute(actions);
        if self.supervisor.awaits_report(instance) {
            // Its first probe or check at once, not at the next wake-up.
            self.probes.due(instance, Instant::now());
        }
        if self.supervisor.awaits_report(instance)
            && let Ready::Log(pattern) = &self.stack.type_of(instance).policy.ready
        {
            self.streams.watch(instance, pattern);
        }
    }

    fn spawn_one(&mut self, instance: usize) -> io::Result<()> {
        let spec = &self.stack.instances[instance];
        let kind = self.stack.type_of(instance);
        if let Some(port) = probes::port_of(&kind.policy.ready, spec.port) {
            // Its readiness would be another program's: refuse to start it.
            probes::check_port_free(port)?;
        }
        let wiring = match (kind.pty, self.stack.split_stderr) {
            (true, split_stderr) => Wiring::Pty {
                size: self.pty_size(),
                split_stderr,
            },
            (false, true) => Wiring::Split,
            (false, false) => Wiring::Merged,
        };
        let tree = self.children.tree_value(instance);
        let mut extra_env = vec![(tree::TREE_VARIABLE, tree.as_str())];
        let ports = self.stack.port_env.iter();
        extra_env.extend(ports.map(|(name, port)| (name.as_str(), port.as_str())));
        if self.stack.color_hint && !kind.pty {
            extra_env.extend(COLOR_HINT);
        }
        let label = spec.label();
        let launch = Launch {
            root: &kind.dir,
            env: self.stack.env_of(instance),
            extra_env: &extra_env,
            port: spec.port,
            ps: &label,
            fd_limit: self.fd_limit,
        };
        let spawned = spawn::spawn(&kind.command, &launch, wiring)?;
        self.streams.reset(instance);
        for (stream, fd) in spawned.outputs {
            let prefix = self.output.stream_prefix(instance, spawned.pid, stream);
            let is_pty = spawned.pty == Some(stream);
            let added = self.streams.add(
                self.poll.registry(),
                instance,
                fd,
                prefix,
                kind.quiet,
                is_pty,
            );
            if let Err(error) = added {
                // Untracked, it would run on unseen: its group goes, and the reap takes it.
                spawn::kill_unwatched(spawned.pid);
                return Err(error);
            }
        }
        self.children.add(instance, spawned.pid, spawned.stdin);
        self.escapes.started(spawned.pid, Instant::now());
        self.output.notice(&Notice::Started {
            instance,
            pid: spawned.pid,
        });
        Ok(())
    }

    /// procmux's terminal size (or `COLUMNS`/`LINES`, or 80×24) less the prefix's width.
    fn pty_size(&self) -> Winsize {
        let tty = io::stdout().is_terminal();
        let terminal = tty.then(|| sys::window_size(io::stdout()));
        let (cols, rows) = match terminal.flatten() {
            Some(size) => (size.ws_col, size.ws_row),
            None => {
                let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u16>().ok());
                (
                    var("COLUMNS").unwrap_or(DEFAULT_SIZE.0),
                    var("LINES").unwrap_or(DEFAULT_SIZE.1),
                )
            }
        };
        let cols = (usize::from(cols).saturating_sub(self.output.prefix_width())).max(20) as u16;
        // The status line takes a row.
        let rows = self.output.stream_rows().unwrap_or(rows);
        Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }

    /// The instance whose failure stopped the stack, as `wait` says it (the release phase
    /// named as such), and its last lines from the tail.
    fn failure_report(&self) -> Option<String> {
        let (i, exit) = self.supervisor.cause()?;
        let name = self.stack.instances[i].label();
        let mut text = match exit {
            Some(Exit::Code(code)) => format!("{name} exited with code {code}"),
            Some(Exit::Signal(signal)) => format!("{name} was killed by {signal}"),
            None => format!("{name} was not ready within its ready_timeout"),
        };
        if self.stack.type_of(i).release {
            text = format!("the release phase failed: {text}");
        }
        let lines = last_lines(self.output.tail(), i);
        Some(crate::control::with_last_lines(text, &lines))
    }

    /// The status line, from every instance's state (drawn only if its text changed).
    fn draw_status(&mut self) {
        let states: Vec<(crate::supervisor::State, u32)> = (0..self.stack.instances.len())
            .map(|i| {
                let (state, _, restarts) = self.supervisor.status(i);
                (state, restarts)
            })
            .collect();
        self.output
            .draw_status(&states, self.supervisor.is_stopping());
    }

    /// SIGWINCH, or back from Ctrl-Z: the status line and every pty follow procmux's
    /// terminal.
    fn follow_terminal_size(&mut self) {
        if let Some(size) = sys::window_size(io::stdout()) {
            self.output.resize_status(size.ws_row, size.ws_col);
        }
        self.resize_ptys();
    }

    /// Every pty follows procmux's terminal.
    fn resize_ptys(&mut self) {
        let size = self.pty_size();
        for pty in self.streams.ptys() {
            // A pty whose child is gone may refuse; nothing to resize then.
            let _ = sys::set_window_size(pty, &size);
        }
    }
}

/// How long Ctrl-Z waits for the status line's removal to reach the terminal.
const PAUSE_FLUSH: Duration = Duration::from_millis(200);

/// Variables that make programs on pipes colour their output when procmux colours its own.
const COLOR_HINT: [(&str, &str); 2] = [("FORCE_COLOR", "1"), ("CLICOLOR_FORCE", "1")];

/// The last lines the tail keeps of `instance` (at most 10, each cut to 300 bytes: the report
/// is one write to a pipe), without escapes.
fn last_lines(tail: &crate::output::Tail, instance: usize) -> Vec<String> {
    const LINES: usize = 10;
    const WIDTH: usize = 300;
    let mut bytes = Vec::new();
    let wants = |owner: Option<usize>| owner == Some(instance);
    tail.copy(tail.start(), tail.end(), usize::MAX, wants, &mut |b| {
        bytes.extend_from_slice(b)
    });
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let from = lines.len().saturating_sub(LINES);
    lines[from..]
        .iter()
        .map(|line| {
            let text: Vec<u8> = crate::output::visible(line).flatten().copied().collect();
            let text = String::from_utf8_lossy(&text);
            let text = text.trim_end_matches('\r');
            if text.len() <= WIDTH {
                return text.to_owned();
            }
            let cut = (0..=WIDTH).rev().find(|&at| text.is_char_boundary(at));
            format!("{}…", &text[..cut.unwrap_or(0)])
        })
        .collect()
}
