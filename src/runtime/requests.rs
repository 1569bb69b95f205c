//! Answers to the control channel's requests (see `crate::control`): what `status`,
//! `restart`, `stop`, `logs` and `attach` do to the running stack, through the supervisor.

use std::time::Instant;

use nix::pty::Winsize;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::EventLoop;
use super::{procfs, sys};
use crate::config::Style;
use crate::control::{self, Framing, Incoming, Layout, Reader, Request, Row};
use crate::supervisor::{Action, Exit, State, Supervisor};

/// What a request gets back.
enum Reply {
    /// `ok`, then this body; the connection closes once it is sent.
    Body(String),
    Error(String),
    /// The connection became a reader of the tail or an attached session.
    Stays,
}

impl EventLoop {
    /// A control client's connection is ready: send what waits for it, read its request (and
    /// answer it) or an attached session's input. `hung_up`: the client closed both ways.
    pub(super) fn serve(&mut self, slot: usize, hung_up: bool) {
        let Some(control) = &mut self.control else {
            return;
        };
        let registry = self.poll.registry();
        control.woke(slot);
        control.flush(slot, registry);
        for incoming in control.read(slot, hung_up, registry) {
            match incoming {
                Incoming::Request(request) => {
                    let reply = self.reply(slot, request);
                    let Some(control) = &mut self.control else {
                        return;
                    };
                    let registry = self.poll.registry();
                    match reply {
                        Reply::Body(text) => control.answer(slot, text.as_bytes(), registry),
                        Reply::Error(message) => control.refuse(slot, &message, registry),
                        Reply::Stays => control.flush(slot, registry),
                    }
                }
                Incoming::Input(instance, bytes) => self.send_input(instance, &bytes),
                Incoming::Size {
                    instance,
                    rows,
                    cols,
                } => {
                    if let Some(pty) = self.streams.pty_of(instance) {
                        let size = Winsize {
                            ws_row: rows,
                            ws_col: cols,
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        let _ = sys::set_window_size(pty, &size);
                    }
                }
            }
        }
        self.sync_mirrors();
    }

    /// Raw output is kept for exactly the instances some client is attached to; a pty whose
    /// last client left follows procmux's terminal again. Every turn: cheap.
    pub(super) fn sync_mirrors(&mut self) {
        let Some(control) = &self.control else {
            return;
        };
        let attached = control.attached();
        for &instance in &attached {
            if !self.streams.is_mirrored(instance) {
                self.streams.set_mirror(instance, true);
            }
        }
        let left: Vec<usize> = self
            .streams
            .mirrored()
            .filter(|i| !attached.contains(i))
            .collect();
        for &instance in &left {
            self.streams.set_mirror(instance, false);
        }
        if !left.is_empty() {
            self.resize_ptys();
        }
    }

    /// Writes input for `instance`: to its pty, or its stdin pipe. What the child does not
    /// take now (its buffer is full) is dropped rather than stall the loop.
    pub(super) fn send_input(&mut self, instance: usize, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let written = match self.streams.pty_of(instance) {
                Some(pty) => nix::unistd::write(pty, rest),
                None => match self.children.stdin_of(instance) {
                    Some(stdin) => nix::unistd::write(stdin, rest),
                    None => return,
                },
            };
            match written {
                Ok(n) if n > 0 => rest = &rest[n..],
                Err(nix::errno::Errno::EINTR) => {}
                _ => return,
            }
        }
    }

