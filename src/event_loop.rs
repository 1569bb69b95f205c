//! The supervisor's event loop.
//!
//! # Theory of operation
//!
//! One thread, one `mio::Poll`. Registered: the read end of every output stream of every child
//! (a pipe, or a pty master; token = index into `sources`) and signal-hook's self-pipe for
//! SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2 and SIGWINCH (registered before the first
//! spawn, so no exit is missed).
//!
//! Each iteration:
//! 1. poll, with a timeout only when something is due: a pipe still holding data (zero), a
//!    partial line waiting for its idle flush, a supervisor deadline (restart, readiness,
//!    shutdown), a TCP readiness probe, or a scan for detached daemons (a few after each
//!    start). Idle children cost no wake-ups.
//! 2. pump the pipes with data: read into the shared buffer until `WouldBlock`, at most
//!    [`READS_PER_WAKE`] reads each, so a chatty child cannot starve the others (a pipe cut off
//!    by the budget stays queued in `readable`, since mio is edge-triggered). Lines matching a
//!    `ready = "log:…"` pattern are noted.
//! 3. handle signals: SIGCHLD reaps every exited child with `waitpid(-1, WNOHANG)` (signals
//!    coalesce); an exit is final when `waitpid` says so, not at EOF, because a grandchild may
//!    hold the pipe open. Before the exit line is printed, what the pipe holds is drained.
//!    SIGWINCH resizes the ptys.
//! 4. run due timers: idle partial lines, supervisor deadlines, probes, scans.
//! 5. hand every event to the [`Supervisor`] (a pure state machine) and carry out its
//!    actions: spawn, signal a group, kill, say something. While stopping, tell it which
//!    signalled groups are empty, so that their dependencies are stopped next.
//!
//! Every process group (and every detached daemon's group found by a scan) is also told to
//! the [`Watchdog`], which kills them all if procmux dies without cleaning up.
//!
//! procmux is a child subreaper, so every descendant that outlives its parent becomes its
//! child. Hence "no descendant left" is exactly "`waitpid` says ECHILD", and that ends the loop
//! once a shutdown started. What the pipes still hold is then drained and written.
//!
//! Invariants between iterations: `readable` lists each source at most once (`queued`); a
//! source holds no complete line (they are written as soon as read), only a partial one; every
//! live process's pid is in `by_pid`.

use std::collections::{HashMap, HashSet};
use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use mio::unix::pipe::Receiver;
use mio::{Events, Interest, Poll, Token};
use nix::errno::Errno;
use nix::pty::Winsize;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook_mio::v1_0::Signals;

use crate::color;
use crate::config::{Probe, StartConfig};
use crate::error::{Error, Result};
use crate::line_buffer::ReadBuffer;
use crate::output::{Event, Output, Prefix, Stream, Subject};
use crate::process::Process;
use crate::source::{MAX_LINE, Pump, READ_SIZE, Source};
use crate::spawn::{self, Launch, Wiring};
use crate::supervisor::{Action, Exit, Supervisor};
use crate::sys;
use crate::timestamp::{Clock, TimestampFormat};
use crate::watchdog::Watchdog;

const SIGNALS: Token = Token(usize::MAX);
/// Reads per pipe per wake-up before the other pipes get their turn.
const READS_PER_WAKE: usize = 4;
/// Reads allowed when draining a pipe whose process just exited (bounded: a grandchild may
/// keep writing).
const READS_AT_EXIT: usize = 64;
/// Reads allowed per pipe in the final drain, after every descendant is gone.
const READS_AT_END: usize = 4096;
/// How long a short partial line (a prompt) may stay idle before it is printed on its own.
pub const PARTIAL_IDLE: Duration = Duration::from_millis(50);
/// Partial lines up to this length count as prompts.
const PROMPT_MAX: usize = 256;
/// How long a longer partial line may stay idle: its writer is most likely in the middle of
/// a line that its buffered `write`s split (a busy machine can deschedule it for a while), so
/// cutting it early would break a line that was never meant to be shown in parts.
pub const LONG_PARTIAL_IDLE: Duration = Duration::from_secs(1);
/// A pty's size when procmux's stdout is not a terminal and `COLUMNS`/`LINES` are not set.
const DEFAULT_SIZE: (u16, u16) = (80, 24);
/// After each start, when to look for descendants that detached into groups of their own.
const ESCAPE_SCANS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(10),
];
/// Scans are rounded up to multiples of this, so that many starts cost few scans.
const SCAN_GRID: Duration = Duration::from_millis(500);
/// How often `ready = "tcp:…"` is tried.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How long one TCP readiness connect may take (loopback answers at once).
const PROBE_TIMEOUT: Duration = Duration::from_millis(50);

/// Runs `procmux start` to the end and returns its exit code.
pub fn run(config: StartConfig) -> Result<i32> {
    sys::raise_fd_limit();
    // Before procmux becomes a subreaper, so the detached watchdog is not adopted back.
    let watchdog = Watchdog::start().ok();
    sys::become_subreaper().map_err(|e| Error::os("becoming a child subreaper", e))?;
    let poll = Poll::new().map_err(|e| Error::os("creating the poll instance", e))?;
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGWINCH])
        .map_err(|e| Error::os("installing signal handlers", e))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|e| Error::os("registering signals", e))?;
    let mut event_loop = EventLoop::new(config, poll, signals, watchdog);
    let actions = event_loop.supervisor.start();
    event_loop.execute(actions);
    event_loop.run()?;
    if let Some(watchdog) = &mut event_loop.watchdog {
        watchdog.dismiss();
    }
    Ok(event_loop.supervisor.exit_code())
}

struct EventLoop {
    config: StartConfig,
    poll: Poll,
    signals: Signals,
    processes: Vec<Process>,
    /// Every output stream of every process; a token is an index here.
    sources: Vec<Source>,
    by_pid: HashMap<Pid, usize>,
    /// Sources that may still hold data; `spare` is swapped in while they are pumped.
    readable: Vec<usize>,
    spare: Vec<usize>,
    /// The read buffer every pipe is read into.
    scratch: ReadBuffer,
    output: Output,
    system: Prefix,
    supervisor: Supervisor,
    /// False once `waitpid` reported that procmux has no child left.
    children_left: bool,
    /// The closed stdout was reported to the supervisor.
    output_closed_seen: bool,
    /// Kills every group if procmux dies without cleaning up (`None` if it could not start).
    watchdog: Option<Watchdog>,
    /// When the TCP readiness probes run next, while any process waits for one.
    next_probe: Option<Instant>,
    /// When to look for descendants that left their group, to tell the watchdog (sorted).
    escape_scans: Vec<Instant>,
    /// Groups the watchdog knows about.
    watched: HashSet<Pid>,
    /// When the loop was created: the origin of the scan grid.
    epoch: Instant,
}

impl EventLoop {
    fn new(
        config: StartConfig,
        poll: Poll,
        signals: Signals,
        watchdog: Option<Watchdog>,
    ) -> EventLoop {
        let processes = config
            .processes
            .iter()
            .map(|spec| {
                let color = config.color.then(|| color::for_index(spec.type_index));
                let label = Prefix::text(&spec.label(), config.width, color, config.timestamp, '|');
                Process::new(spec.clone(), label)
            })
            .collect();
        let system_color = config.color.then_some(color::SYSTEM);
        let system = Prefix::text("system", config.width, system_color, config.timestamp, '|');
        let clock = Clock::new(if config.json {
            TimestampFormat::Iso
        } else {
            config.timestamp
        });
        EventLoop {
            output: Output::new(crate::output::Stdout, clock, config.json, config.strip_ansi),
            scratch: ReadBuffer::new(READ_SIZE, MAX_LINE),
            supervisor: Supervisor::new(
                config.processes.iter().map(|p| p.label()).collect(),
                config.processes.iter().map(|p| p.policy.clone()).collect(),
                config.exit_code_from,
            ),
            next_probe: None,
            escape_scans: Vec::new(),
            watched: HashSet::new(),
            epoch: Instant::now(),
            config,
            poll,
            signals,
            processes,
            sources: Vec::new(),
            by_pid: HashMap::new(),
            readable: Vec::new(),
            spare: Vec::new(),
            system,
            children_left: true,
            output_closed_seen: false,
            watchdog,
        }
    }