    /// Carries out a control request. A new verb is one arm here and its client.
    fn reply(&mut self, slot: usize, request: Request) -> Reply {
        let now = Instant::now();
        let instances: Vec<(&str, usize)> = self
            .stack
            .instances
            .iter()
            .map(|i| (i.name.as_str(), i.number))
            .collect();
        let selected = |names: &[String]| control::select(names, &instances);
        match request {
            Request::Pid => Reply::Body(format!("{}\n", std::process::id())),
            Request::Status => Reply::Body(self.status_rows(now)),
            Request::Stop(names) if names.is_empty() => {
                if self.supervisor.is_stopping() {
                    return Reply::Error("the stack is already stopping".to_owned());
                }
                let actions = self.supervisor.stop_all(now);
                self.execute(actions);
                Reply::Body("stopping the stack\n".to_owned())
            }
            Request::Restart(_) | Request::Stop(_) if self.supervisor.is_stopping() => {
                Reply::Error("the stack is stopping".to_owned())
            }
            Request::Restart(names) => match selected(&names) {
                Ok(chosen) => {
                    let chosen = self.without_unnamed_release(chosen, &names);
                    if chosen.is_empty() {
                        return Reply::Error(
                            "the release phase runs once: name it to run it again \
                             (procmux restart release)"
                                .to_owned(),
                        );
                    }
                    Reply::Body(self.each(&chosen, "restarting", Supervisor::restart))
                }
                Err(message) => Reply::Error(message),
            },
            Request::Stop(names) => match selected(&names) {
                Ok(chosen) => Reply::Body(self.each(&chosen, "stopping", Supervisor::stop)),
                Err(message) => Reply::Error(message),
            },
            Request::Attach(name) => match selected(std::slice::from_ref(&name)) {
                Ok(chosen) => self.attach(slot, &chosen),
                Err(message) => Reply::Error(message),
            },
            Request::Logs { .. } if self.output.tail().is_off() => Reply::Error(
                "this stack keeps no output for logs (it runs with tail_kib = 0)".to_owned(),
            ),
            Request::Logs {
                follow,
                names,
                framed,
            } => {
                let chosen = if names.is_empty() {
                    Vec::new()
                } else {
                    match selected(&names) {
                        Ok(chosen) => chosen,
                        Err(message) => return Reply::Error(message),
                    }
                };
                let tail = self.output.tail();
                let framing = framed.then(|| Framing {
                    labels: self.stack.instances.iter().map(|i| i.label()).collect(),
                    layout: layout(self.output.style()),
                    live_at: follow.then(|| tail.end()),
                });
                let reader = Reader {
                    instances: chosen,
                    // Every reader starts with what the tail holds: `logs -f` shows the
                    // recent lines, then the new ones (a framed follower's client filters
                    // them by time and count).
                    at: tail.start(),
                    until: (!follow).then(|| tail.end()),
                    framing,
                };
                let Some(control) = &mut self.control else {
                    return Reply::Stays;
                };
                match control.read_tail(slot, reader, self.output.tail()) {
                    Ok(()) => Reply::Stays,
                    Err(message) => Reply::Error(message),
                }
            }
        }
    }

    /// `chosen` less the release phase's instances that `names` do not name exactly (by type
    /// or label): a restart of the stack (`procmux restart '*'`) does not run it again.
    fn without_unnamed_release(&self, chosen: Vec<usize>, names: &[String]) -> Vec<usize> {
        chosen
            .into_iter()
            .filter(|&i| {
                let spec = &self.stack.instances[i];
                !self.stack.type_of(i).release
                    || names.iter().any(|n| *n == spec.name || *n == spec.label())
            })
            .collect()
    }

    /// `attach`: one instance, running.
    fn attach(&mut self, slot: usize, chosen: &[usize]) -> Reply {
        let [instance] = chosen[..] else {
            let labels: Vec<String> = chosen
                .iter()
                .map(|&i| self.stack.instances[i].label())
                .collect();
            return Reply::Error(format!("attach takes one instance: {}", labels.join(", ")));
        };
        let label = self.stack.instances[instance].label();
        if self.children.pid_of(instance).is_none() {
            let (state, _, _) = self.supervisor.status(instance);
            let (word, exit) = state_word(state);
            let how = match exit {
                (Some(code), _) => format!(" (exit code {code})"),
                (None, Some(signal)) => format!(" ({signal})"),
                _ => String::new(),
            };
            return Reply::Error(format!(
                "{label} is not running: it is {}{how}",
                word.word().replace('_', " ")
            ));
        }
        let pty = self.stack.type_of(instance).pty;
        let Some(control) = &mut self.control else {
            return Reply::Stays;
        };
        match control.attach(slot, instance, pty) {
            Ok(()) => Reply::Stays,
            Err(message) => Reply::Error(message),
        }
    }