    /// Starts instance `index` (again, after a restart) and tells the supervisor how it went.
    fn spawn(&mut self, index: usize) {
        let now = Instant::now();
        let process = &mut self.processes[index];
        if let Some(old) = process.pgid.take() {
            // What a restarted process left behind in its old group goes with it.
            sys::signal_group(old, process.spec.policy.stop_signal);
            if sys::group_alive(old) {
                process.old_groups.push(old);
            }
        }
        let actions = match self.spawn_one(index) {
            Ok(()) => self.supervisor.on_spawned(index, now),
            Err(error) => {
                let process = &mut self.processes[index];
                let subject = Subject::Process {
                    name: &process.spec.name,
                    instance: process.spec.instance,
                };
                self.output
                    .event(&mut process.label, subject, Event::FailedToStart(&error));
                self.supervisor.on_exit(index, Exit::Code(127), now)
            }
        };
        self.execute(actions);
        if self.supervisor.awaits_report(index)
            && let Probe::Log(pattern) = &self.processes[index].spec.probe
        {
            for &token in &self.processes[index].sources {
                self.sources[token].watch(pattern.clone());
            }
        }
    }

    fn spawn_one(&mut self, index: usize) -> io::Result<()> {
        let spec = &self.processes[index].spec;
        let label = spec.label();
        let wiring = match (spec.pty, self.config.mark_stderr) {
            (true, split_stderr) => Wiring::Pty {
                size: self.pty_size(),
                split_stderr,
            },
            (false, true) => Wiring::Split,
            (false, false) => Wiring::Merged,
        };
        let mut env = self.config.project.env.clone();
        if self.config.color_hint && !spec.pty {
            env.push(("FORCE_COLOR".to_owned(), "1".to_owned()));
            env.push(("CLICOLOR_FORCE".to_owned(), "1".to_owned()));
        }
        let launch = Launch {
            root: &self.config.project.root,
            env: &env,
            port: spec.port,
            ps: &label,
        };
        let spawned = spawn::spawn(&spec.command, &launch, wiring)?;
        self.processes[index].sources.clear();
        self.processes[index].pty = None;
        for (stream, fd) in spawned.outputs {
            // A restart reuses its own closed streams' slots: the list would otherwise grow
            // with every restart, and every loop iteration walks it.
            let token = self
                .sources
                .iter()
                .position(|s| s.process == index && s.is_retired())
                .unwrap_or(self.sources.len());
            let mut pipe = Receiver::from(fd);
            self.poll
                .registry()
                .register(&mut pipe, Token(token), Interest::READABLE)?;
            let prefix = self.stream_prefix(index, spawned.pid, stream);
            let quiet = self.processes[index].spec.quiet;
            let source = Source::new(index, pipe, prefix, quiet);
            if token == self.sources.len() {
                self.sources.push(source);
            } else {
                self.sources[token] = source;
            }
            let process = &mut self.processes[index];
            process.sources.push(token);
            if spawned.pty == Some(stream) {
                process.pty = Some(token);
            }
        }
        self.by_pid.insert(spawned.pid, index);
        self.watch_group(spawned.pid);
        // Daemons detach soon after they start: look for them a few times, on a coarse grid
        // so that processes started together share their scans.
        let now = Instant::now();
        for after in ESCAPE_SCANS {
            let since = (now + after).saturating_duration_since(self.epoch);
            let slots = since.as_nanos().div_ceil(SCAN_GRID.as_nanos()) as u32;
            let due = self.epoch + SCAN_GRID * slots;
            if let Err(at) = self.escape_scans.binary_search(&due) {
                self.escape_scans.insert(at, due);
            }
        }
        let process = &mut self.processes[index];
        process.pgid = Some(spawned.pid);
        let subject = Subject::Process {
            name: &process.spec.name,
            instance: process.spec.instance,
        };
        self.output.event(
            &mut process.label,
            subject,
            Event::Started { pid: spawned.pid },
        );
        Ok(())
    }

    /// The prefix of one output stream: JSON head, bare (`--no-prefix`), or the label with
    /// `|` (or `!` for a marked stderr).
    fn stream_prefix(&self, index: usize, pid: Pid, stream: Stream) -> Prefix {
        let spec = &self.processes[index].spec;
        if self.config.json {
            Prefix::json(&spec.name, spec.instance, pid, stream)
        } else if !self.config.prefix {
            Prefix::bare()
        } else {
            let color = self.config.color.then(|| color::for_index(spec.type_index));
            Prefix::text(
                &spec.label(),
                self.config.width,
                color,
                self.config.timestamp,
                stream.separator(),
            )
        }
    }

    /// procmux's terminal size (or `COLUMNS`/`LINES`, or 80×24) less the prefix's width.
    fn pty_size(&self) -> Winsize {
        let stdout = io::stdout();
        let (cols, rows) = match sys::window_size(&stdout).filter(|_| stdout.is_terminal()) {
            Some(size) => (size.ws_col, size.ws_row),
            None => {
                let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u16>().ok());
                (
                    var("COLUMNS").unwrap_or(DEFAULT_SIZE.0),
                    var("LINES").unwrap_or(DEFAULT_SIZE.1),
                )
            }
        };
        let prefix_width = if self.config.json || !self.config.prefix {
            0
        } else {
            let stamp = self.config.timestamp.width();
            stamp + usize::from(stamp > 0) + self.config.width + 3
        };
        let cols = (usize::from(cols).saturating_sub(prefix_width)).max(20) as u16;
        Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }

    /// SIGWINCH: every pty follows procmux's terminal.
    fn resize_ptys(&mut self) {
        let size = self.pty_size();
        for process in &self.processes {
            if let Some(pipe) = process.pty.and_then(|token| self.sources[token].pipe()) {
                // A pty whose child is gone may refuse; nothing to resize then.
                let _ = sys::set_window_size(pipe, &size);
            }
        }
    }

    fn run(&mut self) -> Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.next_timeout(Instant::now());
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::os("polling", error));
            }
            let mut signalled = false;
            for event in events.iter() {
                match event.token() {
                    SIGNALS => signalled = true,
                    Token(index) => self.queue(index),
                }
            }
            self.pump_readable();
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
            if self.output.is_closed() && !self.output_closed_seen {
                self.output_closed_seen = true;
                let actions = self.supervisor.on_output_closed(Instant::now());
                self.execute(actions);
            }
            if self.supervisor.is_stopping() {
                // Catch exits whose SIGCHLD is still in flight, and learn whether any child is left.
                self.reap();
                self.report_gone_groups();
                if !self.children_left || self.supervisor.is_abandoned() {
                    break;
                }
            }
        }
        self.drain_all();
        Ok(())
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.readable.is_empty() {
            return Some(Duration::ZERO);
        }
        let flushes = self.sources.iter().filter_map(|s| s.flush_at);
        flushes
            .chain(self.supervisor.deadline())
            .chain(self.next_probe)
            .chain(self.escape_scans.first().copied())
            .min()
            .map(|due| due.saturating_duration_since(now))
    }

    fn queue(&mut self, token: usize) {
        if let Some(source) = self.sources.get_mut(token)
            && !source.queued
        {
            source.queued = true;
            self.readable.push(token);
        }
    }

    fn pump_readable(&mut self) {
        std::mem::swap(&mut self.readable, &mut self.spare);
        let mut batch = std::mem::take(&mut self.spare);
        let mut now = None;
        for &token in &batch {
            let source = &mut self.sources[token];
            match source.pump(&mut self.scratch, &mut self.output, READS_PER_WAKE) {
                Pump::More => {
                    self.readable.push(token);
                    continue;
                }
                Pump::Drained => source.queued = false,
                Pump::Closed => {
                    source.queued = false;
                    source.close(self.poll.registry(), &mut self.output);
                }
            }
            if source.partial_len() == 0 {
                source.flush_at = None;
            } else {
                schedule_flush(source, *now.get_or_insert_with(Instant::now));
            }
        }
        batch.clear();
        self.spare = batch;
    }

    fn handle_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGCHLD => self.reap(),
                SIGWINCH => self.resize_ptys(),
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

    /// Reaps every exited child; records whether any child is left.
    fn reap(&mut self) {
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal)),
                Ok(WaitStatus::StillAlive) => {
                    self.children_left = true;
                    return;
                }
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => {
                    // ECHILD: no child at all, and as subreaper no descendant either.
                    self.children_left = false;
                    return;
                }
            };
            // Orphans adopted as subreaper are reaped silently.
            if let Some(index) = self.by_pid.remove(&pid) {
                self.on_exit(index, pid, exit);
            }
        }
    }

    fn on_exit(&mut self, index: usize, pid: Pid, exit: Exit) {
        for &token in &self.processes[index].sources {
            let source = &mut self.sources[token];
            match source.pump(&mut self.scratch, &mut self.output, READS_AT_EXIT) {
                Pump::Closed => source.close(self.poll.registry(), &mut self.output),
                Pump::Drained | Pump::More => source.flush_partial(&mut self.output),
            }
        }
        let process = &mut self.processes[index];
        let subject = Subject::Process {
            name: &process.spec.name,
            instance: process.spec.instance,
        };
        self.output
            .event(&mut process.label, subject, Event::Exited { pid, exit });
        for &token in &process.sources {
            self.sources[token].unwatch();
        }
        let actions = self.supervisor.on_exit(index, exit, Instant::now());
        self.execute(actions);
    }

    fn run_timers(&mut self, now: Instant) {
        for token in 0..self.sources.len() {
            let source = &mut self.sources[token];
            if source.flush_at.is_none_or(|due| due > now) {
                continue;
            }
            // The deadline may have passed while procmux was busy (a slow stdout reader), not
            // while the child was idle: read first, and print the partial line only if the
            // child really wrote nothing more.
            let before = source.bytes_read();
            match source.pump(&mut self.scratch, &mut self.output, READS_PER_WAKE) {
                Pump::Closed => source.close(self.poll.registry(), &mut self.output),
                Pump::Drained if source.bytes_read() == before => {
                    source.flush_partial(&mut self.output);
                }
                Pump::Drained => schedule_flush(source, now),
                Pump::More => {
                    schedule_flush(source, now);
                    self.queue(token);
                }
            }
        }
        if self.supervisor.deadline().is_some_and(|due| due <= now) {
            let actions = self.supervisor.on_tick(now);
            self.execute(actions);
        }
        self.probe_tcp(now);
        if self.escape_scans.first().is_some_and(|&due| due <= now) {
            self.escape_scans.retain(|&due| due > now);
            self.watch_escaped();
        }
    }

    /// Tells the watchdog about a process group, once.
    fn watch_group(&mut self, pgid: Pid) {
        if self.watched.insert(pgid)
            && let Some(watchdog) = &mut self.watchdog
        {
            watchdog.watch(pgid);
        }
    }

    /// Tells the watchdog about the groups of descendants that left procmux's groups (a
    /// daemon's `setsid`), so that they die with the rest even if procmux is SIGKILLed.
    fn watch_escaped(&mut self) {
        if self.watchdog.is_none() || self.supervisor.is_stopping() {
            return;
        }
        for descendant in sys::descendants(Pid::this()) {
            self.watch_group(descendant.pgid);
        }
    }

    /// Tells the supervisor about processes whose output matched their `ready = "log:…"`.
    fn collect_log_readiness(&mut self) {
        for token in 0..self.sources.len() {
            if std::mem::take(&mut self.sources[token].matched) {
                let index = self.sources[token].process;
                let actions = self.supervisor.on_ready(index, Instant::now());
                self.execute(actions);
            }
        }
    }

    /// Tries `ready = "tcp:…"` every [`PROBE_INTERVAL`] while a process waits for it.
    fn probe_tcp(&mut self, now: Instant) {
        if self.next_probe.is_some_and(|due| due > now) {
            return;
        }
        self.next_probe = None;
        for index in 0..self.processes.len() {
            let Probe::Tcp(port) = self.processes[index].spec.probe else {
                continue;
            };
            if !self.supervisor.awaits_report(index) {
                continue;
            }
            let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if std::net::TcpStream::connect_timeout(&address, PROBE_TIMEOUT).is_ok() {
                let actions = self.supervisor.on_ready(index, now);
                self.execute(actions);
            } else {
                self.next_probe = Some(now + PROBE_INTERVAL);
            }
        }
    }

    /// While stopping: tells the supervisor which signalled processes' groups are empty, so
    /// that what they depend on can be stopped next.
    fn report_gone_groups(&mut self) {
        let signalled: Vec<usize> = self.supervisor.signalled().collect();
        for index in signalled {
            let alive = self.processes[index].pgid.is_some_and(sys::group_alive);
            if !alive {
                let actions = self.supervisor.on_group_gone(index, Instant::now());
                self.execute(actions);
            }
        }
    }

    fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Say(message) => {
                    self.output
                        .event(&mut self.system, Subject::System, Event::Message(&message));
                }
                Action::Spawn(index) => self.spawn(index),
                Action::Stop(index, signal) => {
                    if let Some(pgid) = self.processes[index].pgid {
                        sys::signal_group(pgid, signal);
                    }
                }
                Action::KillGroup(index) => {
                    if let Some(pgid) = self.processes[index].pgid {
                        sys::signal_group(pgid, Signal::SIGKILL);
                    }
                }
                Action::TerminateEscaped => self.signal_escaped(Signal::SIGTERM),
                Action::Kill => {
                    let remaining = sys::descendants(Pid::this()).len();
                    if remaining > 0 {
                        let message = format!("sending SIGKILL to {remaining} processes");
                        self.output.event(
                            &mut self.system,
                            Subject::System,
                            Event::Message(&message),
                        );
                    }
                    self.signal_everything(Signal::SIGKILL);
                }
                Action::KillRemaining => self.signal_everything(Signal::SIGKILL),
                Action::Forward(signal) => {
                    for pgid in self.process_groups() {
                        sys::signal_group(pgid, signal);
                    }
                }
            }
        }
    }

    /// Sends `signal` once to every descendant that left its group (a daemon that called
    /// `setsid`, an orphan adopted by procmux).
    fn signal_escaped(&mut self, signal: Signal) {
        let groups: HashSet<Pid> = self.process_groups().collect();
        for descendant in sys::descendants(Pid::this()) {
            if !groups.contains(&descendant.pgid) {
                sys::signal_process(descendant.pid, signal);
            }
        }
    }

    /// Sends `signal` once to every process group, and once to every descendant that left its
    /// group (a daemon that called `setsid`, an orphan adopted by procmux).
    fn signal_everything(&mut self, signal: Signal) {
        for pgid in self.process_groups() {
            sys::signal_group(pgid, signal);
        }
        self.signal_escaped(signal);
    }

    /// Every group procmux created, including those of earlier runs of restarted processes.
    fn process_groups(&self) -> impl Iterator<Item = Pid> + '_ {
        self.processes
            .iter()
            .flat_map(|p| p.pgid.iter().chain(&p.old_groups).copied())
    }

    /// After the last descendant is gone: write what the pipes still hold.
    fn drain_all(&mut self) {
        for source in &mut self.sources {
            if source.is_open() {
                source.pump(&mut self.scratch, &mut self.output, READS_AT_END);
                source.close(self.poll.registry(), &mut self.output);
            }
        }
    }
}

/// Sets when `source`'s partial line is printed if nothing more arrives: soon for a short
/// one (a prompt), later for a longer one, whose writer is most likely still writing. With no
/// partial line there is nothing to schedule.
fn schedule_flush(source: &mut Source, now: Instant) {
    source.flush_at = match source.partial_len() {
        0 => None,
        1..=PROMPT_MAX => Some(now + PARTIAL_IDLE),
        _ => Some(now + LONG_PARTIAL_IDLE),
    };
}