    /// Asks the supervisor `what` for each of `chosen`, and says so (`restarting web.1`).
    fn each(
        &mut self,
        chosen: &[usize],
        verb: &str,
        what: fn(&mut Supervisor, usize, Instant) -> Vec<Action>,
    ) -> String {
        let mut text = String::new();
        // Dependants first: a dependency's stop waits for theirs.
        for instance in self.supervisor.stop_order(chosen) {
            let actions = what(&mut self.supervisor, instance, Instant::now());
            self.execute(actions);
            let label = self.stack.instances[instance].label();
            text.push_str(&format!("{verb} {label}\n"));
        }
        text
    }

    /// `procmux status`: one JSON row per instance.
    fn status_rows(&mut self, now: Instant) -> String {
        let sockets = procfs::listening_sockets();
        let trees = self.children.all_trees();
        let mut text = String::new();
        for (index, spec) in self.stack.instances.iter().enumerate() {
            let (state, since, restarts) = self.supervisor.status(index);
            let (word, (exit_code, signal)) = state_word(state);
            let pid = self.children.pid_of(index);
            let mut listening: Vec<u16> = trees[index]
                .iter()
                .flat_map(|&pid| procfs::socket_inodes(pid))
                .filter_map(|inode| sockets.iter().find(|s| s.0 == inode).map(|s| s.1))
                .collect();
            listening.sort_unstable();
            listening.dedup();
            let policy = &self.stack.type_of(index).policy;
            let row = Row {
                name: spec.label(),
                pid: pid.map(Pid::as_raw),
                state: word,
                ready: matches!(word, control::State::Ready | control::State::Running),
                exit_code,
                signal,
                uptime_ms: since.map(|s| now.saturating_duration_since(s).as_millis() as u64),
                restarts,
                port: spec.port,
                listening,
                stop_signal: policy.stop_signal.as_str().to_owned(),
                interrupt_signal: policy.stop_signal_after(Signal::SIGINT).as_str().to_owned(),
                watch: self
                    .stack
                    .type_of(index)
                    .watch
                    .as_ref()
                    .map(|w| w.globs.clone())
                    .unwrap_or_default(),
                restart_with: self.stack.type_of(index).restart_with.clone(),
            };
            text.push_str(&row.line());
            text.push('\n');
        }
        text
    }
}

/// How the main stream lays its lines out, for a framed reader.
fn layout(style: &Style) -> Layout {
    if style.json {
        Layout::Json
    } else if !style.prefix {
        Layout::Bare
    } else {
        Layout::Text {
            width: style.prefix_width(),
            color: style.color,
        }
    }
}

/// The supervisor's state as the protocol's word, and how it ended (code, signal name).
fn state_word(state: State) -> (control::State, (Option<i32>, Option<String>)) {
    let word = match state {
        State::Waiting => control::State::Waiting,
        State::Starting => control::State::Starting,
        State::Ready => control::State::Ready,
        State::Running => control::State::Running,
        State::BackingOff => control::State::BackingOff,
        State::Stopping => control::State::Stopping,
        State::Stopped => control::State::Stopped,
        State::Exited(_) => control::State::Exited,
        State::GivenUp => control::State::GivenUp,
    };
    let exit = match state {
        State::Exited(Exit::Code(code)) => (Some(code), None),
        State::Exited(Exit::Signal(signal)) => (None, Some(signal.as_str().to_owned())),
        _ => (None, None),
    };
    (word, exit)
}
